/**
 * Writing frames (RFC 6455 5.2 layout, 5.3 masking, 5.4 fragmentation, 5.5 control frames),
 * checked byte for byte against the examples of RFC 6455 5.7, and parsed back.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Opcode } from '../../src/protocol/constants.js';
import { type FrameHeader, FrameParser, type FrameParserOptions } from '../../src/protocol/frame-parser.js';
import {
  encodeCloseFrame,
  encodeFragmentedMessage,
  encodeFrame,
  encodeFrameHeader,
  encodeTextFrame,
  frameHeaderLength,
} from '../../src/protocol/frame-serializer.js';
import { hex, toHex } from '../helpers/bytes.js';

/** Byte-for-byte equality; fast for large buffers, with a hex diff when they differ. */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  if (!Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(expected)) {
    expect(toHex(actual)).toBe(toHex(expected));
  }
}

/** The masking key of every masked example in RFC 6455 5.7. */
const RFC_KEY = hex('37 fa 21 3d');

/** 0, 1, 2, ... 255, 0, 1, ...: payload bytes whose position is visible. */
function counting(length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = i & 0xff;
  return bytes;
}

interface ParsedFrame {
  header: FrameHeader;
  payload: Buffer;
}

/** Parses complete frames, failing the test on a protocol error. */
function parseAll(bytes: Buffer, options: FrameParserOptions): ParsedFrame[] {
  const frames: ParsedFrame[] = [];
  const parser = new FrameParser(
    {
      onFrame: (header, payload) => frames.push({ header: { ...header, maskKey: Buffer.from(header.maskKey) }, payload: Buffer.from(payload) }),
      onFrameError: (error) => {
        throw new Error(`unexpected ${error.code}: ${error.reason}`);
      },
    },
    options,
  );
  parser.push(Buffer.from(bytes)); // a copy: the parser unmasks in place
  expect(parser.bufferedBytes).toBe(0);
  return frames;
}

