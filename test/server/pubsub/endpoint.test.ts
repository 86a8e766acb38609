/**
 * framecast.v1 at /pubsub, judged as docs/pubsub.md writes it, over loopback with the `ws`
 * package as the client: the handshake, every command and its reply, every push, every error
 * code, and the limits.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closed, openClient, nextMessages, type RunningFramecast, startFramecast } from '../../helpers/framecast.js';
import { type Json, PubSubTestClient } from '../../helpers/pubsub-client.js';
import { fetchMetrics, sample, waitUntil } from '../../helpers/wait.js';

/** Answers of an upgrade that was refused: status and body. */
function refusedUpgrade(url: string, protocols?: string | string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols);
    socket.once('open', () => reject(new Error('the upgrade was accepted')));
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    socket.once('error', () => undefined);
  });
}

function post(httpUrl: string, path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; json: Json }> {
  return fetch(`${httpUrl}${path}`, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers }).then(async (response) => ({ status: response.status, json: (await response.json()) as Json }));
}

const openClients: PubSubTestClient[] = [];
async function client(app: RunningFramecast): Promise<PubSubTestClient> {
  const opened = await PubSubTestClient.open(app.wsUrl);
  openClients.push(opened);
  return opened;
}
afterEach(() => {
  for (const opened of openClients.splice(0)) opened.terminate();
});

describe('the handshake (RFC 6455 1.9, 4.2.2)', () => {
  let app: RunningFramecast;
  beforeAll(async () => (app = await startFramecast({ heartbeatInterval: 0 })));
  afterAll(() => app.close());

  it('a handshake that does not offer framecast.v1 is refused with 400 and a reason naming it', async () => {
    const none = await refusedUpgrade(`${app.wsUrl}/pubsub`);
    expect(none.status).toBe(400);
    expect(none.body).toContain('framecast.v1');
    const other = await refusedUpgrade(`${app.wsUrl}/pubsub`, ['chat.v2']);
    expect(other.status).toBe(400);
    expect(other.body).toContain('framecast.v1');
  });

  it('the 101 answers Sec-WebSocket-Protocol: framecast.v1, also when other subprotocols come first', async () => {
    const first = new WebSocket(`${app.wsUrl}/pubsub`, ['chat.v2', 'framecast.v1']);
    await new Promise((resolve) => first.once('open', resolve));
    expect(first.protocol).toBe('framecast.v1');
    first.terminate();
  });

  it('a plain GET /pubsub gets 426', async () => {
    expect((await fetch(`${app.httpUrl}/pubsub`)).status).toBe(426);
  });
});

