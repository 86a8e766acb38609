/**
 * Masking (RFC 6455 5.3): every byte of a client's payload is XORed with one of the four
 * bytes of the frame's masking key, in turn: `transformed[i] = original[i] ^ key[i % 4]`.
 * Applying the same key twice gives back the original, so one function masks and unmasks.
 *
 * `applyMaskReference` is that rule, one byte at a time, kept as the oracle; `applyMask`
 * does the same work eight bytes at a time and is property-tested against it.
 */

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
  if (length >= WORD_PATH_MIN_BYTES) return xorWords(data, start, data, start, length, key);
  for (let i = 0; i < length; i++) data[start + i] ^= key[i & 3];
}

/**
 * Copies `source` into `target` at `offset`, masked, leaving `source` untouched: how a client
 * frames a payload it does not own (RFC 6455 5.3). One pass: each byte is read, XORed and
 * written once.
 */
export function copyMasked(source: Uint8Array, target: Uint8Array, offset: number, key: Uint8Array): void {
  const length = source.length;
  if (length >= WORD_PATH_MIN_BYTES) return xorWords(source, 0, target, offset, length, key);
  // Small payloads, most client messages: four bytes to a turn with the key in locals. (The
  // loop sits here, not in a function of its own, so that V8 inlines it with copyMasked into
  // encodeFrame: for a 16-byte frame that is a quarter of the time.)
  const k0 = key[0];
  const k1 = key[1];
  const k2 = key[2];
  const k3 = key[3];
  let i = 0;
  for (const fourEnd = length - (length & 3); i < fourEnd; i += 4) {
    target[offset + i] = source[i] ^ k0;
    target[offset + i + 1] = source[i + 1] ^ k1;
    target[offset + i + 2] = source[i + 2] ^ k2;
    target[offset + i + 3] = source[i + 3] ^ k3;
  }
  for (; i < length; i++) target[offset + i] = source[i] ^ key[i & 3];
}

/**
 * Eight bytes k0 k1 k2 k3 k0 k1 k2 k3, read back as one 64-bit word: the masking key of the
 * word loop, built without BigInt arithmetic and the same on either byte order.
 */
const wordKeyBytes = new Uint8Array(8);
const wordKeyWord = new BigUint64Array(wordKeyBytes.buffer);

/**
 * Payloads of WORD_PATH_MIN_BYTES and more: `target[targetStart + i] = source[sourceStart + i]
 * ^ key[i % 4]` for `i` below `length`, eight bytes at a time, in one pass when source and
 * target line up. Source and target are either the same bytes (in place) or do not overlap.
 */
function xorWords(source: Uint8Array, sourceStart: number, target: Uint8Array, targetStart: number, length: number, key: Uint8Array): void {
  const sourceAddress = source.byteOffset + sourceStart;
  const targetAddress = target.byteOffset + targetStart;
  if ((targetAddress & 7) !== (sourceAddress & 7)) {
    // Source and target sit differently against 8-byte boundaries, so no pair of word views
    // lines up: a native copy, then the word loop over the copy in place.
    target.set(source.subarray(sourceStart, sourceStart + length), targetStart);
    xorWords(target, targetStart, target, targetStart, length, key);
    return;
  }

  // 1. Bytes up to the first 8-byte aligned address, one at a time.
  let i = 0;
  const head = (8 - (targetAddress & 7)) & 7;
  for (; i < head; i++) target[targetStart + i] = source[sourceStart + i] ^ key[i & 3];

  // 2. The aligned middle as 64-bit words, each XORed with the key twice over. After `head`
  //    bytes the key has turned by `head`, so the word key starts at key[head % 4].
  wordKeyBytes[0] = wordKeyBytes[4] = key[head & 3];
  wordKeyBytes[1] = wordKeyBytes[5] = key[(head + 1) & 3];
  wordKeyBytes[2] = wordKeyBytes[6] = key[(head + 2) & 3];
  wordKeyBytes[3] = wordKeyBytes[7] = key[(head + 3) & 3];
  // (BigInt.asUintN tells V8 the value fits 64 bits, so the loop below runs on machine words
  // rather than BigInt objects even where V8 cannot see where the value came from.)
  const wordKey = BigInt.asUintN(64, wordKeyWord[0]);
  const wordCount = (length - i) >>> 3;
  const sourceWords = new BigUint64Array(source.buffer, sourceAddress + i, wordCount);
  const targetWords =
    source === target && sourceStart === targetStart
      ? sourceWords
      : new BigUint64Array(target.buffer, targetAddress + i, wordCount);
  // Four words per turn of the loop: V8 does not unroll loops, and for large payloads this
  // loop is where the time goes (see bench/README.md).
  let w = 0;
  for (const unrolledEnd = wordCount - (wordCount & 3); w < unrolledEnd; w += 4) {
    targetWords[w] = sourceWords[w] ^ wordKey;
    targetWords[w + 1] = sourceWords[w + 1] ^ wordKey;
    targetWords[w + 2] = sourceWords[w + 2] ^ wordKey;
    targetWords[w + 3] = sourceWords[w + 3] ^ wordKey;
  }
  for (; w < wordCount; w++) targetWords[w] = sourceWords[w] ^ wordKey;
  i += wordCount * 8;

  // 3. The last 0-7 bytes.
  for (; i < length; i++) target[targetStart + i] = source[sourceStart + i] ^ key[i & 3];
}
