/**
 * Reading frames: RFC 6455 5.2 (base framing), 5.1 and 5.3 (masking by role), 5.4
 * (fragmentation rules the parser can judge), 5.5 (control frames) and 10.4 (size limits).
 * Every malformed frame is met with exactly one error and silence afterwards.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_SIZE_LIMIT, Opcode, ProtocolDefaults, RSV1_BIT, RSV2_BIT, RSV3_BIT } from '../../src/protocol/constants.js';
import type { ProtocolError, ViolationCode } from '../../src/protocol/errors.js';
import { FrameParser, type FrameHeader, type FrameParserOptions } from '../../src/protocol/frame-parser.js';
import { encodeFrame, frameHeaderLength } from '../../src/protocol/frame-serializer.js';
import { hex, pseudoRandomBytes, pushInPieces, splitAt, toHex } from '../helpers/bytes.js';

/** Memory readings taken (a pause apart) to see past memory V8 has not yet freed. */
const SETTLE_READINGS = 5;
const SETTLE_PAUSE_MS = 20;

/** The masking key of every masked example in RFC 6455 5.7. */
const RFC_KEY = hex('37 fa 21 3d');

/**
 * What the parser reported, in order, with everything copied out of its reused objects: a
 * frame's header fields, its masking key as hex (undefined when unmasked: the reused key then
 * holds an earlier frame's bytes) and its payload as hex.
 */
type ParserEvent =
  | ({ kind: 'frame' } & Omit<FrameHeader, 'maskKey'> & { maskKey: string | undefined; payload: string })
  | { kind: 'error'; code: ViolationCode; closeCode: number };

function recordingParser(options: FrameParserOptions): { parser: FrameParser; events: ParserEvent[] } {
  const events: ParserEvent[] = [];
  const parser = new FrameParser(
    {
      onFrame(header, payload) {
        events.push({ kind: 'frame', ...header, maskKey: header.masked ? toHex(header.maskKey) : undefined, payload: toHex(payload) });
      },
      onFrameError(error: ProtocolError) {
        events.push({ kind: 'error', code: error.code, closeCode: error.closeCode });
      },
    },
    options,
  );
  return { parser, events };
}

/** Feeds `bytes` (copied: the parser unmasks in place) in the given pieces and returns what was reported. */
function parse(bytes: Uint8Array, options: FrameParserOptions, cuts: readonly number[] = []): ParserEvent[] {
  const { parser, events } = recordingParser(options);
  pushInPieces(parser, bytes, cuts);
  return events;
}

/** Feeds `bytes` one byte at a time. */
function parseByteByByte(bytes: Uint8Array, options: FrameParserOptions): ParserEvent[] {
  return parse(bytes, options, Array.from({ length: bytes.length }, (_, i) => i));
}

function frameEvent(fields: {
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  opcode: number;
  maskKey?: string;
  payloadLength: number;
  headerLength: number;
  payload: string;
}): ParserEvent {
  return {
    kind: 'frame',
    fin: fields.fin ?? true,
    rsv1: fields.rsv1 ?? false,
    rsv2: fields.rsv2 ?? false,
    rsv3: fields.rsv3 ?? false,
    opcode: fields.opcode,
    masked: fields.maskKey !== undefined,
    maskKey: fields.maskKey,
    payloadLength: fields.payloadLength,
    headerLength: fields.headerLength,
    payload: fields.payload,
  };
}

function errorEvent(code: ViolationCode, closeCode: number): ParserEvent {
  return { kind: 'error', code, closeCode };
}

const HELLO = toHex(Buffer.from('Hello'));

describe('RFC 6455 5.7 examples, read byte for byte', () => {
  const examples: ReadonlyArray<[string, string, FrameParserOptions, ParserEvent[]]> = [
    [
      'a single-frame unmasked text message (client reading a server)',
      '81 05 48 65 6c 6c 6f',
      { role: 'client' },
      [frameEvent({ opcode: 1, payloadLength: 5, headerLength: 2, payload: HELLO })],
    ],
    [
      'a single-frame masked text message (server reading a client)',
      '81 85 37 fa 21 3d 7f 9f 4d 51 58',
      { role: 'server' },
      [frameEvent({ opcode: 1, maskKey: '37fa213d', payloadLength: 5, headerLength: 6, payload: HELLO })],
    ],
    [
      'a fragmented unmasked text message, "Hel" then "lo"',
      '01 03 48 65 6c  80 02 6c 6f',
      { role: 'client' },
      [
        frameEvent({ fin: false, opcode: 1, payloadLength: 3, headerLength: 2, payload: '48656c' }),
        frameEvent({ opcode: 0, payloadLength: 2, headerLength: 2, payload: '6c6f' }),
      ],
    ],
    [
      'an unmasked Ping with body "Hello"',
      '89 05 48 65 6c 6c 6f',
      { role: 'client' },
      [frameEvent({ opcode: 9, payloadLength: 5, headerLength: 2, payload: HELLO })],
    ],
    [
      'a masked Pong with body "Hello"',
      '8a 85 37 fa 21 3d 7f 9f 4d 51 58',
      { role: 'server' },
      [frameEvent({ opcode: 10, maskKey: '37fa213d', payloadLength: 5, headerLength: 6, payload: HELLO })],
    ],
  ];
  for (const [name, bytes, options, expected] of examples) {
    it(`${name}: ${bytes}`, () => {
      expect(parse(hex(bytes), options)).toEqual(expected);
      expect(parseByteByByte(hex(bytes), options)).toEqual(expected);
    });
  }

  it('256 bytes binary in a single unmasked frame: 0x82 0x7E 0x0100 [256 bytes]', () => {
    const data = Buffer.alloc(256, 0xab);
    const expected = [frameEvent({ opcode: 2, payloadLength: 256, headerLength: 4, payload: toHex(data) })];
    expect(parse(Buffer.concat([hex('82 7e 01 00'), data]), { role: 'client' })).toEqual(expected);
    expect(parseByteByByte(Buffer.concat([hex('82 7e 01 00'), data]), { role: 'client' })).toEqual(expected);
  });

  it('64 KiB binary in a single unmasked frame: 0x82 0x7F 0x0000000000010000 [65536 bytes]', () => {
    const data = Buffer.alloc(65536);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const frame = Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), data]);
    const expected = [frameEvent({ opcode: 2, payloadLength: 65536, headerLength: 10, payload: toHex(data) })];
    expect(parse(frame, { role: 'client' })).toEqual(expected);
    expect(parse(frame, { role: 'client' }, [1, 5, 11, 40000])).toEqual(expected);
  });
});

