/**
 * The load generator's WebSocket client, built on framecast's own protocol core (the client
 * side of src/protocol): the opening handshake from `buildClientRequest`, checked with
 * `parseResponseHead` and `verifyServerResponse`, then server frames read by a `FrameParser`
 * in the client role, and client frames built (masked) by the frame serializer.
 */
import { connect, type Socket } from 'node:net';
import {
  acceptDeflateResponse,
  buildDeflateOffer,
  type DeflateParameters,
  encodeFrame,
  encodeTextFrame,
  type FrameHandler,
  FrameParser,
  generateClientKey,
  buildClientRequest,
  Opcode,
  parseResponseHead,
  RSV1_BIT,
  verifyServerResponse,
} from '../src/protocol/index.js';

/** Largest message the load generator accepts from a server: the biggest echo, with room. */
const CLIENT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** A handshake that takes longer than this fails the run. */
export const HANDSHAKE_TIMEOUT_MS = 30_000;

export interface ConnectOptions {
  /**
   * Offer permessage-deflate (RFC 7692, `buildDeflateOffer`) and call this with what the
   * server's answer agreed (checked by `acceptDeflateResponse`), or undefined when the server
   * declined, before any frame reaches `handler`. Frames may then carry RSV1 (compressed).
   */
  onDeflate?: (parameters: DeflateParameters | undefined) => void;
  /**
   * Hand `handler` data frames without their payloads (`FrameParserOptions.discardDataPayloads`):
   * for a workload that only counts and sizes what comes back, so that the load generator does
   * not spend its time gathering payloads it never reads.
   */
  discardDataPayloads?: boolean;
  /**
   * Offer this subprotocol (`Sec-WebSocket-Protocol`, RFC 6455 1.9, 4.1) and require the
   * server's 101 to choose it: a server that answers without it fails the connection.
   */
  protocol?: string;
}

/**
 * Opens a WebSocket to `ws://host:port/path` and feeds every server frame to `handler`;
 * `afterChunk` runs once the frames of each received chunk are handled (to batch replies).
 * Resolves with the socket once the server's 101 answer checks out (RFC 6455 4.1).
 */
export function connectWebSocket(
  host: string,
  port: number,
  path: string,
  handler: FrameHandler,
  afterChunk?: () => void,
  options: ConnectOptions = {},
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const key = generateClientKey();
    const socket = connect({ host, port, noDelay: true });
    let head: Buffer = Buffer.alloc(0);
    let parser: FrameParser | undefined;
    const timer = setTimeout(() => fail(new Error(`handshake with ${host}:${port}${path} timed out`)), HANDSHAKE_TIMEOUT_MS);

    function fail(error: Error): void {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    }
    const offerDeflate = options.onDeflate !== undefined;
    const extensions = offerDeflate ? buildDeflateOffer() : undefined;
    const protocols = options.protocol === undefined ? undefined : [options.protocol];
    socket.on('connect', () => socket.write(buildClientRequest({ host: `${host}:${port}`, path, key, protocols, extensions })));
    socket.on('error', (error) => {
      if (parser === undefined) fail(error);
    });
    socket.on('data', (chunk: Buffer) => {
      if (parser !== undefined) {
        parser.push(chunk);
        afterChunk?.();
        return;
      }
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const response = parseResponseHead(head);
      if (response === undefined) return;
      if (response instanceof Error) return fail(response);
      const verdict = verifyServerResponse(response, key, { protocols, extensions: offerDeflate });
      if (verdict instanceof Error) return fail(verdict);
      // RFC 6455 4.2.2: a server that does not speak the subprotocol answers without one.
      if (options.protocol !== undefined && verdict.protocol !== options.protocol) {
        return fail(new Error(`${host}:${port}${path} did not choose the subprotocol ${options.protocol}`));
      }
      let allowedRsvBits = 0;
      if (options.onDeflate !== undefined) {
        // RFC 7692 7.1: the answer must be a valid permessage-deflate agreement, or absent.
        const agreed = verdict.extensions === undefined ? undefined : acceptDeflateResponse(verdict.extensions);
        if (agreed instanceof Error) return fail(agreed);
        if (agreed !== undefined) allowedRsvBits = RSV1_BIT; // RFC 7692 6: RSV1 marks a compressed message
        options.onDeflate(agreed);
      }
      clearTimeout(timer);
      parser = new FrameParser(handler, {
        role: 'client',
        maxMessageSize: CLIENT_MAX_MESSAGE_BYTES,
        allowedRsvBits,
        discardDataPayloads: options.discardDataPayloads,
      });
      resolve(socket);
      // Bytes after the head are already frames (RFC 6455 4.1).
      if (response.headLength < head.length) {
        parser.push(head.subarray(response.headLength));
        afterChunk?.();
      }
    });
  });
}

/** Opens a plain TCP connection (the no-framing floor). */
export function connectTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * `count` masked client frames carrying `payload`, back to back in one buffer, each with its
 * own masking key from the serializer (RFC 6455 5.3).
 *
 * The load generator sends slices of this ring over and over instead of framing every message
 * anew, so that it spends its CPU on the sockets rather than on framing. Strictly, RFC 6455
 * 5.3 wants a fresh key for every frame; on loopback, against servers that cannot tell, a ring
 * of distinct keys costs them exactly the same unmasking work.
 */
export function buildFrameRing(payload: Buffer, binary: boolean, count: number): { ring: Buffer; frameBytes: number } {
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    frames.push(binary ? encodeFrame(Opcode.Binary, payload, { mask: true }) : encodeTextFrame(payload.toString('utf8'), { mask: true }));
  }
  return { ring: Buffer.concat(frames), frameBytes: frames[0].length };
}

/** One masked text frame (RFC 6455 5.3: a fresh key each time), as a client must send it. */
export function maskedTextFrame(text: string): Buffer {
  return encodeTextFrame(text, { mask: true });
}

