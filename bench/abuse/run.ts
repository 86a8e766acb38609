/**
 * The abuse battery: `npm run bench:abuse` (quick pass), `npm run bench:abuse -- --full`.
 *
 * Hostile peers against framecast and against the ws reference server, in the same run, one
 * attack at a time (plan.ts): for each server a fresh process (pinned to one core when taskset
 * exists) takes every attack in turn. Around each attack: a quiet moment, then the neighbour (a
 * `ws` client echoing 32 bytes every 20 ms, a process of its own) starts, then the attacker
 * process (pinned to the other core) attacks and reports what its connections got; the
 * neighbour goes on a while after. Meanwhile the server's RSS is sampled from /proc every 50 ms.
 * Then a fresh connection checks that the server still echoes. A server that crashes is
 * restarted for the attacks left, and the crash is reported.
 *
 * Options: --full | --quick | --tiny, --only NAME[,NAME] (attacks, see plan.ts; the baseline
 * always runs), --targets framecast,ws, --out DIR (default bench/results), --docs FILE (where
 * the table goes; default docs/reliability.md for complete quick and full runs), --no-docs,
 * --no-pin. Exits 1 when a measurement could not be taken (not when a goal is missed: those are
 * reported).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import WebSocket from 'ws';
import {
  BUILD_ROOT,
  captureOutput,
  freePort,
  HOST,
  inspectMachine,
  type Machine,
  processRssBytes,
  spawnNode,
  stopChild,
  TARGETS,
  waitForPort,
} from '../servers.js';
import {
  type AttackerCommand,
  type AttackerMessage,
  type AttackOutcome,
  type AttackSpec,
  FRAMECAST_HEARTBEAT_SECONDS,
  Goals,
  makePlan,
  type Mode,
  type NeighbourCommand,
  type NeighbourMessage,
  type NeighbourReport,
  TIMING,
  type Timing,
} from './plan.js';
import { type AttackResult, type BatteryResult, markdownTable, missedBatteryGoals, missedGoals, textTable } from './report.js';

const REPO_ROOT = join(BUILD_ROOT, '..');
const ATTACKER_SCRIPT = join(BUILD_ROOT, 'bench/abuse/attacker.js');
const NEIGHBOUR_SCRIPT = join(BUILD_ROOT, 'bench/abuse/neighbour.js');
const DOCS_FILE = join(REPO_ROOT, 'docs/reliability.md');
/** The markers of a mode's section in the docs page: each mode keeps its latest complete run. */
const tableStart = (mode: Mode): string => `<!-- bench:abuse ${mode} table: start -->`;
const tableEnd = (mode: Mode): string => `<!-- bench:abuse ${mode} table: end -->`;
const RSS_SAMPLE_MS = 50;
/** Longer than this past its window, an attacker is stopped and the attack reported as failed. */
const ATTACK_GRACE_MS = 30_000;
const CHILD_READY_MS = 15_000;
const HEALTH_TIMEOUT_MS = 3_000;
const REST_SAMPLE_MS = 500;

interface ServerTarget {
  name: 'framecast' | 'ws';
  label: string;
  script: string;
  args: (port: number) => string[];
  env: NodeJS.ProcessEnv;
}

/**
 * framecast with its defaults (permessage-deflate on, 16 MiB messages, 4 MiB send buffer, 10 s
 * for the request headers) but a shorter heartbeat (see FRAMECAST_HEARTBEAT_SECONDS); ws as
 * the other benchmarks run it, with permessage-deflate on too (ws's defaults otherwise), so that
 * the decompression bomb meets an inflater on both.
 */
const SERVERS: readonly ServerTarget[] = [
  {
    name: 'framecast',
    label: 'framecast',
    script: TARGETS.framecast.script,
    args: (port) => ['--port', String(port), '--host', HOST, '--log-level', 'warn', '--heartbeat', String(FRAMECAST_HEARTBEAT_SECONDS)],
    env: TARGETS.framecast.env,
  },
  { name: 'ws', label: 'ws (permessage-deflate)', script: TARGETS['ws-deflate'].script, args: TARGETS['ws-deflate'].args, env: TARGETS['ws-deflate'].env },
];

