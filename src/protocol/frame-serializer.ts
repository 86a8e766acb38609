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
import { allocateFrame } from './frame-buffer.js';
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

/** Options for a final, unmasked frame without RSV1: what `encodeFrame(opcode, payload)` means. */
const DEFAULT_FRAME_OPTIONS: FrameOptions = Object.freeze({});

/** Whether the `mask` option asks for a masked frame: `true` or a key given for it. */
function wantsMask(mask: FrameOptions['mask']): mask is true | Uint8Array {
  return mask !== undefined && mask !== false;
}

/** The key of the frame being written, reused from frame to frame so that a frame costs no extra object. */
const frameMaskKey = Buffer.alloc(4);

/**
 * Writes the masking key at `offset` (RFC 6455 5.2: right after the length) and keeps it in
 * `frameMaskKey` for masking the payload: a fresh random key for `true`, else the caller's.
 */
function writeMaskingKey(frame: Buffer, offset: number, mask: true | Uint8Array): void {
  let source: Uint8Array;
  let start = 0;
  if (mask === true) {
    if (maskPoolOffset === MASK_POOL_BYTES) refillMaskPool();
    source = maskPool;
    start = maskPoolOffset;
    maskPoolOffset += 4;
  } else {
    if (mask.length !== 4) refuseMaskKey();
    source = mask;
  }
  frame[offset] = frameMaskKey[0] = source[start];
  frame[offset + 1] = frameMaskKey[1] = source[start + 1];
  frame[offset + 2] = frameMaskKey[2] = source[start + 2];
  frame[offset + 3] = frameMaskKey[3] = source[start + 3];
}

// The rare paths live in functions of their own, so that the code V8 inlines into every
// `encodeFrame` call stays small (its inlining budget is shared with allocateFrame and
// the masking loop).

function refillMaskPool(): void {
  randomFillSync(maskPool);
  maskPoolOffset = 0;
}

function refuseMaskKey(): never {
  throw new RangeError('a masking key is exactly 4 bytes (RFC 6455 5.2)');
}

/** Bytes of header a frame needs for this payload length, with or without a masking key. */
export function frameHeaderLength(payloadLength: number, masked: boolean): number {
  const lengthBytes = payloadLength <= MAX_7BIT_LENGTH ? 0 : payloadLength <= MAX_16BIT_LENGTH ? 2 : 8;
  return 2 + lengthBytes + (masked ? 4 : 0);
}

/** Refuses what RFC 6455 does not allow to be written (the checks themselves are in `refuseFrame`). */
function checkFrame(opcode: number, payloadLength: number, fin: boolean): void {
  if (!isKnownOpcode(opcode) || (isControlOpcode(opcode) && (!fin || payloadLength > MAX_CONTROL_PAYLOAD))) {
    refuseFrame(opcode, payloadLength, fin);
  }
}

function refuseFrame(opcode: number, payloadLength: number, fin: boolean): never {
  if (!isKnownOpcode(opcode)) throw new RangeError(`opcode 0x${opcode.toString(16)} is reserved (RFC 6455 5.2)`);
  // RFC 6455 5.5: control frames MUST NOT be fragmented and carry at most 125 bytes.
  if (!fin) throw new RangeError('control frames must not be fragmented (RFC 6455 5.5)');
  throw new RangeError(`control frame payload of ${payloadLength} bytes, over 125 (RFC 6455 5.5)`);
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
 * Writes the first bytes of a frame header (RFC 6455 5.2): FIN, RSV1 and the opcode, then the
 * MASK bit and the payload length in the shortest encoding that holds it. Returns where the
 * masking key (if `masked`) or else the payload starts.
 */
function writeHeader(frame: Buffer, opcode: number, payloadLength: number, fin: boolean, rsv1: boolean, masked: boolean): number {
  frame[0] = (fin ? FIN_BIT : 0) | (rsv1 ? RSV1_BIT : 0) | opcode;
  const maskBit = masked ? MASK_BIT : 0;
  if (payloadLength > MAX_7BIT_LENGTH) return writeExtendedLength(frame, 1, payloadLength, maskBit);
  frame[1] = maskBit | payloadLength;
  return 2;
}

/**
 * Just the header of an unmasked frame: for writing a large payload after it without
 * copying the payload (a server writes header and payload back to back).
 */
export function encodeFrameHeader(opcode: number, payloadLength: number, options: FrameOptions = DEFAULT_FRAME_OPTIONS): Buffer {
  const fin = options.fin !== false;
  checkFrame(opcode, payloadLength, fin);
  if (wantsMask(options.mask)) throw new RangeError('encodeFrameHeader is for unmasked frames; use encodeFrame');
  const header = allocateFrame(frameHeaderLength(payloadLength, false));
  writeHeader(header, opcode, payloadLength, fin, options.rsv1 === true, false);
  return header;
}

/** One complete frame, header and payload in a single buffer. `payload` is never modified. */
export function encodeFrame(opcode: number, payload: Uint8Array, options: FrameOptions = DEFAULT_FRAME_OPTIONS): Buffer {
  const fin = options.fin !== false;
  const length = payload.length;
  checkFrame(opcode, length, fin);
  const mask = options.mask;
  const masked = wantsMask(mask);
  // Every byte of the frame is written below: the header, the key, then the whole payload.
  const frame = allocateFrame(frameHeaderLength(length, masked) + length);
  const keyStart = writeHeader(frame, opcode, length, fin, options.rsv1 === true, masked);
  if (!masked) {
    frame.set(payload, keyStart);
  } else {
    writeMaskingKey(frame, keyStart, mask);
    copyMasked(payload, frame, keyStart + 4, frameMaskKey);
  }
  return frame;
}

/** A text frame straight from a string: the UTF-8 is written into the frame, with no copy between. */
export function encodeTextFrame(text: string, options: FrameOptions = DEFAULT_FRAME_OPTIONS): Buffer {
  const fin = options.fin !== false;
  const length = Buffer.byteLength(text, 'utf8');
  const mask = options.mask;
  const masked = wantsMask(mask);
  const frame = allocateFrame(frameHeaderLength(length, masked) + length);
  const keyStart = writeHeader(frame, Opcode.Text, length, fin, options.rsv1 === true, masked);
  if (!masked) {
    frame.write(text, keyStart, length, 'utf8');
  } else {
    writeMaskingKey(frame, keyStart, mask);
    frame.write(text, keyStart + 4, length, 'utf8');
    maskRange(frame, keyStart + 4, frame.length, frameMaskKey);
  }
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
