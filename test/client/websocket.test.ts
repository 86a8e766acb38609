/**
 * framecast's WebSocket client against the `ws` package's server, an independent peer: the
 * browser's API (WHATWG WebSockets) for text, binary, fragmented and large messages,
 * permessage-deflate, subprotocols, pings, the closing handshake and its codes, backpressure
 * and the message size limit; and the Node-only extras.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket as WsSocket } from 'ws';
import { CloseEvent, WebSocket, WebSocketError } from '../../src/client/index.js';
import { waitUntil } from '../helpers/wait.js';
import { closing, deferred, echo, messagesOf, nextEvent, openWebSocket, type RunningWsServer, startWsServer } from '../helpers/websocket-client.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function server(options: Parameters<typeof startWsServer>[0] = {}, onConnection: (socket: WsSocket, request: IncomingMessage) => void = echo): Promise<RunningWsServer> {
  const running = await startWsServer(options, onConnection);
  cleanups.push(() => running.close());
  return running;
}

/** Opens a client that is closed (or terminated) after the test. */
async function client(...args: ConstructorParameters<typeof WebSocket>): Promise<WebSocket> {
  const socket = await openWebSocket(...args);
  cleanups.push(() => {
    if (socket.readyState === WebSocket.OPEN) socket.close();
  });
  return socket;
}

/** The next message the client receives. */
function nextData(socket: WebSocket): Promise<unknown> {
  return nextEvent<MessageEvent>(socket, 'message').then((event) => event.data);
}

/** The next message a `ws` connection receives, with its type. */
function serverReceives(socket: WsSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => socket.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })));
}

/** Resolves with the server side of the next connection. */
function nextConnection(running: RunningWsServer): Promise<WsSocket> {
  return new Promise((resolve) => running.server.once('connection', resolve));
}

