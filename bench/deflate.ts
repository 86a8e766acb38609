/**
 * What permessage-deflate (RFC 7692) costs and saves, for each server setting:
 *
 * - `off`: no compression;
 * - `default`: framecast's default, no context takeover either way (RFC 7692 7.1.1);
 * - `takeover`: context takeover both ways (each side keeps its LZ77 window between messages).
 *
 * Three measurements, each server a child process (bench/deflate-server.ts) on 127.0.0.1:
 *
 * 1. Traffic: MEMBERS `ws` clients (permessage-deflate offered, as browsers do) in one chat
 *    channel; MESSAGES realistic JSON messages of 0.3-4 KiB, three in four by POST /push and one
 *    in four sent by a member over its WebSocket (the server inflates it, then broadcasts it).
 *    Measured: bytes the clients read from their sockets (sum of bytesRead deltas) and the
 *    server's CPU time (process.cpuUsage in the child, user + system). ROUNDS rounds, the
 *    settings alternating so that a busy moment on the machine does not fall on one of them.
 * 2. Memory: MEMORY_CONNECTIONS connections to /ws, each echoing a few messages, then more
 *    until each has sent more than a 32 KiB window; the server's RSS and ArrayBuffer memory
 *    after a full GC, per connection.
 * 3. Event-loop time of one synchronous compress and inflate of a 64 KiB and a 1 MiB message
 *    (MessageDeflater / MessageInflater in this process).
 *
 * Bounded: fixed counts, a hard deadline, loopback only; it kills only the children it
 * started, by their ChildProcess handles. Run with `npm run bench:deflate`.
 * `--quick` runs tiny counts (a smoke run).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { MessageDeflater, MessageInflater } from '../src/protocol/message-compression.js';
import type { ChildMessage, ParentMessage } from './deflate-server.js';
import { seededRandom } from './workloads/payloads.js';

const HOST = '127.0.0.1';
const QUICK = process.argv.includes('--quick');

const SETTINGS = ['off', 'default', 'takeover'] as const;
type Setting = (typeof SETTINGS)[number];

/** Chat members in the traffic test. */
const MEMBERS = QUICK ? 10 : 200;
/** Messages per round in the traffic test. */
const MESSAGES = QUICK ? 20 : 200;
/** One message in this many is sent by a member over its WebSocket; the rest by POST /push. */
const CHAT_EVERY = 4;
const ROUNDS = QUICK ? 1 : 3;
/** Connections held open in the memory test. */
const MEMORY_CONNECTIONS = QUICK ? 50 : 1000;
/** Messages each connection echoes before the first memory reading. */
const FEW_MESSAGES = 3;
/** Bytes each connection sends before the second memory reading: more than the 32 KiB window. */
const WINDOW_FILL_BYTES = 40 * 1024;
/** Connections opened (and exchanging) at once. */
const OPEN_BATCH = 100;
/** Message sizes of the traffic (uniform between these). */
const MIN_MESSAGE_BYTES = 300;
const MAX_MESSAGE_BYTES = 4096;
/** Sizes for the event-loop cost of one message. */
const LARGE_SIZES = [64 * 1024, 1024 * 1024];
const LARGE_RUNS = QUICK ? 3 : 15;
const WINDOW_BITS = 15;
/** The whole run stops (children killed) after this long. */
const DEADLINE_MS = 10 * 60 * 1000;
const KIB = 1024;
const MIB = 1024 * 1024;