describe('RFC 6455 5.7 examples, written byte for byte', () => {
  it('a single-frame unmasked text message: 0x81 0x05 0x48 0x65 0x6c 0x6c 0x6f ("Hello")', () => {
    expect(encodeFrame(Opcode.Text, Buffer.from('Hello'))).toEqual(hex('81 05 48 65 6c 6c 6f'));
    expect(encodeTextFrame('Hello')).toEqual(hex('81 05 48 65 6c 6c 6f'));
  });

  it('a single-frame masked text message: 0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58', () => {
    expect(encodeFrame(Opcode.Text, Buffer.from('Hello'), { mask: RFC_KEY })).toEqual(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'));
    expect(encodeTextFrame('Hello', { mask: RFC_KEY })).toEqual(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'));
  });

  it('a fragmented unmasked text message: 0x01 0x03 "Hel", then 0x80 0x02 "lo"', () => {
    expect(encodeFragmentedMessage(Opcode.Text, Buffer.from('Hello'), 3)).toEqual([
      hex('01 03 48 65 6c'),
      hex('80 02 6c 6f'),
    ]);
    expect(encodeTextFrame('Hel', { fin: false })).toEqual(hex('01 03 48 65 6c'));
    expect(encodeFrame(Opcode.Continuation, Buffer.from('lo'))).toEqual(hex('80 02 6c 6f'));
  });

  it('an unmasked Ping: 0x89 0x05 "Hello"', () => {
    expect(encodeFrame(Opcode.Ping, Buffer.from('Hello'))).toEqual(hex('89 05 48 65 6c 6c 6f'));
  });

  it('a masked Pong: 0x8a 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58', () => {
    expect(encodeFrame(Opcode.Pong, Buffer.from('Hello'), { mask: RFC_KEY })).toEqual(hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'));
  });

  it('256 bytes binary in a single unmasked frame: 0x82 0x7E 0x0100 [256 bytes]', () => {
    const payload = counting(256);
    const frame = encodeFrame(Opcode.Binary, payload);
    expect(toHex(frame.subarray(0, 4))).toBe('827e0100');
    expectSameBytes(frame.subarray(4), payload);
    expect(frame.length).toBe(4 + 256);
  });

  it('64 KiB binary in a single unmasked frame: 0x82 0x7F 0x0000000000010000 [65536 bytes]', () => {
    const payload = counting(65536);
    const frame = encodeFrame(Opcode.Binary, payload);
    expect(toHex(frame.subarray(0, 10))).toBe('827f0000000000010000');
    expectSameBytes(frame.subarray(10), payload);
    expect(frame.length).toBe(10 + 65536);
  });
});

describe('RFC 6455 5.2 Payload length: 7 bits, 7+16 bits or 7+64 bits, the minimal number of bytes', () => {
  const cases: ReadonlyArray<[number, string, string]> = [
    [0, '8200', '8280'],
    [1, '8201', '8281'],
    [125, '827d', '82fd'],
    [126, '827e007e', '82fe007e'],
    [127, '827e007f', '82fe007f'],
    [65535, '827effff', '82feffff'],
    [65536, '827f0000000000010000', '82ff0000000000010000'],
    [65537, '827f0000000000010001', '82ff0000000000010001'],
  ];
  for (const [length, unmaskedHeader, maskedHeader] of cases) {
    it(`${length} bytes: header ${unmaskedHeader} unmasked, ${maskedHeader} + key masked, and it parses back`, () => {
      const payload = counting(length);
      const unmasked = encodeFrame(Opcode.Binary, payload);
      expect(toHex(unmasked.subarray(0, unmaskedHeader.length / 2))).toBe(unmaskedHeader);
      expect(frameHeaderLength(length, false)).toBe(unmaskedHeader.length / 2);
      expect(unmasked.length).toBe(unmaskedHeader.length / 2 + length);
      expect(encodeFrameHeader(Opcode.Binary, length)).toEqual(hex(unmaskedHeader));

      const masked = encodeFrame(Opcode.Binary, payload, { mask: RFC_KEY });
      expect(toHex(masked.subarray(0, maskedHeader.length / 2 + 4))).toBe(`${maskedHeader}37fa213d`);
      expect(frameHeaderLength(length, true)).toBe(maskedHeader.length / 2 + 4);

      const [fromUnmasked] = parseAll(unmasked, { role: 'client' });
      expect(fromUnmasked.header.payloadLength).toBe(length);
      expect(fromUnmasked.header.headerLength).toBe(unmaskedHeader.length / 2);
      expectSameBytes(fromUnmasked.payload, payload);
      const [fromMasked] = parseAll(masked, { role: 'server' });
      expect(fromMasked.header.payloadLength).toBe(length);
      expect(fromMasked.header.headerLength).toBe(maskedHeader.length / 2 + 4);
      expectSameBytes(fromMasked.payload, payload);
    });
  }

  it('lengths past 32 bits use both halves of the 64-bit field, top bit 0 (headers only)', () => {
    expect(encodeFrameHeader(Opcode.Binary, 2 ** 32)).toEqual(hex('82 7f 00 00 00 01 00 00 00 00'));
    expect(encodeFrameHeader(Opcode.Binary, 2 ** 32 + 5)).toEqual(hex('82 7f 00 00 00 01 00 00 00 05'));
    expect(encodeFrameHeader(Opcode.Binary, 2 ** 53 - 1)).toEqual(hex('82 7f 00 1f ff ff ff ff ff ff'));
  });
});

describe('RFC 6455 5.2 first byte: FIN, RSV1 and the opcode', () => {
  it('FIN clear: 0x01 for a first text fragment, 0x00 for a middle continuation', () => {
    expect(encodeFrame(Opcode.Text, Buffer.from('a'), { fin: false })[0]).toBe(0x01);
    expect(encodeFrame(Opcode.Continuation, Buffer.from('a'), { fin: false })[0]).toBe(0x00);
  });

  it('RSV1 (permessage-deflate) sets 0x40: 0xc1 for a compressed text frame', () => {
    expect(encodeFrame(Opcode.Text, Buffer.from('a'), { rsv1: true })[0]).toBe(0xc1);
    expect(encodeTextFrame('a', { rsv1: true })[0]).toBe(0xc1);
    expect(encodeFrameHeader(Opcode.Binary, 1, { rsv1: true })[0]).toBe(0xc2);
  });

  it('each defined opcode lands in the low 4 bits', () => {
    for (const opcode of [0x0, 0x1, 0x2, 0x8, 0x9, 0xa]) {
      expect(encodeFrame(opcode, Buffer.alloc(0))[0]).toBe(0x80 | opcode);
    }
  });
});

describe('RFC 6455 5.2, 5.5: frames that may not be written are refused', () => {
  for (const opcode of [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    it(`reserved opcode 0x${opcode.toString(16)}`, () => {
      expect(() => encodeFrame(opcode, Buffer.alloc(1))).toThrow(RangeError);
      expect(() => encodeFrameHeader(opcode, 1)).toThrow(RangeError);
    });
  }

  it('a control frame with FIN clear (control frames MUST NOT be fragmented)', () => {
    expect(() => encodeFrame(Opcode.Ping, Buffer.alloc(1), { fin: false })).toThrow(RangeError);
    expect(() => encodeFrameHeader(Opcode.Close, 2, { fin: false })).toThrow(RangeError);
  });

  it('a control frame of 126 bytes (at most 125); 125 is fine', () => {
    expect(() => encodeFrame(Opcode.Pong, Buffer.alloc(126))).toThrow(RangeError);
    expect(() => encodeFrameHeader(Opcode.Ping, 126)).toThrow(RangeError);
    expect(encodeFrame(Opcode.Pong, Buffer.alloc(125))).toHaveLength(127);
  });

  it('a masking key that is not 4 bytes', () => {
    expect(() => encodeFrame(Opcode.Binary, Buffer.alloc(1), { mask: new Uint8Array(3) })).toThrow(RangeError);
    expect(() => encodeFrame(Opcode.Binary, Buffer.alloc(1), { mask: new Uint8Array(5) })).toThrow(RangeError);
  });

  it('encodeFrameHeader with a mask (it is for unmasked frames only)', () => {
    expect(() => encodeFrameHeader(Opcode.Binary, 1, { mask: true })).toThrow(RangeError);
  });

  it('a fragment size that is not a positive integer', () => {
    expect(() => encodeFragmentedMessage(Opcode.Binary, Buffer.alloc(4), 0)).toThrow(RangeError);
    expect(() => encodeFragmentedMessage(Opcode.Binary, Buffer.alloc(4), 1.5)).toThrow(RangeError);
  });
});

describe('RFC 6455 5.3 Client-to-Server Masking: fresh keys', () => {
  it('mask: true sets the MASK bit, writes a key, and the payload unmasks with it', () => {
    const payload = counting(300);
    const frame = encodeFrame(Opcode.Binary, payload, { mask: true });
    expect(frame[1] & 0x80).toBe(0x80);
    const key = frame.subarray(4, 8);
    const body = Buffer.from(frame.subarray(8));
    for (let i = 0; i < body.length; i++) body[i] ^= key[i % 4];
    expect(body).toEqual(payload);
  });

  it('every frame gets a new key', () => {
    const keys = new Set(Array.from({ length: 8 }, () => toHex(encodeFrame(Opcode.Binary, Buffer.alloc(1), { mask: true }).subarray(2, 6))));
    // Eight identical random 32-bit keys would happen with probability 2^-224.
    expect(keys.size).toBeGreaterThan(1);
  });

  it('the caller’s payload is never modified, masked or not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), (bytes, key) => {
        const payload = Buffer.from(bytes);
        encodeFrame(Opcode.Binary, payload, { mask: key });
        encodeFrame(Opcode.Binary, payload, { mask: true });
        encodeFrame(Opcode.Binary, payload);
        expect(payload).toEqual(Buffer.from(bytes));
      }),
      { numRuns: 100 },
    );
  });
});

