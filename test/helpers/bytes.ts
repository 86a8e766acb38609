/**
 * Byte plumbing for the protocol tests: bytes written as hex, filler payloads, and a byte
 * stream cut into the chunks a TCP connection may deliver it in. The frames themselves stay
 * written out in the tests.
 */

/** The bytes of a hex string; white space between bytes is ignored ('81 05 48 65'). */
export const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** The bytes as one lower-case hex string, without spaces. */
export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Cuts `bytes` at the given offsets (any order, repeats allowed, clamped to its length). */
export function splitAt(bytes: Buffer, cuts: readonly number[]): Buffer[];
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[];
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => Math.min(c, bytes.length)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    pieces.push(bytes.subarray(start, point));
    start = point;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

/** Deterministic filler bytes (xorshift from `seed`), shared with the benchmarks. */
export { pseudoRandomBytes } from '../../bench/pseudo-random-bytes.js';

/**
 * Pushes a copy of `bytes` into `reader` in pieces cut at `cuts`. A copy, because the frame
 * parser unmasks payloads in place in the chunks it is given.
 */
export function pushInPieces(reader: { push(chunk: Buffer): void }, bytes: Uint8Array, cuts: readonly number[] = []): void {
  for (const piece of splitAt(Buffer.from(bytes), cuts)) reader.push(piece);
}
