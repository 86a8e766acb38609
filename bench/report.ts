/**
 * Turning measurements into what a reader sees: per case and target the median with min-max
 * over rounds, every figure also as a ratio to plain ws measured in the same round; the goals;
 * a text table, a Markdown table and an SVG chart.
 */
import { type Case, type Goal, goalTarget, type Plan, type Sample } from './plan.js';
import { TARGETS, type TargetName } from './servers.js';
import { type Summary, summarize } from './stats.js';

export interface Measurement {
  caseId: string;
  target: TargetName;
  round: number;
  sample?: Sample;
  error?: string;
}

export interface TargetReport {
  target: TargetName;
  label: string;
  value: Summary;
  /** Per round: this target's value over the reference's (plain ws unless the case names another) in the same round. */
  ratioToWs?: Summary;
  /** The same over ws with its native addons. */
  ratioToAddons?: Summary;
  /** Per round: this target's value over each other target's of the case in the same round. */
  ratioTo: Partial<Record<TargetName, Summary>>;
  /** Server CPU, user and system time apart, as fractions of one core. */
  serverUserCpu?: Summary;
  serverSystemCpu?: Summary;
  /**
   * Throughput cases: whether the server used at least SATURATED of its core (median over
   * rounds). When it did not, something else was the limit (the load generator, the round
   * trip) and the figure is a lower bound of what the server can do.
   */
  saturated?: boolean;
  /**
   * Throughput per second of server CPU time (value / server CPU share), and its per-round ratio
   * to plain ws: what the server does with the CPU it gets, less sensitive to a busy machine.
   */
  perServerCpu?: Summary;
  perServerCpuRatioToWs?: Summary;
  p50Ms?: Summary;
  p99Ms?: Summary;
  loadgenCpu: Summary;
  serverCpu: Summary;
  /** Fan-out, summed over rounds and subscribers. */
  lost?: number;
  reordered?: number;
  malformed?: number;
  /** Fan-out: bytes read by the subscribers' sockets per delivery, beside the payload's own size. */
  wireBytesPerDelivery?: Summary;
  payloadBytesPerDelivery?: Summary;
  /** Fan-out: deliveries that arrived compressed, summed over rounds. */
  compressedDeliveries?: number;
  /** Server CPU time per delivery, in microseconds. */
  serverCpuMicrosPerDelivery?: Summary;
  /** Memory: time to open every connection. */
  openMs?: Summary;
  /** The headline figure and the same per server CPU-second, round by round (for goals between any two targets). */
  byRound: RoundFigures[];
  rounds: number;
  errors: string[];
}

export interface RoundFigures {
  round: number;
  value: number;
  /** NaN where it means nothing (memory). */
  perServerCpu: number;
}

export interface CaseReport {
  id: string;
  title: string;
  unit: string;
  higherIsBetter: boolean;
  /** The target the ratios are taken against. */
  reference: TargetName;
  targets: TargetReport[];
}

export interface GoalReport extends Goal {
  achieved?: Summary;
  /** The same ratio per second of server CPU time. */
  achievedPerServerCpu?: Summary;
  met: boolean | undefined;
  /**
   * Which side's server was short of its core (throughput cases): framecast's figure is then a
   * lower bound (the ratio could be higher), the other's (the ratio could be lower). Either way
   * the verdict is not a measurement of the two servers' capacity.
   */
  notSaturated: { framecast: boolean; versus: boolean };
}

function pick(samples: Sample[], read: (sample: Sample) => number | undefined): Summary | undefined {
  const values = samples.map(read).filter((value): value is number => value !== undefined && Number.isFinite(value));
  return values.length === 0 ? undefined : summarize(values);
}

/** A server at or above this share of its core is saturated: its figure is its throughput. */
export const SATURATED = 0.9;

