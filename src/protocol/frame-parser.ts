/**
 * The frame parser: an incremental state machine that turns bytes into frames.
 *
 * RFC 6455 sections: 5.2 (base framing), 5.1 and 5.3 (masking by role), 5.4 (fragmentation),
 * 5.5 (control frames), 10.4 (limits on frame and message size).
 *
 * Bytes arrive in chunks of any size. The parser keeps them in a queue and moves through the
 * parts of a frame in order, each a named state:
 *
 *     FrameHeader -> [ExtendedLength16 | ExtendedLength64] -> [MaskingKey] -> Payload
 *
 * Every rule that can be judged from the header is checked as soon as the header bits are
 * known, in the order RFC 6455 5.2 lists the fields, and the declared length is checked
 * against the message size limit before a single payload byte is kept. So any split of the
 * same byte stream gives the same frames, and a peer cannot make the parser buffer more than
 * the limit.
 *
 * A data frame's payload that is still arriving when a read ends is unmasked as far as it has
 * come and handed to `onPartialPayload`, so that the receiver can judge it before the rest is
 * sent (RFC 6455 8.1: invalid UTF-8 fails the connection as soon as it is seen). A frame that
 * arrives whole is unmasked in one go, as before: no byte is unmasked twice.
 */
import {
  FIN_BIT,
  isControlOpcode,
  isKnownOpcode,
  LENGTH_16_MARKER,
  LENGTH_64_MARKER,
  MASK_BIT,
  MAX_CONTROL_PAYLOAD,
  MAX_MESSAGE_SIZE_LIMIT,
  Opcode,
  OPCODE_MASK,
  PAYLOAD_LENGTH_MASK,
  ProtocolDefaults,
  RSV1_BIT,
  RSV2_BIT,
  RSV3_BIT,
} from './constants.js';
import { type ProtocolError, protocolError } from './errors.js';
import { applyMask, maskRange } from './mask.js';

/** Which end of the connection this parser reads for: servers read client frames, and the reverse. */
export type Role = 'server' | 'client';

/** What the parser knows of a frame once its header is read. */
export interface FrameHeader {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  /** The 4-byte masking key, when `masked` (RFC 6455 5.3). Reused between frames: copy it to keep it. */
  maskKey: Buffer;
  /** The payload length as declared, in bytes. */
  payloadLength: number;
  /** Bytes of header: 2, plus 2 or 8 of extended length, plus 4 of masking key. */
  headerLength: number;
}

/** Receives the parser's output. */
export interface FrameHandler {
  /**
   * One complete frame. `payload` is already unmasked. `header` is reused for the next frame:
   * copy what you keep. The parser may have unmasked the caller's chunk in place.
   */
  onFrame(header: FrameHeader, payload: Buffer): void;
  /** The stream broke a rule; the parser stops and ignores all further input. */
  onFrameError(error: ProtocolError): void;
  /**
   * Optional: the bytes of a data frame's payload that have arrived since the last call, already
   * unmasked, when a read ends before the frame does. They stay part of the payload `onFrame`
   * later hands over whole, so a handler that judged them here skips that many bytes there.
   * Not called for control frames, a frame that arrives whole, or with `discardDataPayloads`.
   * The handler may stop the parser from here (`onFrameError` is not called then).
   */
  onPartialPayload?(header: FrameHeader, bytes: Buffer): void;
}

export interface FrameParserOptions {
  /** `server` requires masked frames (RFC 6455 5.1), `client` forbids them. */
  role: Role;
  /** Largest message, summed over its fragments, in bytes (1009 beyond it). */
  maxMessageSize?: number;
  /** Most frames one message may come in (1009 beyond it); `ProtocolDefaults.maxFragmentsPerMessage` by default. */
  maxFragmentsPerMessage?: number;
  /** RSV bits that a negotiated extension has given a meaning (RFC 6455 5.2), e.g. `RSV1_BIT`. */
  allowedRsvBits?: number;
  /**
   * Drop the payload of every data frame (Text, Binary, Continuation) without copying or
   * unmasking it, and hand `onFrame` an empty buffer; `header.payloadLength` still says how long
   * it was. Every rule the header decides, and the size limit, are checked as usual, and control
   * frames keep their payloads. For a reader that needs the frames but not their contents: the
   * benchmark's load generator counts echoes by length this way. Off by default.
   */
  discardDataPayloads?: boolean;
}

