/**
 * The attacks of the abuse battery, each against one server at `host:port`. Every one is
 * bounded in connections, bytes and time (`spec.windowMs`), stops by itself, and reports what
 * each attacking connection got back (see plan.ts).
 */
import type { Socket } from 'node:net';
import { constants as zlibConstants, deflateRawSync } from 'node:zlib';
import WebSocket from 'ws';
import { buildClientRequest, CloseCode, encodeCloseFrame, encodeFrame, generateClientKey, Opcode } from '../../src/protocol/index.js';
import { pseudoRandomBytes } from '../pseudo-random-bytes.js';
import type { AttackName, AttackOutcome, AttackSpec } from './plan.js';
import { closeAll, openHttp, openWatched, outcomeOf, sleep, until, Watch, writeWithBackpressure } from './peers.js';

interface Target {
  host: string;
  port: number;
}

type Attack = (spec: AttackSpec, target: Target) => Promise<AttackOutcome>;

/** Connections opened at once; more would only measure the accept queue. */
const OPEN_AT_ONCE = 50;

/** Opens `count` watched WebSockets to `path`, `OPEN_AT_ONCE` at a time. */
async function openMany(target: Target, path: string, count: number, deflate = false): Promise<{ watches: Watch[]; sockets: Array<Socket | undefined> }> {
  const watches: Watch[] = [];
  const sockets: Array<Socket | undefined> = [];
  for (let first = 0; first < count; first += OPEN_AT_ONCE) {
    const batch = Array.from({ length: Math.min(OPEN_AT_ONCE, count - first) }, () => new Watch());
    watches.push(...batch);
    sockets.push(...(await Promise.all(batch.map((watch) => openWatched(target.host, target.port, path, watch, deflate)))));
  }
  return { watches, sockets };
}

const format = (value: number): string => value.toLocaleString('en-US');

/** Nothing: the neighbour alone, for the figures an attack is compared with. */
const baseline: Attack = async (spec) => {
  await sleep(spec.windowMs);
  return { tally: {}, answerMs: undefined, detail: 'no attacker' };
};

/** The request line and part of a header, then one more byte of it every 500 ms: the headers never end. */
const slowloris: Attack = async (spec, target) => {
  const BYTE_EVERY_MS = 500;
  const deadline = Date.now() + spec.windowMs;
  const watches = Array.from({ length: spec.connections }, () => new Watch());
  const sockets = await Promise.all(watches.map((watch) => openHttp(target.host, target.port, watch)));
  for (const socket of sockets) socket?.write(`GET /ws HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nX-Slow: `);
  const timer = setInterval(() => {
    for (let i = 0; i < sockets.length; i++) if (!watches[i].answered && sockets[i]?.writable) sockets[i]?.write('a');
  }, BYTE_EVERY_MS);
  await until(() => watches.every((watch) => watch.answered), deadline);
  clearInterval(timer);
  closeAll(watches, sockets);
  return outcomeOf(watches, `${spec.connections} connections, a header byte every ${BYTE_EVERY_MS} ms for up to ${spec.windowMs / 1000} s`);
};

/** A valid handshake, then nothing at all: no frame, no Pong to the server's Pings. */
const silence: Attack = async (spec, target) => {
  const deadline = Date.now() + spec.windowMs;
  const { watches, sockets } = await openMany(target, '/ws', spec.connections);
  await until(() => watches.every((watch) => watch.answered), deadline);
  closeAll(watches, sockets);
  return outcomeOf(watches, `${spec.connections} connections silent for up to ${spec.windowMs / 1000} s`);
};

/**
 * Chat members that never read, and a member of the same channel that publishes 16 KiB
 * messages as fast as its own socket takes them (and reads its own copies). At the end the
 * members read, to learn whether the server dropped them.
 */
const slowConsumers: Attack = async (spec, target) => {
  const MESSAGE_BYTES = 16 * 1024;
  const IN_FLIGHT = 64;
  const READ_AT_END_MS = 2_000;
  const started = Date.now();
  const publishUntil = started + spec.windowMs - READ_AT_END_MS;
  const channel = `abuse-slow-${process.pid}`;
  const { watches, sockets } = await openMany(target, `/chat?channel=${channel}`, spec.connections);
  for (const socket of sockets) socket?.pause();
  const publisher = new WebSocket(`ws://${target.host}:${target.port}/chat?channel=${channel}`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    publisher.once('open', () => resolve());
    publisher.once('error', reject);
  });
  publisher.on('message', () => undefined); // its own copies: read and dropped
  const payload = Buffer.alloc(MESSAGE_BYTES, 0x61);
  let published = 0;
  let inFlight = 0;
  const written = (): void => {
    inFlight--;
  };
  while (published < spec.count && Date.now() < publishUntil && publisher.readyState === WebSocket.OPEN) {
    if (inFlight >= IN_FLIGHT) {
      await sleep(1);
      continue;
    }
    inFlight++;
    published++;
    publisher.send(payload, { binary: true }, written);
  }
  await until(() => inFlight === 0, publishUntil);
  publisher.close();
  // The members read at last: a dropped member finds the end of its stream.
  for (const socket of sockets) socket?.resume();
  await until(() => watches.every((watch) => watch.answered), Math.min(started + spec.windowMs, Date.now() + READ_AT_END_MS));
  closeAll(watches, sockets);
  const readMiB = watches.reduce((sum, watch) => sum + watch.dataBytes, 0) / (1024 * 1024) / Math.max(1, watches.length);
  return outcomeOf(watches, `${format(published)} x 16 KiB published to ${spec.connections} members; each read ${readMiB.toFixed(1)} MiB at the end`);
};

