/**
 * The Redis hub: several framecast nodes behind a load balancer act as one service, with Redis
 * carrying every message between them and keeping what they must agree on
 * (`framecast --redis redis://host:port`; README "Running a small cluster").
 *
 * How it works:
 * - Each framecast channel NAME is the Redis pub/sub channel `framecast:channel:NAME`; pushes
 *   without a channel go to `framecast:all`. A node subscribes to a channel's pub/sub channel when
 *   the channel gets its first local member and unsubscribes after the last one leaves; it is
 *   subscribed to `framecast:all` for as long as it runs.
 * - A channel's publication, whoever makes it (a raw /chat member, POST /push, a framecast.v1
 *   publish, `hub.publish`), is one script in Redis (redis/channel-log.ts): it takes the
 *   channel's next offset, appends the publication to the channel's history (a Redis stream) and
 *   PUBLISHes it with its epoch and offset. So all nodes agree on every offset, and receive a
 *   channel's publications in offset order.
 * - Delivery to local members happens when the publication comes back from Redis, never directly
 *   on publish. So every node, the publishing one included, delivers each publication exactly
 *   once, in offset order: one order per channel for every member on every node.
 * - Redis pub/sub delivers at most once: a node whose subscriber connection drops misses what is
 *   published meanwhile. The node notices (the next offset it receives is not the next one, or it
 *   resubscribed after a reconnect), reads what it missed from the history and delivers it before
 *   anything newer (redis/gap-filler.ts). What the history no longer holds is counted and
 *   reported to framecast.v1 subscribers with a `lost` push, never silent.
 * - framecast.v1 subscribe reads the channel's position and history from Redis after this node
 *   listens to the channel, so reply and pushes have no gap; presence is a Redis hash per channel
 *   with per-node liveness (redis/presence.ts).
 * - While the command connection to Redis is down, `publish` rejects (POST /push answers 503, a
 *   chat sender is closed with 1013) and framecast.v1 commands answer `unavailable`: nothing is
 *   queued to be sent later or dropped silently. The same goes while Redis is up but slow to answer
 *   and `maxPendingPublishBytes` of publications already wait for it. Local connections stay open.
 *   The clients reconnect with exponential backoff; the subscriber resubscribes to every channel
 *   that still has local members and fills the gap. /healthz and /metrics show the broker state.
 */
import { createClient } from 'redis';
import { decodeEnvelope, encodeEnvelope, EnvelopeKind, readPositionHeader } from './broker-envelope.js';
import { BrokerDefaults } from '../config.js';
import type { WebSocketConnection } from '../websocket/connection.js';
import { defaultHistoryLimits, type Hub, type HubContext, HubUnavailableError, LocalChannels, type PublishResult } from './hub.js';
import { describeError, type Logger, silentLogger } from '../log.js';
import type { ChannelPosition, HistoryQuery, HistoryResult } from '../pubsub/history.js';
import type { Subscription } from '../pubsub/subscription.js';
import type { PresenceEntry } from '../pubsub/wire.js';
import { ChannelLog } from './redis/channel-log.js';
import { GapFiller } from './redis/gap-filler.js';
import { RedisKeys } from './redis/keys.js';
import { ClusterPresence } from './redis/presence.js';

export interface RedisHubOptions {
  /** Where Redis is, e.g. `redis://127.0.0.1:6379` (`rediss://` for TLS; user and password may be in it). */
  url: string;
  /** Redis names start with this and ':' (default `framecast`). */
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
  /** How long a node may go silent before the others take it for dead (ms; `BrokerDefaults.nodeTimeout`). */
  nodeTimeout?: number;
  /** Bytes of newer publications held while missed ones are read back (`BrokerDefaults.maxGapFillHeldBytes`). */
  maxGapFillHeldBytes?: number;
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

/** The node-redis pub/sub bookkeeping type for plain (not pattern, not sharded) channels. */
const PLAIN_CHANNELS = 'CHANNELS';

/** What a publication counts towards `maxPendingPublishBytes` besides its payload (the envelope's header and the script's arguments). */
const PUBLISH_OVERHEAD_BYTES = 64;

/** A `Hub` whose channels live in Redis. Start-up connects in the background; see `whenConnected`. */
export class RedisHub implements Hub {
  readonly recipientsCounted = 'nodes';
  private readonly local: LocalChannels;
  private readonly logger: Logger;
  /** Commands (scripts, PUBLISH, reads); rejects at once while disconnected (no offline queue). */
  private readonly publisher: RedisClient;
  /** A connection in subscriber mode (it can do nothing else, so it is a second client). */
  private readonly subscriber: RedisClient;
  private readonly keys: RedisKeys;
  private readonly log: ChannelLog;
  private readonly gaps: GapFiller;
  private readonly presenceStore: ClusterPresence;
  /** Redis channels whose SUBSCRIBE is sent but not yet confirmed: publishes and reads of one wait for it. */
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
  /** Renews this node's liveness, presence and channels' epochs in Redis (every third of the node timeout). */
  private readonly renewTimer: NodeJS.Timeout;
  private connectedWaiters: Array<() => void> = [];

