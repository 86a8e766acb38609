/**
 * Hostile and broken input over raw `node:net` sockets: bad opening handshakes are refused
 * with an HTTP status and a reason (RFC 6455 4.2.1, 4.4, 10.2); bad frames fail the
 * connection with the close code RFC 6455 7.4.1 names. Every failure ends only the connection
 * that caused it: a bystander on the same server keeps echoing throughout.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { nextMessages, openClient, type RunningFramecast, startFramecast } from '../helpers/framecast.js';
import { clientFrame, rawConnect, RawWebSocket, rawRequest, upgradeRequest } from '../helpers/raw-socket.js';

/** The server's maxMessageSize in this file: small, so "too big" is cheap to reach. */
const MAX_MESSAGE = 64 * 1024;

let app: RunningFramecast;
let bystander: WebSocket;
let bystanderRound = 0;

beforeAll(async () => {
  app = await startFramecast({ heartbeatInterval: 0, maxMessageSize: MAX_MESSAGE, closeTimeout: 1_000 });
  bystander = await openClient(`${app.wsUrl}/ws`);
});

afterAll(async () => {
  bystander.terminate();
  await app.close();
});

// After every test, the bystander connection is still open and still echoing.
afterEach(async () => {
  const text = `bystander ${++bystanderRound}`;
  const reply = nextMessages(bystander, 1);
  bystander.send(text);
  const [[data]] = await reply;
  expect(data.toString()).toBe(text);
});

describe('opening handshake refusals carry a status and a reason (RFC 6455 4.2.1)', () => {
  it('a missing Sec-WebSocket-Key gets 400', async () => {
    const response = await rawRequest(app.port, upgradeRequest(app.port, '/ws', { 'Sec-WebSocket-Key': undefined }));
    expect(response.status).toBe(400);
    expect(response.body).toMatch(/Sec-WebSocket-Key/);
  });

  it('a key that is not the base64 of 16 bytes gets 400', async () => {
    for (const key of ['not base64 at all', Buffer.alloc(15).toString('base64'), Buffer.alloc(17).toString('base64')]) {
      const response = await rawRequest(app.port, upgradeRequest(app.port, '/ws', { 'Sec-WebSocket-Key': key }));
      expect(response.status).toBe(400);
      expect(response.body).toMatch(/base64 of 16 bytes/);
    }
  });

  it('version 8 gets 426 with Sec-WebSocket-Version: 13 (RFC 6455 4.4)', async () => {
    const response = await rawRequest(app.port, upgradeRequest(app.port, '/ws', { 'Sec-WebSocket-Version': '8' }));
    expect(response.status).toBe(426);
    expect(response.headers.get('sec-websocket-version')).toBe('13');
    expect(response.body).toMatch(/version "8"/);
  });

  it('a POST upgrade gets 405 with Allow: GET', async () => {
    const response = await rawRequest(app.port, upgradeRequest(app.port, '/ws', {}, 'POST'));
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET');
    expect(response.body).toMatch(/GET/);
  });

  it('an Upgrade header naming another protocol gets 400', async () => {
    const response = await rawRequest(app.port, upgradeRequest(app.port, '/ws', { Upgrade: 'h2c' }));
    expect(response.status).toBe(400);
    expect(response.body).toMatch(/Upgrade header/);
  });

  it('without an Upgrade or a Connection: Upgrade header it is plain HTTP, answered 426 Upgrade Required', async () => {
    for (const dropped of ['Upgrade', 'Connection']) {
      const response = await rawRequest(app.port, upgradeRequest(app.port, '/ws', { [dropped]: undefined }));
      expect(response.status).toBe(426);
      expect(response.headers.get('upgrade')).toBe('websocket');
      expect(response.body).toMatch(/WebSocket/);
    }
  });

  it('a plain GET /ws gets 426 naming websocket', async () => {
    const response = await fetch(`${app.httpUrl}/ws`);
    expect(response.status).toBe(426);
    expect(response.headers.get('upgrade')).toBe('websocket');
  });

  it('an upgrade to a path without an endpoint gets 404', async () => {
    const response = await rawRequest(app.port, upgradeRequest(app.port, '/nowhere?x=1'));
    expect(response.status).toBe(404);
    expect(response.body).toMatch(/nowhere/);
  });

  it('a plain HTTP request offering another protocol (Upgrade: h2c, as curl --http2 sends) gets 400 saying so, not 404', async () => {
    const request =
      `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${app.port}\r\nConnection: Upgrade, HTTP2-Settings\r\n` +
      'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n';
    const response = await rawRequest(app.port, request);
    expect(response.status).toBe(400);
    expect(response.body).toContain('not to "h2c"');
    expect(response.body).toContain('without an Upgrade header');
  });

  it('more headers than maxHeadersCount (100): the dropped WebSocket headers mean 400, not a crash', async () => {
    // Node keeps the first headers (a few more than the count, in batches) and drops the rest,
    // here every WebSocket header, which follow 300 fillers.
    let request = `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${app.port}\r\n`;
    for (let i = 0; i < 300; i++) request += `X-Filler-${i}: ${i}\r\n`;
    request += upgradeRequest(app.port, '/ws').split('\r\n').slice(2).join('\r\n');
    const response = await rawRequest(app.port, request);
    expect(response.status).toBe(400);
    expect(response.body).toMatch(/Upgrade header/);
  });

  it('a request whose headers never finish is answered 408 after handshakeTimeout', async () => {
    const HANDSHAKE_TIMEOUT = 300;
    const strict = await startFramecast({ heartbeatInterval: 0, handshakeTimeout: HANDSHAKE_TIMEOUT });
    try {
      const startedAt = Date.now();
      const response = await rawRequest(strict.port, upgradeRequest(strict.port, '/ws').replace(/\r\n\r\n$/, '\r\n'));
      expect(response.status).toBe(408);
      // Node checks for expired requests once a second (connectionsCheckingInterval).
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT - 20);
      expect(Date.now() - startedAt).toBeLessThan(HANDSHAKE_TIMEOUT + 2_500);
    } finally {
      await strict.close();
    }
  });

  it('a request that closes before its headers end does no harm', async () => {
    const half = upgradeRequest(app.port, '/ws');
    const raw = await rawConnect(app.port);
    raw.write(half.slice(0, half.length / 2));
    raw.destroy();
    expect(app.framecast.echo.clients.size).toBe(1); // the bystander only
  });
});

