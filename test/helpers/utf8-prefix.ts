/**
 * The oracle for "as soon as" in RFC 6455 8.1's fail-fast: whether bytes received so far can
 * still be the start of valid UTF-8, by the plain reference validator alone.
 */
import { isValidUtf8Reference } from '../../src/protocol/utf8.js';

/**
 * Can `bytes` still be the start of valid UTF-8? It can if some ending of at most three bytes
 * makes it valid by the reference validator. (A cut character needs continuation bytes; 80, 90
 * and A0 cover the narrowed ranges after E0, ED, F0 and F4 of RFC 3629 section 4.)
 */
export function canStartValidUtf8(bytes: Uint8Array): boolean {
  return UTF8_ENDINGS.some((ending) => isValidUtf8Reference(Buffer.concat([bytes, ending])));
}

const UTF8_ENDINGS: readonly Buffer[] = [
  Buffer.alloc(0),
  ...[0x80, 0x90, 0xa0].flatMap((first) => [Buffer.from([first]), Buffer.from([first, 0x80]), Buffer.from([first, 0x80, 0x80])]),
];

/** How many bytes of `text` have to arrive before it cannot be valid UTF-8, or undefined if it never fails before its end. */
export function earliestInvalidPrefix(text: Uint8Array): number | undefined {
  for (let length = 1; length <= text.length; length++) if (!canStartValidUtf8(text.subarray(0, length))) return length;
  return undefined;
}