  /** `context` as `createHub` gets it, or (the older form) just the raw client sets of `everyone`. */
  constructor(context: HubContext | readonly ReadonlySet<WebSocketConnection>[], options: RedisHubOptions) {
    const { everyone, pubsubEveryone, history } = Array.isArray(context) ? { everyone: context as readonly ReadonlySet<WebSocketConnection>[] } : (context as HubContext);
    this.local = new LocalChannels(everyone, pubsubEveryone);
    this.logger = options.logger ?? silentLogger;
    this.keys = new RedisKeys(options.channelPrefix ?? BrokerDefaults.channelPrefix);
    this.maxPendingPublishBytes = options.maxPendingPublishBytes ?? BrokerDefaults.maxPendingPublishBytes;
    const nodeTimeout = options.nodeTimeout ?? BrokerDefaults.nodeTimeout;

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

    const limits = history ?? defaultHistoryLimits();
    // A channel's epoch outlives its history, and is renewed while a node has members in it.
    this.log = new ChannelLog(this.publisher, this.keys, limits, limits.ttl + 2 * nodeTimeout);
    this.gaps = new GapFiller(
      {
        read: (channel, since) => this.readAfterListening(channel, since),
        deliver: (channel, epoch, publication) => void this.local.deliverPublication(channel, epoch, publication),
        skipTo: (channel, epoch, offset) => this.local.skipTo(channel, epoch, offset),
      },
      options.maxGapFillHeldBytes ?? BrokerDefaults.maxGapFillHeldBytes,
      max,
    );
    this.presenceStore = new ClusterPresence(this.publisher, this.keys, this.local, nodeTimeout, this.logger);
    this.renewTimer = setInterval(() => this.renew(), Math.max(1, Math.floor(nodeTimeout / 3)));
    this.renewTimer.unref();

    this.local.onChannelOpened = (channel) => {
      this.subscribeRedis(this.keys.channel(channel));
      this.gaps.open(channel);
    };
    this.local.onChannelEmptied = (channel) => {
      this.gaps.close(channel);
      this.unsubscribeRedis(this.keys.channel(channel));
    };
    this.subscribeRedis(this.keys.everyone);

    const url = redactUrl(options.url);
    this.logger.info(`hub: Redis at ${url} (node ${this.presenceStore.nodeId}), connecting`);
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

  /** This node's id in Redis (presence entries, liveness key). */
  get nodeId(): string {
    return this.presenceStore.nodeId;
  }

  /** Who is in which channel on this node, for reading (e.g. `memberCount`); join through the hub. */
  get channels(): LocalChannels {
    return this.local;
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
    return this.publishWithOffset(channel, data, isBinary).then((result) => result.recipients);
  }

  /** As `publish`, resolving also to a channel publication's epoch and offset. */
  publishWithOffset(channel: string | undefined, data: string | Uint8Array, isBinary: boolean): Promise<PublishResult> {
    // The subscriber connection need not be up: what this node misses meanwhile it reads back
    // from the history once it is, so its own members get the publication too.
    if (!this.publisher.isReady) {
      this.publishFailures++;
      return Promise.reject(new BrokerUnavailableError());
    }
    // Memory is bounded by configuration: while Redis is slow to answer (stalled, overloaded),
    // publications wait inside the client. Past the bound they are refused (503, 1013) rather
    // than queued; one publication is always let through when none is waiting.
    const size = (typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength) + PUBLISH_OVERHEAD_BYTES;
    if (this.pendingPublishBytes > 0 && this.pendingPublishBytes + size > this.maxPendingPublishBytes) {
      this.publishFailures++;
      return Promise.reject(new BrokerBusyError(this.pendingPublishBytes));
    }
    this.pendingPublishBytes += size;
    const redisChannel = channel === undefined ? this.keys.everyone : this.keys.channel(channel);
    // Copied now: the caller's buffer may be a view into memory that is reused before it is sent.
    const payload = typeof data === 'string' ? data : Buffer.from(data);
    const send = (): Promise<PublishResult> =>
      channel === undefined
        ? this.publisher.publish(redisChannel, encodeEnvelope(isBinary ? EnvelopeKind.Binary : EnvelopeKind.Text, '', payload)).then((nodes) => ({ recipients: nodes }))
        : this.log.publish(channel, payload, isBinary).then(({ epoch, offset, nodes }) => ({ recipients: nodes, position: { epoch, offset } }));
    // A member who joined a moment ago and speaks at once: publish only after this node's
    // SUBSCRIBE is confirmed, or the message would pass by before this node listens and the
    // sender would miss it. (Later publishes to the channel queue behind this one, in order.)
    const pending = this.pendingSubscriptions.get(redisChannel);
    const published = pending === undefined ? send() : pending.then(send, send);
    return published.then(
      (result) => {
        this.pendingPublishBytes -= size;
        return result;
      },
      (error: unknown) => {
        this.pendingPublishBytes -= size;
        this.publishFailures++;
        throw error;
      },
    );
  }

  /**
   * Adds the subscription here first (so pushes are held for it from now on), makes sure this
   * node listens to the channel, then reads the channel's position and history from Redis: every
   * publication after the answer's offset reaches the subscription through pub/sub (or gap
   * filling). Also adds the subscriber to presence (other nodes hear a `join`).
   */
  async subscribe(subscription: Subscription, query: HistoryQuery): Promise<HistoryResult> {
    if (!this.connected) throw new HubUnavailableError('the Redis message broker is not connected');
    const channel = subscription.channel;
    this.local.subscribe(subscription);
    // Sent now, before the read: an unsubscribe that comes meanwhile sends its leave after it,
    // on the same connection, so the entry cannot outlive the subscription.
    const joined = this.presenceStore.join(subscription);
    const read = this.readAfterListening(channel, undefined, query);
    const [, result] = await Promise.all([joined, read]);
    this.gaps.baseline(channel, result.epoch, result.offset);
    return result;
  }

  unsubscribe(subscription: Subscription): void {
    if (this.local.unsubscribe(subscription)) this.presenceStore.leave(subscription);
  }

  presence(channel: string): Promise<readonly PresenceEntry[]> {
    if (!this.publisher.isReady) return Promise.reject(new HubUnavailableError('the Redis message broker is not connected'));
    return this.presenceStore.list(channel);
  }

  history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    if (!this.publisher.isReady) return Promise.reject(new HubUnavailableError('the Redis message broker is not connected'));
    return this.log.read(channel, query, false);
  }

