/**
 * The conformance suite's own end of a connection, at the byte level: hand-built frames (so it
 * can send what a normal peer never would), a raw TCP connection (to a server under test, with
 * its own opening handshake, or from a client under test), and a strict reader that judges
 * every byte the peer sends instead of trusting it.
 *
 * RFC 6455 sections: 4.1 (client handshake), 5.1-5.3 (framing and masking), 5.4 (fragmentation),
 * 5.5 (control frames), 7.4 (close codes), 8.1 (UTF-8). With permessage-deflate negotiated
 * (RFC 7692), the reader also inflates the server's compressed messages (6, 7.2.2).
 */
import { connect, type Socket } from 'node:net';
import { constants as zlibConstants, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';
import {
  applyMask,
  buildClientRequest,
  generateClientKey,
  isValidCloseCode,
  isValidUtf8,
  LENGTH_16_MARKER,
  LENGTH_64_MARKER,
  Opcode,
  parseResponseHead,
  PAYLOAD_LENGTH_MASK,
  type ResponseHead,
  type ServerHandshake,
  verifyServerResponse,
} from '../../src/protocol/index.js';

// --- Frame layout (RFC 6455 5.2) ------------------------------------------------------------

const FIN_BIT = 0x80;
const RSV_BITS = 0x70;
const OPCODE_BITS = 0x0f;
const MASK_BIT = 0x80;
const MAX_7BIT_LENGTH = 125;
const MAX_16BIT_LENGTH = 0xffff;
const MAX_CONTROL_PAYLOAD = 125;
const MASK_KEY_BYTES = 4;
/** The longest frame header: 2 bytes, 8 of extended length, 4 of masking key. */
const MAX_HEADER_BYTES = 14;
const TWO_TO_THE_32 = 0x1_0000_0000;

/** The two ends of a WebSocket connection: which one is under test, which one sent a frame. */
export type Side = 'client' | 'server';

/** The other end. */
export function otherSide(side: Side): Side {
  return side === 'client' ? 'server' : 'client';
}

/** Everything about a frame the suite may want to get wrong on purpose. */
export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array;
  /** FIN bit; default true. */
  fin?: boolean;
  /** RSV1-3 as the 3 bits 0bXYZ (RSV1 = 4, RSV2 = 2, RSV3 = 1); default 0. */
  rsv?: number;
  /**
   * Mask the frame with a random key (clients must, servers must not, RFC 6455 5.1, 5.3). Default
   * true for `buildFrame`; the frames of a `FrameBuilder` are masked as their sender's side requires.
   */
  mask?: boolean;
  /** A specific masking key, e.g. all zeros. */
  maskKey?: Uint8Array;
  /** Force a length encoding: 7, 16 or 64 bits; default the minimal one. */
  lengthBits?: 7 | 16 | 64;
  /** Declare this length instead of the payload's (for "header only" frames); a bigint for 64-bit values. */
  declaredLength?: number | bigint;
}

function randomMaskKey(): Buffer {
  const key = Buffer.allocUnsafe(MASK_KEY_BYTES);
  for (let i = 0; i < MASK_KEY_BYTES; i++) key[i] = Math.floor(Math.random() * 256);
  return key;
}

/** Builds one frame exactly as specified, however wrong. */
export function buildFrame(spec: FrameSpec): Buffer {
  const payload = Buffer.from(spec.payload ?? new Uint8Array(0));
  const declared = BigInt(spec.declaredLength ?? payload.length);
  const lengthBits = spec.lengthBits ?? (declared <= MAX_7BIT_LENGTH ? 7 : declared <= MAX_16BIT_LENGTH ? 16 : 64);
  const masked = spec.mask ?? true;
  const extra = lengthBits === 7 ? 0 : lengthBits === 16 ? 2 : 8;
  const header = Buffer.alloc(2 + extra + (masked ? MASK_KEY_BYTES : 0));
  header[0] = (spec.fin === false ? 0 : FIN_BIT) | (((spec.rsv ?? 0) << 4) & RSV_BITS) | (spec.opcode & OPCODE_BITS);
  const maskBit = masked ? MASK_BIT : 0;
  if (lengthBits === 7) header[1] = maskBit | Number(declared);
  else if (lengthBits === 16) {
    header[1] = maskBit | LENGTH_16_MARKER;
    header.writeUInt16BE(Number(declared), 2);
  } else {
    header[1] = maskBit | LENGTH_64_MARKER;
    header.writeBigUInt64BE(declared, 2);
  }
  if (!masked) return Buffer.concat([header, payload]);
  const key = Buffer.from(spec.maskKey ?? randomMaskKey());
  key.copy(header, 2 + extra);
  const body = Buffer.from(payload);
  applyMask(body, key);
  return Buffer.concat([header, body]);
}