/** The parts of a frame, in the order they appear on the wire (RFC 6455 5.2). */
const ParserState = {
  FrameHeader: 0,
  ExtendedLength16: 1,
  ExtendedLength64: 2,
  MaskingKey: 3,
  Payload: 4,
  /** After an error or `stop()`: input is ignored. */
  Stopped: 5,
} as const;
type ParserState = (typeof ParserState)[keyof typeof ParserState];

/** 2^53 - 1 split at 32 bits: the high word of the largest length a JavaScript number holds exactly. */
const MAX_SAFE_HIGH_WORD = 0x1fffff;
const TWO_TO_THE_32 = 0x1_0000_0000;

/**
 * Parses a byte stream into frames. Feed it with `push`; it calls the handler for every
 * complete frame, or once with an error, after which it ignores input.
 *
 * `push` takes ownership of the chunk: masked payloads are unmasked in place.
 */
export class FrameParser {
  private readonly handler: FrameHandler;
  private readonly requireMask: boolean;
  private readonly maxMessageSize: number;
  private readonly maxFragmentsPerMessage: number;
  private readonly allowedRsvBits: number;
  private readonly discardDataPayloads: boolean;

  private state: ParserState = ParserState.FrameHeader;
  /**
   * Received bytes not consumed yet: `chunks[first]` from `headOffset` on, then the rest whole.
   * A queue with a moving start rather than `shift()`, which copies the whole array: a peer that
   * sends one large frame in thousands of tiny pieces would make that quadratic (about 20 s of
   * blocked event loop for 1 MiB in 8-byte pieces, measured).
   */
  private readonly chunks: Buffer[] = [];
  private first = 0;
  private headOffset = 0;
  /**
   * Short reads that have to wait in the queue (their frame is not complete) are copied one
   * after another into `block`, a buffer of our own, and the queue holds one view of them: a
   * peer that sends a frame a few bytes at a time then costs its bytes in memory, not a Buffer
   * object (about 100 bytes) for every read.
   */
  private block: Buffer = EMPTY;
  private blockFill = 0;
  /** Size of the next block: small first, doubling to BLOCK_BYTES while reads keep waiting. */
  private nextBlockBytes = FIRST_BLOCK_BYTES;
  /** The latest view of `block`, ending at `blockFill`: a short read right behind it extends it. */
  private blockView: Buffer = EMPTY;
  private blockViewStart = 0;
  private buffered = 0;

  /** The header of the frame being read, reused from frame to frame. */
  private readonly header: FrameHeader = {
    fin: false,
    rsv1: false,
    rsv2: false,
    rsv3: false,
    opcode: 0,
    masked: false,
    maskKey: Buffer.alloc(4),
    payloadLength: 0,
    headerLength: 0,
  };

  /** Opcode of the fragmented message in progress, or -1 when none is (RFC 6455 5.4). */
  private messageOpcode = -1;
  /** Payload bytes of the message in progress so far, over all its fragments. */
  private messageLength = 0;
  /** Payload bytes of the frame being read already unmasked and handed to `onPartialPayload`. */
  private payloadHandedOver = 0;
  private readonly handsOverPartialPayloads: boolean;
  /** Frames of the message in progress so far. */
  private messageFrames = 0;
  /** Frames read so far, all kinds (see `framesRead`). */
  private frameCount = 0;

  constructor(handler: FrameHandler, options: FrameParserOptions) {
    this.handler = handler;
    this.requireMask = options.role === 'server';
    this.maxMessageSize = checkedMaxMessageSize(options.maxMessageSize ?? ProtocolDefaults.maxMessageSize);
    this.maxFragmentsPerMessage = checkedMaxFragments(options.maxFragmentsPerMessage ?? ProtocolDefaults.maxFragmentsPerMessage);
    this.allowedRsvBits = options.allowedRsvBits ?? 0;
    this.discardDataPayloads = options.discardDataPayloads === true;
    this.handsOverPartialPayloads = handler.onPartialPayload !== undefined;
  }

