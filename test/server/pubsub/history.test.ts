/**
 * The offsets and history core (src/server/pubsub/history.ts), and the hub's subscribe path on
 * top of it: under any interleaving of publishes, subscribes with `since`, time passing and
 * evictions, offsets stay consecutive, a reply plus the pushes after it never skip or repeat
 * an offset, and `recovered` is true exactly when nothing is missing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PubSubDefaults } from '../../../src/server/config.js';
import { type PreparedMessage, ReadyState, type WebSocketConnection } from '../../../src/server/websocket/connection.js';
import { InProcessHub } from '../../../src/server/hub/hub.js';
import { ChannelHistory, type HistoryLimits } from '../../../src/server/pubsub/history.js';
import { Subscription } from '../../../src/server/pubsub/subscription.js';

const CHANNELS = ['a', 'b', 'c'];

type Step =
  | { kind: 'publish'; channel: string; size: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'read'; channel: string; back: number; wrongEpoch: boolean };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('publish' as const), channel: fc.constantFrom(...CHANNELS), size: fc.integer({ min: 0, max: 200 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 400 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), channel: fc.constantFrom(...CHANNELS), back: fc.integer({ min: 0, max: 12 }), wrongEpoch: fc.boolean() }) },
);

const limits: fc.Arbitrary<HistoryLimits> = fc.record({
  size: fc.integer({ min: 0, max: 8 }),
  ttl: fc.integer({ min: 50, max: 1000 }),
  memory: fc.integer({ min: 100, max: 3000 }),
  overhead: fc.constant(PubSubDefaults.publicationOverhead),
});

describe('ChannelHistory', () => {
  it('offsets are 1, 2, 3, ... per epoch; reads are consecutive suffixes; recovered exactly when K+1..L are all there', () => {
    fc.assert(
      fc.property(limits, fc.array(step, { maxLength: 120 }), (bounds, steps) => {
        let now = 0;
        let epochs = 0;
        // Every channel is kept (as if subscribed), so its epoch lasts the whole run.
        const history = new ChannelHistory(bounds, () => true, () => now, () => `e${++epochs}`);
        /** Everything ever published, by channel: the truth to compare against. */
        const published = new Map<string, Array<{ offset: number; data: Buffer; at: number }>>(CHANNELS.map((channel) => [channel, []]));
        for (const s of steps) {
          if (s.kind === 'advance') {
            now += s.ms;
            continue;
          }
          const truth = published.get(s.channel)!;
          if (s.kind === 'publish') {
            const data = Buffer.alloc(s.size, truth.length & 0xff);
            const result = history.append(s.channel, data, true);
            expect(result.offset).toBe(truth.length + 1);
            truth.push({ offset: result.offset, data, at: now });
          } else {
            const latest = truth.length;
            const since = Math.max(0, latest - s.back);
            const epoch = s.wrongEpoch ? 'elsewhere' : history.position(s.channel).epoch;
            const read = history.read(s.channel, { since: { epoch, offset: since } });
            expect(read.offset).toBe(latest);
            const offsets = read.publications.map((p) => p.offset);
            // A consecutive run ending at the latest offset, each byte for byte what was published, none expired.
            if (offsets.length > 0) {
              expect(offsets).toEqual(Array.from({ length: offsets.length }, (_, i) => latest - offsets.length + 1 + i));
              for (const p of read.publications) {
                expect(p.data.equals(truth[p.offset - 1].data)).toBe(true);
                expect(now - truth[p.offset - 1].at).toBeLessThan(bounds.ttl);
              }
            }
            // At most `size` per channel; never more than the memory bound unless only the latest one is kept.
            expect(history.read(s.channel).publications.length).toBeLessThanOrEqual(bounds.size);
            if (history.size > 1) expect(history.bytes).toBeLessThanOrEqual(bounds.memory);
            const missing = Array.from({ length: latest - since }, (_, i) => since + 1 + i).filter((offset) => !offsets.includes(offset));
            expect(read.recovered).toBe(!s.wrongEpoch && missing.length === 0);
            if (!s.wrongEpoch) expect(offsets.every((offset) => offset > since)).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('past the memory bound the oldest publication of the node goes first, whatever its channel', () => {
    const history = new ChannelHistory({ size: 100, ttl: 60_000, memory: 3 * (10 + 64), overhead: 64 }, () => true);
    history.append('old', Buffer.alloc(10), true); // offset 1 of 'old'
    history.append('new', Buffer.alloc(10), true);
    history.append('old', Buffer.alloc(10), true);
    history.append('new', Buffer.alloc(10), true); // over the bound: 'old' offset 1 goes
    expect(history.read('old').publications.map((p) => p.offset)).toEqual([2]);
    expect(history.read('new').publications.map((p) => p.offset)).toEqual([1, 2]);
    expect(history.evictions.memory).toBe(1);
  });

  it('forgets a channel with no history left and nobody subscribed: its next publication starts a new epoch', () => {
    let now = 0;
    let subscribed = true;
    const history = new ChannelHistory({ size: 10, ttl: 100, memory: 1 << 20, overhead: 64 }, () => subscribed, () => now);
    const first = history.append('x', 'one', false);
    now = 200;
    history.sweep();
    expect(history.position('x').epoch).toBe(first.epoch); // subscribed: kept, though empty
    subscribed = false;
    history.release('x');
    expect(history.channelCount).toBe(0);
    const again = history.append('x', 'two', false);
    expect(again.offset).toBe(1);
    expect(again.epoch).not.toBe(first.epoch);
  });

  it('keeps a copy: changing the buffer passed in changes nothing kept', () => {
    const history = new ChannelHistory({ size: 10, ttl: 60_000, memory: 1 << 20, overhead: 64 }, () => true);
    const data = Buffer.from('original');
    history.append('x', data, false);
    data.write('XXXXXXXX');
    expect(history.read('x').publications[0].data.toString()).toBe('original');
  });

  it('keeps each payload as its bytes in memory of its own, never a view of a buffer shared with anything else', () => {
    const history = new ChannelHistory({ size: 10, ttl: 60_000, memory: 1 << 24, overhead: 64 }, () => true);
    const pooled = Buffer.from('pooled bytes'); // small: a view of Node's shared pool
    const texts = ['', 'short text', 'ünïcödé ✓', 'x'.repeat(Buffer.poolSize)];
    for (const text of texts) history.append('x', text, false);
    history.append('x', pooled, false);
    history.append('x', new Uint8Array([1, 2, 3]), true);
    const kept = history.read('x').publications.map((publication) => publication.data);
    const expected = [...texts.map((text) => Buffer.from(text)), pooled, Buffer.from([1, 2, 3])];
    expect(kept.map((data) => data.toString('hex'))).toEqual(expected.map((data) => data.toString('hex')));
    for (const data of kept) {
      // The whole ArrayBuffer is the payload: keeping it keeps nothing else alive (docs/pubsub.md "Limits").
      expect(data.byteOffset).toBe(0);
      expect(data.buffer.byteLength).toBe(data.length);
    }
  });
});

