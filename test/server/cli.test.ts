/**
 * The `framecast` command, run as compiled JavaScript in a child process: --help, one-line
 * errors with exit status 2, environment variables, and a graceful exit 0 on SIGTERM that
 * closes every WebSocket with 1001. Each test ends the child it started, by its PID.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_MESSAGE_SIZE_LIMIT } from '../../src/protocol/index.js';
import { FLAGS } from '../../src/server/cli-options.js';
import { ServerDefaults } from '../../src/server/config.js';
import { type CliChild, cleanEnv, compileCli, spawnCli } from '../helpers/cli-process.js';
import { closed, openClient } from '../helpers/framecast.js';
import { PubSubTestClient } from '../helpers/pubsub-client.js';
import { RawWebSocket } from '../helpers/raw-socket.js';

const run = promisify(execFile);

let buildDir = '';
let CLI = '';

/** Runs the CLI to completion; resolves with its exit code and output. */
async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: cleanEnv(env), timeout: 10_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  }
});

/** Starts the CLI on an OS-chosen port and resolves with the port from its "listening" log line. */
function startCli(args: string[], env: Record<string, string> = {}): Promise<CliChild> {
  const { child, listening } = spawnCli(CLI, args, env);
  children.push(child);
  return listening;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

beforeAll(() => {
  ({ dir: buildDir, cli: CLI } = compileCli('framecast-cli-'));
});

afterAll(() => {
  rmSync(buildDir, { recursive: true, force: true });
});

describe('framecast --help', () => {
  it('prints the usage with every flag and its environment variable, and exits 0', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: framecast \[options\]/);
    for (const { name, env } of FLAGS) {
      expect(stdout).toContain(`--${name} `);
      expect(stdout).toContain(`[env ${env}]`);
    }
  });
});

describe.concurrent('bad options exit 2 with one line on stderr', () => {
  for (const [args, env, mention] of [
    [['--no-such-flag'], {}, '--no-such-flag'],
    [['--port', '70000'], {}, '--port'],
    [['--port'], {}, '--port'],
    [['--max-message', 'lots'], {}, '--max-message'],
    // Larger than one Buffer can hold: every compressed message would then fail (zlib refuses the limit).
    [['--max-message', String(MAX_MESSAGE_SIZE_LIMIT + 1)], {}, '--max-message'],
    [['stray'], {}, 'stray'],
    [[], { FRAMECAST_MAX_CONNECTIONS: 'many' }, '--max-connections'],
    [['--history-size', '-1'], {}, '--history-size'],
    [['--history-ttl', '0'], {}, '--history-ttl'],
    [['--history-memory', 'plenty'], {}, '--history-memory'],
    [[], { FRAMECAST_CLIENT_PUBLISH: 'maybe' }, '--client-publish'],
  ] as Array<[string[], Record<string, string>, string]>) {
    it(`${[...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...args].join(' ')}`, async () => {
      const { code, stdout, stderr } = await runCli(args, env);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr.endsWith('\n')).toBe(true);
      expect(stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(stderr).toContain(mention);
    });
  }
});

