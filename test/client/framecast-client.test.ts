/**
 * FramecastClient (src/client/framecast-client.ts) over `ws`, through a TCP proxy the test
 * cuts and stalls: against a framecast.v1 server written from docs/pubsub.md on `ws`
 * (fake-pubsub-server.ts, where the test also sees every command), against scripted servers
 * that misbehave on purpose, and against framecast's own /pubsub.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import WebSocket, { WebSocketServer } from 'ws';
import { backoffCap, fullJitterDelay } from '../../src/client/backoff.js';
import {
  type ConnectionStateEvent,
  FramecastClient,
  type FramecastClientOptions,
  FramecastError,
  type FramecastEvents,
} from '../../src/client/index.js';
import type { FramecastOptions } from '../../src/server/app.js';
import { type RunningFramecast, startFramecast } from '../helpers/framecast.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { waitUntil } from '../helpers/wait.js';
import { type FakePubSub, startFakePubSub } from './fake-pubsub-server.js';

/** Generous: the machine is small and loaded. Conditions are waited for, never slept on. */
const WITHIN_MS = 10_000;

type Recorded = { [K in keyof FramecastEvents]: { type: K } & FramecastEvents[K] }[keyof FramecastEvents];

/** Every event of a client, in order. */
function record(client: FramecastClient): Recorded[] {
  const events: Recorded[] = [];
  for (const type of ['state', 'publication', 'push', 'join', 'leave', 'subscribed', 'unsubscribed'] as const) {
    client.on(type, (event) => events.push({ type, ...event } as Recorded));
  }
  return events;
}

/** The events of one type, as the listeners received them. */
function ofType<K extends keyof FramecastEvents>(events: Recorded[], type: K): Array<FramecastEvents[K]> {
  return events.filter((event) => event.type === type).map(({ type: _type, ...event }) => event) as unknown as Array<FramecastEvents[K]>;
}

function texts(events: Recorded[], channel: string): string[] {
  return ofType(events, 'publication')
    .filter((event) => event.channel === channel)
    .map((event) => String(event.data));
}

function offsets(events: Recorded[], channel: string): number[] {
  return ofType(events, 'publication')
    .filter((event) => event.channel === channel)
    .map((event) => event.offset);
}

async function rejection(promise: Promise<unknown>): Promise<FramecastError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(FramecastError);
    return error as FramecastError;
  }
  throw new Error('expected a rejection');
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  server: FakePubSub;
  proxy: TcpProxy;
  client: FramecastClient;
  events: Recorded[];
}

async function setup(options: FramecastClientOptions = {}, historySize?: number): Promise<Setup> {
  const server = await startFakePubSub({ historySize });
  cleanups.push(() => server.close());
  const proxy = await startTcpProxy(server.port);
  cleanups.push(() => proxy.close());
  const client = newClient(proxy.port, options);
  const events = record(client);
  return { server, proxy, client, events };
}

function newClient(port: number, options: FramecastClientOptions = {}, path = '/pubsub'): FramecastClient {
  const client = new FramecastClient(`ws://127.0.0.1:${port}${path}`, { WebSocket, backoff: { min: 20, max: 200 }, ...options });
  cleanups.push(() => client.close());
  return client;
}

function lastState(events: Recorded[]): ConnectionStateEvent | undefined {
  return ofType(events, 'state').at(-1);
}

/** Waits until the client has (re)subscribed `channel` `count` times in all. */
function subscribedTimes(events: Recorded[], channel: string, count: number): Promise<void> {
  return waitUntil(() => ofType(events, 'subscribed').filter((event) => event.channel === channel).length >= count, WITHIN_MS, `${count} subscribed events of ${channel}`);
}

