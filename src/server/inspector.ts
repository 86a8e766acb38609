/**
 * The protocol inspector's endpoint, `GET /inspect` (Upgrade): a WebSocket that answers every
 * message with a JSON description of the frames it arrived in, exactly as src/protocol's
 * parser read them. A browser cannot see its own frames (the masking key, the length
 * encoding), so public/inspect.html asks the server, which can.
 *
 * What the socket sends, each a JSON text message (see `InspectorReport`):
 * 1. On open, `{ "type": "handshake", ... }`: the upgrade request's headers as received, the
 *    Sec-WebSocket-Key, the GUID, and the Sec-WebSocket-Accept the server answered with
 *    (RFC 6455 1.3, 4.2.1, 4.2.2). The values of credential headers (Cookie, Authorization,
 *    Proxy-Authorization) are withheld: the browser sends HttpOnly cookies with the upgrade,
 *    and echoing them to the page's script would hand them to any script running there.
 * 2. For each complete message, `{ "type": "message", ... }` with its frames (RFC 6455 5.2,
 *    5.3, 5.4); for each Ping or Pong, `{ "type": "control", ... }` with that frame.
 * One report per message or control frame received, never more: nothing is amplified. A
 * report is larger than what it describes, though, so control frames (which a peer can send by
 * the thousand without reading anything) are reported only while the peer reads: while
 * `mayQueueReply()` is false their reports are skipped, as the Pongs themselves are held
 * (connection.ts). Message reports are always sent; a peer that does not read them is dropped
 * once its send buffer is full.
 *
 * Each frame description has two parts, kept apart on purpose:
 * - `parsed`: the values the parser reported, untouched: FIN, RSV1-3, opcode, MASK, payload
 *   length, header length, masking key, and the payload as the parser delivered it (unmasked).
 * - `derived`: values computed here from `parsed`, for display: the opcode's name, which
 *   length encoding was used (from the header length), the header bytes rebuilt from the parsed
 *   fields, and the masked payload recomputed as payload XOR key (the parser unmasks in place,
 *   so the masked bytes are no longer in memory; XOR is its own inverse, so they are exact).
 * Payload bytes are shown up to `InspectorDefaults.payloadPreviewBytes` per frame.
 *
 * `GET /inspect?deflate=on` negotiates permessage-deflate (RFC 7692) with framecast's default
 * answer, which includes client_no_context_takeover, so every message the browser compresses
 * can be inflated on its own. Its frames then have RSV1 set (RFC 7692 6.1) and the payloads
 * described are the DEFLATE bytes that crossed the wire; the message report adds the inflated
 * length and the start of the inflated message. Plain `GET /inspect` negotiates no extension,
 * so the frames shown are plain RFC 6455 (RSV1-3 zero, payloads as sent).
 */
import type { IncomingMessage } from 'node:http';
import {
  FIN_BIT,
  type FrameHeader,
  headerMapFromRaw,
  LENGTH_16_MARKER,
  LENGTH_64_MARKER,
  MASK_BIT,
  Opcode,
  OPCODE_MASK,
  RSV1_BIT,
  RSV2_BIT,
  RSV3_BIT,
  buildAcceptResponse,
  validateExtendedConnect,
  validateUpgradeRequest,
  WEBSOCKET_GUID,
} from '../protocol/index.js';
import type { WebSocketConnection } from './websocket/connection.js';
import type { TransportKind } from './websocket/transport.js';
import { WebSocketServer, type WebSocketServerOptions } from './websocket/websocket-server.js';

export const InspectorDefaults = {
  /** Payload bytes shown per frame (hex); the length is always reported in full. */
  payloadPreviewBytes: 256,
  /** Characters of a text message's preview. */
  textPreviewChars: 200,
  /** Frames described per message; a message fragmented into more reports the rest as a count. */
  maxFramesPerMessage: 64,
  /** Largest message the inspector accepts (1009 beyond): enough for every length encoding. */
  maxMessageSize: 1024 * 1024,
} as const;

/** Header bytes before the extended length: the FIN/RSV/opcode byte and the MASK/length byte (RFC 6455 5.2). */
const BASE_HEADER_BYTES = 2;
const EXTENDED_LENGTH_16_BYTES = 2;
const EXTENDED_LENGTH_64_BYTES = 8;
const MASKING_KEY_BYTES = 4;
const TWO_TO_THE_32 = 0x1_0000_0000;

/** How the payload length was written (RFC 6455 5.2): 7 bits, 7 bits + 16, or 7 bits + 64. */
export type LengthEncoding = '7' | '7+16' | '7+64';

