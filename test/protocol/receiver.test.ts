/**
 * The receiver: frames in, messages out. RFC 6455 5.4 (fragmentation, control frames in the
 * middle of a message), 5.5 (Close, Ping, Pong), 5.6 and 8.1 (text is UTF-8), 10.4 (limits),
 * 7.1.7 (one error, then nothing).
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Opcode } from '../../src/protocol/constants.js';
import type { ViolationCode } from '../../src/protocol/errors.js';
import type { FrameHeader } from '../../src/protocol/frame-parser.js';
import { encodeCloseFrame, encodeFragmentedMessage, encodeFrame, encodeTextFrame, frameHeaderLength } from '../../src/protocol/frame-serializer.js';
import { Receiver, type ReceiverOptions } from '../../src/protocol/receiver.js';
import { isValidUtf8Reference } from '../../src/protocol/utf8.js';
import { hex, pseudoRandomBytes, pushInPieces, splitAt, toHex } from '../helpers/bytes.js';
import { earliestInvalidPrefix } from '../helpers/utf8-prefix.js';

/** The masking key of every masked example in RFC 6455 5.7. */
const RFC_KEY = hex('37 fa 21 3d');

/** What the receiver reported, in order; payloads as hex, copied out at once. */
type ReceiverEvent =
  | { kind: 'message'; isBinary: boolean; data: string }
  | { kind: 'ping'; data: string }
  | { kind: 'pong'; data: string }
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'error'; code: ViolationCode; closeCode: number };

function recordingReceiver(options: ReceiverOptions): { receiver: Receiver; events: ReceiverEvent[] } {
  const events: ReceiverEvent[] = [];
  const receiver = new Receiver(
    {
      onMessage: (data, isBinary) => events.push({ kind: 'message', isBinary, data: toHex(data) }),
      onPing: (data) => events.push({ kind: 'ping', data: toHex(data) }),
      onPong: (data) => events.push({ kind: 'pong', data: toHex(data) }),
      onClose: (info) => events.push({ kind: 'close', code: info.code, reason: info.reason }),
      onError: (error) => events.push({ kind: 'error', code: error.code, closeCode: error.closeCode }),
    },
    options,
  );
  return { receiver, events };
}

/** Feeds a copy of `bytes` (the receiver unmasks in place) in pieces cut at `cuts`. */
function receive(bytes: Uint8Array, options: ReceiverOptions, cuts: readonly number[] = []): ReceiverEvent[] {
  const { receiver, events } = recordingReceiver(options);
  pushInPieces(receiver, bytes, cuts);
  return events;
}

const text = (value: string): ReceiverEvent => ({ kind: 'message', isBinary: false, data: toHex(Buffer.from(value)) });
const binary = (data: Uint8Array): ReceiverEvent => ({ kind: 'message', isBinary: true, data: toHex(data) });
const failure = (code: ViolationCode, closeCode: number): ReceiverEvent => ({ kind: 'error', code, closeCode });

describe('RFC 6455 5.7 examples, received as messages', () => {
  it('a single-frame unmasked text message is "Hello"', () => {
    expect(receive(hex('81 05 48 65 6c 6c 6f'), { role: 'client' })).toEqual([text('Hello')]);
  });

  it('a single-frame masked text message is "Hello"', () => {
    expect(receive(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), { role: 'server' })).toEqual([text('Hello')]);
  });

  it('a fragmented unmasked text message, "Hel" + "lo", is one message "Hello"', () => {
    const { receiver, events } = recordingReceiver({ role: 'client' });
    receiver.push(hex('01 03 48 65 6c'));
    expect(events).toEqual([]);
    expect(receiver.bufferedBytes).toBe(3);
    receiver.push(hex('80 02 6c 6f'));
    expect(events).toEqual([text('Hello')]);
    expect(receiver.bufferedBytes).toBe(0);
  });

  it('an unmasked Ping carries "Hello" to onPing', () => {
    expect(receive(hex('89 05 48 65 6c 6c 6f'), { role: 'client' })).toEqual([{ kind: 'ping', data: toHex(Buffer.from('Hello')) }]);
  });

  it('a masked Pong carries "Hello" to onPong', () => {
    expect(receive(hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'), { role: 'server' })).toEqual([
      { kind: 'pong', data: toHex(Buffer.from('Hello')) },
    ]);
  });

  it('256 bytes binary, 0x82 0x7E 0x0100, is one binary message', () => {
    const data = Buffer.alloc(256, 0xc3);
    expect(receive(Buffer.concat([hex('82 7e 01 00'), data]), { role: 'client' })).toEqual([binary(data)]);
  });

  it('64 KiB binary, 0x82 0x7F 0x0000000000010000, is one binary message', () => {
    const data = Buffer.alloc(65536);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    expect(receive(Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), data]), { role: 'client' }, [3, 30000])).toEqual([binary(data)]);
  });
});