describe('backoff with full jitter', () => {
  it('draws every delay in [0, min(max, min * 2^attempt)), the cap doubling from min up to max', () => {
    fc.assert(
      fc.property(fc.nat(2000), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 100_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, min, extra, random) => {
        const bounds = { min, max: min + extra };
        const delay = fullJitterDelay(attempt, bounds, () => random);
        const cap = backoffCap(attempt, bounds);
        expect(cap).toBe(Math.min(bounds.max, min * 2 ** attempt));
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(cap);
      }),
    );
    expect([0, 1, 2, 3, 4, 5].map((attempt) => backoffCap(attempt, { min: 100, max: 1000 }))).toEqual([100, 200, 400, 800, 1000, 1000]);
    // The whole range is used: the lowest draw waits nothing, the highest almost the cap.
    expect(fullJitterDelay(3, { min: 100, max: 1000 }, () => 0)).toBe(0);
    expect(fullJitterDelay(3, { min: 100, max: 1000 }, () => 0.999)).toBeCloseTo(799.2);
  });

  it('refuses bounds that make no sense', () => {
    expect(() => new FramecastClient('ws://127.0.0.1:1/pubsub', { WebSocket, backoff: { min: 0 } })).toThrow(RangeError);
    expect(() => new FramecastClient('ws://127.0.0.1:1/pubsub', { WebSocket, backoff: { min: 500, max: 100 } })).toThrow(RangeError);
    expect(() => new FramecastClient('ws://127.0.0.1:1/pubsub', { WebSocket, outboxSize: 0 })).toThrow(RangeError);
  });

  it('waits within the bounds between attempts while the server is unreachable, and starts over once a connection worked', async () => {
    const { proxy, client, events } = await setup({ backoff: { min: 10, max: 80 } });
    proxy.cut();
    client.subscribe('lobby');
    client.connect();
    await waitUntil(() => ofType(events, 'state').filter((event) => event.state === 'reconnecting').length >= 7, WITHIN_MS, '7 failed attempts');
    const waits = ofType(events, 'state').filter((event) => event.state === 'reconnecting');
    waits.slice(0, 7).forEach((wait, attempt) => {
      expect(wait.attempt).toBe(attempt);
      expect(wait.code).toBe(1006);
      expect(wait.delay).toBeGreaterThanOrEqual(0);
      expect(wait.delay).toBeLessThan(Math.min(80, 10 * 2 ** attempt));
    });
    proxy.letThrough();
    await subscribedTimes(events, 'lobby', 1);
    // A connection that worked resets the count: the next loss waits as the first did.
    const before = events.length;
    proxy.cut();
    await waitUntil(() => events.slice(before).some((event) => event.type === 'state' && event.state === 'reconnecting'), WITHIN_MS, 'the next wait');
    const next = ofType(events.slice(before), 'state').find((event) => event.state === 'reconnecting');
    expect(next?.attempt).toBe(0);
    expect(next?.delay).toBeLessThan(10);
  });
});

