/**
 * The hub: who is in which channel, and delivering a message to a channel's members or to
 * every connection. The in-process hub is the default; a scale-out hub (Redis) implements the
 * same interface, so the server never asks which one it has.
 *
 * A channel has two kinds of local member: raw `/chat` connections, which receive each
 * message as it was sent, and framecast.v1 subscriptions (`/pubsub`, docs/pubsub.md), which
 * receive it as a numbered `pub` push. Every publication of a channel reaches both, each kind
 * framed once for all its members.
 */
import { type PreparedMessage, prepareMessage, ReadyState, type WebSocketConnection } from '../websocket/connection.js';
import { PubSubDefaults } from '../config.js';
import type { Metrics } from '../metrics.js';
import { ChannelHistory, type ChannelPosition, type HistoryLimits, type HistoryQuery, type HistoryResult, type Publication } from '../pubsub/history.js';
import type { Subscription } from '../pubsub/subscription.js';
import { broadcastPush, type PresenceEntry, presencePush, pubPush } from '../pubsub/wire.js';

/** Sends to one connection if it is open; 1 if it was, else 0. (A full send buffer still counts: the bytes are queued.) */
function sendTo(connection: WebSocketConnection, message: PreparedMessage): number {
  if (connection.readyState !== ReadyState.Open) return 0;
  connection.sendPrepared(message);
  return 1;
}

/** What a publish did: how many it reached, and, for a channel's publication, its place in the channel. */
export interface PublishResult {
  /** Connections delivered to on this node, or nodes for a broker hub (see `recipientsCounted`). */
  readonly recipients: number;
  /** The publication's epoch and offset; absent for a push to every connection. */
  readonly position?: ChannelPosition;
}

/** What a hub is built from (see `FramecastOptions.createHub`). */
export interface HubContext {
  /** The client sets of the raw WebSocket servers (/ws, /chat) a push without a channel reaches. */
  readonly everyone: readonly ReadonlySet<WebSocketConnection>[];
  /** The client sets of framecast.v1 servers (/pubsub): a push without a channel reaches them as a `pub` push. */
  readonly pubsubEveryone?: readonly ReadonlySet<WebSocketConnection>[];
  /** History limits; PubSubDefaults when omitted. */
  readonly history?: HistoryLimits;
  /** Counters for /metrics. */
  readonly metrics?: Metrics;
}

/** Thrown (as a rejection) by a hub that cannot do a framecast.v1 operation at all or now. */
export class HubUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubUnavailableError';
  }
}

/** Channel membership and delivery. */
export interface Hub {
  /** Adds `connection` to `channel`; it leaves by itself when it closes. */
  join(channel: string, connection: WebSocketConnection): void;
  /**
   * Sends a message to every member of `channel`, or to every open connection when `channel`
   * is undefined. Resolves to how many connections it was delivered to (on this node).
   * Rejects when the message could not be published (the caller answers 503).
   */
  publish(channel: string | undefined, data: string | Uint8Array, isBinary: boolean): Promise<number>;
  /**
   * The same, resolving to what the publication became: for a channel, its epoch and offset
   * (every publication of a channel is numbered and kept in its history, whoever publishes).
   */
  publishWithOffset(channel: string | undefined, data: string | Uint8Array, isBinary: boolean): Promise<PublishResult>;
  /**
   * Adds a framecast.v1 subscription to its channel and reads the channel's position and the
   * history `query` asks for, in that order: every publication after the result's offset is
   * delivered to the subscription. Other subscribers are sent a `join`.
   */
  subscribe(subscription: Subscription, query: HistoryQuery): Promise<HistoryResult>;
  /** Removes a subscription (others are sent a `leave`); nothing is delivered to it afterwards. */
  unsubscribe(subscription: Subscription): void;
  /** The channel's subscribers as presence lists them. */
  presence(channel: string): Promise<readonly PresenceEntry[]>;
  /** Reads a channel's history without subscribing. */
  history(channel: string, query: HistoryQuery): Promise<HistoryResult>;
  /**
   * What the count `publish` resolves to counts: `connections` delivered to, or, for a broker
   * hub, `nodes` that received the publication (each then delivers to its own members).
   */
  readonly recipientsCounted: 'connections' | 'nodes';
  /** Health lines for /metrics (Prometheus text), if the hub has any. */
  metricLines(): string[];
  /** A short state for /healthz, e.g. `{ broker: "connected" }`. */
  health(): Record<string, string>;
  close(): Promise<void>;
}