const children = new Set<ChildProcess>();
const deadline = setTimeout(() => {
  console.error(`bench/deflate: deadline of ${DEADLINE_MS / 1000} s passed; stopping`);
  for (const child of children) child.kill('SIGKILL');
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

// --- Realistic messages -----------------------------------------------------------------------

const WORDS = (
  'the deploy of build release staging production is done failed queued retry in minutes please check ' +
  'logs dashboard alert latency p99 error rate customer order shipped invoice paid refund ticket opened ' +
  'closed assigned review merged branch main hotfix rollback database migration cache warm cold region ' +
  'eu-west us-east meeting at noon lunch coffee thanks ok sounds good will do tomorrow today yesterday'
).split(' ');
const NICKS = Array.from({ length: 40 }, (_, i) => `user-${(i * 7919) % 1000}`);
const PUSH_TYPES = ['order.updated', 'deploy.finished', 'alert.fired', 'ticket.changed'];

/** One JSON message of about `target` bytes, shaped like chat or push traffic. */
function makeMessage(next: () => number, seq: number, target: number): string {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)];
  const sentence = (words: number): string => Array.from({ length: words }, () => pick(WORDS)).join(' ');
  const at = new Date(Date.UTC(2026, 10, 25, 18, 0, 0) + seq * 1370).toISOString();
  if (next() < 0.5) {
    // A chat message, as public/chat.js sends it, with the text making up the size.
    const head = { type: 'chat', id: `m-${seq}-${Math.floor(next() * 0xffffff).toString(16)}`, nick: pick(NICKS), sentAt: at };
    let text = '';
    while (JSON.stringify({ ...head, text }).length < target) text += (text === '' ? '' : ' ') + sentence(6);
    return JSON.stringify({ ...head, text });
  }
  // A push: an event with a list of records.
  const event = { type: pick(PUSH_TYPES), id: `evt_${seq}`, at, source: pick(['billing', 'ci', 'monitor', 'support']), records: [] as object[] };
  let size = JSON.stringify(event).length;
  while (size < target) {
    const record = {
      id: Math.floor(next() * 1e9),
      name: sentence(3),
      status: pick(['ok', 'pending', 'failed', 'shipped']),
      amount: Math.round(next() * 100_000) / 100,
      owner: pick(NICKS),
      updatedAt: at,
    };
    event.records.push(record);
    size += JSON.stringify(record).length + 1;
  }
  return JSON.stringify(event);
}

function makeMessages(count: number, seed: number): string[] {
  const next = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => makeMessage(next, i, MIN_MESSAGE_BYTES + Math.floor(next() * (MAX_MESSAGE_BYTES - MIN_MESSAGE_BYTES))));
}

/** About `size` bytes of the same traffic as one message (a batch of events, as JSON). */
function largePayload(size: number): Buffer {
  const next = seededRandom(size);
  const parts: string[] = [];
  let length = 2;
  for (let seq = 0; length < size; seq++) {
    const message = makeMessage(next, seq, MIN_MESSAGE_BYTES + Math.floor(next() * (MAX_MESSAGE_BYTES - MIN_MESSAGE_BYTES)));
    parts.push(message);
    length += message.length + 1;
  }
  return Buffer.from(`[${parts.join(',')}]`).subarray(0, size);
}

// --- The server child ---------------------------------------------------------------------------

interface Server {
  readonly setting: Setting;
  readonly port: number;
  usage(gc: boolean): Promise<Extract<ChildMessage, { type: 'usage' }>>;
  stop(): Promise<void>;
}

async function startServer(setting: Setting): Promise<Server> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'deflate-server.js');
  const child = spawn(process.execPath, ['--expose-gc', script, setting], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`deflate-server ${setting} exited with ${code}`)));
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'listening') resolve(message.port);
    });
  });
  const ask = (message: ParentMessage): void => {
    child.send(message);
  };
  return {
    setting,
    port,
    usage: (gc) =>
      new Promise((resolve) => {
        const onMessage = (message: ChildMessage): void => {
          if (message.type !== 'usage') return;
          child.off('message', onMessage);
          resolve(message);
        };
        child.on('message', onMessage);
        ask({ type: 'usage', gc });
      }),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        ask({ type: 'stop' });
      }),
  };
}

// --- Clients ---------------------------------------------------------------------------------------

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const client = new WebSocket(url, { perMessageDeflate: true });
    client.once('open', () => resolve(client));
    client.once('error', reject);
  });
}

async function openMany(url: string, count: number): Promise<WebSocket[]> {
  const clients: WebSocket[] = [];
  for (let i = 0; i < count; i += OPEN_BATCH) {
    clients.push(...(await Promise.all(Array.from({ length: Math.min(OPEN_BATCH, count - i) }, () => open(url)))));
  }
  return clients;
}

function bytesRead(client: WebSocket): number {
  return (client as unknown as { _socket: { bytesRead: number } })._socket.bytesRead;
}

/** Resolves once every client has received `count` more messages. */
function received(clients: readonly WebSocket[], count: number): Promise<void> {
  return Promise.all(
    clients.map(
      (client) =>
        new Promise<void>((resolve) => {
          let seen = 0;
          const onMessage = (): void => {
            if (++seen < count) return;
            client.off('message', onMessage);
            resolve();
          };
          client.on('message', onMessage);
        }),
    ),
  ).then(() => undefined);
}

