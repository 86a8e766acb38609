/**
 * DEFLATE decoding a piece at a time (RFC 1951), for compressed messages that arrive in several
 * frames (RFC 7692 7.2.2). The oracle is zlib, as Node ships it: `inflateRawSync` over the
 * whole input with the four tail bytes put back, which is how a message in one frame is
 * inflated. However the input is cut, the decoder must give zlib's output and zlib's verdict.
 */
import { constants, deflateRawSync, inflateRawSync, type ZlibOptions } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IncrementalInflater, type InflateFailure } from '../../src/protocol/inflate.js';
import { hex, pseudoRandomBytes, splitAt } from '../helpers/bytes.js';

/** RFC 7692 7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the payload". */
const TAIL = hex('00 00 ff ff');
const NO_LIMIT = 64 * 1024 * 1024;

/** The oracle: zlib over all of it at once, as MessageInflater.decompress calls it. */
function zlibInflate(compressed: Uint8Array, maxOutput = NO_LIMIT, dictionary?: Uint8Array): Buffer | InflateFailure {
  try {
    const output = inflateRawSync(Buffer.concat([compressed, TAIL]), {
      finishFlush: constants.Z_SYNC_FLUSH,
      maxOutputLength: Math.max(maxOutput, 1),
      dictionary,
    });
    return output.length > maxOutput ? 'too-big' : output;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? 'too-big' : 'invalid';
  }
}

/** The decoder, fed `pieces` one write each, then the tail. */
function inflateInPieces(pieces: readonly Uint8Array[], maxOutput = NO_LIMIT, dictionary?: Uint8Array): Buffer | InflateFailure {
  const inflater = new IncrementalInflater({ dictionary, maxOutput });
  for (const piece of [...pieces, TAIL]) {
    const failure = inflater.write(piece);
    if (failure !== undefined) return failure;
  }
  return Buffer.from(inflater.output());
}

/** Compresses as a peer does for permessage-deflate: raw DEFLATE, sync flush, the tail left off (RFC 7692 7.2.1). */
function compress(data: Uint8Array, options: ZlibOptions = {}): Buffer {
  const output = deflateRawSync(data, { finishFlush: constants.Z_SYNC_FLUSH, ...options });
  return output.subarray(0, output.length - TAIL.length);
}

const show = (result: Buffer | InflateFailure): string => (typeof result === 'string' ? result : `${result.length} bytes ${result.toString('hex').slice(0, 64)}`);

/** Every split of `bytes` into two pieces, and into single bytes. */
function everySplit(bytes: Uint8Array): Uint8Array[][] {
  const splits: Uint8Array[][] = [[bytes], Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))];
  for (let cut = 0; cut <= bytes.length; cut++) splits.push(splitAt(bytes, [cut]));
  return splits;
}

describe('RFC 7692 7.2.3: the RFC\'s compressed "Hello" examples, cut anywhere', () => {
  const examples: ReadonlyArray<[string, string]> = [
    ['one compressed block (7.2.3.1)', 'f2 48 cd c9 c9 07 00'],
    ['a block with no compression (7.2.3.3)', '00 05 00 fa ff 48 65 6c 6c 6f 00'],
    ['a block with BFINAL set (7.2.3.4)', 'f3 48 cd c9 c9 07 00 00'],
    ['two blocks (7.2.3.5)', 'f2 48 05 00 00 00 ff ff ca c9 c9 07 00'],
  ];
  for (const [name, bytes] of examples) {
    it(`${name}: ${bytes}`, () => {
      expect(show(zlibInflate(hex(bytes)))).toBe(show(Buffer.from('Hello')));
      for (const pieces of everySplit(hex(bytes))) expect(show(inflateInPieces(pieces))).toBe(show(Buffer.from('Hello')));
    });
  }
});

