/**
 * Every default and limit of the client, in one place. `WebSocket`'s options start from these.
 */
import { DeflateDefaults, ProtocolDefaults } from '../protocol/index.js';

export const ClientDefaults = {
  /** Largest message accepted from the server, in bytes, after inflation; larger ones fail the connection with 1009. */
  maxMessageSize: ProtocolDefaults.maxMessageSize,
  /**
   * From the start of the TCP connection to the server's 101 answer (ms): DNS, TCP, TLS and
   * the HTTP exchange together, redirects included. Past it the connection fails (close code 1006).
   */
  handshakeTimeout: 30_000,
  /**
   * From the start of the closing handshake to the server closing TCP (ms): the server's Close
   * frame and its TCP close must both come within it, else the socket is destroyed.
   */
  closeTimeout: 5_000,
  /** Most redirects followed, when `followRedirects` is on. */
  maxRedirects: 10,
  /** Messages smaller than this many bytes are sent uncompressed under permessage-deflate. */
  deflateThreshold: DeflateDefaults.threshold,
  /**
   * `send()` returns false once this many bytes wait to be written to the socket (the socket's
   * high-water mark): the same mark as the server's. Wait for the 'drain' event then.
   */
  sendHighWaterMark: 1024 * 1024,
} as const;

/** The longest timer Node keeps (about 24.8 days): setTimeout fires longer ones after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