describe('RFC 6455 5.2 Payload length: each encoding at its boundaries', () => {
  const cases: ReadonlyArray<[number, string]> = [
    [0, '82 00'],
    [125, '82 7d'],
    [126, '82 7e 00 7e'],
    [65535, '82 7e ff ff'],
    [65536, '82 7f 00 00 00 00 00 01 00 00'],
  ];
  for (const [length, header] of cases) {
    it(`${length} bytes after header ${header}`, () => {
      const data = Buffer.alloc(length, 0x5a);
      const events = parse(Buffer.concat([hex(header), data]), { role: 'client' });
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ kind: 'frame', payloadLength: length, headerLength: hex(header).length });
      expect(events[0].kind === 'frame' && events[0].payload === toHex(data)).toBe(true);
    });
  }

  it('a zero-length frame is reported as soon as its 2-byte header is in', () => {
    const { parser, events } = recordingParser({ role: 'client' });
    parser.push(hex('81'));
    expect(events).toEqual([]);
    parser.push(hex('00'));
    expect(events).toEqual([frameEvent({ opcode: 1, payloadLength: 0, headerLength: 2, payload: '' })]);
  });

  it('a zero-length masked frame is reported as soon as its masking key is in', () => {
    expect(parse(hex('82 80 01 02 03 04'), { role: 'server' })).toEqual([
      frameEvent({ opcode: 2, maskKey: '01020304', payloadLength: 0, headerLength: 6, payload: '' }),
    ]);
  });

  it('a frame is held until its last byte arrives; bufferedBytes counts what is held', () => {
    const { parser, events } = recordingParser({ role: 'client' });
    parser.push(hex('82 7e 01 00'));
    parser.push(Buffer.alloc(255));
    expect(events).toEqual([]);
    expect(parser.bufferedBytes).toBe(255);
    parser.push(hex('00 81'));
    expect(events).toHaveLength(1);
    expect(parser.bufferedBytes).toBe(1); // the first byte of the next frame
  });
});

describe('RFC 6455 5.2: a 64-bit length with its most significant bit set is a protocol error (1002)', () => {
  it('0x8000000000000000 fails as soon as the 8 length bytes are in', () => {
    const { parser, events } = recordingParser({ role: 'client' });
    parser.push(hex('82 7f 80 00 00 00 00 00 00'));
    expect(events).toEqual([]);
    parser.push(hex('00'));
    expect(events).toEqual([errorEvent('LENGTH_TOP_BIT_SET', 1002)]);
  });

  it('0xffffffffffffffff too', () => {
    expect(parse(hex('82 7f ff ff ff ff ff ff ff ff'), { role: 'client' })).toEqual([errorEvent('LENGTH_TOP_BIT_SET', 1002)]);
  });
});

describe('RFC 6455 10.4: a declared length beyond any limit fails with 1009 without waiting or allocating', () => {
  const huge: ReadonlyArray<[string, string]> = [
    ['2^53', '00 20 00 00 00 00 00 00'],
    ['2^63 - 1', '7f ff ff ff ff ff ff ff'],
    ['2^53 - 1', '00 1f ff ff ff ff ff ff'],
    ['2^32', '00 00 00 01 00 00 00 00'],
  ];
  for (const [name, lengthHex] of huge) {
    it(`${name}: MESSAGE_TOO_BIG on the header alone, nothing buffered`, () => {
      for (const role of ['client', 'server'] as const) {
        const { parser, events } = recordingParser({ role });
        // A server reads masked frames: the error comes before the masking key is even read.
        parser.push(hex(`82 ${role === 'server' ? 'ff' : '7f'} ${lengthHex}`));
        expect(events).toEqual([errorEvent('MESSAGE_TOO_BIG', 1009)]);
        expect(parser.stopped).toBe(true);
        expect(parser.bufferedBytes).toBe(0);
      }
    });
  }

  it('a declared length one over maxMessageSize fails right after the header, before any payload byte', () => {
    const { parser, events } = recordingParser({ role: 'server', maxMessageSize: 1000 });
    parser.push(hex('82 fe 03 e9')); // 1001 bytes declared
    expect(events).toEqual([errorEvent('MESSAGE_TOO_BIG', 1009)]);
  });

  it('a declared length of exactly maxMessageSize is read', () => {
    const frame = encodeFrame(Opcode.Binary, Buffer.alloc(1000, 1), { mask: RFC_KEY });
    const events = parse(frame, { role: 'server', maxMessageSize: 1000 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'frame', payloadLength: 1000 });
  });

  it('the limit is on the message: fragments add up (600 + 401 > 1000 fails at the second header)', () => {
    const first = encodeFrame(Opcode.Binary, Buffer.alloc(600), { fin: false, mask: RFC_KEY });
    const { parser, events } = recordingParser({ role: 'server', maxMessageSize: 1000 });
    parser.push(first);
    expect(events).toHaveLength(1);
    parser.push(hex('80 fe 01 91')); // continuation declaring 401 bytes
    expect(events[1]).toEqual(errorEvent('MESSAGE_TOO_BIG', 1009));
  });

  it('a limit no Buffer could hold (or not a whole number of bytes) is refused when the parser is made', () => {
    const handler = { onFrame: () => undefined, onFrameError: () => undefined };
    for (const maxMessageSize of [MAX_MESSAGE_SIZE_LIMIT + 1, -1, 1.5, Number.NaN]) {
      expect(() => new FrameParser(handler, { role: 'server', maxMessageSize })).toThrow(RangeError);
    }
    expect(() => new FrameParser(handler, { role: 'server', maxMessageSize: MAX_MESSAGE_SIZE_LIMIT })).not.toThrow();
  });

  it('600 + 400 fragments are fine, control frames in between do not count, and the next message starts from 0', () => {
    const stream = Buffer.concat([
      encodeFrame(Opcode.Binary, Buffer.alloc(600), { fin: false, mask: RFC_KEY }),
      encodeFrame(Opcode.Ping, Buffer.alloc(125), { mask: RFC_KEY }),
      encodeFrame(Opcode.Continuation, Buffer.alloc(400), { mask: RFC_KEY }),
      encodeFrame(Opcode.Text, Buffer.alloc(1000, 0x61), { mask: RFC_KEY }),
    ]);
    const events = parse(stream, { role: 'server', maxMessageSize: 1000 });
    expect(events.map((e) => (e.kind === 'frame' ? e.payloadLength : e.code))).toEqual([600, 125, 400, 1000]);
  });
});

