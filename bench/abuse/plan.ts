/**
 * The abuse battery's plan: which attacks, how large in each mode, how long the runner waits
 * around each one, and what framecast must answer each with (the goals of issue 20). Also the
 * messages between the runner and its child processes.
 *
 * Modes: `quick` (the default: each attack a few seconds, both servers within about 4 minutes),
 * `full` (the sizes: 50 connections x 100,000 pings, 10 connections x 15 s of fragment
 * flood), `tiny` (a smoke test: a few attackers, windows under two seconds).
 */

export type Mode = 'quick' | 'full' | 'tiny';

export type AttackName =
  | 'baseline'
  | 'slowloris'
  | 'silence'
  | 'slow-consumers'
  | 'fragment-flood'
  | 'ping-flood'
  | 'huge-length'
  | 'garbage'
  | 'decompression-bomb'
  | 'churn'
  | 'oversized-headers';

/** One attack, as the attacker process runs it. */
export interface AttackSpec {
  name: AttackName;
  /** What the tables call it, sizes included. */
  title: string;
  /** Attacking connections; for the floods that reconnect after each close, the workers. */
  connections: number;
  /** The attack stops by itself after this long (ms), whatever it achieved; the answer is awaited within it. */
  windowMs: number;
  /**
   * The attack's own size: pings per connection (ping-flood), messages published
   * (slow-consumers), bytes sent per connection (garbage), inflated bytes of the bomb
   * (decompression-bomb), header bytes (oversized-headers); 0 where there is none.
   */
  count: number;
  /**
   * What every attacker must get from framecast (the goal: "every attacker eventually answered
   * with the right close code or status"): the outcomes allowed (see `AttackOutcome.tally`).
   * Empty for the baseline, where there is no attacker.
   */
  expected: readonly string[];
}

/** What the attackers got: how many of them got each answer. */
export interface AttackOutcome {
  /**
   * Answers by kind: `close NNNN` (a Close frame with that code), `HTTP NNN` (an HTTP status),
   * `dropped` (the server closed TCP without a Close frame), `reset` (TCP reset), `open`
   * (nothing yet when the window ended), `refused` (no connection or handshake), and for the
   * churn `closed 1000` / `aborted` (handshakes completed and closed by the client).
   */
  tally: Record<string, number>;
  /** Over the attackers that got an answer: ms from their start to it (median, max). */
  answerMs: { median: number; max: number } | undefined;
  /** What the attack did, in a few words ("60,000 pings each"). */
  detail: string;
}

/** What the neighbour saw while an attack ran. */
export interface NeighbourReport {
  sent: number;
  /** Echoes back intact and in order. */
  received: number;
  /** Sent and never echoed (within the wait at the end), or echoed wrong. */
  lost: number;
  p50Ms: number;
  p99Ms: number;
  /** The longest round trip, counting echoes still missing at the end as the time waited. */
  maxMs: number;
  /** Round trips over 500 ms. */
  stalls: number;
  /** Set when the neighbour's connection closed under it: the code it saw. */
  closedWith: number | undefined;
  error: string | undefined;
}

/** Runner -> neighbour. */
/** `stop` waits up to `lossWaitMs` for echoes still missing. */
export type NeighbourCommand = { type: 'start'; url: string } | { type: 'stop'; lossWaitMs: number };
/** Neighbour -> runner. */
export type NeighbourMessage = { type: 'started' } | { type: 'report'; report: NeighbourReport } | { type: 'error'; message: string };
/** Runner -> attacker. */
export type AttackerCommand = { type: 'attack'; spec: AttackSpec; host: string; port: number };
/** Attacker -> runner. */
export type AttackerMessage = { type: 'ready' } | { type: 'outcome'; outcome: AttackOutcome } | { type: 'error'; message: string };

/** The neighbour's traffic: a 32-byte message every 20 ms, as issue 20 describes it. */
export const NEIGHBOUR_MESSAGE_BYTES = 32;
export const NEIGHBOUR_INTERVAL_MS = 20;

/** The goals for framecast during every attack. */
export const Goals = {
  p99Ms: 100,
  /** "no stall over 500 ms". */
  maxMs: 500,
  /** RSS peak over the attack's start, and RSS after the battery over its start. */
  rssGrowthMiB: 100,
} as const;

/** How long the runner waits around each attack (ms). */
export interface Timing {
  /** Quiet before the attack, before the RSS "before" is read. */
  settleMs: number;
  /** The neighbour runs alone this long before the attack starts. */
  leadMs: number;
  /** After the attack: the neighbour goes on, the RSS "after" is read at the end of it. */
  afterMs: number;
  /** At the end, how long the neighbour waits for echoes still missing. */
  lossWaitMs: number;
  /**
   * After the battery, how long the idle server is watched for its RSS to come back (ms): V8
   * gives memory back some 10-30 s after the allocations stop, not at once.
   */
  restMs: number;
}

