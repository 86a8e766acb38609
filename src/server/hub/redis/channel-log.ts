/**
 * Offsets, epochs and history of framecast channels kept in Redis, shared by every node
 * (docs/pubsub.md "Channels, offsets and epochs"; keys.ts for the keys, scripts.ts for the
 * scripts). The Redis counterpart of pubsub/history.ts:
 *
 * - `publish` numbers a publication, appends it to the channel's log and PUBLISHes it to every
 *   node, in one script, so all nodes agree on its offset and receive publications in offset order.
 * - `read` answers subscribe, history and the nodes' own gap filling.
 *
 * What bounds what: a channel's log holds at most `size` publications (MAXLEN) and disappears
 * `ttl` after the channel's last publication; publications older than `ttl` are never read.
 * The channel's epoch and offset (the meta hash) outlive the log by `metaTtl - ttl`, and every
 * node with members of the channel renews them while it has them, so a quiet channel keeps its
 * epoch as long as anybody is in it. Redis's memory as a whole is bounded by its own `maxmemory`
 * (the operator's); if Redis evicts a channel's keys, the epoch changes and the loss is
 * reported, never silent. `HistoryLimits.memory` bounds an in-process history only.
 */
import { type createClient, RESP_TYPES } from 'redis';
import { EnvelopeKind, envelopeFlags } from '../broker-envelope.js';
import { type HistoryLimits, type HistoryQuery, type HistoryResult, isRecovered, type Publication, randomEpoch } from '../../pubsub/history.js';
import type { RedisKeys } from './keys.js';
import { type CommandOptions, PUBLISH_SCRIPT, READ_SCRIPT, runScript } from './scripts.js';

type RedisClient = ReturnType<typeof createClient>;

/** Bulk strings as Buffers: publications are bytes, binary ones too. */
const AS_BUFFERS: CommandOptions = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

/** Where a publication went: its place in the channel, and how many nodes received it. */
export interface Published {
  readonly epoch: string;
  readonly offset: number;
  readonly nodes: number;
}

export class ChannelLog {
  private readonly size: string;
  private readonly ttl: string;
  private readonly metaTtl: string;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
    limits: HistoryLimits,
    /** How long a channel's epoch and offset are kept after its last publication or renewal (ms). */
    metaTtl: number,
  ) {
    this.size = String(limits.size);
    this.ttl = String(limits.ttl);
    this.metaTtl = String(metaTtl);
  }

  /** Numbers, stores and publishes one publication of `channel` (PUBLISH_SCRIPT). */
  async publish(channel: string, data: string | Uint8Array, isBinary: boolean): Promise<Published> {
    const kind = isBinary ? EnvelopeKind.Binary : EnvelopeKind.Text;
    const payload = typeof data === 'string' || Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const [epoch, offset, nodes] = await runScript<[string, number, number]>(
      this.client,
      PUBLISH_SCRIPT,
      [this.keys.meta(channel), this.keys.log(channel)],
      [randomEpoch(), this.keys.channel(channel), String(envelopeFlags(kind)), isBinary ? '1' : '0', payload, this.size, this.ttl, this.metaTtl],
    );
    return { epoch, offset, nodes };
  }

  /**
   * Reads `channel`'s position and the history `query` asks for (READ_SCRIPT). `start`: a node
   * with members of the channel starts its epoch if it has none, so the answer's epoch is the
   * one its next publication will have; a plain history read does not.
   */
  async read(channel: string, query: HistoryQuery, start: boolean): Promise<HistoryResult> {
    const since = query.since;
    const what = since === undefined ? ['latest', query.limit === undefined ? '' : String(query.limit), ''] : ['since', String(since.offset), since.epoch ?? ''];
    const [epochBytes, offset, flat] = await runScript<[Buffer, number, Array<number | Buffer>]>(
      this.client,
      READ_SCRIPT,
      [this.keys.meta(channel), this.keys.log(channel)],
      [randomEpoch(), start ? '1' : '0', ...what, this.ttl, this.metaTtl],
      AS_BUFFERS,
    );
    const publications: Publication[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) {
      publications.push({ offset: flat[i] as number, isBinary: (flat[i + 1] as Buffer)[0] === 0x31, data: flat[i + 2] as Buffer });
    }
    const result: HistoryResult = { epoch: epochBytes.toString('latin1'), offset, publications };
    if (since?.epoch === undefined) return result;
    return { ...result, recovered: isRecovered(since, result) };
  }

  /** Keeps the epoch and offset of `channels` (which have members on this node) for another `metaTtl`. */
  renew(channels: Iterable<string>): Promise<unknown> {
    const renewals: Array<Promise<unknown>> = [];
    for (const channel of channels) renewals.push(this.client.pExpire(this.keys.meta(channel), Number(this.metaTtl)));
    return Promise.all(renewals);
  }
}
