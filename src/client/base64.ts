/**
 * Base64 (RFC 4648 section 4, with padding) for the `binary` fields of framecast.v1, with the
 * `btoa`/`atob` that browsers and Node (16 and later) both have: no Buffer, so the same code
 * runs in a page.
 */

/** `String.fromCharCode` takes its bytes as arguments: at most this many at a time, well under any engine's argument limit. */
const CHUNK_BYTES = 0x8000;

/** The bytes as base64 text. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let at = 0; at < bytes.length; at += CHUNK_BYTES) {
    binary += String.fromCharCode(...bytes.subarray(at, at + CHUNK_BYTES));
  }
  return btoa(binary);
}

/** The bytes base64 text stands for; throws on text that is not base64. */
export function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
