/**
 * Abuse over an open WebSocket: frames built to make a server allocate, buffer or queue
 * without bound. Each attack is sent to a running framecast, and the server's memory is
 * measured while it lasts (see memory.ts).
 */
import { createConnection } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { Opcode } from '../../src/protocol/index.js';
import { ServerDefaults } from '../../src/server/config.js';
import { ReadyState, type WebSocketConnection } from '../../src/server/websocket/connection.js';
import { upgradeRequest } from '../helpers/raw-socket.js';
import { waitUntil } from '../helpers/wait.js';
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

describe('a peer that keeps sending after it was failed is cut off past maxBytesAfterClose, not read until the close timeout', () => {
  test('after a 1009 Close and the end of the stream, about 1 MiB more is read and dropped, then the socket is destroyed', async () => {
    const server = await start({ closeTimeout: 60_000 });
    let serverClosed = false;
    server.framecast.echo.once('connection', (connection: WebSocketConnection) => {
      connection.once('close', () => {
        serverClosed = true;
      });
    });
    // A client that goes on sending after the server's FIN (Node's sockets end their side at
    // once by default, which would stop the flood for us).
    const socket = createConnection({ host: '127.0.0.1', port: server.port, allowHalfOpen: true });
    socket.on('error', () => undefined);
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
    });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(upgradeRequest(server.port, '/ws'));
    await waitUntil(() => received.includes('\r\n\r\n'), 2_000, 'the 101 answer');
    expect(received.toString('latin1')).toMatch(/^HTTP\/1\.1 101/);
    socket.write(buildFrame({ opcode: Opcode.Binary, declaredLength: MAX_MESSAGE_SIZE + 1 }));
    const CLOSE_1009 = Buffer.from([0x88]); // the Close frame's first byte; its code follows its length byte
    await waitUntil(() => received.indexOf(CLOSE_1009, received.indexOf('\r\n\r\n')) !== -1, AT_ONCE_MS, 'the Close');
    const close = received.subarray(received.indexOf(CLOSE_1009, received.indexOf('\r\n\r\n')));
    expect(close.readUInt16BE(2)).toBe(1009);
    // Now flood: bytes the server may no longer process. Bounded: 64 MiB.
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const LIMIT = 64 * MIB;
    let written = 0;
    while (!serverClosed && written < LIMIT && !socket.destroyed) {
      if (!socket.write(chunk)) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), sleep(50)]);
      written += chunk.length;
    }
    console.log(`[abuse] after its Close, the server read on until ${(written / MIB).toFixed(1)} MiB had been written (kernel buffers included)`);
    // Cut off long before the close timeout (60 s here), within the bound plus what the kernels hold.
    await waitUntil(() => serverClosed, 5_000, "the server's close");
    expect(written).toBeLessThan(32 * MIB);
    expect(written).toBeGreaterThan(ServerDefaults.maxBytesAfterClose);
    socket.destroy();
  });
});

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

describe('fragments per message are bounded (ServerDefaults.maxFragmentsPerMessage), and the bound passes the largest conformance cases', () => {
  test('a 4 MiB text message in 65,536 fragments of 64 B is echoed whole', async () => {
    const server = await start({ maxMessageSize: 8 * MIB });
    const connection = await connect(server);
    const payload = Buffer.alloc(4 * MIB, 'fragment');
    const frames: Buffer[] = [];
    for (let offset = 0, i = 0; offset < payload.length; offset += 64, i++) {
      frames.push(buildFrame({ opcode: i === 0 ? Opcode.Text : Opcode.Continuation, payload: payload.subarray(offset, offset + 64), fin: offset + 64 >= payload.length }));
    }
    expect(frames).toHaveLength(65_536);
    connection.write(Buffer.concat(frames));
    const event = await connection.next(20_000);
    expect(event?.kind === 'message' && !event.binary && event.data.equals(payload)).toBe(true);
    connection.destroy();
  });

  test(`${ServerDefaults.maxFragmentsPerMessage} one-byte fragments are taken; the next one is closed with 1009 at once`, async () => {
    const server = await start({ maxMessageSize: 1 * MIB });
    const connection = await connect(server);
    const limit = ServerDefaults.maxFragmentsPerMessage;
    const frames = tinyFragments(limit + 1); // the last has FIN set
    await sendAndSync(connection, frames.subarray(0, limit * FRAGMENT_FRAME_BYTES));
    connection.write(frames.subarray(limit * FRAGMENT_FRAME_BYTES));
    expect(await closeEvent(connection, AT_ONCE_MS)).toEqual({ kind: 'close', code: 1009, reason: expect.stringContaining('fragments') });
    connection.destroy();
  });
});

