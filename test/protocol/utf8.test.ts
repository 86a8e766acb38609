/**
 * UTF-8 validation, RFC 6455 section 8.1 (text must be valid UTF-8, or the connection fails)
 * with the byte-sequence rules of RFC 3629 section 4. The oracle is the WHATWG decoder that
 * Node ships: `new TextDecoder('utf-8', { fatal: true })`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidUtf8, isValidUtf8Reference, Utf8Validator } from '../../src/protocol/utf8.js';
import { hex, splitAt } from '../helpers/bytes.js';

/** The oracle: does a fatal WHATWG decoder accept the whole byte sequence? */
function decoderAccepts(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * The oracle for streaming: index of the first piece after which a fatal streaming decoder
 * has already failed, pieces.length if it only fails at the end, or -1 if it never fails.
 */
function decoderFirstFailure(pieces: readonly Uint8Array[]): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let i = 0; i < pieces.length; i++) {
    try {
      decoder.decode(pieces[i], { stream: true });
    } catch {
      return i;
    }
  }
  try {
    decoder.decode();
    return -1;
  } catch {
    return pieces.length;
  }
}

/** The same, for the incremental validator: its first `write` returning false, or failing `end`. */
function validatorFirstFailure(pieces: readonly Uint8Array[]): number {
  const validator = new Utf8Validator();
  for (let i = 0; i < pieces.length; i++) {
    if (!validator.write(pieces[i])) return i;
  }
  return validator.end() ? -1 : pieces.length;
}

/** Every way of cutting `bytes` into two pieces, and into single bytes. */
function everySplit(bytes: Uint8Array): Uint8Array[][] {
  const splits: Uint8Array[][] = [[bytes]];
  for (let cut = 0; cut <= bytes.length; cut++) splits.push(splitAt(bytes, [cut]));
  splits.push(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)));
  return splits;
}

const VALID: ReadonlyArray<[string, string]> = [
  ['the empty sequence', ''],
  ['ASCII', '48 65 6c 6c 6f'],
  ['U+0000', '00'],
  ['U+007F, the last 1-byte character', '7f'],
  ['U+0080, the first 2-byte character', 'c2 80'],
  ['U+00E9 "é"', 'c3 a9'],
  ['U+07FF, the last 2-byte character', 'df bf'],
  ['U+0800, the first 3-byte character', 'e0 a0 80'],
  ['U+20AC "€"', 'e2 82 ac'],
  ['U+D7FF, just below the surrogates', 'ed 9f bf'],
  ['U+E000, just above the surrogates', 'ee 80 80'],
  ['U+FEFF (a BOM is a character like any other)', 'ef bb bf'],
  ['U+FFFF', 'ef bf bf'],
  ['U+10000, the first 4-byte character', 'f0 90 80 80'],
  ['U+1F600 "😀"', 'f0 9f 98 80'],
  ['U+10FFFF, the last code point', 'f4 8f bf bf'],
  ['"κόσμε" (the Autobahn test string)', 'ce ba e1 bd b9 cf 83 ce bc ce b5'],
];

const INVALID: ReadonlyArray<[string, string]> = [
  ['a lone continuation byte', '80'],
  ['a continuation byte after ASCII', '41 bf'],
  ['C0 80, an overlong NUL', 'c0 80'],
  ['C1 BF, an overlong U+007F', 'c1 bf'],
  ['E0 80 80, an overlong 3-byte form', 'e0 80 80'],
  ['E0 9F BF, the last overlong 3-byte form', 'e0 9f bf'],
  ['ED A0 80, the surrogate U+D800', 'ed a0 80'],
  ['ED BF BF, the surrogate U+DFFF', 'ed bf bf'],
  ['an encoded surrogate pair (CESU-8)', 'ed a0 bd ed b8 80'],
  ['F0 80 80 80, an overlong 4-byte form', 'f0 80 80 80'],
  ['F0 8F BF BF, the last overlong 4-byte form', 'f0 8f bf bf'],
  ['F4 90 80 80, U+110000 past the last code point', 'f4 90 80 80'],
  ['F5, a lead byte for past U+10FFFF', 'f5 80 80 80'],
  ['FE', 'fe'],
  ['FF', 'ff'],
  ['a 2-byte character cut short at the end', '41 c3'],
  ['a 3-byte character cut short at the end', 'e2 82'],
  ['a 4-byte character cut short at the end', 'f0 9f 98'],
  ['a 3-byte character interrupted by ASCII', 'e2 41 ac'],
  ['a 2-byte character followed by one continuation too many', 'c3 a9 a9'],
  ['a 4-byte character followed by one continuation too many', 'f0 9f 98 80 80'],
  ['"κόσμε" followed by an invalid byte (Autobahn 6.3.1)', 'ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64'],
];