export function buildReports(plan: Plan, measurements: readonly Measurement[]): CaseReport[] {
  return plan.cases.map((spec) => {
    const ofCase = measurements.filter((m) => m.caseId === spec.id);
    const byRound = (target: TargetName): Map<number, number> =>
      new Map(ofCase.flatMap((m) => (m.target === target && m.sample !== undefined ? [[m.round, spec.value(m.sample)] as const] : [])));
    const reference = spec.reference ?? 'ws';
    const ws = byRound(reference);
    const addons = byRound('ws-addons');
    const wsPerCpu = new Map(
      ofCase.flatMap((m) => (m.target === reference && m.sample !== undefined ? [[m.round, perCpu(spec, m.sample)] as const] : [])),
    );
    return {
      id: spec.id,
      title: spec.title,
      unit: spec.unit,
      higherIsBetter: spec.higherIsBetter,
      reference,
      targets: spec.targets.map((target) => {
        const mine = ofCase.filter((m) => m.target === target);
        const report = targetReport(spec, target, mine, ws, addons, wsPerCpu);
        for (const other of spec.targets) {
          if (other === target) continue;
          const ratio = ratiosTo(mine, byRound(other), spec.value);
          if (ratio !== undefined) report.ratioTo[other] = ratio;
        }
        return report;
      }),
    };
  });
}

/** Throughput per server CPU-second; NaN where that means nothing (memory). */
function perCpu(spec: Case, sample: Sample): number {
  return spec.higherIsBetter && sample.serverCpu > 0 ? spec.value(sample) / sample.serverCpu : Number.NaN;
}

/** Per-round ratios of a figure of this target to a reference's in the same round. */
function ratiosTo(
  mine: Measurement[],
  reference: Map<number, number>,
  figure: (sample: Sample) => number,
): Summary | undefined {
  const ratios = mine.flatMap((m) => {
    const base = reference.get(m.round);
    if (m.sample === undefined || base === undefined || !(base > 0)) return [];
    const value = figure(m.sample);
    return Number.isFinite(value) ? [value / base] : [];
  });
  return ratios.length === 0 ? undefined : summarize(ratios);
}

const MICROS_PER_SECOND = 1e6;

function targetReport(
  spec: Case,
  target: TargetName,
  mine: Measurement[],
  ws: Map<number, number>,
  addons: Map<number, number>,
  wsPerCpu: Map<number, number>,
): TargetReport {
  const samples = mine.flatMap((m) => (m.sample === undefined ? [] : [m.sample]));
  const reference = spec.reference ?? 'ws';
  const report: TargetReport = {
    target,
    label: TARGETS[target].label,
    value: summarize(samples.map(spec.value)),
    ratioToWs: target === reference ? undefined : ratiosTo(mine, ws, spec.value),
    ratioToAddons: target === 'ws-addons' ? undefined : ratiosTo(mine, addons, spec.value),
    ratioTo: {},
    serverUserCpu: pick(samples, (s) => s.serverUserCpu),
    serverSystemCpu: pick(samples, (s) => s.serverSystemCpu),
    perServerCpu: pick(samples, (s) => perCpu(spec, s)),
    perServerCpuRatioToWs: target === reference ? undefined : ratiosTo(mine, wsPerCpu, (s) => perCpu(spec, s)),
    p50Ms: pick(samples, (s) => ('p50Ms' in s.result ? s.result.p50Ms : undefined)),
    p99Ms: pick(samples, (s) => ('p99Ms' in s.result ? s.result.p99Ms : undefined)),
    loadgenCpu: summarize(samples.map((s) => s.result.loadgenCpu)),
    serverCpu: summarize(samples.map((s) => s.serverCpu)),
    openMs: pick(samples, (s) => (s.result.kind === 'memory' ? s.result.openMs : undefined)),
    byRound: mine.flatMap((m) => (m.sample === undefined ? [] : [{ round: m.round, value: spec.value(m.sample), perServerCpu: perCpu(spec, m.sample) }])),
    rounds: samples.length,
    errors: mine.flatMap((m) => (m.error === undefined ? [] : [`round ${m.round}: ${m.error}`])),
  };
  if (spec.higherIsBetter && samples.length > 0) report.saturated = report.serverCpu.median >= SATURATED;
  const fanouts = samples.flatMap((s) => (s.result.kind === 'fanout' ? [s.result] : []));
  if (fanouts.length > 0) {
    report.lost = fanouts.reduce((sum, r) => sum + r.lost, 0);
    report.reordered = fanouts.reduce((sum, r) => sum + r.reordered, 0);
    report.malformed = fanouts.reduce((sum, r) => sum + r.malformed, 0);
    report.wireBytesPerDelivery = pick(samples, (s) => (s.result.kind === 'fanout' ? s.result.wireBytesPerDelivery : undefined));
    report.payloadBytesPerDelivery = pick(samples, (s) => (s.result.kind === 'fanout' ? s.result.payloadBytesPerDelivery : undefined));
    report.compressedDeliveries = fanouts.reduce((sum, r) => sum + r.compressedDeliveries, 0);
    report.serverCpuMicrosPerDelivery = pick(samples, (s) =>
      s.result.kind === 'fanout' && s.result.deliveriesPerSecond > 0 ? (s.serverCpu / s.result.deliveriesPerSecond) * MICROS_PER_SECOND : undefined,
    );
  }
  return report;
}

