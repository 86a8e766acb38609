/**
 * A framecast.v1 subscription (src/server/pubsub/subscription.ts) between the hub and the
 * socket: held until its reply, deduplicated by offset, and never silent about a gap or an epoch
 * change (the `lost` push of docs/pubsub.md). A fake connection records what would be sent.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PreparedMessage, prepareMessage, ReadyState, type WebSocketConnection } from '../../../src/server/websocket/connection.js';
import { Subscription } from '../../../src/server/pubsub/subscription.js';

const MAX_HELD = 64;

function subscriptionWithSink(): { subscription: Subscription; sent: Array<Record<string, any>>; overflowed: () => boolean } {
  const sent: Array<Record<string, any>> = [];
  let overflow = false;
  const connection = {
    readyState: ReadyState.Open,
    sendPrepared(message: PreparedMessage) {
      sent.push(JSON.parse(Buffer.from(message.payload).toString()));
    },
  } as unknown as WebSocketConnection;
  const subscription = new Subscription(connection, 'news', 'c-1', 'null', MAX_HELD, () => (overflow = true));
  return { subscription, sent, overflowed: () => overflow };
}

const pub = (offset: number): PreparedMessage => prepareMessage(JSON.stringify({ pub: { channel: 'news', offset, text: `p${offset}` } }), false);

describe('a subscription: held until the reply, then each offset once', () => {
  it('sends the held publications after the reply offset, then later ones, each once', () => {
    const { subscription, sent } = subscriptionWithSink();
    for (const offset of [4, 5, 6]) subscription.deliver('E', offset, pub(offset));
    expect(sent).toEqual([]);
    subscription.activate('E', 5);
    subscription.deliver('E', 6, pub(6));
    subscription.deliver('E', 7, pub(7));
    expect(sent.map((frame) => frame.pub.offset)).toEqual([6, 7]);
  });

  it('drops held publications of another epoch that come before the first of the reply epoch', () => {
    const { subscription, sent } = subscriptionWithSink();
    subscription.deliver('OLD', 57, pub(57));
    subscription.deliver('NEW', 1, pub(1));
    subscription.deliver('NEW', 2, pub(2));
    subscription.activate('NEW', 1);
    expect(sent.map((frame) => frame.pub.offset)).toEqual([2]);
  });
});

describe('a subscription tells of what it will not get', () => {
  it('a jump past the next offset: {"lost":{channel, epoch, from, to}} first, then the publication', () => {
    const { subscription, sent } = subscriptionWithSink();
    subscription.activate('E', 10);
    subscription.deliver('E', 11, pub(11));
    subscription.deliver('E', 15, pub(15));
    expect(sent).toEqual([
      { pub: { channel: 'news', offset: 11, text: 'p11' } },
      { lost: { channel: 'news', epoch: 'E', from: 12, to: 14 } },
      { pub: { channel: 'news', offset: 15, text: 'p15' } },
    ]);
  });

  it('another epoch: previousEpoch, and the new epoch\'s offsets it lacks before the publication', () => {
    const { subscription, sent } = subscriptionWithSink();
    subscription.activate('E', 10);
    subscription.deliver('F', 1, pub(1));
    subscription.deliver('G', 3, pub(3));
    expect(sent).toEqual([
      { lost: { channel: 'news', epoch: 'F', previousEpoch: 'E' } },
      { pub: { channel: 'news', offset: 1, text: 'p1' } },
      { lost: { channel: 'news', epoch: 'G', from: 1, to: 2, previousEpoch: 'F' } },
      { pub: { channel: 'news', offset: 3, text: 'p3' } },
    ]);
  });

  it('skipTo: the channel stands further than the subscriber got; nothing when it has everything', () => {
    const { subscription, sent } = subscriptionWithSink();
    subscription.skipTo('E', 3); // held: the reply says 5, so this is already covered
    subscription.activate('E', 5);
    subscription.skipTo('E', 5);
    subscription.skipTo('E', 8);
    subscription.deliver('E', 9, pub(9));
    subscription.skipTo('F', 0);
    expect(sent).toEqual([
      { lost: { channel: 'news', epoch: 'E', from: 6, to: 8 } },
      { pub: { channel: 'news', offset: 9, text: 'p9' } },
      { lost: { channel: 'news', epoch: 'F', previousEpoch: 'E' } },
    ]);
  });

  it('accounts for every offset exactly once, as a pub or inside a lost range, whatever the hub delivers in order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 40 }), (start, steps) => {
        const { subscription, sent } = subscriptionWithSink();
        subscription.activate('E', start);
        let offset = start;
        for (const step of steps) {
          offset += step;
          subscription.deliver('E', offset, pub(offset));
          subscription.deliver('E', offset - 1, pub(offset - 1)); // a repeat or an older one: dropped
        }
        let next = start + 1;
        for (const frame of sent) {
          if (frame.lost !== undefined) {
            expect(frame.lost.from).toBe(next);
            next = frame.lost.to + 1;
          } else {
            expect(frame.pub.offset).toBe(next);
            next++;
          }
        }
        expect(next).toBe(offset + 1);
      }),
    );
  });

  it('closes (onOverflow) rather than hold more than its bound before the reply', () => {
    const { subscription, overflowed } = subscriptionWithSink();
    for (let offset = 1; offset <= MAX_HELD; offset++) subscription.deliver('E', offset, pub(offset));
    expect(overflowed()).toBe(false);
    subscription.deliver('E', MAX_HELD + 1, pub(MAX_HELD + 1));
    expect(overflowed()).toBe(true);
  });
});
