/**
 * Gap filling: Redis pub/sub delivers at most once, so a node whose subscriber connection drops
 * for a moment misses what is published meanwhile. Every publication carries its channel's epoch
 * and offset, so a node can tell, and read what it missed back from the channel's history.
 *
 * Per channel with local members, the node remembers the epoch and the last offset it delivered:
 *
 * - The next offset arrives: delivered. One at or below the last: already delivered, dropped.
 * - A later offset arrives (a gap), or the node resubscribed after a broker reconnect: the node
 *   reads every publication after its last one from the history and delivers them in order;
 *   publications arriving meanwhile are held (bounded: `maxHeldBytes` over all channels) and
 *   delivered after them. Only what the history no longer holds is lost: it is counted, and the
 *   channel's framecast.v1 subscribers are told (`skipTo`, which sends them a `lost` push).
 * - Another epoch arrives (Redis lost the channel's state): counted, and the new epoch is
 *   followed from its first offset, with the history read for what came before.
 *
 * The position to start from is the position read the node makes once it listens to the channel
 * (arrivals wait for it), or a subscriber's read made after that (`baseline`), whichever comes
 * first: every publication after it reaches the node's members.
 *
 * No I/O here: reading and delivering are the `GapFillerIo` the hub gives.
 */
import type { ChannelPosition, HistoryResult, Publication } from '../../pubsub/history.js';

export interface GapFillerIo {
  /**
   * Reads every publication of `channel` after `since`, with the channel's position; without
   * `since`, only the position. Must read after the node listens to the channel (its SUBSCRIBE
   * confirmed), so that anything later than the answer arrives through pub/sub.
   */
  read(channel: string, since: ChannelPosition | undefined): Promise<HistoryResult>;
  /** Delivers one publication to the channel's members on this node. */
  deliver(channel: string, epoch: string, publication: Publication): void;
  /** Tells the channel's subscribers on this node it stands at `offset` of `epoch` (anything they lack up to there is lost). */
  skipTo(channel: string, epoch: string, offset: number): void;
}

/** What the node's gap filling did, for /metrics. */
export interface GapFillCounts {
  /** Publications delivered from the history because they had not arrived. */
  recovered: number;
  /** Publications no history held any more when they were missed. */
  lost: number;
  /** Times a channel's epoch changed under this node (its history was lost in Redis). */
  epochChanges: number;
  /** History reads made to fill a gap or catch up after a reconnect. */
  reads: number;
  /** Of those, reads that failed (retried). */
  readFailures: number;
}

interface Arrival {
  readonly epoch: string;
  readonly publication: Publication;
}

type Reading = 'none' | 'position' | 'missed';

/** One channel, as this node follows it. */
interface ChannelStream {
  readonly channel: string;
  /** Undefined until the node knows where the channel stands. */
  epoch: string | undefined;
  /** The last offset delivered (or known lost) in `epoch`. */
  delivered: number;
  reading: Reading;
  /** Publications that arrived while missed ones were being read, in arrival order. */
  waiting: Arrival[];
  waitingBytes: number;
  /** Read again once the current read is back (more may be missing than it covers). */
  again: boolean;
  retry: NodeJS.Timeout | undefined;
}

export class GapFiller {
  private readonly streams = new Map<string, ChannelStream>();
  private heldBytes = 0;
  readonly counts: GapFillCounts = { recovered: 0, lost: 0, epochChanges: 0, reads: 0, readFailures: 0 };

  constructor(
    private readonly io: GapFillerIo,
    /** Most bytes of arrivals held over all channels while missed publications are read. */
    private readonly maxHeldBytes: number,
    /** Wait before a failed read is tried again (ms). */
    private readonly retryDelay: number,
  ) {}

  /** Bytes of publications held now. */
  get held(): number {
    return this.heldBytes;
  }

  /** The node listens to `channel` from now on: follow it, starting from its position. */
  open(channel: string): void {
    if (this.streams.has(channel)) return;
    const stream: ChannelStream = { channel, epoch: undefined, delivered: 0, reading: 'none', waiting: [], waitingBytes: 0, again: false, retry: undefined };
    this.streams.set(channel, stream);
    this.read(stream);
  }

  /** The node no longer listens to `channel`: forget it (a read still on its way is ignored). */
  close(channel: string): void {
    const stream = this.streams.get(channel);
    if (stream === undefined) return;
    this.streams.delete(channel);
    this.release(stream);
    clearTimeout(stream.retry);
  }

  /** Forgets every channel (the hub is closing). */
  closeAll(): void {
    for (const channel of [...this.streams.keys()]) this.close(channel);
  }

  /** A read of `channel` made after the node listened to it (a subscriber's): a starting point if there is none yet. */
  baseline(channel: string, epoch: string, offset: number): void {
    const stream = this.streams.get(channel);
    if (stream === undefined || stream.epoch !== undefined) return;
    stream.epoch = epoch;
    stream.delivered = offset;
  }

  /** A publication of `channel` arrived from the broker. */
  arrive(channel: string, epoch: string, publication: Publication): void {
    const stream = this.streams.get(channel);
    if (stream === undefined) return; // no members here any more
    // While a read is out (or to be tried again), arrivals wait for it, so that they are taken
    // in order after what it brings, or after the starting point it sets.
    if (stream.reading !== 'none' || stream.retry !== undefined) this.hold(stream, { epoch, publication });
    else this.take(stream, epoch, publication);
  }

  /** After a broker reconnect: read what every channel missed while the node was not listening. */
  resyncAll(): void {
    for (const stream of this.streams.values()) {
      if (stream.reading !== 'none') stream.again = true;
      else this.read(stream);
    }
  }

