/**
 * FramecastClient: the framecast.v1 client (docs/pubsub.md), for browsers and Node, over any
 * WHATWG-style WebSocket (the browser's own, `ws`, or framecast's client for Node).
 *
 * What it adds to the bare protocol:
 * - it connects, and reconnects by itself with exponential backoff and full jitter;
 * - it resubscribes every channel after a reconnect with `since` its last epoch and offset, so
 *   whatever the server's history still holds is recovered, and says whether everything was
 *   (the `subscribed` event's `recovered`);
 * - it drops any publication whose offset it has already delivered, so none arrives twice;
 * - it notices a dead connection from its own traffic (see FramecastClientDefaults);
 * - it holds publishes in a bounded outbox until the server confirms each with its offset.
 *
 * This file and its imports are plain ES2022 with no Node API: the server serves them to
 * pages as `/framecast.js` (tsconfig.browser.json builds them with the DOM types alone).
 *
 * A publication travels one straight path: frame -> `readIncoming` (framecast-wire.ts) ->
 * `receive` -> the channel's dedupe (`deliver`) -> the application's `publication` listeners.
 */
import { type BackoffBounds, checkBackoffBounds, fullJitterDelay } from './backoff.js';
import { FramecastClientDefaults } from './framecast-defaults.js';
import { ClientErrorCode, FramecastError } from './framecast-error.js';
import {
  encodeCommand,
  isObject,
  offsetField,
  payloadFields,
  type Position,
  type Publication,
  publicationsField,
  readIncoming,
  recoveredField,
  replyResult,
  stringField,
} from './framecast-wire.js';
import { Outbox, type OutboxEntry, type Published } from './outbox.js';

export type { Position, Publication, Published };

/** The part of a WHATWG WebSocket the client uses; the browser's, `ws` and framecast's own all have it. */
export interface WebSocketLike {
  readonly readyState: number;
  /** The subprotocol the server chose. */
  readonly protocol: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // `never` parameters: any handler type fits, whatever event class the implementation has.
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}

/** A WebSocket constructor: `new WebSocket(url, protocols)`. */
export type WebSocketConstructor = new (url: string, protocols: string | string[]) => WebSocketLike;

/** `readyState` of an open WebSocket (WHATWG WebSocket, RFC 6455 4.1 "_The WebSocket Connection is Established_"). */
const OPEN = 1;
/** What the client reports when a connection ended without a Close frame, or was found dead (RFC 6455 7.1.5, 7.4.1). */
const CLOSE_ABNORMAL = 1006;
/** The code the client closes with when it leaves a connection (RFC 6455 7.4.1). */
const CLOSE_NORMAL = 1000;

export interface FramecastClientOptions {
  /** The WebSocket implementation; the global `WebSocket` by default (browsers, Node 22). */
  WebSocket?: WebSocketConstructor;
  /** Reconnect backoff in ms: attempt n waits uniformly in [0, min(max, min * 2^n)). Defaults 1000 and 30000. */
  backoff?: Partial<BackoffBounds>;
  /** Most publishes waiting for confirmation at once (queued or sent); default 100. */
  outboxSize?: number;
  /** Silence in ms after which a probe command is sent (FramecastClientDefaults); default 20000. */
  probeInterval?: number;
  /**
   * How long in ms a command may wait for its reply, nothing arriving meanwhile, before the
   * connection counts as dead; also the longest an opening handshake may take. Default 10000.
   */
  replyTimeout?: number;
}

/** Where the connection is. `idle` before `connect()`, `closed` after `close()`. */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ConnectionStateEvent {
  readonly state: ConnectionState;
  /**
   * Connections lost or failed in a row (0 at first and once a connection has received
   * something). For `reconnecting`, the attempt whose wait `delay` is.
   */
  readonly attempt: number;
  /** `reconnecting`: the wait before the next attempt, ms. */
  readonly delay?: number;
  /** `reconnecting`: the close code of the connection that ended (1006 when it ended without a Close frame or was found dead). */
  readonly code?: number;
  /** `reconnecting`: the close reason, or why the client gave the connection up. */
  readonly reason?: string;
}

/** A publication of a subscribed channel, delivered once per offset. */
export interface PublicationEvent extends Publication {
  readonly channel: string;
}

/** A push to every connection (`POST /push` without a channel): no channel, no offset, not kept. */
export interface PushEvent {
  readonly data: string | Uint8Array;
}