interface Options {
  mode: Mode;
  only: string[] | undefined;
  targets: string[] | undefined;
  outDir: string;
  docs: string | undefined | false;
  pin: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { mode: 'quick', only: undefined, targets: undefined, outDir: join(REPO_ROOT, 'bench/results'), docs: undefined, pin: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--full') options.mode = 'full';
    else if (arg === '--quick') options.mode = 'quick';
    else if (arg === '--tiny') options.mode = 'tiny';
    else if (arg === '--only') options.only = value().split(',');
    else if (arg === '--targets') options.targets = value().split(',');
    else if (arg === '--out') options.outDir = value();
    else if (arg === '--docs') options.docs = value();
    else if (arg === '--no-docs') options.docs = false;
    else if (arg === '--no-pin') options.pin = false;
    else throw new Error(`unknown option ${arg}`);
  }
  return options;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The next message from `child` that `accept` takes (returns a value for), within `timeoutMs`;
 * rejects when `accept` returns an Error, or the child exits first.
 */
function nextMessage<T, R>(child: ChildProcess, accept: (message: T) => R | Error | undefined, timeoutMs: number, what: string): Promise<R> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (message: T): void => {
      const value = accept(message);
      if (value instanceof Error) done(value);
      else if (value !== undefined) done(undefined, value);
    };
    const onExit = (code: number | null, signal: string | null): void => done(new Error(`exited (${code ?? signal}) before its ${what}`));
    function done(error: Error | undefined, value?: R): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error !== undefined) reject(error);
      else resolve(value as R);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** A running server process. */
interface RunningServer {
  child: ChildProcess;
  pid: number;
  port: number;
  output: () => string;
}

async function startServer(machine: Machine, target: ServerTarget): Promise<RunningServer> {
  const port = await freePort();
  const child = spawnNode(machine, machine.cores?.[0], target.script, target.args(port), target.env, false);
  const output = captureOutput(child);
  try {
    await waitForPort(port, child);
  } catch (error) {
    await stopChild(child);
    throw new Error(`${error instanceof Error ? error.message : String(error)}; server said: ${output().trim()}`);
  }
  return { child, pid: child.pid as number, port, output };
}

const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

/** The machine's 1-minute load average: a busy machine's other work shows in every figure. */
function loadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return Number.NaN;
  }
}

/** A fresh `ws` client sends one message and waits for its echo: the round trip in ms, or undefined. */
function healthProbe(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const started = performance.now();
    const client = new WebSocket(`ws://${HOST}:${port}/ws`, { perMessageDeflate: false });
    const finish = (value: number | undefined): void => {
      clearTimeout(timer);
      client.terminate();
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), HEALTH_TIMEOUT_MS);
    client.once('open', () => client.send('are you well?'));
    client.once('message', (data: Buffer) => finish(data.toString() === 'are you well?' ? performance.now() - started : undefined));
    client.once('error', () => finish(undefined));
  });
}

/** framecast's own counters (GET /metrics), for what it says it did during an attack. */
async function framecastCounters(port: number): Promise<Map<string, number>> {
  const counters = new Map<string, number>();
  try {
    const response = await fetch(`http://${HOST}:${port}/metrics`);
    for (const line of (await response.text()).split('\n')) {
      const match = /^framecast_(closes_total|slow_consumers_dropped_total|protocol_errors_total|handshakes_rejected_total)(\{[^}]*\})? (\d+)$/.exec(line);
      if (match !== null) counters.set(`${match[1].replace(/_total$/, '').replace(/_/g, ' ')}${match[2] ?? ''}`, Number(match[3]));
    }
  } catch {
    // No counters: reported as none.
  }
  return counters;
}

function counterChanges(before: Map<string, number>, after: Map<string, number>): string[] {
  const changes: string[] = [];
  for (const [name, value] of after) {
    const delta = value - (before.get(name) ?? 0);
    if (delta > 0) changes.push(`${name.replace(/\{\w+="([^"]*)"\}/, ' $1')}: ${delta}`);
  }
  return changes;
}