  /**
   * Feeds received bytes. Frames completed by them are reported before this returns, but at
   * most `maxFrames` of them: past that the parser stops, keeps the rest of its bytes, and
   * returns true; `resume` reads on. (A caller that serves many peers uses this to take turns:
   * one read full of tiny frames must not keep everyone else waiting. The bytes kept are at
   * most what was pushed, since nothing more is pushed before `resume` has returned false.)
   */
  push(chunk: Buffer, maxFrames = Number.POSITIVE_INFINITY): boolean {
    if (this.state === ParserState.Stopped || chunk.length === 0) return false;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const more = this.parse(maxFrames);
    // Still waiting behind older bytes: keep a short read's bytes rather than its object.
    const last = this.chunks.length - 1;
    if (chunk.length < SHORT_READ_BYTES && last > this.first && this.chunks[last] === chunk) this.keepShortRead(last);
    return more;
  }

  /**
   * After `push` returned true: reads on in the bytes it kept, at most `maxFrames` frames again.
   * Returns true while frames may still be waiting, false once every complete frame is read.
   */
  resume(maxFrames = Number.POSITIVE_INFINITY): boolean {
    return this.parse(maxFrames);
  }

  /** Moves the short read at `chunks[index]` (the last entry, not the first) into `block`. */
  private keepShortRead(index: number): void {
    const chunks = this.chunks;
    const read = chunks[index];
    const room = this.block.length - this.blockFill;
    if (chunks[index - 1] === this.blockView && room >= read.length) {
      // The entry before it views the block up to here: extend that view over the new bytes.
      read.copy(this.block, this.blockFill);
      this.blockFill += read.length;
      this.blockView = this.block.subarray(this.blockViewStart, this.blockFill);
      chunks[index - 1] = this.blockView;
      chunks.pop();
      return;
    }
    if (room < read.length) {
      this.block = Buffer.allocUnsafe(this.nextBlockBytes); // only the bytes copied in are ever viewed
      this.nextBlockBytes = Math.min(this.nextBlockBytes * 2, BLOCK_BYTES);
      this.blockFill = 0;
    }
    this.blockViewStart = this.blockFill;
    read.copy(this.block, this.blockFill);
    this.blockFill += read.length;
    this.blockView = this.block.subarray(this.blockViewStart, this.blockFill);
    chunks[index] = this.blockView;
  }

  /** Stops parsing for good and releases buffered bytes (after a Close frame, or an error). */
  stop(): void {
    this.state = ParserState.Stopped;
    this.chunks.length = 0;
    this.first = 0;
    this.releaseBlock();
    this.buffered = 0;
    this.headOffset = 0;
    this.payloadHandedOver = 0;
  }

  /** True once the parser has stopped, by error or by `stop()`. */
  get stopped(): boolean {
    return this.state === ParserState.Stopped;
  }

  /** Bytes received but not yet part of a complete frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Frames read so far, of every kind: for a caller that budgets frames over several pushes. */
  get framesRead(): number {
    return this.frameCount;
  }

  /** Reads frames until the bytes run out or `maxFrames` are read; true in the second case, bytes left. */
  private parse(maxFrames: number): boolean {
    const stopAt = this.frameCount + maxFrames;
    for (;;) {
      switch (this.state) {
        case ParserState.FrameHeader:
          if (this.frameCount >= stopAt) return this.buffered > 0;
          if (this.buffered < 2) return false;
          this.readFrameHeader();
          break;
        case ParserState.ExtendedLength16:
          if (this.buffered < 2) return false;
          this.readExtendedLength16();
          break;
        case ParserState.ExtendedLength64:
          if (this.buffered < 8) return false;
          this.readExtendedLength64();
          break;
        case ParserState.MaskingKey:
          if (this.buffered < 4) return false;
          this.readMaskingKey();
          break;
        case ParserState.Payload:
          if (this.buffered < this.header.payloadLength) {
            if (this.buffered > this.payloadHandedOver && this.handsOverPartialPayloads) this.readPartialPayload();
            return false;
          }
          this.frameCount++;
          this.readPayload();
          break;
        default: // Stopped
          return false;
      }
    }
  }

