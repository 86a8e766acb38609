/**
 * public/sha1.js, the inspector's own SHA-1 (used when crypto.subtle is unavailable), against
 * node:crypto: the RFC 6455 1.3 worked example, the padding boundaries, and random inputs.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';

type Sha1 = (message: Uint8Array) => Uint8Array;
let sha1Bytes: Sha1;

beforeAll(async () => {
  // A browser module with no types: loaded by URL so TypeScript does not try to check it.
  const url = pathToFileURL(join(process.cwd(), 'public', 'sha1.js')).href;
  ({ sha1Bytes } = (await import(url)) as { sha1Bytes: Sha1 });
});

const oracle = (bytes: Uint8Array): string => createHash('sha1').update(bytes).digest('hex');
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe("the inspector page's SHA-1 (FIPS 180-4)", () => {
  it('derives the Sec-WebSocket-Accept of the RFC 6455 1.3 example', () => {
    const digest = sha1Bytes(new TextEncoder().encode('dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11'));
    expect(Buffer.from(digest).toString('base64')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('matches node:crypto at every length around the 64-byte block and its padding (0-200 bytes)', () => {
    for (let length = 0; length <= 200; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 31 + length) & 0xff);
      expect(hex(sha1Bytes(bytes)), `length ${length}`).toBe(oracle(bytes));
    }
  });

  it('matches node:crypto on random inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1000 }), (bytes) => hex(sha1Bytes(bytes)) === oracle(bytes)),
      { numRuns: 300 },
    );
  });
});
