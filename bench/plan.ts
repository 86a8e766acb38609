/**
 * What a run measures: the cases of each workload, the targets each case compares, how many
 * rounds, and the goals framecast's ratios are held to. Three sizes: `quick` (npm run bench),
 * `full` (npm run bench -- --full) and `tiny` (the smoke test: seconds, a few connections).
 */
import type { EchoJob, FanoutJob, HttpJob, JobResult, MemoryJob } from './jobs.js';
import type { TargetName } from './servers.js';

export type Mode = 'quick' | 'full' | 'tiny';

/** A job without the address, which the runner fills in per measurement. */
export type JobSpec =
  | Omit<EchoJob, 'host' | 'port'>
  | Omit<FanoutJob, 'host' | 'port'>
  | Omit<HttpJob, 'host' | 'port'>
  | Omit<MemoryJob, 'host' | 'port'>;

/** One measurement's figures, beyond the job's own result. */
export interface Sample {
  result: JobResult;
  /** Server CPU time over the measured window, as a fraction of one core (user + system). */
  serverCpu: number;
  /** The same, user and system time apart (system time is mostly the socket system calls). */
  serverUserCpu?: number;
  serverSystemCpu?: number;
  /** Memory: server RSS before the connections opened and once they were all open. */
  rssBeforeBytes?: number;
  rssAfterBytes?: number;
}

export interface Case {
  id: string;
  title: string;
  job: JobSpec;
  targets: TargetName[];
  /** The headline figure of a sample. */
  value: (sample: Sample) => number;
  unit: string;
  higherIsBetter: boolean;
  /** What the ratios are taken against (default plain ws, `ws`). */
  reference?: TargetName;
}

export interface Goal {
  caseId: string;
  /** This target's ratio (framecast's when omitted)... */
  target?: TargetName;
  /** ...to this target, in the same round... */
  versus: TargetName;
  /** ...must be at least (higher is better) or at most (lower is better) this. */
  ratio: number;
  text: string;
}

/** The target a goal holds to its ratio. */
export function goalTarget(goal: Goal): TargetName {
  return goal.target ?? 'framecast';
}

export interface Plan {
  mode: Mode;
  rounds: number;
  cases: Case[];
  goals: Goal[];
}

const KIB = 1024;
const MIB = 1024 * 1024;

/** Durations per mode, in ms. */
const TIMING: Record<Mode, { warmupMs: number; measureMs: number; drainMs: number }> = {
  tiny: { warmupMs: 300, measureMs: 1_000, drainMs: 2000 },
  quick: { warmupMs: 250, measureMs: 800, drainMs: 5000 },
  full: { warmupMs: 800, measureMs: 2500, drainMs: 5000 },
};

/** framecast, ws both ways, and the native servers a speed-minded user would pick instead. */
const WS_TARGETS: TargetName[] = ['framecast', 'ws', 'ws-addons', 'bun', 'uws'];
const ECHO_TARGETS: TargetName[] = [...WS_TARGETS, 'tcp-floor'];
const HTTP_TARGETS: TargetName[] = ['framecast', 'ws', 'bun', 'uws', 'http-floor'];
/** Fan-out: framecast's raw /chat members and framecast.v1 subscribers (same server), against ws. */
const FANOUT_TARGETS: TargetName[] = ['framecast', 'framecast-v1', 'ws', 'ws-addons'];
const FANOUT_TARGETS_TINY: TargetName[] = ['framecast', 'framecast-v1', 'ws'];
/**
 * What history costs publishing is measured with one subscriber, so that a publication's own
 * work (the HTTP request, numbering, keeping it) is most of the server's time, not its
 * deliveries. A subscriber, rather than none, so that both servers keep the channel's offsets
 * between publications (a channel with no subscriber and no history is forgotten each time).
 */
const HISTORY_SUBSCRIBERS = 1;
/** framecast (permessage-deflate on by default) against ws with `perMessageDeflate: true`. */
const DEFLATE_TARGETS: TargetName[] = ['framecast', 'ws-deflate'];

/**
 * Large echo: connections and messages in flight each. One message in flight on each of 4
 * connections measured the pipeline's latency (server 54% of a core, issue 18); 8 x 4 keeps
 * a queue at the server.
 */
