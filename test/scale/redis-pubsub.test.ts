/**
 * framecast.v1 across nodes: offsets, history, recovery and presence kept in a real redis-server,
 * and gap filling when a node loses its pub/sub connection. Subscribers on every node speak
 * docs/pubsub.md through the `ws` package; raw /chat members are checked beside them.
 *
 * The tests of each describe run in order and share its nodes and redis-server.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliChild, compileCli, spawnCli } from '../helpers/cli-process.js';
import { V1Client, type Frame } from '../helpers/framecast-v1.js';
import {
  type ClusterNode,
  type DelayingProxy,
  healthOf,
  metricOf,
  openRecorder,
  push,
  type Recorder,
  redisCommand,
  type RedisProcess,
  skipWithoutRedis,
  startDelayingProxy,
  startNode,
  startRedis,
  subscriberCount,
  waitUntil,
} from './redis-server.js';

const skip = skipWithoutRedis('framecast.v1 on Redis tests (test/scale/redis-pubsub.test.ts)');

/** Publications per run, one every PUBLISH_INTERVAL_MS, through the three nodes in turn. */
const PUBLICATIONS = 300;
const PUBLISH_INTERVAL_MS = 10;
/** Publication after which Redis kills every pub/sub connection. */
const KILL_AT = 150;
/**
 * The nodes reach Redis through a proxy that, from the kill on, holds each SUBSCRIBE back this
 * long: a node reconnects at once, but listens again only after it, so its outage spans about
 * 100 publications at the steady rate. The history of the first cluster holds far more.
 */
const RESUBSCRIBE_HOLD_MS = 1_000;
const LONG_HISTORY = 1_000;
/** The second cluster's history: far shorter than an outage. */
const SHORT_HISTORY = 3;
/** Node timeout for the presence tests (the default is 30 s, BrokerDefaults.nodeTimeout). */
const NODE_TIMEOUT_MS = 2_000;
/**
 * Room for a loaded 2-core machine on top of the documented times: polling, timers firing late,
 * the killed process's last renewal having been a moment before the kill at most.
 */
const SLACK_MS = 1_500;
const DELIVERY_TIMEOUT_MS = 20_000;
/** After everything expected arrived, how long to keep listening for duplicates or strays. */
const QUIET_PERIOD_MS = 200;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Publication i's payload: text `m<i>`, or every tenth one binary bytes (0xfc, i >> 8, i & 255). */
function payloadOf(i: number): { binary: boolean; bytes: Buffer } {
  return i % 10 === 0 ? { binary: true, bytes: Buffer.from([0xfc, i >> 8, i & 255]) } : { binary: false, bytes: Buffer.from(`m${i}`) };
}

/** A payload as a comparable string: `t:<text>` or `b:<hex>`. */
function keyOf(bytes: Buffer, binary: boolean): string {
  return binary ? `b:${bytes.toString('hex')}` : `t:${bytes.toString('utf8')}`;
}

/** A `pub` push's payload, as `keyOf` writes it. */
function pubKey(pub: Frame): string {
  return pub.binary !== undefined ? keyOf(Buffer.from(pub.binary as string, 'base64'), true) : keyOf(Buffer.from(pub.text as string), false);
}

/** The members of one channel on one node: two framecast.v1 subscribers (one also publishes) and a raw /chat member (who also publishes). */
interface NodeMembers {
  readonly node: ClusterNode;
  readonly talker: V1Client;
  readonly listener: V1Client;
  readonly raw: Recorder;
}

/**
 * Publishes PUBLICATIONS to `channel` at a steady rate, in turn through each node and each way in
 * (POST /push, a framecast.v1 publish, a raw /chat message), and has Redis kill every pub/sub
 * connection after KILL_AT. Resolves once every publish was answered; returns how many pub/sub
 * clients the kill found.
 */
