/**
 * Every default and limit of the server, in one place. The command line (cli.ts) and the
 * library options (websocket-server.ts, app.ts) start from these.
 */
import { ProtocolDefaults } from '../protocol/index.js';

export const ServerDefaults = {
  /** TCP port `framecast` listens on. */
  port: 8080,
  /** Largest WebSocket message accepted, in bytes; larger ones are closed with 1009. */
  maxMessageSize: ProtocolDefaults.maxMessageSize,
  /** `send()` returns false once this many bytes (counted as for `maxSendBuffer`) wait in a connection's send buffer. */
  sendHighWaterMark: 1024 * 1024,
  /**
   * Most memory a connection may hold waiting to be sent: its bytes, plus `queuedWriteBytes`
   * for every write still queued (a peer that makes the server queue many tiny frames costs
   * far more than their bytes). A client that reads so slowly that more than this is still
   * waiting when another message is sent is dropped (counted as close code 1008 and as a slow
   * consumer). One message larger than this is still sent whole. What the server itself holds
   * back to batch a turn's writes into one system call is handed to the operating system
   * before the check, so it counts only as far as the socket cannot take it at once.
   */
  maxSendBuffer: 4 * 1024 * 1024,
  /**
   * What one queued socket write costs beyond its bytes, as `maxSendBuffer` and
   * `sendHighWaterMark` count it: Node keeps a request object and a Buffer object for each
   * (measured on Node 20: about 230 bytes of memory per queued 8-byte write, corked or not).
   */
  queuedWriteBytes: 256,
  /**
   * Frames read from one connection in one turn of the event loop before it lets the others
   * have theirs: past this many the connection stops reading (pauses its socket) and reads on
   * in the next turn. A socket with plenty waiting is read up to 32 times a turn, 64 KiB each,
   * and a read of 64 KiB holds up to 9,362 one-byte frames, each about a microsecond of work
   * with its reply: 256 keep a turn of 50 flooding connections around 15 ms.
   */
  framesPerTurn: 256,
  /**
   * Pings that come while the Pong to an earlier one is still waiting for the peer to read it,
   * counted until the peer has caught up with everything it was sent. Meanwhile only the latest
   * is kept to be answered (RFC 6455 5.5.3), so they cost no memory; past this many the peer is
   * closed with 1008, since it is only flooding.
   */
  maxUnansweredPings: 1_000,
  /**
   * Bytes a peer may still send after its Close, or after the server failed the connection
   * (they are read and dropped, unparsed); past this many the socket is destroyed, or, while
   * the Close still waits for the peer to read it, no longer read until the close timeout. A
   * peer caught in the middle of a large message has about that much in flight, give or take
   * its kernel's buffers; a flooder has no end.
   */
  maxBytesAfterClose: 1024 * 1024,
  /** Most frames one message may come in (1009 beyond it); see `ProtocolDefaults.maxFragmentsPerMessage`. */
  maxFragmentsPerMessage: ProtocolDefaults.maxFragmentsPerMessage,
  /**
   * Interval between heartbeats, in ms. Each heartbeat pings every connection; one that has
   * sent nothing at all (no pong, no data) since the previous heartbeat is terminated. So a
   * dead peer is found within two intervals. 0 disables heartbeats.
   */
  heartbeatInterval: 30_000,
  /** After sending a Close frame, how long to wait for the peer's before destroying the socket (ms). */
  closeTimeout: 5_000,
  /** How long a client may take to send its complete request headers (ms). */
  handshakeTimeout: 10_000,
  /** How long a library user's `authenticate` hook may take before the handshake gets 503 (ms). */
  authenticateTimeout: 10_000,
  /** Most open WebSocket connections; beyond it upgrades are answered 503. */
  maxConnections: 10_000,
  /** Largest `POST /push` body, in bytes (413 beyond it). */
  maxPushBody: 1024 * 1024,
  /** How long a graceful shutdown waits for peers to answer the 1001 Close (ms). */
  shutdownTimeout: 5_000,
  /**
   * `framecast` exits at once on a second SIGINT or SIGTERM during its shutdown, unless that
   * signal comes within this many ms of the first: then it is the same stop delivered twice
   * (Ctrl-C under `npm start` reaches the server from the terminal and again from npm, which
   * forwards the signals it gets to its script).
   */
  repeatedSignalWindow: 2_000,
  /**
   * Interval of the one-line activity summary logged at info (connections open; opened,
   * closed, messages in and out, pushes since the previous one), in ms. Logged only for an
   * interval in which something happened; each connection's open and close is at debug. 0: none.
   */
  summaryInterval: 60_000,
  /** Default chat channel. */
  defaultChannel: 'lobby',
  /** Longest channel name; names use letters, digits, '-', '_' and '.'. */
  maxChannelNameLength: 64,
} as const;

