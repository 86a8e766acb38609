/**
 * How a framecast message travels through a message broker (Redis pub/sub): one byte of
 * flags, then the payload bytes exactly as the WebSocket message carries them.
 *
 *   byte 0    bits 7-4: envelope version (1)   bit 0: 1 = binary message, 0 = text message
 *   byte 1..  the payload, unchanged (text is its UTF-8 bytes, already validated)
 *
 * Binary stays binary and byte for byte: nothing is re-encoded on the way. The version lets a
 * node drop (and count) envelopes from a newer framecast instead of delivering garbage.
 */

/** The envelope format version this code writes and reads. */
export const ENVELOPE_VERSION = 1;
const VERSION_SHIFT = 4;
const BINARY_FLAG = 0x01;
const HEADER_BYTES = 1;

/** Wraps a message for the broker. Copies the payload once, after the flags byte. */
export function encodeEnvelope(data: string | Uint8Array, isBinary: boolean): Buffer {
  const flags = (ENVELOPE_VERSION << VERSION_SHIFT) | (isBinary ? BINARY_FLAG : 0);
  if (typeof data === 'string') {
    const length = Buffer.byteLength(data);
    const envelope = Buffer.allocUnsafe(HEADER_BYTES + length);
    envelope[0] = flags;
    envelope.write(data, HEADER_BYTES);
    return envelope;
  }
  const envelope = Buffer.allocUnsafe(HEADER_BYTES + data.length);
  envelope[0] = flags;
  envelope.set(data, HEADER_BYTES);
  return envelope;
}

/** A message read back from an envelope; `payload` is a view into the envelope, not a copy. */
export interface BrokerMessage {
  readonly isBinary: boolean;
  readonly payload: Buffer;
}

/** Unwraps an envelope; undefined when it is empty or of another version. */
export function decodeEnvelope(envelope: Buffer): BrokerMessage | undefined {
  if (envelope.length < HEADER_BYTES) return undefined;
  const flags = envelope[0];
  if (flags >> VERSION_SHIFT !== ENVELOPE_VERSION) return undefined;
  return { isBinary: (flags & BINARY_FLAG) !== 0, payload: envelope.subarray(HEADER_BYTES) };
}
