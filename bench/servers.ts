/**
 * The servers under test and the processes around them: where each one's script is, how
 * it is started (pinned to its own core when taskset exists, with room for many sockets),
 * and what /proc says about its CPU time and memory.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bunExecutable, nodePathWith, WS_ADDONS } from './on-demand-packages.js';
import type { Job } from './jobs.js';

export const HOST = '127.0.0.1';

/** Root of the compiled tree (dist/): this file is dist/bench/servers.js. */
export const BUILD_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

export type TargetName =
  | 'framecast'
  | 'framecast-v1'
  | 'framecast-history-off'
  | 'framecast-baseline'
  | 'ws'
  | 'ws-addons'
  | 'ws-deflate'
  | 'bun'
  | 'uws'
  | 'tcp-floor'
  | 'http-floor';

export interface Target {
  readonly name: TargetName;
  /** What the tables call it. */
  readonly label: string;
  readonly script: string;
  readonly args: (port: number) => string[];
  readonly env: NodeJS.ProcessEnv;
  /**
   * The program that runs `script`, when not this Node (Bun runs its own reference); undefined
   * when it is not installed (run.ts installs it first, or skips the target).
   */
  readonly runtime?: () => string | undefined;
  /** How this target changes a case's job, if it does (the same server reached another way). */
  readonly adapt?: (job: Job) => Job;
}

/**
 * The server environment for ws with its native addons: without the variables that switch
 * them off, and with NODE_PATH leading to the cache they are installed in on demand (see
 * on-demand-packages.ts; run.ts installs them before measuring).
 */
function envWithAddons(): NodeJS.ProcessEnv {
  const env = nodePathWith(WS_ADDONS);
  delete env.WS_NO_BUFFER_UTIL;
  delete env.WS_NO_UTF_8_VALIDATE;
  return env;
}

const listen = (port: number): string[] => ['--port', String(port), '--host', HOST];

const framecastArgs = (port: number): string[] => [...listen(port), '--log-level', 'warn', '--heartbeat', '0', '--max-connections', '100000'];

/** framecast.v1 history off: no publication kept, offsets still counted (docs/pubsub.md "Limits"). */
const NO_HISTORY = ['--history-size', '0'];

/**
 * Another build of framecast to compare against in the same run (before/after a change):
 * BENCH_BASELINE_BUILD=DIR, a compiled tree with DIR/src/server/cli.js, and `--targets` naming
 * framecast-baseline.
 */
const BASELINE_BUILD = process.env.BENCH_BASELINE_BUILD;

export const TARGETS: Readonly<Record<TargetName, Target>> = {
  framecast: {
    name: 'framecast',
    label: 'framecast',
    script: join(BUILD_ROOT, 'src/server/cli.js'),
    args: framecastArgs,
    env: process.env,
  },
  'framecast-v1': {
    name: 'framecast-v1',
    label: 'framecast, framecast.v1 subscribers (/pubsub)',
    script: join(BUILD_ROOT, 'src/server/cli.js'),
    args: framecastArgs,
    env: process.env,
    // The same server; the fan-out's subscribers subscribe on /pubsub instead of joining /chat.
    adapt: (job) => (job.kind === 'fanout' ? { ...job, subscriberMode: 'pubsub' } : job),
  },
  'framecast-history-off': {
    name: 'framecast-history-off',
    label: 'framecast --history-size 0',
    script: join(BUILD_ROOT, 'src/server/cli.js'),
    args: (port) => [...framecastArgs(port), ...NO_HISTORY],
    env: process.env,
  },
  'framecast-baseline': {
    name: 'framecast-baseline',
    label: 'framecast (baseline build)',
    script: join(BASELINE_BUILD ?? BUILD_ROOT, 'src/server/cli.js'),
    args: framecastArgs,
    env: process.env,
  },
  ws: {
    name: 'ws',
    label: 'ws (plain)',
    script: join(BUILD_ROOT, 'bench/reference/ws-server.js'),
    args: listen,
    env: { ...process.env, WS_NO_BUFFER_UTIL: '1', WS_NO_UTF_8_VALIDATE: '1' },
  },
  'ws-addons': {
    name: 'ws-addons',
    label: 'ws + native addons',
    script: join(BUILD_ROOT, 'bench/reference/ws-server.js'),
    args: listen,
    env: envWithAddons(),
  },
  'ws-deflate': {
    name: 'ws-deflate',
    label: 'ws + permessage-deflate',
    script: join(BUILD_ROOT, 'bench/reference/ws-server.js'),
    args: (port) => [...listen(port), '--per-message-deflate'],
    env: { ...process.env, WS_NO_BUFFER_UTIL: '1', WS_NO_UTF_8_VALIDATE: '1' },
  },
  bun: {
    name: 'bun',
    label: 'Bun (Bun.serve)',
    script: join(BUILD_ROOT, 'bench/reference/bun-server.js'),
    args: listen,
    env: process.env,
    runtime: () => bunExecutable(),
  },
  uws: {
    name: 'uws',
    label: 'uWebSockets.js',
    script: join(BUILD_ROOT, 'bench/reference/uws-server.js'),
    args: listen,
    env: process.env,
  },
  'tcp-floor': {
    name: 'tcp-floor',
    label: 'raw TCP echo (floor)',
    script: join(BUILD_ROOT, 'bench/reference/tcp-echo.js'),
    args: listen,
    env: process.env,
    // No framing at all: the echo goes over raw TCP.
    adapt: (job) => (job.kind === 'echo' ? { ...job, transport: 'tcp' } : job),
  },
  'http-floor': {
    name: 'http-floor',
    label: 'bare node:http 202 (floor)',
    script: join(BUILD_ROOT, 'bench/reference/http-floor.js'),
    args: listen,
    env: process.env,
  },
};