describe('commands and replies', () => {
  it('subscribes with history, delivering it as publications in order, then publishes and gets its own publication once', async () => {
    const { server, client, events } = await setup();
    for (const text of ['one', 'two', 'three', 'four']) server.publish('news', text);
    client.connect();
    const reply = await client.subscribe('news', { history: 2 });
    expect(reply).toMatchObject({ channel: 'news', offset: 4, publications: [{ offset: 3, data: 'three' }, { offset: 4, data: 'four' }] });
    expect(reply.recovered).toBeUndefined();
    expect(reply.client).toMatch(/^c-/);
    expect(texts(events, 'news')).toEqual(['three', 'four']);
    // The subscribed event comes after the reply's publications.
    expect(events.filter((event) => event.type === 'publication' || event.type === 'subscribed').map((event) => event.type)).toEqual(['publication', 'publication', 'subscribed']);

    const published = await client.publish('news', 'five');
    expect(published).toEqual({ channel: 'news', offset: 5, epoch: reply.epoch });
    await waitUntil(() => offsets(events, 'news').includes(5), WITHIN_MS, 'own publication');
    server.publish('news', 'six');
    await waitUntil(() => offsets(events, 'news').includes(6), WITHIN_MS, 'a later publication');
    expect(offsets(events, 'news')).toEqual([3, 4, 5, 6]);
    expect(client.position('news')).toEqual({ epoch: reply.epoch, offset: 6 });
  });

  it('carries binary publications as bytes (base64 on the wire)', async () => {
    const { server, client, events } = await setup();
    client.connect();
    await client.subscribe('bytes');
    const bytes = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff);
    await client.publish('bytes', bytes);
    await waitUntil(() => offsets(events, 'bytes').length === 1, WITHIN_MS, 'the binary publication');
    const [publication] = ofType(events, 'publication');
    expect(publication.data).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(publication.data as Uint8Array).equals(Buffer.from(bytes))).toBe(true);
    const sent = server.commands.find((command) => command.publish !== undefined) as { publish: { binary: string } };
    expect(Buffer.from(sent.publish.binary, 'base64').equals(Buffer.from(bytes))).toBe(true);
  });

  it('rejects with the server\'s stable code, and refuses locally what the server would refuse', async () => {
    const { client } = await setup();
    client.connect();
    expect((await rejection(client.subscribe('not a channel!'))).code).toBe('invalid_channel');
    await client.subscribe('ok');
    expect((await rejection(client.subscribe('ok'))).code).toBe('already_subscribed');
    expect((await rejection(client.publish('elsewhere', 'x'))).code).toBe('not_subscribed');
    expect((await rejection(client.unsubscribe('elsewhere'))).code).toBe('not_subscribed');
  });

  it('presence lists every subscriber with its info; join and leave follow people coming and going', async () => {
    const { server, client, events } = await setup();
    client.connect();
    const mine = await client.subscribe('room', { info: { nick: 'ada' } });
    const other = newClient(server.port);
    other.connect();
    const theirs = await other.subscribe('room', { info: { nick: 'bob' } });
    await waitUntil(() => ofType(events, 'join').length === 1, WITHIN_MS, 'join');
    expect(ofType(events, 'join')).toEqual([{ channel: 'room', client: theirs.client, info: { nick: 'bob' } }]);
    expect(await client.presence('room')).toEqual(
      expect.arrayContaining([
        { client: mine.client, info: { nick: 'ada' } },
        { client: theirs.client, info: { nick: 'bob' } },
      ]),
    );
    await other.unsubscribe('room');
    await waitUntil(() => ofType(events, 'leave').length === 1, WITHIN_MS, 'leave');
    expect(ofType(events, 'leave')).toEqual([{ channel: 'room', client: theirs.client, info: { nick: 'bob' } }]);
    expect(await client.presence('room')).toEqual([{ client: mine.client, info: { nick: 'ada' } }]);
  });

  it('reads history without subscribing, with limit or since', async () => {
    const { server, client } = await setup();
    for (const text of ['a', 'b', 'c']) server.publish('log', text);
    client.connect();
    await waitUntil(() => client.state === 'open', WITHIN_MS, 'open');
    const latest = await client.history('log', { limit: 2 });
    expect(latest).toMatchObject({ channel: 'log', offset: 3, publications: [{ offset: 2, data: 'b' }, { offset: 3, data: 'c' }] });
    const after = await client.history('log', { since: { epoch: latest.epoch, offset: 1 } });
    expect(after).toMatchObject({ recovered: true, publications: [{ offset: 2 }, { offset: 3 }] });
  });

  it('presence and history while offline reject with not_connected instead of waiting', async () => {
    const { client } = await setup();
    expect((await rejection(client.history('log'))).code).toBe('not_connected');
    client.subscribe('log').catch(() => undefined);
    expect((await rejection(client.presence('log'))).code).toBe('not_connected');
  });

  it('a push to every connection arrives as a push, with no channel', async () => {
    const { server, client, events } = await setup();
    client.connect();
    await waitUntil(() => client.state === 'open' && server.connections === 1, WITHIN_MS, 'open');
    server.pushToAll('maintenance at 18:00');
    await waitUntil(() => ofType(events, 'push').length === 1, WITHIN_MS, 'the push');
    expect(ofType(events, 'push')).toEqual([{ data: 'maintenance at 18:00' }]);
    expect(ofType(events, 'publication')).toEqual([]);
  });

  it('delivers nothing of a channel after unsubscribe, and tells', async () => {
    const { server, client, events } = await setup();
    client.connect();
    await client.subscribe('quiet');
    server.publish('quiet', 'before');
    await waitUntil(() => texts(events, 'quiet').length === 1, WITHIN_MS, 'first');
    await client.unsubscribe('quiet');
    expect(ofType(events, 'unsubscribed')).toEqual([{ channel: 'quiet' }]);
    server.publish('quiet', 'after');
    // A later publication of another channel proves the client has read past "after".
    await client.subscribe('loud');
    server.publish('loud', 'marker');
    await waitUntil(() => texts(events, 'loud').length === 1, WITHIN_MS, 'marker');
    expect(texts(events, 'quiet')).toEqual(['before']);
  });

  it('retries a subscribe the server answers `unavailable`, and resolves once it is taken', async () => {
    const { server, client } = await setup();
    server.unavailable = true;
    client.connect();
    let settled = false;
    const subscribed = client.subscribe('later').finally(() => (settled = true));
    await waitUntil(() => server.commands.filter((command) => command.subscribe !== undefined).length >= 3, WITHIN_MS, 'retried subscribes');
    expect(settled).toBe(false);
    server.unavailable = false;
    expect((await subscribed).channel).toBe('later');
  });
});

