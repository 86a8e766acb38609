/**
 * Reconnect delays: exponential backoff with full jitter.
 *
 * The cap doubles with every failed attempt, from `min` up to `max`, and the delay is drawn
 * uniformly below the cap. Drawing from the whole range (rather than adding a little noise to
 * a fixed step) spreads a crowd of clients that lost the same server over the whole window,
 * so they do not all come back in the same instant.
 */

/** The bounds of the backoff, in ms. */
export interface BackoffBounds {
  /** The cap of the first attempt. */
  readonly min: number;
  /** The cap of every attempt. */
  readonly max: number;
}

/** The cap of attempt `attempt` (counted from 0): min(max, min * 2^attempt). */
export function backoffCap(attempt: number, bounds: BackoffBounds): number {
  // 2^attempt overflows to Infinity long before attempt gets near Number.MAX_SAFE_INTEGER,
  // and Math.min(max, Infinity) is max: no special case needed.
  return Math.min(bounds.max, bounds.min * 2 ** attempt);
}

/**
 * The delay before reconnect attempt `attempt`: uniform in [0, cap). `random` is a source of
 * numbers in [0, 1) such as Math.random.
 */
export function fullJitterDelay(attempt: number, bounds: BackoffBounds, random: () => number): number {
  return random() * backoffCap(attempt, bounds);
}

/** Checks backoff options: both finite and positive, min at most max. */
export function checkBackoffBounds(bounds: BackoffBounds): BackoffBounds {
  const { min, max } = bounds;
  if (!(Number.isFinite(min) && min > 0 && Number.isFinite(max) && max >= min)) {
    throw new RangeError(`backoff needs 0 < min <= max, both finite (got min ${min}, max ${max})`);
  }
  return bounds;
}