describe('RFC 6455 10.4: a frame dribbled in tiny pieces costs time in proportion to its bytes', () => {
  it('1 MiB in 8-byte pieces (131,074 pushes) is read whole, and the last piece does not pay for all the others', () => {
    // A peer may send a frame a few bytes at a time; each piece waits in the queue until the
    // last one arrives. Taking them off the front one by one must not copy the queue each time
    // (with Array.prototype.shift this last push took about 20 s on the development machine).
    const payload = pseudoRandomBytes(1024 * 1024, 7);
    const frame = encodeFrame(Opcode.Binary, payload, { mask: RFC_KEY });
    const { parser, events } = recordingParser({ role: 'server' });
    const PIECE = 8;
    let offset = 0;
    // Each piece a buffer of its own, as socket reads are.
    for (; offset + PIECE < frame.length; offset += PIECE) parser.push(Buffer.from(frame.subarray(offset, offset + PIECE)));
    expect(events).toEqual([]);
    expect(parser.bufferedBytes).toBe(offset - frameHeaderLength(payload.length, true)); // the header is read at once
    const started = performance.now();
    parser.push(frame.subarray(offset));
    // A generous bound (the linear queue takes milliseconds): it only has to tell linear from quadratic.
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'frame', payloadLength: payload.length, payload: toHex(payload) });
    expect(parser.bufferedBytes).toBe(0);
  });
});

describe('RFC 6455 10.4: a frame dribbled in tiny reads is held as its bytes, not as one object per read', () => {
  it('2 MiB in 8-byte reads (262,158 of them) keeps about 2 MiB while it waits, not a Buffer per read', () => {
    setFlagsFromString('--expose-gc');
    const collectGarbage = runInNewContext('gc') as () => void;
    const held = (): number => {
      collectGarbage();
      const { heapUsed, arrayBuffers } = process.memoryUsage();
      return heapUsed + arrayBuffers;
    };
    const payload = pseudoRandomBytes(2 * 1024 * 1024, 11);
    const frame = encodeFrame(Opcode.Binary, payload, { mask: RFC_KEY });
    const { parser, events } = recordingParser({ role: 'server' });
    const before = held();
    const PIECE = 8;
    let offset = 0;
    for (; offset + PIECE < frame.length; offset += PIECE) parser.push(Buffer.from(frame.subarray(offset, offset + PIECE)));
    const waiting = held() - before;
    // One Buffer object per read would be about 100 bytes each: over 25 MiB here.
    expect(waiting).toBeLessThan(8 * 1024 * 1024);
    parser.push(frame.subarray(offset));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'frame', payloadLength: payload.length, payload: toHex(payload) });
  });

  it('once the frame is complete nothing is kept: 1000 parsers that each read a frame in 4 short reads hold no blocks', async () => {
    setFlagsFromString('--expose-gc');
    const collectGarbage = runInNewContext('gc') as () => void;
    /**
     * Buffer memory still held, after collections: V8 frees the memory of dead Buffers on a
     * background thread after a collection, so one reading right after gc() may still count
     * garbage. The least of a few readings, a tick apart, is what is really held: memory the
     * parsers keep would show in every one of them.
     */
    const arrayBufferBytes = async (): Promise<number> => {
      let least = Number.POSITIVE_INFINITY;
      for (let reading = 0; reading < SETTLE_READINGS; reading++) {
        collectGarbage();
        await new Promise((resolve) => setTimeout(resolve, SETTLE_PAUSE_MS));
        least = Math.min(least, process.memoryUsage().arrayBuffers);
      }
      return least;
    };
    const frame = encodeFrame(Opcode.Text, Buffer.from('twelve bytes'), { mask: RFC_KEY }); // 18 bytes
    const before = await arrayBufferBytes();
    const parsers: FrameParser[] = [];
    let frames = 0;
    for (let i = 0; i < 1000; i++) {
      const parser = new FrameParser({ onFrame: () => frames++, onFrameError: () => undefined }, { role: 'server' });
      // Header and key, then the payload in three reads: the third waits behind the second.
      for (const [start, end] of [[0, 6], [6, 10], [10, 14], [14, 18]]) parser.push(Buffer.from(frame.subarray(start, end)));
      parsers.push(parser);
    }
    expect(frames).toBe(1000);
    // A block kept per idle parser would be 1 to 16 KiB each: at least 1 MB here.
    expect((await arrayBufferBytes()) - before).toBeLessThan(256 * 1024);
    expect(parsers.every((parser) => parser.bufferedBytes === 0)).toBe(true);
  });
});

