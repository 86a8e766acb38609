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
 * With `subscriberMode: 'pubsub'` the subscribers are framecast.v1 clients (docs/pubsub.md):
 * each connects to `/pubsub` offering the subprotocol, sends
 * `{"id":1,"subscribe":{"channel":...}}` and waits for its `subscribed` reply, whose offset L is
 * the channel's latest before anything is published; the publisher is the same as in raw mode
 * (POST /push, or a raw `/chat` member: one channel has one sequence, whoever publishes). Every
 * `pub` push must then carry offset L + 1 + its payload's sequence number, so a push arriving
 * twice, late or with another publication's payload is caught as well as one that never comes.
 * Pushes are read by `PubPushReader` (./pub-push.ts) without JSON.parse. Every subscription
 * sends the channel's earlier subscribers a `join` push (N(N-1)/2 of them for N subscribers);
 * publishing starts only once all of them have arrived, so they are not part of the window.
 *
 * With `deflate` (the compressed cases) the payloads are 1-4 KiB of JSON (./payloads.ts), the
 * subscribers offer permessage-deflate (RFC 7692) and inflate what arrives compressed with a
 * `MessageInflater` as the server's answer says (keeping the window between messages unless
 * it announced server_no_context_takeover), and every payload is compared byte for byte with
 * what was published. Bytes on the wire are what the subscribers' sockets read in the window.
 */
import { get } from 'node:http';
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
import { bytesAt, type PubPush, PubPushReader } from './pub-push.js';

/** Bound on messages per run; publishing stops there. */
const MAX_MESSAGES = 1 << 22;
const CONNECT_CONCURRENCY = 64;
const HEAD_END = '\r\n\r\n';
const ACCEPTED = 202;
const DRAIN_POLL_MS = 10;

/** Largest message a subscriber inflates: well above the biggest JSON message. */
const MAX_INFLATED_BYTES = 1024 * 1024;

/** framecast.v1 (docs/pubsub.md): the subprotocol, and what a subscriber sends and expects. */
const PUBSUB_PATH = '/pubsub';
const PUBSUB_PROTOCOL = 'framecast.v1';
const SUBSCRIBE_ID = 1;
/** A `join` push starts so (docs/pubsub.md "Pushes"). */
const JOIN_PUSH_HEAD = Buffer.from('{"join":', 'latin1');

/** Longest wait for the subscribed replies and the join pushes, each. */
const SUBSCRIBE_TIMEOUT_MS = 60_000;

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
  /** framecast.v1: `join` pushes received by all subscribers. */
  joins = 0;
  readonly latency = new Histogram();
  readonly deliveredCount = new Uint32Array(MAX_MESSAGES);
  constructor(
    readonly subscribers: number,
    readonly format: PayloadFormat,
  ) {}
}

/** One raw `/chat` subscriber: counts what arrives and checks the order. */
class Subscriber implements FrameHandler {
  socket: Socket | undefined;
  received = 0;
  reordered = 0;
  malformed = 0;
  /** Set when permessage-deflate was agreed (RFC 7692 7.2.2). */
  inflater: MessageInflater | undefined;
  private nextSeq = 0;
  protected readonly stamp = { micros: 0 };

  constructor(
    protected readonly state: FanoutState,
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
    let payload = frame;
    if (header.rsv1) {
      // RFC 7692 6.2: RSV1 on the first frame marks a compressed message.
      if (this.inflater === undefined) throw new Error('compressed frame without permessage-deflate');
      const inflated = this.inflater.decompress(frame, MAX_INFLATED_BYTES);
      if (!Buffer.isBuffer(inflated)) throw new Error(`server sent a message that does not inflate: ${inflated.reason}`);
      payload = inflated;
      this.state.compressedDeliveries++;
    }
    this.message(payload);
  }

  onFrameError(error: ProtocolError): void {
    throw new Error(`server sent a bad frame: ${error.reason}`);
  }

  /** A raw member receives each message as it was published. */
  protected message(payload: Buffer): void {
    const seq = this.state.format.read(payload, this.stamp);
    if (seq < 0) this.malformed++;
    else this.delivered(seq, payload.length);
  }

  /** Message `seq` (its payload `bytes` long, its timestamp in `stamp`) arrived. */
  protected delivered(seq: number, bytes: number): void {
    const state = this.state;
    if (seq >= state.published) {
      this.malformed++;
      return;
    }
    this.received++;
    state.deliveries++;
    state.payloadBytes += bytes;
    state.latency.recordMs(performance.now() - this.stamp.micros / 1000);
    if (seq < this.nextSeq) this.reordered++;
    else this.nextSeq = seq + 1;
    if (++state.deliveredCount[seq] === state.subscribers) {
      state.completed++;
      this.onComplete();
    }
  }
}

/**
 * One framecast.v1 subscriber: subscribes, then checks every `pub` push's offset against its
 * payload (offset L + 1 + seq, L from the `subscribed` reply), so that order by offset is
 * order by sequence number and the raw subscriber's counting applies as it is.
 */
class PubSubSubscriber extends Subscriber {
  /** The channel's latest offset when this subscriber subscribed; -1 until the reply came. */
  subscribedOffset = -1;
  private readonly push: PubPush = { offset: 0, frame: Buffer.alloc(0), start: 0, end: 0 };
  private onSubscribed: ((error?: Error) => void) | undefined;

  constructor(
    state: FanoutState,
    onComplete: () => void,
    private readonly reader: PubPushReader,
  ) {
    super(state, onComplete);
  }

