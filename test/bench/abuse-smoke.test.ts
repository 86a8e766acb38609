/**
 * Smoke test of the abuse battery (bench/abuse/): a few of its attacks, tiny, against both
 * servers, end to end, as separate processes as `npm run bench:abuse` runs them. No timing is
 * asserted; what is checked is that every measurement happened and came from real traffic: the
 * neighbour's echoes, the server's RSS, every attacker's answer, the health check after.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScript, transpileBench } from '../helpers/transpile.js';

const SMOKE_TIMEOUT_MS = 120_000;
const ATTACKS = ['ping-flood', 'huge-length', 'oversized-headers']; // in the battery's order

interface AttackResult {
  spec: { name: string; connections: number; expected: string[] };
  target: string;
  rss: { before: number; peak: number; after: number };
  neighbour: { sent: number; received: number; lost: number; p50Ms: number; maxMs: number } | undefined;
  outcome: { tally: Record<string, number> } | undefined;
  healthMs: number | undefined;
  crashed: boolean;
  serverCounted: string[];
  errors: string[];
}
interface AbuseOutput {
  meta: { node: string; cpu: string; mode: string; date: string };
  batteries: Array<{ target: string; attacks: AttackResult[]; rssStart: number; rssEnd: number; healthyAtEnd: boolean; restarts: number }>;
  problems: string[];
}

let workDir: string;
let output: AbuseOutput;
let markdown: string;
let exitCode: number;
let stdout: string;

beforeAll(async () => {
  workDir = transpileBench('abuse-smoke-');
  const resultsDir = join(workDir, 'results');
  ({ exitCode, output: stdout } = await runScript(join(workDir, 'bench', 'abuse', 'run.js'), ['--tiny', '--only', ATTACKS.join(','), '--out', resultsDir, '--no-docs'], SMOKE_TIMEOUT_MS));
  try {
    output = JSON.parse(readFileSync(join(resultsDir, 'latest-abuse-tiny.json'), 'utf8')) as AbuseOutput;
    markdown = readFileSync(join(resultsDir, 'latest-abuse-tiny.md'), 'utf8');
  } catch (error) {
    throw new Error(`the battery wrote no results (exit ${exitCode}): ${String(error)}\n${stdout}`);
  }
}, SMOKE_TIMEOUT_MS + 60_000);

afterAll(() => {
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

describe('the abuse battery runs end to end on tiny settings, framecast and ws side by side', () => {
  it('exits 0, every measurement taken, and records the machine', () => {
    expect(output.problems, stdout).toEqual([]);
    expect(exitCode, stdout).toBe(0);
    expect(output.meta.node).toBe(process.version);
    expect(output.meta.cpu).not.toBe('');
    expect(output.meta.mode).toBe('tiny');
  });

  it('runs the baseline and the chosen attacks on both servers, in order, none crashing them', () => {
    expect(output.batteries.map((battery) => battery.target)).toEqual(['framecast', 'ws']);
    for (const battery of output.batteries) {
      expect(battery.attacks.map((result) => result.spec.name)).toEqual(['baseline', ...ATTACKS]);
      expect(battery.restarts).toBe(0);
      expect(battery.healthyAtEnd).toBe(true);
      for (const result of battery.attacks) {
        expect(result.crashed, `${battery.target} ${result.spec.name}`).toBe(false);
        expect(result.errors, `${battery.target} ${result.spec.name}`).toEqual([]);
      }
    }
  });

  it("every figure comes from real traffic: the neighbour's echoes, the server's RSS, each attacker's answer, the echo after", () => {
    for (const battery of output.batteries) {
      expect(battery.rssStart).toBeGreaterThan(0);
      for (const result of battery.attacks) {
        const label = `${battery.target} ${result.spec.name}`;
        expect(result.neighbour?.sent, label).toBeGreaterThan(0);
        expect(result.neighbour?.received, label).toBeGreaterThan(0);
        expect(result.neighbour?.p50Ms, label).toBeGreaterThan(0);
        expect(result.rss.before, label).toBeGreaterThan(0);
        expect(result.rss.peak, label).toBeGreaterThanOrEqual(result.rss.before);
        expect(result.healthMs, label).toBeGreaterThan(0);
        const answers = Object.values(result.outcome?.tally ?? {}).reduce((sum, count) => sum + count, 0);
        expect(answers, label).toBe(result.spec.connections);
      }
    }
  });

  it('the answers that do not depend on the sizes: 1009 for 2^62 bytes declared, 431 for 32 KiB of headers, on both', () => {
    for (const battery of output.batteries) {
      const byName = new Map(battery.attacks.map((result) => [result.spec.name, result]));
      expect(byName.get('huge-length')?.outcome?.tally, battery.target).toEqual({ 'close 1009': byName.get('huge-length')?.spec.connections });
      expect(byName.get('oversized-headers')?.outcome?.tally, battery.target).toEqual({ 'HTTP 431': byName.get('oversized-headers')?.spec.connections });
    }
    // framecast says what it did: its own counters moved.
    const framecast = output.batteries[0].attacks.find((result) => result.spec.name === 'huge-length');
    expect(framecast?.serverCounted.join(', ')).toContain('MESSAGE_TOO_BIG');
  });

  it('writes the Markdown table, a row per attack and server', () => {
    expect(markdown).toContain('| attack | server | neighbour p50 / p99 / max (ms)');
    expect(markdown.match(/\| framecast \|/g)).toHaveLength(ATTACKS.length + 1);
    expect(markdown.match(/\| ws \(permessage-deflate\) \|/g)).toHaveLength(ATTACKS.length + 1);
  });
});
