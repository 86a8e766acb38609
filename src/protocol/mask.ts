/**
 * Masking (RFC 6455 5.3): every byte of a client's payload is XORed with one of the four
 * bytes of the frame's masking key, in turn: `transformed[i] = original[i] ^ key[i % 4]`.
 * Applying the same key twice gives back the original, so one function masks and unmasks.
 *
 * `applyMaskReference` is that rule, one byte at a time, kept as the oracle; `applyMask`
 * does the same work eight bytes at a time and is property-tested against it.
 */

/**
 * Below this many bytes the word-at-a-time path costs more than it saves (it builds a key
 * word and a typed-array view); measured crossover on Node 20 is around 80.
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
    // Small payloads, most messages a server receives: four bytes to a turn with the key in
    // locals, as copyMasked does, rather than reading key[i & 3] for every byte.
    const k0 = key[0];
    const k1 = key[1];
    const k2 = key[2];
    const k3 = key[3];
    let i = 0;
    for (const fourEnd = length - (length & 3); i < fourEnd; i += 4) {
      const at = start + i;
      data[at] ^= k0;
      data[at + 1] ^= k1;
      data[at + 2] ^= k2;
      data[at + 3] ^= k3;
    }
    for (; i < length; i++) data[start + i] ^= key[i & 3];
    return;
  }
  // 1. Bytes up to the first 8-byte aligned address, one at a time.
  let i = 0;
  const head = (8 - ((data.byteOffset + start) & 7)) & 7;
  for (; i < head; i++) data[start + i] ^= key[i & 3];

  // 2. The aligned middle as 64-bit words, each XORed with the key twice over. After `head`
  //    bytes the key has turned by `head`, so the word key starts at key[head % 4].
  wordKeyBytes[0] = wordKeyBytes[4] = key[head & 3];
  wordKeyBytes[1] = wordKeyBytes[5] = key[(head + 1) & 3];
  wordKeyBytes[2] = wordKeyBytes[6] = key[(head + 2) & 3];
  wordKeyBytes[3] = wordKeyBytes[7] = key[(head + 3) & 3];
  // (BigInt.asUintN tells V8 the value fits 64 bits, so the loop runs on machine words rather
  // than BigInt objects even where V8 cannot see where the value came from.)
  const wordKey = BigInt.asUintN(64, wordKeyWord[0]);
  const wordCount = (length - i) >>> 3;
  xorWords(new BigUint64Array(data.buffer, data.byteOffset + start + i, wordCount), wordKey);
  i += wordCount * 8;

  // 3. The last 0-7 bytes.
  for (; i < length; i++) data[start + i] ^= key[i & 3];
}

/**
 * Copies `source` into `target` at `offset`, masked, leaving `source` untouched: how a client
 * frames a payload it does not own (RFC 6455 5.3).
 */
export function copyMasked(source: Uint8Array, target: Uint8Array, offset: number, key: Uint8Array): void {
  const length = source.length;
  if (length >= WORD_PATH_MIN_BYTES) return copyThenMask(source, target, offset, key);
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
 * Larger payloads: a native copy, then the word loop over the copy. (Masking while copying, in
 * one pass of JavaScript, measured slower for large payloads: the copy into freshly allocated
 * memory is what costs, and the native copy does it best.) A function of its own so that V8,
 * inlining `copyMasked` into `encodeFrame`, does not spend its inlining budget on this path
 * and on `maskRange` (measured together with the same move in frame-buffer.ts: 16-byte frames
 * 98-104 ns against 116-118 ns before).
 */
function copyThenMask(source: Uint8Array, target: Uint8Array, offset: number, key: Uint8Array): void {
  target.set(source, offset);
  maskRange(target, offset, offset + source.length, key);
}

/**
 * Eight bytes k0 k1 k2 k3 k0 k1 k2 k3, read back as one 64-bit word: the masking key of the
 * word loop, built without BigInt arithmetic and the same on either byte order.
 */
const wordKeyBytes = new Uint8Array(8);
const wordKeyWord = new BigUint64Array(wordKeyBytes.buffer);

/**
 * `words[w] ^= wordKey` for every word: the loop where the time goes for large payloads (see
 * bench/README.md). It is a function of its own so that V8 optimizes it as a whole: inside a
 * larger function, a loop this long was compiled on the fly (on-stack replacement) before the
 * lines after it had ever run, and the optimized code then threw itself away on every call
 * when it reached them, leaving most of the loop to the interpreter (measured: one
 * deoptimization per 1 MiB frame, half the speed).
 */
function xorWords(words: BigUint64Array, wordKey: bigint): void {
  const wordCount = words.length;
  // Four words per turn: V8 does not unroll loops.
  let w = 0;
  for (const unrolledEnd = wordCount - (wordCount & 3); w < unrolledEnd; w += 4) {
    words[w] ^= wordKey;
    words[w + 1] ^= wordKey;
    words[w + 2] ^= wordKey;
    words[w + 3] ^= wordKey;
  }
  for (; w < wordCount; w++) words[w] ^= wordKey;
}