describe('a running framecast', () => {
  it('takes its settings from environment variables', async () => {
    const { child, port } = await startCli([], { FRAMECAST_PORT: '0', FRAMECAST_HOST: '127.0.0.1', FRAMECAST_PUSH_TOKEN: 'from-env' });
    // The token from the environment is required...
    const refused = await fetch(`http://127.0.0.1:${port}/push`, { method: 'POST', body: 'x' });
    expect(refused.status).toBe(401);
    // ...and accepted.
    const accepted = await fetch(`http://127.0.0.1:${port}/push`, { method: 'POST', body: 'x', headers: { authorization: 'Bearer from-env' } });
    expect(accepted.status).toBe(202);
    process.kill(child.pid as number, 'SIGTERM');
    expect(await exited(child)).toBe(0);
  });

  it('flags win over environment variables', async () => {
    const { child, port } = await startCli(['--port', '0', '--host', '127.0.0.1', '--max-message', '1KiB'], {
      FRAMECAST_MAX_MESSAGE: '1MiB',
    });
    const client = await openClient(`ws://127.0.0.1:${port}/ws`);
    const close = closed(client);
    client.send(Buffer.alloc(2048));
    expect((await close).code).toBe(1009);
    process.kill(child.pid as number, 'SIGTERM');
    expect(await exited(child)).toBe(0);
  });

  it('--history-size bounds what GET /history returns; --client-publish off refuses framecast.v1 publishes', async () => {
    const { child, port } = await startCli(['--port', '0', '--host', '127.0.0.1', '--history-size', '2', '--client-publish', 'off']);
    for (const body of ['one', 'two', 'three']) {
      expect((await fetch(`http://127.0.0.1:${port}/push?channel=c`, { method: 'POST', body })).status).toBe(202);
    }
    const history = (await (await fetch(`http://127.0.0.1:${port}/history?channel=c`)).json()) as { offset: number; publications: Array<{ text: string }> };
    expect(history.offset).toBe(3);
    expect(history.publications.map((p) => p.text)).toEqual(['two', 'three']);
    const pubsub = await PubSubTestClient.open(`ws://127.0.0.1:${port}`);
    await pubsub.command('subscribe', { channel: 'c' });
    expect((await pubsub.command('publish', { channel: 'c', text: 'mine' })).error.code).toBe('permission_denied');
    pubsub.terminate();
    process.kill(child.pid as number, 'SIGTERM');
    expect(await exited(child)).toBe(0);
  });

  it('on SIGTERM closes every WebSocket with 1001 and exits 0', async () => {
    const { child, port, stderr } = await startCli(['--port', '0', '--host', '127.0.0.1']);
    const [echo, chat] = await Promise.all([openClient(`ws://127.0.0.1:${port}/ws`), openClient(`ws://127.0.0.1:${port}/chat?channel=x`)]);
    const closes = [closed(echo), closed(chat)];
    process.kill(child.pid as number, 'SIGTERM');
    for (const close of await Promise.all(closes)) expect(close.code).toBe(1001);
    expect(await exited(child)).toBe(0);
    expect(stderr()).toMatch(/SIGTERM/);
    expect(stderr()).toMatch(/shut down cleanly/);
  });

  it('takes a signal delivered twice at once as one stop (npm forwards the terminal\'s Ctrl-C): still graceful, exit 0', async () => {
    const { child, port, stderr } = await startCli(['--port', '0', '--host', '127.0.0.1']);
    const client = await openClient(`ws://127.0.0.1:${port}/ws`);
    const close = closed(client);
    process.kill(child.pid as number, 'SIGINT');
    process.kill(child.pid as number, 'SIGINT');
    expect((await close).code).toBe(1001);
    expect(await exited(child)).toBe(0);
    expect(stderr()).not.toMatch(/exiting now/);
  });

  it('exits 1 at once on a second signal that comes later, while a peer that never answers holds the shutdown up', async () => {
    const { child, port, stderr } = await startCli(['--port', '0', '--host', '127.0.0.1']);
    const deaf = await RawWebSocket.open(port, '/ws'); // never answers the Close: the shutdown would wait its 5 s
    process.kill(child.pid as number, 'SIGTERM');
    expect((await deaf.waitForClose()).code).toBe(1001);
    // Past the window in which a repeat counts as the same signal (timers never fire early).
    await new Promise((resolve) => setTimeout(resolve, ServerDefaults.repeatedSignalWindow));
    process.kill(child.pid as number, 'SIGTERM');
    // A graceful or timed-out shutdown exits 0; only the second signal exits 1.
    expect(await exited(child)).toBe(1);
    expect(stderr()).toMatch(/SIGTERM again: exiting now/);
    deaf.destroy();
  });
});
