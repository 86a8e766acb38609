/**
 * Protocol benchmark: framecast's frame parsing and serialization against ws's, in the same
 * process and the same run, on the same bytes.
 *
 *   npm run bench:protocol            (BENCH_ROUNDS=n to change the number of rounds, default 7;
 *                                      BENCH_SIZES=16B,64KiB to run only some sizes)
 *
 * - parse: masked binary frames (as a server receives them) of 16 B, 1 KiB, 64 KiB and 1 MiB,
 *   built once into one stream per implementation and fed in 64 KiB reads (a typical socket
 *   read) to framecast's Receiver (role 'server') and to ws's Receiver (isServer: true). Both
 *   unmask in place and hand each message to a callback; the count of messages is checked.
 * - serialize: one masked binary frame per call, as a client sends it, into a fresh buffer,
 *   leaving the payload untouched: framecast's encodeFrame(..., { mask: true }) against ws's
 *   Sender.frame(..., { mask: true, readOnly: true }) (readOnly makes ws copy into one buffer
 *   too, rather than mask the caller's payload in place).
 *
 * ws masks and unmasks with the optional native addon `bufferutil` when it can load it (for
 * payloads of 32/48 bytes and up), and in JavaScript otherwise. So the benchmark runs twice,
 * each run in a child process of its own: ws with bufferutil (installed on demand into a cache
 * outside node_modules, see on-demand-packages.ts, and found through NODE_PATH), and ws in pure
 * JavaScript (WS_NO_BUFFER_UTIL=1, ws's own switch). When bufferutil cannot be installed or
 * loaded, the first run is skipped with a note. framecast is pure JavaScript in both.
 *
 * In each run, rounds alternate which implementation goes first; each figure is a median
 * over rounds, and the ratio is the median of the per-round ratios. Rates are per second of
 * the process's CPU time (see `measure`).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { encodeFrame, type FrameOptions, Opcode, Receiver } from '../src/protocol/index.js';
import { ensurePackages, nodePathWith, WS_ADDONS } from './on-demand-packages.js';

// ws's package exports only its main entry, which carries the lib/receiver.js and
// lib/sender.js classes as WebSocket.Receiver and WebSocket.Sender. @types/ws does not
// describe those, so they are loaded with require and the little used is typed here.
interface WsReceiver {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  write(chunk: Buffer): boolean;
}
type WsReceiverClass = new (options: { isServer: boolean; maxPayload?: number; binaryType?: string }) => WsReceiver;
interface WsSenderOptions {
  fin: boolean;
  mask: boolean;
  opcode: number;
  readOnly: boolean;
  rsv1: boolean;
}
interface WsSenderClass {
  frame(data: Buffer, options: WsSenderOptions): Buffer[];
}

const require = createRequire(import.meta.url);

const SIZES: ReadonlyArray<[string, number]> = [
  ['16 B', 16],
  ['1 KiB', 1024],
  ['64 KiB', 64 * 1024],
  ['1 MiB', 1024 * 1024],
];
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 7));
/** The sizes to run: all, or those named in BENCH_SIZES (labels without spaces, e.g. `16B,1MiB`). */
const SELECTED_SIZES =
  process.env.BENCH_SIZES === undefined
    ? SIZES
    : SIZES.filter(([label]) => process.env.BENCH_SIZES?.split(',').includes(label.replace(' ', '')));
/** Each measurement runs for at least this much CPU time, repeating its batch as needed... */
const MIN_SAMPLE_MS = 120;
/** ...unless this much wall time has passed (a busy machine), after at least one batch. */
const MAX_SAMPLE_WALL_MS = 250;
/** Bytes of frames per parse batch; payload bytes per serialize batch. */
const PARSE_BATCH_BYTES = 8 * 1024 * 1024;
const SERIALIZE_BATCH_BYTES = 2 * 1024 * 1024;
const READ_SIZE = 64 * 1024;

type Operation = 'parse' | 'serialize';
interface Row {
  size: string;
  operation: Operation;
  framecast: number;
  ws: number;
  bytesPerFrame: number;
  ratio: number;
  ratioMin: number;
  ratioMax: number;
}
interface RunResult {
  wsLabel: string;
  rows: Row[];
}

// ---------------------------------------------------------------------------------------
// One run (a child process): measure every size and operation.

function payloadOf(size: number): Buffer {
  const payload = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) payload[i] = (i * 131 + 7) & 0xff;
  return payload;
}

