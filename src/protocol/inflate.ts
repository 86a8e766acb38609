/**
 * DEFLATE decoding (RFC 1951), a piece at a time: for a compressed message whose frames arrive
 * one by one (RFC 7692 7.2.2), so that its text is checked as UTF-8 as each frame arrives
 * (RFC 6455 8.1) and its size against the limit as each frame inflates.
 *
 * Why not zlib here: a frame may end anywhere in the DEFLATE data, even inside a Huffman code,
 * and decoding has to stop there and go on when the next frame comes. Node's synchronous zlib
 * (`inflateRawSync`, and `_processChunk` below it) closes its stream at the end of every call,
 * so it cannot go on; its streaming API is asynchronous and runs in libuv's thread pool, which
 * this project keeps zlib out of (see message-compression.ts). zlib still inflates every
 * message that arrives in one frame, the common case, and is the oracle this decoder is
 * property-tested against (test/protocol/inflate.test.ts): same output, same verdict, however
 * the input is cut.
 *
 * The decoder is a state machine whose states are the parts of a DEFLATE stream, in order:
 *
 *     BlockHeader -> StoredLengths -> StoredData                            (BTYPE 00)
 *                 -> [DynamicCounts -> CodeLengthCodes -> CodeLengths]      (BTYPE 10)
 *                    -> Symbol -> [LengthExtra -> Distance -> DistanceExtra] (BTYPE 01, 10)
 *
 * Each state waits until the bits it needs are in, so any split of the input gives the same
 * output. Where RFC 1951 leaves a malformed stream's fate open (incomplete Huffman codes, a
 * block whose code lengths are all zero), the decoder does what zlib does, so that a message
 * gets the same verdict whether it came in one frame or several.
 *
 * Memory: the output is the message itself (at most `maxOutput` bytes, the message size limit),
 * back-references read from it and from the preset dictionary; the Huffman tables take about
 * 5 KiB, made once per decoder (one per message that arrives in several frames).
 */

/** Why decoding stopped: not DEFLATE data, or more output than allowed. */
export type InflateFailure = 'invalid' | 'too-big';

/** The parts of a DEFLATE stream (RFC 1951 3.2.3-3.2.7). */
const InflateState = {
  BlockHeader: 0,
  StoredLengths: 1,
  StoredData: 2,
  DynamicCounts: 3,
  CodeLengthCodes: 4,
  CodeLengths: 5,
  CodeLengthRepeat: 6,
  Symbol: 7,
  LengthExtra: 8,
  Distance: 9,
  DistanceExtra: 10,
  /** After the block with BFINAL set: further input is ignored, as zlib ignores it. */
  End: 11,
  Failed: 12,
} as const;
type InflateState = (typeof InflateState)[keyof typeof InflateState];

/** RFC 1951 3.2.5: codes are at most 15 bits long. */
const MAX_CODE_BITS = 15;
/** Codes of up to this many bits are decoded by one table lookup; longer ones bit by bit. */
const FAST_BITS = 9;
const FAST_SIZE = 1 << FAST_BITS;
const FAST_MASK = FAST_SIZE - 1;
/** A table entry packs the symbol above the code's length (4 bits). */
const LENGTH_BITS = 4;
const LENGTH_MASK = (1 << LENGTH_BITS) - 1;

/** RFC 1951 3.2.5: the literal/length alphabet 0-285 (286 and 287 take part in the fixed code but never occur). */
const END_OF_BLOCK = 256;
const LAST_LENGTH_SYMBOL = 285;
const LITERAL_LENGTH_SYMBOLS = 288;
/** Distance symbols 0-29 (30 and 31 likewise). */
const LAST_DISTANCE_SYMBOL = 29;
const DISTANCE_SYMBOLS = 32;
/** RFC 1951 3.2.7: HLIT + 257 is at most 286, HDIST + 1 at most 30 (zlib refuses more). */
const MAX_LITERAL_LENGTH_CODES = 286;
const MAX_DISTANCE_CODES = 30;
const CODE_LENGTH_SYMBOLS = 19;
/** The order the code length code lengths are sent in (RFC 1951 3.2.7). */
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
/** Code length symbols 16-18 repeat: the previous length 3-6 times, zero 3-10 times, zero 11-138 times. */
const REPEAT_PREVIOUS = 16;
const REPEAT_ZERO_SHORT = 17;
const REPEAT_EXTRA_BITS = [2, 3, 7];
const REPEAT_BASE = [3, 3, 11];

