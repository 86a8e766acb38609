/**
 * POST /push?channel=NAME: outside systems push over plain HTTP. Who may push (a bearer token
 * when one is configured, else loopback only), what arrives (text, or binary byte for byte),
 * where (one channel, or every open WebSocket), and the limits (UTF-8, body size).
 */
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { InProcessHub } from '../../src/server/hub/hub.js';
import { isLoopbackHost } from '../../src/server/push.js';
import { nextMessages, openClient, type RunningFramecast, startFramecast } from '../helpers/framecast.js';

interface PushAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}

/**
 * POSTs `body` to `path` with node:http (so headers are exactly the ones given). With
 * `chunked`, no Content-Length is sent and the body goes in several chunks. Each request has
 * its own connection (no keep-alive agent).
 */
function post(port: number, path: string, body: Buffer | string, headers: Record<string, string> = {}, chunked = false): Promise<PushAnswer> {
  return new Promise((resolve, reject) => {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    const request = httpRequest(
      { host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: chunked ? headers : { 'content-length': String(data.length), ...headers } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: response.statusCode ?? 0, headers: response.headers, json: JSON.parse(text) as Record<string, unknown> });
        });
      },
    );
    // The server may answer and close before the whole body is sent (401, 413): that is fine.
    request.on('error', reject);
    if (chunked) {
      const piece = 16 * 1024;
      for (let offset = 0; offset < data.length; offset += piece) request.write(data.subarray(offset, offset + piece));
      request.end();
    } else {
      request.end(data);
    }
  });
}

describe('with a push token configured', () => {
  const TOKEN = 's3cret-token';
  let app: RunningFramecast;
  let member: WebSocket;

  beforeAll(async () => {
    app = await startFramecast({ heartbeatInterval: 0, pushToken: TOKEN });
    member = await openClient(`${app.wsUrl}/chat?channel=news`);
  });
  afterAll(async () => {
    member.terminate();
    await app.close();
  });

  it('no Authorization header: 401 with WWW-Authenticate: Bearer, nothing delivered', async () => {
    const answer = await post(app.port, '/push?channel=news', 'unauthorized');
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe('Bearer');
    expect(answer.json.error).toMatch(/Bearer/);
  });

  it('a wrong token, or the right one in the wrong scheme: 401', async () => {
    for (const authorization of [`Bearer ${TOKEN}x`, 'Bearer ', `Basic ${TOKEN}`, TOKEN]) {
      const answer = await post(app.port, '/push?channel=news', 'unauthorized', { authorization });
      expect(answer.status).toBe(401);
    }
  });

  it('the right token: 202 with {channel, recipients, offset, epoch}, and the member gets the message (and only it)', async () => {
    const arrival = nextMessages(member, 1);
    const answer = await post(app.port, '/push?channel=news', 'breaking news', { authorization: `Bearer ${TOKEN}` });
    expect(answer.status).toBe(202);
    expect(answer.json).toEqual({ channel: 'news', recipients: 1, offset: 1, epoch: expect.any(String) });
    const [[data, isBinary]] = await arrival;
    expect(isBinary).toBe(false);
    expect(data.toString()).toBe('breaking news');
  });

  it('a channel without members: 202 with 0 recipients, and the publication still numbered', async () => {
    const answer = await post(app.port, '/push?channel=empty', 'anyone?', { authorization: `Bearer ${TOKEN}` });
    expect(answer.status).toBe(202);
    expect(answer.json).toEqual({ channel: 'empty', recipients: 0, offset: 1, epoch: expect.any(String) });
  });
});