describe('messages, as in browsers', () => {
  it('text goes out as a text message and comes back as a string, any Unicode', async () => {
    const running = await server();
    const socket = await client(running.url);
    for (const text of ['hello', '', 'κόσμε 😀 — ünïcödé', 'x'.repeat(70_000)]) {
      const reply = nextData(socket);
      socket.send(text);
      expect(await reply).toBe(text);
    }
  });

  it('binary data of every kind goes out as a binary message with exactly its bytes', async () => {
    const running = await server({}, () => {});
    const connected = nextConnection(running);
    const socket = await client(running.url);
    const peer = await connected;
    const backing = Uint8Array.from([9, 9, 1, 2, 3, 9]);
    const sends: Array<[string, ArrayBuffer | ArrayBufferView | Blob, number[]]> = [
      ['an ArrayBuffer', Uint8Array.from([1, 2, 3]).buffer, [1, 2, 3]],
      ['a Uint8Array that views part of a larger buffer', backing.subarray(2, 5), [1, 2, 3]],
      ['a DataView', new DataView(backing.buffer, 1, 3), [9, 1, 2]],
      ['a Buffer', Buffer.from([4, 5]), [4, 5]],
      ['a Uint16Array', Uint16Array.from([0x0102]), [...Buffer.from(Uint16Array.from([0x0102]).buffer)]],
      ['a Blob', new Blob([Uint8Array.from([7, 8])]), [7, 8]],
    ];
    for (const [what, data, bytes] of sends) {
      const received = serverReceives(peer);
      socket.send(data);
      const message = await received;
      expect(message.isBinary, what).toBe(true);
      expect([...message.data], what).toEqual(bytes);
    }
  });

  it("binary messages arrive as a Blob by default, as an ArrayBuffer or a Buffer when binaryType says so", async () => {
    const running = await server();
    const socket = await client(running.url);
    expect(socket.binaryType).toBe('blob');
    const payload = randomBytes(1000);

    let reply = nextData(socket);
    socket.send(payload);
    const blob = await reply;
    expect(blob).toBeInstanceOf(Blob);
    expect(Buffer.from(await (blob as Blob).arrayBuffer()).equals(payload)).toBe(true);

    socket.binaryType = 'arraybuffer';
    reply = nextData(socket);
    socket.send(payload);
    const arrayBuffer = await reply;
    expect(arrayBuffer).toBeInstanceOf(ArrayBuffer);
    expect((arrayBuffer as ArrayBuffer).byteLength).toBe(1000);
    expect(Buffer.from(arrayBuffer as ArrayBuffer).equals(payload)).toBe(true);

    socket.binaryType = 'nodebuffer';
    reply = nextData(socket);
    socket.send(payload);
    const buffer = await reply;
    expect(Buffer.isBuffer(buffer)).toBe(true);
    expect((buffer as Buffer).equals(payload)).toBe(true);

    // An unknown value is ignored, as for any enumerated attribute in browsers.
    socket.binaryType = 'text' as never;
    expect(socket.binaryType).toBe('nodebuffer');
  });

  it('a small binary message is a standalone ArrayBuffer, not a view of a shared one', async () => {
    const running = await server();
    const socket = await client(running.url);
    socket.binaryType = 'arraybuffer';
    const reply = nextData(socket);
    socket.send(Uint8Array.from([1, 2, 3]));
    expect(((await reply) as ArrayBuffer).byteLength).toBe(3);
  });

  it('a message the server sends in fragments arrives as one', async () => {
    const running = await server({ perMessageDeflate: false }, (peer) => {
      peer.send('frag', { fin: false });
      peer.send('men', { fin: false });
      peer.send('ted', { fin: true });
    });
    const socket = new WebSocket(running.url);
    const data = messagesOf(socket);
    await nextEvent(socket, 'message');
    expect(data).toEqual(['fragmented']);
    socket.close();
  });

  it('large messages go both ways whole: 8 MiB of random bytes', async () => {
    const running = await server({ maxPayload: 32 * 1024 * 1024 });
    const socket = await client(running.url, { maxMessageSize: 32 * 1024 * 1024 });
    socket.binaryType = 'nodebuffer';
    const payload = randomBytes(8 * 1024 * 1024);
    const reply = nextData(socket);
    socket.send(payload);
    expect(((await reply) as Buffer).equals(payload)).toBe(true);
  });

  it('messages sent behind a Blob keep their order', async () => {
    const running = await server();
    const socket = await client(running.url);
    socket.binaryType = 'nodebuffer';
    const data = messagesOf(socket);
    socket.send('first');
    socket.send(new Blob(['second']));
    socket.send('third');
    socket.send(new Blob(['fourth']));
    await waitUntil(() => data.length === 4, 5_000, 'four echoes');
    expect(data.map((item) => (typeof item === 'string' ? item : (item as Buffer).toString()))).toEqual(['first', 'second', 'third', 'fourth']);
  });

  it('send before the connection is open throws InvalidStateError', async () => {
    const running = await server();
    const socket = new WebSocket(running.url);
    expect(() => socket.send('too early')).toThrow(expect.objectContaining({ name: 'InvalidStateError' }));
    await nextEvent(socket, 'open');
    socket.close();
  });

  it('open, message and close reach both the on* handler and addEventListener listeners', async () => {
    const running = await server();
    const socket = new WebSocket(running.url);
    const seen: string[] = [];
    socket.onopen = () => seen.push('onopen');
    socket.addEventListener('open', () => seen.push('listener open'));
    socket.onmessage = (event) => seen.push(`onmessage ${event.data}`);
    socket.addEventListener('message', (event) => seen.push(`listener message ${(event as MessageEvent).data}`));
    const replaced = (): number => seen.push('replaced handler');
    socket.onclose = replaced;
    socket.onclose = (event) => seen.push(`onclose ${event.code}`);
    await nextEvent(socket, 'open');
    expect(socket.onclose).not.toBe(replaced);
    socket.send('hi');
    await nextEvent(socket, 'message');
    socket.close(1000);
    await nextEvent(socket, 'close');
    expect(seen).toEqual(['onopen', 'listener open', 'onmessage hi', 'listener message hi', 'onclose 1000']);
  });

  it('readyState goes CONNECTING, OPEN, CLOSING, CLOSED; the constants are on the class and on instances', async () => {
    const running = await server();
    const socket = new WebSocket(running.url);
    expect([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED]).toEqual([0, 1, 2, 3]);
    expect([socket.CONNECTING, socket.OPEN, socket.CLOSING, socket.CLOSED]).toEqual([0, 1, 2, 3]);
    expect(socket.readyState).toBe(WebSocket.CONNECTING);
    await nextEvent(socket, 'open');
    expect(socket.readyState).toBe(WebSocket.OPEN);
    socket.close();
    expect(socket.readyState).toBe(WebSocket.CLOSING);
    await nextEvent(socket, 'close');
    expect(socket.readyState).toBe(WebSocket.CLOSED);
  });
});