describe('RFC 6455 5.2 Opcode: reserved opcodes 0x3-0x7 and 0xB-0xF fail with 1002', () => {
  for (const opcode of [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    it(`opcode 0x${opcode.toString(16)}`, () => {
      const first = (0x80 | opcode).toString(16);
      expect(parse(hex(`${first} 80 00 00 00 00`), { role: 'server' })).toEqual([errorEvent('RESERVED_OPCODE', 1002)]);
      expect(parse(hex(`${first} 00`), { role: 'client' })).toEqual([errorEvent('RESERVED_OPCODE', 1002)]);
    });
  }
});

describe('RFC 6455 5.2 RSV1-3: nonzero without a negotiated extension fails with 1002', () => {
  for (const [name, first] of [
    ['RSV1', 'c1'],
    ['RSV2', 'a1'],
    ['RSV3', '91'],
    ['all three', 'f1'],
  ] as const) {
    it(`${name} set (first byte 0x${first})`, () => {
      expect(parse(hex(`${first} 05 48 65 6c 6c 6f`), { role: 'client' })).toEqual([errorEvent('RESERVED_BITS_SET', 1002)]);
    });
  }

  it('with allowedRsvBits = RSV1 (as permessage-deflate negotiates), RSV1 is read and RSV2 still fails', () => {
    expect(parse(hex('c1 05 48 65 6c 6c 6f'), { role: 'client', allowedRsvBits: RSV1_BIT })).toEqual([
      frameEvent({ rsv1: true, opcode: 1, payloadLength: 5, headerLength: 2, payload: HELLO }),
    ]);
    expect(parse(hex('a1 05 48 65 6c 6c 6f'), { role: 'client', allowedRsvBits: RSV1_BIT })).toEqual([
      errorEvent('RESERVED_BITS_SET', 1002),
    ]);
  });
});

describe('RFC 6455 5.5 Control frames: FIN set and at most 125 bytes, else 1002', () => {
  it('a Ping with FIN clear', () => {
    expect(parse(hex('09 00'), { role: 'client' })).toEqual([errorEvent('CONTROL_FRAME_FRAGMENTED', 1002)]);
  });

  it('a Close with FIN clear', () => {
    expect(parse(hex('08 82 00 00 00 00 03 e8'), { role: 'server' })).toEqual([errorEvent('CONTROL_FRAME_FRAGMENTED', 1002)]);
  });

  it('a Pong of 126 bytes fails on its first two bytes, before the length or payload', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    parser.push(hex('8a fe'));
    expect(events).toEqual([errorEvent('CONTROL_FRAME_TOO_LONG', 1002)]);
  });

  it('a Ping with a 64-bit length marker', () => {
    expect(parse(hex('89 7f'), { role: 'client' })).toEqual([errorEvent('CONTROL_FRAME_TOO_LONG', 1002)]);
  });

  it('a Ping of exactly 125 bytes is fine', () => {
    const frame = encodeFrame(Opcode.Ping, Buffer.alloc(125, 0x70), { mask: RFC_KEY });
    expect(parse(frame, { role: 'server' })).toEqual([
      frameEvent({ opcode: 9, maskKey: '37fa213d', payloadLength: 125, headerLength: 6, payload: '70'.repeat(125) }),
    ]);
  });
});

describe('RFC 6455 5.4 Fragmentation: continuations only inside a fragmented message, no nesting', () => {
  it('a continuation frame with no message to continue fails with 1002', () => {
    expect(parse(hex('80 02 6c 6f'), { role: 'client' })).toEqual([errorEvent('UNEXPECTED_CONTINUATION', 1002)]);
  });

  it('a continuation after a message that already ended fails with 1002', () => {
    expect(parse(hex('81 05 48 65 6c 6c 6f  80 02 6c 6f'), { role: 'client' })).toEqual([
      frameEvent({ opcode: 1, payloadLength: 5, headerLength: 2, payload: HELLO }),
      errorEvent('UNEXPECTED_CONTINUATION', 1002),
    ]);
  });

  it('a new Text frame inside a fragmented message fails with 1002', () => {
    expect(parse(hex('01 03 48 65 6c  81 02 6c 6f'), { role: 'client' })).toEqual([
      frameEvent({ fin: false, opcode: 1, payloadLength: 3, headerLength: 2, payload: '48656c' }),
      errorEvent('EXPECTED_CONTINUATION', 1002),
    ]);
  });

  it('a new Binary frame inside a fragmented message fails with 1002, even a non-final one', () => {
    expect(parse(hex('01 03 48 65 6c  02 02 6c 6f'), { role: 'client' })[1]).toEqual(errorEvent('EXPECTED_CONTINUATION', 1002));
  });

  it('control frames may be injected in the middle of a fragmented message', () => {
    const events = parse(hex('01 03 48 65 6c  89 00  8a 01 78  00 01 6c  80 01 6f'), { role: 'client' });
    expect(events.map((e) => (e.kind === 'frame' ? [e.opcode, e.fin] : e.code))).toEqual([
      [1, false],
      [9, true],
      [10, true],
      [0, false],
      [0, true],
    ]);
  });
});

describe('RFC 6455 5.1 and 5.3: clients mask every frame, servers none', () => {
  it('a server reading an unmasked frame fails with 1002', () => {
    expect(parse(hex('81 05 48 65 6c 6c 6f'), { role: 'server' })).toEqual([errorEvent('UNMASKED_CLIENT_FRAME', 1002)]);
  });

  it('a client reading a masked frame fails with 1002', () => {
    expect(parse(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), { role: 'client' })).toEqual([errorEvent('MASKED_SERVER_FRAME', 1002)]);
  });

  it('an unmasked control frame to a server fails too', () => {
    expect(parse(hex('89 00'), { role: 'server' })).toEqual([errorEvent('UNMASKED_CLIENT_FRAME', 1002)]);
  });
});