/** Shorthands for the frames most cases send, masked as `sender`'s side must (RFC 6455 5.1). */
export interface FrameBuilder {
  /** Whether this sender masks its frames: clients do, servers do not. */
  readonly masks: boolean;
  /** `buildFrame` with this sender's masking unless the spec says otherwise. */
  build(spec: FrameSpec): Buffer;
  text(data: string | Uint8Array, spec?: Partial<FrameSpec>): Buffer;
  binary(data: Uint8Array, spec?: Partial<FrameSpec>): Buffer;
  continuation(data: string | Uint8Array, spec?: Partial<FrameSpec>): Buffer;
  ping(data?: string | Uint8Array, spec?: Partial<FrameSpec>): Buffer;
  pong(data?: string | Uint8Array, spec?: Partial<FrameSpec>): Buffer;
  /** A Close frame; `code` undefined for an empty body, or a raw body via `spec.payload`. */
  close(code?: number, reason?: string | Uint8Array, spec?: Partial<FrameSpec>): Buffer;
}

const bytesOf = (data: string | Uint8Array): Uint8Array => (typeof data === 'string' ? Buffer.from(data) : data);

export function frameBuilder(sender: Side): FrameBuilder {
  const masks = sender === 'client';
  const build = (spec: FrameSpec): Buffer => buildFrame({ mask: masks, ...spec });
  return {
    masks,
    build,
    text: (data, spec = {}) => build({ opcode: Opcode.Text, payload: bytesOf(data), ...spec }),
    binary: (data, spec = {}) => build({ opcode: Opcode.Binary, payload: data, ...spec }),
    continuation: (data, spec = {}) => build({ opcode: Opcode.Continuation, payload: bytesOf(data), ...spec }),
    ping: (data = '', spec = {}) => build({ opcode: Opcode.Ping, payload: bytesOf(data), ...spec }),
    pong: (data = '', spec = {}) => build({ opcode: Opcode.Pong, payload: bytesOf(data), ...spec }),
    close: (code, reason = '', spec = {}) => {
      let body: Buffer = Buffer.alloc(0);
      if (code !== undefined) {
        const reasonBytes = Buffer.from(bytesOf(reason));
        body = Buffer.alloc(2 + reasonBytes.length);
        body.writeUInt16BE(code, 0);
        reasonBytes.copy(body, 2);
      }
      return build({ opcode: Opcode.Close, payload: body, ...spec });
    },
  };
}

// --- What the peer sends, judged strictly -----------------------------------------------------

/** One thing observed on the connection, in order. */
export type WireEvent =
  /** `compressed`: it came with RSV1 and was inflated (RFC 7692). */
  | { kind: 'message'; binary: boolean; data: Buffer; compressed?: boolean }
  | { kind: 'ping'; data: Buffer }
  | { kind: 'pong'; data: Buffer }
  /** A Close frame; `code` undefined when its body was empty. */
  | { kind: 'close'; code: number | undefined; reason: string }
  /** The peer ended or reset the TCP connection. */
  | { kind: 'tcp-closed'; reset: boolean };