/** One channel's members on this node. */
interface ChannelMembers {
  /** Raw `/chat` connections: each message as it was sent. */
  readonly raw: Set<WebSocketConnection>;
  /** framecast.v1 subscriptions: each publication as a `pub` push. */
  readonly subscriptions: Set<Subscription>;
}

/**
 * Local membership and delivery, shared by every hub: a map from channel name to members, and
 * the sets of all open connections (for pushes without a channel).
 */
export class LocalChannels {
  private readonly channels = new Map<string, ChannelMembers>();
  private readonly everyone: readonly ReadonlySet<WebSocketConnection>[];
  private readonly pubsubEveryone: readonly ReadonlySet<WebSocketConnection>[];
  /** Called when a channel gets its first local member and after its last one leaves. */
  onChannelOpened: ((channel: string) => void) | undefined;
  onChannelEmptied: ((channel: string) => void) | undefined;

  /**
   * `everyone` are the client sets of the WebSocket servers whose connections a channel-less
   * push reaches as it is; `pubsubEveryone` those it reaches as a framecast.v1 `pub` push.
   */
  constructor(everyone: readonly ReadonlySet<WebSocketConnection>[], pubsubEveryone: readonly ReadonlySet<WebSocketConnection>[] = []) {
    this.everyone = everyone;
    this.pubsubEveryone = pubsubEveryone;
  }

  /** Adds a raw member to `channel`; it leaves by itself when it closes. */
  join(channel: string, connection: WebSocketConnection): void {
    this.membersOf(channel).raw.add(connection);
    connection.once('close', () => this.leave(channel, connection));
  }

  leave(channel: string, connection: WebSocketConnection): void {
    const members = this.channels.get(channel);
    if (members === undefined || !members.raw.delete(connection)) return;
    this.forgetIfEmpty(channel, members);
  }

  /** Adds a framecast.v1 subscription, and tells the channel's other subscribers it joined. */
  subscribe(subscription: Subscription): void {
    const members = this.membersOf(subscription.channel);
    this.notify(members, presencePush('join', subscription.channel, subscription));
    members.subscriptions.add(subscription);
  }

  /** Removes a subscription, and tells the channel's other subscribers it left. False if it was not a member. */
  unsubscribe(subscription: Subscription): boolean {
    const channel = subscription.channel;
    const members = this.channels.get(channel);
    if (members === undefined || !members.subscriptions.delete(subscription)) return false;
    this.notify(members, presencePush('leave', channel, subscription));
    this.forgetIfEmpty(channel, members);
    return true;
  }

  /** Whether `subscription` is a member of its channel here. */
  isSubscribed(subscription: Subscription): boolean {
    return this.channels.get(subscription.channel)?.subscriptions.has(subscription) ?? false;
  }

  /** How many framecast.v1 subscriptions `channel` has here. */
  subscriptionCount(channel: string): number {
    return this.channels.get(channel)?.subscriptions.size ?? 0;
  }

  /** Sends a push that is no publication (join, leave from another node) to every subscription of `channel` here. */
  notifySubscriptions(channel: string, text: string): void {
    const members = this.channels.get(channel);
    if (members !== undefined) this.notify(members, text);
  }

  /**
   * Tells every subscription of `channel` that the channel stands at `offset` of `epoch` and
   * that nothing before it which they have not been sent will come (see `Subscription.skipTo`).
   */
  skipTo(channel: string, epoch: string, offset: number): void {
    const members = this.channels.get(channel);
    if (members === undefined) return;
    for (const subscription of members.subscriptions) subscription.skipTo(epoch, offset);
  }

