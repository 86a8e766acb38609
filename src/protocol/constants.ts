/**
 * Names for every number RFC 6455 defines, and the library's defaults and limits in one place.
 *
 * RFC 6455 sections: 1.3 (the GUID), 5.2 (opcodes and length encodings), 7.4 (close codes),
 * 11.7 and the IANA "WebSocket Close Code Number Registry" (registered codes).
 */
import { constants as bufferConstants } from 'node:buffer';

/** The GUID a server appends to Sec-WebSocket-Key before hashing (RFC 6455 1.3, 4.2.2). */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The only protocol version RFC 6455 defines (RFC 6455 4.1, 4.2.1 item 6). */
export const WEBSOCKET_VERSION = '13';

/** Frame opcodes (RFC 6455 5.2, 11.8). Values 0x3-0x7 and 0xB-0xF are reserved. */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Control frames are those whose opcode has the most significant bit set (RFC 6455 5.5). */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/** True for the opcodes RFC 6455 defines; the rest are reserved for future use (RFC 6455 5.2). */
export function isKnownOpcode(opcode: number): boolean {
  return (
    opcode === Opcode.Continuation ||
    opcode === Opcode.Text ||
    opcode === Opcode.Binary ||
    opcode === Opcode.Close ||
    opcode === Opcode.Ping ||
    opcode === Opcode.Pong
  );
}

/** Close status codes (RFC 6455 7.4.1 and the IANA registry). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  /** Reserved: never sent on the wire (RFC 6455 7.4.1). */
  NoStatusReceived: 1005,
  /** Reserved: never sent on the wire (RFC 6455 7.4.1). */
  AbnormalClosure: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
  /** Reserved: never sent on the wire (RFC 6455 7.4.1). */
  TlsHandshake: 1015,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Frame header bits of the first byte (RFC 6455 5.2). */
export const FIN_BIT = 0x80;
export const RSV1_BIT = 0x40;
export const RSV2_BIT = 0x20;
export const RSV3_BIT = 0x10;
export const OPCODE_MASK = 0x0f;
/** Second byte: the MASK bit and the 7-bit payload length. */
export const MASK_BIT = 0x80;
export const PAYLOAD_LENGTH_MASK = 0x7f;

/** A 7-bit length of 126 means "the real length follows in 16 bits", 127 "in 64 bits" (RFC 6455 5.2). */
export const LENGTH_16_MARKER = 126;
export const LENGTH_64_MARKER = 127;
/** The largest length that fits the 7-bit field, and the largest that fits the 16-bit one. */
export const MAX_7BIT_LENGTH = 125;
export const MAX_16BIT_LENGTH = 0xffff;

/** Control frames carry at most 125 bytes of payload (RFC 6455 5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** A close frame's reason fits in what is left after the 2-byte code (RFC 6455 5.5, 5.5.1). */
export const MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD - 2;

/**
 * The largest message size limit there can be: a message is delivered as one Buffer, and Node's
 * Buffers (and zlib's output, for compressed messages) stop at `buffer.constants.MAX_LENGTH`.
 */
export const MAX_MESSAGE_SIZE_LIMIT: number = bufferConstants.MAX_LENGTH;

/**
 * Defaults for the limits the protocol core enforces. The server's own defaults
 * (send buffer, timeouts) live in src/server/config.ts and reuse these.
 */
export const ProtocolDefaults = {
  /** Largest message accepted, in bytes, summed over all its fragments (1009 beyond it). */
  maxMessageSize: 16 * 1024 * 1024,
  /**
   * Most frames one message may come in (1009 beyond it). Every frame costs the receiver work
   * and a header's worth of bookkeeping whatever its size, so without a bound a peer could keep
   * one message going for ever in one-byte fragments (16 million of them fit a 16 MiB limit).
   * 2^17: twice the 65,536 fragments of the largest conformance cases (4 MiB in 64-byte
   * fragments, as Autobahn's 9.3.1 and 9.4.1 send), so no client that passes them is refused.
   */
  maxFragmentsPerMessage: 131_072,
} as const;
