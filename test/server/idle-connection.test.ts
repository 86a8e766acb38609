/**
 * Connections that say nothing. A connection builds its frame reader (the protocol core's
 * Receiver) only when the first bytes from the peer arrive, so an idle subscriber holds no
 * parser state. These tests check that nothing depends on that reader existing earlier:
 * frames that came with the handshake are read, a peer that never sends anything is still
 * pinged, terminated by the heartbeat and closed on shutdown, and a Close is the first thing
 * a peer may ever send. Also: the options a server shares between its connections do not
 * mix up what each one negotiated (subprotocol, extensions).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type WebSocketConnection, WebSocketServer } from '../../src/index.js';
import { openClient, startFramecast } from '../helpers/framecast.js';
import { clientFrame, closePayload, rawConnect, RawWebSocket, upgradeRequest } from '../helpers/raw-socket.js';
import { waitUntil } from '../helpers/wait.js';

let cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

/** A WebSocketServer attached at `/t` of a fresh http.Server on a loopback port. */
async function serve(options: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<{ wss: WebSocketServer; port: number }> {
  const server: Server = createServer();
  const wss = new WebSocketServer({ heartbeatInterval: 0, ...options }).attach(server, '/t');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    await wss.close(1001, 'test over', 1_000);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { wss, port: (server.address() as AddressInfo).port };
}

function nextConnection(wss: WebSocketServer): Promise<WebSocketConnection> {
  return new Promise((resolve) => wss.once('connection', resolve));
}

function closeEvent(connection: WebSocketConnection): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => connection.once('close', (code: number, reason: string) => resolve({ code, reason })));
}

/** Writes the upgrade request and `frames` in one write; resolves with everything read until the server closes TCP. */
async function oneWrite(port: number, frames: Buffer[]): Promise<Buffer> {
  const socket = await rawConnect(port);
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(Buffer.concat([Buffer.from(upgradeRequest(port, '/t')), ...frames]));
  await ended;
  return Buffer.concat(received);
}

/** The frames after the 101 answer, as [byte 0, payload] of unmasked frames with payloads under 126 bytes. */
function framesAfterHandshake(bytes: Buffer): Array<[number, Buffer]> {
  const text = bytes.toString('latin1');
  expect(text.startsWith('HTTP/1.1 101 ')).toBe(true);
  let rest = bytes.subarray(text.indexOf('\r\n\r\n') + 4);
  const frames: Array<[number, Buffer]> = [];
  while (rest.length > 0) {
    const length = rest[1];
    expect(length).toBeLessThan(126);
    frames.push([rest[0], rest.subarray(2, 2 + length)]);
    rest = rest.subarray(2 + length);
  }
  return frames;
}

describe('frames that arrive with the handshake (no authenticate: the connection is made in the same call)', () => {
  it('a message right behind the request is echoed, then a Close right behind it is answered', async () => {
    const { wss, port } = await serve();
    wss.on('connection', (connection: WebSocketConnection) => {
      connection.on('message', (data: Buffer, isBinary: boolean) => connection.send(data, isBinary));
    });
    const serverSide = nextConnection(wss);
    const bytes = await oneWrite(port, [clientFrame(0x1, 'hello'), clientFrame(0x8, Buffer.from([0x03, 0xe8, ...Buffer.from('bye')]))]);
    expect(await closeEvent(await serverSide)).toEqual({ code: 1000, reason: 'bye' });
    const frames = framesAfterHandshake(bytes);
    expect(frames.map(([first]) => first)).toEqual([0x81, 0x88]);
    expect(frames[0][1].toString()).toBe('hello');
    // RFC 6455 5.5.1: the Close is echoed with the peer's code.
    expect(closePayload(frames[1][1]).code).toBe(1000);
  });

  it('a protocol violation in the first bytes fails the connection with 1002', async () => {
    const { wss, port } = await serve();
    const serverSide = nextConnection(wss);
    // An unmasked client frame (RFC 6455 5.1: the server MUST close the connection).
    const bytes = await oneWrite(port, [clientFrame(0x1, 'plain', { mask: false })]);
    expect((await closeEvent(await serverSide)).code).toBe(1002);
    const frames = framesAfterHandshake(bytes);
    expect(frames).toHaveLength(1);
    expect(frames[0][0]).toBe(0x88);
    expect(closePayload(frames[0][1]).code).toBe(1002);
  });
});