describe('RFC 6455 7.1.7 Fail the WebSocket Connection: one error, then silence', () => {
  it('after an error, valid frames are ignored and nothing is buffered', () => {
    const { parser, events } = recordingParser({ role: 'client' });
    parser.push(hex('83 00 81 05 48 65'));
    parser.push(hex('6c 6c 6f 81 00'));
    expect(events).toEqual([errorEvent('RESERVED_OPCODE', 1002)]);
    expect(parser.stopped).toBe(true);
    expect(parser.bufferedBytes).toBe(0);
  });

  it('frames before the error in the same chunk are reported, then the error', () => {
    expect(parse(hex('81 00 82 01 ff 89 7e'), { role: 'client' }).map((e) => (e.kind === 'frame' ? e.opcode : e.code))).toEqual([
      1,
      2,
      'CONTROL_FRAME_TOO_LONG',
    ]);
  });

  it('stop() ends parsing for good', () => {
    const { parser, events } = recordingParser({ role: 'client' });
    parser.push(hex('81 05 48 65'));
    parser.stop();
    expect(parser.stopped).toBe(true);
    expect(parser.bufferedBytes).toBe(0);
    parser.push(hex('6c 6c 6f 81 00'));
    expect(events).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------
// Properties.

const ALL_RSV = RSV1_BIT | RSV2_BIT | RSV3_BIT;

const payloadLengthArb = fc.oneof(
  fc.integer({ min: 0, max: 130 }),
  fc.constantFrom(125, 126, 127, 65535, 65536, 65537),
  fc.integer({ min: 0, max: 200 * 1024 }),
);

const frameArb = fc
  .record({
    opcode: fc.constantFrom(Opcode.Continuation, Opcode.Text, Opcode.Binary, Opcode.Close, Opcode.Ping, Opcode.Pong),
    fin: fc.boolean(),
    rsv1: fc.boolean(),
    rsv2: fc.boolean(),
    rsv3: fc.boolean(),
    mask: fc.option(fc.uint8Array({ minLength: 4, maxLength: 4 }), { nil: undefined }),
    length: payloadLengthArb,
    seed: fc.integer(),
  })
  .map((frame) => {
    const control = (frame.opcode & 0x8) !== 0;
    // RFC 6455 5.5: control frames are final and carry at most 125 bytes.
    const valid = control ? { ...frame, fin: true, length: frame.length % 126 } : frame;
    // The one extension there is, permessage-deflate, claims RSV1 on the first frame of a data
    // message only (RFC 7692 6.1); so RSV bits go on Text and Binary frames.
    const startsMessage = frame.opcode === Opcode.Text || frame.opcode === Opcode.Binary;
    return startsMessage ? valid : { ...valid, rsv1: false, rsv2: false, rsv3: false };
  });

const cutsArb = fc.array(fc.nat({ max: 210 * 1024 }), { maxLength: 5 });

describe('RFC 6455 5.2: properties of the parser', () => {
  it('parse(serialize(frame)) is the frame: any opcode, FIN, RSV, masked or not, up to 200 KiB, split anywhere', () => {
    fc.assert(
      fc.property(frameArb, cutsArb, (frame, cuts) => {
        const payload = pseudoRandomBytes(frame.length, frame.seed);
        const bytes = encodeFrame(frame.opcode, payload, { fin: frame.fin, rsv1: frame.rsv1, mask: frame.mask });
        // The serializer writes only RSV1 (the one bit an extension in use claims); set RSV2/3 by hand.
        bytes[0] |= (frame.rsv2 ? RSV2_BIT : 0) | (frame.rsv3 ? RSV3_BIT : 0);
        // A continuation is only legal after a non-final data frame: put one before it.
        const prefix =
          frame.opcode === Opcode.Continuation ? encodeFrame(Opcode.Binary, Buffer.alloc(0), { fin: false, mask: frame.mask }) : Buffer.alloc(0);
        const stream = Buffer.concat([prefix, bytes]);
        const options: FrameParserOptions = { role: frame.mask ? 'server' : 'client', allowedRsvBits: ALL_RSV };

        const events = parse(stream, options, cuts.map((c) => c % (stream.length + 1)));
        const expected = frameEvent({
          fin: frame.fin,
          rsv1: frame.rsv1,
          rsv2: frame.rsv2,
          rsv3: frame.rsv3,
          opcode: frame.opcode,
          maskKey: frame.mask && toHex(frame.mask),
          payloadLength: frame.length,
          headerLength: frameHeaderLength(frame.length, frame.mask !== undefined),
          payload: toHex(payload),
        });
        expect(events[events.length - 1]).toEqual(expected);
        expect(events).toHaveLength(prefix.length > 0 ? 2 : 1);
      }),
      { numRuns: 120 },
    );
  });

  /** A valid stream of frames: fragmented and whole messages with control frames in between. */
  const validStreamArb = fc
    .array(
      fc.record({
        kind: fc.constantFrom('message', 'ping', 'close'),
        fragments: fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 4 }),
        seed: fc.integer(),
      }),
      { minLength: 1, maxLength: 6 },
    )
    .map((items) => {
      const frames: Buffer[] = [];
      for (const item of items) {
        if (item.kind !== 'message') {
          frames.push(encodeFrame(item.kind === 'ping' ? Opcode.Ping : Opcode.Close, pseudoRandomBytes(item.fragments[0] % 126, item.seed), { mask: true }));
          continue;
        }
        item.fragments.forEach((length, i) => {
          const opcode = i === 0 ? Opcode.Binary : Opcode.Continuation;
          frames.push(encodeFrame(opcode, pseudoRandomBytes(length, item.seed + i), { fin: i === item.fragments.length - 1, mask: true }));
        });
      }
      return Buffer.concat(frames);
    });

  const mutationsArb = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 });

  function checkOneErrorAtMost(events: readonly ParserEvent[]): void {
    const errorIndex = events.findIndex((e) => e.kind === 'error');
    if (errorIndex !== -1) {
      expect(errorIndex).toBe(events.length - 1);
      const error = events[errorIndex];
      expect(error.kind === 'error' && [1002, 1009].includes(error.closeCode)).toBe(true);
    }
  }

  it('any byte stream: never throws; frames, then at most one error (1002 or 1009), then nothing; any split gives the same', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom<FrameParserOptions['role']>('server', 'client'),
        cutsArb,
        (bytes, role, cuts) => {
          const options: FrameParserOptions = { role, maxMessageSize: 200 };
          const whole = parse(bytes, options);
          checkOneErrorAtMost(whole);
          expect(parse(bytes, options, cuts.map((c) => c % (bytes.length + 1)))).toEqual(whole);
          expect(parseByteByByte(bytes, options)).toEqual(whole);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('mutations of valid streams: never throws; frames, then at most one error, then nothing; any split gives the same', () => {
    fc.assert(
      fc.property(validStreamArb, mutationsArb, cutsArb, (valid, mutations, cuts) => {
        const bytes = Buffer.from(valid);
        for (const [position, value] of mutations) bytes[position % bytes.length] = value;
        const options: FrameParserOptions = { role: 'server', maxMessageSize: 500 };
        const whole = parse(bytes, options);
        checkOneErrorAtMost(whole);
        expect(parse(bytes, options, cuts.map((c) => c % (bytes.length + 1)))).toEqual(whole);
      }),
      { numRuns: 1500 },
    );
  });

  it('valid streams dribbled in short reads (1 to 40 bytes, now and then a long one) give the same frames as whole', () => {
    // Short reads that wait behind older bytes are copied into blocks (the parser's `block`):
    // many of them, across frame boundaries and block ends, must change nothing.
    const readSizesArb = fc.array(fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 40 }) }, { weight: 1, arbitrary: fc.integer({ min: 41, max: 2000 }) }), {
      minLength: 1,
      maxLength: 60,
    });
    fc.assert(
      fc.property(validStreamArb, readSizesArb, (valid, sizes) => {
        const whole = parse(valid, { role: 'server' });
        const cuts: number[] = [];
        for (let offset = 0, i = 0; offset < valid.length; i++) cuts.push((offset += sizes[i % sizes.length]));
        expect(parse(valid, { role: 'server' }, cuts.filter((cut) => cut < valid.length))).toEqual(whole);
      }),
      { numRuns: 500 },
    );
  });

  it('unmutated valid streams give no error, however they are split', () => {
    fc.assert(
      fc.property(validStreamArb, cutsArb, (valid, cuts) => {
        const events = parse(valid, { role: 'server' }, cuts.map((c) => c % (valid.length + 1)));
        expect(events.every((e) => e.kind === 'frame')).toBe(true);
        expect(events.reduce((sum, e) => sum + (e.kind === 'frame' ? e.headerLength + e.payloadLength : 0), 0)).toBe(valid.length);
      }),
      { numRuns: 300 },
    );
  });

  it('discardDataPayloads: the same frames and errors, split anywhere, with data payloads empty and control payloads kept', () => {
    fc.assert(
      fc.property(validStreamArb, fc.option(mutationsArb, { nil: undefined }), cutsArb, (valid, mutations, cuts) => {
        const bytes = Buffer.from(valid);
        for (const [position, value] of mutations ?? []) bytes[position % bytes.length] = value;
        const options: FrameParserOptions = { role: 'server', maxMessageSize: 500 };
        const delivered = parse(bytes, options);
        const withoutDataPayloads = delivered.map((e) => (e.kind === 'frame' && (e.opcode & 0x8) === 0 ? { ...e, payload: '' } : e));
        const discarding = { ...options, discardDataPayloads: true };
        expect(parse(bytes, discarding, cuts.map((c) => c % (bytes.length + 1)))).toEqual(withoutDataPayloads);
        expect(parse(bytes, discarding)).toEqual(withoutDataPayloads);
      }),
      { numRuns: 1000 },
    );
  });
});