describe('RFC 6455 5.4 Fragmentation: control frames in the middle of a fragmented message', () => {
  it('a Ping and a Pong between fragments are reported when they arrive; the message when it ends', () => {
    const stream = hex('01 03 48 65 6c  89 01 21  8a 00  80 02 6c 6f');
    expect(receive(stream, { role: 'client' })).toEqual([
      { kind: 'ping', data: '21' },
      { kind: 'pong', data: '' },
      text('Hello'),
    ]);
  });

  it('a binary message keeps its type through its continuations', () => {
    expect(receive(hex('02 01 01  00 01 02  80 01 03'), { role: 'client' })).toEqual([binary(hex('010203'))]);
  });

  it('a Close in the middle of a fragmented message closes; the rest is ignored', () => {
    expect(receive(hex('01 03 48 65 6c  88 02 03 e8  80 02 6c 6f'), { role: 'client' })).toEqual([
      { kind: 'close', code: 1000, reason: '' },
    ]);
  });

  it('a continuation with nothing to continue fails with 1002', () => {
    expect(receive(hex('80 02 6c 6f'), { role: 'client' })).toEqual([failure('UNEXPECTED_CONTINUATION', 1002)]);
  });

  it('a new text frame inside a fragmented message fails with 1002', () => {
    expect(receive(hex('01 03 48 65 6c  81 02 6c 6f'), { role: 'client' })).toEqual([failure('EXPECTED_CONTINUATION', 1002)]);
  });

  it('two messages in a row are two messages, and an empty one is a message too', () => {
    expect(receive(hex('81 01 61  82 00  01 00 80 00'), { role: 'client' })).toEqual([text('a'), binary(hex('')), text('')]);
  });
});

describe('RFC 6455 5.5.1 Close: the body read into a code and reason', () => {
  it('03 e8 "bye" is 1000 "bye", and input after the Close is ignored', () => {
    const { receiver, events } = recordingReceiver({ role: 'client' });
    receiver.push(hex('88 05 03 e8 62 79 65  81 01 61'));
    receiver.push(hex('81 01 62'));
    expect(events).toEqual([{ kind: 'close', code: 1000, reason: 'bye' }]);
    expect(receiver.stopped).toBe(true);
    expect(receiver.bufferedBytes).toBe(0);
  });

  it('a masked Close from a client: encodeCloseFrame(1001, "going") round trip', () => {
    expect(receive(encodeCloseFrame(1001, 'going', { mask: RFC_KEY }), { role: 'server' })).toEqual([
      { kind: 'close', code: 1001, reason: 'going' },
    ]);
  });

  it('an empty body reports 1005', () => {
    expect(receive(hex('88 00'), { role: 'client' })).toEqual([{ kind: 'close', code: 1005, reason: '' }]);
  });

  it('a 1-byte body fails with CLOSE_PAYLOAD_ONE_BYTE, 1002', () => {
    expect(receive(hex('88 01 03'), { role: 'client' })).toEqual([failure('CLOSE_PAYLOAD_ONE_BYTE', 1002)]);
  });

  it('code 1005 on the wire fails with 1002', () => {
    expect(receive(hex('88 02 03 ed'), { role: 'client' })).toEqual([failure('INVALID_CLOSE_CODE', 1002)]);
  });

  it('a reason that is not UTF-8 fails with 1007', () => {
    expect(receive(hex('88 04 03 e8 c0 80'), { role: 'client' })).toEqual([failure('INVALID_CLOSE_REASON_UTF8', 1007)]);
  });
});

