/**
 * Reading framecast.v1 `pub` pushes (docs/pubsub.md "Pushes") in the load generator, cheaply
 * enough that the load generator does not become what the fan-out measures.
 *
 * A push is one JSON object, `{"pub":{"channel":"fanout","offset":42,"text":"..."}}`. The
 * fast path reads exactly that layout byte by byte, without JSON.parse or a string: the
 * channel and keys compared byte by byte, the offset's digits summed, the text taken as a range
 * of the frame (no copy, no view object). That is exact for text in which JSON escapes nothing (no `"`, `\` or control
 * characters), which is what the fan-out publishes (`payloads.ts`: ASCII digits and spaces).
 * Anything else, a text with escapes, keys in another order, fields added by a later version
 * of the protocol, goes through JSON.parse, so that the reader stays right for every valid
 * push and only the speed depends on the layout.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Bytes below this must be escaped in a JSON string (RFC 8259 7). */
const FIRST_UNESCAPED = 0x20;
const DIGIT_ZERO = 0x30;
/** Digits of the largest offset (2^53-1). */
const MAX_OFFSET_DIGITS = 16;

const TEXT_KEY = Buffer.from(',"text":"', 'latin1');
const PUSH_END = Buffer.from('"}}', 'latin1');

/**
 * What one push carried: its offset, and its text as the bytes `frame[start..end)` (on the fast
 * path a range of the push itself, no copy: read it before the next push).
 */
export interface PubPush {
  offset: number;
  frame: Buffer;
  start: number;
  end: number;
}

/** Whether `frame` holds `expected` at `at` (a loop: Buffer.compare's native call costs more than these few bytes). */
export function bytesAt(frame: Buffer, at: number, expected: Buffer): boolean {
  if (at + expected.length > frame.length) return false;
  for (let i = 0; i < expected.length; i++) if (frame[at + i] !== expected[i]) return false;
  return true;
}

export class PubPushReader {
  /** `{"pub":{"channel":"<channel>","offset":` */
  private readonly head: Buffer;

  constructor(readonly channel: string) {
    this.head = Buffer.from(`{"pub":{"channel":${JSON.stringify(channel)},"offset":`, 'utf8');
  }

  /**
   * Reads a `pub` push of this reader's channel with a text payload into `into`. False for
   * anything else: another channel, a binary payload, a push without an offset, not JSON.
   */
  read(frame: Buffer, into: PubPush): boolean {
    const head = this.head;
    const end = frame.length - PUSH_END.length;
    if (end < head.length + 1 + TEXT_KEY.length || !bytesAt(frame, 0, head)) return this.readParsed(frame, into);
    let at = head.length;
    let offset = 0;
    const digitsEnd = Math.min(at + MAX_OFFSET_DIGITS, end);
    for (; at < digitsEnd; at++) {
      const digit = frame[at] - DIGIT_ZERO;
      if (digit < 0 || digit > 9) break;
      offset = offset * 10 + digit;
    }
    // Offsets start at 1, and JSON numbers have no leading zeros: a first digit 0 is for JSON.parse to judge.
    if (at === head.length || frame[head.length] === DIGIT_ZERO || !bytesAt(frame, at, TEXT_KEY)) return this.readParsed(frame, into);
    const textStart = at + TEXT_KEY.length;
    if (textStart > end || !bytesAt(frame, end, PUSH_END)) return this.readParsed(frame, into);
    for (let i = textStart; i < end; i++) {
      const byte = frame[i];
      if (byte === QUOTE || byte === BACKSLASH || byte < FIRST_UNESCAPED) return this.readParsed(frame, into);
    }
    into.offset = offset;
    into.frame = frame;
    into.start = textStart;
    into.end = end;
    return true;
  }

  /** The general path: any valid JSON layout of a `pub` push. */
  private readParsed(frame: Buffer, into: PubPush): boolean {
    let value: unknown;
    try {
      value = JSON.parse(frame.toString('utf8'));
    } catch {
      return false;
    }
    const pub = typeof value === 'object' && value !== null ? (value as { pub?: unknown }).pub : undefined;
    if (typeof pub !== 'object' || pub === null) return false;
    const { channel, offset, text } = pub as { channel?: unknown; offset?: unknown; text?: unknown };
    if (channel !== this.channel || typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 1 || typeof text !== 'string') return false;
    into.offset = offset;
    into.frame = Buffer.from(text, 'utf8');
    into.start = 0;
    into.end = into.frame.length;
    return true;
  }
}