describe('Origin (RFC 6455 10.2): other sites\' pages are refused with 403', () => {
  it('a cross-origin Origin gets 403', async () => {
    const response = await rawRequest(app.port, upgradeRequest(app.port, '/ws', { Origin: 'https://evil.example' }));
    expect(response.status).toBe(403);
    expect(response.body).toMatch(/evil\.example/);
  });

  it('the server\'s own origin and a request without Origin are accepted', async () => {
    const same = await RawWebSocket.open(app.port, '/ws', { Origin: `http://127.0.0.1:${app.port}` });
    const none = await RawWebSocket.open(app.port, '/ws');
    for (const raw of [same, none]) {
      raw.write(clientFrame(0x1, 'hi'));
      const [frame] = await raw.waitForFrames(1);
      expect(frame.payload.toString()).toBe('hi');
      raw.destroy();
    }
  });

  it('allowOrigins adds an origin; others stay refused', async () => {
    const other = await startFramecast({ heartbeatInterval: 0, allowOrigins: ['https://app.example'] });
    try {
      const allowed = await RawWebSocket.open(other.port, '/ws', { Origin: 'https://app.example' });
      allowed.destroy();
      const refused = await rawRequest(other.port, upgradeRequest(other.port, '/ws', { Origin: 'https://evil.example' }));
      expect(refused.status).toBe(403);
    } finally {
      await other.close();
    }
  });
});