describe('RFC 6455 8.1: a text message that is not valid UTF-8 fails the connection with 1007', () => {
  it('a single text frame with an invalid byte', () => {
    expect(receive(hex('81 03 61 ff 62'), { role: 'client' })).toEqual([failure('INVALID_UTF8', 1007)]);
  });

  it('a single text frame ending in the middle of a character', () => {
    expect(receive(hex('81 02 e2 82'), { role: 'client' })).toEqual([failure('INVALID_UTF8', 1007)]);
  });

  it('the same bytes in a binary message are fine (binary is not validated)', () => {
    expect(receive(hex('82 03 61 ff 62'), { role: 'client' })).toEqual([binary(hex('61 ff 62'))]);
  });

  it('a character split across fragments is fine: "€" as e2 | 82 | ac', () => {
    expect(receive(hex('01 01 e2  00 01 82  80 01 ac'), { role: 'client' })).toEqual([text('€')]);
  });

  it('a fragmented text message that turns invalid in its first fragment fails right after that fragment', () => {
    const { receiver, events } = recordingReceiver({ role: 'server' });
    const first = encodeFrame(Opcode.Text, hex('48 65 ed a0 80'), { fin: false, mask: RFC_KEY });
    receiver.push(Buffer.from(first));
    // The rest of the message has not been sent, and the connection is already failed.
    expect(events).toEqual([failure('INVALID_UTF8', 1007)]);
    expect(receiver.stopped).toBe(true);
    receiver.push(encodeFrame(Opcode.Continuation, Buffer.from('llo'), { mask: RFC_KEY }));
    expect(events).toHaveLength(1);
  });

  it('an overlong lead at the end of the first fragment fails as soon as the second fragment shows it', () => {
    const { receiver, events } = recordingReceiver({ role: 'client' });
    receiver.push(hex('01 02 41 e0'));
    expect(events).toEqual([]); // e0 may still start a valid character
    receiver.push(hex('00 01 80'));
    expect(events).toEqual([failure('INVALID_UTF8', 1007)]);
  });

  it('a fragmented text message that ends in the middle of a character fails at its final fragment', () => {
    const { receiver, events } = recordingReceiver({ role: 'client' });
    receiver.push(hex('01 01 41'));
    receiver.push(hex('00 01 e2'));
    expect(events).toEqual([]);
    receiver.push(hex('80 01 82'));
    expect(events).toEqual([failure('INVALID_UTF8', 1007)]);
  });

  it('after a complete text message the validator starts afresh: a message may start with a new character', () => {
    expect(receive(hex('01 01 e2  80 02 82 ac  01 01 c3  80 01 a9'), { role: 'client' })).toEqual([text('€'), text('é')]);
  });
});

describe('RFC 6455 8.1, 5.6: inside one frame too, text fails at the read that makes it invalid', () => {
  it('a text frame whose first read carries an invalid sequence fails at once; the rest of the frame is not needed', () => {
    const { receiver, events } = recordingReceiver({ role: 'server' });
    const frame = encodeFrame(Opcode.Text, Buffer.concat([Buffer.from('κόσμε'), hex('ed a0 80'), Buffer.from(' edited, and much more')]), { mask: RFC_KEY });
    receiver.push(Buffer.from(frame.subarray(0, 6 + 14))); // header, key, "κόσμε" (11 bytes) and ED A0 80
    expect(events).toEqual([failure('INVALID_UTF8', 1007)]);
    expect(receiver.stopped).toBe(true);
    expect(receiver.bufferedBytes).toBe(0);
    receiver.push(Buffer.from(frame.subarray(20)));
    expect(events).toHaveLength(1);
  });

  it('E0 ending one read is still possible text; 80 starting the next makes an overlong form and fails there', () => {
    const { receiver, events } = recordingReceiver({ role: 'client' });
    receiver.push(hex('81 04 41 e0'));
    expect(events).toEqual([]);
    receiver.push(hex('80'));
    expect(events).toEqual([failure('INVALID_UTF8', 1007)]);
  });

  it('a character cut by a read is fine: "€" as e2 | 82 | ac inside one frame', () => {
    const { receiver, events } = recordingReceiver({ role: 'server' });
    pushInPieces(receiver, encodeFrame(Opcode.Text, Buffer.from('a€b'), { mask: RFC_KEY }), [7, 8, 9]);
    expect(events).toEqual([text('a€b')]);
  });

  it('a frame that ends inside a character fails when its last byte arrives, not before', () => {
    const { receiver, events } = recordingReceiver({ role: 'client' });
    receiver.push(hex('81 03 41 42'));
    receiver.push(hex('e2'));
    expect(events).toEqual([failure('INVALID_UTF8', 1007)]);
  });

  it('the continuation frame of a fragmented text message fails fast inside itself too', () => {
    const { receiver, events } = recordingReceiver({ role: 'client' });
    receiver.push(hex('01 02 6f 6b'));
    receiver.push(hex('80 7e 01 00 41 ff'));
    expect(events).toEqual([failure('INVALID_UTF8', 1007)]);
  });

  it('binary frames in pieces are not validated', () => {
    const data = hex('61 ff c0 80 ed a0 80');
    expect(receive(encodeFrame(Opcode.Binary, data, { mask: RFC_KEY }), { role: 'server' }, [7, 8, 9, 10])).toEqual([binary(data)]);
  });

  it('1.25 MiB of text in 64 KiB reads is validated as it comes and delivered once, whole', () => {
    const data = Buffer.from('κόσμε 😀 '.repeat(80_000));
    const frame = encodeFrame(Opcode.Text, data, { mask: true });
    const { receiver, last } = lastMessageReceiver({ role: 'server' });
    pushInPieces(receiver, frame, Array.from({ length: Math.floor(frame.length / 65536) }, (_, i) => (i + 1) * 65536));
    expect(last()?.equals(data)).toBe(true);
  });
});