describe('without a push token: loopback only', () => {
  let app: RunningFramecast;

  beforeAll(async () => {
    app = await startFramecast({ heartbeatInterval: 0, maxPushBody: 64 * 1024 });
  });
  afterAll(async () => {
    await app.close();
  });

  it('a push from 127.0.0.1 is accepted: 202', async () => {
    const answer = await post(app.port, '/push?channel=nobody', 'hi');
    expect(answer.status).toBe(202);
    expect(answer.json).toEqual({ channel: 'nobody', recipients: 0, offset: 1, epoch: expect.any(String) });
  });

  it('a push from a non-loopback address is refused: 403', async () => {
    // The test can only connect over loopback, so the address the server sees is rewritten
    // on arrival, before the request is read: the check reads it like any other.
    const pretendRemote = (socket: Socket): void => {
      Object.defineProperty(socket, 'remoteAddress', { value: '203.0.113.5', configurable: true });
    };
    app.framecast.server.prependListener('connection', pretendRemote);
    try {
      const answer = await post(app.port, '/push?channel=nobody', 'from afar');
      expect(answer.status).toBe(403);
      expect(answer.json.error).toMatch(/loopback/);
    } finally {
      app.framecast.server.off('connection', pretendRemote);
    }
    // Back to loopback: accepted again, so the 403 came from the address alone.
    expect((await post(app.port, '/push?channel=nobody', 'hi')).status).toBe(202);
  });

  it('a page whose own domain resolves to 127.0.0.1 (DNS rebinding) may not push: Host must be a loopback name (403)', async () => {
    const rebound = `evil.example:${app.port}`;
    const answer = await post(app.port, '/push?channel=nobody', 'rebound', { host: rebound, origin: `http://${rebound}` });
    expect(answer.status).toBe(403);
    expect(answer.json.error).toMatch(/loopback address/);
    for (const host of [`localhost:${app.port}`, `[::1]:${app.port}`, `127.0.0.1:${app.port}`]) {
      expect((await post(app.port, '/push?channel=nobody', 'named by loopback', { host })).status).toBe(202);
    }
  });

  it('isLoopbackHost: localhost, 127.x.x.x and [::1], with or without a port, and nothing else', () => {
    for (const host of ['localhost', 'LOCALHOST:8080', '127.0.0.1', '127.1.2.3:80', '[::1]', '[::1]:8080']) expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['evil.example', '127.0.0.1.evil.example', 'localhost.evil.example', '[::1]x', '[::2]', '128.0.0.1', '', undefined]) {
      expect(isLoopbackHost(host)).toBe(false);
    }
  });

  it("a web page of another origin may not push (403); the server's own pages and non-browser clients may", async () => {
    // A browser on this machine is on loopback too: without a token, its Origin header decides.
    const foreign = await post(app.port, '/push?channel=nobody', 'forged', { origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.json.error).toMatch(/other origins/);
    const own = await post(app.port, '/push?channel=nobody', 'same origin', { origin: `http://127.0.0.1:${app.port}` });
    expect(own.status).toBe(202);
    expect((await post(app.port, '/push?channel=nobody', 'no Origin: not a browser')).status).toBe(202);
  });

  it('application/octet-stream arrives as binary, byte for byte', async () => {
    const member = await openClient(`${app.wsUrl}/chat?channel=bin`);
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) & 0xff));
    const arrival = nextMessages(member, 1);
    const answer = await post(app.port, '/push?channel=bin', bytes, { 'content-type': 'application/octet-stream' });
    expect(answer.status).toBe(202);
    const [[data, isBinary]] = await arrival;
    expect(isBinary).toBe(true);
    expect(data.equals(bytes)).toBe(true);
    member.terminate();
  });

  it('a text body that is not valid UTF-8: 400, nothing delivered', async () => {
    const member = await openClient(`${app.wsUrl}/chat?channel=utf`);
    const got: string[] = [];
    member.on('message', (data: Buffer) => got.push(data.toString()));
    const answer = await post(app.port, '/push?channel=utf', Buffer.from([0x61, 0xff, 0x62]), { 'content-type': 'text/plain' });
    expect(answer.status).toBe(400);
    expect(answer.json.error).toMatch(/UTF-8/);
    // The next valid push is the first thing the member receives.
    const next = nextMessages(member, 1);
    expect((await post(app.port, '/push?channel=utf', 'valid')).status).toBe(202);
    await next;
    expect(got).toEqual(['valid']);
    member.terminate();
  });

  it('a body over maxPushBody: 413, whether declared up front or sent chunked', async () => {
    const tooBig = Buffer.alloc(64 * 1024 + 1, 0x61);
    const declared = await post(app.port, '/push?channel=big', tooBig);
    expect(declared.status).toBe(413);
    const chunked = await post(app.port, '/push?channel=big', tooBig, {}, true);
    expect(chunked.status).toBe(413);
    // Exactly the limit is fine.
    expect((await post(app.port, '/push?channel=big', tooBig.subarray(1))).status).toBe(202);
  });

  it('a client that goes away in the middle of its body: no answer is owed, and the server keeps serving', async () => {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const client = connect(app.port, '127.0.0.1', () => resolve(client));
      client.once('error', reject);
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write('POST /push?channel=gone HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(10));
    // Give the server the headers and the first bytes, then vanish.
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    await closed;
    expect((await post(app.port, '/push?channel=gone', 'after')).status).toBe(202);
  });

  it('an invalid channel name: 400', async () => {
    const answer = await post(app.port, '/push?channel=not%20valid', 'x');
    expect(answer.status).toBe(400);
  });

  it('GET /push: 405 with Allow: POST', async () => {
    const response = await fetch(`${app.httpUrl}/push`);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('without ?channel the push reaches every open WebSocket, echo and chat alike', async () => {
    const clients = await Promise.all([
      openClient(`${app.wsUrl}/ws`),
      openClient(`${app.wsUrl}/ws`),
      openClient(`${app.wsUrl}/chat?channel=one`),
      openClient(`${app.wsUrl}/chat?channel=two`),
      openClient(`${app.wsUrl}/chat`),
    ]);
    const arrivals = clients.map((client) => nextMessages(client, 1));
    const answer = await post(app.port, '/push', 'to everyone');
    expect(answer.status).toBe(202);
    expect(answer.json).toEqual({ channel: null, recipients: clients.length });
    for (const [[data]] of await Promise.all(arrivals)) expect(data.toString()).toBe('to everyone');
    for (const client of clients) client.terminate();
  });
});

describe('POST /push when the hub fails', () => {
  /** A hub whose publish throws at once (a bug, not a rejection) or rejects, as told. */
  let failing: 'throw' | 'reject' = 'throw';
  let app: RunningFramecast;
  beforeAll(async () => {
    app = await startFramecast({
      createHub: (everyone) => {
        const hub = new InProcessHub(everyone);
        hub.publishWithOffset = () => {
          if (failing === 'throw') throw new Error('hub exploded');
          return Promise.reject(new Error('broker down'));
        };
        return hub;
      },
    });
  });
  afterAll(() => app.close());

  it('a publish that throws or rejects is answered 503, and the server keeps answering', async () => {
    failing = 'throw';
    expect((await post(app.port, '/push?channel=x', 'one')).status).toBe(503);
    failing = 'reject';
    expect((await post(app.port, '/push?channel=x', 'two')).status).toBe(503);
    expect((await fetch(`${app.httpUrl}/healthz`)).status).toBe(200);
  });
});
