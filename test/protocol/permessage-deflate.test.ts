/**
 * permessage-deflate (RFC 7692): negotiation (section 7.1), compression (7.2), and the
 * receiver's handling of compressed messages (6.1, 6.2), with the RFC's own examples.
 */
import { constants, createDeflateRaw, createInflateRaw, inflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFragmentedMessage, encodeFrame, Opcode, type ProtocolError, Receiver, RSV1_BIT } from '../../src/protocol/index.js';
import { parseExtensionOffers } from '../../src/protocol/http-tokens.js';
import { MessageDeflater, MessageInflater } from '../../src/protocol/message-compression.js';
import { acceptDeflateResponse, buildDeflateOffer, negotiateDeflate } from '../../src/protocol/permessage-deflate.js';
import { isValidUtf8Reference } from '../../src/protocol/utf8.js';
import { pseudoRandomBytes, splitAt } from '../helpers/bytes.js';
import { canStartValidUtf8 } from '../helpers/utf8-prefix.js';

function offers(header: string) {
  const parsed = parseExtensionOffers(header);
  if (parsed === undefined) throw new Error(`test header does not parse: ${header}`);
  return parsed;
}

/** Collects what a receiver reports. */
function collect(options: { inflater?: MessageInflater; maxMessageSize?: number; role?: 'server' | 'client' } = {}) {
  const messages: Array<{ data: Buffer; isBinary: boolean }> = [];
  const errors: ProtocolError[] = [];
  const receiver = new Receiver(
    {
      onMessage: (data, isBinary) => messages.push({ data: Buffer.from(data), isBinary }),
      onPing() {},
      onPong() {},
      onClose() {},
      onError: (error) => errors.push(error),
    },
    { role: options.role ?? 'server', inflater: options.inflater, maxMessageSize: options.maxMessageSize },
  );
  return { receiver, messages, errors };
}

/** Compresses with one continuous zlib stream, as a peer that keeps its context (a browser) does. */
async function streamCompress(messages: Buffer[]): Promise<Buffer[]> {
  const deflate = createDeflateRaw();
  const out: Buffer[] = [];
  const chunks: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => chunks.push(chunk));
  for (const message of messages) {
    deflate.write(message);
    await new Promise<void>((resolve) => deflate.flush(constants.Z_SYNC_FLUSH, () => resolve()));
    const whole = Buffer.concat(chunks.splice(0));
    out.push(whole.subarray(0, whole.length - 4)); // without 00 00 ff ff
  }
  deflate.close();
  return out;
}

/** Decompresses with one continuous zlib stream, as a peer that keeps its context does. */
async function streamDecompress(payloads: Buffer[]): Promise<Buffer[]> {
  const inflate = createInflateRaw();
  const out: Buffer[] = [];
  const chunks: Buffer[] = [];
  inflate.on('data', (chunk: Buffer) => chunks.push(chunk));
  for (const payload of payloads) {
    inflate.write(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]));
    await new Promise<void>((resolve) => inflate.flush(constants.Z_SYNC_FLUSH, () => resolve()));
    out.push(Buffer.concat(chunks.splice(0)));
  }
  inflate.close();
  return out;
}

