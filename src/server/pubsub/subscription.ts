/**
 * One framecast.v1 subscriber's membership of one channel: what the hub delivers to, and what
 * presence lists. It keeps the "no gap, no duplicate" promise of docs/pubsub.md at the last
 * step before the socket:
 *
 * - Until its `subscribed` reply has gone out, pushes are held (the hub adds the subscription
 *   to the channel before it reads the channel's position, so nothing can fall between the two).
 * - Once the reply with epoch E and latest offset L is out, the held publications of E after L
 *   are sent, and from then on each publication is sent only if its offset is past the last one
 *   sent.
 * - Should a publication ever come that is not the next one (a broker hub whose node missed
 *   publications the history no longer holds), or one of another epoch (the channel's history
 *   was lost, e.g. Redis restarted empty), the subscriber is told first with a `lost` push that
 *   names what it will never get (docs/pubsub.md "Pushes"). So a gap is never silent.
 */
import { type PreparedMessage, prepareMessage, ReadyState, type WebSocketConnection } from '../websocket/connection.js';
import { lostPush, type PresenceEntry } from './wire.js';

/** A push that is no publication (join, leave): never deduplicated. */
const NO_OFFSET = -1;

interface HeldPush {
  /** The epoch the hub delivered it in; undefined for join and leave. */
  readonly epoch: string | undefined;
  readonly offset: number;
  /** The push; undefined for a `skipTo` held until the reply is out. */
  readonly message: PreparedMessage | undefined;
}

export class Subscription implements PresenceEntry {
  /** The epoch of the reply, then of the latest publication sent; undefined until the reply is out. */
  private epoch: string | undefined;
  /** The latest offset this subscriber has been sent (in the reply or as a push), or told is lost. */
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

  /** Delivers the publication with `offset` of `epoch`; 1 if it went to an open connection (or is held for it), else 0. */
  deliver(epoch: string, offset: number, message: PreparedMessage): number {
    if (this.connection.readyState !== ReadyState.Open) return 0;
    if (this.held !== undefined) return this.hold(epoch, offset, message);
    if (epoch === this.epoch) {
      if (offset <= this.lastOffset) return 0;
      if (offset > this.lastOffset + 1) this.tellLost(epoch, this.lastOffset + 1, offset - 1, undefined);
    } else {
      this.tellLost(epoch, 1, offset - 1, this.epoch);
    }
    this.epoch = epoch;
    this.lastOffset = offset;
    this.connection.sendPrepared(message);
    return 1;
  }

  /**
   * The channel stands at `offset` of `epoch`, and whatever this subscriber has not been sent
   * up to there will not come (the hub could not get it): tells it so with a `lost` push, if
   * anything is missing. Nothing happens when it already has everything up to `offset`.
   */
  skipTo(epoch: string, offset: number): void {
    if (this.connection.readyState !== ReadyState.Open) return;
    if (this.held !== undefined) {
      this.hold(epoch, offset, undefined);
      return;
    }
    if (epoch === this.epoch) {
      if (offset <= this.lastOffset) return;
      this.tellLost(epoch, this.lastOffset + 1, offset, undefined);
    } else {
      this.tellLost(epoch, 1, offset, this.epoch);
    }
    this.epoch = epoch;
    this.lastOffset = offset;
  }

  /** Sends a join or leave push (held like publications until the reply is out). */
  notify(message: PreparedMessage): void {
    if (this.connection.readyState !== ReadyState.Open) return;
    if (this.held !== undefined) this.hold(undefined, NO_OFFSET, message);
    else this.connection.sendPrepared(message);
  }

  /**
   * The reply with epoch `epoch` and latest offset `offset` has been sent: send what was held
   * after it, then go live. Held publications of another epoch that come before the first one
   * of the reply's epoch were delivered before the channel's history was lost and are dropped;
   * anything after that is handled as if it came now.
   */
  activate(epoch: string, offset: number): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    this.epoch = epoch;
    this.lastOffset = offset;
    let inReplyEpoch = false;
    for (const push of held) {
      if (push.epoch === undefined) {
        this.notify(push.message!);
        continue;
      }
      if (!inReplyEpoch) {
        if (push.epoch !== epoch) continue;
        inReplyEpoch = true;
      }
      if (push.message === undefined) this.skipTo(push.epoch, push.offset);
      else this.deliver(push.epoch, push.offset, push.message);
    }
  }

  /** Sends `{"lost":...}`: offsets `from`..`to` of `epoch` will not come (none if `to` < `from`), and the epoch changed if `previousEpoch` is given. */
  private tellLost(epoch: string, from: number, to: number, previousEpoch: string | undefined): void {
    if (to < from && previousEpoch === undefined) return;
    this.connection.sendPrepared(prepareMessage(lostPush(this.channel, epoch, from, to, previousEpoch), false));
  }

  private hold(epoch: string | undefined, offset: number, message: PreparedMessage | undefined): number {
    const held = this.held!;
    if (held.length >= this.maxHeld) {
      this.onOverflow(this);
      return 0;
    }
    held.push({ epoch, offset, message });
    return 1;
  }
}