describe('RFC 6455 5.4 Fragmentation: encodeFragmentedMessage', () => {
  it('"Hello" in fragments of 1 byte: Text, then four continuations, FIN only on the last', () => {
    const frames = encodeFragmentedMessage(Opcode.Text, Buffer.from('Hello'), 1);
    expect(frames.map(toHex)).toEqual(['010148', '000165', '00016c', '00016c', '80016f']);
  });

  it('a payload no longer than the fragment size is a single final frame', () => {
    expect(encodeFragmentedMessage(Opcode.Binary, Buffer.from('abc'), 3).map(toHex)).toEqual(['8203616263']);
  });

  it('an empty payload is still one frame', () => {
    expect(encodeFragmentedMessage(Opcode.Text, Buffer.alloc(0), 10).map(toHex)).toEqual(['8100']);
  });

  it('RSV1 goes on the first frame only (RFC 7692 6.1)', () => {
    const frames = encodeFragmentedMessage(Opcode.Binary, Buffer.from('abcdef'), 2, { rsv1: true });
    expect(frames.map((f) => f[0])).toEqual([0x42, 0x00, 0x80]);
  });

  it('masked fragments each carry a key and unmask to the right bytes', () => {
    const frames = encodeFragmentedMessage(Opcode.Binary, counting(1000), 300, { mask: true });
    const parsed = parseAll(Buffer.concat(frames), { role: 'server' });
    expect(parsed.map((f) => [f.header.opcode, f.header.fin, f.payload.length])).toEqual([
      [2, false, 300],
      [0, false, 300],
      [0, false, 300],
      [0, true, 100],
    ]);
    expect(Buffer.concat(parsed.map((f) => f.payload))).toEqual(counting(1000));
  });

  it('for any payload and fragment size, the fragments parse back to the payload', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 1, max: 700 }), fc.boolean(), (bytes, size, masked) => {
        const frames = encodeFragmentedMessage(Opcode.Binary, bytes, size, { mask: masked });
        expect(frames.length).toBe(Math.max(1, Math.ceil(bytes.length / size)));
        const parsed = parseAll(Buffer.concat(frames), { role: masked ? 'server' : 'client' });
        expect(parsed.map((f) => f.header.opcode)).toEqual(parsed.map((_, i) => (i === 0 ? Opcode.Binary : Opcode.Continuation)));
        expect(parsed.map((f) => f.header.fin)).toEqual(parsed.map((_, i) => i === parsed.length - 1));
        expect(Buffer.concat(parsed.map((f) => f.payload))).toEqual(Buffer.from(bytes));
      }),
      { numRuns: 200 },
    );
  });
});