describe('permessage-deflate (RFC 7692)', () => {
  it('is offered by default and used both ways: a compressible message costs a fraction of its size on the wire', async () => {
    let request: IncomingMessage | undefined;
    const running = await server({ perMessageDeflate: { threshold: 0 } }, (peer, incoming) => {
      request = incoming;
      echo(peer);
    });
    const socket = await client(running.url);
    expect(socket.extensions).toMatch(/^permessage-deflate/);
    expect(request?.headers['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits');
    const text = 'compress me, compress me, compress me. '.repeat(2000);
    const before = request!.socket.bytesRead;
    const reply = nextData(socket);
    socket.send(text);
    expect(await reply).toBe(text);
    // Sent compressed: the server read far fewer bytes than the 78 KB of text.
    expect(request!.socket.bytesRead - before).toBeLessThan(text.length / 10);
    expect(request!.socket.bytesWritten).toBeLessThan(text.length / 10);
  });

  it('with context takeover both ways, many messages in a row inflate correctly', async () => {
    const running = await server({ perMessageDeflate: { threshold: 0 } });
    const socket = await client(running.url, { perMessageDeflate: { threshold: 0 } });
    const data = messagesOf(socket);
    const texts = Array.from({ length: 50 }, (_, i) => `message ${i} `.repeat(50 + i));
    for (const text of texts) socket.send(text);
    await waitUntil(() => data.length === texts.length, 5_000, 'every echo');
    expect(data).toEqual(texts);
  });

  it('perMessageDeflate: false offers nothing', async () => {
    let offered: string | undefined = 'not read';
    const running = await server({ perMessageDeflate: true }, (_peer, incoming) => (offered = incoming.headers['sec-websocket-extensions']));
    const socket = await client(running.url, { perMessageDeflate: false });
    expect(offered).toBeUndefined();
    expect(socket.extensions).toBe('');
  });

  it('the offer can promise and ask for no context takeover', async () => {
    let offered: string | undefined;
    const running = await server({ perMessageDeflate: true }, (peer, incoming) => {
      offered = incoming.headers['sec-websocket-extensions'];
      echo(peer);
    });
    const socket = await client(running.url, { perMessageDeflate: { clientNoContextTakeover: true, serverNoContextTakeover: true, threshold: 0 } });
    expect(offered).toBe('permessage-deflate; client_max_window_bits; client_no_context_takeover; server_no_context_takeover');
    expect(socket.extensions).toContain('server_no_context_takeover');
    const reply = nextData(socket);
    socket.send('no context '.repeat(100));
    expect(await reply).toBe('no context '.repeat(100));
  });

  it('a small compressed message that inflates past maxMessageSize fails the connection with 1009 (a decompression bomb)', async () => {
    const serverClose = deferred<number>();
    const running = await server({ perMessageDeflate: { threshold: 0 } }, (peer) => {
      peer.on('close', (code) => serverClose.resolve(code));
      peer.send(Buffer.alloc(1024 * 1024)); // about 1 KiB once compressed
    });
    const socket = new WebSocket(running.url, { maxMessageSize: 64 * 1024 });
    const { close, error } = await closing(socket);
    expect(await serverClose.promise).toBe(1009);
    expect(error?.error).toBeInstanceOf(WebSocketError);
    expect(error?.error.code).toBe('PROTOCOL_ERROR');
    expect(error?.error.closeCode).toBe(1009);
    expect(close.code).toBe(1006);
    expect(close.wasClean).toBe(false);
  });
});

describe('subprotocols', () => {
  it('the server picks one of those offered, and protocol says which', async () => {
    const running = await server({ handleProtocols: (protocols) => (protocols.has('chat.v2') ? 'chat.v2' : false) });
    const socket = new WebSocket(running.url, ['chat.v1', 'chat.v2']);
    expect(socket.protocol).toBe('');
    await nextEvent(socket, 'open');
    expect(socket.protocol).toBe('chat.v2');
    socket.close();
  });

  it('one name as a string works too; a server that picks none leaves protocol empty', async () => {
    const running = await server({ handleProtocols: () => false });
    const socket = await client(running.url, 'chat.v1');
    expect(socket.protocol).toBe('');
  });

  it('subprotocols can also come in the options', async () => {
    const running = await server({ handleProtocols: (protocols) => [...protocols][0] });
    const socket = await client(running.url, { protocols: ['only'] });
    expect(socket.protocol).toBe('only');
  });
});

describe('pings and pongs', () => {
  it("a server's ping is answered with a pong carrying the same payload (RFC 6455 5.5.2)", async () => {
    const pong = deferred<Buffer>();
    await server({}, (peer) => {
      peer.on('pong', (data) => pong.resolve(data));
      peer.ping(Buffer.from('are you there?'));
    }).then((running) => client(running.url));
    expect((await pong.promise).toString()).toBe('are you there?');
  });

  it("ping() sends a ping; the server's pong comes as a 'pong' event with the payload as a Buffer", async () => {
    const running = await server();
    const socket = await client(running.url);
    const pong = nextEvent<MessageEvent>(socket, 'pong');
    socket.ping('hello');
    const event = await pong;
    expect(Buffer.isBuffer(event.data)).toBe(true);
    expect(event.data.toString()).toBe('hello');
  });

  it('ping() refuses more than 125 bytes and a connection that is not open yet', async () => {
    const running = await server();
    const connecting = new WebSocket(running.url);
    expect(() => connecting.ping()).toThrow(expect.objectContaining({ name: 'InvalidStateError' }));
    await nextEvent(connecting, 'open');
    expect(() => connecting.ping(Buffer.alloc(126))).toThrow(RangeError);
    expect(() => connecting.ping(Buffer.alloc(125))).not.toThrow();
    connecting.close();
  });
});

describe('closing', () => {
  it('close(code, reason) sends them; the server echoes; close reports the echo, cleanly', async () => {
    const serverClose = deferred<[number, string]>();
    const running = await server({}, (peer) => peer.on('close', (code, reason) => serverClose.resolve([code, reason.toString()])));
    const socket = await client(running.url);
    const closed = closing(socket);
    socket.close(4000, 'bye now');
    expect(await serverClose.promise).toEqual([4000, 'bye now']);
    const { close, error } = await closed;
    expect(error).toBeUndefined();
    expect(close).toBeInstanceOf(CloseEvent);
    expect([close.code, close.reason, close.wasClean]).toEqual([4000, 'bye now', true]);
  });

  it('close() without a code sends an empty Close: the server sees 1005, and so does the client in the echo', async () => {
    const serverClose = deferred<number>();
    const running = await server({}, (peer) => peer.on('close', (code) => serverClose.resolve(code)));
    const socket = await client(running.url);
    const closed = closing(socket);
    socket.close();
    expect(await serverClose.promise).toBe(1005);
    expect((await closed).close.code).toBe(1005);
  });

  it('a reason without a code is sent with 1000', async () => {
    const serverClose = deferred<[number, string]>();
    const running = await server({}, (peer) => peer.on('close', (code, reason) => serverClose.resolve([code, reason.toString()])));
    const socket = await client(running.url);
    socket.close(undefined, 'just a reason');
    expect(await serverClose.promise).toEqual([1000, 'just a reason']);
  });

  it("the server's close code and reason reach the close event, cleanly", async () => {
    const running = await server({}, (peer) => peer.close(4001, 'server says bye'));
    const socket = new WebSocket(running.url);
    const { close } = await closing(socket);
    expect([close.code, close.reason, close.wasClean]).toEqual([4001, 'server says bye', true]);
  });

  it('a connection the server drops without a Close frame closes with 1006, not clean, and no error', async () => {
    const running = await server({}, (peer) => setTimeout(() => peer.terminate(), 20));
    const socket = new WebSocket(running.url);
    const { close, error } = await closing(socket);
    expect([close.code, close.wasClean]).toEqual([1006, false]);
    expect(error).toBeUndefined();
  });

  it('close() checks code and reason as browsers do: 1000 or 3000-4999, at most 123 bytes of reason', async () => {
    const running = await server();
    const socket = await client(running.url);
    for (const code of [999, 1001, 1005, 1006, 2999, 5000, 0]) {
      expect(() => socket.close(code), String(code)).toThrow(expect.objectContaining({ name: 'InvalidAccessError' }));
    }
    expect(() => socket.close(1000, 'x'.repeat(124))).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    // 123 bytes of UTF-8 is the most: 41 three-byte characters.
    expect(() => socket.close(1000, '€'.repeat(42))).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(socket.readyState).toBe(WebSocket.OPEN);
    const closed = closing(socket);
    socket.close(3000, '€'.repeat(41));
    expect((await closed).close.reason).toBe('€'.repeat(41));
    // Once closed, close() does nothing.
    expect(() => socket.close()).not.toThrow();
  });

  it('data sent after close() is not sent, but counts in bufferedAmount, and send returns false', async () => {
    const received: string[] = [];
    const running = await server({}, (peer) => peer.on('message', (data) => received.push(String(data))));
    const socket = await client(running.url);
    socket.close();
    expect(socket.send('late')).toBe(false);
    expect(socket.bufferedAmount).toBe(4);
    await nextEvent(socket, 'close');
    expect(socket.send('later')).toBe(false);
    expect(socket.bufferedAmount).toBe(9);
    expect(received).toEqual([]);
  });
});

describe('backpressure (Node only: send returns false, then drain)', () => {
  it("send returns false once the socket's buffer is past sendHighWaterMark, bufferedAmount counts what waits, and drain comes when it has gone", async () => {
    const paused = deferred<IncomingMessage>();
    const running = await server({ perMessageDeflate: false }, (_peer, request) => {
      request.socket.pause();
      paused.resolve(request);
    });
    const socket = await client(running.url, { sendHighWaterMark: 64 * 1024, perMessageDeflate: false });
    const request = await paused.promise;
    const chunk = randomBytes(64 * 1024);
    let sent = 0;
    // The server reads nothing: the kernel's buffers fill, then the socket's own. Bounded by count.
    while (socket.send(chunk)) {
      sent++;
      if (sent > 2048) throw new Error('send never reported backpressure');
      // Let the socket hand bytes to the kernel as it would between sends.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(socket.bufferedAmount).toBeGreaterThanOrEqual(chunk.length);
    const drained = nextEvent(socket, 'drain', 10_000);
    request.socket.resume();
    await drained;
    await waitUntil(() => socket.bufferedAmount === 0, 10_000, 'bufferedAmount to reach 0');
  });
});

describe('the message size limit', () => {
  it('a message of exactly maxMessageSize is delivered; one byte more fails the connection with 1009', async () => {
    const serverClose = deferred<number>();
    const running = await server({ perMessageDeflate: false }, (peer) => {
      peer.on('close', (code) => serverClose.resolve(code));
      peer.send(Buffer.alloc(1024));
      peer.send(Buffer.alloc(1025));
    });
    const socket = new WebSocket(running.url, { maxMessageSize: 1024 });
    socket.binaryType = 'nodebuffer';
    const data = messagesOf(socket);
    const { close, error } = await closing(socket);
    expect(data.map((item) => (item as Buffer).length)).toEqual([1024]);
    expect(await serverClose.promise).toBe(1009);
    expect(error?.error.closeCode).toBe(1009);
    expect(close.code).toBe(1006);
  });

  it('bad options throw at once', () => {
    expect(() => new WebSocket('ws://127.0.0.1:1', { maxMessageSize: -1 })).toThrow(RangeError);
    expect(() => new WebSocket('ws://127.0.0.1:1', { handshakeTimeout: -5 })).toThrow(RangeError);
    expect(() => new WebSocket('ws://127.0.0.1:1', { closeTimeout: Number.NaN })).toThrow(RangeError);
    expect(() => new WebSocket('ws://127.0.0.1:1', { maxRedirects: 1.5 })).toThrow(RangeError);
  });
});
