/**
 * WebSockets over HTTP/2 (RFC 8441) on framecast with TLS, and over cleartext h2c: Node's own
 * http2 client sends the extended CONNECT by hand and then RFC 6455 frames on the stream. The
 * same connection class carries them as over HTTP/1.1 (echo, close, refusals), many at once on
 * one HTTP/2 connection, a stream reset by the peer, and a stream whose reader does not read,
 * which HTTP/2 flow control holds back without holding back the others.
 */
import { constants as http2Constants } from 'node:http2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ReadyState, type WebSocketConnection } from '../../src/server/websocket/connection.js';
import { openClient, startFramecast, type RunningFramecast } from '../helpers/framecast.js';
import { connectHttp2, extendedConnect } from '../helpers/http2-websocket.js';
import { clientFrame, RawWebSocket } from '../helpers/raw-socket.js';
import { makeSelfSignedCertificate, type SelfSignedCertificate, tlsTestsEnabled } from '../helpers/tls-cert.js';
import { waitUntil } from '../helpers/wait.js';

const enabled = tlsTestsEnabled('test/server/http2.test.ts');
const TEXT = 0x1;
const CLOSE = 0x8;

const sessions: Array<{ close(): void; destroy(): void }> = [];
afterEach(() => {
  for (const session of sessions.splice(0)) session.destroy();
});

async function session(url: string, ca?: Buffer): Promise<Awaited<ReturnType<typeof connectHttp2>>> {
  const opened = await connectHttp2(url, ca);
  sessions.push(opened);
  return opened;
}

function http2Clients(running: RunningFramecast): WebSocketConnection[] {
  return [...running.framecast.echo.clients].filter((connection) => connection.transport === 'http2');
}