describe('commands and replies', () => {
  let app: RunningFramecast;
  beforeAll(async () => (app = await startFramecast({ heartbeatInterval: 0 })));
  afterAll(() => app.close());

  it('subscribe answers the channel, its epoch, its latest offset, no publications and the client id', async () => {
    const alice = await client(app);
    const reply = await alice.command('subscribe', { channel: 'fresh' });
    expect(reply).toEqual({
      id: 1,
      subscribed: { channel: 'fresh', epoch: expect.any(String), offset: 0, publications: [], client: expect.stringMatching(/^c-/) },
    });
  });

  it('subscribe with history N puts the latest N publications in the reply, oldest first', async () => {
    for (let i = 1; i <= 5; i++) expect((await post(app.httpUrl, '/push?channel=hist', `m${i}`)).status).toBe(202);
    const bob = await client(app);
    const reply = await bob.command('subscribe', { channel: 'hist', history: 3 });
    expect(reply.subscribed.offset).toBe(5);
    expect(reply.subscribed.publications).toEqual([
      { offset: 3, text: 'm3' },
      { offset: 4, text: 'm4' },
      { offset: 5, text: 'm5' },
    ]);
    expect(reply.subscribed.recovered).toBeUndefined();
  });

  it('after the reply, publications arrive as pub pushes with offsets L+1, L+2, ... and publish answers its offset', async () => {
    const carol = await client(app);
    const dave = await client(app);
    const subscribed = (await carol.command('subscribe', { channel: 'live' })).subscribed;
    await dave.command('subscribe', { channel: 'live' });
    const published = await dave.command('publish', { channel: 'live', text: 'first' });
    expect(published.published).toEqual({ channel: 'live', offset: subscribed.offset + 1, epoch: subscribed.epoch });
    const bytes = randomBytes(300);
    const second = await carol.command('publish', { channel: 'live', binary: bytes.toString('base64') });
    expect(second.published.offset).toBe(subscribed.offset + 2);
    for (const reader of [carol, dave]) {
      const pubs = await reader.waitForPubs('live', 2);
      expect(pubs[0]).toEqual({ channel: 'live', offset: subscribed.offset + 1, text: 'first' });
      expect(pubs[1].offset).toBe(subscribed.offset + 2);
      expect(Buffer.from(pubs[1].binary, 'base64').equals(bytes)).toBe(true);
      expect(pubs[1].text).toBeUndefined();
    }
  });

  it('unsubscribe answers unsubscribed, and no pub of that channel comes after the reply', async () => {
    const erin = await client(app);
    await erin.command('subscribe', { channel: 'quiet' });
    const reply = await erin.command('unsubscribe', { channel: 'quiet' });
    expect(reply).toEqual({ id: 2, unsubscribed: { channel: 'quiet' } });
    await post(app.httpUrl, '/push?channel=quiet', 'nobody hears this');
    // Something sent after the push, that erin does receive: when it is in, the push would be too.
    await erin.command('history', { channel: 'quiet', limit: 0 });
    expect(erin.pubs('quiet')).toEqual([]);
    expect((await erin.command('unsubscribe', { channel: 'quiet' })).error.code).toBe('not_subscribed');
  });

  it('presence lists every subscriber with its info; join and leave reach the others, not the client itself', async () => {
    const frank = await client(app);
    const grace = await client(app);
    const frankId = (await frank.command('subscribe', { channel: 'room', info: { nick: 'frank' } })).subscribed.client;
    const graceId = (await grace.command('subscribe', { channel: 'room' })).subscribed.client;
    expect(frankId).not.toBe(graceId);
    const presence = await grace.command('presence', { channel: 'room' });
    expect(presence.presence.channel).toBe('room');
    expect(presence.presence.clients).toHaveLength(2);
    expect(presence.presence.clients).toEqual(
      expect.arrayContaining([
        { client: frankId, info: { nick: 'frank' } },
        { client: graceId, info: null },
      ]),
    );
    await waitUntil(() => frank.pushes('join').length === 1, 5_000, 'the join');
    expect(frank.pushes('join')).toEqual([{ channel: 'room', client: graceId, info: null }]);
    expect(grace.pushes('join')).toEqual([]);
    grace.close();
    await waitUntil(() => frank.pushes('leave').length === 1, 5_000, 'the leave');
    expect(frank.pushes('leave')).toEqual([{ channel: 'room', client: graceId, info: null }]);
    expect((await frank.command('presence', { channel: 'room' })).presence.clients).toEqual([{ client: frankId, info: { nick: 'frank' } }]);
  });

  it('one client id for all subscriptions of a connection', async () => {
    const heidi = await client(app);
    const a = (await heidi.command('subscribe', { channel: 'id-a' })).subscribed.client;
    const b = (await heidi.command('subscribe', { channel: 'id-b' })).subscribed.client;
    expect(a).toBe(b);
  });

  it('history reads a channel without subscribing: limit, or since with recovered', async () => {
    for (let i = 1; i <= 4; i++) await post(app.httpUrl, '/push?channel=backfill', `b${i}`);
    const ivan = await client(app);
    const latest = await ivan.command('history', { channel: 'backfill', limit: 2 });
    expect(latest.history).toEqual({ channel: 'backfill', epoch: expect.any(String), offset: 4, publications: [{ offset: 3, text: 'b3' }, { offset: 4, text: 'b4' }] });
    const all = await ivan.command('history', { channel: 'backfill' });
    expect(all.history.publications.map((p: Json) => p.offset)).toEqual([1, 2, 3, 4]);
    const since = await ivan.command('history', { channel: 'backfill', since: { epoch: latest.history.epoch, offset: 1 } });
    expect(since.history.publications.map((p: Json) => p.text)).toEqual(['b2', 'b3', 'b4']);
    expect(since.history.recovered).toBe(true);
    // Reading is not subscribing.
    await post(app.httpUrl, '/push?channel=backfill', 'b5');
    await ivan.command('history', { channel: 'backfill', limit: 0 });
    expect(ivan.pubs()).toEqual([]);
  });

  it('a push to every connection reaches framecast.v1 clients as a pub with no channel and no offset', async () => {
    const judy = await client(app);
    await judy.command('subscribe', { channel: 'elsewhere' });
    const lone = await client(app); // subscribed to nothing: still reached
    expect((await post(app.httpUrl, '/push', 'to everyone')).status).toBe(202);
    const bytes = Buffer.from([0, 1, 2, 255]);
    expect((await post(app.httpUrl, '/push', bytes, { 'content-type': 'application/octet-stream' })).status).toBe(202);
    for (const reader of [judy, lone]) {
      const pubs = await reader.waitForPubs(undefined, 2);
      expect(pubs[0]).toEqual({ text: 'to everyone' });
      expect(pubs[1]).toEqual({ binary: bytes.toString('base64') });
    }
  });

  it('replies come in the order of the commands, errors among them', async () => {
    const ken = await client(app);
    const ids = [11, 12, 13, 14, 15, 16];
    ken.sendText(JSON.stringify({ id: 11, subscribe: { channel: 'order' } }));
    ken.sendText(JSON.stringify({ id: 12, nonsense: {} }));
    ken.sendText(JSON.stringify({ id: 13, publish: { channel: 'order', text: 'x' } }));
    ken.sendText(JSON.stringify({ id: 14, presence: { channel: 'order' } }));
    ken.sendText(JSON.stringify({ id: 15, history: { channel: 'order' } }));
    ken.sendText(JSON.stringify({ id: 16, subscribe: { channel: 'order' } }));
    await waitUntil(() => ken.frames.filter((frame) => frame.id !== undefined).length === ids.length, 5_000, 'six replies');
    expect(ken.frames.filter((frame) => frame.id !== undefined).map((frame) => frame.id)).toEqual(ids);
    const replies = new Map(ken.frames.filter((frame) => frame.id !== undefined).map((frame) => [frame.id, frame]));
    expect(replies.get(12)!.error.code).toBe('unknown_command');
    expect(replies.get(16)!.error.code).toBe('already_subscribed');
  });
});

