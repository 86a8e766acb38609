/**
 * framecast.v1 presence across nodes (docs/pubsub.md "presence"; keys.ts for the keys).
 *
 * - Each channel's subscribers, on every node, are one Redis hash: client id -> "NODE INFO".
 *   A subscribe adds the entry and a `join` event is published to the channel's pub/sub channel
 *   (JOIN_SCRIPT), an unsubscribe removes it and publishes a `leave` (LEAVE_SCRIPT); every other
 *   node passes the event on to its own subscribers of the channel.
 * - Liveness: every node keeps a key of its own, `PREFIX:node:ID`, that expires after the node
 *   timeout (30 s by default, `BrokerDefaults.nodeTimeout`) and is renewed every third of it.
 *   A presence list leaves out entries of nodes whose key is gone, so the subscribers of a node
 *   that died without a clean shutdown leave the list within the node timeout.
 * - Clean-up: on each renewal a node also looks for dead nodes among `PREFIX:nodes`; the first
 *   to take a dead node's purge lock removes its entries from each channel it was in
 *   (`PREFIX:node:ID:channels`) and publishes their `leave` events (PURGE_SCRIPT).
 * - Should Redis have lost this node's entries (restarted empty, or it took the node for dead
 *   after a long stall), the renewal finds its own key missing and puts them back, announcing
 *   each as a `join` again.
 *
 * What Redis holds is bounded by the subscriptions that exist, and nothing outlives its nodes
 * for long: a channel's presence hash expires two node timeouts after the last renewal.
 */
import { randomBytes } from 'node:crypto';
import type { createClient } from 'redis';
import { EnvelopeKind, encodeEnvelope } from '../broker-envelope.js';
import type { LocalChannels } from '../hub.js';
import { describeError, type Logger } from '../../log.js';
import type { Subscription } from '../../pubsub/subscription.js';
import { type PresenceEntry, presencePush } from '../../pubsub/wire.js';
import type { RedisKeys } from './keys.js';
import { JOIN_SCRIPT, LEAVE_SCRIPT, PURGE_SCRIPT, runScript } from './scripts.js';

type RedisClient = ReturnType<typeof createClient>;

/** Random bytes in a node id: 48 bits, ample for the nodes of one cluster. */
const NODE_ID_BYTES = 6;

/** A leave that could not reach Redis (it was away): tried again on the next renewal. */
interface PendingLeave {
  readonly channel: string;
  readonly entry: PresenceEntry;
}