describe('a peer that never sends a byte', () => {
  it('is pinged, then terminated by the heartbeat: close 1006, gone from clients and from the open count', async () => {
    const interval = 100;
    const { wss, port } = await serve({ heartbeatInterval: interval });
    const serverSide = nextConnection(wss);
    const silent = await RawWebSocket.open(port, '/t');
    const connection = await serverSide;
    const closed = closeEvent(connection);
    await silent.waitForSocketClose(20 * interval);
    expect(silent.frames.some((frame) => frame.opcode === 0x9)).toBe(true);
    expect((await closed).code).toBe(1006);
    expect(wss.clients.size).toBe(0);
    expect(wss.metrics.connectionsOpen).toBe(0);
  });

  it('gets 1001 on shutdown; a Close as its first frame ends it at once, reported as 1001', async () => {
    // Timeouts far longer than the test: only the peer's answer can end the connection in time.
    const { wss, port } = await serve({ closeTimeout: 30_000 });
    const serverSide = nextConnection(wss);
    const quiet = await RawWebSocket.open(port, '/t');
    const connection = await serverSide;
    const closed = closeEvent(connection);
    const shutdown = wss.close(1001, 'going away', 30_000);
    expect(await quiet.waitForClose()).toEqual({ code: 1001, reason: 'going away' });
    quiet.write(clientFrame(0x8, Buffer.from([0x03, 0xe9])));
    await shutdown;
    expect(await closed).toEqual({ code: 1001, reason: '' });
    await quiet.waitForSocketClose(2_000);
    expect(wss.clients.size).toBe(0);
  });

  it('is closed by framecast.close() within the shutdown timeout when it does not answer either', async () => {
    const SHUTDOWN_TIMEOUT = 300;
    const app = await startFramecast({ heartbeatInterval: 0, shutdownTimeout: SHUTDOWN_TIMEOUT, closeTimeout: 30_000 });
    const serverSide = nextConnection(app.framecast.echo);
    const deaf = await RawWebSocket.open(app.port, '/ws');
    const closed = closeEvent(await serverSide);
    await app.close();
    expect((await deaf.waitForClose()).code).toBe(1001);
    await deaf.waitForSocketClose(1_000);
    // The server's own 1001 is what it reports: the peer never sent a Close.
    expect((await closed).code).toBe(1001);
    expect(app.framecast.metrics.connectionsOpen).toBe(0);
  });
});

describe('what each connection negotiated stays its own', () => {
  it('subprotocol and extensions per connection, with and without, on one server', async () => {
    const { wss, port } = await serve({ protocols: ['v2', 'v1'], perMessageDeflate: true });
    const url = `ws://127.0.0.1:${port}/t`;
    const connections: WebSocketConnection[] = [];
    wss.on('connection', (connection: WebSocketConnection) => {
      connections.push(connection);
      connection.on('message', (data: Buffer, isBinary: boolean) => connection.send(data, isBinary));
    });
    const plain = await openClient(url, { perMessageDeflate: false });
    const withProtocol = new WebSocket(url, 'v1', { perMessageDeflate: false });
    await new Promise((resolve, reject) => withProtocol.once('open', resolve).once('error', reject));
    const compressed = await openClient(url, { perMessageDeflate: true });
    // Connections that agreed on a subprotocol and nothing else share their options per subprotocol.
    const otherProtocol = new WebSocket(url, 'v2', { perMessageDeflate: false });
    await new Promise((resolve, reject) => otherProtocol.once('open', resolve).once('error', reject));
    const protocolAndCompressed = new WebSocket(url, 'v1', { perMessageDeflate: true });
    await new Promise((resolve, reject) => protocolAndCompressed.once('open', resolve).once('error', reject));
    await waitUntil(() => connections.length === 5, 2_000, 'five connections');
    expect(connections.map((connection) => connection.protocol)).toEqual([undefined, 'v1', undefined, 'v2', 'v1']);
    expect(connections[0].extensions).toBe('');
    expect(connections[1].extensions).toBe('');
    expect(connections[2].extensions).toMatch(/^permessage-deflate/);
    expect(connections[3].extensions).toBe('');
    expect(connections[4].extensions).toMatch(/^permessage-deflate/);
    expect(withProtocol.protocol).toBe('v1');
    expect(otherProtocol.protocol).toBe('v2');
    expect(protocolAndCompressed.protocol).toBe('v1');
    // Each still works: a message long enough to be compressed comes back whole on every one.
    const text = 'x'.repeat(4096);
    for (const client of [plain, withProtocol, compressed, otherProtocol, protocolAndCompressed]) {
      const echoed = new Promise<string>((resolve) => client.once('message', (data: Buffer) => resolve(data.toString())));
      client.send(text);
      expect(await echoed).toBe(text);
      client.terminate();
    }
  });
});
