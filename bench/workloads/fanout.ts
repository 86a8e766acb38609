/**
 * Fan-out, load generator side: `subscribers` members of one chat channel; a publisher sends
 * numbered, timestamped messages (by POST /push or as a chat member), keeping at most
 * `window` of them not yet delivered to every subscriber. Each subscriber checks that it gets
 * every message, once, in order; latency is receipt time minus the timestamp in the payload.
 *
 * Pushes go as pipelined HTTP/1.1 requests on one keep-alive connection: the server handles
 * them in the order sent, so that order is the one every subscriber must see. (Pushes spread
 * over several connections would have no order to check.)
 */
import type { Socket } from 'node:net';
import type { FrameHandler, FrameHeader, ProtocolError } from '../../src/protocol/index.js';
import { connectTcp, connectWebSocket, maskedTextFrame } from '../client.js';
import type { FanoutJob, FanoutResult } from '../jobs.js';
import { Histogram } from '../stats.js';
import { cpuSeconds, forEachLimited, sleep, type WorkloadEvents } from './events.js';

/**
 * The payload: 32 bytes of text, `SSSSSSSSSS TTTTTTTTTTTTTTT` + padding: a 10-digit sequence
 * number and a 15-digit timestamp in microseconds of the load generator's clock.
 */
const PAYLOAD_BYTES = 32;
const SEQ_DIGITS = 10;
const TIME_DIGITS = 15;
const TIME_OFFSET = SEQ_DIGITS + 1;
const SPACE = 0x20;
const DIGIT_ZERO = 0x30;
/** Bound on messages per run; publishing stops there. */
const MAX_MESSAGES = 1 << 22;
const CONNECT_CONCURRENCY = 64;
const HEAD_END = '\r\n\r\n';
const ACCEPTED = 202;
const DRAIN_POLL_MS = 10;

function encodePayload(seq: number, micros: number): string {
  return `${String(seq).padStart(SEQ_DIGITS, '0')} ${String(micros).padStart(TIME_DIGITS, '0')}`.padEnd(PAYLOAD_BYTES, ' ');
}

/** Reads `digits` decimal digits at `offset`, or -1 if any byte is not a digit. */
function readDecimal(payload: Buffer, offset: number, digits: number): number {
  let value = 0;
  for (let i = offset; i < offset + digits; i++) {
    const digit = payload[i] - DIGIT_ZERO;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

class FanoutState {
  published = 0;
  /** Messages delivered to every subscriber. */
  completed = 0;
  deliveries = 0;
  publishing = true;
  publishErrors = 0;
  readonly latency = new Histogram();
  readonly deliveredCount = new Uint32Array(MAX_MESSAGES);
  constructor(readonly subscribers: number) {}
}

/** One subscriber: counts what arrives and checks the order. */
class Subscriber implements FrameHandler {
  socket: Socket | undefined;
  received = 0;
  reordered = 0;
  malformed = 0;
  private nextSeq = 0;

  constructor(
    private readonly state: FanoutState,
    private readonly onComplete: () => void,
  ) {}

  onFrame(header: FrameHeader, payload: Buffer): void {
    const seq = readDecimal(payload, 0, SEQ_DIGITS);
    const micros = readDecimal(payload, TIME_OFFSET, TIME_DIGITS);
    if (payload.length !== PAYLOAD_BYTES || payload[SEQ_DIGITS] !== SPACE || seq < 0 || micros < 0 || seq >= this.state.published) {
      this.malformed++;
      return;
    }
    const state = this.state;
    this.received++;
    state.deliveries++;
    state.latency.recordMs(performance.now() - micros / 1000);
    if (seq < this.nextSeq) this.reordered++;
    else this.nextSeq = seq + 1;
    if (++state.deliveredCount[seq] === state.subscribers) {
      state.completed++;
      this.onComplete();
    }
  }

  onFrameError(error: ProtocolError): void {
    throw new Error(`server sent a bad frame: ${error.reason}`);
  }
}

/** Ignores what the chat publisher receives (its own messages). */
const IGNORE_FRAMES: FrameHandler = {
  onFrame() {},
  onFrameError(error: ProtocolError) {
    throw new Error(`server sent the publisher a bad frame: ${error.reason}`);
  },
};

/**
 * POST /push requests pipelined on one connection, answers read back in order: each must be
 * 202 with `recipients` equal to the number of subscribers.
 */
class PushPipeline {
  private readonly requestHead: string;
  private received = '';

  constructor(
    readonly socket: Socket,
    job: FanoutJob,
    private readonly state: FanoutState,
  ) {
    this.requestHead =
      `POST /push?channel=${encodeURIComponent(job.channel)} HTTP/1.1\r\nHost: ${job.host}:${job.port}\r\n` +
      `Content-Type: text/plain\r\nContent-Length: ${PAYLOAD_BYTES}\r\n\r\n`;
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => this.onData(text));
    socket.on('error', () => state.publishErrors++);
  }

  push(count: number): void {
    let requests = '';
    for (let i = 0; i < count; i++) {
      requests += this.requestHead + encodePayload(this.state.published++, Math.round(performance.now() * 1000));
    }
    this.socket.write(requests, 'latin1');
  }

  private onData(text: string): void {
    this.received += text;
    for (;;) {
      const headEnd = this.received.indexOf(HEAD_END);
      if (headEnd === -1) return;
      const head = this.received.slice(0, headEnd);
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? '0');
      const bodyStart = headEnd + HEAD_END.length;
      if (this.received.length < bodyStart + length) return;
      const body = this.received.slice(bodyStart, bodyStart + length);
      this.received = this.received.slice(bodyStart + length);
      const status = Number(head.slice(9, 12));
      const recipients = status === ACCEPTED ? (JSON.parse(body) as { recipients?: unknown }).recipients : undefined;
      if (recipients !== this.state.subscribers) this.state.publishErrors++;
    }
  }
}