export function evaluateGoals(goals: readonly Goal[], reports: readonly CaseReport[]): GoalReport[] {
  return goals.map((goal) => {
    const report = reports.find((r) => r.id === goal.caseId);
    const subject = report?.targets.find((t) => t.target === goalTarget(goal));
    const versus = report?.targets.find((t) => t.target === goal.versus);
    const achieved = roundRatios(subject, versus, (figures) => figures.value);
    const achievedPerServerCpu = roundRatios(subject, versus, (figures) => figures.perServerCpu);
    const higherIsBetter = report?.higherIsBetter ?? true;
    const met = achieved === undefined ? undefined : higherIsBetter ? achieved.median >= goal.ratio : achieved.median <= goal.ratio;
    const notSaturated = { framecast: subject?.saturated === false, versus: versus?.saturated === false };
    return { ...goal, achieved, achievedPerServerCpu, met, notSaturated };
  });
}

/** One target's figure over another's in the same round, summarized over the rounds both have. */
function roundRatios(subject: TargetReport | undefined, versus: TargetReport | undefined, figure: (figures: RoundFigures) => number): Summary | undefined {
  if (subject === undefined || versus === undefined) return undefined;
  const ratios = subject.byRound.flatMap((mine) => {
    const theirs = versus.byRound.find((r) => r.round === mine.round);
    if (theirs === undefined) return [];
    const ratio = figure(mine) / figure(theirs);
    return Number.isFinite(ratio) && figure(theirs) > 0 ? [ratio] : [];
  });
  return ratios.length === 0 ? undefined : summarize(ratios);
}

// --- Formatting --------------------------------------------------------------------------------

/** A number with three significant digits and thousands separators where it is large. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '-';
  const magnitude = Math.abs(value);
  if (magnitude >= 1000) return Math.round(value).toLocaleString('en-US');
  if (magnitude >= 100) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function range(summary: Summary | undefined, format: (value: number) => string = formatNumber): string {
  if (summary === undefined || !Number.isFinite(summary.median)) return '-';
  if (summary.min === summary.max) return format(summary.median);
  return `${format(summary.median)} (${format(summary.min)}-${format(summary.max)})`;
}

const ratio = (value: number): string => `${value.toFixed(2)}x`;
const percent = (value: number): string => `${Math.round(value * 100)}%`;
const milliseconds = (value: number): string => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));

function extraColumn(target: TargetReport): string {
  if (target.lost !== undefined) {
    const integrity = `lost ${target.lost}, reordered ${target.reordered}${target.malformed ? `, malformed ${target.malformed}` : ''}`;
    // What went over the wire per delivery (framing, compression, a framecast.v1 push around the
    // payload), and the server's CPU per delivery.
    return (
      `${integrity}; wire ${range(target.wireBytesPerDelivery, (v) => `${Math.round(v)} B`)}/msg ` +
      `for ${range(target.payloadBytesPerDelivery, (v) => `${Math.round(v)} B`)} of payload; ` +
      `server CPU ${range(target.serverCpuMicrosPerDelivery, (v) => `${v.toFixed(2)} µs`)}/delivery`
    );
  }
  if (target.openMs !== undefined) return `opened in ${range(target.openMs, (v) => `${Math.round(v)} ms`)}`;
  return '';
}

const COLUMNS = [
  'target',
  'median (min-max)',
  'vs ws',
  'vs ws+addons',
  'vs Bun',
  'vs uWS',
  'vs ws per server CPU-s',
  'p50 ms',
  'p99 ms',
  'loadgen CPU',
  'server CPU (user+sys)',
  'saturated',
  '',
];

/** A ratio cell: 1x for the target itself, '-' where the other was not measured. */
function ratioCell(t: TargetReport, other: TargetName): string {
  return t.target === other ? '1x' : range(t.ratioTo[other], ratio);
}

function serverCpuCell(t: TargetReport): string {
  const split = t.serverUserCpu !== undefined && t.serverSystemCpu !== undefined ? ` (${percent(t.serverUserCpu.median)}+${percent(t.serverSystemCpu.median)})` : '';
  return `${range(t.serverCpu, percent)}${split}`;
}

