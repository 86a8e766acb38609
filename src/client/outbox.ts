/**
 * The outbox: publishes waiting for the server's confirmation, in the order they were made.
 *
 * An entry is `queued` until its channel is subscribed on an open connection, then `sent`
 * until the `published` reply (or an error) settles it. The outbox holds at most `capacity`
 * entries, queued and sent together; `add` refuses one more, so memory is bounded by the
 * application's option, never by how long the connection stays away.
 */

/** What a confirmed publish resolves with: where the server put it. */
export interface Published {
  readonly channel: string;
  readonly offset: number;
  readonly epoch: string;
}

/** One publish waiting for its confirmation. */
export interface OutboxEntry {
  readonly channel: string;
  /** The `publish` argument's payload field: `{text}` or `{binary}` (base64). */
  readonly payload: { text: string } | { binary: string };
  state: 'queued' | 'sent';
  readonly resolve: (published: Published) => void;
  readonly reject: (error: Error) => void;
}

export class Outbox {
  /** Insertion order is publish order: a Set keeps it and removes in O(1). */
  private readonly entries = new Set<OutboxEntry>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** Adds an entry; false (nothing added) when the outbox is full. */
  add(entry: OutboxEntry): boolean {
    if (this.entries.size >= this.capacity) return false;
    this.entries.add(entry);
    return true;
  }

  /** Removes an entry (settled); its promise is the caller's to settle. */
  delete(entry: OutboxEntry): void {
    this.entries.delete(entry);
  }

  /** The queued entries of a channel, oldest first. */
  queued(channel: string): OutboxEntry[] {
    return [...this.entries].filter((entry) => entry.state === 'queued' && entry.channel === channel);
  }

  /** Removes and returns the entries that match, oldest first. */
  take(matches: (entry: OutboxEntry) => boolean): OutboxEntry[] {
    const taken = [...this.entries].filter(matches);
    for (const entry of taken) this.entries.delete(entry);
    return taken;
  }
}
