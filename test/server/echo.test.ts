/**
 * GET /ws, the echo endpoint, driven by the `ws` package as an independent client: every
 * message comes back unchanged with its opcode, whatever its size or fragmentation; pings are
 * answered; heartbeats find dead peers; closing handshakes finish (RFC 6455 5.4, 5.5, 7).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { WebSocketConnection } from '../../src/server/websocket/connection.js';
import { closed, nextMessages, openClient, type RunningFramecast, startFramecast } from '../helpers/framecast.js';
import { clientFrame, RawWebSocket } from '../helpers/raw-socket.js';
import { waitUntil } from '../helpers/wait.js';

const KIB = 1024;
const MIB = 1024 * KIB;
/** The default message limit is 16 MiB; leave room below it. */
const NEARLY_16_MIB = 16 * MIB - 4 * KIB;
/** Sizes at every length-encoding boundary of RFC 6455 5.2 (7-bit, 16-bit, 64-bit) and beyond. */
const SIZES = [0, 1, 125, 126, 127, 65535, 65536, MIB, NEARLY_16_MIB];

/** Bytes that differ from position to position, so a shifted or truncated echo shows. */
function patternBytes(size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >>> 8)) & 0xff;
  return bytes;
}

/** Valid UTF-8 text of exactly `size` bytes, mixing 1-, 2- and 3-byte characters. */
function textOfBytes(size: number): string {
  const unit = 'aé€'; // 1 + 2 + 3 = 6 bytes
  const whole = unit.repeat(Math.floor(size / 6));
  return whole + 'x'.repeat(size - Buffer.byteLength(whole));
}

let app: RunningFramecast;
/** Offers no extension: every frame on the wire is exactly what RFC 6455 5.2 lays out. */
let client: WebSocket;
/** Offers permessage-deflate (ws's default), which the server accepts on /ws. */
let compressedClient: WebSocket;

beforeAll(async () => {
  app = await startFramecast({ heartbeatInterval: 0 });
  client = await openClient(`${app.wsUrl}/ws`, { perMessageDeflate: false });
  compressedClient = await openClient(`${app.wsUrl}/ws`);
});

afterAll(async () => {
  client.terminate();
  compressedClient.terminate();
  await app.close();
});

describe('the clients of this file', () => {
  it('one speaks plain frames, the other permessage-deflate', () => {
    expect(client.extensions).toBe('');
    expect(compressedClient.extensions).toMatch(/^permessage-deflate/);
  });
});

describe.each([
  ['plain frames', () => client],
  ['permessage-deflate', () => compressedClient],
])('echo over %s: every message comes back unchanged with the same opcode', (_name, clientOf) => {
  for (const size of SIZES) {
    it(`binary message of ${size} bytes`, async () => {
      const client = clientOf();
      const sent = patternBytes(size);
      const reply = nextMessages(client, 1);
      client.send(sent, { binary: true });
      const [[data, isBinary]] = await reply;
      expect(isBinary).toBe(true);
      expect(data.length).toBe(size);
      expect(data.equals(sent)).toBe(true);
    });

    it(`text message of ${size} bytes`, async () => {
      const client = clientOf();
      const sent = textOfBytes(size);
      const reply = nextMessages(client, 1);
      client.send(sent);
      const [[data, isBinary]] = await reply;
      expect(isBinary).toBe(false);
      expect(data.length).toBe(size);
      expect(data.toString('utf8')).toBe(sent);
    });
  }

  it('many messages in a row come back in the order sent', async () => {
    const client = clientOf();
    const count = 500;
    const replies = nextMessages(client, count);
    for (let i = 0; i < count; i++) client.send(i % 2 === 0 ? `message ${i}` : Buffer.from(`binary ${i}`));
    const received = await replies;
    received.forEach(([data, isBinary], i) => {
      expect(isBinary).toBe(i % 2 === 1);
      expect(data.toString()).toBe(i % 2 === 0 ? `message ${i}` : `binary ${i}`);
    });
  });
});

describe('fragmented messages (RFC 6455 5.4) are reassembled into one message', () => {
  it('a text message sent in several fragments comes back as one text message', async () => {
    const parts = ['Hello, ', 'wörld', '', ' ✓ done'];
    const reply = nextMessages(client, 1);
    parts.forEach((part, i) => client.send(part, { fin: i === parts.length - 1 }));
    const [[data, isBinary]] = await reply;
    expect(isBinary).toBe(false);
    expect(data.toString('utf8')).toBe(parts.join(''));
  });

  it('a multi-byte character split across two fragments is still valid text', async () => {
    const euro = Buffer.from('€'); // e2 82 ac
    const reply = nextMessages(client, 1);
    client.send(euro.subarray(0, 1), { binary: false, fin: false });
    client.send(euro.subarray(1), { binary: false, fin: true });
    const [[data, isBinary]] = await reply;
    expect(isBinary).toBe(false);
    expect(data.toString('utf8')).toBe('€');
  });

  it('a binary message of 3 MiB in 48 fragments comes back byte for byte', async () => {
    const whole = patternBytes(3 * MIB);
    const fragment = 64 * KIB;
    const reply = nextMessages(client, 1);
    for (let offset = 0; offset < whole.length; offset += fragment) {
      client.send(whole.subarray(offset, offset + fragment), { binary: true, fin: offset + fragment >= whole.length });
    }
    const [[data, isBinary]] = await reply;
    expect(isBinary).toBe(true);
    expect(data.equals(whole)).toBe(true);
  });

  it('a ping between fragments is answered and does not disturb the message', async () => {
    const pong = new Promise<Buffer>((resolve) => client.once('pong', resolve));
    const reply = nextMessages(client, 1);
    client.send('first half, ', { fin: false });
    client.ping(Buffer.from('in the middle'));
    client.send('second half', { fin: true });
    expect((await pong).toString()).toBe('in the middle');
    const [[data, isBinary]] = await reply;
    expect(isBinary).toBe(false);
    expect(data.toString()).toBe('first half, second half');
  });
});