describe('errors, with their stable codes', () => {
  let app: RunningFramecast;
  beforeAll(async () => (app = await startFramecast({ heartbeatInterval: 0 })));
  afterAll(() => app.close());

  it.each([
    ['not JSON', 'hello'],
    ['JSON that is not an object', '[1,2]'],
    ['an object without id', '{"subscribe":{"channel":"a"}}'],
    ['id 0', '{"id":0,"subscribe":{"channel":"a"}}'],
    ['a fractional id', '{"id":1.5,"subscribe":{"channel":"a"}}'],
    ['an id past 2^53-1', '{"id":9007199254740992,"subscribe":{"channel":"a"}}'],
    ['a string id', '{"id":"1","subscribe":{"channel":"a"}}'],
  ])('%s: bad_request without id, and the connection stays usable', async (_what, text) => {
    const c = await client(app);
    c.sendText(text);
    await waitUntil(() => c.frames.length === 1, 5_000, 'the error');
    expect(c.frames[0]).toEqual({ error: { code: 'bad_request', message: expect.any(String) } });
    expect((await c.command('history', { channel: 'usable', limit: 0 })).history).toBeDefined();
  });

  it.each([
    ['no command key', { id: 5 }, 'bad_request'],
    ['two command keys', { id: 5, subscribe: { channel: 'a' }, history: { channel: 'a' } }, 'bad_request'],
    ['an unknown command', { id: 5, dance: { channel: 'a' } }, 'unknown_command'],
    ['arguments that are not an object', { id: 5, subscribe: 'a' }, 'bad_request'],
    ['an invalid channel name', { id: 5, subscribe: { channel: 'bad name' } }, 'invalid_channel'],
    ['a missing channel', { id: 5, presence: {} }, 'invalid_channel'],
    ['a channel name over 64 characters', { id: 5, subscribe: { channel: 'x'.repeat(65) } }, 'invalid_channel'],
    ['history that is not a whole number', { id: 5, subscribe: { channel: 'a', history: -1 } }, 'bad_request'],
    ['since without an epoch', { id: 5, subscribe: { channel: 'a', since: { offset: 3 } } }, 'bad_request'],
    ['info over 1 KiB', { id: 5, subscribe: { channel: 'a', info: 'x'.repeat(1100) } }, 'message_too_big'],
    ['publish without subscribing', { id: 5, publish: { channel: 'a', text: 'x' } }, 'not_subscribed'],
    ['presence without subscribing', { id: 5, presence: { channel: 'a' } }, 'not_subscribed'],
    ['unsubscribe without subscribing', { id: 5, unsubscribe: { channel: 'a' } }, 'not_subscribed'],
  ])('%s: its code, with the id', async (_what, command, code) => {
    const c = await client(app);
    const reply = await c.sendWithId(5, command);
    expect(reply).toEqual({ id: 5, error: { code, message: expect.any(String) } });
  });

  it.each([
    ['both text and binary', { channel: 'pub', text: 'a', binary: 'AA==' }],
    ['neither text nor binary', { channel: 'pub' }],
    ['binary that is not base64', { channel: 'pub', binary: 'not base64!' }],
    ['text that is not a string', { channel: 'pub', text: 42 }],
  ])('publish with %s: bad_request', async (_what, args) => {
    const c = await client(app);
    await c.command('subscribe', { channel: 'pub' });
    expect((await c.command('publish', args)).error.code).toBe('bad_request');
  });

  it('already_subscribed, and too_many_subscriptions past 128 per connection', async () => {
    const c = await client(app);
    await c.command('subscribe', { channel: 'ch0' });
    expect((await c.command('subscribe', { channel: 'ch0' })).error.code).toBe('already_subscribed');
    const replies = await Promise.all(Array.from({ length: 128 }, (_, i) => c.command('subscribe', { channel: `ch${i + 1}` })));
    expect(replies.slice(0, 127).every((reply) => reply.subscribed !== undefined)).toBe(true);
    expect(replies[127].error.code).toBe('too_many_subscriptions');
    // Leaving one makes room again.
    await c.command('unsubscribe', { channel: 'ch0' });
    expect((await c.command('subscribe', { channel: 'ch128' })).subscribed).toBeDefined();
  });

  it('a binary frame closes the connection with 1003', async () => {
    const c = await client(app);
    c.socket.send(Buffer.from('{"id":1,"history":{"channel":"a"}}'));
    expect(await c.closed()).toBe(1003);
  });

  it('32 frames in a row that are not commands close the connection with 1008; a valid command in between starts the count again', async () => {
    const patient = await client(app);
    for (let i = 0; i < 31; i++) patient.sendText('garbage');
    expect((await patient.command('history', { channel: 'a', limit: 0 })).history).toBeDefined();
    for (let i = 0; i < 31; i++) patient.sendText('garbage');
    expect((await patient.command('history', { channel: 'a', limit: 0 })).history).toBeDefined();
    expect(patient.closeCode).toBeUndefined();

    const garbage = await client(app);
    for (let i = 0; i < 40; i++) garbage.sendText('garbage');
    expect(await garbage.closed()).toBe(1008);
    expect(garbage.frames).toHaveLength(31);
  });

  it('error replies are counted in /metrics by code', async () => {
    const metrics = await fetchMetrics(app.httpUrl);
    expect(sample(metrics, 'framecast_pubsub_errors_total{code="bad_request"}')).toBeGreaterThan(0);
    expect(sample(metrics, 'framecast_pubsub_errors_total{code="not_subscribed"}')).toBeGreaterThan(0);
  });
});

