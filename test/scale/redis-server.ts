/**
 * Test support for the Redis scale-out: a real redis-server on a free loopback port (stopped by
 * PID), framecast nodes using the Redis hub, and small polling helpers.
 *
 * Outside CI a missing redis-server skips the Redis tests with a loud warning; with CI=true they
 * run, and fail if redis-server is missing (.ci/run installs it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { connect as connectTcp, createServer, type Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { createClient } from 'redis';
import WebSocket from 'ws';
import { RedisHub, type RedisHubOptions } from '../../src/server/hub/redis-hub.js';
import type { FramecastOptions } from '../../src/server/app.js';
import { type RunningFramecast, startFramecast } from '../helpers/framecast.js';

/** The path of redis-server on PATH, or undefined. */
export function findRedisServer(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/**
 * Whether the Redis tests of a file should be skipped: only outside CI, when redis-server is
 * missing, and then loudly.
 */
export function skipWithoutRedis(what: string): boolean {
  if (findRedisServer() !== undefined || process.env.CI === 'true') return false;
  console.warn(
    `\n${'!'.repeat(78)}\n!! SKIPPED: ${what}\n!! redis-server is not installed. Install it (apt-get install redis-server) to run\n!! these tests; in CI (CI=true) they always run.\n${'!'.repeat(78)}\n`,
  );
  return true;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const REDIS_START_TIMEOUT_MS = 10_000;
const REDIS_STOP_TIMEOUT_MS = 5_000;

export interface RedisProcess {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** Stops this redis-server (SIGTERM, then SIGKILL if it lingers) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts redis-server on `port` (a free one by default), without persistence, and waits until it accepts connections. */
export async function startRedis(port?: number): Promise<RedisProcess> {
  const binary = findRedisServer();
  if (binary === undefined) throw new Error('redis-server is not installed (apt-get install redis-server); CI=true requires it');
  const chosen = port ?? (await freePort());
  const child: ChildProcess = spawn(binary, ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('redis-server did not start');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not get ready on port ${chosen}:\n${output}`));
    }, REDIS_START_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code} before it was ready:\n${output}`));
    });
  });
  let stopped = false;
  // Should the test process end without afterAll (a crash), take this redis-server along.
  const killOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
  };
  process.once('exit', killOnExit);
  return {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    pid,
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
      }, REDIS_STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A framecast node on a free port whose hub is a `RedisHub`. */
export interface ClusterNode extends RunningFramecast {
  readonly hub: RedisHub;
}

/** Test nodes reconnect quickly: the outage test waits for them. */
const TEST_RECONNECT_MAX_DELAY_MS = 200;

/** Starts a node on a free port whose hub is a RedisHub on `redisUrl`, with `options` for the hub and `framecast` for the rest (history limits, say). */
export async function startNode(redisUrl: string, options: Partial<RedisHubOptions> = {}, framecast: FramecastOptions = {}): Promise<ClusterNode> {
  let hub: RedisHub | undefined;
  const running = await startFramecast({
    ...framecast,
    createHub: (_everyone, context) => (hub = new RedisHub(context, { url: redisUrl, reconnectMaxDelay: TEST_RECONNECT_MAX_DELAY_MS, ...options })),
  });
  if (hub === undefined) throw new Error('createHub was not called');
  await hub.whenConnected();
  return { ...running, hub };
}

const POLL_INTERVAL_MS = 20;

/** Polls `check` until it returns true, or fails after `timeoutMs` with `what`. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

/** Every message a client receives, kept in order. */
export interface Recorder {
  readonly client: WebSocket;
  readonly messages: Array<{ data: Buffer; isBinary: boolean }>;
  texts(): string[];
}

/** Opens a `ws` client and records every message it receives from the start. */
export function openRecorder(url: string): Promise<Recorder> {
  return new Promise((resolve, reject) => {
    const client = new WebSocket(url);
    const messages: Recorder['messages'] = [];
    client.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      messages.push({ data: Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), isBinary });
    });
    client.once('open', () => resolve({ client, messages, texts: () => messages.map((message) => message.data.toString()) }));
    client.once('error', reject);
  });
}

/** Sends one command to Redis on a connection of its own (an administrator's, not a node's). */
export async function redisCommand<T = unknown>(redisUrl: string, args: string[]): Promise<T> {
  const client = createClient({ url: redisUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.sendCommand(args)) as T;
  } finally {
    client.destroy();
  }
}

/** How many Redis subscribers (framecast nodes) a Redis channel has, asked of Redis itself. */
export async function subscriberCount(redisUrl: string, redisChannel: string): Promise<number> {
  const reply = await redisCommand<[string, number]>(redisUrl, ['PUBSUB', 'NUMSUB', redisChannel]);
  return Number(reply[1]);
}

/** POST /push to a node; resolves with the status and the parsed JSON answer. */
export async function push(
  node: RunningFramecast,
  channel: string | undefined,
  body: string | Uint8Array,
  binary = false,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const query = channel === undefined ? '' : `?channel=${channel}`;
  const response = await fetch(`${node.httpUrl}/push${query}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : new Uint8Array(body),
    headers: { 'content-type': binary ? 'application/octet-stream' : 'text/plain; charset=utf-8' },
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** GET /healthz of a node, parsed. */
export async function healthOf(node: RunningFramecast): Promise<Record<string, unknown>> {
  const response = await fetch(`${node.httpUrl}/healthz`);
  return (await response.json()) as Record<string, unknown>;
}

/** The value of one unlabelled metric in a node's GET /metrics. */
export async function metricOf(node: RunningFramecast, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** A TCP proxy to a local port that holds back some client-to-server chunks. */
export interface DelayingProxy {
  readonly port: number;
  /** Cuts every proxied connection at once (held-back chunks are dropped), as a network failure would. */
  dropConnections(): void;
  close(): Promise<void>;
}

/**
 * Forwards 127.0.0.1:<proxy port> to `targetPort`, holding each client-to-server chunk for which
 * `slow(chunk)` is true for `delayMs` (later chunks of that connection wait behind it, so the
 * byte order is kept). Used to make a node's SUBSCRIBE reach Redis late.
 */
export function startDelayingProxy(targetPort: number, slow: (chunk: Buffer) => boolean, delayMs: number): Promise<DelayingProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((downstream) => {
    const upstream = connectTcp(targetPort, '127.0.0.1');
    sockets.add(downstream).add(upstream);
    let chain = Promise.resolve();
    downstream.on('data', (chunk: Buffer) => {
      const wait = slow(chunk) ? delayMs : 0;
      chain = chain.then(() => (wait > 0 ? new Promise((resolve) => setTimeout(resolve, wait)) : undefined)).then(() => {
        if (!upstream.destroyed) upstream.write(chunk);
      });
    });
    upstream.pipe(downstream);
    const end = (): void => {
      downstream.destroy();
      upstream.destroy();
      sockets.delete(downstream);
      sockets.delete(upstream);
    };
    for (const socket of [downstream, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address !== null ? address.port : 0,
        dropConnections: () => {
          for (const socket of sockets) socket.destroy();
        },
        close: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