/** RFC 1951 3.2.5: base lengths and extra bits of length symbols 257-285, distance symbols 0-29. */
const LENGTH_BASE = Uint16Array.of(3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258);
const LENGTH_EXTRA = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0);
const DISTANCE_BASE = Uint16Array.of(
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
);
const DISTANCE_EXTRA = Uint8Array.of(0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13);

/** What `decodeSymbol` answers when it has no symbol, and `walkCode` in place of a table entry. */
const NEED_INPUT = -1;
const INVALID_CODE = -2;
/**
 * Bytes of input that surely hold every part of a match (15 + 5 + 15 + 13 bits, read in refills
 * of 16 bits: four refills, eight bytes): while this many are left, the block body needs no
 * checks for the end of the input.
 */
const FAST_INPUT_MARGIN = 8;
/** Matches up to this long are copied a byte at a time in the block body. */
const SHORT_MATCH_BYTES = 32;

/** The smallest output buffer; it then doubles, up to the limit. */
const MIN_OUTPUT_BYTES = 1024;

/** A canonical Huffman code (RFC 1951 3.2.2), ready to decode. */
class HuffmanCode {
  /** How many codes there are of each length 1-15. */
  readonly counts = new Uint16Array(MAX_CODE_BITS + 1);
  /** The symbols in code order: by length, then by symbol value. */
  readonly symbols: Uint16Array;
  /** Indexed by the next FAST_BITS bits: (symbol << 4) | length for a code that short, else 0. */
  readonly fast = new Uint16Array(FAST_SIZE);
  /** The longest code's length; 0 for a code with no symbols at all. */
  maxLength = 0;
  private readonly offsets = new Uint16Array(MAX_CODE_BITS + 2);

  constructor(symbolCount: number) {
    this.symbols = new Uint16Array(symbolCount);
  }

  /**
   * Builds the code from the code length of each symbol (0: not used). False for lengths that
   * describe no prefix code: over-subscribed, or incomplete where zlib refuses that
   * (`allowIncomplete`: only a code of a single one-bit code may leave a pattern unused).
   */
  build(lengths: ArrayLike<number>, start: number, count: number, allowIncomplete: boolean): boolean {
    const counts = this.counts;
    counts.fill(0);
    for (let i = 0; i < count; i++) counts[lengths[start + i]]++;
    let maxLength = MAX_CODE_BITS;
    while (maxLength > 0 && counts[maxLength] === 0) maxLength--;
    this.maxLength = maxLength;
    this.fast.fill(0);
    if (maxLength === 0) return true; // no symbols: decoding anything with it fails (as in zlib)
    // RFC 1951 3.2.2: each length takes its share of the code space; more than all of it is no code.
    let left = 1;
    for (let length = 1; length <= MAX_CODE_BITS; length++) {
      left = (left << 1) - counts[length];
      if (left < 0) return false;
    }
    if (left > 0 && !(allowIncomplete && maxLength === 1)) return false;
    const offsets = this.offsets;
    offsets[1] = 0;
    for (let length = 1; length <= MAX_CODE_BITS; length++) offsets[length + 1] = offsets[length] + counts[length];
    for (let symbol = 0; symbol < count; symbol++) {
      const length = lengths[start + symbol];
      if (length !== 0) this.symbols[offsets[length]++] = symbol;
    }
    // The fast table: codes are sent most significant bit first (RFC 1951 3.1.1), so the table is
    // indexed by the code's bits reversed, and every entry whose low bits match gets the symbol.
    let code = 0;
    let index = 0;
    for (let length = 1; length <= Math.min(maxLength, FAST_BITS); length++) {
      for (let n = 0; n < counts[length]; n++, index++, code++) {
        const entry = (this.symbols[index] << LENGTH_BITS) | length;
        for (let i = reverseBits(code, length); i < FAST_SIZE; i += 1 << length) this.fast[i] = entry;
      }
      code <<= 1;
    }
    return true;
  }
}

/** The low `length` bits of `code`, in reverse order. */
function reverseBits(code: number, length: number): number {
  let reversed = 0;
  for (let i = 0; i < length; i++) reversed |= ((code >>> i) & 1) << (length - 1 - i);
  return reversed;
}