describe('RFC 1951: streams zlib refuses are refused, at the same point', () => {
  it('BTYPE 11, the reserved block type, as soon as its three bits are in', () => {
    const inflater = new IncrementalInflater({ maxOutput: NO_LIMIT });
    expect(inflater.write(hex('07'))).toBe('invalid'); // BFINAL 1, BTYPE 11
    expect(zlibInflate(hex('07'))).toBe('invalid');
    expect(inflater.write(hex('00'))).toBe('invalid'); // and for good
  });

  it('a stored block whose NLEN is not the complement of LEN (3.2.4)', () => {
    expect(inflateInPieces([hex('01 05 00 fa fe 48 65 6c 6c 6f')])).toBe('invalid');
    expect(zlibInflate(hex('01 05 00 fa fe 48 65 6c 6c 6f'))).toBe('invalid');
  });

  it('a back-reference before the start of the output, without a dictionary ("invalid distance too far back")', () => {
    const compressed = compress(Buffer.from('abcabcabcabc'), { dictionary: Buffer.from('abc') });
    expect(zlibInflate(compressed)).toBe('invalid');
    expect(inflateInPieces([compressed])).toBe('invalid');
    // With the dictionary it was made with (RFC 7692 7.1.1: context takeover), it inflates.
    expect(show(inflateInPieces([compressed], NO_LIMIT, Buffer.from('abc')))).toBe(show(Buffer.from('abcabcabcabc')));
  });

  it('the bytes after the block with BFINAL set are ignored, as zlib ignores them', () => {
    const stream = Buffer.concat([hex('f3 48 cd c9 c9 07 00'), hex('ff ff ff')]);
    expect(show(zlibInflate(stream))).toBe(show(Buffer.from('Hello')));
    for (const pieces of everySplit(stream)) expect(show(inflateInPieces(pieces))).toBe(show(Buffer.from('Hello')));
  });

  it('data that stops inside a block gives what it decoded so far, no error (as zlib with a sync flush)', () => {
    const compressed = compress(Buffer.from('Hello, Hello, Hello, world'));
    const cut = compressed.subarray(0, compressed.length - 3);
    expect(show(inflateInPieces([cut]))).toBe(show(zlibInflate(cut)));
  });
});

/**
 * Writes a DEFLATE stream bit by bit (RFC 1951 3.1.1: data elements from the least significant
 * bit, Huffman codes from their most significant bit), for blocks no compressor would write.
 */
class BitWriter {
  private readonly bits: number[] = [];

  /** `value` in `count` bits, least significant first (header fields, extra bits). */
  field(value: number, count: number): this {
    for (let i = 0; i < count; i++) this.bits.push((value >>> i) & 1);
    return this;
  }

  /** A Huffman code of `length` bits, most significant first. */
  code(value: number, length: number): this {
    for (let i = length - 1; i >= 0; i--) this.bits.push((value >>> i) & 1);
    return this;
  }

  get bitLength(): number {
    return this.bits.length;
  }

  bytes(): Buffer {
    const out = Buffer.alloc(Math.ceil(this.bits.length / 8));
    this.bits.forEach((bit, i) => (out[i >> 3] |= bit << (i & 7)));
    return out;
  }
}

/** RFC 1951 3.2.2: the canonical code of each symbol from the code lengths. */
function canonicalCodes(lengths: readonly number[]): number[] {
  const counts = new Array<number>(16).fill(0);
  for (const length of lengths) if (length > 0) counts[length]++;
  const next = new Array<number>(16).fill(0);
  for (let length = 1, code = 0; length < 16; length++) {
    code = (code + counts[length - 1]) << 1;
    next[length] = code;
  }
  return lengths.map((length) => (length > 0 ? next[length]++ : -1));
}

/** The code length code every hand-built block uses: complete, lengths 4 and 5, so that every code length symbol can be sent. */
const CODE_LENGTH_LENGTHS = [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5];
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/**
 * A dynamic block's header (RFC 1951 3.2.7) sending `sequence`: code length symbols, each with
 * its extra bits for 16-18 as [symbol, extra].
 */
