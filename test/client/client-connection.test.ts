/**
 * The open connection, seen from a server spoken by hand: every frame the client writes is
 * masked with a key of its own (RFC 6455 5.1, 5.3, 10.3); pings are answered; the closing
 * handshake echoes the server's Close and then leaves the TCP close to the server (7.1.1), with
 * the close timeout as the bound; a server that breaks the protocol gets the right close code
 * (7.1.7, 7.4.1); frames that come with the 101 are read after 'open'.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from '../../src/client/index.js';
import { acceptKey, RawPeer, type RawServer, startRawServer } from '../helpers/raw-server.js';
import { closing, nextEvent, opened } from '../helpers/websocket-client.js';

const TEXT = 0x1;
const BINARY = 0x2;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A raw server that accepts every handshake; resolves with the server and the first peer once the client is open. */
async function connected(options: ConstructorParameters<typeof WebSocket>[1] = {}, onPeer: (peer: RawPeer) => void = (peer) => peer.accept()): Promise<{ server: RawServer; peer: RawPeer; socket: WebSocket }> {
  let first: RawPeer | undefined;
  const server = await startRawServer((peer) => {
    first ??= peer;
    onPeer(peer);
  });
  cleanups.push(() => server.close());
  const socket = await opened(new WebSocket(server.url, options));
  return { server, peer: first!, socket };
}

describe('masking (RFC 6455 5.1, 5.3)', () => {
  it('every frame is masked, each with its own key, and unmasks to what was sent', async () => {
    const { peer, socket } = await connected({ perMessageDeflate: false });
    const count = 64;
    for (let i = 0; i < count; i++) {
      if (i % 2 === 0) socket.send(`message ${i}`);
      else socket.send(Buffer.from(`binary ${i}`));
    }
    socket.ping('ping too');
    await peer.until(() => peer.frames.length === count + 1, 5_000, 'every frame');
    for (let i = 0; i < count; i++) {
      const frame = peer.frames[i];
      expect(frame.masked).toBe(true);
      expect(frame.opcode).toBe(i % 2 === 0 ? TEXT : BINARY);
      expect(frame.payload.toString()).toBe(i % 2 === 0 ? `message ${i}` : `binary ${i}`);
    }
    expect(peer.frames[count]).toMatchObject({ opcode: PING, masked: true });
    // 65 random 32-bit keys collide with odds of about 5 in 10 million.
    const keys = new Set(peer.frames.map((frame) => frame.maskKey!.toString('hex')));
    expect(keys.size).toBe(count + 1);
    socket.close();
  });

  it('the caller\'s buffer is not changed by masking, so it can be sent again', async () => {
    const { peer, socket } = await connected({ perMessageDeflate: false });
    const payload = Buffer.from('reuse me, reuse me, reuse me, reuse me'.repeat(10));
    const copy = Buffer.from(payload);
    socket.send(payload);
    socket.send(payload);
    expect(payload.equals(copy)).toBe(true);
    await peer.until(() => peer.frames.length === 2, 2_000, 'two frames');
    expect(peer.frames.map((frame) => frame.payload.equals(copy))).toEqual([true, true]);
    socket.close();
  });
});

describe('pings (RFC 6455 5.5.2)', () => {
  it('a ping is answered with a masked pong carrying the same payload', async () => {
    const { peer, socket } = await connected();
    peer.send(PING, 'payload 1');
    peer.send(PING, '');
    const first = await peer.frameAt(0);
    const second = await peer.frameAt(1);
    expect([first.opcode, first.masked, first.payload.toString()]).toEqual([PONG, true, 'payload 1']);
    expect([second.opcode, second.payload.length]).toEqual([PONG, 0]);
    socket.close();
  });
});

