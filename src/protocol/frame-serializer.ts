/**
 * The frame serializer: messages and control payloads out as frame bytes.
 *
 * RFC 6455 sections: 5.2 (header layout; "the minimal number of bytes MUST be used to encode
 * the length"), 5.3 (clients mask every frame with a fresh, unpredictable key), 5.4
 * (fragmenting a message), 5.5 (control frames: FIN set, at most 125 bytes).
 *
 * A frame is built as one buffer whose exact bytes can be written to any number of sockets:
 * a broadcast serializes once.
 */
import { randomFillSync } from 'node:crypto';
import { encodeClosePayload } from './close.js';
import {
  FIN_BIT,
  isControlOpcode,
  isKnownOpcode,
  LENGTH_16_MARKER,
  LENGTH_64_MARKER,
  MASK_BIT,
  MAX_16BIT_LENGTH,
  MAX_7BIT_LENGTH,
  MAX_CONTROL_PAYLOAD,
  Opcode,
  RSV1_BIT,
} from './constants.js';
import { copyMasked, maskRange } from './mask.js';

/** How to frame a payload. */
export interface FrameOptions {
  /** Final fragment of its message (default true). */
  fin?: boolean;
  /** RSV1, for an extension that claims it (permessage-deflate). */
  rsv1?: boolean;
  /**
   * Mask the payload (RFC 6455 5.3): `true` draws a fresh random key, as a client must for
   * every frame; a 4-byte buffer uses that key (for tests). Servers never mask.
   */
  mask?: boolean | Uint8Array;
}

// RFC 6455 5.3: the key "MUST be derived from a strong source of entropy". Keys are drawn
// from node:crypto in batches, which is far cheaper than one call per frame.
const MASK_POOL_BYTES = 8192;
const maskPool = Buffer.alloc(MASK_POOL_BYTES);
let maskPoolOffset = MASK_POOL_BYTES;
/** The current key, copied out of the pool: reused so that a small frame costs no extra object. */
const currentMaskKey = Buffer.alloc(4);

/** A fresh random 4-byte masking key. Valid until the next call: use it at once. */
function nextMaskKey(): Buffer {
  if (maskPoolOffset + 4 > MASK_POOL_BYTES) {
    randomFillSync(maskPool);
    maskPoolOffset = 0;
  }
  currentMaskKey[0] = maskPool[maskPoolOffset];
  currentMaskKey[1] = maskPool[maskPoolOffset + 1];
  currentMaskKey[2] = maskPool[maskPoolOffset + 2];
  currentMaskKey[3] = maskPool[maskPoolOffset + 3];
  maskPoolOffset += 4;
  return currentMaskKey;
}

function resolveMaskKey(mask: FrameOptions['mask']): Uint8Array | undefined {
  if (mask === undefined || mask === false) return undefined;
  if (mask === true) return nextMaskKey();
  if (mask.length !== 4) throw new RangeError('a masking key is exactly 4 bytes (RFC 6455 5.2)');
  return mask;
}

/** Bytes of header a frame needs for this payload length, with or without a masking key. */
export function frameHeaderLength(payloadLength: number, masked: boolean): number {
  const lengthBytes = payloadLength <= MAX_7BIT_LENGTH ? 0 : payloadLength <= MAX_16BIT_LENGTH ? 2 : 8;
  return 2 + lengthBytes + (masked ? 4 : 0);
}

function checkFrame(opcode: number, payloadLength: number, fin: boolean): void {
  if (!isKnownOpcode(opcode)) throw new RangeError(`opcode 0x${opcode.toString(16)} is reserved (RFC 6455 5.2)`);
  if (isControlOpcode(opcode)) {
    // RFC 6455 5.5: control frames MUST NOT be fragmented and carry at most 125 bytes.
    if (!fin) throw new RangeError('control frames must not be fragmented (RFC 6455 5.5)');
    if (payloadLength > MAX_CONTROL_PAYLOAD) throw new RangeError('control frame payload over 125 bytes (RFC 6455 5.5)');
  }
}

/**
 * The second byte and the extended length of a payload over 125 bytes: 126 and 16 bits, or
 * 127 and 64 bits. (A function of its own keeps `writeHeader` small enough for V8 to inline
 * into `encodeFrame` along with the allocation, which matters for small frames.)
 */
function writeExtendedLength(target: Buffer, offset: number, payloadLength: number, maskBit: number): number {
  if (payloadLength <= MAX_16BIT_LENGTH) {
    target[offset] = maskBit | LENGTH_16_MARKER;
    target.writeUInt16BE(payloadLength, offset + 1);
    return offset + 3;
  }
  target[offset] = maskBit | LENGTH_64_MARKER;
  // Lengths are below 2^53, so the top bit of the 64-bit field is 0 as RFC 6455 5.2 requires.
  target.writeUInt32BE(Math.floor(payloadLength / 0x1_0000_0000), offset + 1);
  target.writeUInt32BE(payloadLength >>> 0, offset + 5);
  return offset + 9;
}