/** One frame as the parser read it (`parsed`) and what is computed from it for display (`derived`). */
export interface FrameDescription {
  parsed: {
    fin: boolean;
    rsv1: boolean;
    rsv2: boolean;
    rsv3: boolean;
    opcode: number;
    masked: boolean;
    /** The payload length the frame declared, in bytes. */
    payloadLength: number;
    /** Header bytes on the wire: 2, plus 2 or 8 of extended length, plus 4 of masking key. */
    headerLength: number;
    /** The 4-byte masking key as hex, or null for an unmasked frame. */
    maskingKeyHex: string | null;
    /** The first `payloadPreviewBytes` of the payload as the parser delivered it: unmasked. */
    unmaskedPayloadHex: string;
  };
  derived: {
    opcodeName: string;
    lengthEncoding: LengthEncoding;
    /** The 7-bit length field's value: the length itself, or 126 / 127 (an extended length follows). */
    length7: number;
    /** The header rebuilt from `parsed` (same fields, same length encoding): the bytes received. */
    headerHex: string;
    /** The shown payload bytes masked again with the key: the bytes that crossed the wire. */
    maskedPayloadHex: string;
    /** How many payload bytes the hex fields hold. */
    payloadBytesShown: number;
  };
}

export interface HandshakeReport {
  type: 'handshake';
  /** How the WebSocket came: `http1` (Upgrade, RFC 6455 4) or `http2` (extended CONNECT on an HTTP/2 stream, RFC 8441). */
  transport: TransportKind;
  /** The request line and headers as received (names as sent, in order; credential values withheld). */
  request: { method: string; target: string; httpVersion: string; headers: Array<[string, string]> };
  /** Sec-WebSocket-Key as received (RFC 6455 4.2.1 item 5); '' over HTTP/2, which has none (RFC 8441 5). */
  key: string;
  /** The GUID appended to the key before hashing (RFC 6455 1.3). */
  guid: string;
  /** Sec-WebSocket-Accept as sent: base64(SHA-1(key + GUID)) (RFC 6455 4.2.2 item 5.4); '' over HTTP/2. */
  accept: string;
  /** The 101 response head the server wrote, rebuilt by the same pure function that wrote it; over HTTP/2 the 200 HEADERS' fields, one a line. */
  response: string;
  /** The Sec-WebSocket-Extensions answer (RFC 6455 9.1), '' when no extension was agreed. */
  extensions: string;
}

export interface MessageReport {
  type: 'message';
  isBinary: boolean;
  /** The whole message's length, over all its frames (inflated, when compressed). */
  messageLength: number;
  /** RSV1 was set on its first frame: the payload is compressed with permessage-deflate (RFC 7692 6.1). */
  compressed: boolean;
  /** Payload bytes of all its frames as they crossed the wire: the compressed size, when compressed. */
  wireLength: number;
  /** For text, the start of the message (inflated, when compressed). */
  textPreview: string | null;
  /** The first `payloadPreviewBytes` of the message as delivered (inflated, when compressed), as hex. */
  messagePreviewHex: string;
  frameCount: number;
  /** The first `maxFramesPerMessage` frames. */
  frames: FrameDescription[];
}

export interface ControlReport {
  type: 'control';
  frames: [FrameDescription];
}

export type InspectorReport = HandshakeReport | MessageReport | ControlReport;

const OPCODE_NAMES: ReadonlyMap<number, string> = new Map([
  [Opcode.Continuation, 'continuation'],
  [Opcode.Text, 'text'],
  [Opcode.Binary, 'binary'],
  [Opcode.Close, 'close'],
  [Opcode.Ping, 'ping'],
  [Opcode.Pong, 'pong'],
]);

