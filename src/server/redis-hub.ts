/**
 * The Redis hub: several framecast nodes behind a load balancer act as one service, with Redis
 * pub/sub carrying every message between them (`framecast --redis redis://host:port`).
 *
 * How it works:
 * - Each framecast channel NAME is the Redis channel `framecast:channel:NAME`; pushes without a
 *   channel go to `framecast:all`. A node subscribes to a channel's Redis channel when the
 *   channel gets its first local member and unsubscribes after the last one leaves; it is
 *   subscribed to `framecast:all` for as long as it runs.
 * - `publish` only PUBLISHes. Delivery to local members happens when the publication comes back
 *   from Redis, never directly on publish. So every node, the publishing one included, delivers
 *   each message exactly once, in the order Redis gave it: one order per channel for every
 *   member on every node.
 * - While either connection to Redis is down, `publish` rejects (POST /push answers 503, a chat
 *   sender is closed with 1013): nothing is queued to be sent later or dropped silently. The
 *   same goes while Redis is up but slow to answer and `maxPendingPublishBytes` of publications
 *   already wait for it. Local connections stay open. The clients reconnect with exponential
 *   backoff and resubscribe to every channel that still has local members. /healthz and
 *   /metrics show the broker state.
 *
 * Redis pub/sub delivers at most once: a node whose connection to Redis is down when a message
 * is published misses it. The publishing node refuses to publish in that state, so it never
 * answers 202 for a message its own members will not get.
 */
import { createClient } from 'redis';
import { BrokerDefaults } from './config.js';
import type { WebSocketConnection } from './connection.js';
import { decodeEnvelope, encodeEnvelope } from './broker-envelope.js';
import { type Hub, HubUnavailableError, LocalChannels, type PublishResult } from './hub.js';
import type { HistoryQuery, HistoryResult } from './pubsub/history.js';
import type { Subscription } from './pubsub/subscription.js';
import type { PresenceEntry } from './pubsub/wire.js';
import { describeError, type Logger, silentLogger } from './log.js';

export interface RedisHubOptions {
  /** Where Redis is, e.g. `redis://127.0.0.1:6379` (`rediss://` for TLS; user and password may be in it). */
  url: string;
  /** Redis channel names start with this and ':' (default `framecast`). */
  channelPrefix?: string;
  /** First reconnect wait in ms; it doubles on each failed attempt up to `reconnectMaxDelay`. */
  reconnectMinDelay?: number;
  reconnectMaxDelay?: number;
  /** Longest time one connection attempt may take (ms). */
  connectTimeout?: number;
  /**
   * Most bytes of publications handed to Redis and not yet answered; past it `publish` rejects
   * with `BrokerBusyError` (see `BrokerDefaults.maxPendingPublishBytes`).
   */
  maxPendingPublishBytes?: number;
  logger?: Logger;
}

/** Thrown by `publish` while Redis cannot be reached. */
export class BrokerUnavailableError extends Error {
  constructor() {
    super('the Redis message broker is not connected');
    this.name = 'BrokerUnavailableError';
  }
}

/**
 * Thrown by `publish` while Redis is connected but slow to answer and the publications waiting
 * for it already hold `maxPendingPublishBytes`: refused rather than queued without bound.
 */
export class BrokerBusyError extends Error {
  constructor(pendingBytes: number) {
    super(`the Redis message broker is not keeping up (${pendingBytes} bytes of publications await its answer)`);
    this.name = 'BrokerBusyError';
  }
}

/** The wait before reconnect attempt `retries` (0-based): min * 2^retries, capped, plus up to `jitter` of it at random. */
export function reconnectDelay(retries: number, min: number, max: number, jitter: number): number {
  const base = Math.min(max, min * 2 ** Math.min(retries, 30));
  return Math.round(base * (1 + jitter * Math.random()));
}

type RedisClient = ReturnType<typeof createClient>;

const PUBSUB_NOT_ON_REDIS = 'framecast.v1 channels are not available with the Redis hub yet';

/** The node-redis pub/sub bookkeeping type for plain (not pattern, not sharded) channels. */
const PLAIN_CHANNELS = 'CHANNELS';