/**
 * Writes a frame header into `target` at `offset` and returns where the payload starts.
 * The length uses the shortest encoding that holds it (RFC 6455 5.2).
 */
function writeHeader(
  target: Buffer,
  offset: number,
  opcode: number,
  payloadLength: number,
  fin: boolean,
  rsv1: boolean,
  maskKey: Uint8Array | undefined,
): number {
  target[offset++] = (fin ? FIN_BIT : 0) | (rsv1 ? RSV1_BIT : 0) | opcode;
  const maskBit = maskKey === undefined ? 0 : MASK_BIT;
  if (payloadLength <= MAX_7BIT_LENGTH) {
    target[offset++] = maskBit | payloadLength;
  } else {
    offset = writeExtendedLength(target, offset, payloadLength, maskBit);
  }
  if (maskKey !== undefined) {
    target[offset++] = maskKey[0];
    target[offset++] = maskKey[1];
    target[offset++] = maskKey[2];
    target[offset++] = maskKey[3];
  }
  return offset;
}

/**
 * Just the header of an unmasked frame: for writing a large payload after it without
 * copying the payload (a server writes header and payload back to back).
 */
export function encodeFrameHeader(opcode: number, payloadLength: number, options: FrameOptions = {}): Buffer {
  const fin = options.fin ?? true;
  checkFrame(opcode, payloadLength, fin);
  const maskKey = resolveMaskKey(options.mask);
  if (maskKey !== undefined) throw new RangeError('encodeFrameHeader is for unmasked frames; use encodeFrame');
  const header = Buffer.allocUnsafe(frameHeaderLength(payloadLength, false));
  writeHeader(header, 0, opcode, payloadLength, fin, options.rsv1 ?? false, undefined);
  return header;
}

/** One complete frame, header and payload in a single buffer. `payload` is never modified. */
export function encodeFrame(opcode: number, payload: Uint8Array, options: FrameOptions = {}): Buffer {
  const fin = options.fin ?? true;
  checkFrame(opcode, payload.length, fin);
  const maskKey = resolveMaskKey(options.mask);
  // Every byte of the frame is written below: the header, then the whole payload.
  const frame = Buffer.allocUnsafe(frameHeaderLength(payload.length, maskKey !== undefined) + payload.length);
  const payloadStart = writeHeader(frame, 0, opcode, payload.length, fin, options.rsv1 ?? false, maskKey);
  if (maskKey === undefined) frame.set(payload, payloadStart);
  else copyMasked(payload, frame, payloadStart, maskKey);
  return frame;
}

/** A text frame straight from a string: the UTF-8 is written into the frame, with no copy between. */
export function encodeTextFrame(text: string, options: FrameOptions = {}): Buffer {
  const fin = options.fin ?? true;
  const length = Buffer.byteLength(text, 'utf8');
  const maskKey = resolveMaskKey(options.mask);
  const frame = Buffer.allocUnsafe(frameHeaderLength(length, maskKey !== undefined) + length);
  const payloadStart = writeHeader(frame, 0, Opcode.Text, length, fin, options.rsv1 ?? false, maskKey);
  frame.write(text, payloadStart, length, 'utf8');
  if (maskKey !== undefined) maskRange(frame, payloadStart, frame.length, maskKey);
  return frame;
}

/**
 * A message as a sequence of frames of at most `fragmentSize` payload bytes each (RFC 6455 5.4):
 * the first carries the opcode, the rest are continuations, the last has FIN set. An empty
 * payload still makes one frame.
 */
export function encodeFragmentedMessage(
  opcode: typeof Opcode.Text | typeof Opcode.Binary,
  payload: Uint8Array,
  fragmentSize: number,
  options: Omit<FrameOptions, 'fin'> = {},
): Buffer[] {
  if (!Number.isInteger(fragmentSize) || fragmentSize < 1) throw new RangeError('fragmentSize must be a positive integer');
  const frames: Buffer[] = [];
  let offset = 0;
  do {
    const end = Math.min(offset + fragmentSize, payload.length);
    frames.push(
      encodeFrame(offset === 0 ? opcode : Opcode.Continuation, payload.subarray(offset, end), {
        fin: end === payload.length,
        // RFC 7692 6.1: only the first frame of a compressed message carries RSV1.
        rsv1: offset === 0 ? options.rsv1 : false,
        mask: options.mask,
      }),
    );
    offset = end;
  } while (offset < payload.length);
  return frames;
}

/** A Close frame with an optional code and reason, the reason cut to fit 125 bytes (RFC 6455 5.5.1). */
export function encodeCloseFrame(code?: number, reason = '', options: Pick<FrameOptions, 'mask'> = {}): Buffer {
  return encodeFrame(Opcode.Close, encodeClosePayload(code, reason), options);
}
