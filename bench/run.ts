/**
 * The benchmark runner: `npm run bench` (quick pass), `npm run bench -- --full`.
 *
 * For every round, every case, every target (the order rotated each round, so that no target
 * is always first): start the target's server pinned to one core, start the load generator
 * pinned to the other, hand it the job, sample the server's CPU time over the window the load
 * generator measures, stop both. Then the tables (medians, min-max, ratios to plain ws from
 * the same round), the goals, JSON in bench/results/, and with --full (or --svg) an SVG chart.
 *
 * Options: --full | --tiny, --rounds N, --only ID[,ID] (cases whose id starts so),
 * --targets NAME[,NAME] (framecast, framecast-v1, framecast-history-off, ws, ws-addons, ws-deflate,
 * tcp-floor, http-floor, framecast-baseline: see bench/servers.ts),
 * --out DIR (default bench/results), --svg FILE, --no-svg, --no-pin.
 * Exits 1 when a measurement failed or a fan-out subscriber lost or reordered a message.
 * BENCH_SERVER_NODE_FLAGS='--cpu-prof --cpu-prof-dir=DIR' profiles the servers under test.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Job, JobResult, LoadgenMessage, RunnerMessage } from './jobs.js';
import { BUN, ensurePackages, type PackageSet, UWS, WS_ADDONS } from './on-demand-packages.js';
import { type Case, goalTarget, type JobSpec, makePlan, type Mode, type Sample } from './plan.js';
import { buildReports, evaluateGoals, goalLines, markdownTables, type Measurement, svgChart, textTables } from './report.js';
import {
  BUILD_ROOT,
  captureOutput,
  freePort,
  HOST,
  inspectMachine,
  LOADGEN_SCRIPT,
  type Machine,
  processCpuTimes,
  processRssBytes,
  SERVER_NODE_FLAGS,
  spawnNode,
  stopChild,
  TARGETS,
  type TargetName,
  waitForPort,
} from './servers.js';

/** The repository root: dist/ sits in it. */
const REPO_ROOT = join(BUILD_ROOT, '..');
/** No single measurement may take longer than this, whatever happens. */
const MEASUREMENT_TIMEOUT_MS = 120_000;
/** Let the server settle before and after opening idle connections, before reading its RSS. */
const MEMORY_SETTLE_MS = 1_000;
const SERVER_SETTLE_MS = 200;

interface Options {
  mode: Mode;
  rounds?: number;
  only?: string[];
  targets?: string[];
  outDir: string;
  svg: string | undefined;
  pin: boolean;
  /** Install missing on-demand packages (off: skip their references, as offline). */
  install: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { mode: 'quick', outDir: join(REPO_ROOT, 'bench/results'), svg: undefined, pin: true, install: true };
  let svgWanted: boolean | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--full') options.mode = 'full';
    else if (arg === '--tiny') options.mode = 'tiny';
    else if (arg === '--quick') options.mode = 'quick';
    else if (arg === '--rounds') options.rounds = Number(value());
    else if (arg === '--only') options.only = value().split(',');
    else if (arg === '--targets') options.targets = value().split(',');
    else if (arg === '--out') options.outDir = value();
    else if (arg === '--svg') options.svg = value();
    else if (arg === '--no-svg') svgWanted = false;
    else if (arg === '--no-pin') options.pin = false;
    else if (arg === '--no-install') options.install = false;
    else throw new Error(`unknown option ${arg}`);
  }
  if (options.rounds !== undefined && !(Number.isInteger(options.rounds) && options.rounds >= 1 && options.rounds <= 20)) {
    throw new Error('--rounds must be 1-20');
  }
  // The full run draws the chart that bench/README.md shows, unless told otherwise.
  if (options.svg === undefined && options.mode === 'full' && svgWanted !== false) options.svg = join(REPO_ROOT, 'bench/chart.svg');
  if (svgWanted === false) options.svg = undefined;
  return options;
}

