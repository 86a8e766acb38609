/**
 * The names framecast uses in Redis (README "Running a small cluster" lists them). Everything a
 * channel keeps is under the hash tag `{NAME}`, so that a Redis Cluster would put it in one slot
 * and the scripts, which touch a channel's keys together, may run there.
 *
 *   PREFIX:{NAME}:meta       hash   the channel's epoch and latest offset
 *   PREFIX:{NAME}:log        stream the channel's history: entry id OFFSET-0, fields t (ms), k (kind), d (data)
 *   PREFIX:{NAME}:presence   hash   client id -> "NODE INFO" for every framecast.v1 subscriber
 *   PREFIX:channel:NAME      pub/sub the channel's publications and presence events (broker-envelope.ts)
 *   PREFIX:all               pub/sub pushes to every connection
 *   PREFIX:nodes             set    ids of the nodes that may have presence entries
 *   PREFIX:node:ID           string a node's liveness: it exists while the node runs (PX the node timeout)
 *   PREFIX:node:ID:channels  set    channels in which node ID has presence entries
 *   PREFIX:node:ID:purge     string held by the node that removes a dead node's presence entries
 *
 * Channel names are letters, digits, '-', '_' and '.', so they never contain a brace or a colon
 * that could confuse these names.
 */
export class RedisKeys {
  /** `PREFIX:channel:`: a channel's pub/sub channel is this and its name. */
  readonly channelPrefix: string;
  /** `PREFIX:all`. */
  readonly everyone: string;
  readonly nodes: string;

  constructor(private readonly prefix: string) {
    this.channelPrefix = `${prefix}:channel:`;
    this.everyone = `${prefix}:all`;
    this.nodes = `${prefix}:nodes`;
  }

  /** The pub/sub channel of framecast channel `name`. */
  channel(name: string): string {
    return this.channelPrefix + name;
  }

  meta(name: string): string {
    return `${this.prefix}:{${name}}:meta`;
  }

  log(name: string): string {
    return `${this.prefix}:{${name}}:log`;
  }

  presence(name: string): string {
    return `${this.prefix}:{${name}}:presence`;
  }

  node(id: string): string {
    return `${this.prefix}:node:${id}`;
  }

  nodeChannels(id: string): string {
    return `${this.prefix}:node:${id}:channels`;
  }

  nodePurge(id: string): string {
    return `${this.prefix}:node:${id}:purge`;
  }
}