/** How an event reads in a report. */
export function describeEvent(event: WireEvent | undefined): string {
  if (event === undefined) return 'nothing (timed out)';
  switch (event.kind) {
    case 'message':
      return `${event.compressed ? 'compressed ' : ''}${event.binary ? 'binary' : 'text'} message of ${event.data.length} bytes`;
    case 'ping':
    case 'pong':
      return `${event.kind} with ${event.data.length} bytes`;
    case 'close':
      return event.code === undefined ? 'Close frame without a code' : `Close frame with code ${event.code}`;
    case 'tcp-closed':
      return event.reset ? 'TCP reset without a Close frame' : 'TCP closed without a Close frame';
  }
}

/**
 * Reads the peer's byte stream frame by frame and checks every rule the frames of its side must
 * keep: a server's unmasked, a client's masked with a fresh key. A violation is recorded (the
 * case then FAILS) and reading goes on where it can. Violations start with the side's name,
 * e.g. "server sent a masked frame".
 */
export class StrictFrameReader {
  /** Rules the peer broke, each with its RFC section. */
  readonly violations: string[] = [];
  /** The masking keys of the peer's frames (a client's), in order. */
  readonly maskKeys: Buffer[] = [];
  /** Received bytes not yet read as frames, kept as they came: joined once per frame, not once per chunk. */
  private readonly chunks: Buffer[] = [];
  private bufferedLength = 0;
  /** Opcode of the peer's fragmented message in progress, or -1. */
  private messageOpcode = -1;
  private fragments: Buffer[] = [];
  private closeSeen = false;
  private broken = false;
  /** Inflates the peer's compressed messages, once the case negotiated permessage-deflate. */
  private deflate: PeerInflater | undefined;
  /** Whether the message in progress had RSV1 on its first frame (RFC 7692 6: compressed). */
  private messageCompressed = false;
  /**
   * Events wait here behind a message being inflated (zlib streams are asynchronous), so that
   * the order the peer sent things in is the order the case sees them.
   */
  private delivery: Promise<void> = Promise.resolve();

  constructor(
    /** The side whose frames this reader judges. */
    readonly peer: Side,
    private readonly emitNow: (event: WireEvent) => void,
  ) {}

  /** From now on the peer may compress messages as agreed (RFC 7692 6), with its side's parameters. */
  enableDeflate(agreement: DeflateAgreement): void {
    this.deflate = new PeerInflater(compressionOf(agreement, this.peer));
  }

  /** Delivers `event` after everything received before it. */
  emit(event: WireEvent): void {
    if (this.deflate === undefined) return this.emitNow(event);
    this.delivery = this.delivery.then(() => this.emitNow(event));
  }

  push(chunk: Buffer): void {
    if (this.broken) return;
    this.chunks.push(chunk);
    this.bufferedLength += chunk.length;
    while (this.readFrame()) {
      // one frame per iteration
    }
  }

  /** Bytes received that are not a complete frame: after the TCP close, a truncated frame. */
  get pendingBytes(): number {
    return this.bufferedLength;
  }

