/**
 * Compressing and decompressing message payloads for permessage-deflate (RFC 7692 7.2).
 *
 * RFC 7692 7.2.1: to compress, run DEFLATE over the payload, flush so the output ends on a
 * byte boundary with an empty stored block (the bytes 0x00 0x00 0xff 0xff), and remove those
 * four bytes. RFC 7692 7.2.2: to decompress, put the four bytes back and INFLATE.
 *
 * Design choices, for bounded memory and no surprises:
 * - zlib runs synchronously, one message at a time. No zlib object lives between messages and
 *   none waits in libuv's thread pool, so a burst of connections cannot queue up zlib memory
 *   or starve the pool: at most one operation runs per process at any moment. The price is
 *   that compressing a large message blocks the event loop while it runs (about 5-20 ms per
 *   MiB here); the maximum message size bounds it.
 * - Context takeover (reusing the window across messages, RFC 7692 7.1.1) is emulated by
 *   keeping the last 2^windowBits bytes of uncompressed history and handing them to zlib as
 *   the preset dictionary: exactly the window a continuous stream would have. With
 *   no_context_takeover nothing is kept at all.
 * - Inflation stops as soon as the output would pass the message size limit (zlib's
 *   maxOutputLength), so a decompression bomb costs at most the limit, never its full size.
 * - A message that arrives in several frames is inflated frame by frame as they arrive
 *   (`inflateFrame`), so that its text is checked as UTF-8 as it comes (RFC 6455 8.1) and a
 *   bomb is stopped at the frame that passes the limit. zlib's synchronous calls cannot go on
 *   from where a frame cut the DEFLATE data, so this uses the incremental decoder of
 *   inflate.ts; while such a message is in progress, the connection holds its decoder (about
 *   5 KiB of tables) and the output so far (at most the limit), and no zlib stream.
 */
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { type ProtocolError, protocolError } from './errors.js';
import { IncrementalInflater } from './inflate.js';

/** The empty stored block's tail that compressed payloads leave off (RFC 7692 7.2.1). */
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Appends `message` to a sliding window of at most `size` bytes of history. */
function slideWindow(window: Buffer | undefined, message: Uint8Array, size: number): Buffer {
  if (message.length >= size) return Buffer.from(message.subarray(message.length - size));
  const previous = window ?? Buffer.alloc(0);
  const keep = Math.min(previous.length, size - message.length);
  const next = Buffer.allocUnsafe(keep + message.length);
  previous.copy(next, 0, previous.length - keep);
  next.set(message, keep);
  return next;
}

/** Compresses outgoing messages for one direction of one connection. */
export class MessageDeflater {
  /** Window bits zlib compresses with. */
  readonly windowBits: number;
  /** True when each message is compressed on its own: the same bytes suit every such peer (broadcast). */
  readonly noContextTakeover: boolean;
  private history: Buffer | undefined;

  constructor(windowBits: number, noContextTakeover: boolean) {
    this.windowBits = windowBits;
    this.noContextTakeover = noContextTakeover;
  }

  /** The compressed payload to send with RSV1 set (RFC 7692 7.2.1). */
  compress(payload: Uint8Array): Buffer {
    const compressed = deflateRawSync(payload, {
      finishFlush: constants.Z_SYNC_FLUSH,
      windowBits: this.windowBits,
      dictionary: this.history,
    });
    if (!this.noContextTakeover) this.history = slideWindow(this.history, payload, 1 << this.windowBits);
    // 7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end."
    const end = compressed.length - DEFLATE_TAIL.length;
    return end >= 0 && compressed.subarray(end).equals(DEFLATE_TAIL) ? compressed.subarray(0, end) : compressed;
  }

  /** Bytes of compression state kept between messages. */
  get retainedBytes(): number {
    return this.history?.length ?? 0;
  }
}

/** RFC 7692 7.2.2: what a receiver fails with when the data does not inflate, or inflates past the limit. */
function notDeflate(): ProtocolError {
  return protocolError('INVALID_COMPRESSED_DATA', 'compressed message is not valid DEFLATE data');
}

function inflatedTooBig(maxSize: number): ProtocolError {
  return protocolError('MESSAGE_TOO_BIG', `decompressed message is larger than the limit of ${maxSize} bytes`);
}

/** Decompresses incoming messages for one direction of one connection. */
export class MessageInflater {
  private readonly windowBits: number;
  private readonly noContextTakeover: boolean;
  private history: Buffer | undefined;
  /** The message arriving in several frames, inflated as far as its frames have come. */
  private inProgress: IncrementalInflater | undefined;

  /** `windowBits` is the peer's window; decompression always works with zlib's largest. */
  constructor(windowBits: number, noContextTakeover: boolean) {
    this.windowBits = windowBits;
    this.noContextTakeover = noContextTakeover;
  }

  /**
   * Inflates a compressed message payload (RFC 7692 7.2.2), stopping with 1009 as soon as the
   * output passes `maxSize`, and failing with 1007 on data that is not DEFLATE.
   */
  decompress(compressed: Uint8Array, maxSize: number): Buffer | ProtocolError {
    const input = Buffer.allocUnsafe(compressed.length + DEFLATE_TAIL.length);
    input.set(compressed, 0);
    DEFLATE_TAIL.copy(input, compressed.length);
    let output: Buffer;
    try {
      output = inflateRawSync(input, {
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: Math.max(maxSize, 1),
        dictionary: this.history,
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return inflatedTooBig(maxSize);
      return notDeflate();
    }
    if (output.length > maxSize) return inflatedTooBig(maxSize);
    this.remember(output);
    return output;
  }

  /**
   * Inflates the next frame of a compressed message that arrives in several frames: RFC 7692
   * 7.2.2 applied to the payload so far, the four tail bytes put back after the final frame
   * (`fin`). Returns the bytes this frame added to the message; after the final frame,
   * `takeMessage` hands out the whole message. Fails with 1009 at the frame whose output passes
   * `maxSize` (the whole message's limit), and with 1007 on data that is not DEFLATE.
   */
  inflateFrame(compressed: Uint8Array, fin: boolean, maxSize: number): Buffer | ProtocolError {
    this.inProgress ??= new IncrementalInflater({ dictionary: this.history, maxOutput: maxSize });
    const inflater = this.inProgress;
    const before = inflater.length;
    const failure = inflater.write(compressed) ?? (fin ? inflater.write(DEFLATE_TAIL) : undefined);
    if (failure !== undefined) {
      this.inProgress = undefined;
      return failure === 'too-big' ? inflatedTooBig(maxSize) : notDeflate();
    }
    return inflater.output().subarray(before);
  }

  /** The message whose final frame `inflateFrame` has just inflated; ready for the next one. */
  takeMessage(): Buffer {
    const message = this.inProgress?.output() ?? Buffer.alloc(0);
    this.inProgress = undefined;
    this.remember(message);
    return message;
  }

  /** Bytes inflated so far of a message still arriving in frames. */
  get pendingBytes(): number {
    return this.inProgress?.length ?? 0;
  }

  /** Bytes of decompression state kept between messages. */
  get retainedBytes(): number {
    return this.history?.length ?? 0;
  }

  /** Context takeover (RFC 7692 7.1.1): the next message may refer back into this one. */
  private remember(message: Buffer): void {
    if (!this.noContextTakeover) this.history = slideWindow(this.history, message, 1 << this.windowBits);
  }
}