/**
 * Decodes a code longer than FAST_BITS (or bits that start no code) from the next `available`
 * bits, a bit at a time over the canonical code (RFC 1951 3.2.2). Answers a table entry,
 * (symbol << 4) | length, or NEED_INPUT / INVALID_CODE.
 */
function walkCode(code: HuffmanCode, bits: number, available: number): number {
  const counts = code.counts;
  let value = 0;
  let first = 0;
  let index = 0;
  for (let length = 1; length <= code.maxLength; length++) {
    if (length > available) return NEED_INPUT;
    value |= (bits >>> (length - 1)) & 1;
    const count = counts[length];
    if (value - first < count) return (code.symbols[index + value - first] << LENGTH_BITS) | length;
    index += count;
    first = (first + count) << 1;
    value <<= 1;
  }
  return INVALID_CODE;
}

/** The fixed codes of BTYPE 01 (RFC 1951 3.2.6), built on first use and shared. */
let fixedCodes: { literalLength: HuffmanCode; distance: HuffmanCode } | undefined;

function fixedHuffmanCodes(): { literalLength: HuffmanCode; distance: HuffmanCode } {
  if (fixedCodes !== undefined) return fixedCodes;
  const lengths = new Uint8Array(LITERAL_LENGTH_SYMBOLS);
  lengths.fill(8, 0, 144);
  lengths.fill(9, 144, 256);
  lengths.fill(7, 256, 280);
  lengths.fill(8, 280, LITERAL_LENGTH_SYMBOLS);
  const literalLength = new HuffmanCode(LITERAL_LENGTH_SYMBOLS);
  literalLength.build(lengths, 0, LITERAL_LENGTH_SYMBOLS, false);
  const distance = new HuffmanCode(DISTANCE_SYMBOLS);
  distance.build(new Uint8Array(DISTANCE_SYMBOLS).fill(5), 0, DISTANCE_SYMBOLS, false);
  fixedCodes = { literalLength, distance };
  return fixedCodes;
}

/**
 * Inflates one raw DEFLATE stream fed in pieces cut anywhere. `write` each piece as it comes;
 * the output so far is `output()`. Stops for good at the first error.
 */
export class IncrementalInflater {
  private state: InflateState = InflateState.BlockHeader;
  private failure: InflateFailure | undefined;
  private finalBlock = false;

  /** Bits received and not used yet, the next one lowest, and how many (at most 32). */
  private bitBuffer = 0;
  private bitCount = 0;
  private input: Uint8Array = EMPTY;
  private inputPosition = 0;

  private out: Buffer = Buffer.alloc(0);
  private outLength = 0;
  private readonly maxOutput: number;
  /** The preset dictionary: earlier messages' output, for back-references past this one's start. */
  private readonly dictionary: Uint8Array;

  /** The codes of the block being read: the fixed ones, or `dynamic...` built from its header. */
  private literalLengthCode: HuffmanCode | undefined;
  private distanceCode: HuffmanCode | undefined;
  private dynamicLiteralLength: HuffmanCode | undefined;
  private dynamicDistance: HuffmanCode | undefined;
  private codeLengthCode: HuffmanCode | undefined;

  /** State within a part: stored bytes left; the dynamic header's counts and lengths read so far. */
  private storedLeft = 0;
  private literalLengthCount = 0;
  private distanceCount = 0;
  private codeLengthCount = 0;
  private lengthsRead = 0;
  private lengths: Uint8Array | undefined;
  private repeatSymbol = 0;
  /** The match being read: its length, and the symbol whose extra bits are awaited. */
  private matchLength = 0;
  private pendingSymbol = 0;

  constructor(options: { dictionary?: Uint8Array; maxOutput: number }) {
    this.dictionary = options.dictionary ?? EMPTY;
    this.maxOutput = options.maxOutput;
  }

  /** The bytes inflated so far (a view: it changes as more is written). */
  output(): Buffer {
    return this.out.subarray(0, this.outLength);
  }

  /** How many bytes have been inflated so far. */
  get length(): number {
    return this.outLength;
  }