/** Another client subscribed to (`join`) or left (`leave`) a channel this client is subscribed to. */
export interface PresenceChangeEvent {
  readonly channel: string;
  readonly client: string;
  readonly info: unknown;
}

/** A subscriber of a channel, as `presence` lists it. */
export interface PresenceEntry {
  readonly client: string;
  /** What it subscribed with as `info`; null without. */
  readonly info: unknown;
}

/** The `subscribed` reply. */
export interface Subscribed {
  readonly channel: string;
  readonly epoch: string;
  /** The channel's latest offset when the subscription began. */
  readonly offset: number;
  /** This connection's client id, as presence shows it. */
  readonly client: string;
  /** The reply's publications, oldest first (also delivered as `publication` events). */
  readonly publications: readonly Publication[];
  /** Present when the subscribe had `since`: true when nothing after it was missed. */
  readonly recovered?: boolean;
}

/**
 * A channel's subscription was confirmed, at first or after a reconnect. By then the reply's
 * publications have been delivered and the channel's queued publishes sent.
 */
export interface SubscribedEvent {
  readonly channel: string;
  readonly epoch: string;
  readonly offset: number;
  readonly client: string;
  /** Present when the subscribe had `since` (every resubscription after the first success): false means publications were missed. */
  readonly recovered?: boolean;
  /** False for the subscription's first confirmation, true for every one after (a reconnect's). */
  readonly resubscribed: boolean;
}

/** A channel is no longer subscribed: the application's `unsubscribe`, or a resubscription the server refused (`error`). */
export interface UnsubscribedEvent {
  readonly channel: string;
  readonly error?: FramecastError;
}

/** The events of a FramecastClient and what each listener receives. */
export interface FramecastEvents {
  state: ConnectionStateEvent;
  publication: PublicationEvent;
  push: PushEvent;
  join: PresenceChangeEvent;
  leave: PresenceChangeEvent;
  subscribed: SubscribedEvent;
  unsubscribed: UnsubscribedEvent;
}

/** The `history` reply. */
export interface History {
  readonly channel: string;
  readonly epoch: string;
  readonly offset: number;
  readonly publications: readonly Publication[];
  readonly recovered?: boolean;
}

export interface SubscribeOptions {
  /** The latest N publications of the channel come with the reply. */
  history?: number;
  /** Resume from here (e.g. a position saved before a reload): the reply brings what came after. */
  since?: Position;
  /** What presence shows for this subscriber (at most 1 KiB as JSON). */
  info?: unknown;
}

export interface HistoryOptions {
  limit?: number;
  since?: Position;
}

/** A channel the application subscribed to and has not unsubscribed. */
interface Subscription {
  readonly channel: string;
  readonly history: number | undefined;
  readonly info: unknown;
  /** The epoch of the latest `subscribed` reply (or the application's `since`). */
  epoch: string | undefined;
  /** The latest offset delivered in that epoch: the dedupe line, and the `since` of a resubscription. */
  offset: number;
  /** `waiting`: no subscribe on the current connection (offline, or retrying after `unavailable`). */
  status: 'waiting' | 'subscribing' | 'subscribed';
  /** The application's promise, until the first reply settles it. */
  first: { resolve: (subscribed: Subscribed) => void; reject: (error: Error) => void } | undefined;
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  retryAttempt: number;
}

/** A command waiting for its reply. */
type Pending =
  | { readonly kind: 'subscribe'; readonly subscription: Subscription; readonly sentAt: number }
  | { readonly kind: 'unsubscribe'; readonly channel: string; readonly done: () => void; readonly sentAt: number }
  | { readonly kind: 'publish'; readonly entry: OutboxEntry; readonly sentAt: number }
  | {
      readonly kind: 'presence' | 'history';
      readonly resolve: (result: Record<string, unknown>) => void;
      readonly reject: (error: Error) => void;
      readonly sentAt: number;
    }
  | { readonly kind: 'probe'; readonly sentAt: number };

type Listener<K extends keyof FramecastEvents> = (event: FramecastEvents[K]) => void;

/**
 * A framecast.v1 client. Register listeners with `on`, subscribe, then `connect()`:
 *
 * ```ts
 * const client = new FramecastClient('wss://example.com/pubsub');
 * client.on('publication', ({ channel, offset, data }) => show(channel, offset, data));
 * client.subscribe('news', { history: 50, info: { nick: 'ada' } });
 * client.connect();
 * const { offset } = await client.publish('news', 'hello');
 * ```
 */
