/**
 * Scale-out over Redis pub/sub: one real redis-server, three framecast nodes (A, B, C) with the
 * Redis hub, and `ws` clients on each. Every message reaches every member on every node exactly
 * once, in one order per channel, byte for byte.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClusterNode,
  metricOf,
  openRecorder,
  push,
  type Recorder,
  type RedisProcess,
  startNode,
  startDelayingProxy,
  startRedis,
  subscriberCount,
  waitUntil,
} from './redis-server.js';
import { skipWithoutRedis } from './redis-server.js';

const skip = skipWithoutRedis('Redis scale-out tests (test/scale/redis-cluster.test.ts)');

/** After the expected messages arrived, how long to keep listening for duplicates or strays. */
const QUIET_PERIOD_MS = 150;
/** How long the proxy in front of node D holds back a SUBSCRIBE. */
const SUBSCRIBE_DELAY_MS = 300;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip)('Redis scale-out: three nodes, one redis-server', () => {
  let redis: RedisProcess | undefined;
  const nodes: ClusterNode[] = [];
  const clients: Recorder[] = [];
  let a: ClusterNode, b: ClusterNode, c: ClusterNode;

  /** Opens a recorded client on `node` at `path` (closed in afterAll). */
  async function member(node: ClusterNode, path: string): Promise<Recorder> {
    const recorder = await openRecorder(`${node.wsUrl}${path}`);
    clients.push(recorder);
    return recorder;
  }

  /** Waits until `count` nodes are subscribed to a framecast channel in Redis itself. */
  async function subscribedNodes(channel: string, count: number): Promise<void> {
    const url = redis!.url;
    await waitUntil(`${count} nodes subscribed to ${channel}`, async () => (await subscriberCount(url, `framecast:channel:${channel}`)) === count);
  }

  beforeAll(async () => {
    redis = await startRedis();
    for (let i = 0; i < 3; i++) nodes.push(await startNode(redis.url));
    [a, b, c] = nodes;
  });

  afterAll(async () => {
    for (const recorder of clients) recorder.client.terminate();
    await Promise.allSettled(nodes.map((node) => node.close()));
    await redis?.stop();
  });

  describe('a push to one node reaches the channel members on every node', () => {
    it('delivers each push exactly once and in order to every member on A, B and C', async () => {
      const members = [await member(a, '/chat?channel=news'), await member(a, '/chat?channel=news'), await member(b, '/chat?channel=news'), await member(c, '/chat?channel=news'), await member(c, '/chat?channel=news')];
      const outsider = await member(b, '/chat?channel=sports');
      await subscribedNodes('news', 3);

      const count = 40;
      const expected = Array.from({ length: count }, (_, i) => `news ${i}`);
      for (const [i, text] of expected.entries()) {
        const answer = await push(a, 'news', text);
        expect(answer.status).toBe(202);
        // With Redis, `recipients` counts the nodes that received the publication; offsets are the channel's, kept in Redis.
        expect(answer.json).toEqual({ channel: 'news', recipients: 3, counted: 'nodes', offset: i + 1, epoch: expect.any(String) });
      }
      await waitUntil('every member has every push', () => members.every((m) => m.messages.length >= count));
      await pause(QUIET_PERIOD_MS);
      for (const m of members) {
        expect(m.texts()).toEqual(expected);
        expect(m.messages.every((message) => !message.isBinary)).toBe(true);
      }
      expect(outsider.messages).toEqual([]);
    });

    it('gives every member one and the same order when several nodes push to a channel at once', async () => {
      const members = [await member(a, '/chat?channel=race'), await member(b, '/chat?channel=race'), await member(c, '/chat?channel=race'), await member(c, '/chat?channel=race')];
      await subscribedNodes('race', 3);

      const perNode = 15;
      await Promise.all(
        [a, b, c].map(async (node, n) => {
          for (let i = 0; i < perNode; i++) expect((await push(node, 'race', `${n}:${i}`)).status).toBe(202);
        }),
      );
      const total = 3 * perNode;
      await waitUntil('every member has every push', () => members.every((m) => m.messages.length >= total));
      await pause(QUIET_PERIOD_MS);
      const order = members[0].texts();
      expect(order).toHaveLength(total);
      for (const m of members) expect(m.texts()).toEqual(order);
      // Each node's own pushes keep the order they were sent in.
      for (let n = 0; n < 3; n++) {
        expect(order.filter((text) => text.startsWith(`${n}:`))).toEqual(Array.from({ length: perNode }, (_, i) => `${n}:${i}`));
      }
    });

    it('sends a push without a channel to every WebSocket on every node, echo and chat alike', async () => {
      const everyone = [await member(a, '/ws'), await member(b, '/chat?channel=x1'), await member(c, '/ws'), await member(c, '/chat?channel=x2')];
      const answer = await push(b, undefined, 'to all');
      expect(answer.status).toBe(202);
      expect(answer.json).toEqual({ channel: null, recipients: 3, counted: 'nodes' });
      await waitUntil('every client has the push', () => everyone.every((m) => m.messages.length >= 1));
      await pause(QUIET_PERIOD_MS);
      for (const m of everyone) expect(m.texts()).toEqual(['to all']);
    });
  });

  describe('chat messages cross nodes', () => {
    it('relays what each member says to every member on every node, sender included, in one order', async () => {
      const members = [await member(a, '/chat?channel=room'), await member(b, '/chat?channel=room'), await member(c, '/chat?channel=room')];
      await subscribedNodes('room', 3);
      const perMember = 10;
      members.forEach((m, n) => {
        for (let i = 0; i < perMember; i++) m.client.send(`${n}:${i}`);
      });
      const total = members.length * perMember;
      await waitUntil('every member heard everyone', () => members.every((m) => m.messages.length >= total));
      await pause(QUIET_PERIOD_MS);
      const order = members[0].texts();
      expect(new Set(order).size).toBe(total);
      for (const m of members) expect(m.texts()).toEqual(order);
      for (let n = 0; n < members.length; n++) {
        expect(order.filter((text) => text.startsWith(`${n}:`))).toEqual(Array.from({ length: perMember }, (_, i) => `${n}:${i}`));
      }
    });

    it('lets a member speak at once after joining and still hear its own message', async () => {
      // Node D reaches Redis through a proxy that holds back every SUBSCRIBE, so D relays the
      // new member's first message while its SUBSCRIBE for the channel is still on its way.
      const proxy = await startDelayingProxy(redis!.port, (chunk) => chunk.toString('latin1').toLowerCase().includes('subscribe'), SUBSCRIBE_DELAY_MS);
      const d = await startNode(`redis://127.0.0.1:${proxy.port}`);
      try {
        const listener = await member(c, '/chat?channel=hello');
        await subscribedNodes('hello', 1);
        const speaker = await member(d, '/chat?channel=hello');
        speaker.client.send('first words');
        await waitUntil('both have the message', () => speaker.messages.length >= 1 && listener.messages.length >= 1);
        await pause(QUIET_PERIOD_MS);
        expect(speaker.texts()).toEqual(['first words']);
        expect(listener.texts()).toEqual(['first words']);
      } finally {
        await d.close();
        await proxy.close();
      }
    });
  });

  describe('messages arrive unchanged', () => {
    it('keeps binary pushes binary, byte for byte, across nodes', async () => {
      const receiver = await member(c, '/chat?channel=bytes');
      await subscribedNodes('bytes', 1);
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), async (bytes) => {
          const before = receiver.messages.length;
          expect((await push(a, 'bytes', bytes, true)).status).toBe(202);
          await waitUntil('the push', () => receiver.messages.length > before);
          const got = receiver.messages[before];
          expect(got.isBinary).toBe(true);
          expect(Buffer.compare(got.data, Buffer.from(bytes))).toBe(0);
        }),
        { numRuns: 40 },
      );
    });

    it('keeps text pushes text, with every Unicode character intact', async () => {
      const receiver = await member(b, '/chat?channel=unicode');
      await subscribedNodes('unicode', 1);
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 200 }), async (text) => {
          const before = receiver.messages.length;
          expect((await push(a, 'unicode', text)).status).toBe(202);
          await waitUntil('the push', () => receiver.messages.length > before);
          expect(receiver.messages[before].isBinary).toBe(false);
          expect(receiver.messages[before].data.toString('utf8')).toBe(text);
        }),
        { numRuns: 40 },
      );
    });
  });

  describe('subscriptions follow local membership', () => {
    it('delivers nothing for a channel with no members on any node, and no node listens for it', async () => {
      const bystanders = [await member(a, '/ws'), await member(b, '/chat?channel=elsewhere'), await member(c, '/chat?channel=elsewhere')];
      await subscribedNodes('elsewhere', 2);
      const answer = await push(a, 'nobody-here', 'hello?');
      expect(answer.status).toBe(202);
      expect(answer.json).toEqual({ channel: 'nobody-here', recipients: 0, counted: 'nodes', offset: 1, epoch: expect.any(String) });
      expect(await subscriberCount(redis!.url, 'framecast:channel:nobody-here')).toBe(0);
      await pause(QUIET_PERIOD_MS);
      for (const m of bystanders) expect(m.messages).toEqual([]);
    });

    it('subscribes a node on its first member of a channel and unsubscribes after its last one leaves', async () => {
      expect(await subscriberCount(redis!.url, 'framecast:channel:brief')).toBe(0);
      const subscriptionsBefore = await metricOf(b, 'framecast_broker_subscriptions');
      const first = await member(b, '/chat?channel=brief');
      const second = await member(b, '/chat?channel=brief');
      await subscribedNodes('brief', 1);
      expect(await metricOf(b, 'framecast_broker_subscriptions')).toBe(subscriptionsBefore! + 1);
      const onC = await member(c, '/chat?channel=brief');
      await subscribedNodes('brief', 2);

      first.client.close();
      await pause(QUIET_PERIOD_MS);
      expect(await subscriberCount(redis!.url, 'framecast:channel:brief')).toBe(2);
      second.client.close();
      await subscribedNodes('brief', 1);
      await waitUntil('B counts one subscription less', async () => (await metricOf(b, 'framecast_broker_subscriptions')) === subscriptionsBefore);
      onC.client.close();
      await subscribedNodes('brief', 0);
      // Every node still listens for pushes to everyone.
      expect(await subscriberCount(redis!.url, 'framecast:all')).toBe(3);
    });
  });
});