  /** The channel's local subscriptions, as presence lists them. */
  subscriptionsOf(channel: string): readonly PresenceEntry[] {
    const members = this.channels.get(channel);
    return members === undefined ? [] : [...members.subscriptions];
  }

  /** Names of channels with at least one local member. */
  channelNames(): IterableIterator<string> {
    return this.channels.keys();
  }

  /** Local members of `channel`, of both kinds. */
  memberCount(channel: string): number {
    const members = this.channels.get(channel);
    return members === undefined ? 0 : members.raw.size + members.subscriptions.size;
  }

  /**
   * Delivers one publication of `channel` (in `epoch`) to its local members: the raw bytes to
   * raw members, the `pub` push to subscriptions, each framed once. Returns how many got it.
   */
  deliverPublication(channel: string, epoch: string, publication: Publication): number {
    const members = this.channels.get(channel);
    if (members === undefined) return 0;
    let delivered = 0;
    if (members.raw.size > 0) {
      const message = prepareMessage(publication.data, publication.isBinary);
      for (const connection of members.raw) delivered += sendTo(connection, message);
    }
    if (members.subscriptions.size > 0) {
      const message = prepareMessage(pubPush(channel, publication), false);
      const offset = publication.offset;
      for (const subscription of members.subscriptions) delivered += subscription.deliver(epoch, offset, message);
    }
    return delivered;
  }

  /** Delivers a message to every open connection, framed once for each kind; returns how many got it. */
  deliverToEveryone(data: Buffer, isBinary: boolean): number {
    let delivered = 0;
    if (this.everyone.some((clients) => clients.size > 0)) {
      const message = prepareMessage(data, isBinary);
      for (const clients of this.everyone) {
        for (const connection of clients) delivered += sendTo(connection, message);
      }
    }
    if (this.pubsubEveryone.some((clients) => clients.size > 0)) {
      const message = prepareMessage(broadcastPush(data, isBinary), false);
      for (const clients of this.pubsubEveryone) {
        for (const connection of clients) delivered += sendTo(connection, message);
      }
    }
    return delivered;
  }

  private membersOf(channel: string): ChannelMembers {
    let members = this.channels.get(channel);
    if (members === undefined) {
      members = { raw: new Set(), subscriptions: new Set() };
      this.channels.set(channel, members);
      this.onChannelOpened?.(channel);
    }
    return members;
  }

  private forgetIfEmpty(channel: string, members: ChannelMembers): void {
    if (members.raw.size > 0 || members.subscriptions.size > 0) return;
    this.channels.delete(channel);
    this.onChannelEmptied?.(channel);
  }

  /** A join or leave to every subscription of a channel (framed only if there is one). */
  private notify(members: ChannelMembers, text: string): void {
    if (members.subscriptions.size === 0) return;
    const message = prepareMessage(text, false);
    for (const subscription of members.subscriptions) subscription.notify(message);
  }
}

/**
 * The default hub: everything in this process, delivered synchronously, so one order for all.
 * Offsets and history live in a `ChannelHistory` here; presence is the local subscriptions.
 */
export class InProcessHub implements Hub {
  readonly recipientsCounted = 'connections';
  private readonly local: LocalChannels;
  private readonly store: ChannelHistory;
  private readonly sweepTimer: NodeJS.Timeout;

  /** `context` as `createHub` gets it, or (the older form) just the client sets of `everyone`. */
  constructor(context: HubContext | readonly ReadonlySet<WebSocketConnection>[]) {
    const { everyone, pubsubEveryone, history } = Array.isArray(context) ? { everyone: context as readonly ReadonlySet<WebSocketConnection>[] } : (context as HubContext);
    this.local = new LocalChannels(everyone, pubsubEveryone);
    this.local.onChannelEmptied = (channel) => this.store.release(channel);
    const limits = history ?? defaultHistoryLimits();
    this.store = new ChannelHistory(limits, (channel) => this.local.memberCount(channel) > 0);
    // Expired publications are dropped as channels are used; this catches channels nobody uses.
    this.sweepTimer = setInterval(() => this.store.sweep(), historySweepInterval(limits));
    this.sweepTimer.unref();
  }

