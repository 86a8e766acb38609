/**
 * Smoke test of the benchmark (bench/): it runs end to end on tiny settings and produces real
 * output. No timing is asserted: benchmarks are not tests. What is checked is that every
 * measurement happened, counted real traffic, and that fan-out lost and reordered nothing.
 *
 * The benchmark runs as JavaScript in separate processes, so the test transpiles src/ and
 * bench/ (no type check: `npm test` runs tsc already) into a private folder under
 * test-results/ (git-ignored, inside the repository so that node_modules resolves) and runs
 * the runner from there. dist/ is left alone.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScript, transpileBench } from '../helpers/transpile.js';

const SMOKE_TIMEOUT_MS = 120_000;

interface Summary {
  median: number;
  min: number;
  max: number;
}
interface TargetReport {
  target: string;
  value: Summary;
  serverCpu: Summary;
  serverUserCpu?: Summary;
  serverSystemCpu?: Summary;
  saturated?: boolean;
  rounds: number;
  errors: string[];
  loadgenCpu: Summary;
  lost?: number;
  reordered?: number;
  malformed?: number;
}
interface CaseReport {
  id: string;
  unit: string;
  targets: TargetReport[];
}
interface Measurement {
  caseId: string;
  target: string;
  sample?: { result: Record<string, number | string>; serverCpu: number; rssBeforeBytes?: number; rssAfterBytes?: number };
}
interface GoalReport {
  caseId: string;
  target?: string;
  versus: string;
  achieved?: Summary;
  met?: boolean;
}
interface BenchOutput {
  meta: { node: string; cpu: string; mode: string; rounds: number; date: string; notes: string[] };
  cases: CaseReport[];
  goals: GoalReport[];
  problems: string[];
  measurements: Measurement[];
}

let workDir: string;
let output: BenchOutput;
let exitCode: number;
let stdout: string;

beforeAll(async () => {
  workDir = transpileBench('bench-smoke-');
  const resultsDir = join(workDir, 'results');
  ({ exitCode, output: stdout } = await runScript(join(workDir, 'bench', 'run.js'), ['--tiny', '--out', resultsDir, '--no-svg', '--no-install'], SMOKE_TIMEOUT_MS));
  try {
    output = JSON.parse(readFileSync(join(resultsDir, 'latest-tiny.json'), 'utf8')) as BenchOutput;
  } catch (error) {
    throw new Error(`the benchmark wrote no JSON (exit ${exitCode}): ${String(error)}\n${stdout}`);
  }
}, SMOKE_TIMEOUT_MS + 60_000);

afterAll(() => {
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

function caseById(id: string): CaseReport {
  const found = output.cases.find((c) => c.id === id);
  if (found === undefined) throw new Error(`case ${id} missing from ${output.cases.map((c) => c.id).join(', ')}`);
  return found;
}

describe('the benchmark runs end to end on tiny settings', () => {
  it('exits 0 and reports no problem', () => {
    expect(output.problems, stdout).toEqual([]);
    expect(exitCode, stdout).toBe(0);
  });

  it('records the machine it ran on', () => {
    expect(output.meta.node).toBe(process.version);
    expect(output.meta.cpu).not.toBe('');
    expect(output.meta.mode).toBe('tiny');
    expect(Number.isNaN(Date.parse(output.meta.date))).toBe(false);
  });

  it('measures every target of every case once per round, with no error', () => {
    expect(output.cases.map((c) => c.id)).toEqual(['echo-small-2', 'fanout-5-push', 'fanout-5-chat', 'history-push', 'fanout-deflate-5-push', 'http-push', 'memory-20']);
    for (const c of output.cases) {
      for (const target of c.targets) {
        expect(target.errors, `${c.id} ${target.target}`).toEqual([]);
        expect(target.rounds, `${c.id} ${target.target}`).toBe(output.meta.rounds);
      }
    }
  });
});

describe('every figure comes from real traffic', () => {
  it('echo: messages came back from framecast, ws, the TCP floor, and Bun and uWS where the cache has them', () => {
    const echo = caseById('echo-small-2');
    // --no-install: Bun and uWS take part only when an earlier run installed them; else a
    // note says why each was skipped. Either way the table shows what happened.
    const native = [
      ['bun', 'Bun (Bun.serve) skipped: '],
      ['uws', 'uWebSockets.js skipped: '],
    ] as const;
    const present = native.filter(([target, note]) => {
      const skipped = output.meta.notes.some((line) => line.startsWith(note));
      expect(skipped, `${target}: measured and skipped both, or neither`).toBe(!echo.targets.some((t) => t.target === target));
      return !skipped;
    });
    expect(echo.targets.map((t) => t.target)).toEqual(['framecast', 'ws', ...present.map(([target]) => target), 'tcp-floor']);
    for (const target of echo.targets) expect(target.value.median, target.target).toBeGreaterThan(0);
    for (const m of output.measurements.filter((m) => m.caseId === 'echo-small-2')) {
      expect(m.sample?.result.messages, m.target).toBeGreaterThan(0);
      expect(m.sample?.result.p99Ms, m.target).toBeGreaterThan(0);
    }
  });

  it('fan-out: deliveries were counted, and no subscriber lost or reordered a message', () => {
    for (const id of ['fanout-5-push', 'fanout-5-chat', 'history-push']) {
      for (const target of caseById(id).targets) {
        expect(target.value.median, `${id} ${target.target}`).toBeGreaterThan(0);
        expect({ lost: target.lost, reordered: target.reordered, malformed: target.malformed }, `${id} ${target.target}`).toEqual({
          lost: 0,
          reordered: 0,
          malformed: 0,
        });
      }
      for (const m of output.measurements.filter((m) => m.caseId === id)) {
        const result = m.sample?.result ?? {};
        expect(result.published, `${id} ${m.target}`).toBeGreaterThan(0);
        expect(result.deliveries, `${id} ${m.target}`).toBeGreaterThan(0);
      }
    }
  });

  it('framecast.v1 fan-out: /pubsub subscribers got every publication as a pub push, the channel numbered each once', () => {
    for (const id of ['fanout-5-push', 'fanout-5-chat']) {
      expect(caseById(id).targets.map((t) => t.target), id).toEqual(['framecast', 'framecast-v1', 'ws']);
      const measured = output.measurements.filter((m) => m.caseId === id);
      const raw = measured.find((m) => m.target === 'framecast')?.sample?.result ?? {};
      const v1 = measured.find((m) => m.target === 'framecast-v1')?.sample?.result ?? {};
      expect(v1.deliveries, id).toBeGreaterThan(0);
      // The same 32-byte payloads, carried inside {"pub":{"channel":"fanout","offset":N,"text":"..."}}.
      expect(v1.payloadBytesPerDelivery, id).toBe(32);
      expect(raw.payloadBytesPerDelivery, id).toBe(32);
      expect(v1.wireBytesPerDelivery as number, id).toBeGreaterThan((raw.wireBytesPerDelivery as number) + '{"pub":{"channel":"fanout","offset":1,"text":""}}'.length - 1);
      // One sequence whoever publishes: the channel's latest offset is the number published.
      expect(v1.channelOffset, id).toBe(v1.published);
      expect(raw.channelOffset, id).toBeUndefined();
    }
  });

  it('history: the same publishing against framecast with its history and with --history-size 0', () => {
    const history = caseById('history-push');
    expect(history.targets.map((t) => t.target)).toEqual(['framecast', 'framecast-history-off']);
    const result = (target: string): Record<string, number | string> =>
      output.measurements.find((m) => m.caseId === 'history-push' && m.target === target)?.sample?.result ?? {};
    // The default history keeps the latest 100; the other server kept none, and numbered them all the same.
    expect(result('framecast').historyKept).toBe(Math.min(100, result('framecast').published as number));
    expect(result('framecast-history-off').historyKept).toBe(0);
    for (const target of ['framecast', 'framecast-history-off']) expect(result(target).channelOffset, target).toBe(result(target).published);
    const goal = output.goals.find((g) => g.caseId === 'history-push');
    expect(goal?.target ?? 'framecast').toBe('framecast');
    expect(goal?.versus).toBe('framecast-history-off');
    expect(goal?.achieved?.median).toBeGreaterThan(0);
  });

  it('compressed fan-out: framecast and ws with perMessageDeflate delivered every JSON message compressed, intact and in order', () => {
    const id = 'fanout-deflate-5-push';
    const compressed = caseById(id);
    expect(compressed.targets.map((t) => t.target)).toEqual(['framecast', 'ws-deflate']);
    for (const target of compressed.targets) {
      expect(target.value.median, target.target).toBeGreaterThan(0);
      expect({ lost: target.lost, reordered: target.reordered, malformed: target.malformed }, target.target).toEqual({
        lost: 0,
        reordered: 0,
        malformed: 0,
      });
    }
    for (const m of output.measurements.filter((m) => m.caseId === id)) {
      const result = m.sample?.result ?? {};
      expect(result.deliveries, m.target).toBeGreaterThan(0);
      // Every message is 1-4 KiB, at or above both servers' 1024-byte threshold: all compressed.
      expect(result.compressedDeliveries, m.target).toBe(result.deliveries);
      expect(result.payloadBytesPerDelivery, m.target).toBeGreaterThanOrEqual(1024);
      expect(result.payloadBytesPerDelivery, m.target).toBeLessThanOrEqual(4096);
      // JSON compresses: fewer bytes on the wire than the payload, frame headers included.
      expect(result.wireBytesPerDelivery, m.target).toBeGreaterThan(0);
      expect(result.wireBytesPerDelivery, m.target).toBeLessThan(result.payloadBytesPerDelivery as number);
      expect(m.sample?.serverCpu, m.target).toBeGreaterThan(0);
    }
  });

  it('HTTP push: 2xx answers were counted against framecast and the floor', () => {
    const push = caseById('http-push');
    expect(push.targets.map((t) => t.target)).toEqual(['framecast', 'http-floor']);
    for (const m of output.measurements.filter((m) => m.caseId === 'http-push')) {
      expect(m.sample?.result.requests, m.target).toBeGreaterThan(0);
      expect(m.sample?.result.non2xx, m.target).toBe(0);
    }
  });

  it('memory: every idle connection opened and the server RSS was read before and after', () => {
    for (const m of output.measurements.filter((m) => m.caseId === 'memory-20')) {
      expect(m.sample?.result.connections, m.target).toBe(20);
      expect(m.sample?.rssBeforeBytes, m.target).toBeGreaterThan(0);
      expect(m.sample?.rssAfterBytes, m.target).toBeGreaterThan(0);
    }
  });

  it('reports the load generator CPU beside every figure', () => {
    for (const c of output.cases) {
      for (const target of c.targets) expect(target.loadgenCpu.median, `${c.id} ${target.target}`).toBeGreaterThan(0);
    }
  });

  it("reports the server's CPU, user and system apart, and whether it was saturated, beside every throughput figure", () => {
    for (const c of output.cases.filter((c) => !c.id.startsWith('memory'))) {
      for (const target of c.targets) {
        const label = `${c.id} ${target.target}`;
        expect(target.serverCpu.median, label).toBeGreaterThan(0);
        const user = target.serverUserCpu!;
        const system = target.serverSystemCpu!;
        expect(user.min, label).toBeGreaterThanOrEqual(0);
        expect(system.min, label).toBeGreaterThanOrEqual(0);
        // Each round's total is its user plus its system time; medians need not add up (they are
        // of different rounds), but the total's lies between the sums of the extremes.
        const SLACK = 1e-9;
        expect(target.serverCpu.median, label).toBeGreaterThanOrEqual(user.min + system.min - SLACK);
        expect(target.serverCpu.median, label).toBeLessThanOrEqual(user.max + system.max + SLACK);
        // Saturated exactly when the server used at least 90% of its core.
        expect(target.saturated, label).toBe(target.serverCpu.median >= 0.9);
      }
    }
    const markdown = readFileSync(join(workDir, 'results', 'latest-tiny.md'), 'utf8');
    expect(markdown).toContain('| saturated |');
    // Tiny loads leave the servers idle most of the time: those rows are marked as lower bounds.
    if (output.cases.some((c) => c.targets.some((t) => t.saturated === false))) expect(markdown).toContain('no: lower bound');
  });
});