describe('the closing handshake (RFC 6455 5.5.1, 7.1.1)', () => {
  it("the server's Close is echoed with its code, and the client waits for the server to close TCP", async () => {
    const { peer, socket } = await connected();
    const closed = closing(socket);
    peer.send(CLOSE, RawPeer.closePayload(4002, 'going'));
    const echo = await peer.frameAt(0);
    expect([echo.opcode, echo.masked, echo.payload.readUInt16BE(0)]).toEqual([CLOSE, true, 4002]);
    expect(socket.readyState).toBe(WebSocket.CLOSING);
    // The client leaves the TCP close to the server ("the server SHOULD close ... first").
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(peer.clientEnded).toBe(false);
    peer.socket.end();
    const { close } = await closed;
    expect([close.code, close.reason, close.wasClean]).toEqual([4002, 'going', true]);
  });

  it('a Close without a code is answered without one; the close event says 1005', async () => {
    const { peer, socket } = await connected();
    const closed = closing(socket);
    peer.send(CLOSE);
    const echo = await peer.frameAt(0);
    expect([echo.opcode, echo.payload.length]).toEqual([CLOSE, 0]);
    peer.socket.end();
    expect((await closed).close.code).toBe(1005);
  });

  it('close() sends a masked Close; after the server answers and closes TCP the close is clean', async () => {
    const { peer, socket } = await connected();
    const closed = closing(socket);
    socket.close(1000, 'done');
    const frame = await peer.frameAt(0);
    expect([frame.opcode, frame.masked, frame.payload.readUInt16BE(0), frame.payload.subarray(2).toString()]).toEqual([CLOSE, true, 1000, 'done']);
    // Nothing goes after the Close frame (RFC 6455 5.5.1).
    expect(socket.send('after close')).toBe(false);
    peer.send(CLOSE, RawPeer.closePayload(1000));
    peer.socket.end();
    const { close } = await closed;
    expect([close.code, close.wasClean]).toEqual([1000, true]);
    expect(peer.frames).toHaveLength(1);
  });

  it('a server that never answers the Close is cut off after closeTimeout: 1006, not clean', async () => {
    const { peer, socket } = await connected({ closeTimeout: 300 });
    const closed = closing(socket);
    const started = Date.now();
    socket.close();
    const { close, error } = await closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect([close.code, close.wasClean]).toEqual([1006, false]);
    expect(error).toBeUndefined();
    await peer.until(() => peer.closed, 2_000, 'the socket to close');
  });

  it('a server that answers the Close but keeps TCP open is cut off after closeTimeout; the handshake completed, so it is clean', async () => {
    const { peer, socket } = await connected({ closeTimeout: 300 });
    const closed = closing(socket);
    socket.close(3001);
    await peer.frameAt(0);
    peer.send(CLOSE, RawPeer.closePayload(3001));
    const { close } = await closed;
    expect([close.code, close.wasClean]).toEqual([3001, true]);
  });

  it('messages that arrive after close() was called are not delivered (WHATWG: only while OPEN)', async () => {
    const { peer, socket } = await connected();
    const delivered: unknown[] = [];
    socket.onmessage = (event) => delivered.push(event.data);
    socket.close();
    peer.send(TEXT, 'too late');
    peer.send(CLOSE, RawPeer.closePayload(1000));
    peer.socket.end();
    await nextEvent(socket, 'close');
    expect(delivered).toEqual([]);
  });
});

describe('failing the connection (RFC 6455 7.1.7)', () => {
  it.each<[string, (peer: RawPeer) => void, number]>([
    ['a masked server frame (5.1)', (peer) => peer.send(TEXT, 'masked', { mask: true }), 1002],
    ['a reserved opcode (5.2)', (peer) => peer.send(0x3, 'reserved'), 1002],
    ['RSV1 without an extension (5.2)', (peer) => peer.send(TEXT, 'rsv', { rsv: 4 }), 1002],
    ['invalid UTF-8 in a text message (8.1)', (peer) => peer.send(TEXT, Buffer.from([0xc0, 0x80])), 1007],
    ['a close code that may not be sent (7.4)', (peer) => peer.send(CLOSE, RawPeer.closePayload(1005)), 1002],
  ])('%s: a masked Close with the code (%i here), an error event, then close 1006', async (_what, misbehave, code) => {
    const { peer, socket } = await connected({ perMessageDeflate: false });
    const closed = closing(socket);
    misbehave(peer);
    const frame = await peer.frameAt(0);
    expect([frame.opcode, frame.masked, frame.payload.readUInt16BE(0)]).toEqual([CLOSE, true, code]);
    // The client still leaves the TCP close to the server, which closes it now.
    peer.socket.end();
    const { close, error } = await closed;
    expect(error?.error.code).toBe('PROTOCOL_ERROR');
    expect(error?.error.closeCode).toBe(code);
    expect([close.code, close.wasClean]).toEqual([1006, false]);
  });
});

describe('frames that come with the 101', () => {
  it("are delivered after 'open', in order", async () => {
    const events: string[] = [];
    const server = await startRawServer((peer) => {
      peer.write(
        Buffer.concat([
          Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(peer.key)}\r\n\r\n`),
          peer.frame(TEXT, 'first'),
          peer.frame(TEXT, 'second'),
        ]),
      );
    });
    cleanups.push(() => server.close());
    const socket = new WebSocket(server.url);
    socket.onopen = () => events.push('open');
    await new Promise<void>((resolve) => (socket.onmessage = (event) => {
      events.push(String(event.data));
      if (events.length === 3) resolve();
    }));
    expect(events).toEqual(['open', 'first', 'second']);
    socket.close();
  });
});