  /**
   * Decodes as much of `input` as the bits allow; the rest of a cut code waits for the next
   * piece. Answers why decoding failed, then the same for every later piece.
   */
  write(input: Uint8Array): InflateFailure | undefined {
    if (this.failure !== undefined) return this.failure;
    this.input = input;
    this.inputPosition = 0;
    const result = this.run();
    this.input = EMPTY;
    return result;
  }

  private run(): InflateFailure | undefined {
    for (;;) {
      switch (this.state) {
        case InflateState.BlockHeader: {
          // RFC 1951 3.2.3: BFINAL (1 bit), then BTYPE (2 bits).
          if (!this.need(3)) return undefined;
          this.finalBlock = (this.bitBuffer & 1) === 1;
          const type = (this.bitBuffer >>> 1) & 3;
          this.drop(3);
          if (type === 0) {
            // 3.2.4: a stored block starts at the next byte boundary.
            this.drop(this.bitCount & 7);
            this.state = InflateState.StoredLengths;
          } else if (type === 1) {
            const fixed = fixedHuffmanCodes();
            this.literalLengthCode = fixed.literalLength;
            this.distanceCode = fixed.distance;
            this.state = InflateState.Symbol;
          } else if (type === 2) {
            this.state = InflateState.DynamicCounts;
          } else {
            return this.fail(); // BTYPE 11 is reserved (an error)
          }
          break;
        }
        case InflateState.StoredLengths: {
          // 3.2.4: LEN, then NLEN, its ones' complement.
          if (!this.need(32)) return undefined;
          const length = this.bitBuffer & 0xffff;
          const complement = this.bitBuffer >>> 16;
          this.drop(32);
          if (length !== (complement ^ 0xffff)) return this.fail();
          this.storedLeft = length;
          this.state = InflateState.StoredData;
          break;
        }
        case InflateState.StoredData: {
          // After LEN and NLEN the bit buffer is empty: the bytes come straight from the input.
          const available = Math.min(this.storedLeft, this.input.length - this.inputPosition);
          if (available > 0) {
            if (!this.reserve(available)) return this.tooBig();
            this.out.set(this.input.subarray(this.inputPosition, this.inputPosition + available), this.outLength);
            this.outLength += available;
            this.inputPosition += available;
            this.storedLeft -= available;
          }
          if (this.storedLeft > 0) return undefined;
          this.endBlock();
          break;
        }
        case InflateState.DynamicCounts: {
          // 3.2.7: HLIT (5 bits), HDIST (5 bits), HCLEN (4 bits).
          if (!this.need(14)) return undefined;
          this.literalLengthCount = (this.bitBuffer & 0x1f) + 257;
          this.distanceCount = ((this.bitBuffer >>> 5) & 0x1f) + 1;
          this.codeLengthCount = ((this.bitBuffer >>> 10) & 0xf) + 4;
          this.drop(14);
          if (this.literalLengthCount > MAX_LITERAL_LENGTH_CODES || this.distanceCount > MAX_DISTANCE_CODES) return this.fail();
          this.lengths ??= new Uint8Array(MAX_LITERAL_LENGTH_CODES + MAX_DISTANCE_CODES);
          this.lengths.fill(0, 0, CODE_LENGTH_SYMBOLS);
          this.lengthsRead = 0;
          this.state = InflateState.CodeLengthCodes;
          break;
        }
        case InflateState.CodeLengthCodes: {
          const lengths = this.lengths as Uint8Array;
          while (this.lengthsRead < this.codeLengthCount) {
            if (!this.need(3)) return undefined;
            lengths[CODE_LENGTH_ORDER[this.lengthsRead++]] = this.bitBuffer & 7;
            this.drop(3);
          }
          this.codeLengthCode ??= new HuffmanCode(CODE_LENGTH_SYMBOLS);
          if (!this.codeLengthCode.build(lengths, 0, CODE_LENGTH_SYMBOLS, false)) return this.fail();
          this.lengthsRead = 0;
          this.state = InflateState.CodeLengths;
          break;
        }
        case InflateState.CodeLengths: {
          const lengths = this.lengths as Uint8Array;
          const total = this.literalLengthCount + this.distanceCount;
          const code = this.codeLengthCode as HuffmanCode;
          while (this.lengthsRead < total) {
            let symbol: number;
            if (code.maxLength === 0) {
              // All code length code lengths zero: zlib reads every length as 0, one bit each.
              if (!this.need(1)) return undefined;
              this.drop(1);
              symbol = 0;
            } else {
              symbol = this.decodeSymbol(code);
              if (symbol === NEED_INPUT) return undefined;
            }
            if (symbol < REPEAT_PREVIOUS) {
              lengths[this.lengthsRead++] = symbol;
              continue;
            }
            this.repeatSymbol = symbol;
            this.state = InflateState.CodeLengthRepeat;
            break;
          }
          if (this.state === InflateState.CodeLengths) {
            if (!this.buildBlockCodes()) return this.fail();
            this.state = InflateState.Symbol;
          }
          break;
        }
        case InflateState.CodeLengthRepeat: {
          const which = this.repeatSymbol - REPEAT_PREVIOUS;
          const extra = REPEAT_EXTRA_BITS[which];
          if (!this.need(extra)) return undefined;
          const times = REPEAT_BASE[which] + (this.bitBuffer & ((1 << extra) - 1));
          this.drop(extra);
          const lengths = this.lengths as Uint8Array;
          // 3.2.7: 16 repeats the previous length, so there has to be one; no run past the end.
          if (this.repeatSymbol === REPEAT_PREVIOUS && this.lengthsRead === 0) return this.fail();
          if (this.lengthsRead + times > this.literalLengthCount + this.distanceCount) return this.fail();
          const value = this.repeatSymbol === REPEAT_PREVIOUS ? lengths[this.lengthsRead - 1] : 0;
          lengths.fill(value, this.lengthsRead, this.lengthsRead + times);
          this.lengthsRead += times;
          this.state = InflateState.CodeLengths;
          break;
        }
        case InflateState.Symbol: {
          const result = this.decodeSymbols();
          if (result !== undefined || this.state === InflateState.Symbol) return result;
          break;
        }
        case InflateState.LengthExtra: {
          const index = this.pendingSymbol - 257;
          const extra = LENGTH_EXTRA[index];
          if (!this.need(extra)) return undefined;
          this.matchLength = LENGTH_BASE[index] + (this.bitBuffer & ((1 << extra) - 1));
          this.drop(extra);
          this.state = InflateState.Distance;
          break;
        }
        case InflateState.Distance: {
          const code = this.distanceCode as HuffmanCode;
          const symbol = this.decodeSymbol(code);
          if (symbol === NEED_INPUT) return undefined;
          if (symbol === INVALID_CODE || symbol > LAST_DISTANCE_SYMBOL) return this.fail();
          this.pendingSymbol = symbol;
          this.state = InflateState.DistanceExtra;
          break;
        }
        case InflateState.DistanceExtra: {
          const extra = DISTANCE_EXTRA[this.pendingSymbol];
          if (!this.need(extra)) return undefined;
          const distance = DISTANCE_BASE[this.pendingSymbol] + (this.bitBuffer & ((1 << extra) - 1));
          this.drop(extra);
          const result = this.copyMatch(this.matchLength, distance);
          if (result !== undefined) return result;
          this.state = InflateState.Symbol;
          break;
        }
        default: // End, or Failed (which `write` answers before it gets here)
          return undefined;
      }
    }
  }