/** A stream of `count` masked binary frames of `size` bytes, cut into 64 KiB reads. */
function buildReads(size: number, count: number): Buffer[] {
  const payload = payloadOf(size);
  const stream = Buffer.concat(Array.from({ length: count }, () => encodeFrame(Opcode.Binary, payload, { mask: true })));
  const reads: Buffer[] = [];
  for (let offset = 0; offset < stream.length; offset += READ_SIZE) reads.push(stream.subarray(offset, offset + READ_SIZE));
  return reads;
}

/**
 * Frames per CPU-second: runs `batch` (which handles `framesPerBatch` frames) for at least
 * MIN_SAMPLE_MS of this process's CPU time (user + system, all threads, so garbage collection
 * on helper threads counts too). CPU time rather than wall time, so that other work on a
 * shared machine does not count against whichever side happened to be running.
 */
function measure(batch: () => void, framesPerBatch: number): number {
  let batches = 0;
  const start = process.cpuUsage();
  const wallStart = Date.now();
  const minimumMicros = MIN_SAMPLE_MS * 1000;
  let elapsedMicros = 0;
  do {
    batch();
    batches++;
    const used = process.cpuUsage(start);
    elapsedMicros = used.user + used.system;
  } while (elapsedMicros < minimumMicros && Date.now() - wallStart < MAX_SAMPLE_WALL_MS);
  return (batches * framesPerBatch) / (elapsedMicros / 1e6);
}

interface Contender {
  name: 'framecast' | 'ws';
  batch: Record<Operation, () => void>;
}