  /** The first `count` buffered bytes (or all of them, if fewer) in one buffer. */
  private peek(count: number): Buffer {
    while (this.chunks.length > 1 && this.chunks[0].length < count) {
      this.chunks.splice(0, 2, Buffer.concat([this.chunks[0], this.chunks[1]]));
    }
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** Removes the first `count` bytes and returns them in one buffer. */
  private take(count: number): Buffer {
    const bytes = this.peek(count);
    const taken = bytes.subarray(0, count);
    if (bytes.length === count) this.chunks.shift();
    else this.chunks[0] = bytes.subarray(count);
    this.bufferedLength -= count;
    return taken;
  }

  private violation(text: string): void {
    this.violations.push(text);
  }

  private readFrame(): boolean {
    if (this.bufferedLength < 2) return false;
    const bytes = this.peek(MAX_HEADER_BYTES);
    const fin = (bytes[0] & FIN_BIT) !== 0;
    const rsv = (bytes[0] & RSV_BITS) >> 4;
    const opcode = bytes[0] & OPCODE_BITS;
    const masked = (bytes[1] & MASK_BIT) !== 0;
    const length7 = bytes[1] & PAYLOAD_LENGTH_MASK;
    let offset = 2;
    let length: number;
    /** A non-minimal length, noted once the whole frame is here (the header is re-read until then). */
    let lengthNote: string | undefined;
    if (length7 === LENGTH_16_MARKER) {
      if (bytes.length < offset + 2) return false;
      length = bytes.readUInt16BE(offset);
      offset += 2;
      // RFC 6455 5.2: "the minimal number of bytes MUST be used to encode the length".
      if (length <= MAX_7BIT_LENGTH) lengthNote = `${this.peer} used a 16-bit length for ${length} bytes (RFC 6455 5.2: minimal encoding)`;
    } else if (length7 === LENGTH_64_MARKER) {
      if (bytes.length < offset + 8) return false;
      const high = bytes.readUInt32BE(offset);
      const low = bytes.readUInt32BE(offset + 4);
      offset += 8;
      // RFC 6455 5.2: "the most significant bit MUST be 0".
      if (high >= 0x8000_0000) {
        this.violation(`${this.peer} sent a 64-bit length with the most significant bit set (RFC 6455 5.2)`);
        this.broken = true;
        return false;
      }
      length = high * TWO_TO_THE_32 + low;
      if (length <= MAX_16BIT_LENGTH) lengthNote = `${this.peer} used a 64-bit length for ${length} bytes (RFC 6455 5.2: minimal encoding)`;
    } else {
      length = length7;
    }
    if (masked) {
      if (bytes.length < offset + MASK_KEY_BYTES) return false;
      offset += MASK_KEY_BYTES;
    }
    if (this.bufferedLength < offset + length) return false;
    const maskKey = Buffer.from(bytes.subarray(offset - MASK_KEY_BYTES, offset));
    const frameBytes = this.take(offset + length);
    const payload = Buffer.from(frameBytes.subarray(offset));
    if (masked) applyMask(payload, maskKey);

    if (lengthNote !== undefined) this.violation(lengthNote);
    this.judgeMasking(masked, maskKey);
    this.judgeRsv(rsv, opcode);
    this.judgeFrame(fin, opcode, payload, rsv === RSV1);
    return true;
  }

  /**
   * RFC 6455 5.1: "A server MUST NOT mask any frames that it sends to the client", and "a client
   * MUST mask all frames that it sends to the server". 5.3 and 10.3: each with a new key, "derived
   * from a strong source of entropy": randomness cannot be judged from outside, but a key used for
   * two frames in a row (odds 2^-32 for a random one) is not new.
   */
  private judgeMasking(masked: boolean, maskKey: Buffer): void {
    if (this.peer === 'server') {
      if (masked) this.violation('server sent a masked frame (RFC 6455 5.1)');
      return;
    }
    if (!masked) {
      this.violation('client sent an unmasked frame (RFC 6455 5.1: a client MUST mask every frame)');
      return;
    }
    const previous = this.maskKeys[this.maskKeys.length - 1];
    if (previous !== undefined && previous.equals(maskKey)) {
      this.violation(`client masked two frames in a row with the same key ${maskKey.toString('hex')} (RFC 6455 5.3, 10.3: a new key for every frame)`);
    }
    this.maskKeys.push(maskKey);
  }

  /**
   * RFC 6455 5.2: RSV bits "MUST be 0 unless an extension is negotiated that defines meanings
   * for non-zero values". permessage-deflate gives RSV1 a meaning on the first frame of a data
   * message only (RFC 7692 6), and RSV2 and RSV3 none.
   */
  private judgeRsv(rsv: number, opcode: number): void {
    if (rsv === 0) return;
    const bits = `RSV bits 0b${rsv.toString(2).padStart(3, '0')}`;
    if (this.deflate === undefined || rsv !== RSV1) {
      this.violation(`${this.peer} sent a frame with ${bits} (RFC 6455 5.2${this.deflate === undefined ? ': no extension was negotiated' : ''})`);
    } else if ((opcode & 0x8) !== 0) {
      this.violation(`${this.peer} sent a control frame with RSV1 (RFC 7692 6: the bit is for data messages)`);
    } else if (opcode === Opcode.Continuation) {
      this.violation(`${this.peer} sent RSV1 on a continuation frame (RFC 7692 6: only on the first frame of a message)`);
    }
  }

  private judgeFrame(fin: boolean, opcode: number, payload: Buffer, rsv1: boolean): void {
    const isControl = (opcode & 0x8) !== 0;
    if (isControl) {
      // RFC 6455 5.5: control frames are at most 125 bytes and not fragmented.
      if (payload.length > MAX_CONTROL_PAYLOAD) this.violation(`${this.peer} sent a control frame of ${payload.length} bytes (RFC 6455 5.5)`);
      if (!fin) this.violation(`${this.peer} sent a fragmented control frame (RFC 6455 5.5)`);
    }
    switch (opcode) {
      case Opcode.Text:
      case Opcode.Binary:
      case Opcode.Continuation:
        return this.judgeDataFrame(fin, opcode, payload, rsv1);
      case Opcode.Ping:
        return this.emit({ kind: 'ping', data: payload });
      case Opcode.Pong:
        return this.emit({ kind: 'pong', data: payload });
      case Opcode.Close:
        return this.judgeClose(payload);
      default:
        // RFC 6455 5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved.
        this.violation(`${this.peer} sent reserved opcode 0x${opcode.toString(16)} (RFC 6455 5.2)`);
    }
  }

  private judgeDataFrame(fin: boolean, opcode: number, payload: Buffer, rsv1: boolean): void {
    // RFC 6455 5.5.1: "after sending a Close frame, the endpoint MUST NOT send any more data frames".
    if (this.closeSeen) this.violation(`${this.peer} sent a data frame after its Close frame (RFC 6455 5.5.1)`);
    if (opcode === Opcode.Continuation) {
      // RFC 6455 5.4: a continuation frame continues a fragmented message, and only then.
      if (this.messageOpcode === -1) {
        this.violation(`${this.peer} sent a continuation frame with no message to continue (RFC 6455 5.4)`);
        return;
      }
    } else {
      if (this.messageOpcode !== -1) {
        this.violation(`${this.peer} started a new message inside a fragmented one (RFC 6455 5.4)`);
        this.fragments = [];
      }
      this.messageOpcode = opcode;
      this.messageCompressed = rsv1 && this.deflate !== undefined;
    }
    this.fragments.push(payload);
    if (!fin) return;
    const data = this.fragments.length === 1 ? this.fragments[0] : Buffer.concat(this.fragments);
    const binary = this.messageOpcode === Opcode.Binary;
    const compressed = this.messageCompressed;
    this.messageOpcode = -1;
    this.messageCompressed = false;
    this.fragments = [];
    if (!compressed) return this.deliverMessage(binary, data);
    // RFC 7692 7.2.2: the payload of a compressed message is inflated before it is a message.
    const inflater = this.deflate as PeerInflater;
    this.delivery = this.delivery.then(async () => {
      const inflated = await inflater.inflate(data);
      if (inflated instanceof Error) {
        this.violation(`${this.peer} sent a compressed message that does not inflate: ${inflated.message} (RFC 7692 7.2.2)`);
        return;
      }
      this.deliverMessage(binary, inflated, true);
    });
  }

  /** Checks and delivers a message; `now` (inside the delivery chain) for an inflated one. */
  private deliverMessage(binary: boolean, data: Buffer, now = false): void {
    // RFC 6455 5.6 and 8.1: a text message is UTF-8 (RFC 7692: once inflated).
    if (!binary && !isValidUtf8(data)) this.violation(`${this.peer} sent a text message that is not valid UTF-8 (RFC 6455 5.6, 8.1)`);
    const event: WireEvent = now ? { kind: 'message', binary, data, compressed: true } : { kind: 'message', binary, data };
    if (now) this.emitNow(event);
    else this.emit(event);
  }

  private judgeClose(payload: Buffer): void {
    if (this.closeSeen) this.violation(`${this.peer} sent a second Close frame (RFC 6455 5.5.1)`);
    this.closeSeen = true;
    if (payload.length === 0) return this.emit({ kind: 'close', code: undefined, reason: '' });
    // RFC 6455 5.5.1: a body starts with a 2-byte code.
    if (payload.length === 1) {
      this.violation(`${this.peer} sent a Close frame with a 1-byte body (RFC 6455 5.5.1)`);
      return this.emit({ kind: 'close', code: undefined, reason: '' });
    }
    const code = payload.readUInt16BE(0);
    // RFC 6455 7.4: 1005, 1006 and 1015 MUST NOT be sent; 0-999 are not used; the rest of 1000-2999 is unassigned.
    if (!isValidCloseCode(code)) this.violation(`${this.peer} sent close code ${code}, which may not be sent (RFC 6455 7.4)`);
    const reason = payload.subarray(2);
    // RFC 6455 5.5.1: the reason is UTF-8.
    if (!isValidUtf8(reason)) this.violation(`${this.peer} sent a close reason that is not valid UTF-8 (RFC 6455 5.5.1)`);
    this.emit({ kind: 'close', code, reason: reason.toString('utf8') });
  }
}

// --- permessage-deflate on the suite's side (RFC 7692) ---------------------------------------

/** RSV1 alone, as the 3 bits 0bXYZ: permessage-deflate's "Per-Message Compressed" bit (RFC 7692 6). */
export const RSV1 = 0b100;
/** RFC 7692 7.2.1/7.2.2: compressed payloads leave off the empty stored block's last four bytes. */
export const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** The largest LZ77 window, and the default of both directions (RFC 7692 7.1.2). */
export const DEFAULT_WINDOW_BITS = 15;
/** Largest message the suite inflates from a peer; anything bigger is treated as an error. */
const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

/** What a server's answer agreed to (RFC 7692 7.1), in the RFC's terms. */
export interface DeflateAgreement {
  /** The server compresses each message on its own (7.1.1.1). */
  readonly serverNoContextTakeover: boolean;
  /** The client must compress each message on its own (7.1.1.2). */
  readonly clientNoContextTakeover: boolean;
  /** The window the server compresses with is at most 2^this (7.1.2.1). */
  readonly serverMaxWindowBits: number;
  /** The window the client compresses with is at most 2^this (7.1.2.2). */
  readonly clientMaxWindowBits: number;
}

/** How one side compresses under an agreement: its window, and whether it keeps context between messages. */
export interface SideCompression {
  readonly noContextTakeover: boolean;
  readonly windowBits: number;
}

export function compressionOf(agreement: DeflateAgreement, side: Side): SideCompression {
  return side === 'server'
    ? { noContextTakeover: agreement.serverNoContextTakeover, windowBits: agreement.serverMaxWindowBits }
    : { noContextTakeover: agreement.clientNoContextTakeover, windowBits: agreement.clientMaxWindowBits };
}

/**
 * Runs `bytes` through a zlib stream and flushes it (Z_SYNC_FLUSH), resolving with everything
 * the stream produced for them, or the stream's error.
 */
export function throughZlib(stream: InflateRaw | DeflateRaw, bytes: Buffer, maxOutput = MAX_INFLATED_BYTES): Promise<Buffer | Error> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: Buffer | Error): void => {
      stream.off('data', onData);
      stream.off('error', finish);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > maxOutput) finish(new Error(`more than ${maxOutput} bytes`));
    };
    stream.on('data', onData);
    stream.once('error', finish);
    stream.write(bytes);
    stream.flush(zlibConstants.Z_SYNC_FLUSH, () => finish(Buffer.concat(chunks, size)));
  });
}