/** Describes one frame from what the parser reported. Copies everything: `header` is reused. */
export function describeFrame(header: FrameHeader, payload: Buffer, previewBytes: number = InspectorDefaults.payloadPreviewBytes): FrameDescription {
  const lengthBytes = header.headerLength - BASE_HEADER_BYTES - (header.masked ? MASKING_KEY_BYTES : 0);
  const lengthEncoding: LengthEncoding =
    lengthBytes === EXTENDED_LENGTH_64_BYTES ? '7+64' : lengthBytes === EXTENDED_LENGTH_16_BYTES ? '7+16' : '7';
  const length7 = lengthEncoding === '7+64' ? LENGTH_64_MARKER : lengthEncoding === '7+16' ? LENGTH_16_MARKER : header.payloadLength;

  // The header, byte for byte (RFC 6455 5.2).
  const bytes = Buffer.alloc(header.headerLength);
  bytes[0] =
    (header.fin ? FIN_BIT : 0) |
    (header.rsv1 ? RSV1_BIT : 0) |
    (header.rsv2 ? RSV2_BIT : 0) |
    (header.rsv3 ? RSV3_BIT : 0) |
    (header.opcode & OPCODE_MASK);
  bytes[1] = (header.masked ? MASK_BIT : 0) | length7;
  let offset = BASE_HEADER_BYTES;
  if (lengthEncoding === '7+16') {
    bytes.writeUInt16BE(header.payloadLength, offset);
  } else if (lengthEncoding === '7+64') {
    bytes.writeUInt32BE(Math.floor(header.payloadLength / TWO_TO_THE_32), offset);
    bytes.writeUInt32BE(header.payloadLength % TWO_TO_THE_32, offset + 4);
  }
  offset += lengthBytes;
  if (header.masked) header.maskKey.copy(bytes, offset, 0, MASKING_KEY_BYTES);

  const shown = payload.subarray(0, Math.min(payload.length, previewBytes));
  const masked = Buffer.from(shown);
  // RFC 6455 5.3: octet i of the masked payload is octet i of the payload XOR key[i mod 4].
  if (header.masked) for (let i = 0; i < masked.length; i++) masked[i] ^= header.maskKey[i % MASKING_KEY_BYTES];

  return {
    parsed: {
      fin: header.fin,
      rsv1: header.rsv1,
      rsv2: header.rsv2,
      rsv3: header.rsv3,
      opcode: header.opcode,
      masked: header.masked,
      payloadLength: header.payloadLength,
      headerLength: header.headerLength,
      maskingKeyHex: header.masked ? header.maskKey.toString('hex', 0, MASKING_KEY_BYTES) : null,
      unmaskedPayloadHex: shown.toString('hex'),
    },
    derived: {
      opcodeName: OPCODE_NAMES.get(header.opcode) ?? `reserved 0x${header.opcode.toString(16)}`,
      lengthEncoding,
      length7,
      headerHex: bytes.toString('hex'),
      maskedPayloadHex: masked.toString('hex'),
      payloadBytesShown: shown.length,
    },
  };
}

/** What the inspector has seen of one connection's message in progress. */
interface Session {
  /** The data frames of the message in progress (the first `maxFramesPerMessage`). */
  frames: FrameDescription[];
  frameCount: number;
  /** RSV1 of the message's first frame (RFC 7692 6.1: set on the first frame of a compressed message). */
  compressed: boolean;
  /** Payload bytes of the message's frames so far, as on the wire. */
  wireLength: number;
  /** The Ping or Pong just read, reported on the event that follows it. */
  control: FrameDescription | undefined;
}

const sessions = new WeakMap<WebSocketConnection, Session>();

function sessionOf(connection: WebSocketConnection): Session {
  let session = sessions.get(connection);
  if (session === undefined) {
    session = { frames: [], frameCount: 0, compressed: false, wireLength: 0, control: undefined };
    sessions.set(connection, session);
  }
  return session;
}

/** The observer: data frames are kept until their message completes; Close frames are not reported. */
function observeFrame(connection: WebSocketConnection, header: FrameHeader, payload: Buffer): void {
  if (header.opcode === Opcode.Close) return;
  const session = sessionOf(connection);
  if (header.opcode === Opcode.Ping || header.opcode === Opcode.Pong) {
    // The report is sent on the 'ping'/'pong' event, right after this call (if the peer reads).
    session.control = connection.mayQueueReply() ? describeFrame(header, payload) : undefined;
    return;
  }
  if (session.frameCount === 0) session.compressed = header.rsv1;
  session.frameCount++;
  session.wireLength += payload.length;
  if (session.frames.length < InspectorDefaults.maxFramesPerMessage) session.frames.push(describeFrame(header, payload));
}

function report(connection: WebSocketConnection, body: InspectorReport): void {
  connection.send(JSON.stringify(body));
}

/** A complete message: report the frames it came in. */
function onMessage(this: WebSocketConnection, data: Buffer, isBinary: boolean): void {
  const session = sessionOf(this);
  const { frames, frameCount, compressed, wireLength } = session;
  session.frames = [];
  session.frameCount = 0;
  session.compressed = false;
  session.wireLength = 0;
  report(this, {
    type: 'message',
    isBinary,
    messageLength: data.length,
    compressed,
    wireLength,
    textPreview: isBinary ? null : data.toString('utf8').slice(0, InspectorDefaults.textPreviewChars),
    messagePreviewHex: data.toString('hex', 0, Math.min(data.length, InspectorDefaults.payloadPreviewBytes)),
    frameCount,
    frames,
  });
}

