/**
 * The receiver: frames in, messages out. It sits on a `FrameParser` and adds what spans
 * frames: reassembling fragmented messages, validating text as UTF-8, and reading control
 * frames.
 *
 * RFC 6455 sections: 5.4 (fragmentation: "control frames MAY be injected in the middle of a
 * fragmented message"), 5.5.1-5.5.3 (Close, Ping, Pong), 5.6 and 8.1 (text is UTF-8).
 *
 * Text fails fast (RFC 6455 8.1): its bytes go through one UTF-8 validator as they arrive, a
 * frame still arriving included (the parser hands over its payload so far when a read ends),
 * so the connection fails with 1007 at the read that brings the first byte that no valid text
 * can start with. A compressed message in several frames (RFC 7692) is inflated, and its text
 * checked, frame by frame. A frame that arrives whole is checked in one go.
 *
 * Sans-I/O: it never writes. Answering a ping with a pong, or a close with a close, is the
 * caller's job (src/server does it), since only the caller can write to the socket.
 */
import { type CloseInfo, parseClosePayload } from './close.js';
import { Opcode, ProtocolDefaults, RSV1_BIT } from './constants.js';
import { type ProtocolError, protocolError } from './errors.js';
import { type FrameHandler, type FrameHeader, FrameParser, type FrameParserOptions } from './frame-parser.js';
import type { MessageInflater } from './message-compression.js';
import { isValidUtf8, Utf8Validator } from './utf8.js';

/** What a receiver reports. Every method is called synchronously from `push`. */
export interface ReceiverHandler {
  /** A complete message. `data` belongs to the handler. */
  onMessage(data: Buffer, isBinary: boolean): void;
  /** A Ping frame (RFC 6455 5.5.2): the caller should answer with a Pong carrying `payload`. */
  onPing(payload: Buffer): void;
  /** A Pong frame (RFC 6455 5.5.3). */
  onPong(payload: Buffer): void;
  /** A valid Close frame (RFC 6455 5.5.1). Input after it is ignored. */
  onClose(info: CloseInfo): void;
  /** A protocol violation: fail the connection with `error.closeCode`. Input after it is ignored. */
  onError(error: ProtocolError): void;
}

export interface ReceiverOptions extends Omit<FrameParserOptions, 'allowedRsvBits'> {
  /**
   * permessage-deflate was negotiated: messages whose first frame has RSV1 set are inflated
   * with this (RFC 7692 6.2). Setting it is what allows RSV1 on the wire.
   */
  inflater?: MessageInflater;
  /**
   * Called with every frame as it was received, before it is interpreted: for tools such
   * as the protocol inspector. `header` is reused; copy what you keep.
   */
  observeFrame?: (header: FrameHeader, payload: Buffer) => void;
}

/**
 * Collects the fragments of one message into a single buffer that grows by doubling, so
 * memory stays proportional to the payload however many fragments it comes in. It never grows
 * past `limit` (the message size limit, which the parser has already held the message to), so
 * doubling cannot take it to twice the limit.
 */
class MessageAccumulator {
  private buffer: Buffer = EMPTY;
  private length = 0;

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.length;
  }

  append(fragment: Buffer): void {
    const needed = this.length + fragment.length;
    if (needed > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, Math.min(this.buffer.length * 2, this.limit), Math.min(MIN_ACCUMULATOR_BYTES, this.limit)));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    fragment.copy(this.buffer, this.length);
    this.length = needed;
  }

  /** Hands out the message (only the written bytes) and starts empty again. */
  take(): Buffer {
    const message = this.buffer.subarray(0, this.length);
    this.buffer = EMPTY;
    this.length = 0;
    return message;
  }
}

const EMPTY = Buffer.alloc(0);
const MIN_ACCUMULATOR_BYTES = 1024;

/** RFC 6455 8.1 with 7.4.1: text that is not UTF-8 fails the connection with 1007. */
function invalidUtf8(): ProtocolError {
  return protocolError('INVALID_UTF8', 'text message is not valid UTF-8');
}