describe('RFC 7692 7.1: the server accepts the first acceptable offer and answers it', () => {
  it('answers a bare offer with both no_context_takeover parameters by default', () => {
    const result = negotiateDeflate(offers('permessage-deflate'));
    expect(result?.response).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
    expect(result?.parameters).toEqual({
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 15,
    });
  });

  it('keeps context when configured to, unless the client asks otherwise (7.1.1.1)', () => {
    const policy = { serverNoContextTakeover: false, clientNoContextTakeover: false };
    expect(negotiateDeflate(offers('permessage-deflate'), policy)?.response).toBe('permessage-deflate');
    const asked = negotiateDeflate(offers('permessage-deflate; server_no_context_takeover'), policy);
    expect(asked?.response).toBe('permessage-deflate; server_no_context_takeover');
    expect(asked?.parameters.serverNoContextTakeover).toBe(true);
  });

  it('echoes a client\'s client_no_context_takeover hint, making it binding (7.1.1.2)', () => {
    const policy = { serverNoContextTakeover: false, clientNoContextTakeover: false };
    const result = negotiateDeflate(offers('permessage-deflate; client_no_context_takeover'), policy);
    expect(result?.response).toBe('permessage-deflate; client_no_context_takeover');
    expect(result?.parameters.clientNoContextTakeover).toBe(true);
  });

  it('answers server_max_window_bits with the same or a smaller value (7.1.2.1)', () => {
    expect(negotiateDeflate(offers('permessage-deflate; server_max_window_bits=10'))?.response).toContain('server_max_window_bits=10');
    const smaller = negotiateDeflate(offers('permessage-deflate; server_max_window_bits=12'), { serverMaxWindowBits: 11 });
    expect(smaller?.response).toContain('server_max_window_bits=11');
    expect(smaller?.parameters.serverMaxWindowBits).toBe(11);
    // Not offered: never answered, whatever the server uses.
    expect(negotiateDeflate(offers('permessage-deflate'), { serverMaxWindowBits: 11 })?.response).not.toContain('server_max_window_bits');
  });

  it('answers client_max_window_bits only when offered; a bare one needs no answer (7.1.2.2)', () => {
    expect(negotiateDeflate(offers('permessage-deflate; client_max_window_bits'))?.response).not.toContain('client_max_window_bits');
    const valued = negotiateDeflate(offers('permessage-deflate; client_max_window_bits=9'));
    expect(valued?.response).toContain('client_max_window_bits=9');
    expect(valued?.parameters.clientMaxWindowBits).toBe(9);
  });

  it('declines offers with unknown, repeated or invalid parameters, and takes a later valid one (7.1)', () => {
    for (const bad of [
      'permessage-deflate; unknown_param',
      'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
      'permessage-deflate; server_max_window_bits',
      'permessage-deflate; server_max_window_bits=16',
      'permessage-deflate; server_max_window_bits=7',
      'permessage-deflate; server_max_window_bits=010',
      'permessage-deflate; client_max_window_bits=abc',
      'permessage-deflate; server_no_context_takeover=1',
      'permessage-deflate; __proto__',
      'x-webkit-deflate-frame',
    ]) {
      expect(negotiateDeflate(offers(bad)), bad).toBeUndefined();
    }
    const second = negotiateDeflate(offers('permessage-deflate; constructor=1, permessage-deflate; client_max_window_bits'));
    expect(second?.response).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  });

  it('declines a 256-byte server window, which zlib cannot produce', () => {
    expect(negotiateDeflate(offers('permessage-deflate; server_max_window_bits=8'))).toBeUndefined();
  });

  it('a client checks the answer (7.1): valid parameters accepted, anything else refused', () => {
    expect(buildDeflateOffer()).toBe('permessage-deflate; client_max_window_bits');
    expect(acceptDeflateResponse('permessage-deflate; server_no_context_takeover; client_max_window_bits=10')).toEqual({
      serverNoContextTakeover: true,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 10,
    });
    expect(acceptDeflateResponse('permessage-deflate; bogus')).toBeInstanceOf(Error);
    expect(acceptDeflateResponse('permessage-deflate, permessage-deflate')).toBeInstanceOf(Error);
    expect(acceptDeflateResponse('other-extension')).toBeInstanceOf(Error);
    expect(acceptDeflateResponse('permessage-deflate; server_max_window_bits=20')).toBeInstanceOf(Error);
  });
});

describe('RFC 7692 7.2.3.1-7.2.3.2: the RFC\'s own compressed "Hello" examples', () => {
  it('compresses "Hello" to f2 48 cd c9 c9 07 00 and a frame c1 07 ...', () => {
    const compressed = new MessageDeflater(15, true).compress(Buffer.from('Hello'));
    expect(compressed.toString('hex')).toBe('f248cdc9c90700');
    expect(encodeFrame(Opcode.Text, compressed, { rsv1: true }).toString('hex')).toBe('c107f248cdc9c90700');
  });

  it('with context takeover the second "Hello" is f2 00 11 00 00, and both decode', () => {
    const deflater = new MessageDeflater(15, false);
    expect(deflater.compress(Buffer.from('Hello')).toString('hex')).toBe('f248cdc9c90700');
    expect(deflater.compress(Buffer.from('Hello')).toString('hex')).toBe('f200110000');
    const { receiver, messages, errors } = collect({ inflater: new MessageInflater(15, false), role: 'client' });
    receiver.push(Buffer.from('c107f248cdc9c90700' + 'c105f200110000', 'hex'));
    expect(errors).toEqual([]);
    expect(messages.map((message) => message.data.toString())).toEqual(['Hello', 'Hello']);
  });
});