function contendersFor(size: number, ws: { Receiver: WsReceiverClass; Sender: WsSenderClass }) {
  const parseFrames = Math.max(8, Math.floor(PARSE_BATCH_BYTES / (size + 14)));
  const serializeFrames = Math.max(8, Math.floor(SERIALIZE_BATCH_BYTES / size));
  // Each implementation gets its own copy of the stream, since both unmask in place. The next
  // batch unmasks the same bytes again, which just flips them back; binary payloads are not
  // validated, so that is harmless and costs both the same.
  const framecastReads = buildReads(size, parseFrames);
  const wsReads = buildReads(size, parseFrames);
  const payload = payloadOf(size);
  const framecastOptions: FrameOptions = { mask: true };
  const wsOptions: WsSenderOptions = { fin: true, mask: true, opcode: Opcode.Binary, readOnly: true, rsv1: false };

  let delivered = 0;
  const expectAll = (name: string): void => {
    if (delivered !== parseFrames) throw new Error(`${name} delivered ${delivered} messages, expected ${parseFrames}`);
  };
  let sink = 0;

  const framecast: Contender = {
    name: 'framecast',
    batch: {
      parse: () => {
        delivered = 0;
        const receiver = new Receiver(
          {
            onMessage: () => {
              delivered++;
            },
            onPing: () => {},
            onPong: () => {},
            onClose: () => {},
            onError: (error) => {
              throw new Error(`framecast: ${error.code}`);
            },
          },
          { role: 'server' },
        );
        for (const read of framecastReads) receiver.push(read);
        expectAll('framecast');
      },
      serialize: () => {
        for (let i = 0; i < serializeFrames; i++) sink += encodeFrame(Opcode.Binary, payload, framecastOptions).length;
      },
    },
  };
  const wsContender: Contender = {
    name: 'ws',
    batch: {
      parse: () => {
        delivered = 0;
        const receiver = new ws.Receiver({ isServer: true, maxPayload: 0, binaryType: 'nodebuffer' })
          .on('message', () => {
            delivered++;
          })
          .on('error', (error) => {
            throw error;
          });
        for (const read of wsReads) receiver.write(read);
        expectAll('ws');
      },
      serialize: () => {
        // Sender.frame returns [frame] when it copies (readOnly with a mask).
        for (let i = 0; i < serializeFrames; i++) sink += ws.Sender.frame(payload, wsOptions)[0].length;
      },
    },
  };
  return {
    contenders: [framecast, wsContender],
    framesPerBatch: { parse: parseFrames, serialize: serializeFrames } as Record<Operation, number>,
    bytesPerFrame: { parse: size + 14, serialize: size },
    sink: () => sink,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function runOnce(): RunResult {
  const ws = require('ws') as { Receiver: WsReceiverClass; Sender: WsSenderClass };
  let bufferutil = false;
  try {
    createRequire(require.resolve('ws')).resolve('bufferutil');
    bufferutil = process.env.WS_NO_BUFFER_UTIL === undefined;
  } catch {
    bufferutil = false;
  }
  const rows: Row[] = [];
  for (const [label, size] of SELECTED_SIZES) {
    const setup = contendersFor(size, ws);
    for (const operation of ['parse', 'serialize'] as const) {
      const framesPerBatch = setup.framesPerBatch[operation];
      // An untimed warm-up of each (JIT, buffer pools).
      for (const contender of setup.contenders) measure(contender.batch[operation], framesPerBatch);
      const rates = { framecast: [] as number[], ws: [] as number[] };
      const ratios: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? setup.contenders : [...setup.contenders].reverse();
        const rate: Partial<Record<Contender['name'], number>> = {};
        for (const contender of order) rate[contender.name] = measure(contender.batch[operation], framesPerBatch);
        rates.framecast.push(rate.framecast ?? Number.NaN);
        rates.ws.push(rate.ws ?? Number.NaN);
        ratios.push((rate.framecast ?? Number.NaN) / (rate.ws ?? Number.NaN));
      }
      rows.push({
        size: label,
        operation,
        framecast: median(rates.framecast),
        ws: median(rates.ws),
        bytesPerFrame: size,
        ratio: median(ratios),
        ratioMin: Math.min(...ratios),
        ratioMax: Math.max(...ratios),
      });
    }
    if (setup.sink() === 0) throw new Error('nothing serialized');
  }
  return { wsLabel: bufferutil ? 'ws + bufferutil (native masking)' : 'ws in pure JavaScript', rows };
}

// ---------------------------------------------------------------------------------------
// The parent: one child per ws configuration, one after the other, then the tables.

function formatRate(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return value.toFixed(0);
}

function printTable(result: RunResult): void {
  console.log(`framecast against ${result.wsLabel}`);
  console.log('');
  const header = ['size', 'operation', 'framecast frames/s', 'framecast MB/s', 'ws frames/s', 'ws MB/s', 'ratio', 'ratio range'];
  const lines = result.rows.map((row) => [
    row.size,
    row.operation,
    formatRate(row.framecast),
    ((row.framecast * row.bytesPerFrame) / 1e6).toFixed(0),
    formatRate(row.ws),
    ((row.ws * row.bytesPerFrame) / 1e6).toFixed(0),
    `**${row.ratio.toFixed(2)}x**`,
    `${row.ratioMin.toFixed(2)}-${row.ratioMax.toFixed(2)}x`,
  ]);
  for (const line of [header, header.map(() => '---'), ...lines]) console.log(`| ${line.join(' | ')} |`);
  console.log('');
  const missed = result.rows.filter((row) => row.ratio < (row.size === '16 B' ? 1.5 : 1.0));
  if (missed.length === 0) console.log('Goals met against this ws: >= 1.0x at every size, >= 1.5x at 16 B.');
  for (const row of missed) {
    console.log(`Goal missed: ${row.size} ${row.operation} at ${row.ratio.toFixed(2)}x (goal ${row.size === '16 B' ? '1.5' : '1.0'}x).`);
  }
  console.log('');
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line !== undefined) return line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // Not Linux: fall through.
  }
  return 'unknown CPU';
}

function runChild(noBufferUtil: boolean): RunResult {
  const env: NodeJS.ProcessEnv = { ...(noBufferUtil ? process.env : nodePathWith(WS_ADDONS)), FRAMECAST_BENCH_CHILD: '1' };
  if (noBufferUtil) env.WS_NO_BUFFER_UTIL = '1';
  else delete env.WS_NO_BUFFER_UTIL;
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (child.status !== 0) throw new Error(`benchmark run failed with status ${child.status}`);
  return JSON.parse(child.stdout) as RunResult;
}

if (process.env.FRAMECAST_BENCH_CHILD === '1') {
  process.stdout.write(JSON.stringify(runOnce()));
} else {
  const started = Date.now();
  const wsVersion = (require('ws/package.json') as { version: string }).version;
  const cpus = readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length;
  console.log(`${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ws ${wsVersion}, ${cpuModel()} (${cpus} CPUs), ${ROUNDS} rounds`);
  console.log('frames/s and MB/s (10^6 payload bytes) per CPU-second, medians over rounds; ratio = framecast / ws, median of per-round ratios.');
  console.log('');
  const addons = ensurePackages(WS_ADDONS);
  if (addons.ready) printTable(runChild(false));
  else console.log(`note: the run against ws + bufferutil is skipped: ${addons.problem}\n`);
  printTable(runChild(true));
  console.log(`took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