/** A connection that records what is sent to it (the hub only calls readyState and sendPrepared). */
function recordingConnection(): { connection: WebSocketConnection; sent: string[] } {
  const sent: string[] = [];
  const connection = {
    readyState: ReadyState.Open,
    sendPrepared(message: PreparedMessage): boolean {
      sent.push(Buffer.from(message.payload).toString());
      return true;
    },
  } as unknown as WebSocketConnection;
  return { connection, sent };
}

type HubStep = { kind: 'publish' } | { kind: 'subscribe'; back: number; history: number } | { kind: 'settle' };

describe('InProcessHub: subscribe while publications arrive', () => {
  it('reply plus pushes never skip or repeat an offset, and recovered is true exactly when nothing is missing', async () => {
    const steps = fc.array(
      fc.oneof(
        { weight: 5, arbitrary: fc.constant<HubStep>({ kind: 'publish' }) },
        { weight: 2, arbitrary: fc.record({ kind: fc.constant('subscribe' as const), back: fc.integer({ min: 0, max: 15 }), history: fc.integer({ min: 0, max: 5 }) }) },
        { weight: 1, arbitrary: fc.constant<HubStep>({ kind: 'settle' }) },
      ),
      { maxLength: 80 },
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 10 }), steps, async (size, plan) => {
        const hub = new InProcessHub({ everyone: [], history: { size, ttl: 60_000, memory: 1 << 20, overhead: 64 } });
        let published = 0;
        const subscribers: Array<{
          sent: string[];
          /** Publications made after the subscribe call (the member is added at once). */
          publishedBefore: number;
          reply?: { epoch: string; offset: number; publications: Array<{ offset: number }>; recovered?: boolean };
          since?: { epoch: string; offset: number };
        }> = [];
        const settling: Array<Promise<void>> = [];
        for (const s of plan) {
          if (s.kind === 'publish') {
            published++;
            await Promise.resolve(); // hub.publish itself is synchronous; interleave with pending replies
            void hub.publish('ch', `p${published}`, false);
          } else if (s.kind === 'settle') {
            await Promise.all(settling);
          } else {
            const { connection, sent } = recordingConnection();
            const record: (typeof subscribers)[number] = { sent, publishedBefore: 0 };
            subscribers.push(record);
            const subscription = new Subscription(connection, 'ch', `c${subscribers.length}`, 'null', 1024, () => {
              throw new Error('overflow');
            });
            const since = Math.max(0, published - s.back);
            // The epoch a client would hold: the channel's as it stands now (a channel nobody
            // uses and with nothing kept is forgotten, so by the subscribe it may be another).
            const query = s.back % 3 === 0 ? { limit: s.history } : { since: { epoch: (await hub.history('ch', { limit: 0 })).epoch, offset: since } };
            if ('since' in query) record.since = query.since;
            record.publishedBefore = published;
            settling.push(
              hub.subscribe(subscription, query).then((result) => {
                record.reply = { epoch: result.epoch, offset: result.offset, publications: [...result.publications], recovered: result.recovered };
                subscription.activate(result.epoch, result.offset);
              }),
            );
          }
        }
        await Promise.all(settling);
        for (const subscriber of subscribers) {
          const reply = subscriber.reply!;
          const pushed = subscriber.sent.map((text) => JSON.parse(text)).filter((frame) => frame.pub !== undefined).map((frame) => frame.pub.offset as number);
          // Pushes: exactly L+1, L+2, ..., one for each publication made after subscribing.
          expect(pushed).toEqual(Array.from({ length: published - subscriber.publishedBefore }, (_, i) => reply.offset + 1 + i));
          // The reply's publications: a consecutive run ending at L.
          const fromReply = reply.publications.map((p) => p.offset);
          expect(fromReply).toEqual(Array.from({ length: fromReply.length }, (_, i) => reply.offset - fromReply.length + 1 + i));
          if (subscriber.since !== undefined) {
            const sameEpoch = reply.epoch === subscriber.since.epoch;
            const complete = sameEpoch && fromReply.length === reply.offset - subscriber.since.offset;
            expect(reply.recovered).toBe(complete);
            // Within one epoch, whatever is missing was really evicted: at most `size` are kept.
            if (sameEpoch && !complete) expect(fromReply.length).toBe(Math.min(size, reply.offset));
          }
        }
        await hub.close();
      }),
      { numRuns: 200 },
    );
  });
});
