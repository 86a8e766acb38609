/**
 * Fan-out, load generator side: `subscribers` members of one chat channel; a publisher sends
 * numbered, timestamped messages (by POST /push or as a chat member), keeping at most
 * `window` of them not yet delivered to every subscriber. Each subscriber checks that it gets
 * every message, once, in order; latency is receipt time minus the timestamp in the payload.
 *
 * Pushes go as pipelined HTTP/1.1 requests on one keep-alive connection: the server handles
 * them in the order sent, so that order is the one every subscriber must see. (Pushes spread
 * over several connections would have no order to check.)
 *
 * With `deflate` (the compressed cases) the payloads are 1-4 KiB of JSON (./payloads.ts), the
 * subscribers offer permessage-deflate (RFC 7692) and inflate what arrives compressed with a
 * `MessageInflater` as the server's answer says (keeping the window between messages unless
 * it announced server_no_context_takeover), and every payload is compared byte for byte with
 * what was published. Bytes on the wire are what the subscribers' sockets read in the window.
 */
import type { Socket } from 'node:net';
import {
  type DeflateParameters,
  type FrameHandler,
  type FrameHeader,
  MessageInflater,
  Opcode,
  type ProtocolError,
} from '../../src/protocol/index.js';
import { connectTcp, connectWebSocket, maskedTextFrame } from '../client.js';
import type { FanoutJob, FanoutResult } from '../jobs.js';
import { Histogram } from '../stats.js';
import { cpuSeconds, forEachLimited, sleep, type WorkloadEvents } from './events.js';
import { jsonPayloads, type PayloadFormat, tinyPayloads } from './payloads.js';

/** Bound on messages per run; publishing stops there. */
const MAX_MESSAGES = 1 << 22;
const CONNECT_CONCURRENCY = 64;
const HEAD_END = '\r\n\r\n';
const ACCEPTED = 202;
const DRAIN_POLL_MS = 10;

/** Largest message a subscriber inflates: well above the biggest JSON message. */
const MAX_INFLATED_BYTES = 1024 * 1024;

class FanoutState {
  published = 0;
  /** Messages delivered to every subscriber. */
  completed = 0;
  deliveries = 0;
  /** Payload bytes (uncompressed) of the deliveries counted, and how many arrived compressed. */
  payloadBytes = 0;
  compressedDeliveries = 0;
  publishing = true;
  publishErrors = 0;
  readonly latency = new Histogram();
  readonly deliveredCount = new Uint32Array(MAX_MESSAGES);
  constructor(
    readonly subscribers: number,
    readonly format: PayloadFormat,
  ) {}
}

/** One subscriber: counts what arrives and checks the order. */
class Subscriber implements FrameHandler {
  socket: Socket | undefined;
  received = 0;
  reordered = 0;
  malformed = 0;
  /** Set when permessage-deflate was agreed (RFC 7692 7.2.2). */
  inflater: MessageInflater | undefined;
  private nextSeq = 0;
  private readonly stamp = { micros: 0 };

  constructor(
    private readonly state: FanoutState,
    private readonly onComplete: () => void,
  ) {}

  /** The server's permessage-deflate answer: inflate with its window, as it keeps it. */
  agreed(parameters: DeflateParameters | undefined): void {
    if (parameters !== undefined) this.inflater = new MessageInflater(parameters.serverMaxWindowBits, parameters.serverNoContextTakeover);
  }

  onFrame(header: FrameHeader, frame: Buffer): void {
    // Neither server fragments these messages; a fragment or a control frame is not ours.
    if (!header.fin || header.opcode !== Opcode.Text) {
      this.malformed++;
      return;
    }
    const state = this.state;
    let payload = frame;
    if (header.rsv1) {
      // RFC 7692 6.2: RSV1 on the first frame marks a compressed message.
      if (this.inflater === undefined) throw new Error('compressed frame without permessage-deflate');
      const inflated = this.inflater.decompress(frame, MAX_INFLATED_BYTES);
      if (!Buffer.isBuffer(inflated)) throw new Error(`server sent a message that does not inflate: ${inflated.reason}`);
      payload = inflated;
      state.compressedDeliveries++;
    }
    const seq = state.format.read(payload, this.stamp);
    if (seq < 0 || seq >= state.published) {
      this.malformed++;
      return;
    }
    this.received++;
    state.deliveries++;
    state.payloadBytes += payload.length;
    state.latency.recordMs(performance.now() - this.stamp.micros / 1000);
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
      `Content-Type: ${state.format.contentType}\r\nContent-Length: `;
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => this.onData(text));
    socket.on('error', () => state.publishErrors++);
  }

  push(count: number): void {
    let requests = '';
    for (let i = 0; i < count; i++) {
      // The payloads are ASCII: one byte per character.
      const body = this.state.format.encode(this.state.published++, Math.round(performance.now() * 1000));
      requests += `${this.requestHead}${body.length}\r\n\r\n${body}`;
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
  const deflate = job.deflate === true;
  const state = new FanoutState(job.subscribers, deflate ? jsonPayloads() : tinyPayloads());
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
    const subscriber = subscribers[i];
    const onDeflate = deflate
      ? (agreed: DeflateParameters | undefined) => {
          if (agreed === undefined) throw new Error('the server declined permessage-deflate');
          subscriber.agreed(agreed);
        }
      : undefined;
    subscriber.socket = await connectWebSocket(job.host, job.port, path, subscriber, undefined, { onDeflate });
  });

  let publisherSocket: Socket | undefined;
  if (job.publisher === 'chat') {
    const socket = await connectWebSocket(job.host, job.port, path, IGNORE_FRAMES);
    publisherSocket = socket;
    publish = (count) => {
      const frames: Buffer[] = [];
      const micros = Math.round(performance.now() * 1000);
      for (let i = 0; i < count; i++) frames.push(maskedTextFrame(state.format.encode(state.published++, micros)));
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
  state.payloadBytes = 0;
  state.compressedDeliveries = 0;
  state.latency.reset();
  const bytesReadStart = bytesRead(subscribers);
  const cpuStart = cpuSeconds();
  const wallStart = performance.now();
  events.measureStart();
  await sleep(job.measureMs);
  events.measureEnd();
  const seconds = (performance.now() - wallStart) / 1000;
  const cpu = cpuSeconds() - cpuStart;
  const wireBytes = bytesRead(subscribers) - bytesReadStart;
  const deliveries = state.deliveries;
  const payloadBytes = state.payloadBytes;
  const compressedDeliveries = state.compressedDeliveries;
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
    wireBytesPerDelivery: wireBytes / deliveries,
    payloadBytesPerDelivery: payloadBytes / deliveries,
    compressedDeliveries,
    loadgenCpu: cpu / seconds,
  };
}

/** Bytes the subscribers' sockets have read so far (frames, headers included). */
function bytesRead(subscribers: readonly Subscriber[]): number {
  let total = 0;
  for (const subscriber of subscribers) total += subscriber.socket?.bytesRead ?? 0;
  return total;
}