/** Turns a byte stream into messages and control frames. Feed it with `push`. */
export class Receiver implements FrameHandler {
  private readonly handler: ReceiverHandler;
  private readonly parser: FrameParser;
  private readonly observeFrame: ReceiverOptions['observeFrame'];

  /** Whether the fragmented message in progress is text (RFC 6455 5.4: its type is set by the first frame). */
  private fragmentedIsText = false;
  /** Whether the fragmented message in progress is compressed (RSV1 on its first frame, RFC 7692 6.2). */
  private fragmentedIsCompressed = false;
  private fragmenting = false;
  private readonly inflater: MessageInflater | undefined;
  private readonly maxMessageSize: number;
  /**
   * The fragmented message in progress, and the UTF-8 check of text spread over reads. Each is
   * created the first time it is needed (most connections send every message in one read), so
   * that an open connection costs as little memory as it can.
   */
  private fragments: MessageAccumulator | undefined;
  private utf8: Utf8Validator | undefined;
  /** Bytes of the frame being read that `onPartialPayload` has already validated as text. */
  private textValidatedInFrame = 0;

  constructor(handler: ReceiverHandler, options: ReceiverOptions) {
    this.handler = handler;
    this.observeFrame = options.observeFrame;
    this.inflater = options.inflater;
    this.maxMessageSize = options.maxMessageSize ?? ProtocolDefaults.maxMessageSize;
    this.parser = new FrameParser(this, {
      role: options.role,
      maxMessageSize: this.maxMessageSize,
      maxFragmentsPerMessage: options.maxFragmentsPerMessage,
      allowedRsvBits: this.inflater === undefined ? 0 : RSV1_BIT,
    });
  }

  /**
   * Feeds received bytes; takes ownership of `chunk` (it may be unmasked in place). Reads at
   * most `maxFrames` frames, then returns true with the rest kept for `resume` (see `FrameParser.push`).
   */
  push(chunk: Buffer, maxFrames?: number): boolean {
    return this.parser.push(chunk, maxFrames);
  }

  /** Reads on after `push` returned true; true again while frames may still be waiting. */
  resume(maxFrames?: number): boolean {
    return this.parser.resume(maxFrames);
  }

  /** Frames read so far, of every kind (see `FrameParser.framesRead`). */
  get framesRead(): number {
    return this.parser.framesRead;
  }

  /** Stops for good: further input is ignored. */
  stop(): void {
    this.parser.stop();
  }

  /** True after a Close frame, an error or `stop()`. */
  get stopped(): boolean {
    return this.parser.stopped;
  }

  /** Bytes held for incomplete frames and fragmented messages: what this connection costs in memory now. */
  get bufferedBytes(): number {
    return this.parser.bufferedBytes + (this.fragments?.size ?? 0) + (this.inflater?.pendingBytes ?? 0);
  }

  /** @internal FrameHandler: one frame from the parser. */
  onFrame(header: FrameHeader, payload: Buffer): void {
    if (this.observeFrame !== undefined) this.observeFrame(header, payload);
    switch (header.opcode) {
      case Opcode.Text:
      case Opcode.Binary:
      case Opcode.Continuation:
        this.onDataFrame(header, payload);
        return;
      case Opcode.Ping:
        this.handler.onPing(payload);
        return;
      case Opcode.Pong:
        this.handler.onPong(payload);
        return;
      case Opcode.Close:
        this.onCloseFrame(payload);
        return;
    }
  }

  /** @internal FrameHandler: the parser found a violation. */
  onFrameError(error: ProtocolError): void {
    this.handler.onError(error);
  }

  /**
   * @internal FrameHandler: part of a data frame, when a read ended before the frame did.
   * RFC 6455 8.1 and 5.6: text "MUST" be valid UTF-8, and the connection fails as soon as the
   * bytes received can no longer start valid text, without waiting for the rest of the frame.
   * (Compressed text is checked once a frame is in and inflated.)
   */
  onPartialPayload(header: FrameHeader, bytes: Buffer): void {
    const isUncompressedText =
      header.opcode === Opcode.Continuation ? this.fragmentedIsText && !this.fragmentedIsCompressed : header.opcode === Opcode.Text && !header.rsv1;
    if (!isUncompressedText) return;
    this.textValidatedInFrame += bytes.length;
    if (!this.validateText(bytes, false)) this.fail(invalidUtf8());
  }