/**
 * Inflates the peer's compressed messages as agreed. With context takeover one continuous
 * inflate stream reads every message of the connection, as the peer's one deflate stream
 * wrote them. With no_context_takeover for the peer's side each message gets a fresh stream, so
 * a peer that refers back to an earlier message anyway is caught (the data does not inflate).
 * The stream's window is the agreed max_window_bits of the peer's side; zlib checks a distance
 * against the window plus the output of the current call only, so with a window under 2^15 the
 * stream works in zlib's smallest output chunks: a reference further back than the agreed
 * window (by more than that chunk) is caught too ("invalid distance too far back").
 */
class PeerInflater {
  private stream: InflateRaw | undefined;
  private failed = false;

  constructor(private readonly peer: SideCompression) {}

  async inflate(compressed: Buffer): Promise<Buffer | Error> {
    if (this.failed) return new Error('an earlier message already failed to inflate');
    if (this.stream === undefined || this.peer.noContextTakeover) {
      this.stream?.close();
      const windowBits = this.peer.windowBits;
      this.stream = createInflateRaw({ windowBits, chunkSize: windowBits < DEFAULT_WINDOW_BITS ? zlibConstants.Z_MIN_CHUNK : undefined });
    }
    // RFC 7692 7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the payload".
    const result = await throughZlib(this.stream, Buffer.concat([compressed, DEFLATE_TAIL]));
    if (result instanceof Error) {
      this.failed = true;
      this.stream.close();
    }
    return result;
  }
}

