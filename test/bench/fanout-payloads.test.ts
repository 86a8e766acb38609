/**
 * The fan-out payloads (bench/workloads/payloads.ts): what the compressed fan-out publishes
 * is realistic JSON of 1-4 KiB, and a subscriber accepts only exactly what was published.
 */
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { JSON_MAX_BYTES, JSON_MIN_BYTES, jsonPayloads, tinyPayloads } from '../../bench/workloads/payloads.js';

const SEQUENCES = [0, 1, 63, 64, 1000, 123_456];
const MICROS = 1_234_567_890_123;

describe('JSON payloads of the compressed fan-out', () => {
  const format = jsonPayloads();

  it('are valid JSON objects of 1-4 KiB carrying their sequence number and timestamp', () => {
    for (const seq of SEQUENCES) {
      const text = format.encode(seq, MICROS);
      expect(Buffer.byteLength(text)).toBe(text.length); // ASCII
      expect(text.length).toBeGreaterThanOrEqual(JSON_MIN_BYTES);
      expect(text.length).toBeLessThanOrEqual(JSON_MAX_BYTES);
      const parsed = JSON.parse(text) as { seq: number; sentUs: number; type: string; text: string };
      expect(parsed.seq).toBe(seq);
      expect(parsed.sentUs).toBe(MICROS);
      expect(parsed.type).toBe('message.created');
    }
  });

  it('are the same in every process (seeded), and vary from message to message', () => {
    expect(jsonPayloads().encode(7, MICROS)).toBe(format.encode(7, MICROS));
    expect(format.encode(8, MICROS).slice(45)).not.toBe(format.encode(7, MICROS).slice(45));
  });

  it('compress like text does (more than 1.5x on their own), not like random bytes', () => {
    for (const seq of SEQUENCES) {
      const text = Buffer.from(format.encode(seq, MICROS));
      expect(deflateRawSync(text).length * 1.5).toBeLessThan(text.length);
    }
  });

  it('are read back with their sequence number and timestamp', () => {
    for (const seq of SEQUENCES) {
      const stamp = { micros: 0 };
      expect(format.read(Buffer.from(format.encode(seq, MICROS)), stamp)).toBe(seq);
      expect(stamp.micros).toBe(MICROS);
      // The same from a range of a larger buffer (a framecast.v1 push around it).
      const text = format.encode(seq, MICROS);
      expect(format.read(Buffer.from(`[${text}]`), stamp, 1, 1 + text.length)).toBe(seq);
      expect(format.read(Buffer.from(`[${text}]`), stamp, 1, 2 + text.length)).toBe(-1);
    }
  });

  it('are refused when any byte differs, or when one is missing or added', () => {
    const original = Buffer.from(format.encode(64, MICROS));
    for (const at of [0, 10, 30, 44, Math.floor(original.length / 2), original.length - 1]) {
      const changed = Buffer.from(original);
      changed[at] = changed[at] === 0x41 ? 0x42 : 0x41;
      expect(format.read(changed, { micros: 0 }), `byte ${at}`).toBe(-1);
    }
    expect(format.read(original.subarray(0, original.length - 1), { micros: 0 })).toBe(-1);
    expect(format.read(Buffer.concat([original, Buffer.from(' ')]), { micros: 0 })).toBe(-1);
    // Another message's body under this sequence number.
    const other = Buffer.from(format.encode(65, MICROS));
    other.write('        64', 7, 'latin1');
    expect(format.read(other, { micros: 0 })).toBe(-1);
  });
});

describe('tiny payloads of the uncompressed fan-out', () => {
  const format = tinyPayloads();

  it('are 32 bytes, read back with their sequence number and timestamp', () => {
    const text = format.encode(42, MICROS);
    expect(text.length).toBe(32);
    const stamp = { micros: 0 };
    expect(format.read(Buffer.from(text), stamp)).toBe(42);
    expect(stamp.micros).toBe(MICROS);
  });

  it('are read the same from a range of a larger buffer', () => {
    const text = format.encode(42, MICROS);
    const stamp = { micros: 0 };
    const around = Buffer.from(`{"text":"${text}"}`);
    expect(format.read(around, stamp, 9, 9 + text.length)).toBe(42);
    expect(stamp.micros).toBe(MICROS);
    expect(format.read(around, stamp, 9, 9 + text.length - 1)).toBe(-1);
    expect(format.read(around, stamp, 8, 9 + text.length)).toBe(-1);
  });

  it('are refused when the layout is wrong', () => {
    const changed = Buffer.from(format.encode(42, MICROS));
    changed[10] = 0x78;
    expect(format.read(changed, { micros: 0 })).toBe(-1);
    expect(format.read(Buffer.from(format.encode(42, MICROS).trimEnd()), { micros: 0 })).toBe(-1);
  });
});