  /** Sends the subscribe command; resolves with the reply (RFC 6455 5.3: the frame is masked). */
  subscribe(socket: Socket): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no subscribed reply within ${SUBSCRIBE_TIMEOUT_MS} ms`)), SUBSCRIBE_TIMEOUT_MS);
      this.onSubscribed = (error) => {
        clearTimeout(timer);
        if (error === undefined) resolve();
        else reject(error);
      };
      socket.write(maskedTextFrame(JSON.stringify({ id: SUBSCRIBE_ID, subscribe: { channel: this.reader.channel } })));
    });
  }

  protected override message(payload: Buffer): void {
    const push = this.push;
    if (bytesAt(payload, 0, JOIN_PUSH_HEAD)) {
      // Checked first: a setup of N subscribers brings N(N-1)/2 of them, not for JSON.parse.
      this.state.joins++;
    } else if (this.reader.read(payload, push)) {
      const seq = this.state.format.read(push.frame, this.stamp, push.start, push.end);
      if (seq < 0 || this.subscribedOffset < 0 || push.offset !== this.subscribedOffset + 1 + seq) this.malformed++;
      else this.delivered(seq, push.end - push.start);
    } else if (this.subscribedOffset < 0) {
      this.reply(payload);
    } else {
      this.malformed++;
    }
  }

  /** The answer to the subscribe command: `{"id":1,"subscribed":{"channel":...,"offset":L,...}}`. */
  private reply(payload: Buffer): void {
    let reply: { id?: unknown; subscribed?: { channel?: unknown; offset?: unknown } } = {};
    try {
      reply = JSON.parse(payload.toString('utf8')) as typeof reply;
    } catch {
      // Not JSON: refused below.
    }
    const offset = reply.subscribed?.offset;
    if (reply.id !== SUBSCRIBE_ID || reply.subscribed?.channel !== this.reader.channel || typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      this.onSubscribed?.(new Error(`subscribe was answered ${payload.toString('utf8').slice(0, 200)}`));
      return;
    }
    this.subscribedOffset = offset;
    this.onSubscribed?.();
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
  const pubsub = job.subscriberMode === 'pubsub';
  const reader = new PubPushReader(job.channel);
  const subscribers = Array.from({ length: job.subscribers }, () => (pubsub ? new PubSubSubscriber(state, refill, reader) : new Subscriber(state, refill)));
  const path = `/chat?channel=${encodeURIComponent(job.channel)}`;
  await forEachLimited(subscribers.length, CONNECT_CONCURRENCY, async (i) => {
    const subscriber = subscribers[i];
    const onDeflate = deflate
      ? (agreed: DeflateParameters | undefined) => {
          if (agreed === undefined) throw new Error('the server declined permessage-deflate');
          subscriber.agreed(agreed);
        }
      : undefined;
    if (subscriber instanceof PubSubSubscriber) {
      const socket = await connectWebSocket(job.host, job.port, PUBSUB_PATH, subscriber, undefined, { onDeflate, protocol: PUBSUB_PROTOCOL });
      subscriber.socket = socket;
      await subscriber.subscribe(socket);
    } else {
      subscriber.socket = await connectWebSocket(job.host, job.port, path, subscriber, undefined, { onDeflate });
    }
  });
  if (pubsub) {
    // Each subscription told the ones before it (docs/pubsub.md "presence"): let those pushes land first.
    const joins = (job.subscribers * (job.subscribers - 1)) / 2;
    const joinsUntil = performance.now() + SUBSCRIBE_TIMEOUT_MS;
    while (state.joins < joins && performance.now() < joinsUntil) await sleep(DRAIN_POLL_MS);
    if (state.joins !== joins) throw new Error(`the subscribers received ${state.joins} join pushes, expected ${joins}`);
  }

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

  // framecast.v1: what the server says of the channel afterwards (GET /history, docs/pubsub.md).
  const channel = pubsub ? await readChannel(job) : undefined;

  let lost = 0;
  let reordered = 0;
  let malformed = state.publishErrors;
  // One channel, one sequence: every publication took the next offset after the subscribers' L.
  const first = subscribers[0];
  if (channel !== undefined && first instanceof PubSubSubscriber && channel.offset !== first.subscribedOffset + state.published) malformed++;
  for (const subscriber of subscribers) {
    lost += Math.max(0, state.published - subscriber.received);
    reordered += subscriber.reordered;
    malformed += subscriber.malformed + Math.max(0, subscriber.received - state.published);
    subscriber.socket?.destroy();
  }
  publisherSocket?.destroy();
  if (deliveries === 0) throw new Error(`no message was delivered during the measured window (published ${state.published}, delivered to every subscriber ${state.completed}, lost ${lost})`);
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
    ...(channel === undefined ? {} : { channelOffset: channel.offset, historyKept: channel.publications }),
  };
}

/** The channel's latest offset and how many publications its history holds, from `GET /history`. */
function readChannel(job: FanoutJob): Promise<{ offset: number; publications: number }> {
  return new Promise((resolve, reject) => {
    const request = get({ host: job.host, port: job.port, path: `/history?channel=${encodeURIComponent(job.channel)}`, timeout: SUBSCRIBE_TIMEOUT_MS }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (text: string) => (body += text));
      response.on('end', () => {
        if (response.statusCode !== 200) return reject(new Error(`GET /history answered ${response.statusCode}: ${body.slice(0, 200)}`));
        const history = JSON.parse(body) as { offset: number; publications: unknown[] };
        resolve({ offset: history.offset, publications: history.publications.length });
      });
    });
    request.on('timeout', () => request.destroy(new Error('GET /history timed out')));
    request.on('error', reject);
  });
}

/** Bytes the subscribers' sockets have read so far (frames, headers included). */
function bytesRead(subscribers: readonly Subscriber[]): number {
  let total = 0;
  for (const subscriber of subscribers) total += subscriber.socket?.bytesRead ?? 0;
  return total;
}
