/**
 * framecast as a library (src/index.ts): WebSocketServer on a user's own http.Server, by path
 * (`attach`) or from the user's own 'upgrade' listener (`handleUpgrade`); `authenticate`;
 * backpressure (`send` returning false, `drain`, `bufferedAmount`); `maxConnections`.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { type AuthenticationResult, ReadyState, WebSocketConnection, WebSocketServer } from '../../src/index.js';
import { MAX_MESSAGE_SIZE_LIMIT } from '../../src/protocol/index.js';
import { closed, nextMessages, openClient, startFramecast } from '../helpers/framecast.js';
import { clientFrame, rawConnect, RawWebSocket, upgradeRequest } from '../helpers/raw-socket.js';
import { waitUntil } from '../helpers/wait.js';

/** Servers and WebSocket servers to close after each test. */
let cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

function webSocketServer(options: ConstructorParameters<typeof WebSocketServer>[0] = {}): WebSocketServer {
  const wss = new WebSocketServer({ heartbeatInterval: 0, ...options });
  cleanups.push(() => wss.close(1001, 'test over', 1_000));
  return wss;
}

/** Status of a refused `ws` connection attempt. */
function refusedStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const client = new WebSocket(url);
    client.once('open', () => {
      client.terminate();
      reject(new Error('connection was accepted'));
    });
    client.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      client.terminate();
    });
    client.once('error', () => undefined);
  });
}

describe('attach(server, path): several WebSocket servers on one http.Server', () => {
  it('routes each path to its own server, leaves plain HTTP to the user, and answers 404 elsewhere', async () => {
    const server = createServer((_request, response) => response.end('plain http'));
    const shout = webSocketServer().attach(server, '/shout');
    const count = webSocketServer().attach(server, '/count');
    shout.on('connection', (connection: WebSocketConnection) => {
      connection.on('message', (data: Buffer) => connection.send(data.toString().toUpperCase()));
    });
    count.on('connection', (connection: WebSocketConnection) => {
      connection.on('message', (data: Buffer) => connection.send(String(data.length)));
    });
    const port = await listen(server);

    const a = await openClient(`ws://127.0.0.1:${port}/shout`);
    const b = await openClient(`ws://127.0.0.1:${port}/count?x=1`);
    const [fromA, fromB] = [nextMessages(a, 1), nextMessages(b, 1)];
    a.send('hello');
    b.send('hello');
    expect((await fromA)[0][0].toString()).toBe('HELLO');
    expect((await fromB)[0][0].toString()).toBe('5');
    expect(shout.clients.size).toBe(1);
    expect(count.clients.size).toBe(1);

    expect(await (await fetch(`http://127.0.0.1:${port}/anything`)).text()).toBe('plain http');
    expect(await refusedStatus(`ws://127.0.0.1:${port}/other`)).toBe(404);
    a.terminate();
    b.terminate();
  });
});

describe('handleUpgrade: the user owns the upgrade event', () => {
  it('hands over chosen requests and the connection arrives in the callback and as "connection"', async () => {
    const server = createServer();
    const wss = webSocketServer();
    const seen: string[] = [];
    wss.on('connection', (_connection: WebSocketConnection, request: IncomingMessage) => seen.push(`event ${request.url}`));
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (request.url !== '/live') {
        socket.end('HTTP/1.1 418 I\'m a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(request, socket, head, (connection, req) => {
        seen.push(`callback ${req.url}`);
        connection.send('welcome');
      });
    });
    const port = await listen(server);

    const client = new WebSocket(`ws://127.0.0.1:${port}/live`);
    const [[welcome]] = await nextMessages(client, 1);
    expect(welcome.toString()).toBe('welcome');
    expect(seen).toEqual(['callback /live', 'event /live']);
    expect(await refusedStatus(`ws://127.0.0.1:${port}/dead`)).toBe(418);
    client.terminate();
  });
});

