/**
 * What carries a WebSocket's frames once the opening handshake is done: a TCP (or TLS) socket
 * after HTTP/1.1's 101, or one HTTP/2 stream after RFC 8441's extended CONNECT and 200. Only the
 * handshake differs; the connection (connection.ts) writes and reads frames through this one
 * small interface, so everything after the handshake is the same code for both.
 *
 * A `net.Socket` is a Transport as it is. An HTTP/2 stream is wrapped by `Http2StreamTransport`:
 * its writes, cork, pause and 'drain' are those of a Duplex like a socket's, with HTTP/2 flow
 * control underneath (a stream whose peer does not read stops taking bytes, and only that one).
 */
import { constants, type ServerHttp2Stream } from 'node:http2';

/** How a WebSocket reached this server: HTTP/1.1 Upgrade (RFC 6455 4) or HTTP/2 extended CONNECT (RFC 8441). */
export type TransportKind = 'http1' | 'http2';

/** The events a connection listens to; `this` is the transport in each listener. */
export interface TransportEvents {
  data: (chunk: Buffer) => void;
  /** The peer ended its side: a TCP FIN, or an HTTP/2 END_STREAM. */
  end: () => void;
  close: () => void;
  error: (error: Error) => void;
  drain: () => void;
}

/** The part of a socket a WebSocket connection uses, and nothing more. */
export interface Transport {
  /** 'http2' for an HTTP/2 stream; absent (HTTP/1.1) for a socket. */
  readonly kind?: TransportKind;
  readonly remoteAddress: string | undefined;
  /** Bytes written but not yet handed on (to the operating system, or to the HTTP/2 session). */
  readonly writableLength: number;
  readonly writableCorked: number;
  readonly writableNeedDrain: boolean;
  readonly destroyed: boolean;
  write(bytes: Uint8Array, callback?: (error?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
  /** Ends our side once what is queued has gone: a TCP FIN, or END_STREAM on HTTP/2. */
  end(): void;
  /** Ends at once: the socket closed, or the HTTP/2 stream reset (RST_STREAM). */
  destroy(): void;
  pause(): void;
  resume(): void;
  /** Puts bytes back to be read first (those that came with the handshake). */
  unshift(chunk: Buffer): void;
  on<E extends keyof TransportEvents>(event: E, listener: (this: Transport, ...args: Parameters<TransportEvents[E]>) => void): unknown;
}

/**
 * One HTTP/2 stream as a Transport. The stream is a Duplex already; this adds the peer's address
 * (the session's socket's) and calls listeners with the transport as `this`, as a socket's are.
 */
export class Http2StreamTransport implements Transport {
  readonly kind = 'http2';
  readonly remoteAddress: string | undefined;
  private readonly stream: ServerHttp2Stream;

  constructor(stream: ServerHttp2Stream) {
    this.stream = stream;
    this.remoteAddress = stream.session?.socket?.remoteAddress;
  }

  get writableLength(): number {
    return this.stream.writableLength;
  }

  get writableCorked(): number {
    return this.stream.writableCorked;
  }

  get writableNeedDrain(): boolean {
    return this.stream.writableNeedDrain;
  }

  /** Also once reset (`close`), a moment before node:http2 destroys the stream. */
  get destroyed(): boolean {
    return this.stream.destroyed || this.stream.closed;
  }

  write(bytes: Uint8Array, callback?: (error?: Error | null) => void): boolean {
    return this.stream.write(bytes, callback);
  }

  cork(): void {
    this.stream.cork();
  }

  uncork(): void {
    this.stream.uncork();
  }

  end(): void {
    this.stream.end();
  }

  destroy(): void {
    // RST_STREAM with CANCEL (RFC 9113 7, RFC 8441 6: the equivalent of a TCP reset): the
    // stream goes, its queued bytes are dropped, the HTTP/2 connection and its other streams stay.
    // (A bare destroy() would reset with NO_ERROR, which reads as a clean end.)
    this.stream.close(constants.NGHTTP2_CANCEL);
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  unshift(chunk: Buffer): void {
    this.stream.unshift(chunk);
  }

  on<E extends keyof TransportEvents>(event: E, listener: (this: Transport, ...args: Parameters<TransportEvents[E]>) => void): this {
    // One bound listener per event and stream: HTTP/2 WebSockets are fewer than sockets, and the
    // connection's listeners stay the shared named functions they are for sockets.
    this.stream.on(event, listener.bind(this) as (...args: unknown[]) => void);
    return this;
  }
}
