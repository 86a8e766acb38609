/**
 * Masking, RFC 6455 section 5.3: `transformed[i] = original[i] XOR key[i MOD 4]`.
 * `applyMask` (word at a time) is checked against `applyMaskReference` (byte at a time, the
 * rule as the RFC states it), at every length and every alignment of the view.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyMask, applyMaskReference, copyMasked, maskRange } from '../../src/protocol/mask.js';
import { hex } from '../helpers/bytes.js';

/** The masking key of every masked example in RFC 6455 5.7. */
const RFC_KEY = hex('37 fa 21 3d');

describe('RFC 6455 5.3 Client-to-Server Masking: the RFC 5.7 example', () => {
  it('masks "Hello" with key 37 fa 21 3d into 7f 9f 4d 51 58', () => {
    const data = Buffer.from('Hello');
    applyMask(data, RFC_KEY);
    expect(data).toEqual(hex('7f 9f 4d 51 58'));
  });

  it('unmasks 7f 9f 4d 51 58 with key 37 fa 21 3d back into "Hello"', () => {
    const data = hex('7f 9f 4d 51 58');
    applyMask(data, RFC_KEY);
    expect(data.toString('latin1')).toBe('Hello');
  });

  it('the reference does the same', () => {
    const data = Buffer.from('Hello');
    applyMaskReference(data, RFC_KEY);
    expect(data).toEqual(hex('7f 9f 4d 51 58'));
  });
});

describe('RFC 6455 5.3 Client-to-Server Masking: octet i is XORed with key octet i MOD 4', () => {
  it('XORs each byte with the key byte at its position modulo 4 (all-zero data shows the key repeating)', () => {
    const data = new Uint8Array(11);
    applyMask(data, RFC_KEY);
    expect(Buffer.from(data)).toEqual(hex('37fa213d 37fa213d 37fa21'));
  });

  it('a long all-zero buffer (word path) is the key repeated, from an unaligned start too', () => {
    const backing = new Uint8Array(200);
    const view = backing.subarray(3, 3 + 101);
    applyMask(view, RFC_KEY);
    for (let i = 0; i < view.length; i++) expect(view[i]).toBe(RFC_KEY[i % 4]);
    // Bytes outside the view are not touched.
    expect(backing.subarray(0, 3).every((b) => b === 0)).toBe(true);
    expect(backing.subarray(104).every((b) => b === 0)).toBe(true);
  });

  it('a zero-length view is left alone', () => {
    const backing = new Uint8Array(8);
    applyMask(backing.subarray(4, 4), RFC_KEY);
    expect(backing.every((b) => b === 0)).toBe(true);
  });
});

/** A copy of `bytes` as a view `offset` bytes into a larger buffer whose other bytes are 0xa5. */
function unalignedView(
  bytes: Uint8Array,
  offset: number,
  padding: number,
): { backing: Uint8Array; view: Uint8Array } {
  const backing = new Uint8Array(offset + bytes.length + padding);
  backing.fill(0xa5);
  const view = backing.subarray(offset, offset + bytes.length);
  view.set(bytes);
  return { backing, view };
}

const keyArb = fc.uint8Array({ minLength: 4, maxLength: 4 });
const dataArb = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.uint8Array({ minLength: 28, maxLength: 300 }),
  fc.uint8Array({ minLength: 300, maxLength: 5000 }),
);

describe('RFC 6455 5.3 Client-to-Server Masking: properties', () => {
  it('applyMask agrees with applyMaskReference at any length and any byteOffset, and stays inside the view', () => {
    fc.assert(
      fc.property(dataArb, keyArb, fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 7 }), (data, key, offset, padding) => {
        const fast = unalignedView(data, offset, padding);
        const reference = unalignedView(data, offset, padding);
        applyMask(fast.view, key);
        applyMaskReference(reference.view, key);
        // Comparing the whole backing buffers also shows nothing outside the view changed.
        expect(Buffer.from(fast.backing)).toEqual(Buffer.from(reference.backing));
        expect(fast.backing.subarray(0, offset).every((b) => b === 0xa5)).toBe(true);
        expect(fast.backing.subarray(offset + data.length).every((b) => b === 0xa5)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('the reference is the RFC rule: byte i becomes data[i] ^ key[i % 4]', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), keyArb, (data, key) => {
        const masked = Uint8Array.from(data);
        applyMaskReference(masked, key);
        for (let i = 0; i < data.length; i++) expect(masked[i]).toBe(data[i] ^ key[i % 4]);
      }),
      { numRuns: 200 },
    );
  });

  it('masking twice with the same key gives back the original, at any offset', () => {
    fc.assert(
      fc.property(dataArb, keyArb, fc.integer({ min: 0, max: 7 }), (data, key, offset) => {
        const { view } = unalignedView(data, offset, 3);
        applyMask(view, key);
        applyMask(view, key);
        expect(Buffer.from(view)).toEqual(Buffer.from(data));
      }),
      { numRuns: 300 },
    );
  });

  it('maskRange masks exactly data[start, end), key[0] at start, like the reference on that range', () => {
    fc.assert(
      fc.property(dataArb, keyArb, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), (data, key, a, b, offset) => {
        const start = a % (data.length + 1);
        const end = start + (b % (data.length - start + 1));
        const fast = unalignedView(data, offset, 2);
        const reference = unalignedView(data, offset, 2);
        maskRange(fast.view, start, end, key);
        applyMaskReference(reference.view.subarray(start, end), key);
        expect(Buffer.from(fast.backing)).toEqual(Buffer.from(reference.backing));
      }),
      { numRuns: 300 },
    );
  });

  it('copyMasked writes the masked copy at the offset and leaves the source and the rest of the target alone', () => {
    fc.assert(
      fc.property(dataArb, keyArb, fc.integer({ min: 0, max: 17 }), (data, key, offset) => {
        const source = Uint8Array.from(data);
        const target = new Uint8Array(offset + data.length + 3).fill(0xee);
        copyMasked(source, target, offset, key);
        const expected = Uint8Array.from(data);
        applyMaskReference(expected, key);
        expect(Buffer.from(source)).toEqual(Buffer.from(data));
        expect(Buffer.from(target.subarray(offset, offset + data.length))).toEqual(Buffer.from(expected));
        expect(target.subarray(0, offset).every((b) => b === 0xee)).toBe(true);
        expect(target.subarray(offset + data.length).every((b) => b === 0xee)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('buffers from one shared pool, masked one after another, each come out right', () => {
    // Small buffers share Buffer.allocUnsafe's pool, at every alignment against 8 bytes.
    const key = hex('37 fa 21 3d');
    const payloads = Array.from({ length: 40 }, (_, n) => {
      const bytes = Buffer.allocUnsafe(100 + n * 37);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + n) & 0xff;
      return bytes;
    });
    for (const payload of payloads) {
      const expected = Uint8Array.from(payload);
      applyMaskReference(expected, key);
      const copy = Buffer.allocUnsafe(payload.length + 6);
      copyMasked(payload, copy, 6, key);
      expect(Buffer.from(copy.subarray(6))).toEqual(Buffer.from(expected));
      applyMask(payload, key);
      expect(Buffer.from(payload)).toEqual(Buffer.from(expected));
    }
  });

  it('masking with an all-zero key changes nothing', () => {
    fc.assert(
      fc.property(dataArb, (data) => {
        const copy = Uint8Array.from(data);
        applyMask(copy, new Uint8Array(4));
        expect(Buffer.from(copy)).toEqual(Buffer.from(data));
      }),
      { numRuns: 100 },
    );
  });
});