describe('authenticate: may refuse with any status, possibly after awaiting', () => {
  it('refuses with the status and reason it returns, and accepts when it returns true', async () => {
    const server = createServer();
    const checked: string[] = [];
    const wss = webSocketServer({
      async authenticate(request): Promise<AuthenticationResult> {
        await new Promise((resolve) => setTimeout(resolve, 20)); // e.g. a session lookup
        const token = new URL(request.url ?? '/', 'http://localhost').searchParams.get('token');
        checked.push(token ?? '(none)');
        return token === 'valid' ? true : { status: 401, reason: 'a valid token is required' };
      },
    }).attach(server, '/private');
    wss.on('connection', (connection: WebSocketConnection) => connection.send('in'));
    const port = await listen(server);

    const refusal = await fetchRefusal(port, '/private?token=wrong');
    expect(refusal.status).toBe(401);
    expect(refusal.body).toBe('a valid token is required\n');
    expect(wss.metrics.handshakesRejectedByStatus.get(401)).toBe(1);

    const client = new WebSocket(`ws://127.0.0.1:${port}/private?token=valid`);
    expect((await nextMessages(client, 1))[0][0].toString()).toBe('in');
    expect(checked).toEqual(['wrong', 'valid']);
    client.terminate();
  });

  it('an authenticate that never settles is refused with 503 after authenticateTimeout', async () => {
    const server = createServer();
    const wss = webSocketServer({
      authenticate: () => new Promise<AuthenticationResult>(() => undefined),
      authenticateTimeout: 100,
    }).attach(server, '/stuck');
    const port = await listen(server);
    const refusal = await fetchRefusal(port, '/stuck');
    expect(refusal.status).toBe(503);
    expect(refusal.body).toMatch(/took too long/);
    expect(wss.metrics.handshakesRejectedByStatus.get(503)).toBe(1);
    expect(wss.clients.size).toBe(0);
  });

  it('authenticateTimeout: Infinity (or 0) sets no limit; a negative or NaN one throws at construction', async () => {
    const server = createServer();
    webSocketServer({
      async authenticate(): Promise<AuthenticationResult> {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return true;
      },
      authenticateTimeout: Number.POSITIVE_INFINITY, // Node would clamp it to 1 ms if passed to setTimeout
    }).attach(server, '/patient');
    const port = await listen(server);
    const client = await openClient(`ws://127.0.0.1:${port}/patient`);
    expect(client.readyState).toBe(WebSocket.OPEN);
    client.terminate();
    expect(() => new WebSocketServer({ heartbeatInterval: 0, authenticateTimeout: -1 })).toThrow(RangeError);
    expect(() => new WebSocketServer({ heartbeatInterval: 0, authenticateTimeout: Number.NaN })).toThrow(RangeError);
  });

  it('an authenticate that throws at once starts no timeout timer', async () => {
    const TIMEOUT = 7_777; // a delay no other timer in this test uses
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    try {
      const server = createServer();
      webSocketServer({
        authenticate() {
          throw new Error('no session store');
        },
        authenticateTimeout: TIMEOUT,
      }).attach(server, '/throws');
      const port = await listen(server);
      for (let i = 0; i < 3; i++) expect(await refusedStatus(`ws://127.0.0.1:${port}/throws`)).toBe(500);
      expect(setTimeoutSpy.mock.calls.filter((call) => call[1] === TIMEOUT)).toHaveLength(0);
    } finally {
      setTimeoutSpy.mockRestore();
    }
  });

  it('a throwing authenticate refuses with 500 and the server keeps working', async () => {
    const server = createServer();
    let calls = 0;
    webSocketServer({
      authenticate() {
        if (++calls === 1) throw new Error('database down');
        return true;
      },
    }).attach(server, '/x');
    const port = await listen(server);
    expect(await refusedStatus(`ws://127.0.0.1:${port}/x`)).toBe(500);
    const client = await openClient(`ws://127.0.0.1:${port}/x`);
    expect(client.readyState).toBe(WebSocket.OPEN);
    client.terminate();
  });
});

describe('limits are checked when the server is made', () => {
  it('a maxMessageSize larger than one Buffer can hold throws at construction, not at a connection', () => {
    expect(() => new WebSocketServer({ heartbeatInterval: 0, maxMessageSize: MAX_MESSAGE_SIZE_LIMIT + 1 })).toThrow(RangeError);
    expect(() => new WebSocketServer({ heartbeatInterval: 0, maxMessageSize: -1 })).toThrow(RangeError);
  });
});