describe('ping and pong (RFC 6455 5.5.2, 5.5.3)', () => {
  it('the server answers a ping with a pong carrying the same payload', async () => {
    for (const payload of [Buffer.alloc(0), Buffer.from('x'), patternBytes(125)]) {
      const pong = new Promise<Buffer>((resolve) => client.once('pong', resolve));
      client.ping(payload);
      expect((await pong).equals(payload)).toBe(true);
    }
  });
});

describe('heartbeat: a peer that stays silent is terminated, one that answers stays', () => {
  it('terminates a raw client that never answers pings at the heartbeat after the one that pinged it; a ws client stays', async () => {
    const interval = 200;
    const beating = await startFramecast({ heartbeatInterval: interval });
    try {
      const live = await openClient(`${beating.wsUrl}/ws`);
      let pings = 0;
      live.on('ping', () => pings++);
      const silent = await RawWebSocket.open(beating.port, '/ws');
      await silent.waitForSocketClose(20 * interval);
      // Counted in heartbeats rather than milliseconds (a loaded machine delays every timer):
      // one heartbeat pinged it, the next found it had sent nothing since and dropped it.
      expect(silent.frames.filter((frame) => frame.opcode === 0x9)).toHaveLength(1);
      // It was terminated, not closed: no Close frame was sent to it.
      expect(silent.frames.some((frame) => frame.opcode === 0x8)).toBe(false);

      // The ws client answers every ping automatically and is still open several heartbeats later.
      const pingsWhenDropped = pings;
      await waitUntil(() => pings >= pingsWhenDropped + 3, 30 * interval, 'three more heartbeats');
      expect(live.readyState).toBe(WebSocket.OPEN);
      const echo = nextMessages(live, 1);
      live.send('still here');
      expect((await echo)[0][0].toString()).toBe('still here');
      expect(beating.framecast.echo.clients.size).toBe(1);
      live.terminate();
    } finally {
      await beating.close();
    }
  });
});

describe('closing handshake (RFC 6455 5.5.1, 7.1)', () => {
  /** The next server-side connection of the echo endpoint. */
  function nextServerConnection(): Promise<WebSocketConnection> {
    return new Promise((resolve) => app.framecast.echo.once('connection', resolve));
  }

  for (const [code, reason] of [
    [1000, 'bye'],
    [4000, 'application-defined'],
  ] as const) {
    it(`a client closing with ${code} gets ${code} echoed and the server reports code and reason`, async () => {
      const serverSide = nextServerConnection();
      const peer = await openClient(`${app.wsUrl}/ws`);
      const connection = await serverSide;
      const serverClosed = new Promise<[number, string]>((resolve) => connection.once('close', (c: number, r: string) => resolve([c, r])));
      const clientClosed = closed(peer);
      peer.close(code, reason);
      expect((await clientClosed).code).toBe(code);
      expect(await serverClosed).toEqual([code, reason]);
      expect(app.framecast.echo.clients.has(connection)).toBe(false);
    });
  }

  it('server close(code, reason) reaches the client, which answers, and the connection ends', async () => {
    const serverSide = nextServerConnection();
    const peer = await openClient(`${app.wsUrl}/ws`);
    const connection = await serverSide;
    const clientClosed = closed(peer);
    const serverClosed = new Promise<number>((resolve) => connection.once('close', resolve));
    connection.close(4001, 'done here');
    expect(await clientClosed).toEqual({ code: 4001, reason: 'done here' });
    expect(await serverClosed).toBe(4001);
    expect(connection.readyState).toBe(3);
    expect(connection.send('too late')).toBe(false);
  });

  it('after echoing a raw client\'s Close, the server closes the TCP connection first (7.1.1)', async () => {
    const raw = await RawWebSocket.open(app.port, '/ws');
    raw.write(clientFrame(0x8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('normal')])));
    expect(await raw.waitForClose()).toEqual({ code: 1000, reason: '' });
    // The server ends its side without waiting for us to end ours.
    await waitUntil(() => raw.ended, 2_000, 'the server to end the TCP connection');
    raw.destroy();
  });

  it('a Close without a status code is answered with an empty Close (1005 is never sent)', async () => {
    const raw = await RawWebSocket.open(app.port, '/ws');
    raw.write(clientFrame(0x8));
    await raw.waitForClose();
    const frame = raw.frames.find((candidate) => candidate.opcode === 0x8);
    expect(frame?.payload.length).toBe(0);
    raw.destroy();
  });

  it('close() refuses codes that may not be sent (RFC 6455 7.4.1)', async () => {
    const serverSide = nextServerConnection();
    const peer = await openClient(`${app.wsUrl}/ws`);
    const connection = await serverSide;
    for (const code of [999, 1004, 1005, 1006, 1015, 5000]) {
      expect(() => connection.close(code)).toThrow(RangeError);
    }
    expect(connection.readyState).toBe(1);
    const clientClosed = closed(peer);
    connection.close();
    expect((await clientClosed).code).toBe(1000);
  });
});