/** Frames of a text message that never ends: one-byte continuations, masked, back to back. */
function continuationBlock(): Buffer {
  const FRAMES = 9_000;
  const frame = encodeFrame(Opcode.Continuation, Buffer.from('a'), { fin: false, mask: true });
  return Buffer.concat(Array.from({ length: FRAMES }, () => frame));
}

/**
 * Each worker opens a connection and sends one-byte fragments as fast as it is read; once
 * closed, it opens another. At the end of the window no new connection is opened, and the ones
 * flooding get a while longer to be answered (they did not start at the window's start).
 */
const fragmentFlood: Attack = async (spec, target) => {
  const MAX_CONNECTIONS_PER_WORKER = 2_000;
  const openUntil = Date.now() + spec.windowMs;
  const deadline = openUntil + Math.min(5_000, spec.windowMs / 2);
  const block = continuationBlock();
  const framesPerBlock = block.length / 7;
  const first = encodeFrame(Opcode.Text, Buffer.from('a'), { fin: false, mask: true });
  const watches: Watch[] = [];
  let fragments = 0;
  const worker = async (): Promise<void> => {
    for (let opened = 0; opened < MAX_CONNECTIONS_PER_WORKER && Date.now() < openUntil; opened++) {
      const watch = new Watch();
      watches.push(watch);
      const socket = await openWatched(target.host, target.port, '/ws', watch);
      if (socket === undefined) continue;
      socket.write(first);
      while (!watch.answered && Date.now() < deadline) {
        if (!(await writeWithBackpressure(socket, block, deadline))) break;
        fragments += framesPerBlock;
      }
      // Answered: give the Close a moment to arrive before the next connection.
      await until(() => watch.answered, Math.min(deadline, Date.now() + 200));
      watch.close(socket);
    }
  };
  await Promise.all(Array.from({ length: spec.connections }, worker));
  return outcomeOf(
    watches,
    `${spec.connections} workers, ${format(watches.length)} connections, ${format(fragments)} fragments written (a server that closes a connection reads on, discarding, until it is gone)`,
  );
};

/**
 * Every connection stops reading and sends its pings as fast as the server reads them. It reads
 * again, to find its answer, when the server has stopped taking them for two seconds (as
 * framecast does once it has closed a connection: the Close waits for it, for the close
 * timeout), or else at the end of the flood, half the window in.
 */
const pingFlood: Attack = async (spec, target) => {
  const PAYLOAD_BYTES = 125;
  const PINGS_PER_WRITE = 500;
  /** No drain for this long: the server has stopped reading us. Well under framecast's close timeout, 5 s. */
  const STALLED_MS = 2_000;
  const started = Date.now();
  const floodUntil = started + spec.windowMs / 2;
  const { watches, sockets } = await openMany(target, '/ws', spec.connections);
  const ping = encodeFrame(Opcode.Ping, Buffer.alloc(PAYLOAD_BYTES, 0x70), { mask: true });
  const batch = Buffer.concat(Array.from({ length: PINGS_PER_WRITE }, () => ping));
  let sent = 0;
  let stalled = 0;
  await Promise.all(
    sockets.map(async (socket) => {
      if (socket === undefined) return;
      socket.pause();
      for (let pings = 0; pings < spec.count && Date.now() < floodUntil; pings += PINGS_PER_WRITE) {
        if (!(await writeWithBackpressure(socket, batch, Math.min(floodUntil, Date.now() + STALLED_MS)))) {
          if (Date.now() < floodUntil) stalled++;
          break;
        }
        sent += PINGS_PER_WRITE;
      }
      // All written, and not stalled: the server may still be reading them; go on not reading.
      if (Date.now() < floodUntil && !socket.writableNeedDrain) await until(() => false, floodUntil);
      socket.resume();
    }),
  );
  await until(() => watches.every((watch) => watch.answered), started + spec.windowMs);
  closeAll(watches, sockets);
  return outcomeOf(watches, `${format(sent)} pings written; ${stalled} connections found their pings no longer read and read early, the rest after ${(spec.windowMs / 2000).toFixed(1)} s`);
};