async function publishThroughKill(redisUrl: string, channel: string, members: readonly NodeMembers[], proxy: HoldingProxy): Promise<number> {
  const answers: Array<Promise<void>> = [];
  let killed: Promise<number> | undefined;
  const started = Date.now();
  for (let i = 0; i < PUBLICATIONS; i++) {
    const wait = started + i * PUBLISH_INTERVAL_MS - Date.now();
    if (wait > 0) await pause(wait);
    const { node, talker, raw } = members[i % members.length];
    const { binary, bytes } = payloadOf(i);
    switch (Math.floor(i / members.length) % 3) {
      case 0:
        answers.push(push(node, channel, bytes, binary).then((answer) => expect(answer.status).toBe(202)));
        break;
      case 1: {
        const body = binary ? { channel, binary: bytes.toString('base64') } : { channel, text: bytes.toString() };
        answers.push(talker.command('publish', body).then((reply) => expect(reply.published).toBeDefined()));
        break;
      }
      default:
        raw.client.send(bytes, { binary });
    }
    if (i === KILL_AT) {
      proxy.holdSubscribes = true;
      killed = redisCommand<number>(redisUrl, ['CLIENT', 'KILL', 'TYPE', 'pubsub']).then(Number);
    }
  }
  await Promise.all(answers);
  proxy.holdSubscribes = false;
  return killed!;
}

/** A DelayingProxy in front of Redis that holds SUBSCRIBEs back only while `holdSubscribes`. */
interface HoldingProxy {
  readonly proxy: DelayingProxy;
  holdSubscribes: boolean;
}

async function startHoldingProxy(redisPort: number): Promise<HoldingProxy> {
  const holding: { proxy?: DelayingProxy; holdSubscribes: boolean } = { holdSubscribes: false };
  holding.proxy = await startDelayingProxy(redisPort, (chunk) => holding.holdSubscribes && chunk.toString('latin1').toLowerCase().includes('subscribe'), RESUBSCRIBE_HOLD_MS);
  return holding as HoldingProxy;
}

/** Three nodes reaching `redis` through a new holding proxy. */
async function startCluster(redis: RedisProcess, historySize: number, nodes: ClusterNode[]): Promise<HoldingProxy> {
  const proxy = await startHoldingProxy(redis.port);
  for (let i = 0; i < 3; i++) nodes.push(await startNode(`redis://127.0.0.1:${proxy.proxy.port}`, {}, { historySize }));
  return proxy;
}

/** Opens the members of `channel` on `node` and subscribes its framecast.v1 ones. */
async function membersOn(node: ClusterNode, channel: string, opened: Array<V1Client | Recorder>): Promise<NodeMembers> {
  const talker = await V1Client.open(node.wsUrl);
  const listener = await V1Client.open(node.wsUrl);
  const raw = await openRecorder(`${node.wsUrl}/chat?channel=${channel}`);
  opened.push(talker, listener, raw);
  for (const client of [talker, listener]) expect(await client.subscribe(channel)).toMatchObject({ channel, offset: 0, publications: [] });
  return { node, talker, listener, raw };
}

function closeAll(opened: Array<V1Client | Recorder>): void {
  for (const client of opened) (client instanceof V1Client ? client.socket : client.client).terminate();
}

/** A redis-server, a holding proxy and three nodes, started before a describe's tests and stopped after them. */
interface Cluster {
  redis: RedisProcess;
  proxy: HoldingProxy;
  readonly nodes: ClusterNode[];
  /** Clients to terminate at the end. */
  readonly opened: Array<V1Client | Recorder>;
}

function useCluster(historySize: number): Cluster {
  const cluster = { nodes: [], opened: [] } as unknown as Cluster;
  beforeAll(async () => {
    cluster.redis = await startRedis();
    cluster.proxy = await startCluster(cluster.redis, historySize, cluster.nodes);
  });
  afterAll(async () => {
    closeAll(cluster.opened);
    await Promise.allSettled(cluster.nodes.map((node) => node.close()));
    await cluster.proxy?.proxy.close();
    await cluster.redis?.stop();
  });
  return cluster;
}

/** Waits until Redis shows `count` nodes subscribed to `channel`. */
async function nodesListening(redisUrl: string, channel: string, count: number): Promise<void> {
  await waitUntil(`${count} nodes on ${channel}`, async () => (await subscriberCount(redisUrl, `framecast:channel:${channel}`)) === count);
}