/** Bytes biased towards the interesting ones: lead bytes, continuations and the boundary values. */
const utf8ishByte = fc.oneof(
  fc.integer({ min: 0, max: 255 }),
  fc.constantFrom(0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf3, 0xf4, 0xf5, 0xff),
);
/** Valid UTF-8 of any code point, a few bytes overwritten, inserted or cut off (or none). */
const textBytesArb = fc
  .tuple(fc.string({ unit: 'binary', maxLength: 120 }), fc.array(fc.tuple(fc.constantFrom('set', 'insert'), fc.nat(), utf8ishByte), { maxLength: 2 }), fc.option(fc.nat(), { nil: undefined }))
  .map(([value, mutations, truncateAt]) => {
    const bytes = [...Buffer.from(value, 'utf8')];
    for (const [kind, position, byte] of mutations) {
      if (kind === 'set' && bytes.length > 0) bytes[position % bytes.length] = byte;
      else bytes.splice(position % (bytes.length + 1), 0, byte);
    }
    if (truncateAt !== undefined) bytes.length = Math.min(bytes.length, truncateAt % (bytes.length + 1));
    return Buffer.from(bytes);
  });

/** A text message as frames (masked or not, fragmented or not, pings between), and where each of its bytes lies in the stream. */
interface TextStream {
  bytes: Buffer;
  role: ReceiverOptions['role'];
  message: Buffer;
  /** Stream offset of each message byte. */
  offsets: number[];
  /** Stream offset of the last byte of the final frame: where the message ends. */
  endOffset: number;
}

const textStreamArb = fc
  .record({
    message: textBytesArb,
    masked: fc.boolean(),
    fragmentSizes: fc.array(fc.nat({ max: 40 }), { maxLength: 6 }),
    pingsAfter: fc.array(fc.nat(), { maxLength: 2 }),
    before: fc.boolean(),
  })
  .map(({ message, masked, fragmentSizes, pingsAfter, before }): TextStream => {
    const frames: Buffer[] = [];
    // Sometimes a valid message first, so that the text does not start the stream.
    if (before) frames.push(encodeFrame(Opcode.Binary, pseudoRandomBytes(30, 1), { mask: masked }));
    // Fragment sizes until the message is used up; the last fragment takes the rest.
    const sizes: number[] = [];
    let left = message.length;
    for (const size of fragmentSizes) {
      if (size >= left) break;
      sizes.push(size);
      left -= size;
    }
    sizes.push(left);
    const offsets: number[] = [];
    let at = frames.reduce((sum, frame) => sum + frame.length, 0);
    let consumed = 0;
    let endOffset = 0;
    sizes.forEach((size, i) => {
      const fin = i === sizes.length - 1;
      const frame = encodeFrame(i === 0 ? Opcode.Text : Opcode.Continuation, message.subarray(consumed, consumed + size), { fin, mask: masked });
      const payloadStart = at + frameHeaderLength(size, masked);
      for (let k = 0; k < size; k++) offsets.push(payloadStart + k);
      consumed += size;
      at += frame.length;
      endOffset = at - 1;
      frames.push(frame);
      if (!fin && pingsAfter.some((p) => p % sizes.length === i)) {
        const ping = encodeFrame(Opcode.Ping, Buffer.from('between'), { mask: masked });
        at += ping.length;
        frames.push(ping);
      }
    });
    return { bytes: Buffer.concat(frames), role: masked ? 'server' : 'client', message, offsets, endOffset };
  });