  /** Step 1: the first two bytes: FIN, RSV1-3, opcode, MASK and the 7-bit length. */
  private readFrameHeader(): void {
    const first = this.readByte();
    const second = this.readByte();
    const header = this.header;
    header.fin = (first & FIN_BIT) !== 0;
    header.rsv1 = (first & RSV1_BIT) !== 0;
    header.rsv2 = (first & RSV2_BIT) !== 0;
    header.rsv3 = (first & RSV3_BIT) !== 0;
    header.opcode = first & OPCODE_MASK;
    header.masked = (second & MASK_BIT) !== 0;
    header.headerLength = 2;
    const length7 = second & PAYLOAD_LENGTH_MASK;

    // RFC 6455 5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings
    // for non-zero values. If a nonzero value is received and none of the negotiated extensions
    // defines the meaning of such a nonzero value, the receiving endpoint MUST _Fail the WebSocket Connection_."
    const rsvBits = first & (RSV1_BIT | RSV2_BIT | RSV3_BIT);
    if ((rsvBits & ~this.allowedRsvBits) !== 0) {
      return this.fail(protocolError('RESERVED_BITS_SET', 'reserved bits set without a negotiated extension'));
    }
    // RFC 6455 5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket Connection_."
    if (!isKnownOpcode(header.opcode)) {
      return this.fail(protocolError('RESERVED_OPCODE', `reserved opcode 0x${header.opcode.toString(16)}`));
    }
    // RFC 7692 6.1: an extension's "Per-Message Compressed" bit belongs to the first frame of a
    // data message only; on a control frame or a continuation it is an error.
    if (rsvBits !== 0 && (isControlOpcode(header.opcode) || header.opcode === Opcode.Continuation)) {
      return this.fail(protocolError('RESERVED_BITS_SET', 'reserved bits set on a control or continuation frame'));
    }
    if (isControlOpcode(header.opcode)) {
      // RFC 6455 5.5: "All control frames MUST have a payload length of 125 bytes or less
      // and MUST NOT be fragmented."
      if (!header.fin) {
        return this.fail(protocolError('CONTROL_FRAME_FRAGMENTED', 'control frames must not be fragmented'));
      }
      if (length7 > MAX_CONTROL_PAYLOAD) {
        return this.fail(protocolError('CONTROL_FRAME_TOO_LONG', 'control frame payload over 125 bytes'));
      }
    } else if (header.opcode === Opcode.Continuation) {
      // RFC 6455 5.4: a continuation frame only ever follows an unfinished data frame.
      if (this.messageOpcode === -1) {
        return this.fail(protocolError('UNEXPECTED_CONTINUATION', 'continuation frame without a message to continue'));
      }
    } else if (this.messageOpcode !== -1) {
      // RFC 6455 5.4: fragments of one message are not interleaved with another message.
      return this.fail(protocolError('EXPECTED_CONTINUATION', 'new data frame before the fragmented message ended'));
    }
    // RFC 6455 5.1: "The server MUST close the connection upon receiving a frame that is not
    // masked" and "A client MUST close a connection if it detects a masked frame."
    if (header.masked !== this.requireMask) {
      return this.fail(
        this.requireMask
          ? protocolError('UNMASKED_CLIENT_FRAME', 'client frames must be masked')
          : protocolError('MASKED_SERVER_FRAME', 'server frames must not be masked'),
      );
    }
    // RFC 6455 5.2: 126 means a 16-bit length follows, 127 a 64-bit length.
    if (length7 === LENGTH_16_MARKER) {
      this.state = ParserState.ExtendedLength16;
    } else if (length7 === LENGTH_64_MARKER) {
      this.state = ParserState.ExtendedLength64;
    } else {
      this.acceptLength(length7);
    }
  }

  /** Step 2a: a 16-bit length in network byte order. */
  private readExtendedLength16(): void {
    const length = (this.readByte() << 8) | this.readByte();
    this.header.headerLength += 2;
    this.acceptLength(length);
  }

  /** Step 2b: a 64-bit length in network byte order, read as two 32-bit halves. */
  private readExtendedLength64(): void {
    const high = this.readUint32();
    const low = this.readUint32();
    this.header.headerLength += 8;
    // RFC 6455 5.2: with a 64-bit length, "the most significant bit MUST be 0".
    if (high >= 0x8000_0000) {
      return this.fail(protocolError('LENGTH_TOP_BIT_SET', 'most significant bit of a 64-bit length is set'));
    }
    // Past 2^53 - 1 a length cannot even be counted exactly; far past any limit anyway.
    if (high > MAX_SAFE_HIGH_WORD) {
      return this.fail(protocolError('MESSAGE_TOO_BIG', 'declared frame length is larger than 2^53 - 1 bytes'));
    }
    this.acceptLength(high * TWO_TO_THE_32 + low);
  }