  /**
   * The body of a Huffman block: literals and matches until the end-of-block symbol, or until
   * the input runs out. The loop where the time goes: while at least FAST_INPUT_MARGIN bytes of
   * input are left, every part of a match is surely there, so it is read in one go with the bit
   * buffer in local variables; the last bytes go through the states, a part at a time.
   */
  private decodeSymbols(): InflateFailure | undefined {
    const literalLengthCode = this.literalLengthCode as HuffmanCode;
    const distanceCode = this.distanceCode as HuffmanCode;
    const input = this.input;
    const fastEnd = input.length - FAST_INPUT_MARGIN;
    let bits = this.bitBuffer;
    let count = this.bitCount;
    let position = this.inputPosition;
    let out = this.out;
    let outLength = this.outLength;
    const literalLengthFast = literalLengthCode.fast;
    const distanceFast = distanceCode.fast;
    let failure: InflateFailure | undefined;
    while (position <= fastEnd) {
      // Each refill makes at least 16 bits (and at most 31): enough for any code or extra bits.
      if (count < 16) {
        bits |= (input[position++] << count) | (input[position++] << (count + 8));
        count += 16;
      }
      let entry = literalLengthFast[bits & FAST_MASK];
      if (entry === 0) entry = walkCode(literalLengthCode, bits, count);
      const symbol = entry >>> LENGTH_BITS;
      if (entry === INVALID_CODE || symbol > LAST_LENGTH_SYMBOL) {
        failure = this.fail();
        break;
      }
      bits >>>= entry & LENGTH_MASK;
      count -= entry & LENGTH_MASK;
      if (symbol < END_OF_BLOCK) {
        if (outLength === out.length) {
          this.outLength = outLength;
          if (!this.reserve(1)) {
            failure = this.tooBig();
            break;
          }
          out = this.out;
        }
        out[outLength++] = symbol;
        continue;
      }
      if (symbol === END_OF_BLOCK) {
        this.endBlock();
        break;
      }
      if (count < 16) {
        bits |= (input[position++] << count) | (input[position++] << (count + 8));
        count += 16;
      }
      const lengthExtra = LENGTH_EXTRA[symbol - 257];
      const length = LENGTH_BASE[symbol - 257] + (bits & ((1 << lengthExtra) - 1));
      bits >>>= lengthExtra;
      count -= lengthExtra;
      if (count < 16) {
        bits |= (input[position++] << count) | (input[position++] << (count + 8));
        count += 16;
      }
      let distanceEntry = distanceFast[bits & FAST_MASK];
      // (A code with no symbols has a table of zeros, and walkCode answers INVALID_CODE at once.)
      if (distanceEntry === 0) distanceEntry = walkCode(distanceCode, bits, count);
      const distanceSymbol = distanceEntry >>> LENGTH_BITS;
      if (distanceEntry === INVALID_CODE || distanceSymbol > LAST_DISTANCE_SYMBOL) {
        failure = this.fail();
        break;
      }
      bits >>>= distanceEntry & LENGTH_MASK;
      count -= distanceEntry & LENGTH_MASK;
      if (count < 16) {
        bits |= (input[position++] << count) | (input[position++] << (count + 8));
        count += 16;
      }
      const distanceExtra = DISTANCE_EXTRA[distanceSymbol];
      const distance = DISTANCE_BASE[distanceSymbol] + (bits & ((1 << distanceExtra) - 1));
      bits >>>= distanceExtra;
      count -= distanceExtra;
      if (distance <= outLength && outLength + length <= out.length) {
        // The common match: within this message, with room for it. Short ones byte by byte
        // (a call to copyWithin costs more than a few bytes); overlapping ones must be.
        if (length <= SHORT_MATCH_BYTES || distance < length) {
          for (let i = 0; i < length; i++, outLength++) out[outLength] = out[outLength - distance];
        } else {
          out.copyWithin(outLength, outLength - distance, outLength - distance + length);
          outLength += length;
        }
        continue;
      }
      this.outLength = outLength;
      failure = this.copyMatch(length, distance);
      out = this.out;
      outLength = this.outLength;
      if (failure !== undefined) break;
    }
    this.bitBuffer = bits;
    this.bitCount = count;
    this.inputPosition = position;
    this.outLength = outLength;
    if (failure !== undefined || this.state !== InflateState.Symbol) return failure;
    // The last bytes of this piece: a part at a time, so that a code cut by its end waits.
    for (;;) {
      const symbol = this.decodeSymbol(literalLengthCode);
      if (symbol === NEED_INPUT) return undefined;
      if (symbol < END_OF_BLOCK) {
        if (this.outLength === this.out.length && !this.reserve(1)) return this.tooBig();
        this.out[this.outLength++] = symbol;
        continue;
      }
      if (symbol === END_OF_BLOCK) {
        this.endBlock();
        return undefined;
      }
      if (symbol === INVALID_CODE || symbol > LAST_LENGTH_SYMBOL) return this.fail();
      this.pendingSymbol = symbol;
      this.state = InflateState.LengthExtra;
      return undefined;
    }
  }