export class ClusterPresence {
  /** This node's id, e.g. `n-Qx8fT2aB`: in its presence entries and as the origin of its events. */
  readonly nodeId = `n-${randomBytes(NODE_ID_BYTES).toString('base64url')}`;
  private readonly nodeKey: string;
  private readonly channelsKey: string;
  private readonly presenceTtl: number;
  /** True once this node's key has been written: a later renewal that finds it gone knows Redis lost it. */
  private registered = false;
  private renewing = false;
  private readonly pendingLeaves: PendingLeave[] = [];
  /** Dead nodes' entries removed by this node, for /metrics. */
  purged = 0;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
    private readonly local: LocalChannels,
    private readonly nodeTimeout: number,
    private readonly logger: Logger,
  ) {
    this.nodeKey = keys.node(this.nodeId);
    this.channelsKey = keys.nodeChannels(this.nodeId);
    this.presenceTtl = 2 * nodeTimeout;
  }

  /** Adds a subscriber to its channel's presence; other nodes are told with a `join`. */
  async join(subscription: Subscription): Promise<void> {
    const channel = subscription.channel;
    const work: Array<Promise<unknown>> = [this.addEntry(channel, subscription)];
    if (this.local.subscriptionCount(channel) === 1) work.push(this.client.sAdd(this.channelsKey, channel));
    await Promise.all(work);
  }

  /** Removes a subscriber from its channel's presence; other nodes are told with a `leave`. */
  leave(subscription: Subscription): void {
    const channel = subscription.channel;
    this.removeEntry(channel, subscription).catch(() => this.pendingLeaves.push({ channel, entry: subscription }));
    if (this.local.subscriptionCount(channel) === 0) {
      this.client.sRem(this.channelsKey, channel).catch(() => undefined); // a stale name there costs a purge one empty look
    }
  }

  /** The channel's subscribers on every live node. */
  async list(channel: string): Promise<PresenceEntry[]> {
    const all = await this.client.hGetAll(this.keys.presence(channel));
    const entries: Array<PresenceEntry & { node: string }> = [];
    const nodes = new Set<string>();
    for (const [client, value] of Object.entries(all)) {
      const space = value.indexOf(' ');
      if (space <= 0) continue;
      const node = value.slice(0, space);
      entries.push({ client, infoJson: value.slice(space + 1), node });
      if (node !== this.nodeId) nodes.add(node);
    }
    const names = [...nodes];
    const alive = new Set<string>([this.nodeId]);
    const exists = await Promise.all(names.map((node) => this.client.exists(this.keys.node(node))));
    names.forEach((node, i) => {
      if (exists[i] === 1) alive.add(node);
    });
    return entries.filter((entry) => alive.has(entry.node)).map(({ client, infoJson }) => ({ client, infoJson }));
  }

  /**
   * Renews this node's liveness and its channels' presence, puts its entries back if Redis lost
   * them, retries leaves that failed, and removes dead nodes' entries. The hub calls it every
   * third of the node timeout, and at once after (re)connecting.
   */
  async renew(): Promise<void> {
    if (this.renewing || !this.client.isReady) return;
    this.renewing = true;
    try {
      const previous = await this.client.sendCommand<string | null>(['SET', this.nodeKey, '1', 'PX', String(this.nodeTimeout), 'GET']);
      await this.client.sAdd(this.keys.nodes, this.nodeId);
      if (previous === null && this.registered) await this.putBack();
      this.registered = true;
      await this.retryLeaves();
      const renewals: Array<Promise<unknown>> = [this.client.pExpire(this.channelsKey, this.presenceTtl)];
      for (const channel of this.local.channelNames()) {
        if (this.local.subscriptionCount(channel) > 0) renewals.push(this.client.pExpire(this.keys.presence(channel), this.presenceTtl));
      }
      await Promise.all(renewals);
      await this.sweep();
    } catch (error) {
      this.logger.debug(`presence: renewal failed, retried later: ${describeError(error)}`);
    } finally {
      this.renewing = false;
    }
  }

  /** A clean shutdown: this node's key and lists go at once rather than after the timeout. */
  async close(): Promise<void> {
    if (!this.client.isReady) return;
    try {
      await Promise.all([this.client.del([this.nodeKey, this.channelsKey]), this.client.sRem(this.keys.nodes, this.nodeId)]);
    } catch {
      // Redis went away: the key expires by itself and the others purge the rest.
    }
  }

  private addEntry(channel: string, entry: PresenceEntry): Promise<unknown> {
    const envelope = encodeEnvelope(EnvelopeKind.Presence, this.nodeId, presencePush('join', channel, entry));
    return runScript(this.client, JOIN_SCRIPT, [this.keys.presence(channel)], [entry.client, `${this.nodeId} ${entry.infoJson}`, String(this.presenceTtl), this.keys.channel(channel), envelope]);
  }

  private removeEntry(channel: string, entry: PresenceEntry): Promise<unknown> {
    const envelope = encodeEnvelope(EnvelopeKind.Presence, this.nodeId, presencePush('leave', channel, entry));
    return runScript(this.client, LEAVE_SCRIPT, [this.keys.presence(channel)], [entry.client, this.keys.channel(channel), envelope]);
  }

  /** Redis lost this node's entries: every local subscription goes back into presence. */
  private async putBack(): Promise<void> {
    this.logger.info('presence: Redis had lost this node\'s presence entries; putting them back');
    const work: Array<Promise<unknown>> = [];
    for (const channel of this.local.channelNames()) {
      const subscribers = this.local.subscriptionsOf(channel);
      if (subscribers.length === 0) continue;
      work.push(this.client.sAdd(this.channelsKey, channel));
      for (const entry of subscribers) work.push(this.addEntry(channel, entry));
    }
    await Promise.all(work);
  }

  private async retryLeaves(): Promise<void> {
    const leaves = this.pendingLeaves.splice(0);
    await Promise.all(
      leaves.map(async (leave) => {
        // The same client may have subscribed again meanwhile: its entry is current then.
        if (this.local.subscriptionsOf(leave.channel).some((entry) => entry.client === leave.entry.client)) return;
        try {
          await this.removeEntry(leave.channel, leave.entry);
        } catch {
          this.pendingLeaves.push(leave);
        }
      }),
    );
  }

  /** Finds nodes whose liveness key is gone and purges their entries (one node per dead node, by lock). */
  private async sweep(): Promise<void> {
    const others = (await this.client.sMembers(this.keys.nodes)).filter((node) => node !== this.nodeId);
    if (others.length === 0) return;
    const exists = await Promise.all(others.map((node) => this.client.exists(this.keys.node(node))));
    for (let i = 0; i < others.length; i++) {
      if (exists[i] === 0) await this.purge(others[i]);
    }
  }

  private async purge(dead: string): Promise<void> {
    const locked = await this.client.sendCommand<string | null>(['SET', this.keys.nodePurge(dead), this.nodeId, 'NX', 'PX', String(this.nodeTimeout)]);
    if (locked === null) return;
    const channels = await this.client.sMembers(this.keys.nodeChannels(dead));
    for (const channel of channels) {
      const removed = await runScript<string[]>(this.client, PURGE_SCRIPT, [this.keys.presence(channel)], [dead]);
      for (let i = 0; i + 1 < removed.length; i += 2) {
        // Published as coming from the dead node, so that every live node passes it on.
        const envelope = encodeEnvelope(EnvelopeKind.Presence, dead, presencePush('leave', channel, { client: removed[i], infoJson: removed[i + 1] }));
        await this.client.publish(this.keys.channel(channel), envelope);
        this.purged++;
      }
    }
    await Promise.all([this.client.del(this.keys.nodeChannels(dead)), this.client.sRem(this.keys.nodes, dead)]);
    this.logger.info(`presence: node ${dead} stopped renewing its liveness; removed its ${channels.length === 1 ? 'channel' : 'channels'}' subscribers`);
  }
}