function saturationCell(t: TargetReport): string {
  if (t.saturated === undefined) return '-';
  return t.saturated ? 'yes' : `no: lower bound (< ${percent(SATURATED)})`;
}

function rows(report: CaseReport): string[][] {
  return report.targets.map((t) => [
    t.label,
    // A server short of its core was held back by something else: at least this much.
    `${t.saturated === false ? '>= ' : ''}${range(t.value)} ${report.unit}`,
    t.target === report.reference ? '1x' : range(t.ratioToWs, ratio),
    t.target === 'ws-addons' ? '1x' : range(t.ratioToAddons, ratio),
    ratioCell(t, 'bun'),
    ratioCell(t, 'uws'),
    t.target === report.reference && report.higherIsBetter ? '1x' : range(t.perServerCpuRatioToWs, ratio),
    range(t.p50Ms, milliseconds),
    range(t.p99Ms, milliseconds),
    range(t.loadgenCpu, percent),
    report.id.startsWith('memory') ? '-' : serverCpuCell(t),
    saturationCell(t),
    t.errors.length > 0 ? `FAILED ${t.errors.length}x` : extraColumn(t),
  ]);
}

/** The tables as plain text for the terminal. */
export function textTables(reports: readonly CaseReport[]): string {
  const out: string[] = [];
  for (const report of reports) {
    const table = [COLUMNS, ...rows(report)];
    const widths = COLUMNS.map((_, column) => Math.max(...table.map((row) => row[column].length)));
    const versus = report.reference === 'ws' ? '' : ` ("vs ws" columns: against ${TARGETS[report.reference].label})`;
    out.push(`\n${report.title} [${report.id}]${report.higherIsBetter ? '' : ' (lower is better)'}${versus}`);
    for (const row of table) out.push('  ' + row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd());
  }
  return out.join('\n');
}

/** What a verdict rests on when a server was not saturated. */
function saturationCaveat(goal: GoalReport): string {
  const { framecast, versus } = goal.notSaturated;
  if (framecast && versus) return ' (neither server saturated: the ratio compares lower bounds)';
  if (framecast) return ' (framecast not saturated: its ratio is a lower bound)';
  if (versus) return ` (${TARGETS[goal.versus].label} not saturated: the ratio is an upper bound)`;
  return '';
}

export function goalLines(goals: readonly GoalReport[]): string {
  return goals
    .map((goal) => {
      const verdict = goal.met === undefined ? 'not measured' : goal.met ? 'MET' : 'MISSED';
      const perCpuText = goal.achievedPerServerCpu === undefined ? '' : `; per server CPU-s ${range(goal.achievedPerServerCpu, ratio)}`;
      return `  ${verdict.padEnd(12)} ${goal.text}: ${range(goal.achieved, ratio)}${perCpuText}${saturationCaveat(goal)}`;
    })
    .join('\n');
}

/** The tables as Markdown, for bench/README.md. */
export function markdownTables(reports: readonly CaseReport[], goals: readonly GoalReport[]): string {
  const out: string[] = [];
  for (const report of reports) {
    const versus = report.reference === 'ws' ? '' : `; "vs ws" columns: against ${TARGETS[report.reference].label}`;
    out.push(`**${report.title}** (\`${report.id}\`${report.higherIsBetter ? '' : ', lower is better'}${versus})`, '');
    out.push(`| ${COLUMNS.slice(0, -1).join(' | ')} | notes |`, `|${COLUMNS.map(() => '---').join('|')}|`);
    for (const row of rows(report)) out.push(`| ${row.join(' | ')} |`);
    out.push('');
  }
  out.push('| goal | ratio, median (min-max) | per server CPU-s | verdict |', '|---|---|---|---|');
  for (const goal of goals) {
    const verdict = goal.met === undefined ? 'not measured' : goal.met ? 'met' : '**missed**';
    out.push(`| ${goal.text} | ${range(goal.achieved, ratio)} | ${range(goal.achievedPerServerCpu, ratio)} | ${verdict}${saturationCaveat(goal)} |`);
  }
  return out.join('\n') + '\n';
}

// --- SVG chart ---------------------------------------------------------------------------------

