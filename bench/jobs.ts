/**
 * What the runner asks of the load generator, and what it reports back, over the IPC
 * channel between the two processes.
 */

/** Raw TCP for the floor (no framing at all), WebSocket for every real server. */
export type Transport = 'websocket' | 'tcp';

interface JobBase {
  host: string;
  port: number;
  /** Traffic before counting starts: connections warm, JIT settled. */
  warmupMs: number;
  /** How long counts are taken. */
  measureMs: number;
}

/** Round trips: each connection keeps `inflight` messages outstanding and sends one per echo. */
export interface EchoJob extends JobBase {
  kind: 'echo';
  transport: Transport;
  path: string;
  connections: number;
  inflight: number;
  payloadBytes: number;
  binary: boolean;
}

/** Broadcast: `subscribers` members of one channel receive everything published. */
export interface FanoutJob extends JobBase {
  kind: 'fanout';
  subscribers: number;
  /**
   * How the subscribers are members: `chat` (the default), raw `/chat?channel=` connections
   * receiving each message as it was sent; `pubsub`, `/pubsub` connections speaking
   * framecast.v1 (docs/pubsub.md) that subscribe to the channel and receive `pub` pushes,
   * each checked for its offset as well as its payload.
   */
  subscriberMode?: 'chat' | 'pubsub';
  /** `push`: POST /push?channel=; `chat`: a member of the channel sends messages. */
  publisher: 'push' | 'chat';
  channel: string;
  /** Most messages published but not yet delivered to every subscriber. */
  window: number;
  /** After publishing stops, how long to wait for the last deliveries. */
  drainMs: number;
  /**
   * Offer permessage-deflate from every subscriber (and require it) and publish 1-4 KiB JSON
   * messages instead of 32-byte ones.
   */
  deflate?: boolean;
}

/** autocannon against an HTTP endpoint. */
export interface HttpJob extends JobBase {
  kind: 'http';
  path: string;
  bodyBytes: number;
  connections: number;
}

/** Opens idle connections, reports, and holds them until released. */
export interface MemoryJob {
  kind: 'memory';
  host: string;
  port: number;
  path: string;
  connections: number;
  /** Handshakes in flight at once. */
  concurrency: number;
}

export type Job = EchoJob | FanoutJob | HttpJob | MemoryJob;

export interface EchoResult {
  kind: 'echo';
  messages: number;
  seconds: number;
  messagesPerSecond: number;
  /** Payload bytes echoed per second, one direction, in MB (10^6 bytes). */
  megabytesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** The load generator's CPU time over the measured window, as a fraction of one core. */
  loadgenCpu: number;
}

export interface FanoutResult {
  kind: 'fanout';
  published: number;
  deliveries: number;
  seconds: number;
  deliveriesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Summed over subscribers: messages published that a subscriber never received. */
  lost: number;
  /** Summed over subscribers: messages that arrived after a later one. */
  reordered: number;
  /** Summed over subscribers: messages not from the publisher, or that could not be read. */
  malformed: number;
  /** Bytes the subscribers' sockets read in the window (frame headers included), per delivery. */
  wireBytesPerDelivery: number;
  /** Uncompressed payload bytes per delivery in the window. */
  payloadBytesPerDelivery: number;
  /** Deliveries in the window that arrived compressed (RSV1). */
  compressedDeliveries: number;
  loadgenCpu: number;
  /** framecast.v1 subscribers: the channel's latest offset after the run, and the publications its history then held (GET /history). */
  channelOffset?: number;
  historyKept?: number;
}

export interface HttpResult {
  kind: 'http';
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  loadgenCpu: number;
}

export interface MemoryResult {
  kind: 'memory';
  connections: number;
  openMs: number;
  loadgenCpu: number;
}

export type JobResult = EchoResult | FanoutResult | HttpResult | MemoryResult;

/** Load generator to runner. */
export type LoadgenMessage =
  | { type: 'measure-start' }
  | { type: 'measure-end' }
  | { type: 'opened' }
  | { type: 'result'; result: JobResult }
  | { type: 'error'; message: string };

/** Runner to load generator. */
export type RunnerMessage = { type: 'job'; job: Job } | { type: 'release' };