/** One attack on `server`, with the neighbour beside it. */
async function runAttack(machine: Machine, target: ServerTarget, server: RunningServer, neighbour: ChildProcess, spec: AttackSpec, timing: Timing): Promise<AttackResult> {
  const errors: string[] = [];
  const attacker = spawnNode(machine, machine.cores?.[1], ATTACKER_SCRIPT, [], process.env, true);
  const attackerOutput = captureOutput(attacker);
  let outcome: AttackOutcome | undefined;
  let report: NeighbourReport | undefined;
  const rss = { before: Number.NaN, peak: Number.NaN, after: Number.NaN };
  let sampler: NodeJS.Timeout | undefined;
  try {
    await nextMessage<AttackerMessage, true>(attacker, (message) => (message.type === 'ready' ? true : undefined), CHILD_READY_MS, 'ready from the attacker');
    await sleep(timing.settleMs);
    const countersBefore = target.name === 'framecast' ? await framecastCounters(server.port) : new Map<string, number>();
    rss.before = rss.peak = processRssBytes(server.pid);
    sampler = setInterval(() => {
      const now = processRssBytes(server.pid);
      if (now > rss.peak) rss.peak = now;
    }, RSS_SAMPLE_MS);

    neighbour.send({ type: 'start', url: `ws://${HOST}:${server.port}/ws` } satisfies NeighbourCommand);
    await nextMessage<NeighbourMessage, true>(
      neighbour,
      (message) => (message.type === 'error' ? new Error(message.message) : message.type === 'started' ? true : undefined),
      CHILD_READY_MS,
      'start of the neighbour',
    );
    await sleep(timing.leadMs);

    attacker.send({ type: 'attack', spec, host: HOST, port: server.port } satisfies AttackerCommand);
    try {
      outcome = await nextMessage<AttackerMessage, AttackOutcome>(
        attacker,
        (message) =>
          message.type === 'error'
            ? new Error(`attacker: ${message.message.split('\n').slice(0, 3).join(' | ')}`)
            : message.type === 'outcome'
              ? message.outcome
              : undefined,
        spec.windowMs + ATTACK_GRACE_MS,
        'outcome from the attacker',
      );
    } catch (error) {
      errors.push(`${error instanceof Error ? error.message : String(error)} ${attackerOutput().trim()}`.trim());
    }
    await sleep(timing.afterMs);
    rss.after = processRssBytes(server.pid);
    // Read before the neighbour and the health check close their connections, which would count too.
    const countersAfter = target.name === 'framecast' && !exited(server.child) ? await framecastCounters(server.port) : undefined;
    neighbour.send({ type: 'stop', lossWaitMs: timing.lossWaitMs } satisfies NeighbourCommand);
    report = await nextMessage<NeighbourMessage, NeighbourReport>(
      neighbour,
      (message) => (message.type === 'report' ? message.report : undefined),
      timing.lossWaitMs + CHILD_READY_MS,
      "neighbour's report",
    );
    clearInterval(sampler);
    const crashed = exited(server.child);
    const healthMs = crashed ? undefined : await healthProbe(server.port);
    const serverCounted = countersAfter === undefined ? [] : counterChanges(countersBefore, countersAfter);
    return { spec, target: target.name, rss, neighbour: report, outcome, healthMs, crashed, serverCounted, load: loadAverage(), errors };
  } catch (error) {
    errors.push(error instanceof Error ? error.message : String(error));
    return { spec, target: target.name, rss, neighbour: report, outcome, healthMs: undefined, crashed: exited(server.child), serverCounted: [], load: loadAverage(), errors };
  } finally {
    if (sampler !== undefined) clearInterval(sampler);
    await stopChild(attacker);
  }
}

/** Every attack of `plan` on one server, in order. */
async function runBattery(machine: Machine, target: ServerTarget, plan: readonly AttackSpec[], timing: Timing): Promise<BatteryResult> {
  let server = await startServer(machine, target);
  const neighbour = spawnNode(machine, undefined, NEIGHBOUR_SCRIPT, [], process.env, true);
  captureOutput(neighbour);
  const attacks: AttackResult[] = [];
  let restarts = 0;
  try {
    await sleep(timing.settleMs);
    const rssStart = processRssBytes(server.pid);
    for (const spec of plan) {
      if (exited(server.child)) {
        restarts++;
        console.log(`  ${target.label} had exited (${server.output().trim().split('\n').slice(-3).join(' | ')}): restarting it`);
        server = await startServer(machine, target);
      }
      process.stdout.write(`  ${target.label}: ${spec.title} ... `);
      const result = await runAttack(machine, target, server, neighbour, spec, timing);
      attacks.push(result);
      const missed = missedGoals(result);
      const n = result.neighbour;
      console.log(
        `neighbour ${n === undefined ? '-' : `${n.p50Ms.toFixed(2)}/${n.p99Ms.toFixed(1)}/${n.maxMs.toFixed(0)} ms, lost ${n.lost}`}; ` +
          `RSS ${(result.rss.before / 2 ** 20).toFixed(0)}->${(result.rss.peak / 2 ** 20).toFixed(0)}->${(result.rss.after / 2 ** 20).toFixed(0)} MiB; ` +
          `${result.crashed ? 'CRASHED' : JSON.stringify(result.outcome?.tally ?? {})}${result.serverCounted.length > 0 ? `; counted ${result.serverCounted.join(', ')}` : ''}` +
          `${target.name === 'framecast' && missed.length > 0 ? `; missed: ${missed.join('; ')}` : ''}`,
      );
    }
    await sleep(timing.afterMs);
    const rssEnd = exited(server.child) ? Number.NaN : processRssBytes(server.pid);
    const healthyAtEnd = !exited(server.child) && (await healthProbe(server.port)) !== undefined;
    // Idle now: watch the RSS come back, until it is within the goal or the rest is over.
    const restStarted = Date.now();
    let rssRested = rssEnd;
    let restedAfterMs = 0;
    while (Date.now() - restStarted < timing.restMs && !exited(server.child) && rssRested - rssStart > Goals.rssGrowthMiB * 2 ** 20) {
      await sleep(REST_SAMPLE_MS);
      const now = processRssBytes(server.pid);
      if (now < rssRested) {
        rssRested = now;
        restedAfterMs = Date.now() - restStarted;
      }
    }
    return { target: target.name, label: target.label, attacks, rssStart, rssEnd, rssRested, restedAfterMs, healthyAtEnd, restarts };
  } finally {
    neighbour.disconnect();
    await stopChild(neighbour);
    await stopChild(server.child);
  }
}