const LARGE_CONNECTIONS = 8;
const LARGE_INFLIGHT = 4;

/** Deliveries in flight in a fan-out run: enough to keep the server busy. */
const DELIVERIES_IN_FLIGHT = 16_000;
/**
 * The same for the compressed fan-out, where a delivery costs far more (ws compresses once
 * per recipient at a few thousand deliveries/s here): fewer, so that the last ones arrive
 * within the drain time rather than counting as lost.
 */
const COMPRESSED_DELIVERIES_IN_FLIGHT = 2_000;

/** Messages outstanding per fan-out run. */
function fanoutWindow(subscribers: number, deliveriesInFlight = DELIVERIES_IN_FLIGHT): number {
  return Math.max(4, Math.min(256, Math.ceil(deliveriesInFlight / subscribers)));
}

const messagesPerSecond = (sample: Sample): number => (sample.result.kind === 'echo' ? sample.result.messagesPerSecond : Number.NaN);
const megabytesPerSecond = (sample: Sample): number => (sample.result.kind === 'echo' ? sample.result.megabytesPerSecond : Number.NaN);
const deliveriesPerSecond = (sample: Sample): number => (sample.result.kind === 'fanout' ? sample.result.deliveriesPerSecond : Number.NaN);
/** Publications per second of a fan-out: deliveries per subscriber. */
const publicationsPerSecond = (subscribers: number) => (sample: Sample): number => deliveriesPerSecond(sample) / subscribers;
const requestsPerSecond = (sample: Sample): number => (sample.result.kind === 'http' ? sample.result.requestsPerSecond : Number.NaN);
const bytesPerConnection = (sample: Sample): number =>
  sample.result.kind === 'memory' && sample.rssAfterBytes !== undefined && sample.rssBeforeBytes !== undefined
    ? (sample.rssAfterBytes - sample.rssBeforeBytes) / sample.result.connections
    : Number.NaN;

