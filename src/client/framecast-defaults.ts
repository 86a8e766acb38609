/**
 * Every default and limit of FramecastClient, in one place (browser-safe: no imports).
 *
 * Dead-connection detection. Browsers answer the server's pings (every 30 s, the server's
 * heartbeat) by themselves and never tell the page, so a page cannot watch them. The client
 * watches its own traffic instead:
 * - after `probeInterval` ms without receiving anything, it sends a probe: `history` with
 *   `limit: 0` on a channel it is subscribed to (the cheapest command docs/pubsub.md has that
 *   creates nothing on the server; with no subscription it sends none, as there is nothing to
 *   lose then);
 * - when a command (the probe or any other) has waited `replyTimeout` ms for its reply and
 *   nothing at all has arrived meanwhile, the connection is considered dead: the client
 *   abandons it and reconnects.
 * So a silent dead connection is noticed within probeInterval + replyTimeout (30 s by default),
 * sooner when the application sends a command. An opening handshake that gets no answer within
 * replyTimeout is given up the same way.
 */
export const FramecastClientDefaults = {
  /** The subprotocol of docs/pubsub.md, offered on every connection. */
  subprotocol: 'framecast.v1',
  /**
   * Reconnect backoff with full jitter: attempt n (from 0) waits a uniformly random time in
   * [0, min(backoffMax, backoffMin * 2^n)) ms.
   */
  backoffMin: 1_000,
  /** Upper bound of any reconnect wait (ms). */
  backoffMax: 30_000,
  /**
   * Publishes that may wait for confirmation at once, queued offline or sent and unanswered.
   * One more is refused with `outbox_full`. The memory held is this many messages, each as
   * large as the application made it.
   */
  outboxSize: 100,
  /** Silence (nothing received) after which a probe is sent (ms). */
  probeInterval: 20_000,
  /** How long a command may wait for its reply, with nothing received meanwhile, before the connection counts as dead; also the longest an opening handshake may take (ms). */
  replyTimeout: 10_000,
} as const;