describe('RFC 7692 7.2: compression round trips', () => {
  it('without context takeover, each message inflates on its own', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 20_000 }), { maxLength: 6 }), (payloads) => {
        const deflater = new MessageDeflater(15, true);
        for (const payload of payloads) {
          const restored = new MessageInflater(15, true).decompress(deflater.compress(payload), 1 << 20);
          expect(Buffer.isBuffer(restored) && restored.equals(payload)).toBe(true);
        }
        expect(deflater.retainedBytes).toBe(0);
      }),
      { numRuns: 40 },
    );
  });

  it('with context takeover, a sequence decodes by a continuous zlib stream and back', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Messages share a common part, so later ones refer back into earlier ones' history.
        fc.string({ minLength: 16, maxLength: 400 }),
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 3000 }), fc.string({ maxLength: 300 })), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 9, max: 15 }),
        async (shared, parts, windowBits) => {
          const payloads = parts.map((part) => Buffer.concat([Buffer.from(shared), Buffer.from(part), Buffer.from(shared)]));
          // Ours compressing, a continuous stream inflating (what a browser does).
          const deflater = new MessageDeflater(windowBits, false);
          const compressed = payloads.map((payload) => deflater.compress(payload));
          expect(await streamDecompress(compressed)).toEqual(payloads);
          expect(deflater.retainedBytes).toBeLessThanOrEqual(1 << windowBits);
          // A continuous stream compressing, ours inflating.
          const inflater = new MessageInflater(15, false);
          const streamed = await streamCompress(payloads);
          for (let i = 0; i < payloads.length; i++) {
            const restored = inflater.decompress(streamed[i], 1 << 20);
            expect(Buffer.isBuffer(restored) && restored.equals(payloads[i])).toBe(true);
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe('RFC 7692 6.1-6.2: the receiver and compressed messages', () => {
  const deflater = new MessageDeflater(15, true);
  const text = Buffer.from('compress me, '.repeat(200));

  it('inflates a compressed message (RSV1 on its only frame) and one fragmented at any size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), (fragmentSize) => {
        const { receiver, messages, errors } = collect({ inflater: new MessageInflater(15, true) });
        const compressed = deflater.compress(text);
        receiver.push(encodeFrame(Opcode.Text, compressed, { rsv1: true, mask: true }));
        for (const frame of encodeFragmentedMessage(Opcode.Binary, compressed, fragmentSize, { rsv1: true, mask: true })) {
          receiver.push(frame);
        }
        receiver.push(encodeFrame(Opcode.Text, Buffer.from('plain'), { mask: true })); // uncompressed still fine
        expect(errors).toEqual([]);
        expect(messages.map((m) => [m.data.toString(), m.isBinary])).toEqual([
          [text.toString(), false],
          [text.toString(), true],
          ['plain', false],
        ]);
      }),
      { numRuns: 30 },
    );
  });

  it('RSV1 on a continuation or control frame fails with 1002', () => {
    const compressed = deflater.compress(text);
    const first = encodeFrame(Opcode.Text, compressed.subarray(0, 10), { fin: false, rsv1: true, mask: true });
    const badContinuation = encodeFrame(Opcode.Continuation, compressed.subarray(10), { rsv1: true, mask: true });
    const one = collect({ inflater: new MessageInflater(15, true) });
    one.receiver.push(Buffer.concat([first, badContinuation]));
    expect(one.errors.map((e) => [e.code, e.closeCode])).toEqual([['RESERVED_BITS_SET', 1002]]);

    const ping = encodeFrame(Opcode.Ping, Buffer.from('x'), { mask: true });
    ping[0] |= RSV1_BIT;
    const two = collect({ inflater: new MessageInflater(15, true) });
    two.receiver.push(ping);
    expect(two.errors.map((e) => [e.code, e.closeCode])).toEqual([['RESERVED_BITS_SET', 1002]]);
  });

  it('RSV1 without a negotiated extension fails with 1002', () => {
    const { receiver, errors } = collect();
    receiver.push(encodeFrame(Opcode.Text, deflater.compress(text), { rsv1: true, mask: true }));
    expect(errors.map((e) => e.closeCode)).toEqual([1002]);
  });

  it('a decompression bomb fails with 1009 once the inflated size passes the limit', () => {
    const bomb = deflater.compress(Buffer.alloc(8 * 1024 * 1024)); // 8 MiB of zeros: about 8 KiB compressed
    expect(bomb.length).toBeLessThan(16 * 1024);
    const { receiver, messages, errors } = collect({ inflater: new MessageInflater(15, true), maxMessageSize: 1024 * 1024 });
    receiver.push(encodeFrame(Opcode.Binary, bomb, { rsv1: true, mask: true }));
    expect(messages).toEqual([]);
    expect(errors.map((e) => [e.code, e.closeCode])).toEqual([['MESSAGE_TOO_BIG', 1009]]);
  });

  it('data that is not DEFLATE fails with 1007, and so does compressed text that is not UTF-8', () => {
    const garbage = collect({ inflater: new MessageInflater(15, true) });
    garbage.receiver.push(encodeFrame(Opcode.Binary, Buffer.from('ff'.repeat(20), 'hex'), { rsv1: true, mask: true }));
    expect(garbage.errors.map((e) => [e.code, e.closeCode])).toEqual([['INVALID_COMPRESSED_DATA', 1007]]);

    const badText = collect({ inflater: new MessageInflater(15, true) });
    badText.receiver.push(encodeFrame(Opcode.Text, deflater.compress(Buffer.from([0x48, 0xc0, 0xaf])), { rsv1: true, mask: true }));
    expect(badText.errors.map((e) => [e.code, e.closeCode])).toEqual([['INVALID_UTF8', 1007]]);
  });
});