  /** Who is in which channel, for reading (e.g. `memberCount`); join through the hub. */
  get channels(): LocalChannels {
    return this.local;
  }

  /** The channels' offsets and history, for reading (e.g. `bytes`). */
  get channelHistory(): ChannelHistory {
    return this.store;
  }

  join(channel: string, connection: WebSocketConnection): void {
    this.local.join(channel, connection);
  }

  publish(channel: string | undefined, data: string | Uint8Array, isBinary: boolean): Promise<number> {
    return Promise.resolve(this.publishNow(channel, data, isBinary).recipients);
  }

  publishWithOffset(channel: string | undefined, data: string | Uint8Array, isBinary: boolean): Promise<PublishResult> {
    return Promise.resolve(this.publishNow(channel, data, isBinary));
  }

  subscribe(subscription: Subscription, query: HistoryQuery): Promise<HistoryResult> {
    // Member first, then the position: every publication after it reaches the subscription.
    this.local.subscribe(subscription);
    return Promise.resolve(this.store.read(subscription.channel, query));
  }

  unsubscribe(subscription: Subscription): void {
    this.local.unsubscribe(subscription);
  }

  presence(channel: string): Promise<readonly PresenceEntry[]> {
    return Promise.resolve(this.local.subscriptionsOf(channel));
  }

  history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    const result = this.store.read(channel, query);
    // A read must not keep a channel nobody uses: its state is forgotten as if never read.
    this.store.release(channel);
    return Promise.resolve(result);
  }

  metricLines(): string[] {
    return historyMetricLines(this.store);
  }

  health(): Record<string, string> {
    return { hub: 'in-process' };
  }

  close(): Promise<void> {
    clearInterval(this.sweepTimer);
    return Promise.resolve();
  }

  private publishNow(channel: string | undefined, data: string | Uint8Array, isBinary: boolean): PublishResult {
    if (channel === undefined) {
      return { recipients: this.local.deliverToEveryone(typeof data === 'string' ? Buffer.from(data) : asBuffer(data), isBinary) };
    }
    const { epoch, offset, publication } = this.store.append(channel, data, isBinary);
    return { recipients: this.local.deliverPublication(channel, epoch, publication), position: { epoch, offset } };
  }
}

/** A Buffer over the same memory (no copy). */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** The history limits of PubSubDefaults. */
export function defaultHistoryLimits(): HistoryLimits {
  return {
    size: PubSubDefaults.historySize,
    ttl: PubSubDefaults.historyTtl,
    memory: PubSubDefaults.historyMemory,
    overhead: PubSubDefaults.publicationOverhead,
  };
}

/** Sweeps often enough that nothing outlives its ttl by more than a tenth of it (within bounds). */
function historySweepInterval(limits: HistoryLimits): number {
  return Math.max(1, Math.min(PubSubDefaults.maxHistorySweepInterval, Math.ceil(limits.ttl / 10)));
}

/** /metrics lines for a node's history. */
export function historyMetricLines(store: ChannelHistory): string[] {
  const evictions = store.evictions;
  return [
    '# HELP framecast_history_publications Publications kept in channel histories on this node.',
    '# TYPE framecast_history_publications gauge',
    `framecast_history_publications ${store.size}`,
    '# HELP framecast_history_bytes Bytes channel histories hold on this node (payloads plus per-publication overhead).',
    '# TYPE framecast_history_bytes gauge',
    `framecast_history_bytes ${store.bytes}`,
    '# HELP framecast_history_channels Channels whose offsets this node keeps (a history, subscribers, or both).',
    '# TYPE framecast_history_channels gauge',
    `framecast_history_channels ${store.channelCount}`,
    '# HELP framecast_history_evictions_total Publications that left a history, by why.',
    '# TYPE framecast_history_evictions_total counter',
    `framecast_history_evictions_total{reason="memory"} ${evictions.memory}`,
    `framecast_history_evictions_total{reason="size"} ${evictions.size}`,
    `framecast_history_evictions_total{reason="ttl"} ${evictions.ttl}`,
  ];
}