  /** Checks the declared length against the limit before any payload is kept (RFC 6455 10.4). */
  private acceptLength(length: number): void {
    const header = this.header;
    header.payloadLength = length;
    if (!isControlOpcode(header.opcode) && this.messageLength + length > this.maxMessageSize) {
      return this.fail(
        protocolError('MESSAGE_TOO_BIG', `message is larger than the limit of ${this.maxMessageSize} bytes`),
      );
    }
    // The same for the number of frames: a flood of tiny fragments is refused at the header of
    // the first frame too many, before its payload is read.
    if (!isControlOpcode(header.opcode) && this.messageFrames >= this.maxFragmentsPerMessage) {
      return this.fail(
        protocolError('TOO_MANY_FRAGMENTS', `message is in more than the limit of ${this.maxFragmentsPerMessage} fragments`),
      );
    }
    this.state = header.masked ? ParserState.MaskingKey : ParserState.Payload;
  }

  /** Step 3: the 4-byte masking key (RFC 6455 5.3). */
  private readMaskingKey(): void {
    const key = this.header.maskKey;
    key[0] = this.readByte();
    key[1] = this.readByte();
    key[2] = this.readByte();
    key[3] = this.readByte();
    this.header.headerLength += 4;
    this.state = ParserState.Payload;
  }

  /**
   * Step 4a: the read ended inside a data frame's payload. The bytes that came since the last
   * hand-over (the last ones in the queue, usually all in the chunk just pushed) are unmasked
   * where they lie and handed to the handler, which may judge them now (RFC 6455 8.1). They
   * stay in the queue for `readPayload`, which then unmasks only the bytes after them.
   */
  private readPartialPayload(): void {
    const header = this.header;
    if (isControlOpcode(header.opcode) || this.discardDataPayloads) return;
    const chunks = this.chunks;
    // Find where the new bytes start, walking back from the newest chunk.
    let index = chunks.length - 1;
    let fromEnd = this.buffered - this.payloadHandedOver;
    while (fromEnd > chunks[index].length - (index === this.first ? this.headOffset : 0)) {
      fromEnd -= chunks[index].length;
      index--;
    }
    for (let start = chunks[index].length - fromEnd; index < chunks.length; index++, start = 0) {
      const chunk = chunks[index];
      if (header.masked) maskRange(chunk, start, chunk.length, this.maskKeyAt(this.payloadHandedOver));
      this.payloadHandedOver += chunk.length - start;
      (this.handler.onPartialPayload as NonNullable<FrameHandler['onPartialPayload']>)(header, chunk.subarray(start));
      if (this.state === ParserState.Stopped) return;
    }
  }

  /** The masking key as it applies from payload byte `offset` on (RFC 6455 5.3: byte i takes key[i % 4]). */
  private maskKeyAt(offset: number): Buffer {
    const key = this.header.maskKey;
    const turn = offset & 3;
    if (turn === 0) return key;
    for (let i = 0; i < 4; i++) turnedMaskKey[i] = key[(i + turn) & 3];
    return turnedMaskKey;
  }

  /** Step 4: the payload, unmasked (what `readPartialPayload` has not unmasked yet), then the frame goes to the handler. */
  private readPayload(): void {
    const header = this.header;
    let payload: Buffer;
    if (this.discardDataPayloads && !isControlOpcode(header.opcode)) {
      this.drop(header.payloadLength);
      payload = EMPTY;
    } else {
      payload = this.take(header.payloadLength);
      const handedOver = this.payloadHandedOver;
      // The frame came whole (the common case): unmask it in one go.
      if (header.masked && handedOver === 0) applyMask(payload, header.maskKey);
      else if (header.masked) maskRange(payload, handedOver, payload.length, this.maskKeyAt(handedOver));
      this.payloadHandedOver = 0;
    }

    if (!isControlOpcode(header.opcode)) {
      // Track the fragmented message in progress (RFC 6455 5.4).
      if (header.opcode !== Opcode.Continuation) this.messageOpcode = header.opcode;
      this.messageLength += header.payloadLength;
      this.messageFrames++;
      if (header.fin) {
        this.messageOpcode = -1;
        this.messageLength = 0;
        this.messageFrames = 0;
      }
    }
    this.state = ParserState.FrameHeader;
    this.handler.onFrame(header, payload);
  }

  private fail(error: ProtocolError): void {
    this.stop();
    this.handler.onFrameError(error);
  }

