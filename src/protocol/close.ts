/**
 * Close frames: their payload, and which status codes may appear on the wire.
 *
 * RFC 6455 sections: 5.5.1 (the Close frame's body: an optional 2-byte code, then an
 * optional UTF-8 reason), 7.1.5 (the close code the receiver reports, 1005 when none),
 * 7.4.1 and 7.4.2 (defined and reserved code ranges), and the IANA close code registry.
 */
import { CloseCode, MAX_CLOSE_REASON_BYTES } from './constants.js';
import { type ProtocolError, protocolError } from './errors.js';
import { isValidUtf8 } from './utf8.js';

/**
 * True when `code` may be sent in a Close frame.
 * - 1000-1003 and 1007-1014 are defined (RFC 6455 7.4.1 and the IANA registry).
 * - 1004 is reserved, 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close
 *   control frame" (RFC 6455 7.4.1); 1016-2999 are unassigned (RFC 6455 7.4.2).
 * - 3000-3999 are registered by libraries and applications, 4000-4999 are private use.
 * - Below 1000 and 5000 and up are not used (RFC 6455 7.4.2).
 */
export function isValidCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

/** A received close frame's content. `code` is 1005 (No Status Received) when the body was empty. */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/**
 * Reads a Close frame's payload (RFC 6455 5.5.1). Empty is fine and reports 1005 (RFC 6455 7.1.5);
 * a single byte cannot hold a code; the code must be one allowed on the wire; the reason must be UTF-8.
 */
export function parseClosePayload(payload: Uint8Array): CloseInfo | ProtocolError {
  if (payload.length === 0) {
    // RFC 6455 7.1.5: "If this Close control frame contains no status code, _The WebSocket
    // Connection Close Code_ is considered to be 1005."
    return { code: CloseCode.NoStatusReceived, reason: '' };
  }
  if (payload.length === 1) {
    // RFC 6455 5.5.1: if there is a body, "the first two bytes of the body MUST be a 2-byte unsigned integer".
    return protocolError('CLOSE_PAYLOAD_ONE_BYTE', 'close frame body of 1 byte cannot hold a status code');
  }
  const code = (payload[0] << 8) | payload[1];
  if (!isValidCloseCode(code)) {
    return protocolError('INVALID_CLOSE_CODE', `close code ${code} is not allowed on the wire`);
  }
  const reasonBytes = payload.subarray(2);
  // RFC 6455 5.5.1: the rest of the body is a reason whose "data MUST be UTF-8-encoded".
  if (!isValidUtf8(reasonBytes)) {
    return protocolError('INVALID_CLOSE_REASON_UTF8', 'close reason is not valid UTF-8');
  }
  return { code, reason: Buffer.from(reasonBytes.buffer, reasonBytes.byteOffset, reasonBytes.length).toString('utf8') };
}

/**
 * Cuts `reason` to at most `maxBytes` of UTF-8 without splitting a character, so that a
 * Close frame stays within the 125 bytes allowed for control frames (RFC 6455 5.5).
 */
export function truncateUtf8(reason: string, maxBytes: number): Buffer {
  const encoded = Buffer.from(reason, 'utf8');
  if (encoded.length <= maxBytes) return encoded;
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) to the start of the character that was cut.
  while (end > 0 && (encoded[end] & 0xc0) === 0x80) end--;
  return encoded.subarray(0, end);
}

/**
 * Builds a Close frame's payload: the code in network byte order, then the reason in UTF-8,
 * cut on a character boundary to fit (RFC 6455 5.5.1). `code` undefined gives an empty body.
 * Codes that may not be sent (see `isValidCloseCode`) are a programming error and throw.
 */
export function encodeClosePayload(code?: number, reason = ''): Buffer {
  if (code === undefined) {
    if (reason !== '') throw new RangeError('a close reason needs a close code (RFC 6455 5.5.1)');
    return Buffer.alloc(0);
  }
  if (!isValidCloseCode(code)) throw new RangeError(`close code ${code} may not be sent (RFC 6455 7.4)`);
  const reasonBytes = truncateUtf8(reason, MAX_CLOSE_REASON_BYTES);
  const payload = Buffer.alloc(2 + reasonBytes.length);
  payload.writeUInt16BE(code, 0);
  reasonBytes.copy(payload, 2);
  return payload;
}
