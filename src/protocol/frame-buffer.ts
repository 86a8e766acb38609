/**
 * Memory for outgoing frames. Not an RFC 6455 rule: a matter of cost. Most frames are small
 * (a chat line, an echo, a pong), and for a 16-byte message `Buffer.allocUnsafe` was about
 * half the time of building the whole frame (50 of 114 ns, measured in a loop of encodeFrame
 * calls beside a loop of allocations alone).
 *
 * So a small frame is cut from a slab of 8 KiB shared with the frames before it, the way
 * Node's `Buffer.allocUnsafe` cuts small buffers from its own pool, but without that
 * function's per-call argument checks and pool bookkeeping. The slab lives as long as any
 * frame cut from it, as Node's pool does. Slabs are zero-filled when made, and every byte of a
 * frame is written by the serializer before it leaves, so no stale memory is ever sent.
 */

/** Bytes in one slab: the size of Node's own pool (`Buffer.poolSize`). */
const SLAB_BYTES = 8 * 1024;
/** Frames this long or longer get a buffer of their own (Node's pool draws the same line). */
const SLAB_FRAME_LIMIT = SLAB_BYTES >>> 1;
/** Frames start at multiples of 8 bytes, so that a payload's 8-byte words line up (see mask.ts). */
const ALIGN_MASK = 7;

/**
 * A Buffer made directly over part of a slab. `Buffer` itself cannot be constructed that way
 * cheaply (`Buffer.from(arrayBuffer, offset, length)` checks its arguments on every call), so
 * this is a Uint8Array whose prototype is Buffer's: `Buffer.isBuffer` is true of it and it has
 * every Buffer method, exactly as for the buffers Node makes itself.
 */
class SlabBuffer extends Uint8Array {}
Object.setPrototypeOf(SlabBuffer.prototype, Buffer.prototype);
// Node does the same for its own buffers: their `constructor` is `Buffer`.
Object.defineProperty(SlabBuffer.prototype, 'constructor', { value: Buffer, writable: true, configurable: true });

let slab = new ArrayBuffer(SLAB_BYTES);
let slabOffset = 0;

/** A buffer of `length` bytes for a frame the caller fills completely. */
export function allocateFrame(length: number): Buffer {
  if (length >= SLAB_FRAME_LIMIT) return allocateOwnBuffer(length);
  if (length > SLAB_BYTES - slabOffset) startSlab();
  const frame = new SlabBuffer(slab, slabOffset, length) as unknown as Buffer;
  slabOffset = (slabOffset + length + ALIGN_MASK) & ~ALIGN_MASK;
  return frame;
}

// The rare paths are functions of their own, which keeps what V8 inlines into every
// `encodeFrame` small (its inlining budget is shared with the header and masking code).

function allocateOwnBuffer(length: number): Buffer {
  return Buffer.allocUnsafe(length);
}

function startSlab(): void {
  slab = new ArrayBuffer(SLAB_BYTES);
  slabOffset = 0;
}