/** Pushes the pieces one by one; the index of the piece after which the first error was reported, or -1. */
function pieceOfFirstError(receiver: Receiver, events: readonly ReceiverEvent[], pieces: readonly Buffer[]): number {
  for (let i = 0; i < pieces.length; i++) {
    receiver.push(pieces[i]);
    if (events.some((e) => e.kind === 'error')) return i;
  }
  return -1;
}

describe('RFC 6455 8.1, 5.6: any split of any text stream fails at the earliest possible byte', () => {
  it('the 1007 comes with the read that brings the first byte no valid text can have there (or the end of a message cut inside a character), never before, never after', () => {
    let failedEarly = 0;
    fc.assert(
      fc.property(textStreamArb, fc.array(fc.nat(), { maxLength: 10 }), (stream, rawCuts) => {
        const cuts = [...new Set(rawCuts.map((cut) => cut % (stream.bytes.length + 1)))].sort((a, b) => a - b);
        const pieces = splitAt(Buffer.from(stream.bytes), cuts).filter((piece) => piece.length > 0);
        // Which piece holds a given stream offset.
        const pieceOf = (offset: number): number => {
          let end = 0;
          for (let i = 0; i < pieces.length; i++) if (offset < (end += pieces[i].length)) return i;
          throw new Error('offset past the stream');
        };
        const earliest = earliestInvalidPrefix(stream.message);
        const failsAt = earliest !== undefined ? stream.offsets[earliest - 1] : isValidUtf8Reference(stream.message) ? undefined : stream.endOffset;
        const { receiver, events } = recordingReceiver({ role: stream.role });
        const piece = pieceOfFirstError(receiver, events, pieces);
        if (failsAt === undefined) {
          expect(piece).toBe(-1);
          expect(events.filter((e) => e.kind === 'message' && !e.isBinary)).toEqual([text(stream.message.toString())]);
          return;
        }
        expect(piece).toBe(pieceOf(failsAt));
        expect(events.at(-1)).toEqual(failure('INVALID_UTF8', 1007));
        expect(events.filter((e) => e.kind === 'message' && !e.isBinary)).toEqual([]);
        if (failsAt < stream.endOffset && pieceOf(failsAt) < pieceOf(stream.endOffset)) failedEarly++;
      }),
      { numRuns: 2000 },
    );
    // Most invalid texts were caught before their message was complete: the property tested fail-fast, not just the verdict.
    expect(failedEarly).toBeGreaterThan(200);
  });
});

/** A Receiver that expects only messages and keeps the last one; anything else fails the test. */
function lastMessageReceiver(options: ReceiverOptions): { receiver: Receiver; last: () => Buffer | undefined } {
  let received: Buffer | undefined;
  const receiver = new Receiver(
    {
      onMessage: (data) => {
        received = data;
      },
      onPing: () => {},
      onPong: () => {},
      onClose: () => {},
      onError: (error) => {
        throw new Error(error.code);
      },
    },
    options,
  );
  return { receiver, last: () => received };
}