describe('authenticate and shutdown: close() while a handshake awaits its hook', () => {
  it('refuses the handshake with 503 once the hook settles, so no connection outlives close()', async () => {
    const server = createServer();
    let hookEntered: () => void = () => undefined;
    const entered = new Promise<void>((resolve) => {
      hookEntered = resolve;
    });
    let letThrough: () => void = () => undefined;
    const wss = webSocketServer({
      async authenticate(): Promise<AuthenticationResult> {
        hookEntered();
        await new Promise<void>((resolve) => {
          letThrough = resolve;
        });
        return true;
      },
    }).attach(server, '/late');
    const port = await listen(server);

    const status = refusedStatus(`ws://127.0.0.1:${port}/late`);
    await entered;
    await wss.close(1001, 'shutting down', 1_000);
    letThrough();
    expect(await status).toBe(503);
    expect(wss.clients.size).toBe(0);
    expect(wss.metrics.handshakesRejectedByStatus.get(503)).toBe(1);
  });
});

describe('bytes that arrive with the handshake are not lost', () => {
  it('frames sent right behind the request, before the 101 and during an async authenticate, are all read', async () => {
    const server = createServer();
    const wss = webSocketServer({
      async authenticate(): Promise<AuthenticationResult> {
        await new Promise((resolve) => setTimeout(resolve, 50));
        return true;
      },
    }).attach(server, '/eager');
    wss.on('connection', (connection: WebSocketConnection) => {
      connection.on('message', (data: Buffer, isBinary: boolean) => connection.send(data, isBinary));
    });
    const port = await listen(server);
    const socket = await rawConnect(port);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // One write: the request and a frame (both in the 'upgrade' event's head), then more while authenticate waits.
    socket.write(Buffer.concat([Buffer.from(upgradeRequest(port, '/eager')), clientFrame(0x1, 'first')]));
    await new Promise((resolve) => setTimeout(resolve, 10));
    socket.write(clientFrame(0x1, 'second'));
    await waitUntil(() => Buffer.concat(received).includes('second'), 3_000, 'both echoes');
    const text = Buffer.concat(received).toString('latin1');
    expect(text.startsWith('HTTP/1.1 101 ')).toBe(true);
    const frames = Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1');
    // Two unmasked text frames: 0x81, length, payload.
    expect([...frames]).toEqual([0x81, 5, ...Buffer.from('first'), 0x81, 6, ...Buffer.from('second')]);
    socket.destroy();
  });
});

/** The status and body of a refused upgrade, read with `ws`'s unexpected-response. */
function fetchRefusal(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const client = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    client.once('open', () => reject(new Error('accepted')));
    client.once('error', () => undefined);
    client.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
  });
}

