/**
 * UTF-8 validation for text messages and close reasons (RFC 6455 5.6, 8.1; RFC 3629 section 4).
 *
 * RFC 6455 8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the
 * byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket
 * Connection_." A fragmented text message is checked fragment by fragment so that it fails
 * at the first fragment that makes it invalid, not at its end.
 *
 * Three pieces:
 * - `isValidUtf8`: a whole buffer, by Node's native validator.
 * - `Utf8Validator`: incremental, across fragments split at any byte. It hands complete runs
 *   to the native validator and walks only the bytes of a character cut by a fragment edge.
 * - `isValidUtf8Reference`: the plain byte-at-a-time state machine, kept as the oracle.
 */
import { isUtf8 } from 'node:buffer';

/** True when `bytes` is, on its own, valid UTF-8 (RFC 3629). */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return bytes.length === 0 || isUtf8(bytes);
}

/**
 * The UTF-8 byte-sequence rules of RFC 3629 section 4 as a state machine: after a lead byte,
 * how many continuation bytes are still needed, and the range the next one must fall in.
 * The narrowed ranges after E0, ED, F0 and F4 exclude overlong forms, UTF-16 surrogates
 * (U+D800-U+DFFF) and code points past U+10FFFF.
 */
class Utf8StateMachine {
  /** Continuation bytes still needed to finish the current character. */
  protected needed = 0;
  /** Allowed range of the next continuation byte. */
  protected lower = 0x80;
  protected upper = 0xbf;

  /** Feeds one byte; returns false if the stream can no longer be valid UTF-8. */
  protected step(byte: number): boolean {
    if (this.needed > 0) {
      if (byte < this.lower || byte > this.upper) return false;
      this.needed--;
      this.lower = 0x80;
      this.upper = 0xbf;
      return true;
    }
    if (byte <= 0x7f) return true; // ASCII
    if (byte >= 0xc2 && byte <= 0xdf) { this.needed = 1; return true; }
    if (byte === 0xe0) { this.needed = 2; this.lower = 0xa0; return true; } // no overlong 3-byte forms
    if (byte === 0xed) { this.needed = 2; this.upper = 0x9f; return true; } // no surrogates
    if (byte >= 0xe1 && byte <= 0xef) { this.needed = 2; return true; }
    if (byte === 0xf0) { this.needed = 3; this.lower = 0x90; return true; } // no overlong 4-byte forms
    if (byte >= 0xf1 && byte <= 0xf3) { this.needed = 3; return true; }
    if (byte === 0xf4) { this.needed = 3; this.upper = 0x8f; return true; } // nothing past U+10FFFF
    return false; // 0x80-0xC1 (stray continuation, overlong 2-byte lead) and 0xF5-0xFF
  }
}

/** The oracle: walks every byte through the state machine. Slow and obviously right. */
class ReferenceUtf8Validator extends Utf8StateMachine {
  validate(bytes: Uint8Array): boolean {
    for (let i = 0; i < bytes.length; i++) {
      if (!this.step(bytes[i])) return false;
    }
    return this.needed === 0;
  }
}

/** Byte-at-a-time UTF-8 validation: the reference the fast paths are tested against. */
export function isValidUtf8Reference(bytes: Uint8Array): boolean {
  return new ReferenceUtf8Validator().validate(bytes);
}

/**
 * Where the last, unfinished character of `bytes` starts, or `bytes.length` when the bytes
 * end on a character boundary. Looks back at most three bytes, for a lead byte.
 */
function unfinishedTailStart(bytes: Uint8Array): number {
  const length = bytes.length;
  for (let back = 1; back <= 3 && back <= length; back++) {
    const byte = bytes[length - back];
    if ((byte & 0xc0) !== 0x80) {
      const sequenceLength = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
      return sequenceLength > back ? length - back : length;
    }
  }
  return length;
}

/**
 * Validates a UTF-8 stream that arrives in pieces split at arbitrary bytes, such as the
 * fragments of a text message. `write` answers false at the first piece that cannot be
 * part of valid UTF-8; `end` says whether the stream stopped on a character boundary.
 */
export class Utf8Validator extends Utf8StateMachine {
  /** Feeds the next piece; false as soon as the stream so far cannot be valid UTF-8. */
  write(bytes: Uint8Array): boolean {
    let start = 0;
    // 1. Finish a character left open by the previous piece.
    while (this.needed > 0 && start < bytes.length) {
      if (!this.step(bytes[start++])) return false;
    }
    if (start === bytes.length) return true;
    // 2. Everything up to an unfinished last character goes to the native validator at once.
    const tail = unfinishedTailStart(bytes);
    if (tail > start && !isUtf8(bytes.subarray(start, tail))) return false;
    // 3. The unfinished last character, if any, is walked so that the next piece can finish it.
    for (let i = tail; i < bytes.length; i++) {
      if (!this.step(bytes[i])) return false;
    }
    return true;
  }

  /** True when everything written so far ends on a character boundary. */
  end(): boolean {
    return this.needed === 0;
  }

  /** Forgets everything written, ready for the next message. */
  reset(): void {
    this.needed = 0;
    this.lower = 0x80;
    this.upper = 0xbf;
  }
}