describe('RFC 6455 8.1 / RFC 3629 section 4: valid UTF-8 sequences are accepted', () => {
  for (const [name, bytesHex] of VALID) {
    it(`${name}: ${bytesHex || '(empty)'}`, () => {
      const bytes = hex(bytesHex);
      expect(decoderAccepts(bytes)).toBe(true); // the oracle agrees this case is valid
      expect(isValidUtf8(bytes)).toBe(true);
      expect(isValidUtf8Reference(bytes)).toBe(true);
      for (const pieces of everySplit(bytes)) expect(validatorFirstFailure(pieces)).toBe(-1);
    });
  }
});

describe('RFC 6455 8.1 / RFC 3629 section 4: invalid UTF-8 sequences are rejected', () => {
  for (const [name, bytesHex] of INVALID) {
    it(`${name}: ${bytesHex}`, () => {
      const bytes = hex(bytesHex);
      expect(decoderAccepts(bytes)).toBe(false); // the oracle agrees this case is invalid
      expect(isValidUtf8(bytes)).toBe(false);
      expect(isValidUtf8Reference(bytes)).toBe(false);
      for (const pieces of everySplit(bytes)) expect(validatorFirstFailure(pieces)).not.toBe(-1);
    });
  }
});

describe('RFC 6455 8.1: a fragmented text message fails at the first fragment that makes it invalid', () => {
  it('a valid character split over three pieces is accepted piece by piece', () => {
    const validator = new Utf8Validator();
    expect(validator.write(hex('f0'))).toBe(true);
    expect(validator.end()).toBe(false); // unfinished character: not a valid end yet
    expect(validator.write(hex('9f 98'))).toBe(true);
    expect(validator.write(hex('80 41'))).toBe(true);
    expect(validator.end()).toBe(true);
  });

  it('an overlong form is rejected at its second byte, before the rest arrives', () => {
    const validator = new Utf8Validator();
    expect(validator.write(hex('41 e0'))).toBe(true);
    expect(validator.write(hex('80'))).toBe(false);
  });

  it('a surrogate is rejected at its second byte', () => {
    const validator = new Utf8Validator();
    expect(validator.write(hex('ed'))).toBe(true);
    expect(validator.write(hex('a0'))).toBe(false);
  });

  it('an invalid byte in the middle of a piece is rejected with that piece', () => {
    const validator = new Utf8Validator();
    expect(validator.write(Buffer.from('Hello, '))).toBe(true);
    expect(validator.write(hex('77 6f ff 72 6c 64'))).toBe(false);
  });

  it('reset() forgets an unfinished character, ready for the next message', () => {
    const validator = new Utf8Validator();
    expect(validator.write(hex('e2 82'))).toBe(true);
    validator.reset();
    expect(validator.write(Buffer.from('ok'))).toBe(true);
    expect(validator.end()).toBe(true);
  });

  it('empty pieces change nothing', () => {
    const validator = new Utf8Validator();
    expect(validator.write(hex('c3'))).toBe(true);
    expect(validator.write(new Uint8Array(0))).toBe(true);
    expect(validator.end()).toBe(false);
    expect(validator.write(hex('a9'))).toBe(true);
    expect(validator.end()).toBe(true);
  });
});

