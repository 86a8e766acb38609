// SHA-1 (FIPS 180-4 section 6.1) in plain JavaScript, for the inspector's handshake steps when
// crypto.subtle is unavailable (pages not served from https or localhost). SHA-1 is what
// RFC 6455 4.2.2 uses to derive Sec-WebSocket-Accept; it is not used here for security.

const BLOCK_BYTES = 64;
/** The 0x80 marker byte and the 8-byte big-endian bit length that end the padding. */
const PADDING_OVERHEAD_BYTES = 9;
const DIGEST_BYTES = 20;
const TWO_TO_THE_32 = 0x1_0000_0000;
const INITIAL_STATE = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];

/** The 20-byte SHA-1 digest of `message` (a Uint8Array). */
export function sha1Bytes(message) {
  const bitLength = message.length * 8;
  const paddedLength = Math.ceil((message.length + PADDING_OVERHEAD_BYTES) / BLOCK_BYTES) * BLOCK_BYTES;
  const data = new Uint8Array(paddedLength);
  data.set(message);
  data[message.length] = 0x80;
  const view = new DataView(data.buffer);
  view.setUint32(paddedLength - 8, Math.floor(bitLength / TWO_TO_THE_32));
  view.setUint32(paddedLength - 4, bitLength >>> 0);
  const state = [...INITIAL_STATE];
  const w = new Uint32Array(80);
  const rotl = (x, n) => (x << n) | (x >>> (32 - n));
  for (let block = 0; block < paddedLength; block += BLOCK_BYTES) {
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(block + t * 4);
    for (let t = 16; t < 80; t++) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    let [a, b, c, d, e] = state;
    for (let t = 0; t < 80; t++) {
      const [f, k] =
        t < 20 ? [(b & c) | (~b & d), 0x5a827999] : t < 40 ? [b ^ c ^ d, 0x6ed9eba1] : t < 60 ? [(b & c) | (b & d) | (c & d), 0x8f1bbcdc] : [b ^ c ^ d, 0xca62c1d6];
      const temp = (rotl(a, 5) + f + e + k + w[t]) >>> 0;
      e = d;
      d = c;
      c = rotl(b, 30) >>> 0;
      b = a;
      a = temp;
    }
    state[0] = (state[0] + a) >>> 0;
    state[1] = (state[1] + b) >>> 0;
    state[2] = (state[2] + c) >>> 0;
    state[3] = (state[3] + d) >>> 0;
    state[4] = (state[4] + e) >>> 0;
  }
  const digest = new Uint8Array(DIGEST_BYTES);
  const out = new DataView(digest.buffer);
  state.forEach((word, i) => out.setUint32(i * 4, word));
  return digest;
}
