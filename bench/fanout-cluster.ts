/**
 * Fan-out across a small cluster: the same chat fan-out measured three ways in one run, so the
 * figures compare like with like on this machine:
 *
 *   1. one node, in-process hub (the default),
 *   2. one node, Redis hub (every message makes the round trip through Redis),
 *   3. two nodes, Redis hub, the subscribers split evenly between them,
 *
 * each twice: with raw /chat subscribers, and with framecast.v1 subscribers (/pubsub,
 * docs/pubsub.md) of the same channel, who get each message as a numbered `pub` push (with
 * Redis, offsets and history kept in Redis: one script per publication).
 *
 * Each run: `subscribers` subscribers of one channel, and a publisher (a raw chat member, on the
 * first node) sending numbered messages, with at most `window` of them not yet delivered to
 * every subscriber. Reported: deliveries per second (messages x subscribers), messages per
 * second, delivery latency (p50/p99, from the publisher's send to a subscriber's receipt), and
 * lost / reordered / malformed deliveries, which must all be 0 (for framecast.v1 subscribers the
 * push offsets must also be consecutive).
 *
 * Usage (needs redis-server on PATH; starts and stops its own on a free port):
 *   npm run bench:cluster [-- --subscribers 400 --seconds 3 --window 128 --rounds 3]
 *
 * The scenarios run in interleaved rounds and the table shows each one's median round, so that
 * a machine shared with other work skews them alike. CPU columns make the figures comparable
 * when the machine is busy: deliveries per CPU second of the framecast processes, and the share
 * of a core that redis-server and the clients (this process) used.
 *
 * Every server process is framecast's CLI (dist/src/server/cli.js) on 127.0.0.1, started and
 * stopped by PID. The clients are built on framecast's own protocol core (client role).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import {
  buildClientRequest,
  encodeTextFrame,
  type FrameHandler,
  FrameParser,
  generateClientKey,
  parseResponseHead,
  verifyServerResponse,
} from '../src/protocol/index.js';

const HOST = '127.0.0.1';
/** dist/ (this file is dist/bench/fanout-cluster.js once built). */
const BUILD_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const CLI = join(BUILD_ROOT, 'src/server/cli.js');
const CHANNEL = 'bench-fanout';

interface BenchOptions {
  subscribers: number;
  seconds: number;
  window: number;
  warmupSeconds: number;
  rounds: number;
}
const DEFAULTS: Readonly<BenchOptions> = { subscribers: 400, seconds: 3, window: 128, warmupSeconds: 1, rounds: 3 };
/** After publishing stops, how long the last messages may take to arrive (ms). */
const DRAIN_MS = 10_000;
const READY_TIMEOUT_MS = 15_000;
const POLL_MS = 20;
const STOP_TIMEOUT_MS = 5_000;
/** Messages are numbered in a fixed-width decimal prefix: `SSSSSSSSSS TTTTTTTTTTTTTTT` (sequence, send time in µs). */
const SEQ_DIGITS = 10;
const TIME_DIGITS = 15;
const PAYLOAD_BYTES = 32;
const MAX_MESSAGES = 1 << 22;
/** Latency histogram: 0.1 ms buckets up to 10 s. */
const BUCKETS_PER_MS = 10;
const LATENCY_BUCKETS = 10_000 * BUCKETS_PER_MS;
const CONNECT_BATCH = 50;
/** Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ). */
const CLOCK_TICKS_PER_SECOND = 100;
/** Fields 14 and 15 of /proc/PID/stat (utime, stime), counted after the ')' that ends field 2. */
const UTIME_FIELD_AFTER_COMM = 11;

type SubscriberKind = 'raw' | 'v1';