describe.runIf(enabled)('RFC 8441 over TLS', () => {
  let certificate: SelfSignedCertificate;
  let running: RunningFramecast;
  let url: string;

  beforeAll(async () => {
    certificate = makeSelfSignedCertificate();
    running = await startFramecast({ tls: { cert: certificate.cert, key: certificate.key }, heartbeatInterval: 0 });
    url = `https://localhost:${running.port}`;
  });

  afterAll(async () => {
    await running.close();
    certificate.remove();
  });

  it('advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and is chosen by ALPN as h2', async () => {
    const client = await session(url, certificate.cert);
    expect(client.remoteSettings.enableConnectProtocol).toBe(true);
    expect(client.alpnProtocol).toBe('h2');
  });

  it('opens /ws with 200 and no Sec-WebSocket-Accept, echoes frames, and ends the stream after the closing handshake', async () => {
    const client = await session(url, certificate.cert);
    const answer = await extendedConnect(client, '/ws');
    expect(answer.status).toBe(200);
    expect(answer.headers['sec-websocket-accept']).toBeUndefined();
    const ws = RawWebSocket.fromStream(answer.stream);
    await waitUntil(() => http2Clients(running).length === 1);
    expect(http2Clients(running)[0].transport).toBe('http2');
    ws.write(clientFrame(TEXT, 'over one HTTP/2 stream'));
    const [echoed] = await ws.waitForFrames(1);
    expect(echoed.opcode).toBe(TEXT);
    expect(echoed.payload.toString()).toBe('over one HTTP/2 stream');
    // Our Close; the server echoes it and ends its side with END_STREAM (not RST_STREAM).
    const ended = new Promise<number>((resolve) => answer.stream.once('close', () => resolve(answer.stream.rstCode ?? -1)));
    ws.write(clientFrame(CLOSE, Buffer.from([0x03, 0xe8])));
    expect(await ws.waitForClose()).toEqual({ code: 1000, reason: '' });
    await waitUntil(() => ws.ended);
    answer.stream.end();
    expect(await ended).toBe(http2Constants.NGHTTP2_NO_ERROR);
    await waitUntil(() => http2Clients(running).length === 0);
    expect(client.closed).toBe(false); // the HTTP/2 connection outlives its WebSockets
  });

  it('negotiates subprotocols and permessage-deflate as over HTTP/1.1', async () => {
    const client = await session(url, certificate.cert);
    const pubsub = await extendedConnect(client, '/pubsub', { 'sec-websocket-protocol': 'framecast.v1' });
    expect(pubsub.status).toBe(200);
    expect(pubsub.headers['sec-websocket-protocol']).toBe('framecast.v1');
    const deflated = await extendedConnect(client, '/ws', { 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' });
    expect(deflated.status).toBe(200);
    expect(String(deflated.headers['sec-websocket-extensions'])).toMatch(/^permessage-deflate/);
  });

  it('counts connections by transport in /metrics, the total kept', async () => {
    const client = await session(url, certificate.cert);
    const before = await metricsOverHttp2(client);
    const answer = await extendedConnect(client, '/ws');
    expect(answer.status).toBe(200);
    const h1 = await openClient(`wss://localhost:${running.port}/ws`, { ca: certificate.cert });
    const after = await metricsOverHttp2(client);
    expect(after.get('framecast_connections_by_transport_total{transport="http2"}')! - before.get('framecast_connections_by_transport_total{transport="http2"}')!).toBe(1);
    expect(after.get('framecast_connections_by_transport_total{transport="http1"}')! - before.get('framecast_connections_by_transport_total{transport="http1"}')!).toBe(1);
    expect(after.get('framecast_connections_opened_total')! - before.get('framecast_connections_opened_total')!).toBe(2);
    h1.close();
    answer.stream.close(http2Constants.NGHTTP2_CANCEL);
  });

  describe('refusals answer as over HTTP/1.1, with a reason', () => {
    const cases: Array<[string, string, Record<string, string | null>, number]> = [
      ['a CONNECT without :protocol (a tunnel)', '/ws', { ':protocol': null, ':path': null, ':scheme': null }, 400],
      ['another :protocol', '/ws', { ':protocol': 'h2-tunnel' }, 400],
      ['Sec-WebSocket-Version 12', '/ws', { 'sec-websocket-version': '12' }, 400],
      ['no Sec-WebSocket-Version', '/ws', { 'sec-websocket-version': null }, 400],
      ['a foreign Origin', '/ws', { origin: 'https://evil.example' }, 403],
      ['a path with no WebSocket endpoint', '/nowhere', {}, 404],
      ['/pubsub without its subprotocol', '/pubsub', {}, 400],
    ];
    for (const [what, path, headers, status] of cases) {
      it(`${what}: ${status}`, async () => {
        const client = await session(url, certificate.cert);
        const answer = await extendedConnect(client, path, headers);
        expect(answer.status).toBe(status);
        expect((await answer.body()).length).toBeGreaterThan(10);
        if (what.startsWith('Sec-WebSocket-Version') || what.startsWith('no Sec')) expect(answer.headers['sec-websocket-version']).toBe('13');
        // The HTTP/2 connection survives a refused stream and still opens a WebSocket.
        expect((await extendedConnect(client, '/ws')).status).toBe(200);
      });
    }

    it('a plain GET to a WebSocket endpoint over HTTP/2: 405, allow CONNECT', async () => {
      const client = await session(url, certificate.cert);
      const stream = client.request({ ':path': '/ws' });
      const headers = await new Promise<Record<string, unknown>>((resolve) => stream.once('response', resolve));
      expect(headers[':status']).toBe(405);
      expect(headers.allow).toBe('CONNECT');
      stream.close();
    });
  });

  it('POST /push over HTTP/2 reaches a chat WebSocket on another stream of the same connection', async () => {
    const client = await session(url, certificate.cert);
    const chat = await extendedConnect(client, '/chat?channel=h2push');
    expect(chat.status).toBe(200);
    const ws = RawWebSocket.fromStream(chat.stream);
    await waitUntil(() => running.framecast.chat.clients.size === 1);
    const push = client.request({ ':method': 'POST', ':path': '/push?channel=h2push' });
    push.end('pushed over h2');
    const headers = await new Promise<Record<string, unknown>>((resolve) => push.once('response', resolve));
    expect(headers[':status']).toBe(202);
    const [delivered] = await ws.waitForFrames(1);
    expect(delivered.payload.toString()).toBe('pushed over h2');
    chat.stream.close(http2Constants.NGHTTP2_CANCEL);
  });

  it('carries many WebSockets as streams of one HTTP/2 connection at once', async () => {
    const client = await session(url, certificate.cert);
    const count = 40;
    const answers = await Promise.all(Array.from({ length: count }, () => extendedConnect(client, '/ws')));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    const sockets = answers.map((answer) => RawWebSocket.fromStream(answer.stream));
    sockets.forEach((ws, i) => ws.write(clientFrame(TEXT, `stream ${i}`)));
    const replies = await Promise.all(sockets.map((ws) => ws.waitForFrames(1)));
    expect(replies.map((frames) => frames[0].payload.toString())).toEqual(sockets.map((_ws, i) => `stream ${i}`));
    expect(http2Clients(running).length).toBeGreaterThanOrEqual(count);
    for (const answer of answers) answer.stream.close(http2Constants.NGHTTP2_CANCEL);
    await waitUntil(() => http2Clients(running).length === 0);
  });

  it('cleans up a stream reset by the peer (1006), the others on the connection unaffected', async () => {
    const client = await session(url, certificate.cert);
    const [doomed, survivor] = await Promise.all([extendedConnect(client, '/ws'), extendedConnect(client, '/ws')]);
    await waitUntil(() => http2Clients(running).length === 2);
    const closes: number[] = [];
    for (const connection of http2Clients(running)) connection.once('close', (code: number) => closes.push(code));
    doomed.stream.close(http2Constants.NGHTTP2_CANCEL);
    await waitUntil(() => closes.length === 1);
    expect(closes).toEqual([1006]);
    expect(http2Clients(running).length).toBe(1);
    const ws = RawWebSocket.fromStream(survivor.stream);
    ws.write(clientFrame(TEXT, 'still here'));
    expect((await ws.waitForFrames(1))[0].payload.toString()).toBe('still here');
    survivor.stream.close(http2Constants.NGHTTP2_CANCEL);
  });

  it('a stream whose reader does not read is held back by flow control; another stream on the same connection echoes meanwhile', async () => {
    const client = await session(url, certificate.cert);
    const [stuck, lively] = await Promise.all([extendedConnect(client, '/ws'), extendedConnect(client, '/ws')]);
    // Not reading `stuck`: Node sends no WINDOW_UPDATE for it, so its window (64 KiB) fills.
    stuck.stream.pause();
    const message = Buffer.alloc(64 * 1024, 0x61);
    for (let i = 0; i < 16; i++) stuck.stream.write(clientFrame(0x2, message));
    await waitUntil(() => http2Clients(running).some((connection) => connection.bufferedAmount > 256 * 1024), 10_000, 'the stuck stream to back up');
    const ws = RawWebSocket.fromStream(lively.stream);
    ws.write(clientFrame(TEXT, 'not blocked'));
    expect((await ws.waitForFrames(1))[0].payload.toString()).toBe('not blocked');
    // The stuck one is still open (its backlog is under maxSendBuffer), and drains once read.
    const stuckConnection = http2Clients(running).find((connection) => connection.bufferedAmount > 0)!;
    expect(stuckConnection.readyState).toBe(ReadyState.Open);
    let received = 0;
    stuck.stream.on('data', (chunk: Buffer) => (received += chunk.length));
    stuck.stream.resume();
    await waitUntil(() => received >= 16 * message.length, 10_000, 'the stuck stream to drain');
    stuck.stream.close(http2Constants.NGHTTP2_CANCEL);
    lively.stream.close(http2Constants.NGHTTP2_CANCEL);
  });
});

describe.runIf(enabled)('limits over HTTP/2', () => {
  it('answers 503 past maxConnections, counted with the HTTP/1.1 ones', async () => {
    const certificate = makeSelfSignedCertificate();
    const running = await startFramecast({ tls: { cert: certificate.cert, key: certificate.key }, heartbeatInterval: 0, maxConnections: 1 });
    try {
      const h1 = await openClient(`wss://localhost:${running.port}/ws`, { ca: certificate.cert });
      const client = await session(`https://localhost:${running.port}`, certificate.cert);
      const refused = await extendedConnect(client, '/ws');
      expect(refused.status).toBe(503);
      h1.close();
    } finally {
      await running.close();
      certificate.remove();
    }
  });
});

describe.runIf(enabled)('heartbeats over HTTP/2', () => {
  it('pings a stream, and resets (RST_STREAM) one that never answers, the HTTP/2 connection staying up', async () => {
    const certificate = makeSelfSignedCertificate();
    const running = await startFramecast({ tls: { cert: certificate.cert, key: certificate.key }, heartbeatInterval: 200 });
    try {
      const client = await session(`https://localhost:${running.port}`, certificate.cert);
      const answer = await extendedConnect(client, '/ws');
      const ws = RawWebSocket.fromStream(answer.stream);
      const rstCode = new Promise<number | undefined>((resolve) => answer.stream.once('close', () => resolve(answer.stream.rstCode)));
      // The raw peer never answers: a Ping first, then the reset at the next heartbeat.
      const [ping] = await ws.waitForFrames(1);
      expect(ping.opcode).toBe(0x9);
      expect(await rstCode).toBe(http2Constants.NGHTTP2_CANCEL);
      expect(client.closed || client.destroyed).toBe(false);
      expect((await extendedConnect(client, '/ws')).status).toBe(200);
    } finally {
      await running.close();
      certificate.remove();
    }
  });
});

describe('h2c: cleartext HTTP/2 with prior knowledge', () => {
  let running: RunningFramecast;

  beforeAll(async () => {
    running = await startFramecast({ h2c: true, heartbeatInterval: 0 });
  });

  afterAll(() => running.close());

  it('opens a WebSocket by extended CONNECT over h2c and echoes', async () => {
    const client = await session(`http://127.0.0.1:${running.port}`);
    expect(client.remoteSettings.enableConnectProtocol).toBe(true);
    const answer = await extendedConnect(client, '/ws');
    expect(answer.status).toBe(200);
    const ws = RawWebSocket.fromStream(answer.stream);
    ws.write(clientFrame(TEXT, 'over h2c'));
    expect((await ws.waitForFrames(1))[0].payload.toString()).toBe('over h2c');
    answer.stream.close(http2Constants.NGHTTP2_CANCEL);
  });

  it('serves the rest over h2c too: /healthz', async () => {
    const client = await session(`http://127.0.0.1:${running.port}`);
    const stream = client.request({ ':path': '/healthz' });
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    await new Promise((resolve) => stream.once('end', resolve));
    expect(JSON.parse(Buffer.concat(chunks).toString()).status).toBe('ok');
  });
});

/** GET /metrics on an HTTP/2 session, parsed like fetchMetrics. */
async function metricsOverHttp2(client: Awaited<ReturnType<typeof connectHttp2>>): Promise<Map<string, number>> {
  const stream = client.request({ ':path': '/metrics' });
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise((resolve) => stream.once('end', resolve));
  const values = new Map<string, number>();
  for (const line of Buffer.concat(chunks).toString().split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}