/** Puts `table` between the markers of `mode`'s section of the docs page, keeping everything else. */
function writeDocsTable(file: string, mode: Mode, table: string): void {
  const page = readFileSync(file, 'utf8');
  const startMarker = tableStart(mode);
  const start = page.indexOf(startMarker);
  const end = page.indexOf(tableEnd(mode));
  if (start === -1 || end < start) throw new Error(`${file} has no ${startMarker} ... ${tableEnd(mode)} section`);
  writeFileSync(file, `${page.slice(0, start + startMarker.length)}\n${table}\n${page.slice(end)}`);
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const machine = inspectMachine(options.pin);
  const timing = TIMING[options.mode];
  const fullPlan = makePlan(options.mode);
  const plan = options.only === undefined ? fullPlan : fullPlan.filter((spec) => spec.name === 'baseline' || options.only?.includes(spec.name));
  const servers = options.targets === undefined ? SERVERS : SERVERS.filter((server) => options.targets?.includes(server.name));
  if (plan.length === 0 || servers.length === 0) throw new Error('nothing to run: check --only and --targets');
  const started = new Date();
  const meta = { date: started.toISOString(), node: process.version, cpu: machine.cpuModel, cores: machine.cpuCount, mode: options.mode, pinned: machine.cores !== undefined };
  console.log(`framecast abuse battery, ${options.mode} pass: ${plan.length} attacks x ${servers.length} servers`);
  console.log(`node ${meta.node}, ${meta.cpu}, ${meta.cores} cores; ${machine.cores ? `server on core ${machine.cores[0]}, attacker on core ${machine.cores[1]}, neighbour unpinned` : 'not pinned'}`);

  const batteries: BatteryResult[] = [];
  for (const server of servers) {
    console.log(`${server.label}:`);
    batteries.push(await runBattery(machine, server, plan, timing));
  }

  console.log(`\n${textTable(batteries)}`);
  for (const battery of batteries) {
    const missed = missedBatteryGoals(battery);
    console.log(`${battery.label}: RSS ${(battery.rssStart / 2 ** 20).toFixed(0)} MiB at the start, ${(battery.rssEnd / 2 ** 20).toFixed(0)} MiB at the end, ${(battery.rssRested / 2 ** 20).toFixed(0)} MiB ${(battery.restedAfterMs / 1000).toFixed(0)} s later; ${missed.length === 0 ? 'met' : `missed: ${missed.join('; ')}`}`);
  }
  const problems = batteries.flatMap((battery) => battery.attacks.flatMap((result) => result.errors.map((error) => `${battery.label} ${result.spec.name}: ${error}`)));

  const subtitle = `${meta.date.slice(0, 10)}, Node ${meta.node}, ${meta.cpu} (${meta.cores} cores${meta.pinned ? '; server and attacker pinned to one core each' : ''}), ${options.mode} pass`;
  const markdown = `${subtitle}\n\n${markdownTable(batteries)}`;
  mkdirSync(options.outDir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const json = JSON.stringify({ meta, batteries, problems }, null, 2) + '\n';
  const jsonPath = join(options.outDir, `abuse-${options.mode}-${stamp}.json`);
  writeFileSync(jsonPath, json);
  writeFileSync(join(options.outDir, `latest-abuse-${options.mode}.json`), json);
  writeFileSync(join(options.outDir, `latest-abuse-${options.mode}.md`), markdown);
  console.log(`\nJSON: ${relative(process.cwd(), jsonPath)}; Markdown: ${relative(process.cwd(), join(options.outDir, `latest-abuse-${options.mode}.md`))}`);

  // The docs keep the latest complete run of the battery: every attack on both servers.
  const complete = plan.length === fullPlan.length && servers.length === SERVERS.length && options.mode !== 'tiny';
  const docs = options.docs === undefined ? (complete ? DOCS_FILE : undefined) : options.docs;
  if (docs !== undefined && docs !== false && existsSync(docs)) {
    writeDocsTable(docs, options.mode, markdown);
    console.log(`table written to ${relative(process.cwd(), docs)}`);
  }

  if (problems.length > 0) {
    console.error(`\n*** ${problems.length} measurement(s) failed ***`);
    for (const problem of problems) console.error(`  - ${problem}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench:abuse: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  },
);