  private onDataFrame(header: FrameHeader, payload: Buffer): void {
    // The bytes of this frame not validated yet: all of it, unless it came in several reads.
    const validated = this.textValidatedInFrame;
    this.textValidatedInFrame = 0;
    // 1. An unfragmented message, the common case: validate and deliver without copying.
    if (header.fin && !this.fragmenting) {
      const isText = header.opcode === Opcode.Text;
      if (header.rsv1) return this.deliverCompressed(payload, isText);
      // RFC 6455 5.6, 8.1: text that is not valid UTF-8 MUST fail the connection (1007). A frame
      // that came in one read is checked in one go; one that came in several, from where
      // `onPartialPayload` left off.
      if (isText && !(validated === 0 ? isValidUtf8(payload) : this.validateText(payload.subarray(validated), true))) {
        return this.fail(invalidUtf8());
      }
      this.handler.onMessage(payload, !isText);
      return;
    }
    // 2. A fragment: the first one fixes the message's type (RFC 6455 5.4).
    if (!this.fragmenting) {
      this.fragmenting = true;
      this.fragmentedIsText = header.opcode === Opcode.Text;
      this.fragmentedIsCompressed = header.rsv1;
    }
    const isText = this.fragmentedIsText;
    // 3. Compressed (RFC 7692 6.2): inflate each frame as it arrives, and check the text it adds
    //    (RFC 6455 8.1), rather than the whole message at its end.
    if (this.fragmentedIsCompressed) {
      // The parser only lets RSV1 through when an inflater was given.
      const inflater = this.inflater!;
      const added = inflater.inflateFrame(payload, header.fin, this.maxMessageSize);
      if (!Buffer.isBuffer(added)) return this.fail(added);
      if (isText && !this.validateText(added, header.fin)) return this.fail(invalidUtf8());
      if (header.fin) {
        this.fragmenting = false;
        this.handler.onMessage(inflater.takeMessage(), !isText);
      }
      return;
    }
    // 4. Fail fast (RFC 6455 8.1): validate each text fragment as it arrives (from where
    //    `onPartialPayload` left off), not the message at its end.
    if (isText && !this.validateText(payload.subarray(validated), header.fin)) return this.fail(invalidUtf8());
    const fragments = (this.fragments ??= new MessageAccumulator(this.maxMessageSize));
    fragments.append(payload);
    // 5. The final fragment completes the message.
    if (header.fin) {
      this.fragmenting = false;
      this.handler.onMessage(fragments.take(), !isText);
    }
  }

  /**
   * RFC 6455 8.1: feeds the next bytes of a text message, split anywhere, to its UTF-8
   * validator; false as soon as they cannot be valid UTF-8, or, at the message's end (`end`),
   * when it stops inside a character. The validator is then ready for the next message.
   */
  private validateText(bytes: Uint8Array, end: boolean): boolean {
    const utf8 = (this.utf8 ??= new Utf8Validator());
    const valid = utf8.write(bytes) && (!end || utf8.end());
    if (end) utf8.reset();
    return valid;
  }

  /** Inflates a compressed message that came in one frame (RFC 7692 6.2), then validates and delivers it. */
  private deliverCompressed(compressed: Buffer, isText: boolean): void {
    // The parser only lets RSV1 through when an inflater was given.
    const data = this.inflater!.decompress(compressed, this.maxMessageSize);
    if (!Buffer.isBuffer(data)) return this.fail(data);
    if (isText && !isValidUtf8(data)) return this.fail(invalidUtf8());
    this.handler.onMessage(data, !isText);
  }

  private onCloseFrame(payload: Buffer): void {
    const info = parseClosePayload(payload);
    if ('closeCode' in info) return this.fail(info);
    // RFC 6455 5.5.1: after a Close frame the peer sends no more data; anything further is ignored.
    this.parser.stop();
    this.handler.onClose(info);
  }

  private fail(error: ProtocolError): void {
    this.parser.stop();
    this.handler.onError(error);
  }
}