const SVG_WIDTH = 860;
const LABEL_WIDTH = 330;
const ROW_HEIGHT = 18;
const CASE_GAP = 10;
const MARGIN = 20;
const COLORS: Partial<Record<TargetName, string>> = {
  framecast: '#2b6cb0',
  'framecast-v1': '#63b3ed',
  'ws-addons': '#9f7aea',
  'tcp-floor': '#a0aec0',
  'http-floor': '#a0aec0',
};

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A bar chart of every target's ratio to plain ws (the line at 1x), median bars with
 * min-max whiskers, and each goal as a red tick on framecast's bar.
 */
export function svgChart(reports: readonly CaseReport[], goals: readonly GoalReport[], subtitle: string): string {
  // Only cases measured against plain ws: the chart's 1x line is plain ws.
  const bars = reports.flatMap((report) =>
    report.reference !== 'ws' ? [] : report.targets.filter((t) => t.ratioToWs !== undefined).map((t) => ({ report, target: t })),
  );
  // A log scale: ratios are multiplicative, 0.5x is as far from 1x as 2x, and one case at 20x
  // must not squash the rest. Bars grow from the 1x line (plain ws) to the median.
  const lowest = Math.min(0.25, ...bars.map((bar) => bar.target.ratioToWs?.min ?? 1));
  const highest = Math.max(4, ...bars.map((bar) => bar.target.ratioToWs?.max ?? 1));
  const minTick = 2 ** Math.floor(Math.log2(lowest));
  const maxTick = 2 ** Math.ceil(Math.log2(highest));
  const plotWidth = SVG_WIDTH - LABEL_WIDTH - MARGIN * 2 - 40;
  const x = (value: number): number =>
    LABEL_WIDTH + MARGIN + (Math.log2(Math.max(minTick, Math.min(value, maxTick)) / minTick) / Math.log2(maxTick / minTick)) * plotWidth;
  const parts: string[] = [];
  let y = 56;
  let previousCase = '';
  for (const { report, target } of bars) {
    if (report.id !== previousCase) {
      y += CASE_GAP;
      parts.push(`<text x="${MARGIN}" y="${y + 12}" font-weight="bold">${escapeXml(report.title)}${report.higherIsBetter ? '' : ' (lower is better)'}</text>`);
      y += ROW_HEIGHT;
      previousCase = report.id;
    }
    const r = target.ratioToWs as Summary;
    const color = COLORS[target.target] ?? '#718096';
    parts.push(`<text x="${MARGIN + 12}" y="${y + 12}">${escapeXml(target.label)}</text>`);
    const barStart = Math.min(x(1), x(r.median));
    parts.push(`<rect x="${barStart.toFixed(1)}" y="${y + 3}" width="${Math.max(1, Math.abs(x(r.median) - x(1))).toFixed(1)}" height="${ROW_HEIGHT - 6}" fill="${color}"/>`);
    parts.push(`<line x1="${x(r.min).toFixed(1)}" x2="${x(r.max).toFixed(1)}" y1="${y + 9}" y2="${y + 9}" stroke="#1a202c"/>`);
    parts.push(`<text x="${(x(r.max) + 6).toFixed(1)}" y="${y + 12}">${r.median.toFixed(2)}x</text>`);
    const goal = goals.find((g) => g.caseId === report.id && g.versus === 'ws' && target.target === goalTarget(g));
    if (goal !== undefined) {
      parts.push(`<line x1="${x(goal.ratio).toFixed(1)}" x2="${x(goal.ratio).toFixed(1)}" y1="${y + 1}" y2="${y + ROW_HEIGHT - 1}" stroke="#e53e3e" stroke-width="2"/>`);
    }
    y += ROW_HEIGHT;
  }
  const height = y + MARGIN + 16;
  const axis: string[] = [];
  for (let tick = minTick; tick <= maxTick; tick *= 2) {
    axis.push(`<line x1="${x(tick).toFixed(1)}" x2="${x(tick).toFixed(1)}" y1="56" y2="${y}" stroke="${tick === 1 ? '#1a202c' : '#e2e8f0'}"/>`);
    axis.push(`<text x="${x(tick).toFixed(1)}" y="${y + 14}" text-anchor="middle">${tick}x</text>`);
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${SVG_WIDTH}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${MARGIN}" y="22" font-size="15" font-weight="bold">framecast vs ws: ratio to plain ws in the same round (median, min-max over rounds)</text>`,
    `<text x="${MARGIN}" y="40" fill="#4a5568">${escapeXml(subtitle)}; red ticks: goals</text>`,
    ...axis,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