describe('RFC 6455 10.4: maxMessageSize over all fragments, 1009 beyond it', () => {
  it('fragments adding up to one byte over the limit fail with 1009 at the header of the last', () => {
    const frames = encodeFragmentedMessage(Opcode.Binary, Buffer.alloc(1001), 250, { mask: RFC_KEY });
    const { receiver, events } = recordingReceiver({ role: 'server', maxMessageSize: 1000 });
    for (const frame of frames.slice(0, 4)) receiver.push(Buffer.from(frame));
    expect(events).toEqual([]);
    receiver.push(Buffer.from(frames[4].subarray(0, 2))); // just the header of the 1-byte fragment
    expect(events).toEqual([failure('MESSAGE_TOO_BIG', 1009)]);
  });

  it('the buffer that gathers fragments never grows past the limit (doubling stops there)', () => {
    const limit = 100_000;
    const payload = pseudoRandomBytes(99_000, 3);
    const { receiver, last } = lastMessageReceiver({ role: 'server', maxMessageSize: limit });
    for (const frame of encodeFragmentedMessage(Opcode.Binary, payload, 1000, { mask: true })) receiver.push(frame);
    expect(last()?.equals(payload)).toBe(true);
    // The message is a view of the gathering buffer: its memory is what the fragments took.
    expect(last()!.buffer.byteLength).toBeLessThanOrEqual(limit);
  });

  it('exactly at the limit is one message', () => {
    const frames = encodeFragmentedMessage(Opcode.Binary, Buffer.alloc(1000, 9), 250, { mask: RFC_KEY });
    expect(receive(Buffer.concat(frames), { role: 'server', maxMessageSize: 1000 })).toEqual([binary(Buffer.alloc(1000, 9))]);
  });
});

describe('RFC 6455 5.4: a 4 MiB message in 65,536 fragments', () => {
  it('is reassembled, and bufferedBytes is the payload held so far, never more', () => {
    const size = 4 * 1024 * 1024;
    const fragmentSize = 64;
    const payload = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) payload[i] = (i * 31 + (i >>> 10)) & 0xff;
    const frames = encodeFragmentedMessage(Opcode.Binary, payload, fragmentSize, { mask: true });
    expect(frames).toHaveLength(65536);

    const { receiver, last } = lastMessageReceiver({ role: 'server' });
    let mismatches = 0;
    let worstRatio = 0;
    for (let i = 0; i < frames.length - 1; i++) {
      receiver.push(frames[i]);
      const payloadSoFar = (i + 1) * fragmentSize;
      if (receiver.bufferedBytes !== payloadSoFar) mismatches++;
      worstRatio = Math.max(worstRatio, receiver.bufferedBytes / payloadSoFar);
    }
    expect(mismatches).toBe(0);
    expect(worstRatio).toBeLessThan(3);
    expect(last()).toBeUndefined();
    receiver.push(frames[frames.length - 1]);
    expect(last()?.length).toBe(size);
    expect(last()?.equals(payload)).toBe(true);
    expect(receiver.bufferedBytes).toBe(0);
  });
});

describe('RFC 6455 5.4: gathering a message from many fragments costs memory and copying in proportion to its bytes', () => {
  /**
   * Receives a text message of `count` fragments of 64 bytes, in socket-sized reads of 64 KiB,
   * counting what Buffer.allocUnsafe is asked for and what Buffer.prototype.copy copies meanwhile.
   */
  function gather(count: number): { size: number; allocated: number; allocations: number; copied: number } {
    const size = count * 64;
    const payload = Buffer.alloc(size, 'abcdefgh');
    const stream = Buffer.concat(encodeFragmentedMessage(Opcode.Text, payload, 64, { mask: true }));
    const { receiver, last } = lastMessageReceiver({ role: 'server' });
    const allocate = vi.spyOn(Buffer, 'allocUnsafe');
    const copy = vi.spyOn(Buffer.prototype, 'copy');
    try {
      for (let offset = 0; offset < stream.length; offset += 64 * 1024) receiver.push(stream.subarray(offset, offset + 64 * 1024));
      const allocated = allocate.mock.calls.reduce((sum, [bytes]) => sum + bytes, 0);
      const copied = copy.mock.results.reduce((sum, result) => sum + (result.type === 'return' ? (result.value as number) : 0), 0);
      expect(last()?.equals(payload)).toBe(true);
      return { size, allocated, allocations: allocate.mock.calls.length, copied };
    } finally {
      allocate.mockRestore();
      copy.mockRestore();
    }
  }

  it('4,096 and 65,536 fragments: at most 4 bytes allocated and 3 copied per message byte, and a few allocations per read, at both sizes', () => {
    for (const count of [4_096, 65_536]) {
      const { size, allocated, allocations, copied } = gather(count);
      const reads = Math.ceil((size * 70) / 64 / (64 * 1024));
      console.log(`[gather] ${count} fragments of 64 B: ${allocations} allocations, ${allocated} bytes allocated, ${copied} copied, for ${size} bytes`);
      // Doubling: the gathering buffer's sizes sum to under twice the message; the parser's own
      // allocations (a frame cut between two reads is joined) add a frame per read.
      expect(allocated).toBeLessThanOrEqual(4 * size);
      expect(copied).toBeLessThanOrEqual(3 * size);
      expect(allocations).toBeLessThanOrEqual(2 * reads + 2 * Math.log2(size));
    }
  });
});

