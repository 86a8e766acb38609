/**
 * `npm start` stopped the way people and supervisors stop it: a signal to the npm process
 * (`kill $!` in a script, a supervisor's SIGTERM), or Ctrl-C in a terminal, which the terminal
 * sends to npm's whole process group and npm forwards once more. Either way the server must
 * shut down gracefully (every WebSocket closed with 1001, exit 0) and leave no process behind
 * that still listens. npm runs the script with `sh -c`, and sh does not pass signals on to the
 * command it waits for: the script has to `exec` the server so that it is npm's own child.
 *
 * Runs the project's real `npm start` (its incremental build is brought up to date once, in
 * beforeAll). Linux only: the processes npm started are found in /proc. Each test ends, by
 * PID, every process it started that is still there.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closed, openClient } from '../helpers/framecast.js';
import { waitUntil } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
/** The first build of a fresh clone takes several seconds, more on a busy machine. */
const BUILD_TIMEOUT_MS = 180_000;
/** How long npm and the server may take to start and to stop (generous: only a failing run waits). */
const PATIENT_MS = 20_000;

/** Environment without the caller's FRAMECAST_* variables. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('FRAMECAST_')) env[name] = value;
  return env;
}

/** Every process whose parent is `pid`, and theirs, read from /proc. */
function descendantsOf(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid ...", where comm may hold spaces and parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // The process ended while being read.
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift() as number;
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Every process a test started, to end by PID if it is still there afterwards. */
let started: number[] = [];

afterEach(() => {
  for (const pid of started.splice(0).reverse()) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
});

/**
 * `npm start` on a free loopback port, in a process group of its own (as a terminal gives a
 * command it runs), once it listens: npm, the port, and every process npm started.
 */
async function npmStart(): Promise<{ npm: ChildProcess; port: number; processes: number[]; output: () => string }> {
  const npm = spawn('npm', ['start', '--', '--port', '0', '--host', '127.0.0.1', '--heartbeat', '0'], {
    cwd: ROOT,
    env: cleanEnv(),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(npm.pid as number);
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not listen within ${PATIENT_MS} ms:\n${output}`)), PATIENT_MS);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /listening on http:\/\/[^/]*:(\d+)\//.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    npm.stdout?.on('data', onData);
    npm.stderr?.on('data', onData);
    npm.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code} before listening:\n${output}`));
    });
  });
  const processes = descendantsOf(npm.pid as number);
  started.push(...processes);
  return { npm, port, processes, output: () => output };
}

describe.skipIf(process.platform !== 'linux')('stopping npm start', () => {
  beforeAll(async () => {
    await run('npm', ['run', 'build', '--silent'], { cwd: ROOT, env: cleanEnv(), timeout: BUILD_TIMEOUT_MS });
  }, BUILD_TIMEOUT_MS + 10_000);

  for (const [how, signal, toGroup] of [
    ['SIGTERM to the npm process (kill $!, a supervisor)', 'SIGTERM', false],
    ['SIGINT to its process group (Ctrl-C in a terminal: the server gets it from the terminal and again from npm)', 'SIGINT', true],
  ] as const) {
    it(`${how}: every WebSocket gets 1001, the server exits 0, nothing is left listening`, async () => {
      const { npm, port, processes, output } = await npmStart();
      expect(processes.length).toBeGreaterThan(0);
      const client = await openClient(`ws://127.0.0.1:${port}/ws`);
      const close = closed(client);

      process.kill(toGroup ? -(npm.pid as number) : (npm.pid as number), signal);
      const npmExit = await Promise.race([exited(npm), new Promise<'still running'>((resolve) => setTimeout(resolve, PATIENT_MS, 'still running'))]);
      expect(npmExit, output()).toEqual({ code: 0, signal: null });
      // npm exits once its child has: by then the server has closed the WebSocket.
      expect(await Promise.race([close, new Promise<string>((resolve) => setTimeout(resolve, PATIENT_MS, 'no Close'))])).toEqual({ code: 1001, reason: 'server shutting down' });
      await waitUntil(() => processes.every((pid) => !isRunning(pid)), PATIENT_MS, 'every process npm started to end');
      expect(await isListening(port)).toBe(false);
      expect(output()).toMatch(new RegExp(`${signal}: closing every connection with 1001`));
      expect(output()).toMatch(/shut down cleanly/);
    });
  }
});