describe('RFC 6455 5.5.1 Close frames: encodeCloseFrame', () => {
  it('1000 "bye" is 0x88 0x05 0x03 0xe8 "bye"', () => {
    expect(encodeCloseFrame(1000, 'bye')).toEqual(hex('88 05 03 e8 62 79 65'));
  });

  it('no code is an empty Close frame, 0x88 0x00', () => {
    expect(encodeCloseFrame()).toEqual(hex('88 00'));
  });

  it('masked with the RFC key: 0x88 0x82 0x37 0xfa 0x21 0x3d, then 03 e8 masked to 34 12', () => {
    expect(encodeCloseFrame(1000, '', { mask: RFC_KEY })).toEqual(hex('88 82 37 fa 21 3d 34 12'));
  });

  it('a long reason is cut so the frame stays a valid control frame (125-byte payload)', () => {
    const frame = encodeCloseFrame(1001, 'x'.repeat(500));
    expect(frame[1]).toBe(125);
    expect(frame.length).toBe(127);
  });

  it('codes that may not be sent are refused', () => {
    expect(() => encodeCloseFrame(1005)).toThrow(RangeError);
    expect(() => encodeCloseFrame(1006)).toThrow(RangeError);
  });
});

describe('RFC 6455 5.6 Data frames: encodeTextFrame writes the UTF-8 of a string', () => {
  it('for any string and key, encodeTextFrame equals encodeFrame of its UTF-8 bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 100 }),
          // Long texts too, past the 16-bit and 64-bit length boundaries.
          fc
            .tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 3000 }))
            .map(([piece, times]) => piece.repeat(times)),
        ),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.boolean(),
        (text, key, fin) => {
          const bytes = Buffer.from(text, 'utf8');
          expectSameBytes(encodeTextFrame(text, { fin }), encodeFrame(Opcode.Text, bytes, { fin }));
          expectSameBytes(encodeTextFrame(text, { fin, mask: key }), encodeFrame(Opcode.Text, bytes, { fin, mask: key }));
        },
      ),
      { numRuns: 100 },
    );
  });
});