function dynamicHeader(writer: BitWriter, literalLengthCount: number, distanceCount: number, sequence: ReadonlyArray<number | [number, number]>): void {
  writer.field(0, 1).field(2, 2); // BFINAL 0, BTYPE 10
  writer.field(literalLengthCount - 257, 5).field(distanceCount - 1, 5).field(CODE_LENGTH_SYMBOLS - 4, 4);
  for (const symbol of CODE_LENGTH_ORDER) writer.field(CODE_LENGTH_LENGTHS[symbol], 3);
  const codes = canonicalCodes(CODE_LENGTH_LENGTHS);
  for (const item of sequence) {
    const [symbol, extra] = typeof item === 'number' ? [item, 0] : item;
    writer.code(codes[symbol], CODE_LENGTH_LENGTHS[symbol]);
    if (symbol >= 16) writer.field(extra, [2, 3, 7][symbol - 16]);
  }
}
const CODE_LENGTH_SYMBOLS = 19;

/** Code lengths as code length symbols, one each (all are 0-15 here). */
function lengthSymbols(lengths: readonly number[]): number[] {
  return [...lengths];
}

describe('RFC 1951 3.2.7: malformed dynamic block headers, refused as zlib refuses them', () => {
  /** 257 literal/length codes: 'A' and 'B' of length 1, nothing else. */
  const noEndOfBlock = Array.from({ length: 257 }, (_, symbol) => (symbol === 0x41 || symbol === 0x42 ? 1 : 0));
  /** 257 literal/length codes: 'A' and 'B' of length 2, end of block of length 1: a valid code. */
  const withEndOfBlock = Array.from({ length: 257 }, (_, symbol) => (symbol === 0x41 || symbol === 0x42 ? 2 : symbol === 256 ? 1 : 0));
  const withEndOfBlockCodes = canonicalCodes(withEndOfBlock);
  /** "AB", then the end of the block. */
  function writeBody(writer: BitWriter): void {
    writer.code(withEndOfBlockCodes[0x41], 2).code(withEndOfBlockCodes[0x42], 2).code(withEndOfBlockCodes[256], 1);
  }

  it('the same header with the end-of-block code is fine: "AB"', () => {
    const writer = new BitWriter();
    dynamicHeader(writer, 257, 1, [...lengthSymbols(withEndOfBlock), 0]);
    writeBody(writer);
    expect(show(zlibInflate(writer.bytes()))).toBe(show(Buffer.from('AB')));
    for (const pieces of everySplit(writer.bytes())) expect(show(inflateInPieces(pieces))).toBe(show(Buffer.from('AB')));
  });

  it('a block without an end-of-block code (zlib: "invalid code -- missing end-of-block")', () => {
    const writer = new BitWriter();
    dynamicHeader(writer, 257, 1, [...lengthSymbols(noEndOfBlock), 0]);
    writer.code(0, 1).code(1, 1); // "AB", if it were decoded
    const stream = writer.bytes();
    expect(zlibInflate(stream)).toBe('invalid');
    for (const pieces of everySplit(stream)) expect(inflateInPieces(pieces)).toBe('invalid');
  });

  it('code length symbol 16 ("repeat the previous") with no previous length', () => {
    const writer = new BitWriter();
    // Symbols 0-2 have length 0 anyway: a decoder that repeated "nothing" as 0 would read a valid block.
    dynamicHeader(writer, 257, 1, [[16, 0], ...lengthSymbols(withEndOfBlock).slice(3), 0]);
    writeBody(writer);
    const stream = writer.bytes();
    expect(zlibInflate(stream)).toBe('invalid');
    for (const pieces of everySplit(stream)) expect(inflateInPieces(pieces)).toBe('invalid');
  });

  it('a repeat that runs past the last code length', () => {
    const writer = new BitWriter();
    // 11 zeros where 1 is left (the distance code's length): cut short there, the block would be valid.
    dynamicHeader(writer, 257, 1, [...lengthSymbols(withEndOfBlock), [18, 0]]);
    writeBody(writer);
    const stream = writer.bytes();
    expect(zlibInflate(stream)).toBe('invalid');
    for (const pieces of everySplit(stream)) expect(inflateInPieces(pieces)).toBe('invalid');
  });

  it('a distance code without symbols is fine until a match needs it, and fails as soon as one bit of that distance is in', () => {
    // Literal/length codes: 'A' (1 bit), end of block and length 3 (2 bits each); one distance code, of length 0.
    const literalLengths = Array.from({ length: 258 }, (_, symbol) => (symbol === 0x41 ? 1 : symbol >= 256 ? 2 : 0));
    const literalCodes = canonicalCodes(literalLengths);
    for (let literals = 1; literals <= 8; literals++) {
      const writer = new BitWriter();
      dynamicHeader(writer, 258, 1, [...lengthSymbols(literalLengths), 0]);
      for (let i = 0; i < literals; i++) writer.code(literalCodes[0x41], 1);
      writer.code(literalCodes[257], 2); // a match of length 3: its distance cannot be decoded
      if (writer.bitLength % 8 !== 0) continue;
      // The stream ends right after the length: zlib waits for the distance's first bit, and so does the decoder.
      const stream = writer.bytes();
      const inflater = new IncrementalInflater({ maxOutput: NO_LIMIT });
      expect(inflater.write(stream)).toBeUndefined();
      expect(inflater.output().toString()).toBe('A'.repeat(literals));
      expect(inflater.write(hex('00'))).toBe('invalid');
      expect(zlibInflate(stream)).toBe('invalid'); // (with the tail, there are bits for the distance)
      return;
    }
    throw new Error('no count of literals ended the length on a byte boundary');
  });
});

