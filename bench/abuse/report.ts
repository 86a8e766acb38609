/**
 * The abuse battery's results: what one attack on one server measured, the goals of issue 20
 * judged on it, and the tables (text for the console, Markdown for docs/reliability.md).
 */
import { type AttackOutcome, type AttackSpec, Goals, type NeighbourReport } from './plan.js';

const MIB = 1024 * 1024;

/** One attack on one server. */
export interface AttackResult {
  spec: AttackSpec;
  target: string;
  /** Server RSS (bytes) when the attack started, its peak while it ran (until `after`), and at the end of the wait after it. */
  rss: { before: number; peak: number; after: number };
  neighbour: NeighbourReport | undefined;
  outcome: AttackOutcome | undefined;
  /** A fresh connection's echo after the attack: round trip in ms, or undefined when none came. */
  healthMs: number | undefined;
  /** The server process exited during the attack. */
  crashed: boolean;
  /** What framecast counted meanwhile (its /metrics), e.g. `closes 1008: 50`; empty for ws. */
  serverCounted: string[];
  /** The machine's 1-minute load average at the end of the attack (/proc/loadavg): other work on it shows here. */
  load: number;
  /** Why part of the measurement is missing. */
  errors: string[];
}

/** One server's whole battery. */
export interface BatteryResult {
  target: string;
  label: string;
  attacks: AttackResult[];
  /** RSS (bytes) before the first attack and after the last one, and whether the server still answered then. */
  rssStart: number;
  /** RSS right after the last attack, and the lowest while the idle server was then watched (`Timing.restMs`, less once back within the goal), and when. */
  rssEnd: number;
  rssRested: number;
  restedAfterMs: number;
  healthyAtEnd: boolean;
  restarts: number;
}

/** The goals one attack's result misses (an empty list: all met). */
export function missedGoals(result: AttackResult): string[] {
  const missed: string[] = [...result.errors];
  if (result.crashed) missed.push('the server crashed');
  const neighbour = result.neighbour;
  if (neighbour !== undefined) {
    if (neighbour.p99Ms >= Goals.p99Ms) missed.push(`neighbour p99 ${neighbour.p99Ms.toFixed(0)} ms >= ${Goals.p99Ms}`);
    if (neighbour.maxMs > Goals.maxMs) missed.push(`a stall of ${neighbour.maxMs.toFixed(0)} ms > ${Goals.maxMs}`);
    if (neighbour.lost > 0) missed.push(`${neighbour.lost} neighbour messages lost`);
    if (neighbour.closedWith !== undefined) missed.push(`the neighbour was closed (${neighbour.closedWith})`);
  }
  const growth = (result.rss.peak - result.rss.before) / MIB;
  if (growth > Goals.rssGrowthMiB) missed.push(`RSS peak ${growth.toFixed(0)} MiB over the start`);
  const expected = result.spec.expected;
  if (expected.length > 0 && result.outcome !== undefined) {
    const wrong = Object.entries(result.outcome.tally).filter(([answer]) => !expected.includes(answer));
    for (const [answer, count] of wrong) missed.push(`${count} attackers got ${answer}, not ${expected.join(' or ')}`);
  }
  if (result.healthMs === undefined) missed.push('no echo after the attack');
  return missed;
}

/** The battery-wide goal: RSS back within 100 MiB of where the battery started, and the server healthy. */
export function missedBatteryGoals(battery: BatteryResult): string[] {
  const missed: string[] = [];
  const growth = (battery.rssRested - battery.rssStart) / MIB;
  if (growth > Goals.rssGrowthMiB) missed.push(`RSS after the battery (idle, rested) ${growth.toFixed(0)} MiB over its start`);
  if (!battery.healthyAtEnd) missed.push('no echo after the battery');
  if (battery.restarts > 0) missed.push(`restarted ${battery.restarts} time(s) after crashing`);
  return missed;
}

const mib = (bytes: number): string => (Number.isFinite(bytes) ? (bytes / MIB).toFixed(0) : '?');
const ms = (value: number): string => (value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0));

function neighbourCell(report: NeighbourReport | undefined): string {
  if (report === undefined) return '-';
  return `${ms(report.p50Ms)} / ${ms(report.p99Ms)} / ${ms(report.maxMs)}`;
}

function lostCell(report: NeighbourReport | undefined): string {
  if (report === undefined) return '-';
  const closed = report.closedWith === undefined ? '' : ` (closed ${report.closedWith})`;
  return `${report.lost} of ${report.sent}${closed}`;
}

