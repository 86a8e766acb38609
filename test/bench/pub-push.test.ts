/**
 * The load generator's reader of framecast.v1 `pub` pushes (bench/workloads/pub-push.ts): the
 * fast path and the JSON.parse path agree with JSON itself on every push, and anything that
 * is not a text `pub` push of the channel is refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PubPush, PubPushReader } from '../../bench/workloads/pub-push.js';
import { tinyPayloads } from '../../bench/workloads/payloads.js';
import { pubPush } from '../../src/server/pubsub/wire.js';

const reader = new PubPushReader('fanout');

function read(frame: string): { offset: number; text: Buffer } | undefined {
  const into: PubPush = { offset: 0, frame: Buffer.alloc(0), start: 0, end: 0 };
  return reader.read(Buffer.from(frame, 'utf8'), into) ? { offset: into.offset, text: Buffer.from(into.frame.subarray(into.start, into.end)) } : undefined;
}

describe('reading pub pushes', () => {
  it('reads the push docs/pubsub.md shows, and the fan-out payloads as the server writes them', () => {
    const into: PubPush = { offset: 0, frame: Buffer.alloc(0), start: 0, end: 0 };
    expect(new PubPushReader('news').read(Buffer.from('{"pub":{"channel":"news","offset":42,"text":"hello"}}'), into)).toBe(true);
    expect({ offset: into.offset, text: into.frame.toString('utf8', into.start, into.end) }).toEqual({ offset: 42, text: 'hello' });
    const payload = tinyPayloads().encode(12345, 1_234_567_890_123);
    const frame = pubPush('fanout', { offset: 7, data: Buffer.from(payload), isBinary: false });
    expect(read(frame)).toEqual({ offset: 7, text: Buffer.from(payload) });
  });

  it('agrees with JSON.parse on any text and offset, escapes and all', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (text, offset) => {
        const frame = pubPush('fanout', { offset, data: Buffer.from(text, 'utf8'), isBinary: false });
        const parsed = JSON.parse(frame) as { pub: { offset: number; text: string } };
        expect(read(frame)).toEqual({ offset: parsed.pub.offset, text: Buffer.from(parsed.pub.text, 'utf8') });
      }),
    );
  });

  it('reads a push laid out otherwise (keys in another order, fields added) through JSON.parse', () => {
    expect(read('{"pub":{"offset":3,"channel":"fanout","text":"abc"}}')).toEqual({ offset: 3, text: Buffer.from('abc') });
    expect(read('{"pub":{"channel":"fanout","offset":3,"text":"abc","tags":["x"]}}')).toEqual({ offset: 3, text: Buffer.from('abc') });
    expect(read('{"pub":{"channel":"fanout","offset":3,"text":"a\\"b\\\\c\\u0041"}}')).toEqual({ offset: 3, text: Buffer.from('a"b\\cA') });
    expect(read(' {"pub":{"channel":"fanout","offset":3,"text":"abc"}}')).toEqual({ offset: 3, text: Buffer.from('abc') });
  });

  it('refuses what is not a text pub push of the channel', () => {
    for (const frame of [
      '{"pub":{"channel":"other","offset":3,"text":"abc"}}',
      '{"pub":{"channel":"fanout","offset":3,"binary":"AAEC"}}',
      '{"pub":{"text":"to everyone"}}',
      '{"pub":{"channel":"fanout","offset":0,"text":"abc"}}',
      '{"pub":{"channel":"fanout","offset":03,"text":"abc"}}',
      '{"pub":{"channel":"fanout","offset":-3,"text":"abc"}}',
      '{"pub":{"channel":"fanout","offset":1.5,"text":"abc"}}',
      '{"pub":{"channel":"fanout","offset":12345678901234567,"text":"abc"}}',
      '{"pub":{"channel":"fanout","offset":3,"text":"abc"}',
      '{"pub":{"channel":"fanout","offset":3,"text":"ab"c"}}',
      '{"pub":{"channel":"fanout","offset":3,"text":"a\tb"}}',
      '{"join":{"channel":"fanout","client":"c-1","info":null}}',
      '{"pub":{"channel":"fanout","offset":',
      '',
    ]) {
      expect(read(frame), frame).toBeUndefined();
    }
  });
});
