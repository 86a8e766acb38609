/**
 * Abuse before and beside the WebSocket: slow or silent handshakes, oversized bodies and
 * headers, hostile header values, and more connections than allowed. Each against a running
 * framecast with small limits so that the tests are fast.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { parseExtensionOffers, parseTokenList, validateUpgradeRequest } from '../../src/protocol/index.js';
import { HttpDefaults } from '../../src/server/config.js';
import { openClient, startFramecast, type RunningFramecast } from '../helpers/framecast.js';
import { sleep } from '../conformance/wire.js';
import { MemorySampler, MIB } from './memory.js';

let running: RunningFramecast | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function start(options: Parameters<typeof startFramecast>[0] = {}): Promise<RunningFramecast> {
  running = await startFramecast({ heartbeatInterval: 0, shutdownTimeout: 200, ...options });
  return running;
}

/** A raw TCP client that records what it receives and when the server closes. */
class RawClient {
  received = Buffer.alloc(0);
  closedAt: number | undefined;
  readonly openedAt = Date.now();
  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closedAt = Date.now();
    });
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  get text(): string {
    return this.received.toString('latin1');
  }

  /** The status code of the response received so far, if any. */
  get status(): number | undefined {
    const match = /^HTTP\/1\.1 (\d{3})/.exec(this.text);
    return match === null ? undefined : Number(match[1]);
  }

  write(data: string | Buffer): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    return this.socket.write(data);
  }

  async waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) return false;
      await sleep(5);
    }
    return true;
  }

  /** Resolves once the server closed the connection; false after `timeoutMs`. */
  waitForClose(timeoutMs: number): Promise<boolean> {
    return this.waitFor(() => this.closedAt !== undefined, timeoutMs);
  }
}

function upgradeRequest(port: number, extra = ''): string {
  return (
    `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`
  );
}

/** Node checks header timeouts every connectionsCheckingInterval, so a drop comes up to that late. */
const TIMEOUT_SLACK = HttpDefaults.connectionsCheckingInterval + 1_500;

