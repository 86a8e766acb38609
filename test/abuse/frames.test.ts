/**
 * Abuse over an open WebSocket: frames built to make a server allocate, buffer or queue
 * without bound. Each attack is sent to a running framecast, and the server's memory is
 * measured while it lasts (see memory.ts).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { Opcode } from '../../src/protocol/index.js';
import type { WebSocketConnection } from '../../src/server/connection.js';
import { openClient, startFramecast, type RunningFramecast } from '../helpers/framecast.js';
import { buildFrame, parseTarget, RawConnection, sleep, type WireEvent } from '../conformance/wire.js';
import { MemorySampler, MIB, retainedBytes } from './memory.js';

const MAX_MESSAGE_SIZE = 64 * 1024;
/** "At once": a reply that needs no more input comes well within this. */
const AT_ONCE_MS = 1_000;

let running: RunningFramecast | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function start(options: Parameters<typeof startFramecast>[0] = {}): Promise<RunningFramecast> {
  running = await startFramecast({ maxMessageSize: MAX_MESSAGE_SIZE, heartbeatInterval: 0, closeTimeout: 500, shutdownTimeout: 200, ...options });
  return running;
}

/** A raw connection to /ws after a valid handshake. */
async function connect(server: RunningFramecast): Promise<RawConnection> {
  const target = parseTarget(`${server.wsUrl}/ws`);
  const connection = await RawConnection.open(target, 2_000);
  const refused = await connection.handshake(target, 2_000);
  if (refused !== undefined) throw refused;
  return connection;
}

/** The first event that is not a message or pong, e.g. the server's Close. */
async function closeEvent(connection: RawConnection, timeoutMs: number): Promise<WireEvent | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const event = await connection.next(Math.max(0, deadline - Date.now()));
    if (event === undefined || event.kind === 'close' || event.kind === 'tcp-closed') return event;
  }
}

describe('declared lengths the server can never accept are refused from the header alone', () => {
  test.each([
    { name: '2^63 - 1 (most significant bit clear)', length: 2n ** 63n - 1n, code: 1009 },
    { name: '2^53', length: 2n ** 53n, code: 1009 },
    { name: 'the limit + 1', length: BigInt(MAX_MESSAGE_SIZE + 1), code: 1009 },
    { name: '2^63 (most significant bit set, RFC 6455 5.2)', length: 2n ** 63n, code: 1002 },
  ])('a frame declaring $name bytes is closed with $code at once, nothing allocated', async ({ length, code }) => {
    const server = await start();
    const connection = await connect(server);
    const memory = new MemorySampler();
    const started = Date.now();
    connection.write(buildFrame({ opcode: Opcode.Binary, declaredLength: length, lengthBits: 64 }));
    const event = await closeEvent(connection, AT_ONCE_MS);
    const report = memory.stop(`declared length ${length}`);
    expect(event).toEqual({ kind: 'close', code, reason: expect.any(String) });
    expect(Date.now() - started).toBeLessThan(AT_ONCE_MS);
    expect(report.arrayBuffers).toBeLessThan(1 * MIB);
    connection.destroy();
  });
});

/** A text message of `count` one-byte fragments, as one buffer of frames (7 bytes each: 2 of header, 4 of mask, 1 of payload). */
function tinyFragments(count: number): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    frames.push(buildFrame({ opcode: i === 0 ? Opcode.Text : Opcode.Continuation, payload: Buffer.from('a'), fin: i === count - 1 }));
  }
  return Buffer.concat(frames);
}

const FRAGMENTS = 100_000;
const FRAGMENT_FRAME_BYTES = 7;
/**
 * What an unfinished message of 100,000 one-byte fragments may keep: its bytes (100 KB, in a
 * buffer that grows by doubling) and change. One object per fragment would be some 10 MB.
 */
const HELD_BOUND = 1 * MIB;

/** Sends `bytes`, then a Ping, and waits for the Pong: by then the server has read everything before it. */
async function sendAndSync(connection: RawConnection, bytes: Buffer): Promise<void> {
  connection.write(Buffer.concat([bytes, buildFrame({ opcode: Opcode.Ping, payload: Buffer.from('sync') })]));
  expect(await connection.next(10_000)).toEqual({ kind: 'pong', data: Buffer.from('sync') });
}

