/**
 * Redis going away and coming back, with three framecast nodes running throughout: local
 * connections keep working, pushes answer 503 (never a silent drop), /healthz and /metrics show
 * the broker state, and once Redis is back the nodes reconnect and resubscribe by themselves.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisHub } from '../../src/server/hub/redis-hub.js';
import { closed, nextMessages, startFramecast } from '../helpers/framecast.js';
import { type Frame, V1Client } from '../helpers/framecast-v1.js';
import {
  type ClusterNode,
  type DelayingProxy,
  freePort,
  healthOf,
  metricOf,
  openRecorder,
  push,
  type Recorder,
  type RedisProcess,
  skipWithoutRedis,
  startDelayingProxy,
  startNode,
  startRedis,
  subscriberCount,
  waitUntil,
} from './redis-server.js';

const skip = skipWithoutRedis('Redis outage tests (test/scale/redis-outage.test.ts)');

/** Nodes retry at most every 200 ms in these tests (see startNode); this leaves ample room. */
const RECONNECT_TIMEOUT_MS = 10_000;
const QUIET_PERIOD_MS = 150;
/** How long the proxy holds back a SUBSCRIBE in the in-flight test: long enough to cut the connection under it. */
const SUBSCRIBE_HOLD_MS = 1_000;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip)('Redis going away and coming back', () => {
  let redis: RedisProcess | undefined;
  let restarted: RedisProcess | undefined;
  const nodes: ClusterNode[] = [];
  const clients: Recorder[] = [];
  let a: ClusterNode, b: ClusterNode, c: ClusterNode;
  let members: Recorder[] = [];
  let echo: Recorder;
  let subscriber: V1Client;

  async function member(node: ClusterNode, path: string): Promise<Recorder> {
    const recorder = await openRecorder(`${node.wsUrl}${path}`);
    clients.push(recorder);
    return recorder;
  }

  beforeAll(async () => {
    redis = await startRedis();
    for (let i = 0; i < 3; i++) nodes.push(await startNode(redis.url));
    [a, b, c] = nodes;
    members = [await member(a, '/chat?channel=alerts'), await member(b, '/chat?channel=alerts'), await member(c, '/chat?channel=alerts')];
    echo = await member(a, '/ws');
    subscriber = await V1Client.open(c.wsUrl);
    await subscriber.subscribe('alerts');
    const url = redis.url;
    await waitUntil('3 nodes on alerts', async () => (await subscriberCount(url, 'framecast:channel:alerts')) === 3);
  });

  afterAll(async () => {
    for (const recorder of clients) recorder.client.terminate();
    subscriber?.terminate();
    await Promise.allSettled(nodes.map((node) => node.close()));
    await redis?.stop();
    await restarted?.stop();
  });

  // The tests below run in order: Redis up, stopped, then started again on the same port.

  it('reports the broker connected while Redis is up', async () => {
    for (const node of nodes) {
      expect(await healthOf(node)).toMatchObject({ status: 'ok', hub: 'redis', broker: 'connected' });
      expect(await metricOf(node, 'framecast_broker_connected')).toBe(1);
    }
    expect((await push(a, 'alerts', 'before')).status).toBe(202);
    await waitUntil('all members have it', () => members.every((m) => m.messages.length === 1));
  });

  describe('while Redis is stopped', () => {
    beforeAll(async () => {
      await redis!.stop();
      await waitUntil('every node sees the broker gone', async () => (await Promise.all(nodes.map(healthOf))).every((health) => health.broker === 'disconnected'), RECONNECT_TIMEOUT_MS);
    });

    it('shows the broker disconnected on /healthz (status degraded) and /metrics', async () => {
      for (const node of nodes) {
        expect(await healthOf(node)).toMatchObject({ status: 'degraded', hub: 'redis', broker: 'disconnected' });
        expect(await metricOf(node, 'framecast_broker_connected')).toBe(0);
      }
    });

    it('answers a push with 503 instead of dropping it silently', async () => {
      const before = await metricOf(a, 'framecast_broker_publish_failures_total');
      for (const channel of ['alerts', undefined]) {
        const answer = await push(a, channel, 'lost?');
        expect(answer.status).toBe(503);
        expect(answer.json).toHaveProperty('error');
      }
      expect(await metricOf(a, 'framecast_broker_publish_failures_total')).toBe((before ?? 0) + 2);
      await pause(QUIET_PERIOD_MS);
      for (const m of members) expect(m.texts()).toEqual(['before']);
    });

    it('keeps local connections open: echo still answers', async () => {
      const reply = nextMessages(echo.client, 1);
      echo.client.send('still here');
      expect((await reply)[0][0].toString()).toBe('still here');
      for (const m of members) expect(m.client.readyState).toBe(m.client.OPEN);
    });

    it('answers framecast.v1 commands unavailable, and keeps the connection open', async () => {
      const reply = (command: Frame) => expect(command.error).toMatchObject({ code: 'unavailable' });
      reply(await subscriber.command('publish', { channel: 'alerts', text: 'lost?' }));
      reply(await subscriber.command('presence', { channel: 'alerts' }));
      reply(await subscriber.command('history', { channel: 'alerts' }));
      reply(await subscriber.command('subscribe', { channel: 'alerts-too' }));
      expect(subscriber.socket.readyState).toBe(subscriber.socket.OPEN);
      expect(subscriber.pubs('alerts')).toHaveLength(1);
    });

    it('closes a chat sender whose message cannot be relayed with 1013 (try again later)', async () => {
      const sender = await member(b, '/chat?channel=alerts-outage');
      const closing = closed(sender.client);
      sender.client.send('can anyone hear me');
      expect((await closing).code).toBe(1013);
    });
  });

  describe('after Redis is back', () => {
    beforeAll(async () => {
      restarted = await startRedis(redis!.port);
      await waitUntil('every node reconnected', async () => (await Promise.all(nodes.map(healthOf))).every((health) => health.broker === 'connected'), RECONNECT_TIMEOUT_MS);
    });

    it('resubscribes every node to the channels its members are still in, without restarting it', async () => {
      const url = restarted!.url;
      await waitUntil('3 nodes on alerts again', async () => (await subscriberCount(url, 'framecast:channel:alerts')) === 3);
      expect(await subscriberCount(url, 'framecast:all')).toBe(3);
      // The chat sender closed during the outage: its node must not listen for its channel.
      expect(await subscriberCount(url, 'framecast:channel:alerts-outage')).toBe(0);
    });

    it('delivers pushes across nodes again, exactly once each', async () => {
      const answer = await push(a, 'alerts', 'after');
      expect(answer.status).toBe(202);
      expect(answer.json).toEqual({ channel: 'alerts', recipients: 3, counted: 'nodes', offset: expect.any(Number), epoch: expect.any(String) });
      await waitUntil('all members have it', () => members.every((m) => m.messages.length === 2));
      await pause(QUIET_PERIOD_MS);
      for (const m of members) expect(m.texts()).toEqual(['before', 'after']);
    });

    it('relays chat across nodes again', async () => {
      members[2].client.send('chat is back');
      await waitUntil('all members have it', () => members.every((m) => m.messages.length === 3));
      for (const m of members) expect(m.texts().at(-1)).toBe('chat is back');
    });

    it('recovers when Redis drops only the subscriber connections (as when a node falls too far behind)', async () => {
      const reconnectsBefore = await Promise.all(nodes.map((node) => metricOf(node, 'framecast_broker_reconnects_total')));
      const admin = createClient({ url: restarted!.url });
      admin.on('error', () => undefined);
      await admin.connect();
      try {
        expect(Number(await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']))).toBe(3);
      } finally {
        admin.destroy();
      }
      await waitUntil(
        'every node reconnected its subscriber',
        async () => (await Promise.all(nodes.map((node) => metricOf(node, 'framecast_broker_reconnects_total')))).every((count, i) => count! > reconnectsBefore[i]!),
        RECONNECT_TIMEOUT_MS,
      );
      const url = restarted!.url;
      await waitUntil('3 nodes on alerts again', async () => (await subscriberCount(url, 'framecast:channel:alerts')) === 3);
      const before = members.map((m) => m.messages.length);
      expect((await push(b, 'alerts', 'after the kill')).status).toBe(202);
      await waitUntil('all members have it', () => members.every((m, i) => m.messages.length === before[i] + 1));
      for (const m of members) expect(m.texts().at(-1)).toBe('after the kill');
    });

    it('shows the broker connected and counts the reconnection', async () => {
      for (const node of nodes) {
        expect(await healthOf(node)).toMatchObject({ status: 'ok', broker: 'connected' });
        expect(await metricOf(node, 'framecast_broker_connected')).toBe(1);
        expect(await metricOf(node, 'framecast_broker_reconnects_total')).toBeGreaterThanOrEqual(1);
      }
    });
  });
});

describe.skipIf(skip)('a node started before Redis is reachable', () => {
  let redis: RedisProcess | undefined;
  let node: ClusterNode | undefined;
  let listener: Recorder | undefined;

  afterAll(async () => {
    listener?.client.terminate();
    await node?.close();
    await redis?.stop();
  });

  it('serves local connections and answers pushes 503 until Redis comes up, then works without a restart', async () => {
    const port = await freePort();
    // startNode waits for the broker, which is not there yet: build the node without waiting.
    let hub: RedisHub | undefined;
    const running = await startFramecast({ createHub: (_everyone, context) => (hub = new RedisHub(context, { url: `redis://127.0.0.1:${port}`, reconnectMaxDelay: 200 })) });
    node = { ...running, hub: hub! };
    expect(await healthOf(node)).toMatchObject({ status: 'degraded', broker: 'disconnected' });
    listener = await openRecorder(`${node.wsUrl}/chat?channel=early`);
    expect((await push(node, 'early', 'too soon')).status).toBe(503);

    redis = await startRedis(port);
    await waitUntil('the node connects', async () => (await healthOf(node!)).broker === 'connected', RECONNECT_TIMEOUT_MS);
    const url = redis.url;
    await waitUntil('the node subscribes for its member', async () => (await subscriberCount(url, 'framecast:channel:early')) === 1);
    const answer = await push(node, 'early', 'on time');
    expect(answer.json).toEqual({ channel: 'early', recipients: 1, counted: 'nodes', offset: 1, epoch: expect.any(String) });
    await waitUntil('the member has it', () => listener!.messages.length === 1);
    expect(listener.texts()).toEqual(['on time']);
  });
});

describe.skipIf(skip)('a connection lost while a SUBSCRIBE or UNSUBSCRIBE is on its way', () => {
  let redis: RedisProcess | undefined;
  let proxy: DelayingProxy | undefined;
  let node: ClusterNode | undefined;
  const clients: Recorder[] = [];

  afterAll(async () => {
    for (const recorder of clients) recorder.client.terminate();
    await node?.close();
    await proxy?.close();
    await redis?.stop();
  });

  it('subscribes again after reconnecting, so the member who joined then still gets messages', async () => {
    redis = await startRedis();
    // The node reaches Redis through a proxy that holds every SUBSCRIBE back for a while.
    proxy = await startDelayingProxy(redis.port, (chunk) => chunk.toString('latin1').toLowerCase().includes('subscribe'), SUBSCRIBE_HOLD_MS);
    node = await startNode(`redis://127.0.0.1:${proxy.port}`);
    const url = redis.url;
    await waitUntil('the node listens for pushes to everyone', async () => (await subscriberCount(url, 'framecast:all')) === 1);
    const reconnectsBefore = await metricOf(node, 'framecast_broker_reconnects_total');

    const latecomer = await openRecorder(`${node.wsUrl}/chat?channel=inflight`);
    clients.push(latecomer);
    // The SUBSCRIBE for the new channel is now held in the proxy: cut the connections under it.
    proxy.dropConnections();
    await waitUntil('the node reconnects', async () => (await metricOf(node!, 'framecast_broker_reconnects_total'))! > reconnectsBefore!, RECONNECT_TIMEOUT_MS);
    await waitUntil('the node subscribes to the channel again', async () => (await subscriberCount(url, 'framecast:channel:inflight')) === 1, RECONNECT_TIMEOUT_MS);

    expect((await push(node, 'inflight', 'made it')).status).toBe(202);
    await waitUntil('the member has the push', () => latecomer.messages.length >= 1);
    await pause(QUIET_PERIOD_MS);
    expect(latecomer.texts()).toEqual(['made it']);
  });

  it('unsubscribes after reconnecting from a channel whose last member left while the UNSUBSCRIBE was on its way', async () => {
    const reconnectsBefore = await metricOf(node!, 'framecast_broker_reconnects_total');
    const latecomer = clients[0];
    latecomer.client.close();
    await closed(latecomer.client);
    // The UNSUBSCRIBE is now held in the proxy: cut the connections under it.
    await pause(QUIET_PERIOD_MS);
    proxy!.dropConnections();
    await waitUntil('the node reconnects', async () => (await metricOf(node!, 'framecast_broker_reconnects_total'))! > reconnectsBefore!, RECONNECT_TIMEOUT_MS);
    // Only the channel for pushes to everyone is left, on the node and in Redis.
    await waitUntil('the node drops the channel', async () => (await metricOf(node!, 'framecast_broker_subscriptions')) === 1, RECONNECT_TIMEOUT_MS);
    await waitUntil('Redis agrees', async () => (await subscriberCount(redis!.url, 'framecast:channel:inflight')) === 0 && (await subscriberCount(redis!.url, 'framecast:all')) === 1, RECONNECT_TIMEOUT_MS);
  });
});
