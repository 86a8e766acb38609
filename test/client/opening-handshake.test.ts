/**
 * The client's opening handshake (RFC 6455 4.1) against servers spoken by hand: the request it
 * sends, the answers it must refuse (a wrong Sec-WebSocket-Accept, a subprotocol or extension
 * not offered, a status other than 101), redirects (refused unless asked for, bounded, never
 * from wss: to ws:, credentials kept to their origin), the handshake timeout, and close()
 * while connecting.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, type WebSocketErrorCode } from '../../src/client/index.js';
import { WebSocketServer } from 'ws';
import { acceptKey, type RawPeer, type RawServer, startRawServer } from '../helpers/raw-server.js';
import { closing, echo, nextEvent, opened, startWsServer } from '../helpers/websocket-client.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function rawServer(onPeer: (peer: RawPeer) => void): Promise<RawServer> {
  const server = await startRawServer(onPeer);
  cleanups.push(() => server.close());
  return server;
}

/** The error a connection fails with, checked to come with close 1006, not clean. */
async function failure(socket: WebSocket): Promise<{ code: WebSocketErrorCode; status: number | undefined; message: string }> {
  const { close, error } = await closing(socket);
  expect(error, 'an error event before close').toBeDefined();
  expect([close.code, close.wasClean]).toEqual([1006, false]);
  expect(socket.readyState).toBe(WebSocket.CLOSED);
  return { code: error!.error.code, status: error!.error.status, message: error!.message };
}