describe('recovery after a drop', () => {
  it('resubscribes with since its last epoch and offset and delivers what was missed, once each, in order', async () => {
    const { server, proxy, client, events } = await setup();
    client.connect();
    const first = await client.subscribe('news', { history: 10, info: { nick: 'ada' } });
    server.publish('news', 'seen-1');
    server.publish('news', 'seen-2');
    await waitUntil(() => texts(events, 'news').length === 2, WITHIN_MS, 'two live publications');

    proxy.cut();
    await waitUntil(() => lastState(events)?.state === 'reconnecting', WITHIN_MS, 'the drop');
    for (const text of ['missed-3', 'missed-4', 'missed-5']) server.publish('news', text);
    proxy.letThrough();
    await subscribedTimes(events, 'news', 2);
    server.publish('news', 'live-6');
    await waitUntil(() => texts(events, 'news').length === 6, WITHIN_MS, 'everything');

    expect(texts(events, 'news')).toEqual(['seen-1', 'seen-2', 'missed-3', 'missed-4', 'missed-5', 'live-6']);
    expect(offsets(events, 'news')).toEqual([1, 2, 3, 4, 5, 6]);
    const resubscribe = server.commands.filter((command) => command.subscribe !== undefined).at(-1);
    // `since` replaces `history` on a resubscription; `info` is sent again.
    expect(resubscribe?.subscribe).toEqual({ channel: 'news', since: { epoch: first.epoch, offset: 2 }, info: { nick: 'ada' } });
    expect(ofType(events, 'subscribed').map((event) => [event.resubscribed, event.recovered])).toEqual([
      [false, undefined],
      [true, true],
    ]);
  });

  it('says recovered: false when the history no longer holds everything missed, and delivers what is left', async () => {
    const { server, proxy, client, events } = await setup({}, 3);
    client.connect();
    await client.subscribe('short');
    server.publish('short', 'p1');
    await waitUntil(() => texts(events, 'short').length === 1, WITHIN_MS, 'p1');
    proxy.cut();
    await waitUntil(() => lastState(events)?.state === 'reconnecting', WITHIN_MS, 'the drop');
    for (const text of ['p2', 'p3', 'p4', 'p5', 'p6']) server.publish('short', text);
    proxy.letThrough();
    await subscribedTimes(events, 'short', 2);
    expect(ofType(events, 'subscribed').at(-1)).toMatchObject({ resubscribed: true, recovered: false, offset: 6 });
    // p2 and p3 have left a history of 3; the rest comes, and nothing twice.
    expect(texts(events, 'short')).toEqual(['p1', 'p4', 'p5', 'p6']);
    server.publish('short', 'p7');
    await waitUntil(() => texts(events, 'short').includes('p7'), WITHIN_MS, 'p7');
    expect(offsets(events, 'short')).toEqual([1, 4, 5, 6, 7]);
  });

  it('after a new epoch (the server lost the channel) delivers the new sequence from its start, though its offsets are lower', async () => {
    const { server, proxy, client, events } = await setup();
    client.connect();
    const first = await client.subscribe('reset');
    for (const text of ['old-1', 'old-2', 'old-3']) server.publish('reset', text);
    await waitUntil(() => texts(events, 'reset').length === 3, WITHIN_MS, 'old publications');
    proxy.cut();
    await waitUntil(() => lastState(events)?.state === 'reconnecting', WITHIN_MS, 'the drop');
    server.forgetChannels();
    server.publish('reset', 'new-1');
    proxy.letThrough();
    await subscribedTimes(events, 'reset', 2);
    const again = ofType(events, 'subscribed').at(-1);
    expect(again?.epoch).not.toBe(first.epoch);
    expect(again?.recovered).toBe(false);
    expect(texts(events, 'reset')).toEqual(['old-1', 'old-2', 'old-3', 'new-1']);
    expect(client.position('reset')).toEqual({ epoch: again?.epoch, offset: 1 });
  });

  it('notices a connection on which nothing arrives any more (probe unanswered), reconnects and recovers', async () => {
    const { server, proxy, client, events } = await setup({ probeInterval: 100, replyTimeout: 300 });
    client.connect();
    await client.subscribe('watch');
    proxy.stall();
    server.publish('watch', 'lost-in-the-stall');
    await waitUntil(() => lastState(events)?.state === 'reconnecting', WITHIN_MS, 'the client giving up the stalled connection');
    const gaveUp = ofType(events, 'state').find((event) => event.state === 'reconnecting');
    expect(gaveUp).toMatchObject({ code: 1006, reason: 'no reply from the server within 300 ms' });
    proxy.letThrough();
    await subscribedTimes(events, 'watch', 2);
    await waitUntil(() => texts(events, 'watch').length === 1, WITHIN_MS, 'the publication made while stalled');
    expect(texts(events, 'watch')).toEqual(['lost-in-the-stall']);
  });

  it('keeps a quiet but live connection: probes are answered and nothing reconnects', async () => {
    const { server, client, events } = await setup({ probeInterval: 50, replyTimeout: 5_000 });
    client.connect();
    await client.subscribe('calm');
    await waitUntil(() => server.commands.filter((command) => command.history !== undefined).length >= 5, WITHIN_MS, 'five probes');
    expect(ofType(events, 'state').map((event) => event.state)).toEqual(['connecting', 'open']);
    // A probe is a history command with limit 0 on a subscribed channel: it creates nothing on the server.
    for (const command of server.commands.filter((command) => command.history !== undefined)) expect(command.history).toEqual({ channel: 'calm', limit: 0 });
  });

  it('gives up an opening handshake that never gets an answer', async () => {
    const { proxy, client, events } = await setup({ replyTimeout: 200 });
    proxy.stall();
    client.connect();
    await waitUntil(() => lastState(events)?.state === 'reconnecting', WITHIN_MS, 'the handshake given up');
    expect(lastState(events)).toMatchObject({ code: 1006, reason: 'no answer to the opening handshake within 200 ms' });
  });
});

