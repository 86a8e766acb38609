/**
 * Deterministic filler bytes (xorshift from a seed): the same bytes on every run and for every
 * server measured, and large payloads that cost no generation time. The tests use them too
 * (test/helpers/bytes.ts).
 */

/** `length` bytes from xorshift seeded with `seed`. */
export function pseudoRandomBytes(length: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let state = seed | 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}