interface Scenario {
  readonly label: string;
  readonly nodes: number;
  readonly redis: boolean;
  /** Raw /chat members, or framecast.v1 subscribers at /pubsub. */
  readonly subscribers: SubscriberKind;
}
const TOPOLOGIES = [
  { label: '1 node, in-process hub', nodes: 1, redis: false },
  { label: '1 node, Redis hub', nodes: 1, redis: true },
  { label: '2 nodes, Redis hub (subscribers split)', nodes: 2, redis: true },
] as const;
const SCENARIOS: readonly Scenario[] = TOPOLOGIES.flatMap((topology) => [
  { ...topology, label: `${topology.label}, raw /chat`, subscribers: 'raw' as const },
  { ...topology, label: `${topology.label}, framecast.v1`, subscribers: 'v1' as const },
]);
const SUBPROTOCOL = 'framecast.v1';
/** A framecast.v1 `pub` push of the channel starts with this, then the offset's digits, then TEXT_KEY and the text. */
const PUB_PREFIX_BYTES = Buffer.byteLength(`{"pub":{"channel":"${CHANNEL}","offset":`);
const TEXT_KEY_BYTES = Buffer.byteLength(',"text":"');
/** After the text: `"}}`. */
const PUB_SUFFIX_BYTES = 3;
const COMMA = 0x2c;
/** A push's kind starts at byte 2 (`{"pub"`, `{"join"`, ...). */
const PUSH_KIND_AT = 2;
const PUB_INITIAL = 0x70; // 'p'

interface Result {
  readonly scenario: Scenario;
  readonly messagesPerSecond: number;
  readonly deliveriesPerSecond: number;
  /** Deliveries per CPU second used by the framecast node processes (comparable however busy the machine is). */
  readonly deliveriesPerNodeCpuSecond: number;
  /** CPU seconds per wall second used by redis-server (0 without Redis). */
  readonly redisCpu: number;
  /** CPU seconds per wall second used by this process (the clients): near 1 means the clients were the limit. */
  readonly loadgenCpu: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly published: number;
  readonly lost: number;
  readonly reordered: number;
  readonly malformed: number;
  /** History reads the nodes made to fill gaps (Redis hub): 0 unless a node missed publications on pub/sub. */
  readonly gapReads: number;
}

// ---------------------------------------------------------------------------------------------
// Processes: redis-server and framecast nodes, each stopped by its PID.

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return join(dir, command);
    } catch {
      // not here
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** CPU seconds (user + system) a process has used so far, from /proc; 0 where there is no /proc. */
function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[UTIME_FIELD_AFTER_COMM]) + Number(fields[UTIME_FIELD_AFTER_COMM + 1])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

/** Stops a child by its PID and waits for it to exit (SIGKILL if it lingers). */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  }, STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

async function startNode(port: number, redisUrl: string | undefined): Promise<ChildProcess> {
  const args = [CLI, '--port', String(port), '--host', HOST, '--log-level', 'error', '--heartbeat', '0', '--max-connections', '100000'];
  if (redisUrl !== undefined) args.push('--redis', redisUrl);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitFor(`framecast on port ${port}`, async () => {
    const health = (await (await fetch(`http://${HOST}:${port}/healthz`)).json()) as { status?: string };
    return health.status === 'ok';
  });
  return child;
}

// ---------------------------------------------------------------------------------------------
// Clients, on framecast's protocol core.

/** Opens `ws://HOST:port/path` and hands every server frame to `handler` (RFC 6455 4.1 handshake checked). */
function openWebSocket(port: number, path: string, handler: FrameHandler, protocols?: readonly string[]): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const key = generateClientKey();
    const socket = connect({ host: HOST, port, noDelay: true });
    let head = Buffer.alloc(0);
    let parser: FrameParser | undefined;
    socket.on('connect', () => socket.write(buildClientRequest({ host: `${HOST}:${port}`, path, key, protocols })));
    socket.on('error', (error) => (parser === undefined ? reject(error) : undefined));
    socket.on('data', (chunk: Buffer) => {
      if (parser !== undefined) return parser.push(chunk);
      head = Buffer.concat([head, chunk]);
      const response = parseResponseHead(head);
      if (response === undefined) return;
      const verdict = response instanceof Error ? response : verifyServerResponse(response, key, { protocols });
      if (verdict instanceof Error || response instanceof Error) {
        socket.destroy();
        return reject(verdict instanceof Error ? verdict : new Error('bad response'));
      }
      parser = new FrameParser(handler, { role: 'client', maxMessageSize: 1 << 20 });
      resolve(socket);
      if (response.headLength < head.length) parser.push(head.subarray(response.headLength));
    });
  });
}