describe('the request (RFC 6455 4.1)', () => {
  it('is a GET for the resource name with Host, Upgrade, Connection, a 16-byte key, version 13 and the offers', async () => {
    const server = await rawServer((peer) => peer.accept());
    const socket = new WebSocket(`${server.url}/chat/room?id=7`, ['v1.chat', 'v2.chat']);
    await opened(socket);
    socket.close();
    const request = server.requests[0];
    expect(request.method).toBe('GET');
    expect(request.httpVersion).toBe('1.1');
    expect(request.path).toBe('/chat/room?id=7');
    expect(request.headers.get('host')).toBe(`127.0.0.1:${server.port}`);
    expect(request.headers.get('upgrade')).toBe('websocket');
    expect(request.headers.get('connection')).toBe('Upgrade');
    expect(Buffer.from(request.headers.get('sec-websocket-key')!, 'base64')).toHaveLength(16);
    expect(request.headers.get('sec-websocket-version')).toBe('13');
    expect(request.headers.get('sec-websocket-protocol')).toBe('v1.chat, v2.chat');
    expect(request.headers.get('sec-websocket-extensions')).toBe('permessage-deflate; client_max_window_bits');
    // Node clients send no Origin unless asked (RFC 6455 4.1 item 8: browsers MUST).
    expect(request.headers.has('origin')).toBe(false);
  });

  it('each connection has a fresh random key', async () => {
    const server = await rawServer((peer) => peer.accept());
    for (let i = 0; i < 3; i++) (await opened(new WebSocket(server.url))).close();
    const keys = server.requests.map((request) => request.headers.get('sec-websocket-key'));
    expect(new Set(keys).size).toBe(3);
  });

  it('an empty path is sent as "/", and an origin and extra headers when given', async () => {
    const server = await rawServer((peer) => peer.accept());
    const socket = new WebSocket(server.url, { origin: 'https://app.example', headers: { Authorization: 'Bearer t0ken', 'X-Trace': 'abc' } });
    await opened(socket);
    socket.close();
    const request = server.requests[0];
    expect(request.path).toBe('/');
    expect(request.headers.get('origin')).toBe('https://app.example');
    expect(request.headers.get('authorization')).toBe('Bearer t0ken');
    expect(request.headers.get('x-trace')).toBe('abc');
  });

  it('headers the handshake sets itself, bad names and values with CR or LF are refused at once', () => {
    for (const name of ['Host', 'upgrade', 'Connection', 'Sec-WebSocket-Key', 'sec-websocket-version', 'Sec-WebSocket-Protocol', 'Sec-WebSocket-Extensions', 'Origin']) {
      expect(() => new WebSocket('ws://127.0.0.1:1', { headers: { [name]: 'x' } }), name).toThrow(TypeError);
    }
    expect(() => new WebSocket('ws://127.0.0.1:1', { headers: { 'bad name': 'x' } })).toThrow(TypeError);
    expect(() => new WebSocket('ws://127.0.0.1:1', { headers: { 'X-Evil': 'a\r\nX-Injected: yes' } })).toThrow(TypeError);
    expect(() => new WebSocket('ws://127.0.0.1:1', { origin: 'https://a\r\nb' })).toThrow(TypeError);
  });

  it('nothing is sent before the 101 arrives (RFC 6455 4.1: the client MUST wait for the response)', async () => {
    let peerOf: RawPeer | undefined;
    const server = await rawServer((peer) => (peerOf = peer));
    const socket = new WebSocket(server.url);
    await waitFor(() => peerOf !== undefined);
    expect(() => socket.send('early')).toThrow(expect.objectContaining({ name: 'InvalidStateError' }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(peerOf!.frames).toEqual([]);
    peerOf!.accept();
    await nextEvent(socket, 'open');
    socket.send('after');
    expect((await peerOf!.frameAt(0)).payload.toString()).toBe('after');
    socket.close();
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error('condition never held');
}

describe('answers the client must refuse (RFC 6455 4.1: "the client MUST _Fail the WebSocket Connection_")', () => {
  it.each<[string, (peer: RawPeer) => void]>([
    ['a wrong Sec-WebSocket-Accept', (peer) => peer.accept([], 'dGhlIHNhbXBsZSBub25jZQ==')],
    ['the key itself as Sec-WebSocket-Accept', (peer) => peer.accept([], peer.key)],
    ['a subprotocol that was not offered', (peer) => peer.accept(['Sec-WebSocket-Protocol: not-offered'])],
    ['an extension that was not offered', (peer) => peer.accept(['Sec-WebSocket-Extensions: x-unknown'])],
    ['permessage-deflate with an unknown parameter', (peer) => peer.accept(['Sec-WebSocket-Extensions: permessage-deflate; x-param'])],
    ['no Upgrade header', (peer) => peer.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(peer)}\r\n\r\n`)],
    ['no Connection header', (peer) => peer.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${acceptOf(peer)}\r\n\r\n`)],
    ['a malformed status line', (peer) => peer.write('HTTP/1.1 1O1 Nope\r\n\r\n')],
  ])('%s: an error (INVALID_HANDSHAKE), then close 1006, and not a frame sent', async (_what, answer) => {
    let peerOf: RawPeer | undefined;
    const server = await rawServer((peer) => {
      peerOf = peer;
      answer(peer);
      // A frame right behind the answer: a client that accepted would deliver it.
      peer.send(0x1, 'you should not see this');
    });
    const socket = new WebSocket(server.url, ['offered']);
    let messages = 0;
    socket.onmessage = () => messages++;
    expect((await failure(socket)).code).toBe('INVALID_HANDSHAKE');
    await peerOf!.until(() => peerOf!.clientEnded, 2_000, 'the client to close TCP');
    expect(peerOf!.frames).toEqual([]);
    expect(messages).toBe(0);
  });

  it('an extension when none was offered (perMessageDeflate: false)', async () => {
    const server = await rawServer((peer) => peer.accept(['Sec-WebSocket-Extensions: permessage-deflate']));
    expect((await failure(new WebSocket(server.url, { perMessageDeflate: false }))).code).toBe('INVALID_HANDSHAKE');
  });

  it('an answer without server_no_context_takeover when the offer asked for it (RFC 7692 7.1.1.1)', async () => {
    const server = await rawServer((peer) => peer.accept(['Sec-WebSocket-Extensions: permessage-deflate']));
    expect((await failure(new WebSocket(server.url, { perMessageDeflate: { serverNoContextTakeover: true } }))).code).toBe('INVALID_HANDSHAKE');
  });

  it('a status other than 101 fails with UNEXPECTED_STATUS and the status', async () => {
    const server = await rawServer((peer) => peer.write('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'));
    const { code, status } = await failure(new WebSocket(server.url));
    expect([code, status]).toEqual(['UNEXPECTED_STATUS', 401]);
  });
});

/** The right Sec-WebSocket-Accept, for answers written by hand. */
function acceptOf(peer: RawPeer): string {
  return acceptKey(peer.key);
}

describe('redirects', () => {
  async function redirectingServer(location: (port: number) => string, status = 302): Promise<{ port: number; hits: () => number; server: Server }> {
    let hits = 0;
    const server = createHttpServer();
    server.on('upgrade', (_request, socket) => {
      hits++;
      socket.end(`HTTP/1.1 ${status} Moved\r\nLocation: ${location(port)}\r\nContent-Length: 0\r\n\r\n`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return { port, hits: () => hits, server };
  }

  it('are refused by default (as browsers do), with the status and where it pointed', async () => {
    const target = await startWsServer({}, echo);
    cleanups.push(() => target.close());
    const { port } = await redirectingServer(() => `${target.url}/elsewhere`);
    const { code, status, message } = await failure(new WebSocket(`ws://127.0.0.1:${port}/`));
    expect([code, status]).toEqual(['REDIRECT_REFUSED', 302]);
    expect(message).toContain(`${target.url}/elsewhere`);
  });

  it('are followed with followRedirects: true, to a relative or http: Location', async () => {
    const seen: string[] = [];
    const target = await startWsServer({}, (peer, request) => {
      seen.push(request.url ?? '');
      echo(peer);
    });
    cleanups.push(() => target.close());
    for (const location of [`http://127.0.0.1:${target.port}/via-http`, `ws://127.0.0.1:${target.port}/via-ws`]) {
      const { port } = await redirectingServer(() => location, 307);
      const socket = await opened(new WebSocket(`ws://127.0.0.1:${port}/start`, { followRedirects: true }));
      const reply = nextEvent<MessageEvent>(socket, 'message');
      socket.send('followed');
      expect((await reply).data).toBe('followed');
      socket.close();
    }
    expect(seen).toEqual(['/via-http', '/via-ws']);
    const relative = await redirectingServer(() => '/relative', 301);
    // A relative Location resolves against the URL that was redirected: back to the same server, which redirects again.
    const socket = new WebSocket(`ws://127.0.0.1:${relative.port}/start`, { followRedirects: true, maxRedirects: 2 });
    expect((await failure(socket)).code).toBe('TOO_MANY_REDIRECTS');
    expect(relative.hits()).toBe(3);
  });

  it('are bounded by maxRedirects', async () => {
    const loop = await redirectingServer((port) => `ws://127.0.0.1:${port}/again`);
    const { code } = await failure(new WebSocket(`ws://127.0.0.1:${loop.port}/`, { followRedirects: true, maxRedirects: 4 }));
    expect(code).toBe('TOO_MANY_REDIRECTS');
    expect(loop.hits()).toBe(5);
  });

  it('drop Authorization and Cookie when they lead to another origin', async () => {
    const headersSeen: Array<Record<string, string | undefined>> = [];
    const target = await startWsServer({}, (peer, request) => {
      headersSeen.push({ authorization: request.headers.authorization, cookie: request.headers.cookie, other: request.headers['x-other'] as string });
      echo(peer);
    });
    cleanups.push(() => target.close());
    const headers = { Authorization: 'Bearer secret', Cookie: 'session=1', 'X-Other': 'kept' };
    // 127.0.0.1 to localhost: another origin (another host), though the same machine.
    const crossOrigin = await redirectingServer(() => `ws://localhost:${target.port}/`);
    (await opened(new WebSocket(`ws://127.0.0.1:${crossOrigin.port}/`, { followRedirects: true, headers }))).close();
    expect(headersSeen[0]).toEqual({ authorization: undefined, cookie: undefined, other: 'kept' });
    // The same host on another port is another origin too.
    const otherPort = await redirectingServer(() => `ws://127.0.0.1:${target.port}/`);
    (await opened(new WebSocket(`ws://127.0.0.1:${otherPort.port}/`, { followRedirects: true, headers }))).close();
    expect(headersSeen[1]).toEqual({ authorization: undefined, cookie: undefined, other: 'kept' });
  });

  it('keep credentials when the redirect stays on the same origin', async () => {
    const requests: Array<string | undefined> = [];
    let first = true;
    const server = createHttpServer();
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (request, socket, head) => {
      requests.push(request.headers.authorization);
      if (first) {
        first = false;
        socket.end(`HTTP/1.1 302 Found\r\nLocation: /second\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      wss.handleUpgrade(request, socket, head, (peer) => peer.close(1000));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as AddressInfo).port;
    const socket = new WebSocket(`ws://127.0.0.1:${port}/first`, { followRedirects: true, headers: { Authorization: 'Bearer secret' } });
    await nextEvent(socket, 'close');
    expect(requests).toEqual(['Bearer secret', 'Bearer secret']);
  });
});

describe('timing', () => {
  it('a server that never answers fails the handshake after handshakeTimeout', async () => {
    let peerOf: RawPeer | undefined;
    const server = await rawServer((peer) => (peerOf = peer));
    const started = Date.now();
    const { code } = await failure(new WebSocket(server.url, { handshakeTimeout: 200 }));
    expect(code).toBe('HANDSHAKE_TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    await peerOf!.until(() => peerOf!.closed, 2_000, 'the socket to close');
  });

  it('close() while connecting abandons the connection: error and close come after it returns', async () => {
    let peerOf: RawPeer | undefined;
    const server = await rawServer((peer) => (peerOf = peer));
    const socket = new WebSocket(server.url);
    await waitFor(() => peerOf !== undefined);
    const events: string[] = [];
    socket.onerror = (event) => events.push(`error ${event.error.code}`);
    socket.onclose = (event) => events.push(`close ${event.code}`);
    socket.close();
    expect(socket.readyState).toBe(WebSocket.CLOSING);
    expect(events).toEqual([]);
    await nextEvent(socket, 'close');
    expect(events).toEqual(['error CLOSED_BEFORE_OPEN', 'close 1006']);
    expect(socket.readyState).toBe(WebSocket.CLOSED);
    await peerOf!.until(() => peerOf!.closed, 2_000, 'the socket to close');
  });

  it('close() right after the constructor, before any socket exists, still reports error then close', async () => {
    const socket = new WebSocket('ws://127.0.0.1:9/');
    socket.close();
    const { code } = await failure(socket);
    expect(code).toBe('CLOSED_BEFORE_OPEN');
  });

  it('a port nobody listens on fails with CONNECT_FAILED', async () => {
    const server = await rawServer(() => {});
    const port = server.port;
    await server.close();
    cleanups.pop();
    const { code } = await failure(new WebSocket(`ws://127.0.0.1:${port}/`));
    expect(code).toBe('CONNECT_FAILED');
  });
});