describe('RFC 6455 5.2 frames as read, before interpretation: the observeFrame hook (for the inspector)', () => {
  it('reports opcode, FIN and payload of each frame, control frames included', () => {
    const seen: string[] = [];
    const observeFrame = (header: FrameHeader, payload: Buffer) =>
      seen.push(`${header.opcode}${header.fin ? 'F' : '-'}:${payload.toString('latin1')}`);
    const { receiver, events } = recordingReceiver({ role: 'client', observeFrame });
    receiver.push(hex('01 03 48 65 6c  89 01 21  80 02 6c 6f  88 00'));
    expect(seen).toEqual(['1-:Hel', '9F:!', '0F:lo', '8F:']);
    expect(events.map((e) => e.kind)).toEqual(['ping', 'message', 'close']);
  });

  it('sees a frame whose content then fails the connection', () => {
    const seen: number[] = [];
    const { receiver, events } = recordingReceiver({ role: 'client', observeFrame: (header) => seen.push(header.opcode) });
    receiver.push(hex('81 01 ff'));
    expect(seen).toEqual([1]);
    expect(events).toEqual([failure('INVALID_UTF8', 1007)]);
  });
});

// ---------------------------------------------------------------------------------------
// Properties.

const messageArb = fc.oneof(
  fc.record({ isBinary: fc.constant(false), text: fc.string({ unit: 'binary', maxLength: 300 }), length: fc.constant(0), seed: fc.constant(0) }),
  fc.record({ isBinary: fc.constant(true), text: fc.constant(''), length: fc.oneof(fc.nat({ max: 300 }), fc.nat({ max: 70000 })), seed: fc.integer() }),
);

const scenarioArb = fc.record({
  role: fc.constantFrom<ReceiverOptions['role']>('server', 'client'),
  messages: fc.array(
    fc.record({
      message: messageArb,
      fragmentSize: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 70000 })),
      // Where to inject pings: after which frames of the message (taken modulo its frame count).
      pingsAfter: fc.array(fc.nat(), { maxLength: 3 }),
      pingSeed: fc.integer(),
    }),
    { maxLength: 6 },
  ),
  cuts: fc.array(fc.nat({ max: 500_000 }), { maxLength: 8 }),
});