function readDecimal(payload: Buffer, offset: number, digits: number): number {
  let value = 0;
  for (let i = offset; i < offset + digits; i++) {
    const digit = payload[i] - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** Shared counters of one run. */
class RunState {
  published = 0;
  completed = 0;
  deliveries = 0;
  measuring = false;
  readonly perMessage = new Uint32Array(MAX_MESSAGES);
  readonly latency = new Uint32Array(LATENCY_BUCKETS);
  constructor(readonly subscribers: number, readonly onComplete: () => void) {}

  quantileMs(q: number): number {
    let total = 0;
    for (const count of this.latency) total += count;
    let seen = 0;
    for (let bucket = 0; bucket < this.latency.length; bucket++) {
      seen += this.latency[bucket];
      if (seen >= total * q) return bucket / BUCKETS_PER_MS;
    }
    return Number.NaN;
  }
}

/** One subscriber: checks that messages come once each and in order. */
class Subscriber implements FrameHandler {
  socket: Socket | undefined;
  received = 0;
  reordered = 0;
  malformed = 0;
  private nextSeq = 0;
  /** framecast.v1: whether the `subscribed` reply came, and the last push offset. */
  subscribed = false;
  private lastOffset = -1;
  constructor(
    private readonly state: RunState,
    readonly kind: SubscriberKind,
    private readonly onSubscribed: () => void,
  ) {}

  onFrame(_header: unknown, payload: Buffer): void {
    if (this.kind === 'raw') return this.account(payload, 0, payload.length === PAYLOAD_BYTES);
    if (!this.subscribed) {
      // The first frame is the reply to {"id":1,"subscribe":...}: it carries the latest offset.
      const reply = JSON.parse(payload.toString()) as { subscribed?: { offset: number } };
      if (reply.subscribed === undefined) throw new Error(`subscribe failed: ${payload.toString()}`);
      this.subscribed = true;
      this.lastOffset = reply.subscribed.offset;
      this.onSubscribed();
      return;
    }
    if (payload[PUSH_KIND_AT] !== PUB_INITIAL) {
      // Other subscribers joining (or leaving) as the run is set up; anything else is not expected.
      const kind = payload.toString('latin1', 0, 8);
      if (!kind.startsWith('{"join"') && !kind.startsWith('{"leave"')) this.malformed++;
      return;
    }
    // {"pub":{"channel":"...","offset":N,"text":"<the 32-byte message>"}}: read N and the text in
    // place (the client's CPU is part of the run; a JSON.parse per push would be most of it).
    let end = PUB_PREFIX_BYTES;
    while (end < payload.length && payload[end] !== COMMA) end++;
    const offset = readDecimal(payload, PUB_PREFIX_BYTES, end - PUB_PREFIX_BYTES);
    if (offset !== this.lastOffset + 1) this.reordered++;
    this.lastOffset = offset;
    const start = end + TEXT_KEY_BYTES;
    this.account(payload, start, offset > 0 && payload.length === start + PAYLOAD_BYTES + PUB_SUFFIX_BYTES);
  }

  /** One message whose `PAYLOAD_BYTES` start at `start`. */
  private account(payload: Buffer, start: number, wellFormed: boolean): void {
    const state = this.state;
    const seq = readDecimal(payload, start, SEQ_DIGITS);
    const micros = readDecimal(payload, start + SEQ_DIGITS + 1, TIME_DIGITS);
    if (!wellFormed || seq < 0 || micros < 0 || seq >= state.published) {
      this.malformed++;
      return;
    }
    this.received++;
    if (seq < this.nextSeq) this.reordered++;
    else this.nextSeq = seq + 1;
    if (state.measuring) {
      state.deliveries++;
      const bucket = Math.min(LATENCY_BUCKETS - 1, Math.max(0, Math.round((performance.now() - micros / 1000) * BUCKETS_PER_MS)));
      state.latency[bucket]++;
    }
    if (++state.perMessage[seq] === state.subscribers) {
      state.completed++;
      state.onComplete();
    }
  }

  onFrameError(error: { reason: string }): void {
    throw new Error(`server sent a bad frame: ${error.reason}`);
  }
}

const IGNORE: FrameHandler = {
  onFrame() {},
  onFrameError(error) {
    throw new Error(`server sent the publisher a bad frame: ${error.reason}`);
  },
};

/** One unlabelled counter of a node's /metrics. */
async function metricOf(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://${HOST}:${port}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

async function subscribedNodes(redisUrl: string, count: number): Promise<void> {
  const client = createClient({ url: redisUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await waitFor(`${count} node(s) subscribed`, async () => {
      const reply = (await client.sendCommand(['PUBSUB', 'NUMSUB', `framecast:channel:${CHANNEL}`])) as [string, number];
      return Number(reply[1]) === count;
    });
  } finally {
    client.destroy();
  }
}

async function runScenario(scenario: Scenario, redisUrl: string, redisPid: number | undefined, options: BenchOptions): Promise<Result> {
  const ports = await Promise.all(Array.from({ length: scenario.nodes }, () => freePort()));
  const nodes: ChildProcess[] = [];
  const sockets: Socket[] = [];
  try {
    for (const port of ports) nodes.push(await startNode(port, scenario.redis ? redisUrl : undefined));
    let refill = (): void => {};
    const state = new RunState(options.subscribers, () => refill());
    let subscribed = 0;
    const subscribers = Array.from({ length: options.subscribers }, () => new Subscriber(state, scenario.subscribers, () => subscribed++));
    const path = `/chat?channel=${CHANNEL}`;
    const subscribe = encodeTextFrame(JSON.stringify({ id: 1, subscribe: { channel: CHANNEL } }), { mask: true });
    for (let first = 0; first < subscribers.length; first += CONNECT_BATCH) {
      await Promise.all(
        subscribers.slice(first, first + CONNECT_BATCH).map(async (subscriber, offset) => {
          // Round robin: subscriber i on node i mod N.
          const port = ports[(first + offset) % ports.length];
          if (scenario.subscribers === 'raw') subscriber.socket = await openWebSocket(port, path, subscriber);
          else {
            subscriber.socket = await openWebSocket(port, '/pubsub', subscriber, [SUBPROTOCOL]);
            subscriber.socket.write(subscribe);
          }
          sockets.push(subscriber.socket);
        }),
      );
    }
    if (scenario.subscribers === 'v1') await waitFor('every framecast.v1 subscription', () => Promise.resolve(subscribed === subscribers.length));
    const publisher = await openWebSocket(ports[0], path, IGNORE);
    sockets.push(publisher);
    if (scenario.redis) await subscribedNodes(redisUrl, scenario.nodes);

    let publishing = true;
    refill = (): void => {
      if (!publishing) return;
      const room = Math.min(options.window - (state.published - state.completed), MAX_MESSAGES - state.published);
      if (room <= 0) return;
      const micros = String(Math.round(performance.now() * 1000)).padStart(TIME_DIGITS, '0');
      const frames: Buffer[] = [];
      for (let i = 0; i < room; i++) {
        const text = `${String(state.published++).padStart(SEQ_DIGITS, '0')} ${micros}`.padEnd(PAYLOAD_BYTES, ' ');
        frames.push(encodeTextFrame(text, { mask: true }));
      }
      publisher.write(Buffer.concat(frames));
    };

    refill();
    await sleep(options.warmupSeconds * 1000);
    const startPublished = state.completed;
    const nodeCpu = (): number => nodes.reduce((sum, node) => sum + cpuSecondsOf(node.pid), 0);
    const nodeCpuStart = nodeCpu();
    const redisCpuStart = cpuSecondsOf(redisPid);
    const loadgenCpuStart = process.cpuUsage();
    state.measuring = true;
    const start = performance.now();
    await sleep(options.seconds * 1000);
    state.measuring = false;
    const seconds = (performance.now() - start) / 1000;
    const nodeCpuSeconds = nodeCpu() - nodeCpuStart;
    const redisCpu = scenario.redis ? (cpuSecondsOf(redisPid) - redisCpuStart) / seconds : 0;
    const loadgenUsage = process.cpuUsage(loadgenCpuStart);
    const loadgenCpu = (loadgenUsage.user + loadgenUsage.system) / 1e6 / seconds;
    const deliveries = state.deliveries;
    const messages = state.completed - startPublished;

    publishing = false;
    const drainUntil = performance.now() + DRAIN_MS;
    while (state.completed < state.published && performance.now() < drainUntil) await sleep(POLL_MS);
    let lost = 0;
    let reordered = 0;
    let malformed = 0;
    for (const subscriber of subscribers) {
      lost += Math.max(0, state.published - subscriber.received);
      reordered += subscriber.reordered;
      malformed += subscriber.malformed + Math.max(0, subscriber.received - state.published);
    }
    const gapReads = scenario.redis ? (await Promise.all(ports.map((port) => metricOf(port, 'framecast_broker_history_reads_total')))).reduce((sum, n) => sum + n, 0) : 0;
    return {
      scenario,
      messagesPerSecond: messages / seconds,
      deliveriesPerSecond: deliveries / seconds,
      deliveriesPerNodeCpuSecond: deliveries / nodeCpuSeconds,
      redisCpu,
      loadgenCpu,
      p50Ms: state.quantileMs(0.5),
      p99Ms: state.quantileMs(0.99),
      published: state.published,
      lost,
      reordered,
      malformed,
      gapReads,
    };
  } finally {
    for (const socket of sockets) socket.destroy();
    await Promise.all(nodes.map(stopChild));
  }
}

function parseArgs(argv: readonly string[]): BenchOptions {
  const options: BenchOptions = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    const value = Number(argv[i + 1]);
    if (!(name in options) || !Number.isInteger(value) || value <= 0) throw new Error(`usage: fanout-cluster [--subscribers N] [--seconds S] [--window W] [--rounds R]; bad ${argv[i]}`);
    options[name as keyof BenchOptions] = value;
  }
  return options;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const binary = onPath('redis-server');
  if (binary === undefined) {
    process.stderr.write('fanout-cluster: redis-server is not installed (apt-get install redis-server)\n');
    process.exit(1);
  }
  const redisPort = await freePort();
  const redis = spawn(binary, ['--port', String(redisPort), '--bind', HOST, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const redisUrl = `redis://${HOST}:${redisPort}`;
  const results: Result[] = [];
  try {
    await waitFor('redis-server', async () => {
      const client = createClient({ url: redisUrl, socket: { reconnectStrategy: false } });
      client.on('error', () => undefined);
      await client.connect();
      client.destroy();
      return true;
    });
    process.stdout.write(
      `fan-out to ${options.subscribers} subscribers of one channel (raw /chat or framecast.v1), ${PAYLOAD_BYTES}-byte messages, window ${options.window}, ` +
        `${options.seconds} s measured after ${options.warmupSeconds} s warm-up; publisher on the first node\n\n`,
    );
    // Rounds interleave the scenarios, so a change in how busy the machine is hits all of them.
    for (let round = 1; round <= options.rounds; round++) {
      for (const scenario of SCENARIOS) {
        const result = await runScenario(scenario, redisUrl, redis.pid, options);
        results.push(result);
        process.stdout.write(`  round ${round}/${options.rounds}: ${scenario.label}: ${Math.round(result.deliveriesPerSecond).toLocaleString('en-US')} deliveries/s\n`);
      }
    }
  } finally {
    await stopChild(redis);
  }

  // Per scenario: the run with the median deliveries/s, the range over all rounds, and every
  // lost, reordered or malformed delivery of every round.
  const summary = SCENARIOS.map((scenario) => {
    const runs = results.filter((r) => r.scenario === scenario).sort((x, y) => x.deliveriesPerSecond - y.deliveriesPerSecond);
    const median = runs[Math.floor((runs.length - 1) / 2)];
    const total = (pick: (r: Result) => number): number => runs.reduce((sum, r) => sum + pick(r), 0);
    return {
      ...median,
      range: `${Math.round(runs[0].deliveriesPerSecond / 1000)}k-${Math.round(runs[runs.length - 1].deliveriesPerSecond / 1000)}k`,
      lost: total((r) => r.lost),
      reordered: total((r) => r.reordered),
      malformed: total((r) => r.malformed),
      gapReads: total((r) => r.gapReads),
    };
  });
  const rows = [
    ['scenario (median of rounds)', 'deliveries/s', 'range', 'per node CPU-s', 'redis CPU', 'clients CPU', 'messages/s', 'p50 ms', 'p99 ms', 'lost', 'reordered', 'malformed', 'gap reads'],
    ...summary.map((r) => [
      r.scenario.label,
      Math.round(r.deliveriesPerSecond).toLocaleString('en-US'),
      r.range,
      Math.round(r.deliveriesPerNodeCpuSecond).toLocaleString('en-US'),
      r.scenario.redis ? `${(r.redisCpu * 100).toFixed(1)}%` : '-',
      `${Math.round(r.loadgenCpu * 100)}%`,
      Math.round(r.messagesPerSecond).toLocaleString('en-US'),
      r.p50Ms.toFixed(1),
      r.p99Ms.toFixed(1),
      String(r.lost),
      String(r.reordered),
      String(r.malformed),
      r.scenario.redis ? String(r.gapReads) : '-',
    ]),
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  process.stdout.write('\n' + rows.map((row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ')).join('\n') + '\n');
  process.stdout.write('\n');
  for (const kind of ['raw', 'v1'] as const) {
    const single = summary.find((r) => r.scenario.nodes === 1 && r.scenario.redis && r.scenario.subscribers === kind);
    const two = summary.find((r) => r.scenario.nodes === 2 && r.scenario.subscribers === kind);
    if (single !== undefined && two !== undefined) {
      process.stdout.write(`two nodes / one node (both via Redis), ${kind === 'raw' ? 'raw /chat' : 'framecast.v1'}: ${(two.deliveriesPerSecond / single.deliveriesPerSecond).toFixed(2)}x deliveries/s\n`);
    }
  }
  for (const topology of TOPOLOGIES) {
    const raw = summary.find((r) => r.scenario.label.startsWith(topology.label) && r.scenario.subscribers === 'raw');
    const v1 = summary.find((r) => r.scenario.label.startsWith(topology.label) && r.scenario.subscribers === 'v1');
    if (raw !== undefined && v1 !== undefined) {
      process.stdout.write(`framecast.v1 / raw, ${topology.label}: ${(v1.deliveriesPerSecond / raw.deliveriesPerSecond).toFixed(2)}x deliveries/s\n`);
    }
  }
  process.stdout.write(`(machine load average at the end: ${loadavg().map((load) => load.toFixed(1)).join(' ')} on ${availableParallelism()} cores)\n`);
  const broken = summary.filter((r) => r.lost + r.reordered + r.malformed > 0);
  if (broken.length > 0) {
    process.stderr.write(`fanout-cluster: lost, reordered or malformed deliveries in: ${broken.map((r) => r.scenario.label).join(', ')}\n`);
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`fanout-cluster: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
