/**
 * Masking (RFC 6455 5.3): every byte of a client's payload is XORed with one of the four
 * bytes of the frame's masking key, in turn: `transformed[i] = original[i] ^ key[i % 4]`.
 * Applying the same key twice gives back the original, so one function masks and unmasks.
 *
 * `applyMaskReference` is that rule, one byte at a time, kept as the oracle; `applyMask`
 * does the same work eight bytes at a time and is property-tested against it.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Below this many bytes the word-at-a-time path costs more than it saves (it builds a BigInt
 * key and a typed-array view); measured crossover on Node 20 is around 80.
 */
const WORD_PATH_MIN_BYTES = 96;

/** RFC 6455 5.3, literally: XOR byte `i` with `key[i % 4]`, in place. The oracle. */
export function applyMaskReference(data: Uint8Array, key: Uint8Array): void {
  for (let i = 0; i < data.length; i++) {
    data[i] ^= key[i % 4];
  }
}

/**
 * Masks or unmasks `data` in place with the 4-byte `key` (RFC 6455 5.3).
 * Only call this on bytes that belong to us: it overwrites them.
 */
export function applyMask(data: Uint8Array, key: Uint8Array): void {
  maskRange(data, 0, data.length, key);
}

/**
 * Masks `data[start]` to `data[end - 1]` in place, `key[0]` lining up with `data[start]`: for
 * a payload inside a frame buffer, without making a view of it.
 */
export function maskRange(data: Uint8Array, start: number, end: number, key: Uint8Array): void {
  const length = end - start;
  if (length < WORD_PATH_MIN_BYTES) {
    for (let i = 0; i < length; i++) data[start + i] ^= key[i & 3];
    return;
  }
  // 1. Bytes up to the first 8-byte aligned address, one at a time.
  let i = 0;
  const head = (8 - ((data.byteOffset + start) & 7)) & 7;
  for (; i < head; i++) data[start + i] ^= key[i & 3];

  // 2. The aligned middle as 64-bit words, each XORed with the key twice over. The key is
  //    rotated so that the word starting at byte i lines up with key[i % 4]. (BigInt.asUintN
  //    tells V8 the key fits 64 bits, so the loop runs on machine words, not BigInt objects,
  //    whether or not keyAsWord is inlined here.)
  const wordKey = BigInt.asUintN(64, keyAsWord(key[i & 3], key[(i + 1) & 3], key[(i + 2) & 3], key[(i + 3) & 3]));
  const wordCount = (length - i) >>> 3;
  const words = new BigUint64Array(data.buffer, data.byteOffset + start + i, wordCount);
  // Four words per turn of the loop: V8 does not unroll loops, and for large payloads this
  // loop is where the time goes (see bench/README.md).
  let w = 0;
  for (const unrolledEnd = wordCount - (wordCount & 3); w < unrolledEnd; w += 4) {
    words[w] ^= wordKey;
    words[w + 1] ^= wordKey;
    words[w + 2] ^= wordKey;
    words[w + 3] ^= wordKey;
  }
  for (; w < wordCount; w++) words[w] ^= wordKey;
  i += wordCount * 8;

  // 3. The last 0-7 bytes.
  for (; i < length; i++) data[start + i] ^= key[i & 3];
}

/**
 * The 64-bit word whose eight bytes in memory are k0 k1 k2 k3 k0 k1 k2 k3: the same 32-bit
 * half twice, so only the order of bytes within the half depends on the platform.
 */
function keyAsWord(k0: number, k1: number, k2: number, k3: number): bigint {
  const half = LITTLE_ENDIAN
    ? (k0 | (k1 << 8) | (k2 << 16) | (k3 << 24)) >>> 0
    : ((k0 << 24) | (k1 << 16) | (k2 << 8) | k3) >>> 0;
  const halfWord = BigInt(half);
  return (halfWord << 32n) | halfWord;
}

/**
 * Copies `source` into `target` at `offset` and masks the copy, leaving `source` untouched:
 * how a client frames a payload it does not own (RFC 6455 5.3).
 */
export function copyMasked(source: Uint8Array, target: Uint8Array, offset: number, key: Uint8Array): void {
  const length = source.length;
  if (length < WORD_PATH_MIN_BYTES) {
    // Small payloads: mask while copying, one byte at a time.
    for (let i = 0; i < length; i++) target[offset + i] = source[i] ^ key[i & 3];
    return;
  }
  // Larger ones: a native copy, then the word-at-a-time mask over the copy.
  target.set(source, offset);
  maskRange(target, offset, offset + length, key);
}