describe('the outbox', () => {
  it('holds publishes made offline and sends them once connected and subscribed, each confirmed by its offset', async () => {
    const { server, proxy, client, events } = await setup();
    proxy.cut();
    client.subscribe('outbox', { history: 0 });
    client.connect();
    const confirmations = ['first', 'second', 'third'].map((text) => client.publish('outbox', text));
    await waitUntil(() => ofType(events, 'state').some((event) => event.state === 'reconnecting'), WITHIN_MS, 'an attempt failing');
    expect(server.commands).toEqual([]);
    proxy.letThrough();
    const published = await Promise.all(confirmations);
    expect(published.map((entry) => entry.offset)).toEqual([1, 2, 3]);
    expect(new Set(published.map((entry) => entry.epoch)).size).toBe(1);
    await waitUntil(() => texts(events, 'outbox').length === 3, WITHIN_MS, 'own publications');
    expect(texts(events, 'outbox')).toEqual(['first', 'second', 'third']);
    // The subscribe went first, then the publishes in the order they were made.
    expect(server.commands.map((command) => Object.keys(command).find((key) => key !== 'id'))).toEqual(['subscribe', 'publish', 'publish', 'publish']);
  });

  it('refuses a publish past its bound with outbox_full, and takes one again once there is room', async () => {
    const { proxy, client } = await setup({ outboxSize: 2 });
    proxy.cut();
    client.subscribe('full');
    client.connect();
    const held = [client.publish('full', 'a'), client.publish('full', 'b')];
    const refused = await rejection(client.publish('full', 'c'));
    expect(refused.code).toBe('outbox_full');
    proxy.letThrough();
    await Promise.all(held);
    expect((await client.publish('full', 'd')).offset).toBe(3);
  });

  it('rejects a publish sent on a connection that ended before the confirmation with unconfirmed', async () => {
    const { proxy, client } = await setup();
    client.connect();
    await client.subscribe('limbo');
    proxy.stall();
    const publishing = client.publish('limbo', 'in flight');
    proxy.cut();
    expect((await rejection(publishing)).code).toBe('unconfirmed');
  });

  it('rejects what still waits when the client is closed, and queued publishes of a channel left', async () => {
    const { proxy, client } = await setup();
    proxy.cut();
    client.connect();
    client.subscribe('a').catch(() => undefined);
    client.subscribe('b').catch(() => undefined);
    const leftBehind = client.publish('a', 'x');
    const closedOn = client.publish('b', 'y');
    await client.unsubscribe('a');
    expect((await rejection(leftBehind)).code).toBe('not_subscribed');
    client.close();
    expect((await rejection(closedOn)).code).toBe('closed');
    expect(client.state).toBe('closed');
  });
});