// --- Targets and connections ------------------------------------------------------------------

/** Where the server under test listens. */
export interface Target {
  host: string;
  port: number;
  /** The resource name, e.g. `/ws`. */
  path: string;
  /** The Host header, host[:port] as in the URL. */
  authority: string;
}

/** Reads a `ws://host:port/path` URL. The suite speaks plain TCP only (no wss://). */
export function parseTarget(url: string): Target {
  const parsed = new URL(url);
  if (parsed.protocol !== 'ws:') throw new Error(`only ws:// URLs are supported, not ${parsed.protocol}//`);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  return {
    host,
    port: parsed.port === '' ? 80 : Number(parsed.port),
    path: (parsed.pathname === '' ? '/' : parsed.pathname) + parsed.search,
    authority: parsed.host,
  };
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An HTTP response as read off a raw socket. */
export interface RawResponse {
  head: ResponseHead;
  /** Bytes after the head (a body, or frames after a 101). */
  rest: Buffer;
}

/**
 * One raw TCP connection: to a server under test (bytes in and out, the opening handshake by
 * hand), or from a client under test (after its request was read); either way the peer's frames
 * go through the strict reader as a queue of events.
 */
export class RawConnection {
  readonly reader: StrictFrameReader;
  private readonly events: WireEvent[] = [];
  private waiter: (() => void) | undefined;
  private upgraded = false;
  private headBytes: Buffer = Buffer.alloc(0);
  private headWaiter: ((response: RawResponse | Error) => void) | undefined;
  private tcpClosed = false;
  /** Every event, for the report of a case. */
  readonly log: string[] = [];

  private constructor(
    readonly socket: Socket,
    peer: Side,
  ) {
    this.reader = new StrictFrameReader(peer, (event) => this.push(event));
    // A client's bytes after its request are frames (the request was read already).
    this.upgraded = peer === 'client';
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {
      // ECONNRESET and EPIPE: the 'close' event follows and reports it.
    });
    socket.on('close', (hadError: boolean) => {
      this.tcpClosed = true;
      this.headWaiter?.(new Error('connection closed before a complete HTTP response'));
      this.headWaiter = undefined;
      // After whatever the reader is still inflating.
      this.reader.emit({ kind: 'tcp-closed', reset: hadError });
    });
  }

  /** Opens a TCP connection (no handshake yet). */
  static open(target: Target, timeoutMs: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: target.host, port: target.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`could not connect to ${target.host}:${target.port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RawConnection(socket, 'server'));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /**
   * Takes over the socket of a client under test whose opening handshake request was read (by
   * node:http): what it sends from now on is judged as a client's frames. `head`, bytes that came
   * after the request, is pushed too (a client must wait for the 101 before sending any, RFC 6455
   * 4.1; the caller judges that).
   */
  static adopt(socket: Socket, head: Buffer): RawConnection {
    const connection = new RawConnection(socket, 'client');
    // node:http's sockets are half-open: when the client ends its side, end ours, so that
    // 'close' (and the tcp-closed event) follows as on any other socket.
    socket.on('end', () => socket.end());
    if (head.length > 0) connection.reader.push(head);
    return connection;
  }

  get closed(): boolean {
    return this.tcpClosed;
  }

  /** Closes our side of TCP (FIN), as a server does at the end of the closing handshake. */
  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  private onData(chunk: Buffer): void {
    if (this.upgraded) {
      this.reader.push(chunk);
      return;
    }
    this.headBytes = Buffer.concat([this.headBytes, chunk]);
    const head = parseResponseHead(this.headBytes);
    if (head === undefined) return;
    const waiter = this.headWaiter;
    this.headWaiter = undefined;
    if (head instanceof Error) return waiter?.(head);
    const rest = this.headBytes.subarray(head.headLength);
    if (head.status === 101) {
      this.upgraded = true;
      if (rest.length > 0) this.reader.push(rest);
      waiter?.({ head, rest: Buffer.alloc(0) });
    } else {
      waiter?.({ head, rest });
    }
  }

  private push(event: WireEvent): void {
    this.log.push(describeEvent(event));
    this.events.push(event);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  /** Writes bytes as they are. Ignores a connection the peer already closed. */
  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(bytes);
  }

  /** Writes `bytes` in pieces of `chunkSize`, pausing `delayMs` between them, so the peer reads them apart. */
  async writeChopped(bytes: Uint8Array, chunkSize: number, delayMs: number): Promise<void> {
    for (let offset = 0; offset < bytes.length; offset += chunkSize) {
      this.write(bytes.subarray(offset, offset + chunkSize));
      await sleep(delayMs);
    }
  }

  /** Sends an HTTP request and resolves with the response head (101 or not), or an Error. */
  request(text: string | Buffer, timeoutMs: number): Promise<RawResponse | Error> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.headWaiter = undefined;
        resolve(new Error(`no HTTP response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.headWaiter = (response) => {
        clearTimeout(timer);
        resolve(response);
      };
      this.write(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
    });
  }

  /**
   * The normal opening handshake (RFC 6455 4.1), checking the answer as a client MUST.
   * `firstFrames` go out in the same write as the request. Resolves with an Error on refusal.
   */
  async handshake(target: Target, timeoutMs: number, firstFrames?: Buffer): Promise<undefined | Error> {
    const result = await this.openingHandshake(target, timeoutMs, { firstFrames });
    if (result instanceof Error) return result;
    return result.verified instanceof Error ? result.verified : undefined;
  }

  /**
   * The opening handshake with an optional Sec-WebSocket-Extensions offer: resolves with the
   * response (101 or not) and the client's check of it (RFC 6455 4.1), or an Error when no
   * response came.
   */
  async openingHandshake(
    target: Target,
    timeoutMs: number,
    options: { extensions?: string; firstFrames?: Buffer } = {},
  ): Promise<{ response: RawResponse; verified: ServerHandshake | Error } | Error> {
    const key = generateClientKey();
    const request = Buffer.from(buildClientRequest({ host: target.authority, path: target.path, key, extensions: options.extensions }), 'latin1');
    const response = await this.request(options.firstFrames === undefined ? request : Buffer.concat([request, options.firstFrames]), timeoutMs);
    if (response instanceof Error) return response;
    return { response, verified: verifyServerResponse(response.head, key, { extensions: options.extensions !== undefined }) };
  }

  /** The next event, or undefined after `timeoutMs`. Server Pings are skipped unless `includePings`. */
  async next(timeoutMs: number, includePings = false): Promise<WireEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.events.length > 0) {
        const event = this.events.shift() as WireEvent;
        if (event.kind === 'ping' && !includePings) continue;
        return event;
      }
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Waits for the TCP connection to close; true if it did within `timeoutMs`. Discards other events. */
  async waitForTcpClose(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.tcpClosed) return true;
      const event = await this.next(deadline - Date.now(), true);
      if (event === undefined) return this.tcpClosed;
      if (event.kind === 'tcp-closed') return true;
    }
  }

  /** Ends the connection for good. */
  destroy(): void {
    this.socket.destroy();
  }
}