  /** Copies `length` bytes from `distance` back (RFC 1951 3.2.3), which may reach into the dictionary. */
  private copyMatch(length: number, distance: number): InflateFailure | undefined {
    // zlib's "invalid distance too far back": before the message and its dictionary there is nothing.
    if (distance > this.outLength + this.dictionary.length) return this.fail();
    if (!this.reserve(length)) return this.tooBig();
    const out = this.out;
    let at = this.outLength;
    let left = length;
    if (distance > at) {
      // The first bytes come from the dictionary (the end of earlier messages).
      const dictionary = this.dictionary;
      let from = dictionary.length - (distance - at);
      const fromDictionary = Math.min(left, distance - at);
      for (let i = 0; i < fromDictionary; i++) out[at++] = dictionary[from++];
      left -= fromDictionary;
    }
    if (left > 0) {
      const from = at - distance;
      if (distance >= left) {
        out.copyWithin(at, from, from + left);
        at += left;
      } else {
        // Overlapping: the match repeats bytes it has just written.
        for (let i = 0; i < left; i++, at++) out[at] = out[at - distance];
      }
    }
    this.outLength = at;
    return undefined;
  }

  /** Builds the block's literal/length and distance codes from the lengths just read (3.2.7). */
  private buildBlockCodes(): boolean {
    const lengths = this.lengths as Uint8Array;
    // zlib refuses a block that cannot end.
    if (lengths[END_OF_BLOCK] === 0) return false;
    this.dynamicLiteralLength ??= new HuffmanCode(LITERAL_LENGTH_SYMBOLS);
    this.dynamicDistance ??= new HuffmanCode(DISTANCE_SYMBOLS);
    if (!this.dynamicLiteralLength.build(lengths, 0, this.literalLengthCount, true)) return false;
    if (!this.dynamicDistance.build(lengths, this.literalLengthCount, this.distanceCount, true)) return false;
    this.literalLengthCode = this.dynamicLiteralLength;
    this.distanceCode = this.dynamicDistance;
    return true;
  }