describe('bad frames fail the connection with the right close code (RFC 6455 7.1.7, 7.4.1)', () => {
  /** Sends `bytes` on a fresh connection and returns the close code the server sent; checks TCP closes too. */
  async function closeCodeFor(bytes: Buffer): Promise<number> {
    const raw = await RawWebSocket.open(app.port, '/ws');
    raw.write(bytes);
    const { code } = await raw.waitForClose();
    await raw.waitForSocketClose(3_000);
    return code;
  }

  it('an unmasked client frame: 1002 (RFC 6455 5.1)', async () => {
    expect(await closeCodeFor(clientFrame(0x1, 'plain', { mask: false }))).toBe(1002);
  });

  it('garbage bytes: 1002', async () => {
    expect(await closeCodeFor(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toBe(1002);
    expect(await closeCodeFor(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBe(1002);
  });

  it('reserved bits or a reserved opcode: 1002 (RFC 6455 5.2)', async () => {
    expect(await closeCodeFor(clientFrame(0x1, 'x', { rsv: 0x40 }))).toBe(1002);
    expect(await closeCodeFor(clientFrame(0x3, 'x'))).toBe(1002);
  });

  it('a fragmented or over-long control frame: 1002 (RFC 6455 5.5)', async () => {
    expect(await closeCodeFor(clientFrame(0x9, 'x', { fin: false }))).toBe(1002);
    expect(await closeCodeFor(clientFrame(0x9, Buffer.alloc(126)))).toBe(1002);
  });

  it('a continuation without a message, or a new message inside a fragmented one: 1002 (RFC 6455 5.4)', async () => {
    expect(await closeCodeFor(clientFrame(0x0, 'x'))).toBe(1002);
    expect(await closeCodeFor(Buffer.concat([clientFrame(0x1, 'a', { fin: false }), clientFrame(0x1, 'b')]))).toBe(1002);
  });

  it('text that is not valid UTF-8: 1007 (RFC 6455 8.1)', async () => {
    expect(await closeCodeFor(clientFrame(0x1, Buffer.from([0x68, 0xc3, 0x28])))).toBe(1007);
    // Split across fragments: the bad byte is in the second one.
    expect(await closeCodeFor(Buffer.concat([clientFrame(0x1, Buffer.from([0xe2, 0x82]), { fin: false }), clientFrame(0x0, Buffer.from([0x41]))]))).toBe(1007);
  });

  it('a message over maxMessageSize: 1009, in one frame or summed over fragments', async () => {
    expect(await closeCodeFor(clientFrame(0x2, Buffer.alloc(MAX_MESSAGE + 1)))).toBe(1009);
    const half = Buffer.alloc(MAX_MESSAGE / 2 + 1);
    expect(await closeCodeFor(Buffer.concat([clientFrame(0x2, half, { fin: false }), clientFrame(0x0, half)]))).toBe(1009);
  });

  it('a message of exactly maxMessageSize is still accepted', async () => {
    const raw = await RawWebSocket.open(app.port, '/ws');
    raw.write(clientFrame(0x2, Buffer.alloc(MAX_MESSAGE, 0x5a)));
    const [frame] = await raw.waitForFrames(1);
    expect(frame.opcode).toBe(0x2);
    expect(frame.payload.equals(Buffer.alloc(MAX_MESSAGE, 0x5a))).toBe(true);
    raw.destroy();
  });

  it('huge declared 64-bit lengths are refused from the header alone, without allocating', async () => {
    const before = process.memoryUsage();
    // 2^63 and above: the most significant bit MUST be 0 (RFC 6455 5.2) -> 1002.
    expect(await closeCodeFor(clientFrame(0x2, Buffer.alloc(0), { length: 2n ** 64n - 1n }))).toBe(1002);
    expect(await closeCodeFor(clientFrame(0x2, Buffer.alloc(0), { length: 2n ** 63n }))).toBe(1002);
    // Valid encodings of lengths no server would take: too big -> 1009.
    expect(await closeCodeFor(clientFrame(0x2, Buffer.alloc(0), { length: 2n ** 63n - 1n }))).toBe(1009);
    expect(await closeCodeFor(clientFrame(0x2, Buffer.alloc(0), { length: 2n ** 53n }))).toBe(1009);
    expect(await closeCodeFor(clientFrame(0x2, Buffer.alloc(0), { length: 2n ** 32n }))).toBe(1009);
    const after = process.memoryUsage();
    // Nothing near those sizes was allocated: memory moved by far less than one 64 KiB message limit's worth of MiBs.
    const MIB = 1024 * 1024;
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(16 * MIB);
    expect(after.rss - before.rss).toBeLessThan(64 * MIB);
  });

  it('a Close frame with a 1-byte payload or a forbidden code: 1002 (RFC 6455 5.5.1, 7.4)', async () => {
    expect(await closeCodeFor(clientFrame(0x8, Buffer.from([0x03])))).toBe(1002);
    expect(await closeCodeFor(clientFrame(0x8, Buffer.from([0x03, 0xed])))).toBe(1002); // 1005
    expect(await closeCodeFor(clientFrame(0x8, Buffer.from([0x03, 0xee])))).toBe(1002); // 1006
  });

  it('a Close reason that is not valid UTF-8: 1007', async () => {
    expect(await closeCodeFor(clientFrame(0x8, Buffer.from([0x03, 0xe8, 0xff])))).toBe(1007);
  });

  it('frames sent after a Close are ignored; the close completes', async () => {
    const raw = await RawWebSocket.open(app.port, '/ws');
    raw.write(Buffer.concat([clientFrame(0x8, Buffer.from([0x03, 0xe8])), clientFrame(0x1, 'after close')]));
    expect((await raw.waitForClose()).code).toBe(1000);
    await raw.waitForSocketClose();
    expect(raw.frames.filter((frame) => frame.opcode === 0x1)).toHaveLength(0);
  });
});