describe('against servers that break the rules (scripted)', () => {
  /** A server on `ws` that runs `script` for each connection and offers framecast.v1. */
  async function scripted(script: (socket: WebSocket, command: Record<string, unknown>) => void, protocol: string | false = 'framecast.v1'): Promise<number> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => protocol });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    wss.on('connection', (socket) => socket.on('message', (data) => script(socket, JSON.parse(data.toString()))));
    cleanups.push(() => new Promise<void>((resolve) => {
      for (const socket of wss.clients) socket.terminate();
      wss.close(() => resolve());
    }));
    return (wss.address() as AddressInfo).port;
  }

  it('never delivers an offset twice, when pushes repeat the reply\'s publications or each other', async () => {
    const port = await scripted((socket, command) => {
      if (command.subscribe === undefined) return;
      const pub = (offset: number): string => JSON.stringify({ pub: { channel: 'dup', offset, text: `m${offset}` } });
      socket.send(JSON.stringify({ id: command.id, subscribed: { channel: 'dup', epoch: 'E', offset: 3, client: 'c-1', publications: [1, 2, 3].map((offset) => ({ offset, text: `m${offset}` })) } }));
      for (const offset of [2, 3, 4, 4, 3, 5]) socket.send(pub(offset));
    });
    const client = newClient(port, {}, '/');
    const events = record(client);
    client.connect();
    await client.subscribe('dup', { history: 3 });
    await waitUntil(() => offsets(events, 'dup').includes(5), WITHIN_MS, 'offset 5');
    expect(offsets(events, 'dup')).toEqual([1, 2, 3, 4, 5]);
  });

  it('drops what a resubscription repeats of what was already delivered', async () => {
    let connection = 0;
    const port = await scripted((socket, command) => {
      if (command.subscribe === undefined) return;
      connection++;
      // This server ignores `since` and sends its whole history each time.
      const publications = (connection === 1 ? [1, 2] : [1, 2, 3, 4]).map((offset) => ({ offset, text: `m${offset}` }));
      socket.send(JSON.stringify({ id: command.id, subscribed: { channel: 'again', epoch: 'E', offset: publications.length, client: 'c-1', publications, recovered: true } }));
      if (connection === 1) setImmediate(() => socket.terminate());
    });
    const client = newClient(port, {}, '/');
    const events = record(client);
    client.connect();
    await client.subscribe('again', { history: 10 });
    await subscribedTimes(events, 'again', 2);
    expect(offsets(events, 'again')).toEqual([1, 2, 3, 4]);
  });

  it('does not take a server that did not select framecast.v1 for one', async () => {
    // `ws` itself fails such a handshake; a browser opens it with protocol "" (RFC 6455 4.1
    // lets a server select none), so the client checks. A stand-in WebSocket opens that way.
    const made: BrowserLikeSocket[] = [];
    class BrowserLikeSocket {
      readyState = 0;
      readonly protocol = '';
      closedWith: number | undefined;
      onopen: ((event: unknown) => void) | null = null;
      onmessage: ((event: unknown) => void) | null = null;
      onclose: ((event: unknown) => void) | null = null;
      onerror: ((event: unknown) => void) | null = null;
      constructor(readonly url: string, readonly protocols: string | string[]) {
        made.push(this);
        setImmediate(() => {
          this.readyState = 1;
          this.onopen?.({});
        });
      }
      send(): void {
        throw new Error('nothing may be sent');
      }
      close(code?: number): void {
        this.closedWith = code;
        this.readyState = 3;
      }
    }
    const client = new FramecastClient('ws://example.invalid/pubsub', { WebSocket: BrowserLikeSocket, backoff: { min: 60_000 } });
    cleanups.push(() => client.close());
    const events = record(client);
    client.subscribe('lobby').catch(() => undefined);
    client.connect();
    await waitUntil(() => lastState(events)?.state === 'reconnecting', WITHIN_MS, 'refusal');
    expect(lastState(events)).toMatchObject({ code: 1006, reason: 'the server did not select the subprotocol framecast.v1' });
    expect(made).toHaveLength(1);
    expect(made[0].protocols).toBe('framecast.v1');
    expect(made[0].closedWith).toBe(1000);
  });
});