/**
 * Extra node flags for the servers under test, from BENCH_SERVER_NODE_FLAGS, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile them (written when they stop).
 */
export const SERVER_NODE_FLAGS: readonly string[] = (process.env.BENCH_SERVER_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');

export const LOADGEN_SCRIPT = join(BUILD_ROOT, 'bench/loadgen.js');

/** Open files each process may need: 5000 connections plus everything else, with room. */
const WANTED_OPEN_FILES = 16_384;
const PORT_WAIT_MS = 15_000;
const PORT_POLL_MS = 50;
const STOP_GRACE_MS = 3_000;
const DEFAULT_CLOCK_TICKS = 100;

/** What this machine offers: taskset and cores to pin to, and the open-file limit. */
export interface Machine {
  /** Cores for [server, load generator], or undefined when the processes cannot be pinned. */
  cores: [number, number] | undefined;
  openFilesLimit: number;
  clockTicks: number;
  cpuModel: string;
  cpuCount: number;
}

function commandOutput(command: string, args: string[]): string | undefined {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export function inspectMachine(pin: boolean): Machine {
  const cpuinfo = (() => {
    try {
      return readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return '';
    }
  })();
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  // The cores this process may use (a container may allow fewer than the machine has).
  const allowed = commandOutput('bash', ['-c', 'taskset -cp $$ 2>/dev/null']);
  const cores = parseCpuList(allowed?.split(':').at(-1)?.trim() ?? '');
  const hasTaskset = commandOutput('bash', ['-c', 'command -v taskset']) !== undefined;
  const openFiles = Number(commandOutput('bash', ['-c', 'ulimit -n']) ?? '1024');
  return {
    cores: pin && hasTaskset && cores.length >= 2 ? [cores[0], cores[1]] : undefined,
    openFilesLimit: Number.isFinite(openFiles) ? openFiles : Number.MAX_SAFE_INTEGER,
    clockTicks: Number(commandOutput('getconf', ['CLK_TCK']) ?? DEFAULT_CLOCK_TICKS) || DEFAULT_CLOCK_TICKS,
    cpuModel,
    cpuCount: Math.max(cores.length, 1),
  };
}

/** "0-3,6" -> [0, 1, 2, 3, 6]. */
function parseCpuList(list: string): number[] {
  const cores: number[] = [];
  for (const part of list.split(',')) {
    const [from, to] = part.split('-').map(Number);
    if (!Number.isInteger(from)) continue;
    for (let core = from; core <= (Number.isInteger(to) ? to : from); core++) cores.push(core);
  }
  return cores;
}

/**
 * Starts `node script args` pinned to `core` (when given) with a raised open-file limit when
 * the current one is low. The command is `bash -c 'ulimit -n N; exec taskset -c C node ...'`,
 * each exec keeping the process id, so the pid is node's.
 */
export function spawnNode(
  machine: Machine,
  core: number | undefined,
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ipc: boolean,
  nodeFlags: readonly string[] = [],
  runtime: string = process.execPath,
): ChildProcess {
  // Node's flags are Node's: another runtime gets none.
  const command = runtime === process.execPath ? [runtime, ...nodeFlags, script, ...args] : [runtime, script, ...args];
  if (core !== undefined) command.unshift('taskset', '-c', String(core));
  const raise = machine.openFilesLimit < WANTED_OPEN_FILES ? `ulimit -n ${WANTED_OPEN_FILES} 2>/dev/null || true; ` : '';
  return spawn('bash', ['-c', `${raise}exec "$@"`, 'bash', ...command], {
    env,
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
}

/** Keeps the last few KB of a child's output, for error messages (and drains the pipes). */
export function captureOutput(child: ChildProcess): () => string {
  let text = '';
  const keep = (chunk: Buffer): void => {
    text = (text + chunk.toString('utf8')).slice(-4096);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text;
}

/** A free TCP port on loopback (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on `port`; rejects after PORT_WAIT_MS. */
export async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + PORT_WAIT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited early (${child.exitCode ?? child.signalCode})`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: HOST, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, PORT_POLL_MS));
  }
  throw new Error(`nothing listened on port ${port} within ${PORT_WAIT_MS} ms`);
}

/** Stops a child: SIGTERM, then SIGKILL after a grace period. Resolves when it is gone. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** CPU time of a process so far, in seconds, from /proc: user and system, all threads. */
export interface CpuTimes {
  user: number;
  system: number;
}

export function processCpuTimes(pid: number, clockTicks: number): CpuTimes {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is field 3, so utime (14) and stime (15) are at 11 and 12.
    return { user: Number(fields[11]) / clockTicks, system: Number(fields[12]) / clockTicks };
  } catch {
    return { user: Number.NaN, system: Number.NaN };
  }
}

/** CPU time (user + system, all threads) of a process so far, in seconds, from /proc. */
export function processCpuSeconds(pid: number, clockTicks: number): number {
  const times = processCpuTimes(pid, clockTicks);
  return times.user + times.system;
}

/** Resident set size of a process, in bytes, from /proc. */
export function processRssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kilobytes = Number(/^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1]);
    return kilobytes * 1024;
  } catch {
    return Number.NaN;
  }
}
