/**
 * Memory for outgoing frames (frame-buffer.ts): small frames are cut from shared slabs, larger
 * ones get their own. Either way a frame is a real Buffer that no other frame overlaps.
 */
import { describe, expect, it } from 'vitest';
import { allocateFrame } from '../../src/protocol/frame-buffer.js';

const SLAB_BYTES = 8 * 1024;

describe('allocateFrame: a Buffer of the asked length, shared with no other frame', () => {
  it('is a Buffer with every Buffer method, of exactly the length asked', () => {
    const frame = allocateFrame(22);
    expect(Buffer.isBuffer(frame)).toBe(true);
    expect(frame).toBeInstanceOf(Buffer);
    expect(frame.constructor).toBe(Buffer);
    expect(frame.length).toBe(22);
    frame.fill(0);
    frame.writeUInt16BE(0x8116, 0);
    expect(frame.toString('hex', 0, 2)).toBe('8116');
    expect(Buffer.concat([frame.subarray(0, 2), Buffer.from([0xff])])).toEqual(Buffer.from([0x81, 0x16, 0xff]));
    expect(Buffer.isBuffer(frame.subarray(1))).toBe(true);
  });

  it('frames cut one after another never overlap, start on 8-byte boundaries, and keep their own bytes', () => {
    const lengths = [1, 2, 7, 8, 9, 22, 125, 130, 1000, 4095, 3, 17];
    const frames = Array.from({ length: 400 }, (_, i) => allocateFrame(lengths[i % lengths.length]));
    frames.forEach((frame, i) => frame.fill(i & 0xff));
    frames.forEach((frame, i) => {
      expect(frame.every((byte) => byte === (i & 0xff))).toBe(true);
      if (frame.length < SLAB_BYTES / 2) expect(frame.byteOffset % 8).toBe(0);
    });
    // Frames that share a slab lie in disjoint ranges of it.
    const bySlab = new Map<ArrayBufferLike, Array<[number, number]>>();
    for (const frame of frames) {
      const ranges = bySlab.get(frame.buffer) ?? [];
      ranges.push([frame.byteOffset, frame.byteOffset + frame.length]);
      bySlab.set(frame.buffer, ranges);
    }
    for (const ranges of bySlab.values()) {
      ranges.sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBeGreaterThanOrEqual(ranges[i - 1][1]);
    }
    expect(bySlab.size).toBeGreaterThan(1);
  });

  it('a frame of half a slab or more gets memory of its own', () => {
    const small = allocateFrame(16);
    const large = allocateFrame(SLAB_BYTES / 2);
    expect(large.length).toBe(SLAB_BYTES / 2);
    expect(large.buffer).not.toBe(small.buffer);
    expect(allocateFrame(16).buffer).not.toBe(large.buffer);
  });
});