describe('a ping flood from a client that never reads', () => {
  test('once the pongs back up, one Pong at a time waits; past maxUnansweredPings the client gets 1008', async () => {
    // A close timeout long enough for the client to read its backlog before the server gives up on it.
    const server = await start({ closeTimeout: 20_000 });
    let serverSide: WebSocketConnection | undefined;
    let pingsSeen = 0;
    server.framecast.echo.once('connection', (connection: WebSocketConnection) => {
      serverSide = connection;
      connection.on('ping', () => pingsSeen++);
    });
    const connection = await connect(server);
    await waitUntil(() => serverSide !== undefined, 2_000, 'the server side of the connection');
    const side = serverSide as WebSocketConnection;
    // Never read: the server's pongs fill the kernel's buffers, then wait in its own.
    connection.socket.pause();
    const ping = buildFrame({ opcode: Opcode.Ping, payload: Buffer.alloc(125, 0x70) });
    const BATCH = 100;
    const batch = Buffer.concat(Array.from({ length: BATCH }, () => ping));
    let sent = 0;
    /** Sends a batch and waits until the server has read it (or stopped reading: it closed). */
    const sendBatch = async (): Promise<void> => {
      connection.write(batch);
      sent += BATCH;
      await waitUntil(() => pingsSeen === sent || side.readyState !== ReadyState.Open, 10_000, 'the server to read the pings');
    };

    // 1. Until the pongs back up: bytes wait in the server's socket that the kernel would not take.
    const MAX_PINGS_TO_BACK_UP = 400_000; // 50 MB of pongs: far more than any kernel buffer on the way
    while (side.bufferedAmount === 0 && sent < MAX_PINGS_TO_BACK_UP) await sendBatch();
    expect(side.bufferedAmount).toBeGreaterThan(0);
    expect(side.readyState).toBe(ReadyState.Open);
    const backedUpAt = { pings: sent, writes: side.queuedWrites, bytes: side.bufferedAmount };

    // 2. Ping on: at most one more Pong is queued, whatever the number of pings, until the limit.
    let peakWrites = backedUpAt.writes;
    let peakBytes = backedUpAt.bytes;
    const MAX_FLOOD = ServerDefaults.maxUnansweredPings + 3 * BATCH;
    while (side.readyState === ReadyState.Open && sent - backedUpAt.pings < MAX_FLOOD) {
      await sendBatch();
      if (side.readyState !== ReadyState.Open) break;
      peakWrites = Math.max(peakWrites, side.queuedWrites);
      peakBytes = Math.max(peakBytes, side.bufferedAmount);
    }
    const flood = sent - backedUpAt.pings;
    console.log(
      `[memory] ping flood: backed up after ${backedUpAt.pings} pings with ${backedUpAt.writes} writes (${backedUpAt.bytes} B) queued; ` +
        `${flood} pings later at most ${peakWrites} writes (${peakBytes} B) queued`,
    );
    expect(side.readyState).toBe(ReadyState.Closing);
    expect(peakWrites - backedUpAt.writes).toBeLessThanOrEqual(1);
    expect(peakBytes - backedUpAt.bytes).toBeLessThanOrEqual(ping.length - 4); // one Pong: the Ping's size less its masking key
    // Closed once more than the limit were held: not before, and not much after.
    expect(flood).toBeGreaterThanOrEqual(ServerDefaults.maxUnansweredPings - BATCH);
    expect(flood).toBeLessThanOrEqual(ServerDefaults.maxUnansweredPings + 2 * BATCH);

    // 3. It pings on after the Close, 2 MiB more (past maxBytesAfterClose): the server stops
    //    reading it rather than drop the connection with the Close still waiting for it...
    const more = Buffer.concat(Array.from({ length: (2 * MIB) / batch.length + 1 }, () => batch));
    connection.write(more);
    await sleep(200);
    // 4. ...so when the client reads at last: the pongs it was sent, then the server's Close, 1008.
    connection.socket.resume();
    let pongs = 0;
    let event: WireEvent | undefined;
    for (;;) {
      event = await connection.next(10_000);
      if (event?.kind !== 'pong') break;
      pongs++;
    }
    expect(event).toEqual({ kind: 'close', code: 1008, reason: expect.stringContaining('ping') });
    // Every ping read was answered but the ones held while the pongs waited.
    expect(pingsSeen - pongs).toBeGreaterThanOrEqual(ServerDefaults.maxUnansweredPings);
    connection.destroy();
  });

  test('a client that reads gets a Pong for every ping, even thousands in one write', async () => {
    const server = await start();
    const connection = await connect(server);
    const COUNT = 3_000; // more than one turn's slice of frames (ServerDefaults.framesPerTurn)
    connection.write(Buffer.concat(Array.from({ length: COUNT }, (_, i) => buildFrame({ opcode: Opcode.Ping, payload: Buffer.from(String(i)) }))));
    for (let i = 0; i < COUNT; i++) expect(await connection.next(5_000)).toEqual({ kind: 'pong', data: Buffer.from(String(i)) });
    connection.destroy();
  });
});