/** Splits a compressed payload into frames at `cuts`: RSV1 on the first only (RFC 7692 6.1). */
function compressedFrames(opcode: number, compressed: Buffer, cuts: readonly number[]): Buffer[] {
  const pieces = splitAt(compressed, cuts);
  return pieces.map((piece, i) =>
    encodeFrame(i === 0 ? opcode : Opcode.Continuation, piece, { fin: i === pieces.length - 1, rsv1: i === 0, mask: true }),
  );
}

/** zlib's inflation of the first frames' compressed bytes: what the message holds once they are in. */
function zlibInflatedSoFar(compressed: Buffer, final: boolean): Buffer {
  const input = final ? Buffer.concat([compressed, Buffer.from([0, 0, 0xff, 0xff])]) : compressed;
  return inflateRawSync(input, { finishFlush: constants.Z_SYNC_FLUSH });
}

describe('RFC 7692 6.2 with RFC 6455 8.1: a compressed message in several frames is inflated and checked frame by frame', () => {
  const deflater = new MessageDeflater(15, true);

  it('compressed text whose first frame inflates to invalid UTF-8 fails with 1007 at that frame, the others not sent', () => {
    // A sync flush after the invalid start, so that the first frame's bytes inflate to all of it.
    const invalidStart = deflater.compress(Buffer.from([0x48, 0x69, 0xc0, 0xaf]));
    const rest = deflater.compress(Buffer.from(' and then a long valid text, '.repeat(50)));
    const frames = [
      encodeFrame(Opcode.Text, Buffer.concat([invalidStart, Buffer.from([0, 0, 0xff, 0xff])]), { fin: false, rsv1: true, mask: true }),
      encodeFrame(Opcode.Continuation, rest.subarray(0, 10), { fin: false, mask: true }),
      encodeFrame(Opcode.Continuation, rest.subarray(10), { mask: true }),
    ];
    const { receiver, messages, errors } = collect({ inflater: new MessageInflater(15, true) });
    receiver.push(frames[0]);
    expect(errors.map((e) => [e.code, e.closeCode])).toEqual([['INVALID_UTF8', 1007]]);
    expect(receiver.stopped).toBe(true);
    receiver.push(Buffer.concat(frames.slice(1)));
    expect(messages).toEqual([]);
  });

  it('a bomb in the first of several frames fails with 1009 at that frame, having held no more than the limit', () => {
    const limit = 256 * 1024;
    const bomb = deflater.compress(Buffer.alloc(8 * 1024 * 1024));
    const { receiver, errors } = collect({ inflater: new MessageInflater(15, true), maxMessageSize: limit });
    const frames = compressedFrames(Opcode.Binary, bomb, [40, bomb.length - 10]);
    receiver.push(frames[0]);
    expect(errors).toEqual([]);
    expect(receiver.bufferedBytes).toBeLessThanOrEqual(limit);
    receiver.push(frames[1]);
    expect(errors.map((e) => [e.code, e.closeCode])).toEqual([['MESSAGE_TOO_BIG', 1009]]);
    expect(receiver.bufferedBytes).toBe(0);
  });

  it('bufferedBytes counts what is inflated so far, and nothing once the message is delivered', () => {
    const data = Buffer.from('abcdefgh'.repeat(4000));
    const { receiver, messages } = collect({ inflater: new MessageInflater(15, true) });
    const compressed = deflater.compress(data);
    const frames = compressedFrames(Opcode.Binary, compressed, [Math.floor(compressed.length / 2)]);
    receiver.push(frames[0]);
    expect(receiver.bufferedBytes).toBe(zlibInflatedSoFar(compressed.subarray(0, Math.floor(compressed.length / 2)), false).length);
    receiver.push(frames[1]);
    expect(messages.map((m) => m.data.equals(data))).toEqual([true]);
    expect(receiver.bufferedBytes).toBe(0);
  });

  it('with context takeover, messages in one frame and in several decode alike, each referring back into the ones before', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ text: fc.string({ unit: 'binary', maxLength: 400 }), cuts: fc.array(fc.nat(), { maxLength: 4 }) }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 9, max: 15 }),
        (items, windowBits) => {
          const shared = 'a phrase every message repeats, ';
          const payloads = items.map(({ text }) => Buffer.from(shared + text + shared));
          const sender = new MessageDeflater(windowBits, false);
          const { receiver, messages, errors } = collect({ inflater: new MessageInflater(windowBits, false) });
          items.forEach(({ cuts }, i) => {
            const compressed = sender.compress(payloads[i]);
            for (const frame of compressedFrames(Opcode.Text, compressed, cuts.map((cut) => cut % (compressed.length + 1)))) receiver.push(frame);
          });
          expect(errors).toEqual([]);
          expect(messages.map((m) => m.data.toString())).toEqual(payloads.map((p) => p.toString()));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('any compressed text, cut into any frames, read in any pieces: 1007 at the piece that completes the first frame whose inflated bytes cannot be valid text, or the message', () => {
    const textArb = fc
      .tuple(fc.string({ unit: 'binary', maxLength: 300 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 2 }), fc.boolean())
      .map(([value, sets, random]) => {
        const bytes = random ? pseudoRandomBytes(value.length, value.length) : Buffer.from(value);
        for (const [position, byte] of sets) if (bytes.length > 0) bytes[position % bytes.length] = byte;
        return bytes;
      });
    let failedEarly = 0;
    fc.assert(
      fc.property(textArb, fc.array(fc.nat(), { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), (data, rawFrameCuts, rawReadCuts) => {
        const compressed = deflater.compress(data);
        const frameCuts = [...new Set(rawFrameCuts.map((cut) => cut % (compressed.length + 1)))].sort((a, b) => a - b);
        const frames = compressedFrames(Opcode.Text, compressed, frameCuts);
        // The oracle: after frame j, zlib's output for the compressed bytes so far, judged by the reference validator.
        const frameEnds = [...frameCuts, compressed.length];
        let failingFrame = -1;
        for (let j = 0; j < frames.length && failingFrame === -1; j++) {
          const final = j === frames.length - 1;
          const soFar = zlibInflatedSoFar(compressed.subarray(0, frameEnds[j]), final);
          if (!canStartValidUtf8(soFar) || (final && !isValidUtf8Reference(soFar))) failingFrame = j;
        }
        const stream = Buffer.concat(frames);
        const readCuts = [...new Set(rawReadCuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b);
        const pieces = splitAt(stream, readCuts).filter((piece) => piece.length > 0);
        const { receiver, messages, errors } = collect({ inflater: new MessageInflater(15, true) });
        let errorPiece = -1;
        for (let i = 0; i < pieces.length && errorPiece === -1; i++) {
          receiver.push(pieces[i]);
          if (errors.length > 0) errorPiece = i;
        }
        if (failingFrame === -1) {
          expect(errors).toEqual([]);
          expect(messages.map((m) => m.data.equals(data))).toEqual([true]);
          return;
        }
        // The piece that holds the failing frame's last byte.
        const frameLastByte = frames.slice(0, failingFrame + 1).reduce((sum, frame) => sum + frame.length, 0) - 1;
        let end = 0;
        const expectedPiece = pieces.findIndex((piece) => frameLastByte < (end += piece.length));
        expect(errorPiece).toBe(expectedPiece);
        expect(errors.map((e) => e.code)).toEqual(['INVALID_UTF8']);
        expect(messages).toEqual([]);
        if (failingFrame < frames.length - 1) failedEarly++;
      }),
      { numRuns: 500 },
    );
    expect(failedEarly).toBeGreaterThan(30);
  });
});