describe('100,000 tiny fragments: memory is bounded by the message limit, not the fragment count', () => {
  test('a message of 100,000 one-byte fragments under the limit: the server holds its bytes only, then echoes it whole', async () => {
    const server = await start({ maxMessageSize: 128 * 1024 });
    const connection = await connect(server);
    const frames = tinyFragments(FRAGMENTS);
    const before = retainedBytes();
    await sendAndSync(connection, frames.subarray(0, frames.length - FRAGMENT_FRAME_BYTES));
    const held = retainedBytes() - before;
    console.log(`[memory] unfinished message of ${FRAGMENTS - 1} one-byte fragments: ${(held / 1024).toFixed(0)} KiB retained`);
    expect(held).toBeLessThan(HELD_BOUND);
    connection.write(frames.subarray(frames.length - FRAGMENT_FRAME_BYTES));
    const event = await connection.next(10_000);
    expect(event?.kind === 'message' && !event.binary && event.data.equals(Buffer.alloc(FRAGMENTS, 'a'))).toBe(true);
    connection.destroy();
  });

  test('past the limit the server closes with 1009 once the sum passes it, having held no more than the limit', async () => {
    const server = await start({ maxMessageSize: MAX_MESSAGE_SIZE });
    const connection = await connect(server);
    const frames = tinyFragments(FRAGMENTS);
    const underLimit = MAX_MESSAGE_SIZE - 1_000; // fragments that still fit
    const before = retainedBytes();
    await sendAndSync(connection, frames.subarray(0, underLimit * FRAGMENT_FRAME_BYTES));
    const held = retainedBytes() - before;
    console.log(`[memory] unfinished message of ${underLimit} one-byte fragments (limit ${MAX_MESSAGE_SIZE}): ${(held / 1024).toFixed(0)} KiB retained`);
    expect(held).toBeLessThan(HELD_BOUND);
    connection.write(frames.subarray(underLimit * FRAGMENT_FRAME_BYTES));
    expect(await closeEvent(connection, 10_000)).toEqual({ kind: 'close', code: 1009, reason: expect.any(String) });
    connection.destroy();
  });
});

describe('a ping flood from a client that never reads', () => {
  test('pongs pile up only to the send buffer limit, then the client is dropped as a slow consumer', async () => {
    const maxSendBuffer = 256 * 1024;
    const server = await start({ maxSendBuffer, sendHighWaterMark: 64 * 1024 });
    let serverSide: WebSocketConnection | undefined;
    server.framecast.echo.once('connection', (connection: WebSocketConnection) => {
      serverSide = connection;
    });
    const connection = await connect(server);
    // Never read again: the server's pongs fill the kernel buffers, then its own send queue.
    connection.socket.pause();
    const ping = buildFrame({ opcode: Opcode.Ping, payload: Buffer.alloc(125, 0x70) });
    const batch = Buffer.concat(Array.from({ length: 1_000 }, () => ping));
    let peakQueued = 0;
    const watch = setInterval(() => {
      peakQueued = Math.max(peakQueued, serverSide?.bufferedAmount ?? 0);
    }, 1);
    const retainedBefore = retainedBytes();
    const memory = new MemorySampler();
    let sentPings = 0;
    const MAX_PINGS = 400_000; // 52 MB of pings: far more than any buffer on the way
    while (sentPings < MAX_PINGS && server.framecast.metrics.slowConsumersDropped === 0 && !connection.socket.destroyed) {
      if (!connection.socket.write(batch)) await Promise.race([new Promise((resolve) => connection.socket.once('drain', resolve)), sleep(50)]);
      sentPings += 1_000;
      await sleep(0);
    }
    await sleep(50);
    clearInterval(watch);
    const report = memory.stop(`ping flood (${sentPings} pings sent, never read)`);
    console.log(`[memory] ping flood: peak server send queue ${(peakQueued / 1024).toFixed(0)} KiB (limit ${maxSendBuffer / 1024} KiB)`);
    expect(server.framecast.metrics.slowConsumersDropped).toBe(1);
    expect(server.framecast.echo.clients.size).toBe(0);
    // One write past the limit is what trips it: a pong of at most 127 bytes.
    expect(peakQueued).toBeLessThanOrEqual(maxSendBuffer + 127);
    expect(report.arrayBuffers).toBeLessThan(16 * MIB);
    connection.destroy();
    // Nothing of the flood stays behind once the connection is gone.
    await sleep(20);
    const leftover = retainedBytes() - retainedBefore;
    console.log(`[memory] ping flood: ${(leftover / 1024).toFixed(0)} KiB retained after the drop`);
    expect(leftover).toBeLessThan(1 * MIB);
  });
});

describe('a connection that never sends anything after the handshake', () => {
  test('is dropped at the second heartbeat while a client that answers pings stays', async () => {
    const heartbeatInterval = 200;
    const server = await start({ heartbeatInterval });
    const lively = await openClient(`${server.wsUrl}/ws`); // ws answers pings by itself
    const silent = await connect(server);
    const started = Date.now();
    // Generous for a loaded machine; a server without the heartbeat would never drop it.
    const closed = await silent.waitForTcpClose(heartbeatInterval * 20);
    const elapsed = Date.now() - started;
    expect(closed).toBe(true);
    // Timers never fire early: it lived at least the one interval between its ping and the drop.
    expect(elapsed).toBeGreaterThanOrEqual(heartbeatInterval - 20);
    // Counted in heartbeats rather than milliseconds: one heartbeat pinged it, the next dropped it.
    expect(silent.log.filter((line) => line.startsWith('ping '))).toHaveLength(1);
    expect(lively.readyState).toBe(lively.OPEN);
    // The server's own 'close' comes a moment after ours.
    const deadline = Date.now() + 500;
    while (server.framecast.echo.clients.size > 1 && Date.now() < deadline) await sleep(10);
    expect(server.framecast.echo.clients.size).toBe(1);
    lively.terminate();
  });
});
