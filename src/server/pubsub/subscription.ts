/**
 * One framecast.v1 subscriber's membership of one channel: what the hub delivers to, and what
 * presence lists. It keeps the "no gap, no duplicate" promise of docs/pubsub.md at the last
 * step before the socket:
 *
 * - Until its `subscribed` reply has gone out, pushes are held (the hub adds the subscription
 *   to the channel before it reads the channel's position, so nothing can fall between the two).
 * - Once the reply with latest offset L is out, the held publications after L are sent, and
 *   from then on each publication is sent only if its offset is past the last one sent.
 */
import { type PreparedMessage, ReadyState, type WebSocketConnection } from '../connection.js';
import type { PresenceEntry } from './wire.js';

/** A push that is no publication (join, leave): never deduplicated. */
const NO_OFFSET = -1;

interface HeldPush {
  readonly offset: number;
  readonly message: PreparedMessage;
}

export class Subscription implements PresenceEntry {
  /** The latest offset this subscriber has been sent (in the reply or as a push). */
  private lastOffset = 0;
  /** Pushes waiting for the reply; undefined once it is out. */
  private held: HeldPush[] | undefined = [];

  constructor(
    readonly connection: WebSocketConnection,
    readonly channel: string,
    /** The subscriber's client id (one per connection). */
    readonly client: string,
    /** Presence `info` as serialized JSON. */
    readonly infoJson: string,
    /** Most pushes held before the reply; past it the connection is closed (1013). */
    private readonly maxHeld: number,
    /** Called when `maxHeld` is passed. */
    private readonly onOverflow: (subscription: Subscription) => void,
  ) {}

  /** True while the reply has not gone out yet. */
  get pending(): boolean {
    return this.held !== undefined;
  }

  /** Delivers a publication with `offset`; 1 if it went to an open connection (or is held for it), else 0. */
  deliver(offset: number, message: PreparedMessage): number {
    if (this.connection.readyState !== ReadyState.Open) return 0;
    if (this.held !== undefined) return this.hold(offset, message);
    if (offset <= this.lastOffset) return 0;
    this.lastOffset = offset;
    this.connection.sendPrepared(message);
    return 1;
  }

  /** Sends a join or leave push (held like publications until the reply is out). */
  notify(message: PreparedMessage): void {
    if (this.connection.readyState !== ReadyState.Open) return;
    if (this.held !== undefined) this.hold(NO_OFFSET, message);
    else this.connection.sendPrepared(message);
  }

  /** The reply with latest offset `offset` has been sent: send what was held after it, then go live. */
  activate(offset: number): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    this.lastOffset = offset;
    for (const push of held) {
      if (push.offset === NO_OFFSET) this.notify(push.message);
      else this.deliver(push.offset, push.message);
    }
  }

  private hold(offset: number, message: PreparedMessage): number {
    const held = this.held!;
    if (held.length >= this.maxHeld) {
      this.onOverflow(this);
      return 0;
    }
    held.push({ offset, message });
    return 1;
  }
}