/** A binary frame header declaring 2^62 bytes (most significant bit clear), then a little of the payload. */
const hugeLength: Attack = async (spec, target) => {
  const deadline = Date.now() + spec.windowMs;
  const header = Buffer.from([0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
  const frame = Buffer.concat([header, Buffer.alloc(1024, 0x61)]);
  const { watches, sockets } = await openMany(target, '/ws', spec.connections);
  for (const socket of sockets) socket?.write(frame);
  await until(() => watches.every((watch) => watch.answered), deadline);
  closeAll(watches, sockets);
  return outcomeOf(watches, `${spec.connections} connections`);
};

const garbage: Attack = async (spec, target) => {
  const deadline = Date.now() + spec.windowMs;
  const { watches, sockets } = await openMany(target, '/ws', spec.connections);
  sockets.forEach((socket, i) => socket?.write(pseudoRandomBytes(spec.count, i + 1)));
  await until(() => watches.every((watch) => watch.answered), deadline);
  closeAll(watches, sockets);
  return outcomeOf(watches, `${spec.connections} connections, ${format(spec.count)} bytes each`);
};

/**
 * A permessage-deflate message (RFC 7692 7.2.1: DEFLATE data, the final empty block's tail
 * 00 00 ff ff removed) that inflates to `spec.count` bytes of zeros, far past any limit.
 */
const decompressionBomb: Attack = async (spec, target) => {
  const DEFLATE_TAIL_BYTES = 4;
  const deadline = Date.now() + spec.windowMs;
  const deflated = deflateRawSync(Buffer.alloc(spec.count), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  const bomb = encodeFrame(Opcode.Binary, deflated.subarray(0, deflated.length - DEFLATE_TAIL_BYTES), { mask: true, rsv1: true });
  const { watches, sockets } = await openMany(target, '/ws', spec.connections, true);
  for (const socket of sockets) socket?.write(bomb);
  await until(() => watches.every((watch) => watch.answered), deadline);
  closeAll(watches, sockets);
  return outcomeOf(watches, `${spec.connections} connections, ${format(deflated.length)} bytes each inflating to ${format(spec.count)}`);
};

/** Workers open connections one after another; every other one is closed properly (Close 1000), the rest aborted after the handshake. */
const churn: Attack = async (spec, target) => {
  const CLOSE_WAIT_MS = 2_000;
  const MAX_PER_WORKER = 50_000;
  const started = Date.now();
  const deadline = started + spec.windowMs;
  const watches: Watch[] = [];
  const verdicts = new Map<Watch, string>();
  const closeFrame = encodeCloseFrame(CloseCode.Normal, '', { mask: true });
  const worker = async (): Promise<void> => {
    for (let i = 0; i < MAX_PER_WORKER && Date.now() < deadline; i++) {
      const watch = new Watch();
      watches.push(watch);
      const socket = await openWatched(target.host, target.port, '/ws', watch);
      if (socket === undefined) continue;
      if (i % 2 === 1) {
        watch.close(socket);
        verdicts.set(watch, 'aborted');
        continue;
      }
      socket.write(closeFrame);
      await until(() => watch.tcpClosed, Date.now() + CLOSE_WAIT_MS);
      if (watch.closeCode === CloseCode.Normal && watch.tcpClosed) verdicts.set(watch, 'closed 1000');
      watch.close(socket);
    }
  };
  await Promise.all(Array.from({ length: spec.connections }, worker));
  const seconds = (Date.now() - started) / 1000;
  return outcomeOf(watches, `${format(watches.length)} handshakes in ${seconds.toFixed(1)} s (${format(Math.round(watches.length / seconds))}/s), ${spec.connections} at a time`, (watch) => verdicts.get(watch) ?? watch.verdict());
};

/** A valid upgrade request with one more header of `spec.count` bytes: past Node's 16 KiB of headers. */
const oversizedHeaders: Attack = async (spec, target) => {
  const deadline = Date.now() + spec.windowMs;
  const request = buildClientRequest({
    host: `${target.host}:${target.port}`,
    path: '/ws',
    key: generateClientKey(),
    headers: new Map([['X-Padding', 'a'.repeat(spec.count)]]),
  });
  const watches = Array.from({ length: spec.connections }, () => new Watch());
  const sockets = await Promise.all(watches.map((watch) => openHttp(target.host, target.port, watch)));
  for (const socket of sockets) socket?.write(request);
  await until(() => watches.every((watch) => watch.answered), deadline);
  closeAll(watches, sockets);
  return outcomeOf(watches, `${spec.connections} requests of ${format(request.length)} bytes`);
};

export const ATTACKS: Readonly<Record<AttackName, Attack>> = {
  baseline,
  slowloris,
  silence,
  'slow-consumers': slowConsumers,
  'fragment-flood': fragmentFlood,
  'ping-flood': pingFlood,
  'huge-length': hugeLength,
  garbage,
  'decompression-bomb': decompressionBomb,
  churn,
  'oversized-headers': oversizedHeaders,
};