describe('RFC 1951 3.2.5: matches with the longest codes and the most extra bits, cut at every byte', () => {
  it('a block of the widest matches there are: 15-bit codes, 5 extra length bits, 15-bit distance codes, 13 extra distance bits', () => {
    // 32 KiB stored first, so that the farthest distances (symbol 29: 24,577 to 32,768) reach back into it.
    const stored = pseudoRandomBytes(32 * 1024, 9);
    const writer = new BitWriter().field(0, 1).field(0, 2);
    writer.field(0, 5); // to the byte boundary (3 + 5 bits)
    writer.field(stored.length, 16).field(stored.length ^ 0xffff, 16);
    for (const byte of stored) writer.field(byte, 8);
    // Literal/length code: 'A' 1 bit, end of block 2, literals 0x61-0x6c 3-14 bits, then 'B' and
    // length symbol 284 (base 227, 5 extra bits) at 15 bits: a complete code (1/2 + ... + 2/2^15).
    const literalLengths = new Array<number>(285).fill(0);
    literalLengths[0x41] = 1;
    literalLengths[256] = 2;
    for (let i = 0; i < 12; i++) literalLengths[0x61 + i] = 3 + i;
    literalLengths[0x42] = 15;
    literalLengths[284] = 15;
    // Distance code: symbols 0-13 of 1-14 bits, 28 and 29 (13 extra bits) of 15.
    const distanceLengths = new Array<number>(30).fill(0);
    for (let i = 0; i < 14; i++) distanceLengths[i] = 1 + i;
    distanceLengths[28] = 15;
    distanceLengths[29] = 15;
    writer.field(0, 1).field(2, 2);
    writer.field(285 - 257, 5).field(30 - 1, 5).field(CODE_LENGTH_SYMBOLS - 4, 4);
    for (const symbol of CODE_LENGTH_ORDER) writer.field(CODE_LENGTH_LENGTHS[symbol], 3);
    const codeLengthCodes = canonicalCodes(CODE_LENGTH_LENGTHS);
    for (const length of [...literalLengths, ...distanceLengths]) writer.code(codeLengthCodes[length], CODE_LENGTH_LENGTHS[length]);
    const literalCodes = canonicalCodes(literalLengths);
    const distanceCodes = canonicalCodes(distanceLengths);
    // Matches at every bit alignment: 0 to 7 one-bit literals before each.
    for (let i = 0; i < 200; i++) {
      for (let k = 0; k < i % 8; k++) writer.code(literalCodes[0x41], 1);
      writer.code(literalCodes[284], 15).field((i * 7) % 32, 5);
      writer.code(distanceCodes[29], 15).field((i * 4099) % 8192, 13);
    }
    writer.code(literalCodes[256], 2);
    const stream = writer.bytes();
    const expected = zlibInflate(stream);
    expect(typeof expected).not.toBe('string');
    for (let size = 1; size <= 16; size++) {
      const cuts = Array.from({ length: Math.ceil(stream.length / size) }, (_, i) => i * size);
      expect(show(inflateInPieces(splitAt(stream, cuts)))).toBe(show(expected));
    }
  });

  it('far matches (13 extra distance bits, 5 extra length bits) and long codes decode the same in pieces of 1 to 16 bytes', () => {
    // Random bytes, then runs copied from far back: distances over 16 KiB, lengths of 131 to 257.
    const data = Buffer.concat([pseudoRandomBytes(24 * 1024, 5), ...Array.from({ length: 120 }, (_, i) => {
      const from = (i * 7919) % (8 * 1024);
      return Buffer.concat([pseudoRandomBytes(1 + (i % 5), i), pseudoRandomBytes(24 * 1024, 5).subarray(from, from + 131 + ((i * 37) % 127))]);
    })]);
    const compressed = compress(data, { level: 9 });
    for (let size = 1; size <= 16; size++) {
      const cuts = Array.from({ length: Math.ceil(compressed.length / size) }, (_, i) => i * size);
      expect(show(inflateInPieces(splitAt(compressed, cuts)))).toBe(show(data));
    }
  });
});