/** "50 x close 1008, 2 x open (answered in 0.4 s median, 1.2 s max)". */
export function outcomeCell(outcome: AttackOutcome | undefined): string {
  if (outcome === undefined) return '-';
  const entries = Object.entries(outcome.tally).sort(([, a], [, b]) => b - a);
  if (entries.length === 0) return '-';
  const tally = entries.map(([answer, count]) => `${count} x ${answer}`).join(', ');
  const time = outcome.answerMs === undefined ? '' : ` (in ${seconds(outcome.answerMs.median)} median, ${seconds(outcome.answerMs.max)} max)`;
  return tally + time;
}

const seconds = (value: number): string => (value < 1_000 ? `${Math.round(value)} ms` : `${(value / 1_000).toFixed(1)} s`);

interface Row {
  attack: string;
  server: string;
  neighbour: string;
  lost: string;
  rss: string;
  attackers: string;
  load: string;
  verdict: string;
}

function rowsOf(batteries: readonly BatteryResult[]): Row[] {
  const rows: Row[] = [];
  const attacks = batteries[0]?.attacks.map((result) => result.spec) ?? [];
  for (const [index, spec] of attacks.entries()) {
    for (const battery of batteries) {
      const result = battery.attacks[index];
      if (result === undefined) continue;
      const missed = missedGoals(result);
      rows.push({
        attack: spec.title,
        server: battery.label,
        neighbour: neighbourCell(result.neighbour),
        lost: lostCell(result.neighbour),
        rss: `${mib(result.rss.before)} -> ${mib(result.rss.peak)} -> ${mib(result.rss.after)}`,
        attackers: result.crashed ? 'CRASHED' : outcomeCell(result.outcome),
        load: Number.isFinite(result.load) ? result.load.toFixed(1) : '?',
        verdict: missed.length === 0 ? 'met' : `missed: ${missed.join('; ')}`,
      });
    }
  }
  return rows;
}

const HEADINGS = ['attack', 'server', 'neighbour p50 / p99 / max (ms)', 'neighbour lost', 'server RSS before -> peak -> after (MiB)', 'what the attackers got', 'load', 'goals'];

/** The table as Markdown (docs/reliability.md). */
export function markdownTable(batteries: readonly BatteryResult[]): string {
  const lines = [`| ${HEADINGS.join(' | ')} |`, `| ${HEADINGS.map(() => '---').join(' | ')} |`];
  let previous = '';
  for (const row of rowsOf(batteries)) {
    const attack = row.attack === previous ? '' : row.attack;
    previous = row.attack;
    lines.push(`| ${[attack, row.server, row.neighbour, row.lost, row.rss, row.attackers, row.load, row.verdict].map((cell) => cell.replace(/\|/g, '/')).join(' | ')} |`);
  }
  const after = batteries.map((battery) => {
    const missed = missedBatteryGoals(battery);
    return `- ${battery.label}: RSS ${mib(battery.rssStart)} MiB before the first attack, ${mib(battery.rssEnd)} MiB right after the last, ${mib(battery.rssRested)} MiB ${(battery.restedAfterMs / 1000).toFixed(0)} s later, idle; ${battery.healthyAtEnd ? 'echoing' : 'NOT echoing'} afterwards${battery.restarts > 0 ? `; restarted ${battery.restarts} time(s)` : ''}: ${missed.length === 0 ? 'met' : `missed: ${missed.join('; ')}`}.`;
  });
  const details = (batteries[0]?.attacks ?? []).map((result, index) => {
    const perTarget = batteries.map((battery) => `${battery.label}: ${battery.attacks[index]?.outcome?.detail ?? '-'}${battery.attacks[index]?.serverCounted.length ? ` (counted: ${battery.attacks[index].serverCounted.join(', ')})` : ''}`);
    return `- ${result.spec.title}: ${perTarget.join('; ')}.`;
  });
  return [...lines, '', 'After the battery:', '', ...after, '', 'What each attack did:', '', ...details, ''].join('\n');
}

/** The table as aligned text (the console). */
export function textTable(batteries: readonly BatteryResult[]): string {
  const rows = rowsOf(batteries).map((row) => [row.attack, row.server, row.neighbour, row.lost, row.rss, row.attackers, row.load, row.verdict]);
  const widths = HEADINGS.map((heading, column) => Math.min(60, Math.max(heading.length, ...rows.map((row) => row[column].length))));
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column])).join('  ');
  return [line(HEADINGS), ...rows.map(line)].join('\n');
}