/** HTTP-level limits of the server that `framecast` runs (see app.ts). */
export const HttpDefaults = {
  /** Headers past this count are dropped by Node; a handshake missing its headers gets 400. */
  maxHeadersCount: 100,
  /** How often Node checks for requests past their timeouts (ms). */
  connectionsCheckingInterval: 1_000,
  /** A whole HTTP request, body included, must arrive within this (ms). */
  requestTimeout: 60_000,
  /**
   * With TLS or h2c: the megabytes node:http2 may hold for one HTTP/2 connection (its streams'
   * unsent data, headers, ...), past which it refuses new streams (ENHANCE_YOUR_CALM). Each
   * WebSocket stream is bounded by maxSendBuffer besides.
   */
  http2MaxSessionMemory: 32,
  /** With TLS or h2c: streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS), WebSockets included. */
  http2MaxConcurrentStreams: 256,
} as const;

/** The Redis hub (`--redis`): channel naming and reconnecting after the broker goes away. */
export const BrokerDefaults = {
  /** Redis channel names start with this and ':' (several clusters may share one Redis with different prefixes). */
  channelPrefix: 'framecast',
  /** First wait before reconnecting to Redis (ms); it doubles on each failed attempt... */
  reconnectMinDelay: 50,
  /** ...up to this (ms). */
  reconnectMaxDelay: 2_000,
  /** Fraction of each wait added at random, so nodes do not all reconnect at the same instant. */
  reconnectJitter: 0.2,
  /** How long one connection attempt to Redis may take (ms). */
  connectTimeout: 2_000,
  /**
   * Most bytes of publications a node has handed to Redis without an answer yet. Normally a few
   * KiB (Redis answers within a millisecond); if Redis stalls, further publishes are refused
   * (POST /push 503, a chat sender closed with 1013) instead of piling up in memory. Counted as
   * message envelopes; the Redis client's own encoded copies of the commands come on top, so
   * the memory held is up to about twice this.
   */
  maxPendingPublishBytes: 64 * 1024 * 1024,
  /**
   * How long a node may go without refreshing its liveness key in Redis before the others take
   * it for dead (ms): its framecast.v1 subscribers then leave presence on every node. A node
   * refreshes the key every third of this, so one missed refresh is no harm. A node killed
   * without a clean shutdown leaves presence lists within this time, and its subscribers'
   * `leave` pushes follow within another third of it (`--node-timeout`).
   */
  nodeTimeout: 30_000,
  /**
   * Bytes of newer publications a node holds, over all channels, while it reads missed ones
   * back from the history (gap filling), so that it delivers them in order. Past it the held
   * ones are let go and read back from the history too once the gap is filled.
   */
  maxGapFillHeldBytes: 16 * 1024 * 1024,
} as const;

/**
 * The framecast.v1 endpoint (`/pubsub`, docs/pubsub.md) and the channel history behind it.
 * Every store here is bounded: the history by `historyMemory` over all channels (and per
 * channel by `historySize` and `historyTtl`); presence by the subscriptions themselves.
 */
export const PubSubDefaults = {
  /** The subprotocol `/pubsub` speaks; a handshake that does not offer it is refused 400. */
  subprotocol: 'framecast.v1',
  /** Publications kept per channel for `since` and `history`; 0 keeps none (offsets still count). */
  historySize: 100,
  /** How long a publication stays in the history (ms). */
  historyTtl: 300_000,
  /**
   * Bytes all histories together may hold; past it the oldest publication of the node goes
   * first, whatever its channel. Each publication counts its payload plus `publicationOverhead`.
   */
  historyMemory: 64 * 1024 * 1024,
  /** What one stored publication counts beyond its payload (its record, offset and time), in bytes. */
  publicationOverhead: 64,
  /** Longest pause between two sweeps for expired publications (ms); shorter when `historyTtl` is short. */
  maxHistorySweepInterval: 10_000,
  /** Most channels one connection may be subscribed to at once (`too_many_subscriptions`). */
  maxSubscriptionsPerConnection: 128,
  /** Largest presence `info`, as serialized JSON, in bytes (`message_too_big`). */
  maxPresenceInfoBytes: 1024,
  /** Frames in a row that are not commands at all before the connection is closed with 1008. */
  maxConsecutiveBadRequests: 32,
  /**
   * Pushes held for one subscription while its `subscribed` reply is being prepared (a broker
   * hub reads the history asynchronously); past it the connection is closed with 1013.
   */
  maxPendingPushes: 1024,
  /** Whether clients may publish (`--client-publish off` refuses every client publish). */
  clientPublish: true,
} as const;