export async function runFanout(job: FanoutJob, events: WorkloadEvents): Promise<FanoutResult> {
  const state = new FanoutState(job.subscribers);
  let publish: (count: number) => void = () => {};
  /** Tops the window up: publishes until `window` messages are outstanding. */
  const refill = (): void => {
    if (!state.publishing) return;
    const room = Math.min(job.window - (state.published - state.completed), MAX_MESSAGES - state.published);
    if (room > 0) publish(room);
  };
  const subscribers = Array.from({ length: job.subscribers }, () => new Subscriber(state, refill));
  const path = `/chat?channel=${encodeURIComponent(job.channel)}`;
  await forEachLimited(subscribers.length, CONNECT_CONCURRENCY, async (i) => {
    subscribers[i].socket = await connectWebSocket(job.host, job.port, path, subscribers[i]);
  });

  let publisherSocket: Socket | undefined;
  if (job.publisher === 'chat') {
    const socket = await connectWebSocket(job.host, job.port, path, IGNORE_FRAMES);
    publisherSocket = socket;
    publish = (count) => {
      const frames: Buffer[] = [];
      const micros = Math.round(performance.now() * 1000);
      for (let i = 0; i < count; i++) frames.push(maskedTextFrame(encodePayload(state.published++, micros)));
      socket.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
    };
  } else {
    const pipeline = new PushPipeline(await connectTcp(job.host, job.port), job, state);
    publisherSocket = pipeline.socket;
    publish = (count) => pipeline.push(count);
  }

  refill();
  await sleep(job.warmupMs);
  state.deliveries = 0;
  state.latency.reset();
  const cpuStart = cpuSeconds();
  const wallStart = performance.now();
  events.measureStart();
  await sleep(job.measureMs);
  events.measureEnd();
  const seconds = (performance.now() - wallStart) / 1000;
  const cpu = cpuSeconds() - cpuStart;
  const deliveries = state.deliveries;
  const p50Ms = state.latency.quantileMs(0.5);
  const p99Ms = state.latency.quantileMs(0.99);

  // Stop publishing and let the last messages arrive (bounded by drainMs).
  state.publishing = false;
  const drainUntil = performance.now() + job.drainMs;
  while (state.completed < state.published && performance.now() < drainUntil) await sleep(DRAIN_POLL_MS);

  let lost = 0;
  let reordered = 0;
  let malformed = state.publishErrors;
  for (const subscriber of subscribers) {
    lost += Math.max(0, state.published - subscriber.received);
    reordered += subscriber.reordered;
    malformed += subscriber.malformed + Math.max(0, subscriber.received - state.published);
    subscriber.socket?.destroy();
  }
  publisherSocket?.destroy();
  if (deliveries === 0) throw new Error('no message was delivered during the measured window');
  return {
    kind: 'fanout',
    published: state.published,
    deliveries,
    seconds,
    deliveriesPerSecond: deliveries / seconds,
    p50Ms,
    p99Ms,
    lost,
    reordered,
    malformed,
    loadgenCpu: cpu / seconds,
  };
}