describe('slow and silent clients are dropped after their timeouts', () => {
  const handshakeTimeout = 300;

  test('a slowloris handshake (one header byte every 100 ms) is cut off after the handshake timeout', async () => {
    const server = await start({ handshakeTimeout });
    const client = await RawClient.open(server.port);
    client.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n`);
    const trickle = 'X-Slow: ' + 'a'.repeat(100);
    for (let i = 0; i < trickle.length && client.closedAt === undefined; i++) {
      client.write(trickle[i]);
      await sleep(100);
    }
    expect(client.closedAt).toBeDefined();
    const lived = (client.closedAt as number) - client.openedAt;
    expect(lived).toBeGreaterThanOrEqual(handshakeTimeout - 50);
    expect(lived).toBeLessThan(handshakeTimeout + TIMEOUT_SLACK);
    // Node answers a request that timed out while sending its headers with 408.
    expect([undefined, 408]).toContain(client.status);
  });

  test('a TCP connection that never sends a byte is dropped after the handshake timeout', async () => {
    const server = await start({ handshakeTimeout });
    const client = await RawClient.open(server.port);
    expect(await client.waitForClose(handshakeTimeout + TIMEOUT_SLACK)).toBe(true);
    expect((client.closedAt as number) - client.openedAt).toBeGreaterThanOrEqual(handshakeTimeout - 50);
  });
});

describe('a 100 MB POST /push is refused with 413 before it is read into memory', () => {
  const maxPushBody = 64 * 1024;
  const HUNDRED_MB = 100 * 1024 * 1024;
  const CHUNK = Buffer.alloc(64 * 1024, 0x61);

  /** Streams body chunks until the server answers or `limit` bytes went out; returns the bytes sent. */
  async function streamUntilAnswered(client: RawClient, limit: number, chunked: boolean): Promise<number> {
    let sent = 0;
    while (sent < limit && client.status === undefined && client.closedAt === undefined) {
      const piece = chunked ? Buffer.concat([Buffer.from(`${CHUNK.length.toString(16)}\r\n`), CHUNK, Buffer.from('\r\n')]) : CHUNK;
      if (!client.write(piece)) await Promise.race([new Promise((resolve) => client.socket.once('drain', resolve)), sleep(20)]);
      sent += CHUNK.length;
      await sleep(0);
    }
    return sent;
  }

  test('with Content-Length: 104857600 the 413 comes before the body', async () => {
    const server = await start({ maxPushBody });
    const client = await RawClient.open(server.port);
    const memory = new MemorySampler();
    client.write(`POST /push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: ${HUNDRED_MB}\r\n\r\n`);
    expect(await client.waitFor(() => client.status !== undefined, 1_000)).toBe(true);
    const sent = await streamUntilAnswered(client, HUNDRED_MB, false);
    const report = memory.stop('POST /push with Content-Length 100 MB');
    expect(client.status).toBe(413);
    expect(sent).toBe(0);
    expect(report.arrayBuffers).toBeLessThan(4 * MIB);
    expect(await client.waitForClose(1_000)).toBe(true);
  });

  test('chunked without a length: 413 once the body passes the limit, the rest never read', async () => {
    const server = await start({ maxPushBody });
    const client = await RawClient.open(server.port);
    const memory = new MemorySampler();
    client.write('POST /push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n');
    const sent = await streamUntilAnswered(client, HUNDRED_MB, true);
    const report = memory.stop(`chunked POST /push (${(sent / MIB).toFixed(1)} MiB sent before the answer)`);
    expect(client.status).toBe(413);
    // The answer comes once the limit is passed, give or take what the sockets buffer: nowhere near 100 MB.
    expect(sent).toBeLessThan(16 * MIB);
    expect(report.arrayBuffers).toBeLessThan(16 * MIB);
    expect(await client.waitForClose(1_000)).toBe(true);
    expect(server.framecast.metrics.pushes).toBe(0);
  });
});

describe('too many or too large headers', () => {
  test('one 64 KiB header gets 431', async () => {
    const server = await start();
    const client = await RawClient.open(server.port);
    client.write(upgradeRequest(server.port, `X-Big: ${'a'.repeat(64 * 1024)}\r\n`));
    expect(await client.waitFor(() => client.status !== undefined, 2_000)).toBe(true);
    expect(client.status).toBe(431);
  });

  test('5,000 small headers (over the 16 KiB total) get 431', async () => {
    const server = await start();
    const client = await RawClient.open(server.port);
    const many = Array.from({ length: 5_000 }, (_, i) => `X-H${i}: v\r\n`).join('');
    client.write(upgradeRequest(server.port, many));
    expect(await client.waitFor(() => client.status !== undefined, 2_000)).toBe(true);
    expect(client.status).toBe(431);
  });

  test(`${HttpDefaults.maxHeadersCount + 50} headers before the upgrade headers: those past the count are dropped, so 400`, async () => {
    const server = await start();
    const client = await RawClient.open(server.port);
    const filler = Array.from({ length: HttpDefaults.maxHeadersCount + 50 }, (_, i) => `X-H${i}: v\r\n`).join('');
    client.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n${filler}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    expect(await client.waitFor(() => client.status !== undefined, 2_000)).toBe(true);
    expect([400, 426]).toContain(client.status);
  });
});

/** Hostile 64 KiB values for the two handshake headers that are parsed as lists. */
const HOSTILE_VALUES: ReadonlyArray<readonly [string, (size: number) => string]> = [
  ['commas', (size) => ','.repeat(size)],
  ['spaces then a bad byte', (size) => ' '.repeat(size - 1) + '\u0001'],
  ['tokens and commas', (size) => 'a,'.repeat(size / 2)],
  ['parameters', (size) => 'x' + ';a=b'.repeat(size / 4)],
  ['an unclosed quoted string of escapes', (size) => 'x; a="' + '\\"'.repeat(size / 2 - 4)],
  ['repeated parameter names', (size) => 'x' + '; p'.repeat(size / 3)],
];

function request(protocol: string | undefined, extensions: string | undefined): Parameters<typeof validateUpgradeRequest>[0] {
  const headers = new Map([
    ['host', 'example.com'],
    ['upgrade', 'websocket'],
    ['connection', 'Upgrade'],
    ['sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ=='],
    ['sec-websocket-version', '13'],
  ]);
  if (protocol !== undefined) headers.set('sec-websocket-protocol', protocol);
  if (extensions !== undefined) headers.set('sec-websocket-extensions', extensions);
  return { method: 'GET', httpVersion: '1.1', headers };
}

/** The fastest of a few runs of `fn`, in ms: the least disturbed by the other work on the machine. */
function fastest(fn: () => void, runs = 3): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - started) / 1e6);
  }
  return best;
}

describe('hostile Sec-WebSocket-Protocol and Sec-WebSocket-Extensions values of 64 KiB are answered in linear time', () => {
  const LARGE = 64 * 1024;
  /**
   * A linear scan of 64 KiB takes milliseconds (about 7 ms for 32,768 extension offers measured
   * alone, more while the machine is busy and the garbage collector runs); a quadratic one is
   * some 2^31 steps, seconds; a backtracking regular expression, far longer. Timing ratios
   * between sizes proved too noisy here (collector pauses), so the bound is absolute.
   */
  const LINEAR_BOUND_MS = 250;

  test.each(HOSTILE_VALUES)('%s: parsed or refused in under 250 ms', (_name, make) => {
    const value = make(LARGE);
    expect(value.length).toBeGreaterThanOrEqual(LARGE - 8);
    for (const header of ['protocol', 'extensions'] as const) {
      const time = fastest(() => {
        validateUpgradeRequest(header === 'protocol' ? request(value, undefined) : request(undefined, value));
        // The scanners themselves, in case the handshake refuses before reaching them.
        if (header === 'protocol') parseTokenList(value);
        else parseExtensionOffers(value);
      });
      expect(time).toBeLessThan(LINEAR_BOUND_MS);
    }
  });

  test('over the wire a 64 KiB value is refused with 431 by the header limit, and a 10 KiB one is answered at once', async () => {
    const server = await start();
    const large = await RawClient.open(server.port);
    large.write(upgradeRequest(server.port, `Sec-WebSocket-Extensions: x${';a=b'.repeat(16 * 1024)}\r\n`));
    expect(await large.waitFor(() => large.status !== undefined, 2_000)).toBe(true);
    expect(large.status).toBe(431);

    const nearLimit = await RawClient.open(server.port);
    const started = Date.now();
    nearLimit.write(upgradeRequest(server.port, `Sec-WebSocket-Protocol: ${'a,'.repeat(3 * 1024)}\r\nSec-WebSocket-Extensions: x; a="${'\\"'.repeat(2 * 1024)}\r\n`));
    expect(await nearLimit.waitFor(() => nearLimit.status !== undefined, 2_000)).toBe(true);
    expect(nearLimit.status).toBe(400); // the unclosed quoted string is not valid (RFC 6455 9.1)
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('more connections than the limit', () => {
  test('the one past maxConnections gets 503, and a place freed is taken again', async () => {
    const maxConnections = 3;
    const server = await start({ maxConnections });
    const clients = await Promise.all(Array.from({ length: maxConnections }, () => openClient(`${server.wsUrl}/ws`)));
    const extra = await RawClient.open(server.port);
    extra.write(upgradeRequest(server.port));
    expect(await extra.waitFor(() => extra.status !== undefined, 2_000)).toBe(true);
    expect(extra.status).toBe(503);
    expect(server.framecast.echo.clients.size).toBe(maxConnections);

    clients[0].close();
    await new Promise((resolve) => clients[0].once('close', resolve));
    const deadline = Date.now() + 1_000;
    while (server.framecast.echo.clients.size >= maxConnections && Date.now() < deadline) await sleep(10);
    const again = await openClient(`${server.wsUrl}/ws`);
    expect(again.readyState).toBe(again.OPEN);
    for (const client of [...clients, again]) client.terminate();
  });
});