  /** Nothing waits in the queue any more: let the block go (payloads handed out keep their own reference). */
  private releaseBlock(): void {
    this.block = EMPTY;
    this.blockFill = 0;
    this.blockView = EMPTY;
    this.nextBlockBytes = FIRST_BLOCK_BYTES;
  }

  /** The first chunk is used up: release it, and now and then move the rest to the front. */
  private dropFirstChunk(): void {
    const chunks = this.chunks;
    chunks[this.first++] = EMPTY;
    this.headOffset = 0;
    if (this.first === chunks.length) {
      chunks.length = 0;
      this.first = 0;
      this.releaseBlock(); // an idle connection keeps no block
    } else if (this.first >= COMPACT_AFTER_CHUNKS && this.first * 2 >= chunks.length) {
      // At least half the array is used-up slots: dropping them costs no more than the drops did.
      chunks.splice(0, this.first);
      this.first = 0;
    }
  }

  private readByte(): number {
    const chunk = this.chunks[this.first];
    const byte = chunk[this.headOffset++];
    this.buffered--;
    if (this.headOffset === chunk.length) this.dropFirstChunk();
    return byte;
  }

  private readUint32(): number {
    return ((this.readByte() << 24) | (this.readByte() << 16) | (this.readByte() << 8) | this.readByte()) >>> 0;
  }

  /** Removes `length` bytes from the queue without looking at them (see `discardDataPayloads`). */
  private drop(length: number): void {
    this.buffered -= length;
    let left = length;
    while (left > 0) {
      const available = this.chunks[this.first].length - this.headOffset;
      if (left < available) {
        this.headOffset += left;
        return;
      }
      left -= available;
      this.dropFirstChunk();
    }
  }

  /** Removes `length` bytes from the queue: a view when they lie in one chunk, else one copy. */
  private take(length: number): Buffer {
    this.buffered -= length;
    if (length === 0) return EMPTY;
    const chunk = this.chunks[this.first];
    const available = chunk.length - this.headOffset;
    if (length <= available) {
      const start = this.headOffset;
      if (length === available) {
        this.dropFirstChunk();
        return start === 0 ? chunk : chunk.subarray(start);
      }
      this.headOffset += length;
      return chunk.subarray(start, start + length);
    }
    // Spread over several chunks: gather into one buffer. Every byte of it is written below.
    const out = Buffer.allocUnsafe(length);
    let written = 0;
    while (written < length) {
      const current = this.chunks[this.first];
      const count = Math.min(current.length - this.headOffset, length - written);
      current.copy(out, written, this.headOffset, this.headOffset + count);
      written += count;
      this.headOffset += count;
      if (this.headOffset === current.length) this.dropFirstChunk();
    }
    return out;
  }
}

const EMPTY = Buffer.alloc(0);
/**
 * The masking key turned to line up with a payload byte past the first (see `maskKeyAt`): one
 * for all parsers, since it is used at once and never kept, rather than four bytes per connection.
 */
const turnedMaskKey = Buffer.alloc(4);
/** Used-up slots at the front of the chunk queue worth moving the rest to the front for. */
const COMPACT_AFTER_CHUNKS = 64;
/** Reads shorter than this that wait in the queue are copied into blocks (see `block`). */
const SHORT_READ_BYTES = 512;
/** Sizes of the blocks of short reads: the first one, and the most any grows to. */
const FIRST_BLOCK_BYTES = 1024;
const BLOCK_BYTES = 16 * 1024;

/** A fragment limit, checked when a parser is made: a whole number, at least 1 (an unfragmented message is one frame). */
function checkedMaxFragments(limit: number): number {
  if (!(Number.isSafeInteger(limit) && limit >= 1) && limit !== Number.POSITIVE_INFINITY) {
    throw new RangeError(`maxFragmentsPerMessage must be a whole number from 1, or Infinity, not ${limit}`);
  }
  return limit;
}

/**
 * A message size limit, checked when a parser is made: a whole number of bytes no larger than
 * one Buffer can hold. (A larger limit would let a peer declare a message that cannot be
 * gathered, or, compressed, make zlib refuse every message.)
 */
export function checkedMaxMessageSize(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 0 || limit > MAX_MESSAGE_SIZE_LIMIT) {
    throw new RangeError(`maxMessageSize must be a whole number of bytes from 0 to ${MAX_MESSAGE_SIZE_LIMIT}, not ${limit}`);
  }
  return limit;
}