export const TIMING: Readonly<Record<Mode, Timing>> = {
  tiny: { settleMs: 200, leadMs: 200, afterMs: 300, lossWaitMs: 500, restMs: 500 },
  quick: { settleMs: 800, leadMs: 400, afterMs: 1_500, lossWaitMs: 1_500, restMs: 30_000 },
  full: { settleMs: 2_000, leadMs: 1_000, afterMs: 5_000, lossWaitMs: 3_000, restMs: 60_000 },
};

/**
 * framecast's heartbeat in the battery, in seconds: the one setting that is not framecast's
 * default (30), so that the silence attack's answer (a peer that sends nothing for two
 * heartbeats is dropped) comes within a quick run. ws has no heartbeat.
 */
export const FRAMECAST_HEARTBEAT_SECONDS = 5;

const KIB = 1024;
const MIB = 1024 * KIB;

/** The attacks of one mode, in the order they run. */
export function makePlan(mode: Mode): AttackSpec[] {
  const pick = <T>(tiny: T, quick: T, full: T): T => (mode === 'tiny' ? tiny : mode === 'quick' ? quick : full);
  const pings = pick(2_000, 60_000, 100_000);
  const published = pick(50, 2_000, 10_000);
  const attacks: AttackSpec[] = [
    { name: 'baseline', title: 'quiet baseline (no attack)', connections: 0, windowMs: pick(600, 3_000, 10_000), count: 0, expected: [] },
    {
      name: 'slowloris',
      // Node's own defaults, which the ws reference keeps, answer after 60-90 s.
      title: 'slowloris: request headers a byte every 500 ms',
      connections: pick(2, 50, 200),
      windowMs: pick(1_000, 12_500, 95_000),
      count: 0,
      expected: ['HTTP 408'],
    },
    {
      name: 'silence',
      title: 'handshake, then silence',
      connections: pick(5, 200, 2_000),
      windowMs: pick(1_000, 12_500, 15_000),
      count: 0,
      expected: ['dropped'],
    },
    {
      name: 'slow-consumers',
      title: `slow consumers: chat members that never read, ${published.toLocaleString('en-US')} x 16 KiB published`,
      connections: pick(2, 10, 10),
      windowMs: pick(1_000, 6_000, 30_000),
      count: published,
      expected: ['dropped'],
    },
    {
      name: 'fragment-flood',
      title: `fragment flood: one-byte continuations as fast as the socket takes them, reconnecting, ${pick(0.8, 4, 15)} s`,
      connections: pick(2, 10, 10),
      windowMs: pick(800, 4_000, 15_000),
      count: 0,
      expected: ['close 1009'],
    },
    {
      name: 'ping-flood',
      title: `ping flood: ${pings.toLocaleString('en-US')} pings of 125 B each, never reading`,
      connections: pick(2, 50, 50),
      windowMs: pick(1_500, 8_000, 30_000),
      count: pings,
      expected: ['close 1008'],
    },
    { name: 'huge-length', title: 'a frame declaring 2^62 bytes', connections: pick(2, 20, 50), windowMs: pick(800, 2_000, 5_000), count: 0, expected: ['close 1009'] },
    {
      name: 'garbage',
      title: 'garbage after the handshake: 64 KiB of random bytes',
      connections: pick(2, 20, 100),
      windowMs: pick(800, 2_000, 5_000),
      count: 64 * KIB,
      // Whatever the bytes happen to say first: a broken rule (1002), a length over the limit
      // (1009) or text that is not UTF-8 (1007). The bytes are the same for both servers.
      expected: ['close 1002', 'close 1007', 'close 1009'],
    },
    {
      name: 'decompression-bomb',
      title: 'decompression bomb: 64 MiB of zeros in 64 KiB of DEFLATE',
      connections: pick(1, 5, 20),
      windowMs: pick(1_000, 3_000, 8_000),
      count: 64 * MIB,
      expected: ['close 1009'],
    },
    {
      name: 'churn',
      title: 'connection churn: handshake, then Close or abort, 20 at a time',
      connections: pick(2, 20, 50),
      windowMs: pick(800, 4_000, 15_000),
      count: 0,
      expected: ['closed 1000', 'aborted'],
    },
    {
      name: 'oversized-headers',
      title: 'oversized headers: one of 32 KiB',
      connections: pick(2, 20, 100),
      windowMs: pick(800, 2_000, 5_000),
      count: 32 * KIB,
      expected: ['HTTP 431'],
    },
  ];
  return attacks;
}
