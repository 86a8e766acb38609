/**
 * How a framecast message travels through a message broker (Redis pub/sub): a flags byte, a
 * short header, then the payload bytes exactly as the WebSocket message carries them.
 *
 * Version 2 (this one):
 *
 *   byte 0      bits 7-4: envelope version (2)
 *               bits 1-0: kind: 0 text message, 1 binary message, 2 presence event
 *   byte 1      H, the length of the header in bytes (0 to 255)
 *   bytes 2..   the header, H bytes of ASCII:
 *                 a channel's publication: its epoch and offset, "EPOCH OFFSET" (e.g. "kV3mQ9xA 42")
 *                 a push to every connection: empty (it has no place in any channel)
 *                 a presence event: the id of the node it comes from
 *   then        the payload, unchanged: the message (text as its UTF-8 bytes, already
 *               validated), or for a presence event the framecast.v1 `join`/`leave` push as JSON
 *
 * A channel's publications are wrapped by the publish script in Redis (redis/scripts.ts), which
 * is where the offset is assigned; it writes these same bytes. Binary stays binary and byte for
 * byte: nothing is re-encoded on the way.
 *
 * Version 1 (framecast before offsets lived in Redis) was the flags byte and the payload, with
 * no header. A node drops (and counts) an envelope of any other version than its own instead of
 * delivering garbage or an unnumbered publication: every node of a cluster must run the same
 * version.
 */

/** The envelope format version this code writes and reads. */
export const ENVELOPE_VERSION = 2;
const VERSION_SHIFT = 4;
const KIND_MASK = 0x03;
/** Offset of the header-length byte, and of the header itself. */
const HEADER_LENGTH_AT = 1;
const HEADER_AT = 2;
/** Longest header (it has one byte for its length). */
export const MAX_HEADER_BYTES = 255;

/** What an envelope carries (bits 1-0 of byte 0). */
export const EnvelopeKind = {
  Text: 0,
  Binary: 1,
  Presence: 2,
} as const;
export type EnvelopeKind = (typeof EnvelopeKind)[keyof typeof EnvelopeKind];

/** Byte 0 of an envelope of `kind`. */
export function envelopeFlags(kind: EnvelopeKind): number {
  return (ENVELOPE_VERSION << VERSION_SHIFT) | kind;
}

/**
 * Wraps a message for the broker: `header` (ASCII, at most 255 bytes) and the payload, copied
 * once after them.
 */
export function encodeEnvelope(kind: EnvelopeKind, header: string, data: string | Uint8Array): Buffer {
  if (header.length > MAX_HEADER_BYTES) throw new RangeError(`envelope header over ${MAX_HEADER_BYTES} bytes`);
  const start = HEADER_AT + header.length;
  const length = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  const envelope = Buffer.allocUnsafe(start + length);
  envelope[0] = envelopeFlags(kind);
  envelope[HEADER_LENGTH_AT] = header.length;
  envelope.write(header, HEADER_AT, 'latin1');
  if (typeof data === 'string') envelope.write(data, start);
  else envelope.set(data, start);
  return envelope;
}

/** A message read back from an envelope; `payload` is a view into the envelope, not a copy. */
export interface BrokerMessage {
  readonly kind: EnvelopeKind;
  /** The header as written (see the top of this file). */
  readonly header: string;
  readonly payload: Buffer;
}

/** Unwraps an envelope; undefined when it is too short, of another version, or of an unknown kind. */
export function decodeEnvelope(envelope: Buffer): BrokerMessage | undefined {
  if (envelope.length < HEADER_AT) return undefined;
  const flags = envelope[0];
  if (flags >> VERSION_SHIFT !== ENVELOPE_VERSION) return undefined;
  const kind = flags & KIND_MASK;
  if (kind > EnvelopeKind.Presence || (flags & ~(KIND_MASK | (0x0f << VERSION_SHIFT))) !== 0) return undefined;
  const start = HEADER_AT + envelope[HEADER_LENGTH_AT];
  if (start > envelope.length) return undefined;
  return { kind: kind as EnvelopeKind, header: envelope.toString('latin1', HEADER_AT, start), payload: envelope.subarray(start) };
}

/** A channel publication's header, "EPOCH OFFSET". */
export function positionHeader(epoch: string, offset: number): string {
  return `${epoch} ${offset}`;
}

/** Reads "EPOCH OFFSET"; undefined when the header is not one. */
export function readPositionHeader(header: string): { epoch: string; offset: number } | undefined {
  const space = header.indexOf(' ');
  if (space <= 0) return undefined;
  const digits = header.slice(space + 1);
  if (digits.length === 0 || digits.length > 16) return undefined;
  for (let i = 0; i < digits.length; i++) {
    const c = digits.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  const offset = Number(digits);
  if (!Number.isSafeInteger(offset) || offset < 1) return undefined;
  return { epoch: header.slice(0, space), offset };
}