  private endBlock(): void {
    this.state = this.finalBlock ? InflateState.End : InflateState.BlockHeader;
  }

  /**
   * The next symbol of `code`, NEED_INPUT when the input ends inside it (nothing is used up then),
   * or INVALID_CODE for bits that start no code.
   */
  private decodeSymbol(code: HuffmanCode): number {
    // Up to 15 bits, or as many as there are.
    while (this.bitCount < MAX_CODE_BITS && this.inputPosition < this.input.length) {
      this.bitBuffer |= this.input[this.inputPosition++] << this.bitCount;
      this.bitCount += 8;
    }
    if (code.maxLength === 0) return this.bitCount === 0 ? NEED_INPUT : INVALID_CODE;
    let entry = code.fast[this.bitBuffer & FAST_MASK];
    if (entry === 0) entry = walkCode(code, this.bitBuffer, this.bitCount);
    if (entry === NEED_INPUT) return NEED_INPUT;
    if (entry === INVALID_CODE) return INVALID_CODE;
    const length = entry & LENGTH_MASK;
    if (length > this.bitCount) return NEED_INPUT;
    this.drop(length);
    return entry >>> LENGTH_BITS;
  }

  /** True once at least `count` bits (at most 32) are in the bit buffer, taking bytes from the input as needed. */
  private need(count: number): boolean {
    while (this.bitCount < count) {
      if (this.inputPosition === this.input.length) return false;
      this.bitBuffer = (this.bitBuffer | (this.input[this.inputPosition++] << this.bitCount)) >>> 0;
      this.bitCount += 8;
    }
    return true;
  }

  private drop(count: number): void {
    // (A shift by 32 is a shift by 0 in JavaScript.)
    this.bitBuffer = count === 32 ? 0 : this.bitBuffer >>> count;
    this.bitCount -= count;
  }

  /** Room for `count` more output bytes: false when that would pass the limit. */
  private reserve(count: number): boolean {
    const needed = this.outLength + count;
    if (needed > this.maxOutput) return false;
    if (needed <= this.out.length) return true;
    // Only bytes written are ever read or handed out, so the new buffer need not be zeroed.
    const grown = Buffer.allocUnsafe(Math.min(this.maxOutput, Math.max(needed, this.out.length * 2, MIN_OUTPUT_BYTES)));
    this.out.copy(grown, 0, 0, this.outLength);
    this.out = grown;
    return true;
  }

  private fail(): InflateFailure {
    return this.stop('invalid');
  }

  private tooBig(): InflateFailure {
    return this.stop('too-big');
  }

  private stop(failure: InflateFailure): InflateFailure {
    this.state = InflateState.Failed;
    this.failure = failure;
    return failure;
  }
}

const EMPTY = new Uint8Array(0);
