/**
 * What every reference server promises alike (ws-server.ts, bun-server.ts, uws-server.ts): the
 * limits, the channel names, the loopback rule of `POST /push`. Plain values and functions, so
 * that Node and Bun both run it.
 */

/** Largest WebSocket message accepted. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Largest push body (413 beyond). */
export const MAX_PUSH_BODY = 1024 * 1024;
/** `/chat` without `channel`. */
export const DEFAULT_CHANNEL = 'lobby';
export const CHANNEL_NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** The topic every socket joins where channels are topics (Bun, uWS): not a valid channel name. */
export const EVERYONE_TOPIC = '*everyone';

/** Pushes are accepted from loopback only: 127.0.0.0/8 and ::1, in any of their spellings. */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address.startsWith('::ffff:127.') || address === '::1' || address === '0000:0000:0000:0000:0000:0000:0000:0001';
}