/** Bytes biased towards the interesting ones: lead bytes, continuations and the boundary values. */
const utf8ishByte = fc.oneof(
  fc.integer({ min: 0, max: 255 }),
  fc.constantFrom(0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf),
  fc.constantFrom(0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff),
);
const arbitraryBytes = fc.array(utf8ishByte, { maxLength: 64 }).map((bytes) => Uint8Array.from(bytes));

/** Valid UTF-8 of any code point, then a few mutations: byte overwrites, deletions, insertions, truncation. */
const mutatedUtf8 = fc
  .tuple(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.array(fc.tuple(fc.constantFrom('set', 'delete', 'insert'), fc.nat(), utf8ishByte), { maxLength: 3 }),
    fc.option(fc.nat(), { nil: undefined }),
  )
  .map(([text, mutations, truncateAt]) => {
    const bytes = [...Buffer.from(text, 'utf8')];
    for (const [kind, position, byte] of mutations) {
      const at = bytes.length === 0 ? 0 : position % (bytes.length + (kind === 'insert' ? 1 : 0));
      if (kind === 'set' && bytes.length > 0) bytes[at] = byte;
      else if (kind === 'delete' && bytes.length > 0) bytes.splice(at, 1);
      else if (kind === 'insert') bytes.splice(at, 0, byte);
    }
    if (truncateAt !== undefined) bytes.length = Math.min(bytes.length, truncateAt % (bytes.length + 1));
    return Uint8Array.from(bytes);
  });

const cutsArb = fc.array(fc.nat({ max: 300 }), { maxLength: 6 });

describe('RFC 6455 8.1 / RFC 3629 section 4: properties against the WHATWG decoder', () => {
  it('on arbitrary bytes, isValidUtf8 and isValidUtf8Reference agree with TextDecoder (fatal)', () => {
    fc.assert(
      fc.property(arbitraryBytes, (bytes) => {
        const expected = decoderAccepts(bytes);
        expect(isValidUtf8(bytes)).toBe(expected);
        expect(isValidUtf8Reference(bytes)).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('on mutated valid UTF-8, isValidUtf8 and isValidUtf8Reference agree with TextDecoder (fatal)', () => {
    fc.assert(
      fc.property(mutatedUtf8, (bytes) => {
        const expected = decoderAccepts(bytes);
        expect(isValidUtf8(bytes)).toBe(expected);
        expect(isValidUtf8Reference(bytes)).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('Utf8Validator, fed arbitrary bytes split anywhere, fails at the same piece as a streaming TextDecoder', () => {
    fc.assert(
      fc.property(arbitraryBytes, cutsArb, (bytes, cuts) => {
        const pieces = splitAt(bytes, cuts.map((c) => c % (bytes.length + 1)));
        expect(validatorFirstFailure(pieces)).toBe(decoderFirstFailure(pieces));
      }),
      { numRuns: 3000 },
    );
  });

  it('Utf8Validator, fed mutated valid UTF-8 split anywhere, fails at the same piece as a streaming TextDecoder', () => {
    fc.assert(
      fc.property(mutatedUtf8, cutsArb, (bytes, cuts) => {
        const pieces = splitAt(bytes, cuts.map((c) => c % (bytes.length + 1)));
        expect(validatorFirstFailure(pieces)).toBe(decoderFirstFailure(pieces));
      }),
      { numRuns: 3000 },
    );
  });

  it('any string encoded as UTF-8 is valid, however it is split', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), cutsArb, (text, cuts) => {
        const bytes = Buffer.from(text, 'utf8');
        expect(isValidUtf8(bytes)).toBe(true);
        expect(isValidUtf8Reference(bytes)).toBe(true);
        expect(validatorFirstFailure(splitAt(bytes, cuts))).toBe(-1);
      }),
      { numRuns: 1000 },
    );
  });
});