  /** Takes one arrival in order (a starting point is known): deliver it, drop it, or hold it and read what is missing before it. */
  private take(stream: ChannelStream, epoch: string, publication: Publication): void {
    if (epoch !== stream.epoch) {
      // The channel's state was lost in Redis and it counts again from 1 in a new epoch.
      if (stream.epoch !== undefined) this.counts.epochChanges++;
      stream.epoch = epoch;
      stream.delivered = 0;
    }
    const offset = publication.offset;
    if (offset <= stream.delivered) return;
    if (offset === stream.delivered + 1) {
      stream.delivered = offset;
      this.io.deliver(stream.channel, epoch, publication);
      return;
    }
    this.hold(stream, { epoch, publication });
    if (stream.reading === 'none' && stream.retry === undefined) this.read(stream);
    else stream.again = true;
  }

  private hold(stream: ChannelStream, arrival: Arrival): void {
    const bytes = arrival.publication.data.length;
    if (this.heldBytes + bytes > this.maxHeldBytes && this.heldBytes > 0) {
      // Over the bound: let this channel's held arrivals go, and read them back from the
      // history after the read on its way (they are there unless the history is too short).
      this.release(stream);
      stream.again = true;
      return;
    }
    stream.waiting.push(arrival);
    stream.waitingBytes += bytes;
    this.heldBytes += bytes;
  }

  private release(stream: ChannelStream): void {
    this.heldBytes -= stream.waitingBytes;
    stream.waiting = [];
    stream.waitingBytes = 0;
  }

  /** Reads the channel's position (no starting point yet) or what it missed since the last delivered. */
  private read(stream: ChannelStream): void {
    clearTimeout(stream.retry);
    stream.retry = undefined;
    const since = stream.epoch === undefined ? undefined : { epoch: stream.epoch, offset: stream.delivered };
    stream.reading = since === undefined ? 'position' : 'missed';
    stream.again = false;
    if (since !== undefined) this.counts.reads++;
    this.io.read(stream.channel, since).then(
      (result) => this.readBack(stream, since, result),
      () => this.readFailed(stream, since),
    );
  }

  private readBack(stream: ChannelStream, since: ChannelPosition | undefined, result: HistoryResult): void {
    if (this.streams.get(stream.channel) !== stream) return;
    stream.reading = 'none';
    if (since === undefined) {
      // A position read: the starting point, unless a subscriber's read gave one meanwhile.
      if (stream.epoch === undefined) {
        stream.epoch = result.epoch;
        stream.delivered = result.offset;
      }
    } else if (stream.epoch !== since.epoch || stream.delivered !== since.offset) {
      // Something moved the stream meanwhile (an epoch change seen in an arrival): read again.
      stream.again = true;
    } else {
      this.fillFrom(stream, result);
    }
    this.drain(stream);
  }

  /** Delivers what a read of missed publications brought, in order; what it lacks is lost. */
  private fillFrom(stream: ChannelStream, result: HistoryResult): void {
    const channel = stream.channel;
    if (result.epoch !== stream.epoch) {
      this.counts.epochChanges++;
      stream.epoch = result.epoch;
      stream.delivered = 0;
    }
    const epoch = result.epoch;
    for (const publication of result.publications) {
      const offset = publication.offset;
      if (offset <= stream.delivered) continue;
      this.counts.lost += offset - stream.delivered - 1;
      stream.delivered = offset;
      this.counts.recovered++;
      this.io.deliver(channel, epoch, publication);
    }
    if (result.offset > stream.delivered) {
      this.counts.lost += result.offset - stream.delivered;
      stream.delivered = result.offset;
    }
    // Subscribers lacking anything up to here are told it is lost (or that the epoch changed).
    this.io.skipTo(channel, epoch, stream.delivered);
  }

  /**
   * After a read: takes the held arrivals in order (a new gap among them starts another read),
   * then reads again if asked. Held arrivals of another epoch than the read's that come before
   * the first of its epoch were published before Redis lost the channel (pub/sub keeps Redis's
   * order), so they are dropped; should they instead be of a newer epoch still, the read asked
   * for then finds it, and reads them back from its history.
   */
  private drain(stream: ChannelStream): void {
    const waiting = stream.waiting;
    this.release(stream);
    let inReadEpoch = false;
    for (let i = 0; i < waiting.length; i++) {
      if (stream.reading !== 'none') {
        // A gap among the held ones: keep the rest for after this read.
        for (let j = i; j < waiting.length; j++) this.hold(stream, waiting[j]);
        return;
      }
      if (!inReadEpoch) {
        if (waiting[i].epoch !== stream.epoch) {
          stream.again = true;
          continue;
        }
        inReadEpoch = true;
      }
      this.take(stream, waiting[i].epoch, waiting[i].publication);
    }
    if (stream.again && stream.reading === 'none' && stream.retry === undefined) this.read(stream);
  }

  private readFailed(stream: ChannelStream, since: ChannelPosition | undefined): void {
    if (this.streams.get(stream.channel) !== stream) return;
    stream.reading = 'none';
    if (since !== undefined) this.counts.readFailures++;
    // Held arrivals stay held; the read is tried again after a pause (and at once after a reconnect).
    stream.retry = setTimeout(() => {
      stream.retry = undefined;
      if (this.streams.get(stream.channel) === stream && stream.reading === 'none') this.read(stream);
    }, this.retryDelay);
    stream.retry.unref?.();
  }
}