describe.skipIf(skip)('framecast.v1 on three nodes, one redis-server, history long enough', () => {
  const cluster = useCluster(LONG_HISTORY);
  const { nodes, opened } = cluster;
  let a: ClusterNode, b: ClusterNode, c: ClusterNode;
  beforeAll(() => {
    [a, b, c] = nodes;
  });

  it('delivers all 300 publications to every subscriber on every node once each, in order, across a kill of every pub/sub connection', async () => {
    const members = [await membersOn(a, 'steady', opened), await membersOn(b, 'steady', opened), await membersOn(c, 'steady', opened)];
    await nodesListening(cluster.redis.url, 'steady', 3);
    const reconnectsBefore = await Promise.all(nodes.map((node) => metricOf(node, 'framecast_broker_reconnects_total')));

    expect(await publishThroughKill(cluster.redis.url, 'steady', members, cluster.proxy)).toBe(3);

    const subscribers = members.flatMap((m) => [m.talker, m.listener]);
    await waitUntil(
      'every member has every publication',
      () => subscribers.every((s) => s.pubs('steady').length >= PUBLICATIONS) && members.every((m) => m.raw.messages.length >= PUBLICATIONS),
      DELIVERY_TIMEOUT_MS,
    );
    await pause(QUIET_PERIOD_MS);

    const every = Array.from({ length: PUBLICATIONS }, (_, i) => keyOf(payloadOf(i).bytes, payloadOf(i).binary));
    const order = subscribers[0].pubs('steady').map(pubKey);
    expect([...order].sort()).toEqual([...every].sort());
    for (const subscriber of subscribers) {
      // Offsets 1..300 each once and in order, nothing lost, and one order for all.
      expect(subscriber.sequence('steady').map((push) => push.pub?.offset)).toEqual(Array.from({ length: PUBLICATIONS }, (_, i) => i + 1));
      expect(subscriber.pubs('steady').map(pubKey)).toEqual(order);
    }
    for (const { raw } of members) expect(raw.messages.map((message) => keyOf(message.data, message.isBinary))).toEqual(order);

    for (const [i, node] of nodes.entries()) {
      expect(await metricOf(node, 'framecast_broker_reconnects_total')).toBeGreaterThan(reconnectsBefore[i]!);
      // Each node missed the publications of its outage on pub/sub and read them from the history.
      expect(await metricOf(node, 'framecast_broker_publications_recovered_total')).toBeGreaterThan(0);
      expect(await metricOf(node, 'framecast_broker_publications_lost_total')).toBe(0);
    }
  });

  it('gives a client that dropped from one node exactly what it missed when it comes back with since on another', async () => {
    const first = await V1Client.open(a.wsUrl);
    opened.push(first);
    const start = await first.subscribe('resume');
    for (let i = 1; i <= 3; i++) expect((await push(b, 'resume', `before ${i}`)).status).toBe(202);
    await waitUntil('the client has 3 publications', () => first.pubs('resume').length === 3);
    first.terminate();
    const seen = { epoch: start.epoch as string, offset: first.pubs('resume')[2].offset as number };
    expect(seen.offset).toBe(3);

    const missed = [];
    for (let i = 1; i <= 4; i++) {
      const answer = await push(i % 2 === 0 ? b : c, 'resume', `missed ${i}`);
      expect(answer.json).toEqual({ channel: 'resume', recipients: expect.any(Number), counted: 'nodes', offset: 3 + i, epoch: seen.epoch });
      missed.push({ offset: 3 + i, text: `missed ${i}` });
    }

    const back = await V1Client.open(c.wsUrl);
    opened.push(back);
    const resumed = await back.subscribe('resume', { since: seen });
    expect(resumed).toMatchObject({ channel: 'resume', epoch: seen.epoch, offset: 7, recovered: true, publications: missed });
    expect(await push(a, 'resume', 'after')).toMatchObject({ status: 202, json: { offset: 8 } });
    await waitUntil('the next publication as a push', () => back.pubs('resume').length === 1);
    await pause(QUIET_PERIOD_MS);
    expect(back.pubs('resume')).toEqual([{ channel: 'resume', offset: 8, text: 'after' }]);

    // The history through Redis, from another node: the history command and GET /history.
    const reader = await V1Client.open(b.wsUrl);
    opened.push(reader);
    expect((await reader.command('history', { channel: 'resume', limit: 2 })).history).toEqual({
      channel: 'resume',
      epoch: seen.epoch,
      offset: 8,
      publications: [{ offset: 7, text: 'missed 4' }, { offset: 8, text: 'after' }],
    });
    const http = await (await fetch(`${a.httpUrl}/history?channel=resume&since=3&epoch=${seen.epoch}`)).json();
    expect(http).toEqual({ channel: 'resume', epoch: seen.epoch, offset: 8, publications: [...missed, { offset: 8, text: 'after' }], recovered: true });
    expect(await metricOf(c, 'framecast_pubsub_recoveries_total{outcome="recovered"}')).toBe(1);
  });

  it('leaves no presence entry and no member behind for a subscribe undone before Redis answered', async () => {
    const watcher = await V1Client.open(a.wsUrl);
    opened.push(watcher);
    const watcherId = (await watcher.subscribe('undo')).client as string;
    const quick = await V1Client.open(b.wsUrl);
    opened.push(quick);
    // Both commands in one go: the unsubscribe reaches the hub before Redis answers the subscribe.
    const [subscribed, unsubscribed] = await Promise.all([quick.command('subscribe', { channel: 'undo' }), quick.command('unsubscribe', { channel: 'undo' })]);
    expect(subscribed.subscribed).toMatchObject({ channel: 'undo' });
    expect(unsubscribed).toEqual({ id: unsubscribed.id, unsubscribed: { channel: 'undo' } });
    expect(b.hub.channels.memberCount('undo')).toBe(0);
    await nodesListening(cluster.redis.url, 'undo', 1);
    const clients = (await watcher.command('presence', { channel: 'undo' })).presence.clients as Frame[];
    expect(clients.map((entry) => entry.client)).toEqual([watcherId]);
    expect(await redisCommand(cluster.redis.url, ['HLEN', 'framecast:{undo}:presence'])).toBe(1);
    // Nothing published to the channel reaches the client that left.
    expect((await push(c, 'undo', 'after leaving')).status).toBe(202);
    await waitUntil('the watcher has it', () => watcher.pubs('undo').length === 1);
    await pause(QUIET_PERIOD_MS);
    expect(quick.pubs('undo')).toEqual([]);
  });

  it('changes the epoch when Redis restarts empty: subscribers are told with a lost push, and since answers recovered false', async () => {
    const staying = await V1Client.open(b.wsUrl);
    opened.push(staying);
    const before = await staying.subscribe('epochs');
    expect((await push(a, 'epochs', 'old')).json).toMatchObject({ offset: 1, epoch: before.epoch });
    await waitUntil('the push', () => staying.pubs('epochs').length === 1);
    const changesBefore = await metricOf(b, 'framecast_broker_epoch_changes_total');

    const port = cluster.redis.port;
    await cluster.redis.stop();
    cluster.redis = await startRedis(port);
    await waitUntil('every node reconnected', async () => (await Promise.all(nodes.map(healthOf))).every((health) => health.broker === 'connected'), DELIVERY_TIMEOUT_MS);

    await waitUntil('the lost push', () => staying.pushes.some((frame) => frame.lost !== undefined), DELIVERY_TIMEOUT_MS);
    const lost = staying.pushes.find((frame) => frame.lost !== undefined)!.lost;
    expect(lost).toEqual({ channel: 'epochs', epoch: expect.any(String), previousEpoch: before.epoch });
    expect(lost.epoch).not.toBe(before.epoch);
    expect(await metricOf(b, 'framecast_broker_epoch_changes_total')).toBeGreaterThan(changesBefore!);

    const returning = await V1Client.open(a.wsUrl);
    opened.push(returning);
    const again = await returning.subscribe('epochs', { since: { epoch: before.epoch, offset: 1 } });
    expect(again).toMatchObject({ channel: 'epochs', epoch: lost.epoch, offset: 0, publications: [], recovered: false });
    expect((await push(c, 'epochs', 'new')).json).toMatchObject({ offset: 1, epoch: lost.epoch });
    await waitUntil('both have it', () => staying.pubs('epochs').length === 2 && returning.pubs('epochs').length === 1);
    expect(staying.sequence('epochs')).toEqual([{ pub: { channel: 'epochs', offset: 1, text: 'old' } }, { lost }, { pub: { channel: 'epochs', offset: 1, text: 'new' } }]);
    expect(returning.pubs('epochs')).toEqual([{ channel: 'epochs', offset: 1, text: 'new' }]);
    expect(await metricOf(a, 'framecast_pubsub_recoveries_total{outcome="not_recovered"}')).toBe(1);
  });
});