/**
 * Feeds `bytes` in pieces as `parse` does, but lets the parser read at most `budget` frames at a
 * time, resuming until it says nothing waits; checks that no call reports more than the budget.
 */
function parseInTurns(bytes: Uint8Array, options: FrameParserOptions, cuts: readonly number[], budget: number): ParserEvent[] {
  const { parser, events } = recordingParser(options);
  let seen = 0;
  const frames = (): number => events.length - seen;
  for (const piece of splitAt(Buffer.from(bytes), cuts)) {
    let more = parser.push(piece, budget);
    expect(frames()).toBeLessThanOrEqual(budget);
    seen = events.length;
    while (more) {
      more = parser.resume(budget);
      expect(frames()).toBeLessThanOrEqual(budget);
      seen = events.length;
    }
  }
  return events;
}

describe('taking turns: push and resume read at most a budget of frames at a time', () => {
  const ping = (text: string): Buffer => encodeFrame(Opcode.Ping, Buffer.from(text), { mask: RFC_KEY });
  const pingEvent = (text: string): ParserEvent =>
    frameEvent({ opcode: Opcode.Ping, maskKey: toHex(RFC_KEY), payloadLength: text.length, headerLength: 6, payload: toHex(Buffer.from(text)) });

  it('ten pings with a budget of 3: push reads 3 and says more wait; each resume reads 3 more; the last one 1 and says none wait', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    const texts = Array.from({ length: 10 }, (_, i) => `ping ${i}`);
    expect(parser.push(Buffer.concat(texts.map(ping)), 3)).toBe(true);
    expect(events).toEqual(texts.slice(0, 3).map(pingEvent));
    expect(parser.resume(3)).toBe(true);
    expect(parser.resume(3)).toBe(true);
    expect(events).toEqual(texts.slice(0, 9).map(pingEvent));
    expect(parser.resume(3)).toBe(false);
    expect(events).toEqual(texts.map(pingEvent));
    expect(parser.bufferedBytes).toBe(0);
  });

  it('a budget used up exactly by the frames there are: nothing waits; followed by half a frame: resume finds only that', () => {
    const { parser, events } = recordingParser({ role: 'server' });
    expect(parser.push(Buffer.concat([ping('a'), ping('b')]), 2)).toBe(false);
    expect(events).toHaveLength(2);
    const half = ping('c').subarray(0, 3);
    // Bytes wait, so the parser cannot tell that they are not a frame before it looks: true, then
    // resume finds only half a frame and says so.
    expect(parser.push(Buffer.concat([ping('d'), half]), 1)).toBe(true);
    expect(parser.resume(1)).toBe(false);
    expect(events).toHaveLength(3);
    // The rest of the half frame completes it.
    expect(parser.push(ping('c').subarray(3), 1)).toBe(false);
    expect(events.at(-1)).toEqual(pingEvent('c'));
  });

  it('after an error or stop(), push and resume say nothing waits', () => {
    const { parser } = recordingParser({ role: 'server' });
    expect(parser.push(Buffer.concat([ping('a'), ping('b'), hex('83 80 00 00 00 00'), ping('c')]), 1)).toBe(true);
    expect(parser.resume(5)).toBe(false); // the reserved opcode 0x3 failed the stream
    expect(parser.stopped).toBe(true);
    expect(parser.push(ping('d'), 1)).toBe(false);
    expect(parser.resume(1)).toBe(false);
  });

  it('property: any stream (valid, mutated or garbage), split anywhere, read with any budget gives the same frames and error as at once', () => {
    const validStreamArb = fc
      .array(fc.tuple(fc.constantFrom(Opcode.Binary, Opcode.Ping, Opcode.Text), fc.integer({ min: 0, max: 125 }), fc.integer(), fc.boolean()), {
        minLength: 1,
        maxLength: 40,
      })
      .map((frames) => {
        let open = false;
        return Buffer.concat(
          frames.map(([opcode, length, seed, fin]) => {
            const control = opcode === Opcode.Ping;
            const data = control ? opcode : open ? Opcode.Continuation : opcode;
            if (!control) open = !fin;
            return encodeFrame(data, pseudoRandomBytes(length, seed), { fin: control || fin, mask: true });
          }),
        );
      });
    const streamArb = fc.oneof(
      validStreamArb,
      fc.tuple(validStreamArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 })).map(([valid, mutations]) => {
        const bytes = Buffer.from(valid);
        for (const [position, value] of mutations) bytes[position % bytes.length] = value;
        return bytes;
      }),
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
    );
    fc.assert(
      fc.property(streamArb, cutsArb, fc.integer({ min: 1, max: 6 }), (bytes, cuts, budget) => {
        const options: FrameParserOptions = { role: 'server', maxMessageSize: 2000, maxFragmentsPerMessage: 8 };
        const whole = parse(bytes, options);
        expect(parseInTurns(bytes, options, cuts.map((c) => c % (bytes.length + 1)), budget)).toEqual(whole);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('RFC 6455 10.4: a message in more fragments than maxFragmentsPerMessage fails with 1009 at the header of the first too many', () => {
  const fragment = (opcode: number, fin: boolean): Buffer => encodeFrame(opcode, Buffer.from('x'), { fin, mask: RFC_KEY });

  it('with a limit of 4: four fragments (a ping between them not counted) are read; the header of a fifth fails at once', () => {
    const { parser, events } = recordingParser({ role: 'server', maxFragmentsPerMessage: 4 });
    parser.push(Buffer.concat([fragment(Opcode.Text, false), fragment(Opcode.Continuation, false), encodeFrame(Opcode.Ping, Buffer.alloc(0), { mask: RFC_KEY })]));
    parser.push(Buffer.concat([fragment(Opcode.Continuation, false), fragment(Opcode.Continuation, false)]));
    expect(events).toHaveLength(5);
    parser.push(fragment(Opcode.Continuation, true).subarray(0, 2)); // the fifth's first two bytes: its length is known
    expect(events.at(-1)).toEqual({ kind: 'error', code: 'TOO_MANY_FRAGMENTS', closeCode: 1009 });
    expect(parser.stopped).toBe(true);
  });

  it('the count starts again with each message: two messages of four fragments each pass a limit of 4', () => {
    const message = [fragment(Opcode.Binary, false), fragment(Opcode.Continuation, false), fragment(Opcode.Continuation, false), fragment(Opcode.Continuation, true)];
    const events = parse(Buffer.concat([...message, ...message]), { role: 'server', maxFragmentsPerMessage: 4 });
    expect(events).toHaveLength(8);
    expect(events.every((event) => event.kind === 'frame')).toBe(true);
  });

  it(`by default (${ProtocolDefaults.maxFragmentsPerMessage}): a message of exactly that many one-byte fragments is read; one more fails with 1009`, () => {
    const limit = ProtocolDefaults.maxFragmentsPerMessage;
    const { parser, events } = recordingParser({ role: 'server' });
    let frames = 0;
    let error: ParserEvent | undefined;
    const counting = new FrameParser(
      {
        onFrame: () => frames++,
        onFrameError: (e) => {
          error = { kind: 'error', code: e.code, closeCode: e.closeCode };
        },
      },
      { role: 'server' },
    );
    const first = fragment(Opcode.Text, false);
    const middle = fragment(Opcode.Continuation, false);
    const chunk = Buffer.concat(Array.from({ length: 1024 }, () => middle));
    counting.push(Buffer.from(first));
    while (frames + 1024 < limit) counting.push(Buffer.from(chunk));
    while (frames < limit - 1) counting.push(Buffer.from(middle));
    counting.push(fragment(Opcode.Continuation, true));
    expect({ frames, error }).toEqual({ frames: limit, error: undefined });
    // The same again, with one fragment more before the last: the last is one too many.
    parser.push(Buffer.from(first));
    for (let sent = 1; sent < limit; sent++) parser.push(Buffer.from(middle));
    expect(events).toHaveLength(limit);
    parser.push(fragment(Opcode.Continuation, true));
    expect(events.at(-1)).toEqual({ kind: 'error', code: 'TOO_MANY_FRAGMENTS', closeCode: 1009 });
  });

  it('a limit that is not a whole number from 1 is refused when the parser is made', () => {
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      expect(() => new FrameParser({ onFrame() {}, onFrameError() {} }, { role: 'server', maxFragmentsPerMessage: limit })).toThrow(RangeError);
    }
  });
});

describe('discardDataPayloads: a reader that needs frames but not their contents', () => {
  it('the RFC 6455 5.7 masked "Hello": its header, payloadLength 5, an empty payload; a masked Ping keeps "Hello"', () => {
    const options: FrameParserOptions = { role: 'server', discardDataPayloads: true };
    const text = hex('81 85 37 fa 21 3d 7f 9f 4d 51 58');
    const ping = hex('89 85 37 fa 21 3d 7f 9f 4d 51 58');
    expect(parseByteByByte(Buffer.concat([text, ping]), options)).toEqual([
      frameEvent({ opcode: Opcode.Text, maskKey: toHex(RFC_KEY), payloadLength: 5, headerLength: 6, payload: '' }),
      frameEvent({ opcode: Opcode.Ping, maskKey: toHex(RFC_KEY), payloadLength: 5, headerLength: 6, payload: HELLO }),
    ]);
  });

  it('the size limit still holds: a declared length over maxMessageSize fails with 1009 after the header', () => {
    const options: FrameParserOptions = { role: 'client', maxMessageSize: 1000, discardDataPayloads: true };
    expect(parse(hex('82 7e 03 e9'), options)).toEqual([errorEvent('MESSAGE_TOO_BIG', 1009)]);
  });

  it('nothing of a dropped payload stays buffered', () => {
    const { parser, events } = recordingParser({ role: 'client', discardDataPayloads: true });
    parser.push(Buffer.concat([hex('82 7e 01 00'), Buffer.alloc(200)]));
    expect(parser.bufferedBytes).toBe(204 - 4);
    parser.push(Buffer.concat([Buffer.alloc(56), hex('8a 00')]));
    expect(parser.bufferedBytes).toBe(0);
    expect(events.map((e) => (e.kind === 'frame' ? [e.opcode, e.payloadLength, e.payload] : e))).toEqual([
      [Opcode.Binary, 256, ''],
      [Opcode.Pong, 0, ''],
    ]);
  });
});

/**
 * What a parser with an `onPartialPayload` handler reported: frames (payload as hex) and the
 * partial payloads handed over before them, copied out at once.
 */
type PartialEvent = { kind: 'part'; opcode: number; bytes: string } | { kind: 'frame'; opcode: number; payload: string } | { kind: 'error'; code: ViolationCode };

function partialRecordingParser(options: FrameParserOptions, onPart?: (parser: FrameParser, bytes: Buffer) => void): { parser: FrameParser; events: PartialEvent[] } {
  const events: PartialEvent[] = [];
  const parser: FrameParser = new FrameParser(
    {
      onFrame: (header, payload) => events.push({ kind: 'frame', opcode: header.opcode, payload: toHex(payload) }),
      onFrameError: (error) => events.push({ kind: 'error', code: error.code }),
      onPartialPayload: (header, bytes) => {
        events.push({ kind: 'part', opcode: header.opcode, bytes: toHex(bytes) });
        onPart?.(parser, bytes);
      },
    },
    options,
  );
  return { parser, events };
}

describe('RFC 6455 8.1: a data frame still arriving is handed over, unmasked, as far as it has come', () => {
  it('the RFC 6455 5.7 masked "Hello" in three reads: "He", "l", then the whole frame', () => {
    const { parser, events } = partialRecordingParser({ role: 'server' });
    for (const piece of ['81 85 37 fa 21 3d 7f 9f', '4d', '51 58']) parser.push(hex(piece));
    expect(events).toEqual([
      { kind: 'part', opcode: Opcode.Text, bytes: toHex(Buffer.from('He')) },
      { kind: 'part', opcode: Opcode.Text, bytes: toHex(Buffer.from('l')) },
      { kind: 'frame', opcode: Opcode.Text, payload: HELLO },
    ]);
  });

  it('the masking key lines up whatever byte a read ends on: "Hello" a byte at a time', () => {
    const { parser, events } = partialRecordingParser({ role: 'server' });
    pushInPieces(parser, hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), [7, 8, 9, 10]);
    expect(events.filter((e) => e.kind === 'part').map((e) => (e.kind === 'part' ? Buffer.from(e.bytes, 'hex').toString() : ''))).toEqual(['H', 'e', 'l', 'l']);
    expect(events.at(-1)).toEqual({ kind: 'frame', opcode: Opcode.Text, payload: HELLO });
  });

  it('nothing is handed over for a frame that arrives whole, for control frames, or with discardDataPayloads', () => {
    expect(partialEvents(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), { role: 'server' }, [])).toEqual([{ kind: 'frame', opcode: Opcode.Text, payload: HELLO }]);
    expect(partialEvents(hex('89 85 37 fa 21 3d 7f 9f 4d 51 58'), { role: 'server' }, [8])).toEqual([{ kind: 'frame', opcode: Opcode.Ping, payload: HELLO }]);
    expect(partialEvents(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), { role: 'server', discardDataPayloads: true }, [8])).toEqual([
      { kind: 'frame', opcode: Opcode.Text, payload: '' },
    ]);
  });

  it('a handler that stops the parser from onPartialPayload gets nothing more, and nothing stays buffered', () => {
    const { parser, events } = partialRecordingParser({ role: 'server' }, (stopping) => stopping.stop());
    const frame = encodeFrame(Opcode.Binary, pseudoRandomBytes(5000, 3), { mask: RFC_KEY });
    parser.push(Buffer.from(frame.subarray(0, 1000)));
    parser.push(Buffer.from(frame.subarray(1000)));
    parser.push(encodeFrame(Opcode.Text, Buffer.from('after'), { mask: RFC_KEY }));
    expect(events.map((e) => e.kind)).toEqual(['part']);
    expect(parser.stopped).toBe(true);
    expect(parser.bufferedBytes).toBe(0);
  });

  it('any valid stream, split anywhere: the same frames as without the handler, and the parts of each data frame are its payload from the start, each ending at a read', () => {
    const streamArb = fc
      .array(
        fc.record({ opcode: fc.constantFrom(Opcode.Text, Opcode.Binary, Opcode.Ping), lengths: fc.array(fc.nat({ max: 3000 }), { minLength: 1, maxLength: 3 }), seed: fc.integer(), masked: fc.boolean() }),
        { minLength: 1, maxLength: 5 },
      )
      .map((items) => {
        const masked = items[0].masked;
        const frames = items.flatMap(({ opcode, lengths, seed }) =>
          opcode === Opcode.Ping
            ? [encodeFrame(opcode, pseudoRandomBytes(lengths[0] % 126, seed), { mask: masked })]
            : lengths.map((length, i) => encodeFrame(i === 0 ? opcode : Opcode.Continuation, pseudoRandomBytes(length, seed + i), { fin: i === lengths.length - 1, mask: masked })),
        );
        return { bytes: Buffer.concat(frames), role: (masked ? 'server' : 'client') as FrameParserOptions['role'] };
      });
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(), { maxLength: 12 }), ({ bytes, role }, rawCuts) => {
        const cuts = rawCuts.map((cut) => cut % (bytes.length + 1));
        const events = partialEvents(bytes, { role }, cuts);
        const frames = events.filter((e) => e.kind === 'frame');
        expect(frames).toEqual(parse(bytes, { role }).map((e) => (e.kind === 'frame' ? { kind: 'frame', opcode: e.opcode, payload: e.payload } : e)));
        let parts = '';
        for (const event of events) {
          if (event.kind === 'part') {
            expect(event.opcode & 0x8).toBe(0); // data frames only
            expect(event.bytes).not.toBe('');
            parts += event.bytes;
          } else if (event.kind === 'frame') {
            expect(event.payload.startsWith(parts)).toBe(true);
            if (parts !== '') expect(parts.length).toBeLessThan(event.payload.length);
            parts = '';
          }
        }
        // At most one part per read.
        expect(events.filter((e) => e.kind === 'part').length).toBeLessThanOrEqual(new Set(cuts).size + 1);
      }),
      { numRuns: 300 },
    );
  });
});

function partialEvents(bytes: Uint8Array, options: FrameParserOptions, cuts: readonly number[]): PartialEvent[] {
  const { parser, events } = partialRecordingParser(options);
  pushInPieces(parser, bytes, cuts);
  return events;
}