async function closeAll(clients: readonly WebSocket[]): Promise<void> {
  await Promise.all(
    clients.map(
      (client) =>
        new Promise<void>((resolve) => {
          if (client.readyState === WebSocket.CLOSED) return resolve();
          client.once('close', () => resolve());
          client.close();
        }),
    ),
  );
}

// --- 1. Traffic -------------------------------------------------------------------------------------

interface TrafficRound {
  wireBytes: number;
  payloadBytes: number;
  cpuMs: number;
}

async function trafficRound(server: Server, members: readonly WebSocket[], messages: readonly string[]): Promise<TrafficRound> {
  const channel = 'bench';
  const before = members.map(bytesRead);
  const arrived = received(members, messages.length);
  const start = await server.usage(false);
  for (let i = 0; i < messages.length; i++) {
    if (i % CHAT_EVERY === CHAT_EVERY - 1) {
      members[i % members.length].send(messages[i]);
    } else {
      const response = await fetch(`http://${HOST}:${server.port}/push?channel=${channel}`, { method: 'POST', body: messages[i] });
      if (response.status !== 202) throw new Error(`push answered ${response.status}`);
      await response.arrayBuffer();
    }
  }
  await arrived;
  const end = await server.usage(false);
  const wireBytes = members.reduce((sum, client, i) => sum + bytesRead(client) - before[i], 0);
  const payloadBytes = messages.reduce((sum, message) => sum + Buffer.byteLength(message), 0) * members.length;
  return { wireBytes, payloadBytes, cpuMs: (end.cpuMicros - start.cpuMicros) / 1000 };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

async function traffic(): Promise<Map<Setting, TrafficRound[]>> {
  const messages = makeMessages(MESSAGES, 7692);
  const servers = new Map<Setting, { server: Server; members: WebSocket[] }>();
  for (const setting of SETTINGS) {
    const server = await startServer(setting);
    const members = await openMany(`ws://${HOST}:${server.port}/chat?channel=bench`, MEMBERS);
    const expected = setting === 'off' ? '' : 'permessage-deflate';
    if (members.some((client) => client.extensions !== expected)) throw new Error(`${setting}: extensions not as expected`);
    servers.set(setting, { server, members });
  }
  const results = new Map<Setting, TrafficRound[]>(SETTINGS.map((setting) => [setting, []]));
  // One unmeasured round each: JIT warm-up.
  for (const setting of SETTINGS) {
    const { server, members } = servers.get(setting)!;
    await trafficRound(server, members, messages.slice(0, Math.max(CHAT_EVERY, messages.length >> 2)));
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const setting of SETTINGS) {
      const { server, members } = servers.get(setting)!;
      results.get(setting)!.push(await trafficRound(server, members, messages));
    }
  }
  for (const { server, members } of servers.values()) {
    await closeAll(members);
    await server.stop();
  }
  return results;
}

// --- 2. Memory per connection --------------------------------------------------------------------------

interface MemoryResult {
  fewRss: number;
  fewBuffers: number;
  fullRss: number;
  fullBuffers: number;
  fewHeap: number;
  fullHeap: number;
}

/** Each client sends `messages` and waits for their echoes; OPEN_BATCH clients at a time. */
async function exchange(clients: readonly WebSocket[], messagesOf: (index: number) => readonly string[]): Promise<void> {
  for (let i = 0; i < clients.length; i += OPEN_BATCH) {
    await Promise.all(
      clients.slice(i, i + OPEN_BATCH).map(async (client, j) => {
        for (const message of messagesOf(i + j)) {
          const echoed = received([client], 1);
          client.send(message);
          await echoed;
        }
      }),
    );
  }
}

async function memory(setting: Setting): Promise<MemoryResult> {
  const server = await startServer(setting);
  const pool = makeMessages(64, 1007);
  // Different messages for different connections, the same sizes for every setting.
  const few = (index: number): string[] => Array.from({ length: FEW_MESSAGES }, (_, k) => pool[(index * 5 + k) % pool.length]);
  const fill = (index: number): string[] => {
    const list: string[] = [];
    let bytes = 0;
    for (let k = 0; bytes < WINDOW_FILL_BYTES; k++) {
      const message = pool[(index * 3 + k) % pool.length];
      list.push(message);
      bytes += message.length;
    }
    return list;
  };
  const base = await server.usage(true);
  const clients = await openMany(`ws://${HOST}:${server.port}/ws`, MEMORY_CONNECTIONS);
  await exchange(clients, few);
  const afterFew = await server.usage(true);
  await exchange(clients, fill);
  const afterFill = await server.usage(true);
  if (afterFill.connections !== MEMORY_CONNECTIONS) throw new Error(`${setting}: ${afterFill.connections} connections open`);
  await closeAll(clients);
  await server.stop();
  return {
    fewRss: (afterFew.rss - base.rss) / MEMORY_CONNECTIONS,
    fewBuffers: (afterFew.arrayBuffers - base.arrayBuffers) / MEMORY_CONNECTIONS,
    fullRss: (afterFill.rss - base.rss) / MEMORY_CONNECTIONS,
    fullBuffers: (afterFill.arrayBuffers - base.arrayBuffers) / MEMORY_CONNECTIONS,
    fewHeap: (afterFew.heapUsed - base.heapUsed) / MEMORY_CONNECTIONS,
    fullHeap: (afterFill.heapUsed - base.heapUsed) / MEMORY_CONNECTIONS,
  };
}