describe('tiny messages echoed to a client that never reads: what waits is counted as memory, each write included', () => {
  test('dropped as a slow consumer once its queued writes cost maxSendBuffer, though their bytes are a fraction of it; mayQueueReply says no first', async () => {
    // The defaults: 4 MiB, and 1 MiB for the high-water mark.
    const maxSendBuffer = ServerDefaults.maxSendBuffer;
    const sendHighWaterMark = ServerDefaults.sendHighWaterMark;
    const server = await start();
    let serverSide: WebSocketConnection | undefined;
    server.framecast.echo.once('connection', (connection: WebSocketConnection) => {
      serverSide = connection;
    });
    const connection = await connect(server);
    await waitUntil(() => serverSide !== undefined, 2_000, 'the server side of the connection');
    const side = serverSide as WebSocketConnection;
    connection.socket.pause();
    // Empty text messages: each echo is a 2-byte frame, one write. Large batches until the
    // echoes back up (the kernel's buffers take about a million), then small ones, watching.
    const emptyMessages = (count: number): Buffer => Buffer.concat(Array.from({ length: count }, () => buildFrame({ opcode: Opcode.Text })));
    // A large batch is far under the limit even if all of it queues (5,000 writes cost 1.3 MB).
    const large = emptyMessages(5_000);
    const small = emptyMessages(500);
    let peak = { writes: 0, bytes: 0 };
    let refusedReplyAt: { writes: number; bytes: number } | undefined;
    const MAX_MESSAGES = 3_000_000; // 18 MB: more than the kernel's buffers take in echoes
    const metrics = server.framecast.metrics;
    for (let sent = 0; sent < MAX_MESSAGES && metrics.slowConsumersDropped === 0; ) {
      const batch = side.bufferedAmount === 0 ? large : small;
      connection.write(batch);
      sent += batch.length / 6; // 6 bytes a frame: 2 of header, 4 of masking key
      await waitUntil(() => metrics.messagesReceived >= sent || metrics.slowConsumersDropped > 0, 10_000, 'the server to read the batch');
      const now = { writes: side.queuedWrites, bytes: side.bufferedAmount };
      if (now.writes > peak.writes) peak = now;
      if (refusedReplyAt === undefined && side.readyState === ReadyState.Open && !side.mayQueueReply()) refusedReplyAt = now;
    }
    console.log(`[memory] empty-message echo flood: dropped at ${peak.writes} queued writes holding ${peak.bytes} B; mayQueueReply false from ${JSON.stringify(refusedReplyAt)}`);
    expect(server.framecast.metrics.slowConsumersDropped).toBe(1);
    const writeCost = ServerDefaults.queuedWriteBytes;
    // Dropped by what the writes cost: bytes alone are a small part of the bound...
    expect(peak.bytes).toBeLessThan(maxSendBuffer / 8);
    // ...and the writes never cost much more than it (one turn's slice of replies past it at most).
    expect(peak.writes).toBeLessThanOrEqual(maxSendBuffer / writeCost + ServerDefaults.framesPerTurn);
    expect(refusedReplyAt).toBeDefined();
    expect((refusedReplyAt as { writes: number }).writes * writeCost).toBeGreaterThan(sendHighWaterMark / 2);
    connection.destroy();
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
