/**
 * The hub: who is in which channel, and delivering a message to a channel's members or to
 * every connection. The in-process hub is the default; a scale-out hub (Redis) implements the
 * same interface, so the server never asks which one it has.
 */
import { type PreparedMessage, prepareMessage, ReadyState, type WebSocketConnection } from './connection.js';

/** Sends to one connection if it is open; 1 if it was, else 0. (A full send buffer still counts: the bytes are queued.) */
function sendTo(connection: WebSocketConnection, message: PreparedMessage): number {
  if (connection.readyState !== ReadyState.Open) return 0;
  connection.sendPrepared(message);
  return 1;
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

/**
 * Local membership and delivery, shared by every hub: a map from channel name to members, and
 * the sets of all open connections (for pushes without a channel).
 */
export class LocalChannels {
  private readonly channels = new Map<string, Set<WebSocketConnection>>();
  private readonly everyone: readonly ReadonlySet<WebSocketConnection>[];
  /** Called when a channel gets its first local member and after its last one leaves. */
  onChannelOpened: ((channel: string) => void) | undefined;
  onChannelEmptied: ((channel: string) => void) | undefined;

  /** `everyone` are the client sets of the WebSocket servers whose connections a channel-less push reaches. */
  constructor(everyone: readonly ReadonlySet<WebSocketConnection>[]) {
    this.everyone = everyone;
  }

  join(channel: string, connection: WebSocketConnection): void {
    let members = this.channels.get(channel);
    if (members === undefined) {
      members = new Set();
      this.channels.set(channel, members);
      this.onChannelOpened?.(channel);
    }
    members.add(connection);
    connection.once('close', () => this.leave(channel, connection));
  }

  leave(channel: string, connection: WebSocketConnection): void {
    const members = this.channels.get(channel);
    if (members === undefined || !members.delete(connection)) return;
    if (members.size === 0) {
      this.channels.delete(channel);
      this.onChannelEmptied?.(channel);
    }
  }

  /** Names of channels with at least one local member. */
  channelNames(): IterableIterator<string> {
    return this.channels.keys();
  }

  memberCount(channel: string): number {
    return this.channels.get(channel)?.size ?? 0;
  }

  /** Delivers a message framed once to the local members (or everyone); returns how many got it. */
  deliver(channel: string | undefined, message: PreparedMessage): number {
    let delivered = 0;
    if (channel !== undefined) {
      const members = this.channels.get(channel);
      if (members === undefined) return 0;
      for (const connection of members) delivered += sendTo(connection, message);
      return delivered;
    }
    for (const clients of this.everyone) {
      for (const connection of clients) delivered += sendTo(connection, message);
    }
    return delivered;
  }
}

/** The default hub: everything in this process, delivered synchronously, so one order for all. */
export class InProcessHub implements Hub {
  readonly recipientsCounted = 'connections';
  private readonly local: LocalChannels;

  constructor(everyone: readonly ReadonlySet<WebSocketConnection>[]) {
    this.local = new LocalChannels(everyone);
  }

  /** Who is in which channel, for reading (e.g. `memberCount`); join through the hub. */
  get channels(): LocalChannels {
    return this.local;
  }

  join(channel: string, connection: WebSocketConnection): void {
    this.local.join(channel, connection);
  }

  publish(channel: string | undefined, data: string | Uint8Array, isBinary: boolean): Promise<number> {
    // A channel nobody is in: nothing to frame.
    if (channel !== undefined && this.local.memberCount(channel) === 0) return Promise.resolve(0);
    return Promise.resolve(this.local.deliver(channel, prepareMessage(data, isBinary)));
  }

  metricLines(): string[] {
    return [];
  }

  health(): Record<string, string> {
    return { hub: 'in-process' };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