  metricLines(): string[] {
    const gaps = this.gaps.counts;
    const counter = (name: string, help: string, value: number): string[] => [`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`];
    const gauge = (name: string, help: string, value: number): string[] => [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`];
    return [
      ...gauge('framecast_broker_connected', 'Whether both connections to the Redis broker are ready (1) or not (0).', this.connected ? 1 : 0),
      ...counter('framecast_broker_reconnects_total', 'Times the connection to Redis came back after being lost.', this.reconnects),
      ...counter('framecast_broker_publish_failures_total', 'Messages that could not be published to Redis (answered 503 or 1013).', this.publishFailures),
      ...counter('framecast_broker_malformed_total', 'Publications from Redis dropped because they were not framecast envelopes of this version.', this.malformed),
      ...gauge(
        'framecast_broker_subscriptions',
        'Redis channels this node is subscribed to (channels with local members, plus one for pushes to everyone).',
        this.subscriber.getPubSubListeners(PLAIN_CHANNELS).size,
      ),
      ...counter('framecast_broker_publications_recovered_total', 'Publications this node missed on pub/sub and delivered from the history (gap filling).', gaps.recovered),
      ...counter('framecast_broker_publications_lost_total', 'Publications this node missed that the history no longer held (reported to framecast.v1 subscribers).', gaps.lost),
      ...counter('framecast_broker_epoch_changes_total', "Times a channel's epoch changed under this node (Redis lost the channel's history).", gaps.epochChanges),
      ...counter('framecast_broker_history_reads_total', 'History reads to fill a gap or catch up after a reconnect.', gaps.reads),
      ...counter('framecast_broker_history_read_failures_total', 'Of those, reads that failed and were tried again.', gaps.readFailures),
      ...gauge('framecast_broker_gap_held_bytes', 'Bytes of newer publications held while missed ones are read back.', this.gaps.held),
      ...counter('framecast_broker_presence_purged_total', 'Presence entries of dead nodes this node removed (each announced as a leave).', this.presenceStore.purged),
    ];
  }

  /** `status` becomes `degraded` while Redis is away: local echo works, cross-node delivery and pushes do not. */
  health(): Record<string, string> {
    const connected = this.connected;
    return connected ? { hub: 'redis', broker: 'connected' } : { status: 'degraded', hub: 'redis', broker: 'disconnected' };
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.renewTimer);
    await this.presenceStore.close();
    this.gaps.closeAll();
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

  /** Renews what this node keeps alive in Redis: its liveness and presence, and the epochs of its channels. */
  private renew(): void {
    if (!this.publisher.isReady) return;
    void this.presenceStore.renew();
    this.log.renew(this.local.channelNames()).catch((error: unknown) => this.logger.debug(`renewing channel epochs failed, retried later: ${describeError(error)}`));
  }

  /**
   * Reads `channel` once this node listens to it (its SUBSCRIBE confirmed): whatever is published
   * after the read then arrives through pub/sub. `since` (the gap filler) reads what came after
   * it; `query` (a subscriber) what it asks for; neither: the position only.
   */
  private async readAfterListening(channel: string, since: ChannelPosition | undefined, query?: HistoryQuery): Promise<HistoryResult> {
    await this.listening(this.keys.channel(channel));
    return this.log.read(channel, query ?? (since === undefined ? { limit: 0 } : { since }), true);
  }

  /** Resolves once this node's SUBSCRIBE to `redisChannel` is confirmed (subscribing if it got lost on the way). */
  private listening(redisChannel: string): Promise<void> {
    const pending = this.pendingSubscriptions.get(redisChannel);
    if (pending !== undefined) return pending;
    const listeners = this.subscriber.getPubSubListeners(PLAIN_CHANNELS).get(redisChannel);
    if (listeners !== undefined && !listeners.unsubscribing) return Promise.resolve();
    if (!this.wants(redisChannel)) return Promise.reject(new HubUnavailableError('the channel has no members on this node'));
    // The SUBSCRIBE failed with the connection and is not redone yet: redo it now.
    this.subscribeRedis(redisChannel);
    return this.pendingSubscriptions.get(redisChannel)!;
  }

  /** A message from Redis: unwrap it and hand it on to the members on this node. */
  private readonly onMessage = (envelope: Buffer, redisChannel: Buffer): void => {
    const message = decodeEnvelope(envelope);
    if (message === undefined) {
      this.malformed++;
      return;
    }
    // Redis channel names here are ASCII (framecast channel names are), so latin1 is exact.
    const name = redisChannel.toString('latin1');
    if (name === this.keys.everyone) {
      if (message.kind === EnvelopeKind.Presence) this.malformed++;
      else this.local.deliverToEveryone(message.payload, message.kind === EnvelopeKind.Binary);
      return;
    }
    const channel = name.slice(this.keys.channelPrefix.length);
    if (message.kind === EnvelopeKind.Presence) {
      // This node's own joins and leaves reached its subscribers when they happened.
      if (message.header !== this.presenceStore.nodeId) this.local.notifySubscriptions(channel, message.payload.toString('utf8'));
      return;
    }
    const position = readPositionHeader(message.header);
    if (position === undefined) {
      this.malformed++;
      return;
    }
    this.gaps.arrive(channel, position.epoch, { offset: position.offset, data: message.payload, isBinary: message.kind === EnvelopeKind.Binary });
  };

  private subscribeRedis(redisChannel: string): void {
    const confirmed = this.subscriber.subscribe(redisChannel, this.onMessage, true);
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
    this.subscriber.unsubscribe(redisChannel, this.onMessage, true).catch((error: unknown) => {
      this.logger.debug(`UNSUBSCRIBE ${redisChannel} failed, retried on reconnect: ${describeError(error)}`);
    });
  }

  /** Whether this node needs `redisChannel`: the everyone channel, or a channel with local members. */
  private wants(redisChannel: string): boolean {
    if (redisChannel === this.keys.everyone) return true;
    return redisChannel.startsWith(this.keys.channelPrefix) && this.local.memberCount(redisChannel.slice(this.keys.channelPrefix.length)) > 0;
  }

  /**
   * After (re)connecting, node-redis has already resubscribed every channel whose SUBSCRIBE was
   * confirmed before the connection broke. Put right what was in flight when it broke: subscribe
   * what is wanted but missing, unsubscribe what is subscribed but no longer wanted.
   */
  private reconcileSubscriptions(): void {
    const subscribed = this.subscriber.getPubSubListeners(PLAIN_CHANNELS);
    const wanted = [this.keys.everyone, ...[...this.local.channelNames()].map((channel) => this.keys.channel(channel))];
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
      this.logger.info('hub: reconnected to Redis; cross-node delivery and pushes work again, reading back what was missed');
    } else {
      this.logger.info('hub: connected to Redis');
    }
    this.wasConnected = true;
    this.lostLogged = false;
    // Whatever was published while a connection was down is read back from the history, and
    // this node's liveness and presence are renewed (or put back, if Redis lost them).
    this.gaps.resyncAll();
    this.renew();
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