describe('RFC 6455 10.4 with RFC 7692: the output limit', () => {
  const data = Buffer.alloc(100_000, 0x61);
  const compressed = compress(data);

  it('output of exactly the limit is fine; one byte more fails as too big, whatever the cuts', () => {
    expect(show(inflateInPieces([compressed], data.length))).toBe(show(data));
    expect(inflateInPieces([compressed], data.length - 1)).toBe('too-big');
    expect(zlibInflate(compressed, data.length - 1)).toBe('too-big');
    for (const cut of [1, 7, 100]) expect(inflateInPieces(splitAt(compressed, [cut]), data.length - 1)).toBe('too-big');
  });

  it('a bomb stops at the limit: the decoder never holds more than the limit', () => {
    const bomb = compress(Buffer.alloc(8 * 1024 * 1024)); // 8 MiB of zeros, about 8 KiB compressed
    const inflater = new IncrementalInflater({ maxOutput: 64 * 1024 });
    expect(inflater.write(bomb)).toBe('too-big');
    expect(inflater.length).toBeLessThanOrEqual(64 * 1024);
    expect(inflater.output().buffer.byteLength).toBeLessThanOrEqual(64 * 1024);
  });

  it('a limit of 0 allows only an empty message', () => {
    expect(show(inflateInPieces([compress(Buffer.alloc(0))], 0))).toBe(show(Buffer.alloc(0)));
    expect(inflateInPieces([compress(Buffer.from('x'))], 0)).toBe('too-big');
  });
});

// ---------------------------------------------------------------------------------------
// Properties against zlib.

/** Data of every kind a block can hold: random (stored blocks), repetitive (long matches), text-like. */
const dataArb = fc.oneof(
  fc.record({ length: fc.nat({ max: 70_000 }), seed: fc.integer() }).map(({ length, seed }) => pseudoRandomBytes(length, seed)),
  fc.tuple(fc.string({ unit: 'binary', maxLength: 60 }), fc.nat({ max: 2000 })).map(([phrase, times]) => Buffer.from(phrase.repeat(times))),
  fc.array(fc.constantFrom('the ', 'quick ', 'brown ', 'fox ', '{"id":', '12', '},', '\n', 'ü', '😀'), { maxLength: 3000 }).map((words) => Buffer.from(words.join(''))),
);

/** How a peer's zlib may compress: any level and strategy (Z_FIXED gives BTYPE 01), any window. */
const zlibOptionsArb = fc.record({
  level: fc.integer({ min: 0, max: 9 }),
  strategy: fc.constantFrom(constants.Z_DEFAULT_STRATEGY, constants.Z_FIXED, constants.Z_HUFFMAN_ONLY, constants.Z_RLE, constants.Z_FILTERED),
  windowBits: fc.integer({ min: 9, max: 15 }),
  memLevel: fc.integer({ min: 1, max: 9 }),
});

