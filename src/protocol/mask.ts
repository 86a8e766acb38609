/**
 * Masking (RFC 6455 5.3): every byte of a client's payload is XORed with one of the four
 * bytes of the frame's masking key, in turn: `transformed[i] = original[i] ^ key[i % 4]`.
 * Applying the same key twice gives back the original, so one function masks and unmasks.
 *
 * `applyMaskReference` is that rule, one byte at a time, kept as the oracle; `applyMask`
 * does the same work four bytes at a time and is property-tested against it.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Below this many bytes the word-at-a-time path costs more than it saves. */
const WORD_PATH_MIN_BYTES = 32;

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
  const length = data.length;
  if (length < WORD_PATH_MIN_BYTES) {
    for (let i = 0; i < length; i++) data[i] ^= key[i & 3];
    return;
  }
  // 1. Bytes up to the first 4-byte aligned address, one at a time.
  let i = 0;
  const misalignment = data.byteOffset & 3;
  const head = misalignment === 0 ? 0 : 4 - misalignment;
  for (; i < head; i++) data[i] ^= key[i & 3];

  // 2. The aligned middle as 32-bit words. The key is rotated so that the word starting at
  //    byte i lines up with key[i % 4], and packed in the platform's byte order.
  const k0 = key[i & 3];
  const k1 = key[(i + 1) & 3];
  const k2 = key[(i + 2) & 3];
  const k3 = key[(i + 3) & 3];
  const wordKey = LITTLE_ENDIAN
    ? k0 | (k1 << 8) | (k2 << 16) | (k3 << 24)
    : (k0 << 24) | (k1 << 16) | (k2 << 8) | k3;
  const wordCount = (length - i) >>> 2;
  const words = new Int32Array(data.buffer, data.byteOffset + i, wordCount);
  for (let w = 0; w < wordCount; w++) words[w] ^= wordKey;
  i += wordCount * 4;

  // 3. The last 0-3 bytes.
  for (; i < length; i++) data[i] ^= key[i & 3];
}

/**
 * Copies `source` into `target` at `offset` and masks the copy, leaving `source` untouched:
 * how a client frames a payload it does not own (RFC 6455 5.3).
 */
export function copyMasked(source: Uint8Array, target: Uint8Array, offset: number, key: Uint8Array): void {
  target.set(source, offset);
  applyMask(target.subarray(offset, offset + source.length), key);
}