describe('RFC 6455 5.4, 5.5.2: any messages, any fragmentation, pings between fragments, any chunking', () => {
  it('the receiver yields exactly those messages, in order, and the pings where they were sent', () => {
    fc.assert(
      fc.property(scenarioArb, ({ role, messages, cuts }) => {
        const mask = role === 'server';
        const frames: Buffer[] = [];
        const expected: ReceiverEvent[] = [];
        for (const { message, fragmentSize, pingsAfter, pingSeed } of messages) {
          const data = message.isBinary ? pseudoRandomBytes(message.length, message.seed) : Buffer.from(message.text, 'utf8');
          const opcode = message.isBinary ? Opcode.Binary : Opcode.Text;
          const fragments = encodeFragmentedMessage(opcode, data, fragmentSize, { mask });
          const pingPositions = new Set(pingsAfter.map((p) => p % fragments.length));
          fragments.forEach((fragment, i) => {
            frames.push(fragment);
            const isLast = i === fragments.length - 1;
            // A ping may go between two fragments (RFC 6455 5.4); after the last one it is just the next frame.
            if (pingPositions.has(i) && !isLast) {
              const pingData = pseudoRandomBytes((pingSeed >>> 0) % 126, pingSeed + i);
              frames.push(encodeFrame(Opcode.Ping, pingData, { mask }));
              expected.push({ kind: 'ping', data: toHex(pingData) });
            }
          });
          expected.push({ kind: 'message', isBinary: message.isBinary, data: toHex(data) });
        }
        const stream = Buffer.concat(frames);
        const events = receive(stream, { role }, cuts.map((c) => c % (stream.length + 1)));
        expect(events).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });
});

/** A valid stream mixing text (valid UTF-8), binary, pings and pongs, fragmented, masked. */
const validStreamArb = fc
  .array(
    fc.record({
      kind: fc.constantFrom('text', 'binary', 'ping', 'pong', 'close'),
      text: fc.string({ unit: 'binary', maxLength: 60 }),
      length: fc.nat({ max: 200 }),
      fragmentSize: fc.integer({ min: 1, max: 64 }),
      seed: fc.integer(),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((items) =>
    Buffer.concat(
      items.flatMap((item): Buffer[] => {
        switch (item.kind) {
          case 'text':
            return encodeFragmentedMessage(Opcode.Text, Buffer.from(item.text, 'utf8'), item.fragmentSize, { mask: true });
          case 'binary':
            return encodeFragmentedMessage(Opcode.Binary, pseudoRandomBytes(item.length, item.seed), item.fragmentSize, { mask: true });
          case 'close':
            return [encodeCloseFrame(1000, item.text.slice(0, 20), { mask: true })];
          default:
            return [encodeFrame(item.kind === 'ping' ? Opcode.Ping : Opcode.Pong, pseudoRandomBytes(item.length % 126, item.seed), { mask: true })];
        }
      }),
    ),
  );

/** Frames, then at most one closing event (an error of 1002, 1007 or 1009, or a Close), then nothing. */
function checkEndsAtMostOnce(events: readonly ReceiverEvent[]): void {
  const endIndex = events.findIndex((e) => e.kind === 'error' || e.kind === 'close');
  if (endIndex === -1) return;
  expect(endIndex).toBe(events.length - 1);
  const end = events[endIndex];
  if (end.kind === 'error') expect([1002, 1007, 1009]).toContain(end.closeCode);
}

describe('RFC 6455 7.1.7: hostile input never throws, fails once with 1002, 1007 or 1009, then is silent', () => {
  it('arbitrary bytes, either role, split anywhere: same events whatever the split', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom<ReceiverOptions['role']>('server', 'client'),
        fc.array(fc.nat({ max: 300 }), { maxLength: 6 }),
        (bytes, role, cuts) => {
          const options: ReceiverOptions = { role, maxMessageSize: 100 };
          const whole = receive(bytes, options);
          checkEndsAtMostOnce(whole);
          expect(receive(bytes, options, cuts)).toEqual(whole);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('mutations of valid streams: same events whatever the split, and errors only of the three kinds', () => {
    const mutationsArb = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 });
    const seen = new Set<string>();
    fc.assert(
      fc.property(validStreamArb, mutationsArb, fc.array(fc.nat({ max: 3000 }), { maxLength: 6 }), (valid, mutations, cuts) => {
        const bytes = Buffer.from(valid);
        for (const [position, value] of mutations) bytes[position % bytes.length] = value;
        const options: ReceiverOptions = { role: 'server', maxMessageSize: 150 };
        const whole = receive(bytes, options);
        checkEndsAtMostOnce(whole);
        for (const e of whole) if (e.kind === 'error') seen.add(String(e.closeCode));
        expect(receive(bytes, options, cuts)).toEqual(whole);
      }),
      { numRuns: 2000 },
    );
    // The mutations did reach every kind of failure, so the check above was not vacuous.
    expect([...seen].sort()).toEqual(['1002', '1007', '1009']);
  });

  it('unmutated valid streams never fail', () => {
    fc.assert(
      fc.property(validStreamArb, fc.array(fc.nat({ max: 3000 }), { maxLength: 6 }), (valid, cuts) => {
        const events = receive(valid, { role: 'server' }, cuts);
        expect(events.filter((e) => e.kind === 'error')).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});

describe('RFC 6455 5.6: encodeTextFrame output is received as the same text', () => {
  it('any string, masked, split anywhere', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.array(fc.nat({ max: 1000 }), { maxLength: 4 }), (value, cuts) => {
        expect(receive(encodeTextFrame(value, { mask: true }), { role: 'server' }, cuts)).toEqual([text(value)]);
      }),
      { numRuns: 300 },
    );
  });
});