/** The job for one target: its address, and what the target changes (raw TCP for the TCP floor, /pubsub subscribers for framecast-v1). */
function jobFor(spec: JobSpec, target: TargetName, port: number): Job {
  const job = { ...spec, host: HOST, port } as Job;
  return TARGETS[target].adapt?.(job) ?? job;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One measurement: a fresh server, a fresh load generator, one job. */
async function measure(machine: Machine, spec: Case, target: TargetName): Promise<Sample> {
  const port = await freePort();
  const serverSpec = TARGETS[target];
  const runtime = serverSpec.runtime === undefined ? process.execPath : serverSpec.runtime();
  if (runtime === undefined) throw new Error(`${serverSpec.label}: its runtime is not installed`);
  const server = spawnNode(machine, machine.cores?.[0], serverSpec.script, serverSpec.args(port), serverSpec.env, false, SERVER_NODE_FLAGS, runtime);
  const serverOutput = captureOutput(server);
  let loadgen: ChildProcess | undefined;
  try {
    try {
      await waitForPort(port, server);
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}; server said: ${serverOutput().trim()}`);
    }
    await sleep(SERVER_SETTLE_MS);
    const pid = server.pid as number;
    const rssBeforeBytes = processRssBytes(pid);
    const child = spawnNode(machine, machine.cores?.[1], LOADGEN_SCRIPT, [], process.env, true);
    loadgen = child;
    const loadgenOutput = captureOutput(child);
    return await new Promise<Sample>((resolve, reject) => {
      let cpuStart = { user: Number.NaN, system: Number.NaN };
      let cpuEnd = { user: Number.NaN, system: Number.NaN };
      let wallStart = 0;
      let wallEnd = 0;
      let rssAfterBytes: number | undefined;
      let settled = false;
      const timer = setTimeout(() => done(new Error(`no result within ${MEASUREMENT_TIMEOUT_MS} ms`)), MEASUREMENT_TIMEOUT_MS);
      function done(error: Error | undefined, result?: JobResult): void {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error !== undefined || result === undefined) return reject(error);
        const wallSeconds = (wallEnd - wallStart) / 1000;
        const serverUserCpu = (cpuEnd.user - cpuStart.user) / wallSeconds;
        const serverSystemCpu = (cpuEnd.system - cpuStart.system) / wallSeconds;
        resolve({ result, serverCpu: serverUserCpu + serverSystemCpu, serverUserCpu, serverSystemCpu, ...(result.kind === 'memory' ? { rssBeforeBytes, rssAfterBytes } : {}) });
      }
      child.on('message', (message: LoadgenMessage) => {
        switch (message.type) {
          case 'measure-start':
            cpuStart = processCpuTimes(pid, machine.clockTicks);
            wallStart = performance.now();
            return;
          case 'measure-end':
            cpuEnd = processCpuTimes(pid, machine.clockTicks);
            wallEnd = performance.now();
            return;
          case 'opened':
            void sleep(MEMORY_SETTLE_MS).then(() => {
              rssAfterBytes = processRssBytes(pid);
              child.send({ type: 'release' } satisfies RunnerMessage);
            });
            return;
          case 'result':
            return done(undefined, message.result);
          case 'error':
            return done(new Error(`load generator: ${message.message.split('\n').slice(0, 3).join(' | ')}`));
        }
      });
      child.once('exit', (code, signal) =>
        setImmediate(() => done(new Error(`load generator exited (${code ?? signal}) without a result: ${loadgenOutput().trim()}`))),
      );
      child.send({ type: 'job', job: jobFor(spec.job, target, port) } satisfies RunnerMessage);
    });
  } finally {
    if (loadgen !== undefined) await stopChild(loadgen);
    await stopChild(server);
  }
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const machine = inspectMachine(options.pin);
  const plan = makePlan(options.mode, options.rounds);
  const notes: string[] = [];
  if (options.targets !== undefined) {
    const wanted = options.targets;
    for (const c of plan.cases) {
      c.targets = c.targets.filter((t) => wanted.includes(t));
      // The baseline build goes beside framecast wherever framecast is measured.
      if (wanted.includes('framecast-baseline') && c.targets.includes('framecast')) c.targets.splice(1, 0, 'framecast-baseline');
    }
  }
  if (options.only !== undefined) plan.cases = plan.cases.filter((c) => options.only?.some((prefix) => c.id.startsWith(prefix)));
  // ws's native addons are not among the project's packages: installed into a cache the first
  // time a measurement needs them, and that reference skipped, saying why, when they can't be.
  // So are Bun and uWebSockets.js.
  const onDemand: [TargetName, PackageSet][] = [
    ['ws-addons', WS_ADDONS],
    ['bun', BUN],
    ['uws', UWS],
  ];
  for (const [target, set] of onDemand) {
    if (!plan.cases.some((c) => c.targets.includes(target))) continue;
    const ready = ensurePackages(set, console.log, { install: options.install });
    if (!ready.ready) {
      notes.push(`${TARGETS[target].label} skipped: ${ready.problem}`);
      for (const c of plan.cases) c.targets = c.targets.filter((t) => t !== target);
    }
  }
  plan.goals = plan.goals.filter((goal) => plan.cases.some((c) => c.id === goal.caseId && c.targets.includes(goalTarget(goal)) && c.targets.includes(goal.versus)));
  if (machine.cores === undefined) notes.push('processes not pinned (no taskset, fewer than 2 cores, or --no-pin)');

  const started = new Date();
  const meta = {
    date: started.toISOString(),
    node: process.version,
    cpu: machine.cpuModel,
    cores: machine.cpuCount,
    pinned: machine.cores === undefined ? null : { server: machine.cores[0], loadgen: machine.cores[1] },
    mode: plan.mode,
    rounds: plan.rounds,
    notes,
  };
  const total = plan.rounds * plan.cases.reduce((sum, c) => sum + c.targets.length, 0);
  console.log(`framecast bench, ${plan.mode} pass: ${plan.cases.length} cases, ${plan.rounds} rounds, ${total} measurements`);
  console.log(`node ${meta.node}, ${meta.cpu}, ${machine.cpuCount} cores; ${meta.pinned ? `server on core ${meta.pinned.server}, load generator on core ${meta.pinned.loadgen}` : 'not pinned'}`);
  for (const note of notes) console.log(`note: ${note}`);

  const measurements: Measurement[] = [];
  let count = 0;
  for (let round = 1; round <= plan.rounds; round++) {
    for (const spec of plan.cases) {
      for (const target of rotate(spec.targets, round - 1)) {
        count++;
        const label = `[${count}/${total}] round ${round} ${spec.id} ${target}`;
        try {
          const sample = await measure(machine, spec, target);
          measurements.push({ caseId: spec.id, target, round, sample });
          console.log(`${label}: ${spec.value(sample).toFixed(1)} ${spec.unit} (loadgen CPU ${Math.round(sample.result.loadgenCpu * 100)}%)`);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          measurements.push({ caseId: spec.id, target, round, error: message });
          console.log(`${label}: FAILED: ${message}`);
        }
      }
    }
  }

  const reports = buildReports(plan, measurements);
  const goals = evaluateGoals(plan.goals, reports);
  console.log(textTables(reports));
  if (goals.length > 0) console.log(`\nGoals (ratio in the same round, median over rounds):\n${goalLines(goals)}`);

  const problems: string[] = [];
  for (const report of reports) {
    for (const t of report.targets) {
      for (const error of t.errors) problems.push(`${report.id} ${t.target} ${error}`);
      if ((t.lost ?? 0) > 0 || (t.reordered ?? 0) > 0 || (t.malformed ?? 0) > 0) {
        problems.push(`${report.id} ${t.target}: lost ${t.lost}, reordered ${t.reordered}, malformed ${t.malformed}: must all be 0`);
      }
      // A compressed fan-out that received nothing compressed measured the wrong thing.
      const job = plan.cases.find((c) => c.id === report.id)?.job;
      if (job?.kind === 'fanout' && job.deflate === true && t.rounds > 0 && t.compressedDeliveries === 0) {
        problems.push(`${report.id} ${t.target}: no message arrived compressed (permessage-deflate not in use)`);
      }
    }
  }

  mkdirSync(options.outDir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const json = JSON.stringify({ meta, cases: reports, goals, problems, measurements }, null, 2) + '\n';
  const jsonPath = join(options.outDir, `bench-${plan.mode}-${stamp}.json`);
  writeFileSync(jsonPath, json);
  writeFileSync(join(options.outDir, `latest-${plan.mode}.json`), json);
  const subtitle = `${meta.date.slice(0, 10)}, Node ${meta.node}, ${meta.cpu}, ${plan.mode} pass, ${plan.rounds} rounds`;
  writeFileSync(join(options.outDir, `latest-${plan.mode}.md`), `${subtitle}\n\n${markdownTables(reports, goals)}`);
  console.log(`\nJSON: ${relative(process.cwd(), jsonPath)}; Markdown: ${relative(process.cwd(), join(options.outDir, `latest-${plan.mode}.md`))}`);
  if (options.svg !== undefined) {
    writeFileSync(options.svg, svgChart(reports, goals, subtitle));
    console.log(`chart: ${relative(process.cwd(), options.svg)}`);
  }

  if (problems.length > 0) {
    console.error(`\n*** BENCHMARK FAILED: ${problems.length} problem(s) ***`);
    for (const problem of problems) console.error(`  - ${problem}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  },
);