/** A `Hub` that relays every message through Redis pub/sub. Start-up connects in the background; see `whenConnected`. */
export class RedisHub implements Hub {
  readonly recipientsCounted = 'nodes';
  private readonly local: LocalChannels;
  private readonly logger: Logger;
  /** Commands, PUBLISH among them; rejects at once while disconnected (no offline queue). */
  private readonly publisher: RedisClient;
  /** A connection in subscriber mode (it can do nothing else, so it is a second client). */
  private readonly subscriber: RedisClient;
  /** `framecast:channel:`: a framecast channel's Redis channel is this plus its name. */
  private readonly channelPrefix: string;
  /** `framecast:all`: pushes without a channel. */
  private readonly everyoneChannel: string;
  /** Redis channels whose SUBSCRIBE is sent but not yet confirmed: a publish to one waits for it (see `publish`). */
  private readonly pendingSubscriptions = new Map<string, Promise<void>>();
  private wasConnected = false;
  /** Whether this outage was already logged as a warning. */
  private lostLogged = false;
  private closing = false;
  private reconnects = 0;
  private publishFailures = 0;
  private malformed = 0;
  /** Bytes of publications sent (or waiting for a SUBSCRIBE) and not yet answered by Redis. */
  private pendingPublishBytes = 0;
  private readonly maxPendingPublishBytes: number;
  private connectedWaiters: Array<() => void> = [];

  constructor(everyone: readonly ReadonlySet<WebSocketConnection>[], options: RedisHubOptions) {
    this.local = new LocalChannels(everyone);
    this.logger = options.logger ?? silentLogger;
    const prefix = options.channelPrefix ?? BrokerDefaults.channelPrefix;
    this.channelPrefix = `${prefix}:channel:`;
    this.everyoneChannel = `${prefix}:all`;
    this.maxPendingPublishBytes = options.maxPendingPublishBytes ?? BrokerDefaults.maxPendingPublishBytes;

    const min = options.reconnectMinDelay ?? BrokerDefaults.reconnectMinDelay;
    const max = options.reconnectMaxDelay ?? BrokerDefaults.reconnectMaxDelay;
    const socket = {
      connectTimeout: options.connectTimeout ?? BrokerDefaults.connectTimeout,
      reconnectStrategy: (retries: number): number => reconnectDelay(retries, min, max, BrokerDefaults.reconnectJitter),
    };
    this.publisher = createClient({ url: options.url, socket, disableOfflineQueue: true });
    // The subscriber keeps its offline queue: a SUBSCRIBE or UNSUBSCRIBE asked for during an
    // outage is sent once Redis is back, after node-redis has resubscribed the rest.
    this.subscriber = createClient({ url: options.url, socket });
    for (const [role, client] of [['publisher', this.publisher], ['subscriber', this.subscriber]] as const) {
      client.on('error', (error: unknown) => this.onClientError(role, error));
      client.on('ready', () => this.onClientReady(role));
    }

    this.local.onChannelOpened = (channel) => this.subscribeRedis(this.channelPrefix + channel);
    this.local.onChannelEmptied = (channel) => this.unsubscribeRedis(this.channelPrefix + channel);
    this.subscribeRedis(this.everyoneChannel);

    const url = redactUrl(options.url);
    this.logger.info(`hub: Redis pub/sub at ${url}, connecting`);
    for (const client of [this.publisher, this.subscriber]) {
      // connect() settles once the first attempt succeeds; failures are retried by the
      // reconnect strategy and reported through 'error', so only a close rejects it.
      client.connect().catch(() => undefined);
    }
  }

  /** True while both connections to Redis are ready. */
  get connected(): boolean {
    return this.publisher.isReady && this.subscriber.isReady;
  }