describe.skipIf(skip)('framecast.v1 on three nodes, history shorter than the outage', () => {
  const cluster = useCluster(SHORT_HISTORY);
  const { nodes, opened } = cluster;

  it('reports what the history no longer held to every subscriber with lost pushes, and counts it, never silently', async () => {
    const members: NodeMembers[] = [];
    for (const node of nodes) members.push(await membersOn(node, 'short', opened));
    await nodesListening(cluster.redis.url, 'short', 3);

    expect(await publishThroughKill(cluster.redis.url, 'short', members, cluster.proxy)).toBe(3);

    // Every subscriber accounts for every offset, as a pub or inside a lost range.
    const accounted = (client: V1Client): number => {
      let next = 1;
      for (const push of client.sequence('short')) {
        if (push.pub !== undefined && push.pub.offset === next) next++;
        else if (push.lost !== undefined && push.lost.from === next) next = push.lost.to + 1;
        else return -1; // out of order, a repeat, or a gap nobody was told of
      }
      return next - 1;
    };
    const subscribers = members.flatMap((m) => [m.talker, m.listener]);
    await waitUntil('every subscriber accounts for every offset', () => subscribers.every((s) => accounted(s) === PUBLICATIONS), DELIVERY_TIMEOUT_MS);
    await pause(QUIET_PERIOD_MS);

    for (const { node, talker, listener, raw } of members) {
      const lostOnNode = await metricOf(node, 'framecast_broker_publications_lost_total');
      expect(lostOnNode).toBeGreaterThan(0);
      for (const subscriber of [talker, listener]) {
        expect(accounted(subscriber)).toBe(PUBLICATIONS);
        const losses = subscriber.sequence('short').filter((push) => push.lost !== undefined).map((push) => push.lost);
        expect(losses.length).toBeGreaterThan(0);
        for (const loss of losses) expect(loss).toEqual({ channel: 'short', epoch: expect.any(String), from: expect.any(Number), to: expect.any(Number) });
        // What the subscriber was told is exactly what its node counted as lost.
        expect(losses.reduce((sum, loss) => sum + loss.to - loss.from + 1, 0)).toBe(lostOnNode);
      }
      // Raw members get the same publications as the node's subscribers, in the same order.
      expect(raw.messages.map((message) => keyOf(message.data, message.isBinary))).toEqual(talker.pubs('short').map(pubKey));
    }
  });
});