export class FramecastClient {
  private readonly url: string;
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly backoff: BackoffBounds;
  private readonly probeInterval: number;
  private readonly replyTimeout: number;
  private readonly outbox: Outbox;
  private readonly listeners = new Map<keyof FramecastEvents, Set<Listener<never>>>();
  /** Insertion order is subscription order: resubscriptions go out in the same order. */
  private readonly subscriptions = new Map<string, Subscription>();
  /** Replies come in the order of the commands (docs/pubsub.md "Frames"): the first entry is the oldest. */
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private socket: WebSocketLike | undefined;
  private currentState: ConnectionState = 'idle';
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private watchdogTimer: ReturnType<typeof setTimeout> | undefined;
  private lastReceivedAt = 0;
  private receivedOnThisConnection = false;

  /** `url`: the `/pubsub` endpoint, `ws://` or `wss://`. Nothing happens until `connect()`. */
  constructor(url: string | URL, options: FramecastClientOptions = {}) {
    this.url = String(url);
    const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WebSocketImpl === undefined) throw new TypeError('no WebSocket here: pass one as the WebSocket option (in Node 20, from framecast/client or ws)');
    this.WebSocketImpl = WebSocketImpl;
    this.backoff = checkBackoffBounds({
      min: options.backoff?.min ?? FramecastClientDefaults.backoffMin,
      max: options.backoff?.max ?? Math.max(FramecastClientDefaults.backoffMax, options.backoff?.min ?? 0),
    });
    this.outbox = new Outbox(positiveInteger('outboxSize', options.outboxSize ?? FramecastClientDefaults.outboxSize));
    this.probeInterval = positiveNumber('probeInterval', options.probeInterval ?? FramecastClientDefaults.probeInterval);
    this.replyTimeout = positiveNumber('replyTimeout', options.replyTimeout ?? FramecastClientDefaults.replyTimeout);
  }

  /** Where the connection is now. */
  get state(): ConnectionState {
    return this.currentState;
  }

  /** Listens to an event; returns a function that stops listening. */
  on<K extends keyof FramecastEvents>(type: K, listener: (event: FramecastEvents[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (set === undefined) this.listeners.set(type, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(type, listener);
  }

  /** Stops a listener added with `on`. */
  off<K extends keyof FramecastEvents>(type: K, listener: (event: FramecastEvents[K]) => void): void {
    this.listeners.get(type)?.delete(listener as Listener<never>);
  }

  /** Starts connecting (and reconnecting, until `close()`). Does nothing when already started. */
  connect(): void {
    if (this.currentState !== 'idle' && this.currentState !== 'closed') return;
    this.attempt = 0;
    this.openSocket();
  }

  /** While waiting to reconnect, tries at once. */
  reconnectNow(): void {
    if (this.reconnectTimer === undefined) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.openSocket();
  }

  /**
   * Ends the connection and stops reconnecting. Every subscription is forgotten; every promise
   * still waiting (publishes in the outbox included) rejects with `closed`. `connect()` starts
   * afresh.
   */
  close(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const closed = new FramecastError(ClientErrorCode.Closed, 'the client was closed');
    this.leaveSocket(CLOSE_NORMAL, 'client closed', closed);
    for (const subscription of this.subscriptions.values()) {
      clearTimeout(subscription.retryTimer);
      subscription.first?.reject(closed);
    }
    this.subscriptions.clear();
    for (const entry of this.outbox.take(() => true)) entry.reject(closed);
    this.setState({ state: 'closed', attempt: this.attempt });
  }

  /**
   * Subscribes to a channel, now or as soon as a connection is open, and keeps it subscribed
   * across reconnects until `unsubscribe`. Resolves with the first `subscribed` reply; its
   * publications (`history` or `since`) are delivered as `publication` events before it
   * resolves. An `unavailable` answer is retried with backoff; another error rejects and
   * forgets the channel.
   */
  subscribe(channel: string, options: SubscribeOptions = {}): Promise<Subscribed> {
    if (this.subscriptions.has(channel)) return Promise.reject(new FramecastError('already_subscribed', `already subscribed to "${channel}"`));
    return new Promise((resolve, reject) => {
      const subscription: Subscription = {
        channel,
        history: options.history,
        info: options.info,
        epoch: options.since?.epoch,
        offset: options.since?.offset ?? 0,
        status: 'waiting',
        first: { resolve, reject },
        retryTimer: undefined,
        retryAttempt: 0,
      };
      this.subscriptions.set(channel, subscription);
      if (this.isOpen()) this.sendSubscribe(subscription);
    });
  }

  /**
   * Unsubscribes; no `publication` of the channel is delivered after the call. Resolves once
   * the server confirmed (at once when offline). Publishes of the channel not sent yet reject
   * with `not_subscribed`.
   */
  unsubscribe(channel: string): Promise<void> {
    const subscription = this.subscriptions.get(channel);
    if (subscription === undefined) return Promise.reject(new FramecastError('not_subscribed', `not subscribed to "${channel}"`));
    this.subscriptions.delete(channel);
    clearTimeout(subscription.retryTimer);
    const gone = new FramecastError('not_subscribed', `unsubscribed from "${channel}" before the server answered`);
    subscription.first?.reject(gone);
    subscription.first = undefined;
    for (const entry of this.outbox.take((entry) => entry.channel === channel && entry.state === 'queued')) entry.reject(gone);
    const serverHasIt = subscription.status !== 'waiting' && this.isOpen();
    if (!serverHasIt) {
      this.emit('unsubscribed', { channel });
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        this.emit('unsubscribed', { channel });
        resolve();
      };
      this.send('unsubscribe', { channel }, { kind: 'unsubscribe', channel, done, sentAt: Date.now() });
    });
  }

  /**
   * Publishes to a subscribed channel. The publish waits in the outbox while offline or until
   * the channel is subscribed, and resolves with the offset and epoch the server gave it.
   * Rejects with `outbox_full` past the outbox's bound, `unconfirmed` when the connection ended
   * after it was sent but before the server confirmed it (it may or may not be published), or
   * the server's error code.
   */
  publish(channel: string, data: string | Uint8Array | ArrayBuffer): Promise<Published> {
    const subscription = this.subscriptions.get(channel);
    if (subscription === undefined) return Promise.reject(new FramecastError('not_subscribed', `subscribe to "${channel}" first`));
    return new Promise((resolve, reject) => {
      const entry: OutboxEntry = { channel, payload: payloadFields(data), state: 'queued', resolve, reject };
      if (!this.outbox.add(entry)) {
        reject(new FramecastError(ClientErrorCode.OutboxFull, `${this.outbox.capacity} publishes are already waiting for confirmation`));
        return;
      }
      if (subscription.status === 'subscribed' && this.isOpen()) this.transmit(entry);
    });
  }

  /** Every subscriber of a subscribed channel. Rejects with `not_connected` while offline. */
  async presence(channel: string): Promise<PresenceEntry[]> {
    const result = await this.query('presence', { channel });
    const clients = result.clients;
    if (!Array.isArray(clients)) throw new FramecastError(ClientErrorCode.BadReply, 'presence without a clients list');
    return clients.filter(isObject).map((entry) => ({ client: String(entry.client), info: entry.info ?? null }));
  }

  /** A channel's history, subscribed or not (`limit` or `since`). Rejects with `not_connected` while offline. */
  async history(channel: string, options: HistoryOptions = {}): Promise<History> {
    const argument: Record<string, unknown> = { channel };
    if (options.since !== undefined) argument.since = { epoch: options.since.epoch, offset: options.since.offset };
    if (options.limit !== undefined) argument.limit = options.limit;
    const result = await this.query('history', argument);
    return {
      channel,
      epoch: stringField(result, 'epoch'),
      offset: offsetField(result, 'offset'),
      publications: publicationsField(result),
      recovered: recoveredField(result),
    };
  }

  /** The epoch and latest offset delivered of a subscribed channel: what a resubscription resumes from. */
  position(channel: string): Position | undefined {
    const subscription = this.subscriptions.get(channel);
    return subscription?.epoch === undefined ? undefined : { epoch: subscription.epoch, offset: subscription.offset };
  }

  // --- The connection --------------------------------------------------------------------

  private isOpen(): boolean {
    return this.socket !== undefined && this.currentState === 'open' && this.socket.readyState === OPEN;
  }

  private openSocket(): void {
    this.setState({ state: 'connecting', attempt: this.attempt });
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(this.url, FramecastClientDefaults.subprotocol);
    } catch (error) {
      this.scheduleReconnect(CLOSE_ABNORMAL, error instanceof Error ? error.message : String(error));
      return;
    }
    this.socket = socket;
    this.receivedOnThisConnection = false;
    socket.onopen = () => {
      if (socket === this.socket) this.opened(socket);
    };
    socket.onmessage = (event: { data: unknown }) => {
      if (socket === this.socket && typeof event.data === 'string') this.receive(event.data);
    };
    socket.onclose = (event: { code: number; reason: string }) => {
      if (socket === this.socket) this.connectionLost(event.code, event.reason);
    };
    // A close event always follows an error one; the close is where the connection ends.
    socket.onerror = ignore;
    // The opening handshake gets the same time as any reply: a path that swallows it would
    // otherwise leave the client connecting for as long as the TCP connection lives.
    this.watchdogTimer = setTimeout(() => {
      if (socket === this.socket && this.currentState === 'connecting') {
        this.connectionLost(CLOSE_ABNORMAL, `no answer to the opening handshake within ${this.replyTimeout} ms`);
      }
    }, this.replyTimeout);
  }

  private opened(socket: WebSocketLike): void {
    // RFC 6455 4.1: the server selects one of the offered subprotocols or none. Without
    // framecast.v1 this is not a framecast.v1 server (docs/pubsub.md "Connecting").
    if (socket.protocol !== FramecastClientDefaults.subprotocol) {
      this.connectionLost(CLOSE_ABNORMAL, `the server did not select the subprotocol ${FramecastClientDefaults.subprotocol}`);
      return;
    }
    this.lastReceivedAt = Date.now();
    this.setState({ state: 'open', attempt: this.attempt });
    for (const subscription of this.subscriptions.values()) this.sendSubscribe(subscription);
    this.armWatchdog();
  }

  /** Stops using the current socket: no more events from it; what waited on it is settled. */
  private leaveSocket(code: number, reason: string, inFlightError: FramecastError): void {
    clearTimeout(this.watchdogTimer);
    this.watchdogTimer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    if (socket !== undefined) {
      socket.onopen = socket.onmessage = socket.onclose = null;
      socket.onerror = ignore;
      if (socket.readyState <= OPEN) socket.close(code, reason);
    }
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const command of pending) {
      switch (command.kind) {
        case 'unsubscribe':
          command.done(); // the connection's end ends its subscriptions
          break;
        case 'publish':
          this.outbox.delete(command.entry);
          command.entry.reject(
            inFlightError.code === ClientErrorCode.Closed
              ? inFlightError
              : new FramecastError(ClientErrorCode.Unconfirmed, `the connection ended before the server confirmed the publish to "${command.entry.channel}"`),
          );
          break;
        case 'presence':
        case 'history':
          command.reject(inFlightError);
          break;
        case 'subscribe':
        case 'probe':
          break; // subscriptions are resent on the next connection
      }
    }
    for (const subscription of this.subscriptions.values()) {
      clearTimeout(subscription.retryTimer);
      subscription.retryTimer = undefined;
      subscription.status = 'waiting';
    }
  }

  private connectionLost(code: number, reason: string): void {
    this.leaveSocket(CLOSE_NORMAL, 'leaving', new FramecastError(ClientErrorCode.ConnectionLost, `the connection ended (${code}${reason ? ` ${reason}` : ''})`));
    this.scheduleReconnect(code, reason);
  }

  private scheduleReconnect(code: number, reason: string): void {
    const attempt = this.attempt++;
    const delay = fullJitterDelay(attempt, this.backoff, Math.random);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.openSocket();
    }, delay);
    this.setState({ state: 'reconnecting', attempt, delay, code, reason });
  }

  /**
   * The dead-connection check (FramecastClientDefaults): fires when the oldest command's reply
   * is due or, with nothing waiting, when a probe is due; anything received in between only
   * moves `lastReceivedAt`, and the check looks again.
   */
  private armWatchdog(): void {
    clearTimeout(this.watchdogTimer);
    const oldest = this.pending.values().next();
    const due = oldest.done ? this.lastReceivedAt + this.probeInterval : Math.max(oldest.value.sentAt, this.lastReceivedAt) + this.replyTimeout;
    this.watchdogTimer = setTimeout(() => this.checkConnection(), Math.max(0, due - Date.now()));
  }

  private checkConnection(): void {
    this.watchdogTimer = undefined;
    if (!this.isOpen()) return;
    const now = Date.now();
    const oldest = this.pending.values().next();
    if (!oldest.done) {
      if (now - Math.max(oldest.value.sentAt, this.lastReceivedAt) >= this.replyTimeout) {
        this.connectionLost(CLOSE_ABNORMAL, `no reply from the server within ${this.replyTimeout} ms`);
        return;
      }
    } else if (now - this.lastReceivedAt >= this.probeInterval) {
      const probed = this.probeChannel();
      if (probed !== undefined) this.send('history', { channel: probed, limit: 0 }, { kind: 'probe', sentAt: now });
      else this.lastReceivedAt = now; // nothing to probe with: look again after another interval
    }
    this.armWatchdog();
  }

  /** A channel the server knows this connection subscribed to: probing it creates nothing on the server. */
  private probeChannel(): string | undefined {
    for (const subscription of this.subscriptions.values()) if (subscription.status === 'subscribed') return subscription.channel;
    return undefined;
  }

  private send(name: string, argument: object, pending: Pending): void {
    const id = this.nextId++;
    const wasIdle = this.pending.size === 0;
    this.pending.set(id, pending);
    (this.socket as WebSocketLike).send(encodeCommand(id, name, argument));
    if (wasIdle) this.armWatchdog();
  }

  private query(kind: 'presence' | 'history', argument: object): Promise<Record<string, unknown>> {
    if (!this.isOpen()) return Promise.reject(new FramecastError(ClientErrorCode.NotConnected, `no open connection to ask for ${kind}`));
    return new Promise((resolve, reject) => this.send(kind, argument, { kind, resolve, reject, sentAt: Date.now() }));
  }

  private setState(event: ConnectionStateEvent): void {
    this.currentState = event.state;
    this.emit('state', event);
  }

  private emit<K extends keyof FramecastEvents>(type: K, event: FramecastEvents[K]): void {
    const set = this.listeners.get(type);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<K>)(event);
      } catch (error) {
        // A listener's bug must not break the client's state: report it as uncaught, later.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  // --- Receiving ----------------------------------------------------------------------------

  private receive(text: string): void {
    this.lastReceivedAt = Date.now();
    if (!this.receivedOnThisConnection) {
      // The server answered on this connection: it works, so the backoff starts over. (Not at
      // `open`: a server that accepts and closes at once must not be retried at full speed.)
      this.receivedOnThisConnection = true;
      this.attempt = 0;
    }
    const incoming = readIncoming(text);
    switch (incoming.kind) {
      case 'reply': {
        const command = this.pending.get(incoming.id);
        if (command === undefined) return;
        this.pending.delete(incoming.id);
        // Nothing waits any more: the next check is a probe's, an interval from now.
        if (this.pending.size === 0) this.armWatchdog();
        this.settle(command, incoming.body);
        return;
      }
      case 'pub': {
        if (incoming.channel === undefined || incoming.offset === undefined) {
          this.emit('push', { data: incoming.data });
          return;
        }
        const subscription = this.subscriptions.get(incoming.channel);
        if (subscription?.status === 'subscribed') this.deliver(subscription, { offset: incoming.offset, data: incoming.data });
        return;
      }
      case 'join':
      case 'leave':
        if (this.subscriptions.get(incoming.channel)?.status === 'subscribed') {
          this.emit(incoming.kind, { channel: incoming.channel, client: incoming.client, info: incoming.info });
        }
        return;
      case 'unknown':
        return; // docs/pubsub.md: ignore what is not known
    }
  }

  /** The dedupe: an offset at or below the latest delivered one was delivered already. */
  private deliver(subscription: Subscription, publication: Publication): void {
    if (publication.offset <= subscription.offset) return;
    subscription.offset = publication.offset;
    this.emit('publication', { channel: subscription.channel, offset: publication.offset, data: publication.data });
  }

  private settle(command: Pending, body: ReadonlyMap<string, unknown>): void {
    switch (command.kind) {
      case 'subscribe':
        return this.subscribed(command.subscription, body);
      case 'unsubscribe':
        return command.done(); // an error (not_subscribed) means the same: not subscribed
      case 'publish':
        return this.published(command.entry, body);
      case 'presence':
      case 'history':
        try {
          command.resolve(replyResult(body, command.kind));
        } catch (error) {
          command.reject(error as Error);
        }
        return;
      case 'probe':
        return; // its arrival was the point
    }
  }

  // --- Subscriptions -------------------------------------------------------------------------

  private sendSubscribe(subscription: Subscription): void {
    const argument: Record<string, unknown> = { channel: subscription.channel };
    if (subscription.epoch !== undefined) argument.since = { epoch: subscription.epoch, offset: subscription.offset };
    else if (subscription.history !== undefined) argument.history = subscription.history;
    if (subscription.info !== undefined) argument.info = subscription.info;
    subscription.status = 'subscribing';
    this.send('subscribe', argument, { kind: 'subscribe', subscription, sentAt: Date.now() });
  }

  private subscribed(subscription: Subscription, body: ReadonlyMap<string, unknown>): void {
    if (this.subscriptions.get(subscription.channel) !== subscription) return; // unsubscribed meanwhile
    let reply: Subscribed;
    try {
      const result = replyResult(body, 'subscribed');
      reply = {
        channel: subscription.channel,
        epoch: stringField(result, 'epoch'),
        offset: offsetField(result, 'offset'),
        client: stringField(result, 'client'),
        publications: publicationsField(result),
        recovered: recoveredField(result),
      };
    } catch (error) {
      this.subscribeFailed(subscription, error as FramecastError);
      return;
    }
    subscription.retryAttempt = 0;
    if (subscription.epoch !== reply.epoch) {
      // Another epoch: its offsets are a new sequence, none of them delivered yet.
      subscription.epoch = reply.epoch;
      subscription.offset = 0;
    }
    // Still `subscribing` while the reply's publications are delivered: a publish made by a
    // listener meanwhile queues behind the outbox's older entries instead of overtaking them.
    const current = (): boolean => this.subscriptions.get(subscription.channel) === subscription;
    for (const publication of reply.publications) {
      if (!current()) return; // a listener unsubscribed (or closed the client)
      this.deliver(subscription, publication);
    }
    if (!current()) return;
    // From here the pushes continue at reply.offset + 1 (docs/pubsub.md "Guarantees").
    subscription.offset = Math.max(subscription.offset, reply.offset);
    subscription.status = 'subscribed';
    for (const entry of this.outbox.queued(subscription.channel)) this.transmit(entry);
    const first = subscription.first;
    subscription.first = undefined;
    this.emit('subscribed', {
      channel: reply.channel,
      epoch: reply.epoch,
      offset: reply.offset,
      client: reply.client,
      recovered: reply.recovered,
      resubscribed: first === undefined,
    });
    first?.resolve(reply);
  }

  private subscribeFailed(subscription: Subscription, error: FramecastError): void {
    if (error.code === 'unavailable') {
      // docs/pubsub.md: "the hub cannot do it now; try again later".
      subscription.status = 'waiting';
      const delay = fullJitterDelay(subscription.retryAttempt++, this.backoff, Math.random);
      subscription.retryTimer = setTimeout(() => {
        subscription.retryTimer = undefined;
        if (this.subscriptions.get(subscription.channel) === subscription && subscription.status === 'waiting' && this.isOpen()) this.sendSubscribe(subscription);
      }, delay);
      return;
    }
    this.subscriptions.delete(subscription.channel);
    for (const entry of this.outbox.take((entry) => entry.channel === subscription.channel && entry.state === 'queued')) entry.reject(error);
    if (subscription.first !== undefined) subscription.first.reject(error);
    else this.emit('unsubscribed', { channel: subscription.channel, error });
  }

  // --- Publishing ----------------------------------------------------------------------------

  private transmit(entry: OutboxEntry): void {
    entry.state = 'sent';
    this.send('publish', { channel: entry.channel, ...entry.payload }, { kind: 'publish', entry, sentAt: Date.now() });
  }

  private published(entry: OutboxEntry, body: ReadonlyMap<string, unknown>): void {
    this.outbox.delete(entry);
    try {
      const result = replyResult(body, 'published');
      entry.resolve({ channel: entry.channel, offset: offsetField(result, 'offset'), epoch: stringField(result, 'epoch') });
    } catch (error) {
      entry.reject(error as Error);
    }
  }
}

function ignore(): void {}

function positiveNumber(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number of ms (got ${value})`);
  return value;
}

function positiveInteger(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value > 0)) throw new RangeError(`${name} must be a positive whole number (got ${value})`);
  return value;
}