  /** Resolves once both connections to Redis are ready (at once if they are). */
  whenConnected(): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve) => this.connectedWaiters.push(resolve));
  }

  join(channel: string, connection: WebSocketConnection): void {
    this.local.join(channel, connection);
  }

  /**
   * Publishes through Redis; every node, this one too, delivers when the publication comes back.
   * Resolves to the number of nodes that received it (PUBLISH's answer). Rejects while Redis is
   * unreachable.
   */
  publish(channel: string | undefined, data: string | Uint8Array, isBinary: boolean): Promise<number> {
    if (!this.connected) {
      this.publishFailures++;
      return Promise.reject(new BrokerUnavailableError());
    }
    const redisChannel = channel === undefined ? this.everyoneChannel : this.channelPrefix + channel;
    const envelope = encodeEnvelope(data, isBinary);
    // Memory is bounded by configuration: while Redis is slow to answer (stalled, overloaded),
    // publications wait inside the client. Past the bound they are refused (503, 1013) rather
    // than queued; one publication is always let through when none is waiting.
    const size = envelope.length;
    if (this.pendingPublishBytes > 0 && this.pendingPublishBytes + size > this.maxPendingPublishBytes) {
      this.publishFailures++;
      return Promise.reject(new BrokerBusyError(this.pendingPublishBytes));
    }
    this.pendingPublishBytes += size;
    // A member who joined a moment ago and speaks at once: PUBLISH only after this node's
    // SUBSCRIBE is confirmed, or the message would pass by before this node listens and the
    // sender would miss it. (Later publishes to the channel queue behind this one, in order.)
    const pending = this.pendingSubscriptions.get(redisChannel);
    const published = pending === undefined ? this.publisher.publish(redisChannel, envelope) : pending.then(() => this.publisher.publish(redisChannel, envelope));
    return published.then(
      (receivers) => {
        this.pendingPublishBytes -= size;
        return receivers;
      },
      (error: unknown) => {
        this.pendingPublishBytes -= size;
        this.publishFailures++;
        throw error;
      },
    );
  }

  publishWithOffset(channel: string | undefined, data: string | Uint8Array, isBinary: boolean): Promise<PublishResult> {
    return this.publish(channel, data, isBinary).then((recipients) => ({ recipients }));
  }

  /**
   * framecast.v1 needs one sequence of offsets and one history per channel for all nodes, so
   * they must live in Redis; until they do, the Redis hub answers `unavailable` to
   * subscriptions, presence and history rather than number publications per node.
   */
  subscribe(_subscription: Subscription, _query: HistoryQuery): Promise<HistoryResult> {
    return Promise.reject(new HubUnavailableError(PUBSUB_NOT_ON_REDIS));
  }

  unsubscribe(subscription: Subscription): void {
    this.local.unsubscribe(subscription);
  }

  presence(_channel: string): Promise<readonly PresenceEntry[]> {
    return Promise.reject(new HubUnavailableError(PUBSUB_NOT_ON_REDIS));
  }

  history(_channel: string, _query: HistoryQuery): Promise<HistoryResult> {
    return Promise.reject(new HubUnavailableError(PUBSUB_NOT_ON_REDIS));
  }

  metricLines(): string[] {
    return [
      '# HELP framecast_broker_connected Whether both connections to the Redis broker are ready (1) or not (0).',
      '# TYPE framecast_broker_connected gauge',
      `framecast_broker_connected ${this.connected ? 1 : 0}`,
      '# HELP framecast_broker_reconnects_total Times the connection to Redis came back after being lost.',
      '# TYPE framecast_broker_reconnects_total counter',
      `framecast_broker_reconnects_total ${this.reconnects}`,
      '# HELP framecast_broker_publish_failures_total Messages that could not be published to Redis (answered 503 or 1013).',
      '# TYPE framecast_broker_publish_failures_total counter',
      `framecast_broker_publish_failures_total ${this.publishFailures}`,
      '# HELP framecast_broker_malformed_total Publications from Redis dropped because they were not framecast envelopes.',
      '# TYPE framecast_broker_malformed_total counter',
      `framecast_broker_malformed_total ${this.malformed}`,
      '# HELP framecast_broker_subscriptions Redis channels this node is subscribed to (channels with local members, plus one for pushes to everyone).',
      '# TYPE framecast_broker_subscriptions gauge',
      `framecast_broker_subscriptions ${this.subscriber.getPubSubListeners(PLAIN_CHANNELS).size}`,
    ];
  }

  /** `status` becomes `degraded` while Redis is away: local echo works, cross-node delivery and pushes do not. */
  health(): Record<string, string> {
    const connected = this.connected;
    return connected ? { hub: 'redis', broker: 'connected' } : { status: 'degraded', hub: 'redis', broker: 'disconnected' };
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      [this.publisher, this.subscriber].map(async (client) => {
        try {
          if (client.isReady) await client.close();
          else client.destroy();
        } catch {
          client.destroy();
        }
      }),
    );
  }

  /** A publication from Redis: unwrap it and deliver it to the members on this node. */
  private readonly onPublication = (envelope: Buffer, redisChannel: Buffer): void => {
    const message = decodeEnvelope(envelope);
    if (message === undefined) {
      this.malformed++;
      return;
    }
    // Redis channel names here are ASCII (framecast channel names are), so latin1 is exact.
    const name = redisChannel.toString('latin1');
    if (name === this.everyoneChannel) {
      this.local.deliverToEveryone(message.payload, message.isBinary);
      return;
    }
    // No offsets on Redis yet, so no framecast.v1 subscriptions either (see `subscribe`):
    // only raw members receive, and they need no offset.
    this.local.deliverPublication(name.slice(this.channelPrefix.length), { offset: 0, data: message.payload, isBinary: message.isBinary });
  };

  private subscribeRedis(redisChannel: string): void {
    const confirmed = this.subscriber.subscribe(redisChannel, this.onPublication, true);
    this.pendingSubscriptions.set(redisChannel, confirmed);
    confirmed.then(
      () => this.settle(redisChannel, confirmed),
      (error: unknown) => {
        // The connection broke before Redis confirmed: `onClientReady` subscribes again.
        this.settle(redisChannel, confirmed);
        this.logger.debug(`SUBSCRIBE ${redisChannel} failed, retried on reconnect: ${describeError(error)}`);
      },
    );
  }

  private settle(redisChannel: string, confirmed: Promise<void>): void {
    if (this.pendingSubscriptions.get(redisChannel) === confirmed) this.pendingSubscriptions.delete(redisChannel);
  }

  private unsubscribeRedis(redisChannel: string): void {
    this.pendingSubscriptions.delete(redisChannel);
    this.subscriber.unsubscribe(redisChannel, this.onPublication, true).catch((error: unknown) => {
      this.logger.debug(`UNSUBSCRIBE ${redisChannel} failed, retried on reconnect: ${describeError(error)}`);
    });
  }

  /** Whether this node needs `redisChannel`: the everyone channel, or a channel with local members. */
  private wants(redisChannel: string): boolean {
    if (redisChannel === this.everyoneChannel) return true;
    return redisChannel.startsWith(this.channelPrefix) && this.local.memberCount(redisChannel.slice(this.channelPrefix.length)) > 0;
  }

  /**
   * After (re)connecting, node-redis has already resubscribed every channel whose SUBSCRIBE was
   * confirmed before the connection broke. Put right what was in flight when it broke: subscribe
   * what is wanted but missing, unsubscribe what is subscribed but no longer wanted.
   */
  private reconcileSubscriptions(): void {
    const subscribed = this.subscriber.getPubSubListeners(PLAIN_CHANNELS);
    const wanted = [this.everyoneChannel, ...[...this.local.channelNames()].map((channel) => this.channelPrefix + channel)];
    for (const redisChannel of wanted) {
      if (!subscribed.has(redisChannel) && !this.pendingSubscriptions.has(redisChannel)) this.subscribeRedis(redisChannel);
    }
    for (const redisChannel of [...subscribed.keys()]) {
      if (!this.wants(redisChannel)) this.unsubscribeRedis(redisChannel);
    }
  }

  private onClientReady(role: 'publisher' | 'subscriber'): void {
    if (this.closing) return;
    if (role === 'subscriber') this.reconcileSubscriptions();
    if (!this.connected) return;
    if (this.wasConnected) {
      this.reconnects++;
      this.logger.info('hub: reconnected to Redis; cross-node delivery and pushes work again');
    } else {
      this.logger.info('hub: connected to Redis');
    }
    this.wasConnected = true;
    this.lostLogged = false;
    const waiters = this.connectedWaiters;
    this.connectedWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private onClientError(role: 'publisher' | 'subscriber', error: unknown): void {
    if (this.closing) return;
    // One warning per outage; each failed reconnect attempt only at debug level.
    if (!this.lostLogged) {
      this.logger.warn(`hub: Redis ${role} connection failed (${describeError(error)}); pushes answer 503 until it is back, retrying with backoff`);
      this.lostLogged = true;
    } else {
      this.logger.debug(`hub: Redis ${role}: ${describeError(error)}`);
    }
  }
}

/** The URL with any password replaced, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