describe.skipIf(skip)('framecast.v1 presence across nodes', () => {
  let redis: RedisProcess | undefined;
  const nodes: ClusterNode[] = [];
  const opened: Array<V1Client | Recorder> = [];
  let build: { dir: string; cli: string } | undefined;
  let killed: CliChild | undefined;

  beforeAll(async () => {
    // First: compiling blocks this process for seconds, longer than the nodes' timeout.
    build = compileCli('framecast-redis-');
    redis = await startRedis();
    for (let i = 0; i < 3; i++) nodes.push(await startNode(redis.url, { nodeTimeout: NODE_TIMEOUT_MS }));
  });

  afterAll(async () => {
    closeAll(opened);
    const pid = killed?.child.pid;
    if (pid !== undefined && killed!.child.exitCode === null && killed!.child.signalCode === null) process.kill(pid, 'SIGKILL');
    await Promise.allSettled(nodes.map((node) => node.close()));
    await redis?.stop();
    if (build !== undefined) rmSync(build.dir, { recursive: true, force: true });
  });

  it('lists the subscribers of every node from any node, and join and leave reach every node', async () => {
    const clients: Array<{ client: V1Client; id: string; nick: string }> = [];
    for (const [i, node] of nodes.entries()) {
      const client = await V1Client.open(node.wsUrl);
      opened.push(client);
      const reply = await client.subscribe('room', { info: { nick: `on ${i}` } });
      clients.push({ client, id: reply.client as string, nick: `on ${i}` });
    }
    const expected = clients.map(({ id, nick }) => ({ client: id, info: { nick } }));
    const sorted = (list: Frame[]): Frame[] => [...list].sort((x, y) => String(x.client).localeCompare(String(y.client)));
    for (const { client } of clients) {
      expect(sorted((await client.command('presence', { channel: 'room' })).presence.clients)).toEqual(sorted(expected));
    }
    // The first one heard the other two join, from their nodes.
    await waitUntil('joins from B and C', () => clients[0].client.presenceEvents('room').length === 2);
    expect(clients[0].client.presenceEvents('room')).toEqual([
      { join: { channel: 'room', client: clients[1].id, info: { nick: 'on 1' } } },
      { join: { channel: 'room', client: clients[2].id, info: { nick: 'on 2' } } },
    ]);
    expect(await clients[2].client.command('unsubscribe', { channel: 'room' })).toMatchObject({ unsubscribed: { channel: 'room' } });
    await waitUntil('the leave on A and B', () => clients[0].client.presenceEvents('room').length === 3 && clients[1].client.presenceEvents('room').length === 2);
    for (const { client } of clients.slice(0, 2)) expect(client.presenceEvents('room').at(-1)).toEqual({ leave: { channel: 'room', client: clients[2].id, info: { nick: 'on 2' } } });
    expect(sorted((await clients[1].client.command('presence', { channel: 'room' })).presence.clients)).toEqual(sorted(expected.slice(0, 2)));
  });

  it('drops the subscribers of a node killed with SIGKILL from the list within the node timeout, and tells the others they left', async () => {
    // A fourth node as its own process, so that it can die without a clean shutdown.
    const started = spawnCli(build!.cli, ['--port', '0', '--host', '127.0.0.1', '--redis', redis!.url, '--node-timeout', String(NODE_TIMEOUT_MS / 1000)]);
    killed = await started.listening;
    const port = killed.port;
    await waitUntil('the fourth node connects to Redis', async () => (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).broker === 'connected');
    const doomed = await V1Client.open(`ws://127.0.0.1:${killed.port}`);
    opened.push(doomed);
    const doomedId = (await doomed.subscribe('wake', { info: 'short-lived' })).client as string;

    const observer = await V1Client.open(nodes[0].wsUrl);
    opened.push(observer);
    const observerId = (await observer.subscribe('wake')).client as string;
    const listed = async (): Promise<string[]> => ((await observer.command('presence', { channel: 'wake' })).presence.clients as Frame[]).map((entry) => entry.client as string).sort();
    expect(await listed()).toEqual([doomedId, observerId].sort());

    const killedAt = Date.now();
    process.kill(killed.child.pid!, 'SIGKILL');
    await waitUntil('the dead node leaves the list', async () => (await listed()).length === 1, NODE_TIMEOUT_MS + SLACK_MS);
    const goneAfter = Date.now() - killedAt;
    expect(await listed()).toEqual([observerId]);
    expect(goneAfter).toBeLessThanOrEqual(NODE_TIMEOUT_MS + SLACK_MS);

    // A live node purges the dead one's entries and announces the leave within another third.
    await waitUntil('the leave push', () => observer.presenceEvents('wake').length === 1, NODE_TIMEOUT_MS / 3 + SLACK_MS);
    expect(observer.presenceEvents('wake')).toEqual([{ leave: { channel: 'wake', client: doomedId, info: 'short-lived' } }]);
    expect(await redisCommand(redis!.url, ['HLEN', 'framecast:{wake}:presence'])).toBe(1);
  });
});