export function makePlan(mode: Mode, rounds?: number): Plan {
  const { warmupMs, measureMs, drainMs } = TIMING[mode];
  const cases: Case[] = [];

  const echoSmall = (connections: number, targets: TargetName[]): void => {
    cases.push({
      id: `echo-small-${connections}`,
      title: `Echo 32 B text, ${connections} connection${connections === 1 ? '' : 's'} x 16 in flight`,
      job: { kind: 'echo', transport: 'websocket', path: '/ws', connections, inflight: 16, payloadBytes: 32, binary: false, warmupMs, measureMs },
      targets,
      value: messagesPerSecond,
      unit: 'msg/s',
      higherIsBetter: true,
    });
  };
  const echoLarge = (bytes: number, name: string, inflight: number, connections: number, targets: TargetName[]): void => {
    cases.push({
      id: `echo-large-${name}`,
      title: `Echo ${name} binary, ${connections} connections x ${inflight} in flight`,
      job: { kind: 'echo', transport: 'websocket', path: '/ws', connections, inflight, payloadBytes: bytes, binary: true, warmupMs, measureMs },
      targets,
      value: megabytesPerSecond,
      unit: 'MB/s',
      higherIsBetter: true,
    });
  };
  const fanout = (subscribers: number, publisher: 'push' | 'chat', targets: TargetName[]): void => {
    cases.push({
      id: `fanout-${subscribers}-${publisher}`,
      title: `Fan-out to ${subscribers} subscribers, published by ${publisher === 'push' ? 'POST /push' : 'a chat member'}`,
      job: { kind: 'fanout', subscribers, publisher, channel: 'fanout', window: fanoutWindow(subscribers), warmupMs, measureMs, drainMs },
      targets,
      value: deliveriesPerSecond,
      unit: 'deliveries/s',
      higherIsBetter: true,
    });
  };
  const historyPush = (subscribers: number): void => {
    cases.push({
      id: 'history-push',
      title: `Publishing with history: POST /push (pipelined) to ${subscribers} framecast.v1 subscriber${subscribers === 1 ? '' : 's'}, history of 100 against --history-size 0`,
      job: { kind: 'fanout', subscribers, subscriberMode: 'pubsub', publisher: 'push', channel: 'history', window: fanoutWindow(subscribers), warmupMs, measureMs, drainMs },
      targets: ['framecast', 'framecast-history-off'],
      value: publicationsPerSecond(subscribers),
      unit: 'publications/s',
      higherIsBetter: true,
      reference: 'framecast-history-off',
    });
  };
  const fanoutDeflate = (subscribers: number, targets: TargetName[]): void => {
    cases.push({
      id: `fanout-deflate-${subscribers}-push`,
      title: `Compressed fan-out: 1-4 KiB JSON to ${subscribers} subscribers by POST /push, permessage-deflate, against ws with perMessageDeflate`,
      job: { kind: 'fanout', subscribers, publisher: 'push', channel: 'fanout', window: fanoutWindow(subscribers, COMPRESSED_DELIVERIES_IN_FLIGHT), warmupMs, measureMs, drainMs, deflate: true },
      targets,
      value: deliveriesPerSecond,
      unit: 'deliveries/s',
      higherIsBetter: true,
      reference: 'ws-deflate',
    });
  };
  const httpPush = (connections: number, targets: TargetName[]): void => {
    cases.push({
      id: 'http-push',
      title: `POST /push?channel=empty, 64 B body, ${connections} connections (autocannon)`,
      job: { kind: 'http', path: '/push?channel=empty', bodyBytes: 64, connections, warmupMs, measureMs },
      targets,
      value: requestsPerSecond,
      unit: 'req/s',
      higherIsBetter: true,
    });
  };
  const memory = (connections: number, targets: TargetName[]): void => {
    cases.push({
      id: `memory-${connections}`,
      title: `${connections} idle connections on /ws: server RSS growth per connection`,
      job: { kind: 'memory', path: '/ws', connections, concurrency: 64 },
      targets,
      value: bytesPerConnection,
      unit: 'B/conn',
      higherIsBetter: false,
    });
  };

  if (mode === 'tiny') {
    // Bun and uWS only where the cache already has them: the smoke test runs with --no-install.
    echoSmall(2, ['framecast', 'ws', 'bun', 'uws', 'tcp-floor']);
    fanout(5, 'push', FANOUT_TARGETS_TINY);
    fanout(5, 'chat', FANOUT_TARGETS_TINY);
    historyPush(HISTORY_SUBSCRIBERS);
    fanoutDeflate(5, DEFLATE_TARGETS);
    httpPush(2, ['framecast', 'http-floor']);
    memory(20, ['framecast']);
  } else if (mode === 'quick') {
    // About two minutes: one case per workload, framecast against ws, Bun, uWS and the floors.
    echoSmall(64, ['framecast', 'ws', 'bun', 'uws', 'tcp-floor']);
    echoLarge(64 * KIB, '64KiB', LARGE_INFLIGHT, LARGE_CONNECTIONS, ['framecast', 'ws-addons', 'bun', 'uws']);
    fanout(2000, 'chat', ['framecast', 'framecast-v1', 'ws', 'bun', 'uws']);
    historyPush(HISTORY_SUBSCRIBERS);
    httpPush(100, HTTP_TARGETS);
    memory(1000, ['framecast', 'ws', 'bun', 'uws']);
  } else {
    for (const connections of [1, 64, 512]) echoSmall(connections, ECHO_TARGETS);
    echoLarge(64 * KIB, '64KiB', LARGE_INFLIGHT, LARGE_CONNECTIONS, ECHO_TARGETS);
    echoLarge(MIB, '1MiB', 2, LARGE_CONNECTIONS, ECHO_TARGETS);
    for (const subscribers of [100, 2000]) {
      fanout(subscribers, 'push', FANOUT_TARGETS);
      fanout(subscribers, 'chat', FANOUT_TARGETS);
    }
    historyPush(HISTORY_SUBSCRIBERS);
    for (const subscribers of [100, 1000]) fanoutDeflate(subscribers, DEFLATE_TARGETS);
    httpPush(100, [...WS_TARGETS, 'http-floor']);
    memory(5000, WS_TARGETS);
  }

  const allGoals: Goal[] = [
    { caseId: 'echo-small-1', versus: 'ws', ratio: 1.5, text: 'echo small, 1 connection: >= 1.5x plain ws msg/s' },
    { caseId: 'echo-small-64', versus: 'ws', ratio: 2, text: 'echo small, 64 connections: >= 2x plain ws msg/s' },
    { caseId: 'echo-small-512', versus: 'ws', ratio: 2, text: 'echo small, 512 connections: >= 2x plain ws msg/s' },
    { caseId: 'fanout-2000-push', versus: 'ws', ratio: 2, text: 'fan-out to 2000 by POST /push: >= 2x plain ws deliveries/s' },
    { caseId: 'fanout-2000-chat', versus: 'ws', ratio: 2, text: 'fan-out to 2000 by a chat member: >= 2x plain ws deliveries/s' },
    {
      caseId: 'fanout-2000-chat',
      target: 'framecast-v1',
      versus: 'framecast',
      ratio: 0.8,
      text: 'framecast.v1 fan-out to 2000 >= 0.8x raw /chat deliveries/s (a chat member publishing)',
    },
    {
      caseId: 'fanout-2000-push',
      target: 'framecast-v1',
      versus: 'framecast',
      ratio: 0.8,
      text: 'framecast.v1 fan-out to 2000 >= 0.8x raw /chat deliveries/s (POST /push publishing)',
    },
    {
      caseId: 'history-push',
      versus: 'framecast-history-off',
      ratio: 0.9,
      text: 'history costs publishing at most 10%: POST /push with history 100 >= 0.9x --history-size 0 publications/s',
    },
    { caseId: 'echo-large-64KiB', versus: 'ws-addons', ratio: 1, text: 'echo 64 KiB: >= 1.0x ws with native addons MB/s' },
    { caseId: 'echo-large-1MiB', versus: 'ws-addons', ratio: 1, text: 'echo 1 MiB: >= 1.0x ws with native addons MB/s' },
    { caseId: 'echo-large-1MiB', versus: 'tcp-floor', ratio: 1, text: 'echo 1 MiB: >= 1.0x the raw node:net floor MB/s' },
    { caseId: 'echo-small-64', versus: 'uws', ratio: 1, text: 'echo small, 64 connections: >= 1.0x uWebSockets.js msg/s' },
    { caseId: 'echo-small-512', versus: 'uws', ratio: 1, text: 'echo small, 512 connections: >= 1.0x uWebSockets.js msg/s' },
    { caseId: 'fanout-2000-push', versus: 'bun', ratio: 0.75, text: 'fan-out to 2000 by POST /push: >= 0.75x Bun deliveries/s' },
    { caseId: 'fanout-2000-push', versus: 'uws', ratio: 0.75, text: 'fan-out to 2000 by POST /push: >= 0.75x uWS deliveries/s' },
    { caseId: 'fanout-2000-chat', versus: 'bun', ratio: 0.75, text: 'fan-out to 2000 by a chat member: >= 0.75x Bun deliveries/s' },
    { caseId: 'fanout-2000-chat', versus: 'uws', ratio: 0.75, text: 'fan-out to 2000 by a chat member: >= 0.75x uWS deliveries/s' },
    { caseId: 'memory-5000', versus: 'ws', ratio: 0.5, text: 'memory per idle connection (5000): <= 0.5x ws' },
    { caseId: 'memory-1000', versus: 'ws', ratio: 0.5, text: 'memory per idle connection (1000): <= 0.5x ws' },
    { caseId: 'http-push', versus: 'ws', ratio: 1, text: 'HTTP push: >= 1.0x the ws reference req/s' },
    { caseId: 'http-push', versus: 'http-floor', ratio: 0.95, text: 'HTTP push: >= 0.95x the bare node:http floor req/s' },
  ];
  const goals = allGoals.filter((goal) => cases.some((c) => c.id === goal.caseId && c.targets.includes(goalTarget(goal)) && c.targets.includes(goal.versus)));

  return { mode, rounds: rounds ?? (mode === 'tiny' ? 1 : 3), cases, goals };
}