/** A Ping or Pong: report that one frame, unless the peer is not reading. (A Ping is answered with a Pong by the connection itself.) */
function onControl(this: WebSocketConnection): void {
  const session = sessionOf(this);
  const frame = session.control;
  if (frame === undefined) return;
  session.control = undefined;
  if (this.mayQueueReply()) report(this, { type: 'control', frames: [frame] });
}

/** Request headers whose values are secrets of the user's, never shown to the page (lower case). */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['cookie', 'authorization', 'proxy-authorization']);

/** A header's value as the handshake report shows it: credentials replaced by a note of their size. */
function shownHeaderValue(name: string, value: string): string {
  if (!CREDENTIAL_HEADERS.has(name.toLowerCase())) return value;
  return `(withheld: ${Buffer.byteLength(value)} bytes)`;
}

/**
 * The handshake as this request made it: over HTTP/1.1 the key received and the Accept answered
 * (RFC 6455 4.2.2); over HTTP/2 the extended CONNECT and its 200 (RFC 8441 5), with no key.
 * `extensions` is the Sec-WebSocket-Extensions answer the server gave ('' for none).
 */
export function describeHandshake(request: IncomingMessage, extensions = '', transport: TransportKind = 'http1'): HandshakeReport | undefined {
  const raw = request.rawHeaders;
  const headers: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) headers.push([raw[i], shownHeaderValue(raw[i], raw[i + 1])]);
  const shownRequest = { method: request.method ?? '', target: request.url ?? '', httpVersion: request.httpVersion, headers };
  // The same pure check the server ran to accept this request: it gives the same answer again.
  if (transport === 'http2') {
    const accepted = validateExtendedConnect(headerMapFromRaw(raw));
    if (!accepted.ok) return undefined;
    const lines = [':status: 200'];
    if (extensions !== '') lines.push(`sec-websocket-extensions: ${extensions}`);
    return { type: 'handshake', transport, request: shownRequest, key: '', guid: WEBSOCKET_GUID, accept: '', response: lines.join('\n') + '\n', extensions };
  }
  const accepted = validateUpgradeRequest({ method: request.method ?? '', httpVersion: request.httpVersion, headers: headerMapFromRaw(raw) });
  if (!accepted.ok) return undefined;
  return {
    type: 'handshake',
    transport,
    request: shownRequest,
    key: accepted.key,
    guid: WEBSOCKET_GUID,
    accept: accepted.accept,
    response: buildAcceptResponse(accepted, extensions === '' ? undefined : extensions),
    extensions,
  };
}

/** `?deflate=on` in the upgrade request's target asks the inspector to negotiate permessage-deflate. */
export function wantsDeflate(request: IncomingMessage): boolean {
  const target = request.url ?? '';
  const query = target.indexOf('?');
  return query !== -1 && new URLSearchParams(target.slice(query + 1)).get('deflate') === 'on';
}

/**
 * Creates the inspector's WebSocketServer (attach it with `.attach(httpServer, '/inspect')`).
 * It takes the limits and policies of the server's common `options`, named one by one. An
 * extension is negotiated only when asked for with `?deflate=on`: permessage-deflate with the
 * default answer (no context takeover either way). The message size limit is the inspector's own.
 */
export function createInspector(options: WebSocketServerOptions = {}): WebSocketServer {
  const inspector = new WebSocketServer({
    sendHighWaterMark: options.sendHighWaterMark,
    maxSendBuffer: options.maxSendBuffer,
    heartbeatInterval: options.heartbeatInterval,
    closeTimeout: options.closeTimeout,
    maxConnections: options.maxConnections,
    allowOrigins: options.allowOrigins,
    metrics: options.metrics,
    logger: options.logger,
    maxMessageSize: Math.min(options.maxMessageSize ?? InspectorDefaults.maxMessageSize, InspectorDefaults.maxMessageSize),
    perMessageDeflate: wantsDeflate,
    observeFrame,
  });
  inspector.on('connection', (connection: WebSocketConnection, request: IncomingMessage) => {
    connection.on('message', onMessage);
    connection.on('ping', onControl);
    connection.on('pong', onControl);
    const handshake = describeHandshake(request, connection.extensions, connection.transport);
    if (handshake !== undefined) report(connection, handshake);
  });
  return inspector;
}