describe("against framecast's own /pubsub (src/server), over loopback through the proxy", () => {
  interface Service {
    service: RunningFramecast;
    proxy: TcpProxy;
    client: FramecastClient;
    events: Recorded[];
  }

  async function serve(options: FramecastOptions = {}, clientOptions: FramecastClientOptions = {}): Promise<Service> {
    const service = await startFramecast(options);
    cleanups.push(() => service.close());
    const proxy = await startTcpProxy(service.port);
    cleanups.push(() => proxy.close());
    const client = newClient(proxy.port, clientOptions);
    return { service, proxy, client, events: record(client) };
  }

  /** POST /push?channel=: the way a backend publishes; answers the offset and epoch it got. */
  async function push(service: RunningFramecast, channel: string, text: string): Promise<{ offset: number; epoch: string }> {
    const response = await fetch(`${service.httpUrl}/push?channel=${channel}`, { method: 'POST', body: text });
    expect(response.status).toBe(202);
    return (await response.json()) as { offset: number; epoch: string };
  }

  it('subscribes with history, publishes with confirmation, and sees pushes with the offsets POST /push answered', async () => {
    const { service, client, events } = await serve();
    await push(service, 'real', 'before-1');
    await push(service, 'real', 'before-2');
    client.connect();
    const reply = await client.subscribe('real', { history: 50, info: { nick: 'ada' } });
    expect(reply).toMatchObject({ offset: 2, publications: [{ offset: 1, data: 'before-1' }, { offset: 2, data: 'before-2' }] });
    const published = await client.publish('real', 'mine');
    expect(published).toEqual({ channel: 'real', offset: 3, epoch: reply.epoch });
    const pushed = await push(service, 'real', 'pushed');
    expect(pushed).toMatchObject({ offset: 4, epoch: reply.epoch });
    await waitUntil(() => offsets(events, 'real').includes(4), WITHIN_MS, 'the push');
    expect(texts(events, 'real')).toEqual(['before-1', 'before-2', 'mine', 'pushed']);
    expect(offsets(events, 'real')).toEqual([1, 2, 3, 4]);
    expect(await client.presence('real')).toEqual([{ client: reply.client, info: { nick: 'ada' } }]);
  });

  it('after a cut, resubscribes with since and gets every publication made meanwhile once, in order, recovered', async () => {
    const { service, proxy, client, events } = await serve();
    client.connect();
    await client.subscribe('cut', { history: 50 });
    await push(service, 'cut', 'live-1');
    await waitUntil(() => texts(events, 'cut').length === 1, WITHIN_MS, 'live-1');
    proxy.cut();
    await waitUntil(() => lastState(events)?.state === 'reconnecting', WITHIN_MS, 'the drop');
    for (const text of ['missed-2', 'missed-3', 'missed-4']) await push(service, 'cut', text);
    const binary = await fetch(`${service.httpUrl}/push?channel=cut`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array([0, 1, 0xff]) });
    expect(binary.status).toBe(202);
    proxy.letThrough();
    await subscribedTimes(events, 'cut', 2);
    await push(service, 'cut', 'live-6');
    await waitUntil(() => offsets(events, 'cut').includes(6), WITHIN_MS, 'live-6');
    expect(offsets(events, 'cut')).toEqual([1, 2, 3, 4, 5, 6]);
    expect(texts(events, 'cut').slice(0, 4)).toEqual(['live-1', 'missed-2', 'missed-3', 'missed-4']);
    expect([...(ofType(events, 'publication')[4].data as Uint8Array)]).toEqual([0, 1, 0xff]);
    expect(ofType(events, 'subscribed').map((event) => [event.resubscribed, event.recovered])).toEqual([
      [false, undefined],
      [true, true],
    ]);
  });

  it('says recovered: false when the server\'s history was too short for the drop', async () => {
    const { service, proxy, client, events } = await serve({ historySize: 2 });
    client.connect();
    await client.subscribe('brief');
    proxy.cut();
    await waitUntil(() => lastState(events)?.state === 'reconnecting', WITHIN_MS, 'the drop');
    for (const text of ['m1', 'm2', 'm3', 'm4']) await push(service, 'brief', text);
    proxy.letThrough();
    await subscribedTimes(events, 'brief', 2);
    expect(ofType(events, 'subscribed').at(-1)).toMatchObject({ resubscribed: true, recovered: false, offset: 4 });
    expect(texts(events, 'brief')).toEqual(['m3', 'm4']);
  });

  it('sends publishes made offline once connected and subscribed; each resolves with the offset the server gave it', async () => {
    const { proxy, client, events } = await serve();
    proxy.cut();
    client.subscribe('later', { history: 0 });
    client.connect();
    const confirmations = ['q1', 'q2', 'q3'].map((text) => client.publish('later', text));
    await waitUntil(() => ofType(events, 'state').some((event) => event.state === 'reconnecting'), WITHIN_MS, 'a failed attempt');
    proxy.letThrough();
    expect((await Promise.all(confirmations)).map((published) => published.offset)).toEqual([1, 2, 3]);
    await waitUntil(() => texts(events, 'later').length === 3, WITHIN_MS, 'own publications');
    expect(texts(events, 'later')).toEqual(['q1', 'q2', 'q3']);
  });

  it('sees others join and leave with their info, and a push to everyone', async () => {
    const { service, client, events } = await serve();
    client.connect();
    await client.subscribe('room', { info: { nick: 'ada' } });
    const other = newClient(service.port);
    other.connect();
    const theirs = await other.subscribe('room', { info: { nick: 'bob' } });
    await waitUntil(() => ofType(events, 'join').length === 1, WITHIN_MS, 'join');
    expect(ofType(events, 'join')).toEqual([{ channel: 'room', client: theirs.client, info: { nick: 'bob' } }]);
    other.close();
    await waitUntil(() => ofType(events, 'leave').length === 1, WITHIN_MS, 'leave');
    expect(ofType(events, 'leave')[0]).toMatchObject({ client: theirs.client });
    const response = await fetch(`${service.httpUrl}/push`, { method: 'POST', body: 'to everyone' });
    expect(response.status).toBe(202);
    await waitUntil(() => ofType(events, 'push').length === 1, WITHIN_MS, 'the push');
    expect(ofType(events, 'push')).toEqual([{ data: 'to everyone' }]);
  });

  it('rejects with the server\'s codes: invalid_channel, permission_denied with client publishes off', async () => {
    const { client } = await serve({ clientPublish: false });
    client.connect();
    expect((await rejection(client.subscribe('no spaces'))).code).toBe('invalid_channel');
    await client.subscribe('readonly');
    expect((await rejection(client.publish('readonly', 'x'))).code).toBe('permission_denied');
  });

  it('finds a stalled connection dead by its unanswered probe and recovers through a new one', async () => {
    const { service, proxy, client, events } = await serve({}, { probeInterval: 100, replyTimeout: 400 });
    client.connect();
    await client.subscribe('stall');
    proxy.stall();
    await push(service, 'stall', 'during the stall');
    await waitUntil(() => lastState(events)?.state === 'reconnecting', WITHIN_MS, 'the connection given up');
    // The first wait is the stalled connection's; attempts after it may fail on their handshake.
    expect(ofType(events, 'state').find((event) => event.state === 'reconnecting')).toMatchObject({ code: 1006, reason: 'no reply from the server within 400 ms' });
    proxy.letThrough();
    await subscribedTimes(events, 'stall', 2);
    await waitUntil(() => texts(events, 'stall').length === 1, WITHIN_MS, 'the publication of the stall');
    expect(ofType(events, 'subscribed').at(-1)?.recovered).toBe(true);
  });
});