/** Where to cut: anywhere, and sometimes into many small pieces. */
function cutsArb(maxLength: number) {
  return fc.oneof(fc.array(fc.nat({ max: maxLength }), { maxLength: 8 }), fc.integer({ min: 1, max: 9 }).map((size) => Array.from({ length: Math.ceil(maxLength / size) }, (_, i) => i * size)));
}

describe('RFC 1951 / RFC 7692 7.2.2: the decoder against zlib', () => {
  it('anything zlib compresses, with or without a dictionary, inflates to the same bytes however it is cut', () => {
    fc.assert(
      fc.property(dataArb, zlibOptionsArb, fc.option(dataArb, { nil: undefined }), fc.array(fc.nat(), { maxLength: 8 }), (data, options, dictionarySource, cuts) => {
        // A dictionary is at most the 32 KiB window (RFC 7692 7.1.1: the previous messages' tail).
        const dictionary = dictionarySource?.subarray(Math.max(0, dictionarySource.length - 32 * 1024));
        const compressed = compress(data, { ...options, dictionary: dictionary?.length ? dictionary : undefined });
        const usedDictionary = dictionary?.length ? dictionary : undefined;
        const pieces = splitAt(compressed, cuts.map((cut) => cut % (compressed.length + 1)));
        expect(show(inflateInPieces(pieces, NO_LIMIT, usedDictionary))).toBe(show(data));
        expect(show(zlibInflate(compressed, NO_LIMIT, usedDictionary))).toBe(show(data));
      }),
      { numRuns: 150 },
    );
  });

  it('mutated compressed data: the same output, or the same refusal, as zlib, however it is cut', () => {
    const mutationsArb = fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 7 }) }),
        fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), value: fc.constant(0) }),
        fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      ),
      { minLength: 1, maxLength: 4 },
    );
    let refused = 0;
    fc.assert(
      fc.property(dataArb, zlibOptionsArb, mutationsArb, cutsArb(3000), (data, options, mutations, cuts) => {
        const bytes = [...compress(data.subarray(0, 3000), options)];
        for (const { kind, at, value } of mutations) {
          const position = bytes.length === 0 ? 0 : at % bytes.length;
          if (kind === 'set' && bytes.length > 0) bytes[position] = value;
          else if (kind === 'flip' && bytes.length > 0) bytes[position] ^= 1 << value;
          else if (kind === 'delete') bytes.splice(position, 1);
          else if (kind === 'insert') bytes.splice(position, 0, value);
        }
        const mutated = Uint8Array.from(bytes);
        const expected = show(zlibInflate(mutated));
        if (expected === 'invalid') refused++;
        expect(show(inflateInPieces(splitAt(mutated, cuts)))).toBe(expected);
      }),
      { numRuns: 1500 },
    );
    // The mutations did reach streams zlib refuses, so the refusals were compared too.
    expect(refused).toBeGreaterThan(100);
  });

  it('arbitrary bytes: the same output, or the same refusal, as zlib', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), cutsArb(400), (bytes, cuts) => {
        expect(show(inflateInPieces(splitAt(bytes, cuts)))).toBe(show(zlibInflate(bytes)));
      }),
      { numRuns: 2000 },
    );
  });

  it('with a limit: too big exactly when zlib says so, else the same bytes', () => {
    fc.assert(
      fc.property(dataArb, zlibOptionsArb, fc.nat({ max: 80_000 }), fc.array(fc.nat(), { maxLength: 4 }), (data, options, limit, cuts) => {
        const compressed = compress(data, options);
        const pieces = splitAt(compressed, cuts.map((cut) => cut % (compressed.length + 1)));
        const expected = show(zlibInflate(compressed, limit));
        expect(expected).toBe(data.length > limit ? 'too-big' : show(data));
        expect(show(inflateInPieces(pieces, limit))).toBe(expected);
      }),
      { numRuns: 150 },
    );
  });
});