describe('backpressure: send() returns false past sendHighWaterMark, then "drain"', () => {
  // The second case sits below the socket's own high-water mark (16 KiB), where the socket
  // itself never emits 'drain'.
  for (const [HIGH_WATER_MARK, CHUNK] of [
    [64 * 1024, 16 * 1024],
    [4 * 1024, 1024],
  ]) {
    it(`reports bufferedAmount, returns false once over a mark of ${HIGH_WATER_MARK / 1024} KiB, and emits drain when the reader catches up`, async () => {
      /** Bound on the loop: the kernel's socket buffers take a few MiB before Node buffers anything. */
      const MAX_BYTES = 64 * 1024 * 1024;
      const server = createServer();
      const wss = webSocketServer({ sendHighWaterMark: HIGH_WATER_MARK, maxSendBuffer: MAX_BYTES * 2 }).attach(server, '/bp');
      const serverSide = new Promise<WebSocketConnection>((resolve) => wss.once('connection', resolve));
      const port = await listen(server);
      const reader = await RawWebSocket.open(port, '/bp');
      reader.socket.pause();
      const connection = await serverSide;
      expect(connection.bufferedAmount).toBe(0);

      const chunk = Buffer.alloc(CHUNK, 0x42);
      let sent = 0;
      let accepted = true;
      while (accepted && sent * CHUNK < MAX_BYTES) {
        accepted = connection.send(chunk);
        sent++;
      }
      expect(accepted).toBe(false);
      expect(connection.bufferedAmount).toBeGreaterThan(HIGH_WATER_MARK);
      expect(connection.readyState).toBe(ReadyState.Open);

      const drained = new Promise<void>((resolve, reject) => {
        connection.once('drain', resolve);
        setTimeout(() => reject(new Error("no 'drain' within 5 s of the reader catching up")), 5_000).unref();
      });
      reader.socket.resume();
      await drained;
      expect(connection.bufferedAmount).toBeLessThanOrEqual(HIGH_WATER_MARK);
      // Every message arrives whole.
      await reader.waitForFrames(sent, 10_000);
      expect(reader.frames).toHaveLength(sent);
      expect(reader.frames.every((frame) => frame.opcode === 0x2 && frame.payload.length === CHUNK)).toBe(true);
      expect(connection.send('after drain')).toBe(true);
      reader.destroy();
    });
  }

  it('no drain for a connection that is gone: terminate() while send() has returned false below 16 KiB', async () => {
    const server = createServer();
    const wss = webSocketServer({ sendHighWaterMark: 4 * 1024, maxSendBuffer: 1024 * 1024 * 1024 }).attach(server, '/gone');
    const serverSide = new Promise<WebSocketConnection>((resolve) => wss.once('connection', resolve));
    const port = await listen(server);
    const reader = await RawWebSocket.open(port, '/gone');
    reader.socket.pause();
    const connection = await serverSide;
    const chunk = Buffer.alloc(1024, 0x42);
    let sends = 0;
    while (connection.send(chunk) && sends < 64 * 1024) sends++;
    let drained = false;
    connection.on('drain', () => {
      drained = true;
    });
    const gone = new Promise<void>((resolve) => connection.once('close', () => resolve()));
    connection.terminate();
    await gone;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(drained).toBe(false);
    reader.destroy();
  });
});

describe('maxConnections', () => {
  it('answers 503 beyond the limit and admits again once a connection has closed', async () => {
    const server = createServer();
    const wss = webSocketServer({ maxConnections: 2 }).attach(server, '/limited');
    const port = await listen(server);
    const url = `ws://127.0.0.1:${port}/limited`;
    const first = await openClient(url);
    const second = await openClient(url);
    expect(await refusedStatus(url)).toBe(503);
    const firstClosed = closed(first);
    first.close(1000);
    await firstClosed;
    await waitUntil(() => wss.clients.size === 1, 2_000, 'the closed connection to leave');
    const third = await openClient(url);
    expect(wss.clients.size).toBe(2);
    second.terminate();
    third.terminate();
  });
});

describe('maxConnections in the framecast service', () => {
  it('is one limit over all endpoints: echo and chat connections count together', async () => {
    const app = await startFramecast({ heartbeatInterval: 0, maxConnections: 2 });
    cleanups.push(() => app.close());
    const echo = await openClient(`${app.wsUrl}/ws`);
    const chat = await openClient(`${app.wsUrl}/chat`);
    expect(await refusedStatus(`${app.wsUrl}/ws`)).toBe(503);
    expect(await refusedStatus(`${app.wsUrl}/chat`)).toBe(503);
    const chatClosed = closed(chat);
    chat.close(1000);
    await chatClosed;
    await waitUntil(() => app.framecast.metrics.connectionsOpen === 1, 2_000, 'the chat connection to close');
    const again = await openClient(`${app.wsUrl}/ws`);
    expect(app.framecast.echo.clients.size).toBe(2);
    echo.terminate();
    again.terminate();
  });
});

describe('close(): shutting a WebSocketServer down', () => {
  it('closes its connections with the given code and answers later upgrades with 503', async () => {
    const server = createServer();
    const wss = new WebSocketServer({ heartbeatInterval: 0 }).attach(server, '/s');
    const port = await listen(server);
    const client = await openClient(`ws://127.0.0.1:${port}/s`);
    const clientClosed = closed(client);
    await wss.close(4500, 'maintenance', 1_000);
    expect(await clientClosed).toEqual({ code: 4500, reason: 'maintenance' });
    expect(wss.clients.size).toBe(0);
    expect(await refusedStatus(`ws://127.0.0.1:${port}/s`)).toBe(503);
  });
});