// --- 3. One large message, synchronously ------------------------------------------------------------

interface LargeResult {
  size: number;
  compressedSize: number;
  /** Wall time: how long the event loop is blocked (longer when the machine is busy). */
  compressMs: number;
  inflateMs: number;
  /** CPU time of this process meanwhile (user + system). */
  compressCpuMs: number;
  inflateCpuMs: number;
}

const cpuMs = (usage: NodeJS.CpuUsage): number => (usage.user + usage.system) / 1000;

function large(size: number): LargeResult {
  const payload = largePayload(size);
  const deflater = new MessageDeflater(WINDOW_BITS, true);
  const inflater = new MessageInflater(WINDOW_BITS, true);
  const compressed = deflater.compress(payload);
  const check = inflater.decompress(compressed, size);
  if (!Buffer.isBuffer(check) || !check.equals(payload)) throw new Error('round trip failed');
  const compressTimes: number[] = [];
  const inflateTimes: number[] = [];
  const compressCpu: number[] = [];
  const inflateCpu: number[] = [];
  for (let run = 0; run < LARGE_RUNS; run++) {
    let cpu = process.cpuUsage();
    let start = performance.now();
    deflater.compress(payload);
    compressTimes.push(performance.now() - start);
    compressCpu.push(cpuMs(process.cpuUsage(cpu)));
    cpu = process.cpuUsage();
    start = performance.now();
    inflater.decompress(compressed, size);
    inflateTimes.push(performance.now() - start);
    inflateCpu.push(cpuMs(process.cpuUsage(cpu)));
  }
  return {
    size,
    compressedSize: compressed.length,
    compressMs: median(compressTimes),
    inflateMs: median(inflateTimes),
    compressCpuMs: median(compressCpu),
    inflateCpuMs: median(inflateCpu),
  };
}

// --- 4. One typical message: the price of the context-takeover emulation --------------------------

/** Compresses of one typical message per measurement. */
const SMALL_RUNS = QUICK ? 50 : 2000;

/**
 * CPU per compress of a typical message (the traffic's messages in turn): each on its own (no
 * context takeover), and with the previous 2^15 bytes of traffic handed to zlib as the preset
 * dictionary (framecast's context takeover). The 64 messages are about 140 KiB together, more
 * than the window, so no message is still in the window when it comes round again.
 */
function smallMessageCost(): { averageBytes: number; aloneMicros: number; aloneRatio: number; withHistoryMicros: number; withHistoryRatio: number } {
  const pool = makeMessages(64, 42).map((message) => Buffer.from(message));
  const alone = new MessageDeflater(WINDOW_BITS, true);
  const withHistory = new MessageDeflater(WINDOW_BITS, false);
  for (let i = 0; withHistory.retainedBytes < 1 << WINDOW_BITS; i++) withHistory.compress(pool[i % pool.length]);
  const time = (deflater: MessageDeflater): { micros: number; ratio: number } => {
    let inBytes = 0;
    let outBytes = 0;
    const cpu = process.cpuUsage();
    for (let run = 0; run < SMALL_RUNS; run++) {
      const message = pool[run % pool.length];
      inBytes += message.length;
      outBytes += deflater.compress(message).length;
    }
    return { micros: (cpuMs(process.cpuUsage(cpu)) * 1000) / SMALL_RUNS, ratio: outBytes / inBytes };
  };
  time(alone); // warm-up
  const a = time(alone);
  const b = time(withHistory);
  const averageBytes = pool.reduce((sum, message) => sum + message.length, 0) / pool.length;
  return { averageBytes, aloneMicros: a.micros, aloneRatio: a.ratio, withHistoryMicros: b.micros, withHistoryRatio: b.ratio };
}