describe('--client-publish off', () => {
  let app: RunningFramecast;
  beforeAll(async () => (app = await startFramecast({ heartbeatInterval: 0, clientPublish: false })));
  afterAll(() => app.close());

  it('refuses every client publish with permission_denied; POST /push still publishes', async () => {
    const c = await client(app);
    await c.command('subscribe', { channel: 'feed' });
    expect((await c.command('publish', { channel: 'feed', text: 'x' })).error.code).toBe('permission_denied');
    expect((await post(app.httpUrl, '/push?channel=feed', 'from the server')).json.offset).toBe(1);
    expect((await c.waitForPubs('feed', 1))[0]).toEqual({ channel: 'feed', offset: 1, text: 'from the server' });
  });
});

describe('one channel, every way in', () => {
  let app: RunningFramecast;
  beforeAll(async () => (app = await startFramecast({ heartbeatInterval: 0 })));
  afterAll(() => app.close());

  it('raw /chat, POST /push, framecast.v1 publish and hub.publish share one sequence of offsets; raw members get raw bytes', async () => {
    const raw = await openClient(`${app.wsUrl}/chat?channel=shared`);
    const sub = await client(app);
    const epoch = (await sub.command('subscribe', { channel: 'shared' })).subscribed.epoch;
    const rawArrivals = nextMessages(raw, 4);

    raw.send('from chat');
    await sub.waitForPubs('shared', 1);
    const pushed = await post(app.httpUrl, '/push?channel=shared', 'from push');
    expect(pushed.json).toEqual({ channel: 'shared', recipients: 2, offset: 2, epoch });
    expect((await sub.command('publish', { channel: 'shared', binary: Buffer.from([7, 8, 9]).toString('base64') })).published.offset).toBe(3);
    expect(await app.framecast.hub.publish('shared', 'from the library', false)).toBe(2);

    const pubs = await sub.waitForPubs('shared', 4);
    expect(pubs).toEqual([
      { channel: 'shared', offset: 1, text: 'from chat' },
      { channel: 'shared', offset: 2, text: 'from push' },
      { channel: 'shared', offset: 3, binary: Buffer.from([7, 8, 9]).toString('base64') },
      { channel: 'shared', offset: 4, text: 'from the library' },
    ]);
    const rawReceived = await rawArrivals;
    expect(rawReceived.map(([data, isBinary]) => [data.toString('hex'), isBinary])).toEqual([
      [Buffer.from('from chat').toString('hex'), false],
      [Buffer.from('from push').toString('hex'), false],
      ['070809', true],
      [Buffer.from('from the library').toString('hex'), false],
    ]);

    const history = (await (await fetch(`${app.httpUrl}/history?channel=shared&limit=10`)).json()) as Json;
    expect(history).toEqual({ channel: 'shared', epoch, offset: 4, publications: pubs.map(({ channel: _c, ...publication }) => publication) });
    raw.terminate();
    await closed(raw);
  });
});

