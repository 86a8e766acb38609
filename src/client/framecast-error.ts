/**
 * The error every FramecastClient promise rejects with: a stable string `code` to branch on
 * and a message for people.
 *
 * Codes from the server are those of docs/pubsub.md ("Errors"): `bad_request`,
 * `unknown_command`, `invalid_channel`, `already_subscribed`, `not_subscribed`,
 * `permission_denied`, `too_many_subscriptions`, `message_too_big`, `unavailable`. The client
 * adds its own, for what happens on this side of the connection (ClientErrorCode).
 */

/** The codes the client itself gives. */
export const ClientErrorCode = {
  /** `presence` or `history` while no connection is open: they are questions about now, not queued. */
  NotConnected: 'not_connected',
  /** The connection ended before the reply to a `presence` or `history` came. */
  ConnectionLost: 'connection_lost',
  /**
   * A publish was sent but the connection ended before the server confirmed it: it may or may
   * not have been published. framecast.v1 has no idempotency key, so the client cannot resend
   * it without risking a duplicate; the application decides (for example by looking for it in
   * what the resubscription recovers).
   */
  Unconfirmed: 'unconfirmed',
  /** A publish past the outbox's bound (FramecastClientOptions.outboxSize). */
  OutboxFull: 'outbox_full',
  /** `close()` was called. */
  Closed: 'closed',
  /** The server sent a reply the client cannot read. */
  BadReply: 'bad_reply',
} as const;

/** An error with the stable code of docs/pubsub.md or ClientErrorCode. */
export class FramecastError extends Error {
  /** The stable code, e.g. `not_subscribed` or `outbox_full`. */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'FramecastError';
    this.code = code;
  }
}