// --- Report -------------------------------------------------------------------------------------------------

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line !== undefined) return line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown';
}

const fmtBytes = (bytes: number): string => (Math.abs(bytes) >= MIB ? `${(bytes / MIB).toFixed(1)} MiB` : `${(bytes / KIB).toFixed(1)} KiB`);

async function main(): Promise<void> {
  const started = Date.now();
  console.log(`# permessage-deflate benchmark${QUICK ? ' (quick)' : ''}`);
  console.log(`${new Date().toISOString()}, Node ${process.version}, ${cpuModel()}, ${cpus().length} CPUs, load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log();

  const rounds = await traffic();
  console.log(`## Traffic: ${MEMBERS} members of one channel, ${MESSAGES} messages of ${MIN_MESSAGE_BYTES}-${MAX_MESSAGE_BYTES} bytes (1 in ${CHAT_EVERY} from a member, the rest by POST /push), median of ${ROUNDS} rounds`);
  console.log();
  console.log('| setting | payload delivered | bytes on the wire | wire / payload | server CPU | CPU vs off | CPU per delivered message |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  const offCpu = median(rounds.get('off')!.map((r) => r.cpuMs));
  for (const setting of SETTINGS) {
    const list = rounds.get(setting)!;
    const wire = median(list.map((r) => r.wireBytes));
    const payload = list[0].payloadBytes;
    const cpu = median(list.map((r) => r.cpuMs));
    const perMessageMicros = (cpu * 1000) / (MESSAGES * MEMBERS);
    console.log(
      `| ${setting} | ${fmtBytes(payload)} | ${fmtBytes(wire)} | ${((wire / payload) * 100).toFixed(1)}% | ${cpu.toFixed(0)} ms | ${(cpu / offCpu).toFixed(2)}x | ${perMessageMicros.toFixed(1)} µs |`,
    );
  }
  console.log();
  console.log(`CPU of each round (ms): ${SETTINGS.map((s) => `${s} ${rounds.get(s)!.map((r) => r.cpuMs.toFixed(0)).join('/')}`).join(', ')}`);
  console.log();

  console.log(`## Server memory per connection: ${MEMORY_CONNECTIONS} connections to /ws, after a full GC`);
  console.log();
  console.log(`| setting | after ${FEW_MESSAGES} messages echoed: RSS | JS heap | Buffers | after ${WINDOW_FILL_BYTES / KIB} KiB more echoed: RSS | JS heap | Buffers |`);
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const setting of SETTINGS) {
    const result = await memory(setting);
    console.log(
      `| ${setting} | ${fmtBytes(result.fewRss)} | ${fmtBytes(result.fewHeap)} | ${fmtBytes(result.fewBuffers)} | ${fmtBytes(result.fullRss)} | ${fmtBytes(result.fullHeap)} | ${fmtBytes(result.fullBuffers)} |`,
    );
  }
  console.log();

  console.log(`## One large message, synchronously (window 2^${WINDOW_BITS}, median of ${LARGE_RUNS})`);
  console.log();
  console.log('| message | compressed | compress: wall (CPU) | inflate: wall (CPU) |');
  console.log('|---:|---:|---:|---:|');
  for (const size of LARGE_SIZES) {
    const result = large(size);
    console.log(`| ${fmtBytes(result.size)} | ${fmtBytes(result.compressedSize)} (${((result.compressedSize / size) * 100).toFixed(1)}%) | ${result.compressMs.toFixed(2)} ms (${result.compressCpuMs.toFixed(2)} ms) | ${result.inflateMs.toFixed(2)} ms (${result.inflateCpuMs.toFixed(2)} ms) |`);
  }
  console.log();

  const small = smallMessageCost();
  console.log(`## Typical messages (${small.averageBytes.toFixed(0)} bytes on average), ${SMALL_RUNS} compresses: CPU per message`);
  console.log();
  console.log('| how | CPU per message | compressed / original |');
  console.log('|---|---:|---:|');
  console.log(`| on its own (no context takeover) | ${small.aloneMicros.toFixed(1)} µs | ${(small.aloneRatio * 100).toFixed(1)}% |`);
  console.log(`| after 32 KiB of history as the preset dictionary (context takeover) | ${small.withHistoryMicros.toFixed(1)} µs | ${(small.withHistoryRatio * 100).toFixed(1)}% |`);
  console.log();
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

main().then(
  () => {
    clearTimeout(deadline);
    process.exit(0);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