describe('GET /history', () => {
  const TOKEN = 's3cret';
  let app: RunningFramecast;
  beforeAll(async () => {
    app = await startFramecast({ heartbeatInterval: 0, pushToken: TOKEN });
    for (let i = 1; i <= 6; i++) await post(app.httpUrl, '/push?channel=log', `l${i}`, { authorization: `Bearer ${TOKEN}` });
  });
  afterAll(() => app.close());
  const get = (path: string, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }): Promise<Response> => fetch(`${app.httpUrl}${path}`, { headers });

  it('needs the same authorisation as POST /push', async () => {
    expect((await get('/history?channel=log', {})).status).toBe(401);
    expect((await get('/history?channel=log', { authorization: 'Bearer wrong' })).status).toBe(401);
  });

  it('limit: the latest N; since: every publication after K, with recovered when the epoch is given', async () => {
    const latest = (await (await get('/history?channel=log&limit=2')).json()) as Json;
    expect(latest.publications).toEqual([{ offset: 5, text: 'l5' }, { offset: 6, text: 'l6' }]);
    expect(latest.offset).toBe(6);
    const since = (await (await get('/history?channel=log&since=4')).json()) as Json;
    expect(since.publications.map((p: Json) => p.offset)).toEqual([5, 6]);
    expect(since.recovered).toBeUndefined();
    const sinceEpoch = (await (await get(`/history?channel=log&since=4&epoch=${latest.epoch}`)).json()) as Json;
    expect(sinceEpoch.recovered).toBe(true);
    const otherEpoch = (await (await get('/history?channel=log&since=4&epoch=other')).json()) as Json;
    expect(otherEpoch.recovered).toBe(false);
    expect(otherEpoch.publications.map((p: Json) => p.offset)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it.each([
    ['/history', 400],
    ['/history?channel=bad%20name', 400],
    ['/history?channel=log&limit=-1', 400],
    ['/history?channel=log&limit=two', 400],
    ['/history?channel=log&since=1.5', 400],
  ])('%s: %i', async (path, status) => {
    expect((await get(path)).status).toBe(status);
  });

  it('only GET and HEAD', async () => {
    const answer = await fetch(`${app.httpUrl}/history?channel=log`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(answer.status).toBe(405);
  });
});

describe('recovery and the limits of the history', () => {
  it('a client that drops and comes back with since gets exactly what it missed, recovered', async () => {
    const app = await startFramecast({ heartbeatInterval: 0 });
    try {
      const first = await client(app);
      const { epoch } = (await first.command('subscribe', { channel: 'news' })).subscribed;
      for (let i = 1; i <= 3; i++) await post(app.httpUrl, '/push?channel=news', `n${i}`);
      const seen = await first.waitForPubs('news', 3);
      first.terminate();
      for (let i = 4; i <= 7; i++) await post(app.httpUrl, '/push?channel=news', `n${i}`);

      const back = await client(app);
      const reply = (await back.command('subscribe', { channel: 'news', since: { epoch, offset: seen.at(-1)!.offset } })).subscribed;
      expect(reply.recovered).toBe(true);
      expect(reply.publications).toEqual([4, 5, 6, 7].map((offset) => ({ offset, text: `n${offset}` })));
      expect(reply.offset).toBe(7);
      await post(app.httpUrl, '/push?channel=news', 'n8');
      expect((await back.waitForPubs('news', 1))[0].offset).toBe(8);
      const metrics = await fetchMetrics(app.httpUrl);
      expect(sample(metrics, 'framecast_pubsub_recoveries_total{outcome="recovered"}')).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('past --history-size, since is answered with what is left and recovered false', async () => {
    const app = await startFramecast({ heartbeatInterval: 0, historySize: 3 });
    try {
      for (let i = 1; i <= 8; i++) await post(app.httpUrl, '/push?channel=short', `s${i}`);
      const c = await client(app);
      const { epoch } = (await c.command('history', { channel: 'short' })).history;
      const reply = (await c.command('subscribe', { channel: 'short', since: { epoch, offset: 2 } })).subscribed;
      expect(reply.recovered).toBe(false);
      expect(reply.publications.map((p: Json) => p.offset)).toEqual([6, 7, 8]);
      const caughtUp = (await c.command('history', { channel: 'short', since: { epoch, offset: 5 } })).history;
      expect(caughtUp.recovered).toBe(true);
    } finally {
      await app.close();
    }
  });

  it('another epoch (the server restarted): recovered false and the whole history of the current one', async () => {
    const app = await startFramecast({ heartbeatInterval: 0 });
    try {
      await post(app.httpUrl, '/push?channel=restart', 'r1');
      const c = await client(app);
      const reply = (await c.command('subscribe', { channel: 'restart', since: { epoch: 'from-before', offset: 40 } })).subscribed;
      expect(reply.recovered).toBe(false);
      expect(reply.epoch).not.toBe('from-before');
      expect(reply.publications).toEqual([{ offset: 1, text: 'r1' }]);
    } finally {
      await app.close();
    }
  });

  it('publications older than --history-ttl leave the history', async () => {
    const TTL_MS = 150;
    const app = await startFramecast({ heartbeatInterval: 0, historyTtl: TTL_MS });
    try {
      await post(app.httpUrl, '/push?channel=fleeting', 'soon gone');
      const c = await client(app);
      const { epoch } = (await c.command('subscribe', { channel: 'fleeting', history: 10 })).subscribed;
      await new Promise((resolve) => setTimeout(resolve, TTL_MS * 2));
      const later = (await c.command('history', { channel: 'fleeting', since: { epoch, offset: 0 } })).history;
      expect(later.publications).toEqual([]);
      expect(later.recovered).toBe(false);
      // The subscriber keeps the channel: same epoch, the offset counter goes on.
      expect(later.epoch).toBe(epoch);
      expect((await post(app.httpUrl, '/push?channel=fleeting', 'next')).json.offset).toBe(2);
    } finally {
      await app.close();
    }
  });

  it('--history-size 0: no history, offsets still count', async () => {
    const app = await startFramecast({ heartbeatInterval: 0, historySize: 0 });
    try {
      const c = await client(app);
      await c.command('subscribe', { channel: 'nohist' });
      await post(app.httpUrl, '/push?channel=nohist', 'a');
      await post(app.httpUrl, '/push?channel=nohist', 'b');
      expect((await c.waitForPubs('nohist', 2)).map((p) => p.offset)).toEqual([1, 2]);
      const history = (await c.command('history', { channel: 'nohist' })).history;
      expect(history.publications).toEqual([]);
      expect(history.offset).toBe(2);
    } finally {
      await app.close();
    }
  });

  it('a slow consumer is dropped as on every endpoint, and coming back with since it gets what it missed', async () => {
    const app = await startFramecast({ heartbeatInterval: 0, maxSendBuffer: 64 * 1024, sendHighWaterMark: 16 * 1024, historySize: 4000, historyMemory: 512 * 1024 * 1024 });
    try {
      const slow = await client(app);
      const { epoch } = (await slow.command('subscribe', { channel: 'burst' })).subscribed;
      // Stop reading: the socket's receive buffer fills, then the server's send buffer.
      slow.socket.pause();
      // Random, so that permessage-deflate (which ws offers) cannot shrink it.
      const big = randomBytes(96 * 1024).toString('base64');
      // Bounded: the kernel's socket buffers on loopback take tens of MB before the server's fills.
      for (let i = 0; i < 1000 && app.framecast.metrics.slowConsumersDropped === 0; i++) {
        await app.framecast.hub.publish('burst', `${i}:${big}`, false);
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(app.framecast.metrics.slowConsumersDropped).toBe(1);
      const latest = (await (await fetch(`${app.httpUrl}/history?channel=burst&limit=0`)).json()) as Json;
      slow.socket.resume();
      await slow.closed();
      const seen = slow.pubs('burst').map((p) => p.offset);
      const lastSeen = seen.at(-1) ?? 0;

      const back = await client(app);
      const reply = (await back.command('subscribe', { channel: 'burst', since: { epoch, offset: lastSeen } })).subscribed;
      expect(reply.recovered).toBe(true);
      expect(reply.publications.map((p: Json) => p.offset)).toEqual(Array.from({ length: latest.offset - lastSeen }, (_, i) => lastSeen + 1 + i));
    } finally {
      await app.close();
    }
  });
});

describe('no gap, no duplicate while publications arrive concurrently with subscribes', () => {
  it('every subscriber sees L+1, L+2, ... up to the last publication, each once', async () => {
    const app = await startFramecast({ heartbeatInterval: 0, historySize: 1000 });
    const PUBLICATIONS = 400;
    const SUBSCRIBERS = 12;
    try {
      const publisher = await client(app);
      await publisher.command('subscribe', { channel: 'race' });
      const subscribers = await Promise.all(Array.from({ length: SUBSCRIBERS }, () => client(app)));
      const replies: Array<Promise<Json>> = [];
      // Publications in flight on one connection while the others subscribe, one after another.
      const publishing = (async () => {
        for (let i = 0; i < PUBLICATIONS; i++) {
          publisher.sendText(JSON.stringify({ id: 1000 + i, publish: { channel: 'race', text: `p${i}` } }));
          if (i % 20 === 0) {
            const next = subscribers[replies.length];
            if (next !== undefined) replies.push(next.command('subscribe', { channel: 'race', history: i % 40 === 0 ? 5 : 0 }));
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
      })();
      await publishing;
      const answered = await Promise.all(replies);
      expect(answered).toHaveLength(SUBSCRIBERS);
      for (const [index, subscriber] of subscribers.entries()) {
        const reply = answered[index].subscribed;
        const expected = PUBLICATIONS - reply.offset;
        const pubs = await subscriber.waitForPubs('race', expected);
        const fromReply = reply.publications.map((p: Json) => p.offset);
        const offsets = [...fromReply, ...pubs.map((p) => p.offset)];
        const first = fromReply[0] ?? reply.offset + 1;
        expect(offsets).toEqual(Array.from({ length: PUBLICATIONS - first + 1 }, (_, i) => first + i));
        // The pushes come after the reply in the connection's frame order.
        const replyIndex = subscriber.frames.findIndex((frame) => frame.subscribed !== undefined);
        expect(subscriber.frames.findIndex((frame) => frame.pub !== undefined)).toBeGreaterThan(replyIndex);
      }
    } finally {
      await app.close();
    }
  });
});

describe('the process stays up under framecast.v1 abuse', () => {
  it('deeply nested JSON and huge ids are answered, not crashed on', async () => {
    const app = await startFramecast({ heartbeatInterval: 0 });
    try {
      const c = await client(app);
      c.sendText('['.repeat(100_000) + ']'.repeat(100_000));
      c.sendText('{"id":1e400,"history":{"channel":"a"}}');
      await waitUntil(() => c.frames.length === 2, 5_000, 'two errors');
      expect(c.frames.every((frame) => frame.error?.code === 'bad_request')).toBe(true);
      await new Promise<void>((resolve, reject) => {
        httpRequest(`${app.httpUrl}/healthz`, (response) => (response.statusCode === 200 ? resolve() : reject(new Error(String(response.statusCode))))).end();
      });
    } finally {
      await app.close();
    }
  });
});
