/**
 * One WebSocket connection: the I/O shell around the sans-I/O `Receiver`. It owns the socket
 * and the timers: it writes frames with bounded buffering, answers pings, runs the closing
 * handshake, and cleans up however the connection ends.
 *
 * RFC 6455 sections: 5.5.2 and 5.5.3 (answer a Ping with a Pong, only the latest while the
 * peer is not reading), 5.5.1 and 7.1.1-7.1.4 (closing handshake: echo the peer's Close, the
 * server closes TCP first), 7.1.7 (failing the connection), 7.1.5 and 7.4.1 (1005 and 1006 as
 * reported codes, never sent).
 *
 * A hostile peer must not hurt its neighbours, so everything a peer can make this side do is
 * bounded: what waits to be sent to it is counted as memory, each queued write included
 * (`maxSendBuffer`); a Ping flood from a peer that does not read gets one Pong at a time; and
 * one read full of tiny frames is handled a slice at a time (`framesPerTurn`), taking turns with
 * every other connection.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import {
  type CloseInfo,
  CloseCode,
  encodeCloseFrame,
  encodeFrame,
  encodeFrameHeader,
  encodeTextFrame,
  isValidCloseCode,
  LENGTH_16_MARKER,
  LENGTH_64_MARKER,
  type MessageDeflater,
  type MessageInflater,
  Opcode,
  PAYLOAD_LENGTH_MASK,
  type ProtocolError,
  protocolError,
  Receiver,
  type ReceiverHandler,
  type ReceiverOptions,
} from '../../protocol/index.js';
import { ServerDefaults } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { Transport, TransportKind } from './transport.js';

/** Connection states, numbered as the browser's `WebSocket.readyState` (there is no CONNECTING here). */
export const ReadyState = { Open: 1, Closing: 2, Closed: 3 } as const;
export type ReadyState = (typeof ReadyState)[keyof typeof ReadyState];

/**
 * Options of one connection; the server fills them from its own. The connection keeps this
 * object and reads it as it goes (so one object can serve many connections): don't change it
 * afterwards.
 */
export interface ConnectionOptions {
  maxMessageSize?: number;
  sendHighWaterMark?: number;
  maxSendBuffer?: number;
  closeTimeout?: number;
  /** The subprotocol agreed in the handshake. */
  protocol?: string;
  /** Counters to update; a private set when omitted. */
  metrics?: Metrics;
  /** See `ReceiverOptions.observeFrame`: every received frame, before it is interpreted. */
  observeFrame?: ReceiverOptions['observeFrame'];
  /** permessage-deflate, when negotiated. */
  compression?: ConnectionCompression;
  /** The handshake's Sec-WebSocket-Extensions answer, if it had one (see `WebSocketConnection.extensions`). */
  extensions?: string;
}

/** permessage-deflate for one connection, as negotiated (RFC 7692). */
export interface ConnectionCompression {
  /** Compresses what this side sends. */
  readonly deflater: MessageDeflater;
  /** Inflates what the peer sends. */
  readonly inflater: MessageInflater;
  /** Messages below this many bytes go uncompressed. */
  readonly threshold: number;
}

/**
 * A message framed once, to be sent to many connections with `sendPrepared`: the broadcast
 * bytes are built once and the same buffer is written to every socket. With permessage-deflate
 * the compressed frame is also built once per window size, for every peer without context
 * takeover (RFC 7692 7.1.1), and lazily: only if some recipient negotiated compression.
 */
export class PreparedMessage {
  /** The uncompressed frame. */
  readonly frame: Buffer;
  readonly payload: Uint8Array;
  readonly opcode: number;
  /** False when the sender opted out of compression (RFC 7692 10: secrets next to attacker-chosen text). */
  readonly compressible: boolean;
  private readonly compressedFrames = new Map<number, Buffer>();

  constructor(payload: Uint8Array, opcode: number, compressible: boolean) {
    this.payload = payload;
    this.opcode = opcode;
    this.compressible = compressible;
    this.frame = encodeFrame(opcode, payload);
  }

  get payloadLength(): number {
    return this.payload.length;
  }

  /** The compressed frame for peers sharing `deflater`'s window size; `deflater` must keep no context. */
  compressedFrame(deflater: MessageDeflater): Buffer {
    let frame = this.compressedFrames.get(deflater.windowBits);
    if (frame === undefined) {
      frame = encodeFrame(this.opcode, deflater.compress(this.payload), { rsv1: true });
      this.compressedFrames.set(deflater.windowBits, frame);
    }
    return frame;
  }
}

/** Frames a message once for sending to any number of connections. */
export function prepareMessage(data: string | Uint8Array, isBinary: boolean, options: SendOptions = {}): PreparedMessage {
  const payload = typeof data === 'string' ? Buffer.from(data) : data;
  return new PreparedMessage(payload, isBinary ? Opcode.Binary : Opcode.Text, options.compress !== false);
}

/** Per-message choices when sending. */
export interface SendOptions {
  /**
   * Set false to never compress this message, e.g. one that mixes a secret with text an
   * attacker controls, where compressed sizes would leak the secret (RFC 7692 10).
   */
  compress?: boolean;
}

/** Payloads at least this large are written after their header rather than copied into one frame buffer. */
const WRITE_PAYLOAD_SEPARATELY_BYTES = 64 * 1024;

const PING_FRAME = encodeFrame(Opcode.Ping, Buffer.alloc(0));
/** An empty write, to be told when everything queued before it has been written (see `awaitFlush`). */
const NOTHING = Buffer.alloc(0);

/** Payload length of an unmasked frame built by the serializer, read back from its header size. */
function unmaskedPayloadLength(frame: Buffer): number {
  const length7 = frame[1] & PAYLOAD_LENGTH_MASK;
  return frame.length - (length7 === LENGTH_16_MARKER ? 4 : length7 === LENGTH_64_MARKER ? 10 : 2);
}

const kConnection = Symbol('framecast.connection');
/** The transport (a socket, or an HTTP/2 stream's adapter), which finds its connection for the shared listeners. */
interface ConnectionSocket extends Transport {
  [kConnection]?: WebSocketConnection;
}

let nextConnectionId = 1;

/** The options of a connection created without any: every default. */
const NO_OPTIONS: ConnectionOptions = {};

/**
 * An open WebSocket connection.
 *
 * Events:
 * - `message` (data: Buffer, isBinary: boolean): a complete message.
 * - `ping` (payload: Buffer), `pong` (payload: Buffer): control frames (pings are answered already).
 * - `drain` (): the send buffer fell below the high-water mark after `send` returned false.
 * - `close` (code: number, reason: string): the connection is gone. `code` is the peer's close
 *   code, the code this side failed the connection with, or 1006 when it ended without either.
 */
export class WebSocketConnection extends EventEmitter implements ReceiverHandler {
  /** A number unique within this process, for logs. */
  readonly id = nextConnectionId++;
  readonly remoteAddress: string | undefined;
  /** How the WebSocket came: an HTTP/1.1 Upgrade, or an HTTP/2 extended CONNECT (RFC 8441). */
  readonly transport: TransportKind;
  readyState: ReadyState = ReadyState.Open;
  /** Set by the server's heartbeat: false until the peer sends something after the last ping. */
  heardFrom = true;

  private readonly socket: ConnectionSocket;
  /**
   * The options as given, kept rather than copied field by field: a server passes one object
   * shared by all its connections that negotiated nothing of their own (see WebSocketServer).
   */
  private readonly options: ConnectionOptions;
  /**
   * Created by the first bytes from the peer. An idle connection (a push subscriber that has
   * not sent anything yet) holds no parser state: no frame header, chunk queue, fragment buffer
   * or UTF-8 validator.
   */
  private receiver: Receiver | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private closeFrameSent = false;
  /** The socket is corked for broadcasts until this turn of the event loop ends (see `sendPrepared`). */
  private corkedForBroadcast = false;
  /** In `receive`: the first reply to this read goes out at once, the socket is corked after it. */
  private corkAfterFirstReply = false;
  private needDrain = false;
  private closeCode: number = CloseCode.AbnormalClosure;
  private closeReason = '';
  /** Writes handed to the socket (see `write`), numbered from 1. */
  private writesIssued = 0;
  /** Callbacks the socket has made for them, in order: the first this many have gone (or failed). */
  private writeCallbacks = 0;
  /**
   * Writes known to have gone before their callbacks came: all of them, whenever no byte was
   * waiting (the socket calls back on a later tick even for a write that went at once).
   */
  private writesSettled = 0;
  /** The socket's callback for each of our writes: it has gone to the operating system (or failed). */
  private readonly writeDone = (): void => {
    if (++this.writeCallbacks === this.pongWaitingFor) this.pongLeft();
  };
  /** Bytes waiting in the socket when it was last corked (see `cork`): what the peer had not read then. */
  private backlogAtCork = 0;
  /**
   * While the peer is not reading: the number of the write (see `writesIssued`) that holds the
   * Pong waiting to go out, else 0. Until it has gone, later Pings are held, not answered.
   */
  private pongWaitingFor = 0;
  /** The payload of the latest Ping held meanwhile, to be answered when that Pong has gone. */
  private heldPing: Buffer | undefined;
  /** Pings held since the peer last caught up with what it was sent (see `ServerDefaults.maxUnansweredPings`). */
  private pingsHeld = 0;
  /** Bytes read after the receiver stopped (see `discard`). */
  private bytesDiscarded = 0;
  /** The turn of the event loop this connection last read in, and its receiver's frame count then. */
  private inputTurn = -1;
  private framesAtTurnStart = 0;

  /**
   * Takes over `socket` right after the handshake's answer was written: a TCP socket after 101,
   * or an HTTP/2 stream after 200 (see transport.ts). `head` holds bytes that arrived with the
   * handshake, which are already frames.
   */
  constructor(socket: Transport, head: Buffer, options: ConnectionOptions = NO_OPTIONS) {
    super();
    this.socket = socket;
    this.options = options;
    this.remoteAddress = socket.remoteAddress;
    this.transport = socket.kind ?? 'http1';

    this.socket[kConnection] = this;
    if (isSocket(socket)) {
      socket.setNoDelay(true);
      socket.setTimeout(0);
    }
    // Bytes that came with the handshake are read first, once listeners are attached and
    // the socket starts flowing (on a later tick, so the caller can add 'message' listeners).
    if (head.length > 0) socket.unshift(head);
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    socket.on('drain', onSocketDrain);
    const metrics = options.metrics;
    if (metrics !== undefined) {
      metrics.connectionsOpen++;
      metrics.connectionsOpened++;
      if (this.transport === 'http2') metrics.connectionsOpenedHttp2++;
    }
  }

  /** The subprotocol agreed in the handshake. */
  get protocol(): string | undefined {
    return this.options.protocol;
  }

  /**
   * The extensions in use: the Sec-WebSocket-Extensions value the server answered with
   * (RFC 6455 9.1), e.g. `permessage-deflate; server_no_context_takeover; client_no_context_takeover`,
   * or '' when none was agreed.
   */
  get extensions(): string {
    return this.options.extensions ?? '';
  }

  /** Bytes written but not yet handed to the operating system. */
  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  /**
   * Writes (frames, or a large payload's header and payload) not yet handed to the operating
   * system. Each costs memory beyond its bytes; see `ServerDefaults.queuedWriteBytes`.
   */
  get queuedWrites(): number {
    if (this.socket.writableLength === 0) this.writesSettled = this.writesIssued;
    return this.writesIssued - Math.max(this.writesSettled, this.writeCallbacks);
  }

  /**
   * Whether a reply to something the peer sent should be queued now. False when the connection
   * is not open, or while what already waits for the peer is over the high-water mark, counted
   * as memory like `maxSendBuffer` (bytes plus the cost of each queued write): the peer is not
   * reading. Code that answers the peer's requests one by one (an error for each bad command, a
   * report for each frame) asks this first and drops or merges its replies while it is false;
   * then a peer that sends without reading cannot make the server queue a reply per request
   * without bound: `send` alone would queue up to `maxSendBuffer` before dropping it.
   */
  mayQueueReply(): boolean {
    return this.readyState === ReadyState.Open && this.queuedBytes() <= this.sendHighWaterMark;
  }

  /**
   * Sends a message: a string as text, bytes as binary. `binary` overrides that: `false` sends
   * bytes as text (they must be UTF-8), `true` sends a string's UTF-8 as binary. Returns false
   * when the send buffer is over its high-water mark (wait for `drain`) or the connection is
   * not open. Don't modify `data` after sending it: large payloads are written without a copy.
   */
  send(data: string | Uint8Array, binary: boolean = typeof data !== 'string', options?: SendOptions): boolean {
    if (this.readyState !== ReadyState.Open) return false;
    const compression = this.options.compression;
    // Text that will not be compressed is encoded straight into its frame: no intermediate copy.
    // A UTF-16 code unit takes at most 3 bytes of UTF-8, which bounds the size without encoding.
    const mayCompress =
      compression !== undefined && options?.compress !== false && (typeof data !== 'string' || data.length * 3 >= compression.threshold);
    if (typeof data === 'string' && !binary && !mayCompress) {
      const frame = encodeTextFrame(data);
      return this.writeMessage(frame, unmaskedPayloadLength(frame));
    }
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    const opcode = binary ? Opcode.Binary : Opcode.Text;
    if (compression !== undefined && mayCompress && payload.length >= compression.threshold) {
      // RFC 7692 6.1: a compressed message has RSV1 set on its first (here only) frame.
      return this.writeMessage(encodeFrame(opcode, compression.deflater.compress(payload), { rsv1: true }), payload.length);
    }
    return this.sendPayload(opcode, payload);
  }

  /**
   * Sends a message framed once by `prepareMessage` (a broadcast): the same bytes to every
   * recipient. Broadcasts are corked until the end of this turn of the event loop (setImmediate),
   * after every socket read in it was handled: several messages published to this peer in the
   * meantime leave in one write system call rather than one each.
   */
  sendPrepared(message: PreparedMessage): boolean {
    if (this.readyState !== ReadyState.Open) return false;
    if (!this.corkedForBroadcast) {
      this.corkedForBroadcast = true;
      this.cork();
      corkedConnections.push(this);
      scheduleTurnEnd();
    }
    const compression = this.options.compression;
    let frame: Buffer;
    if (compression === undefined || !message.compressible || message.payloadLength < compression.threshold) {
      frame = message.frame;
    } else if (compression.deflater.noContextTakeover) {
      frame = message.compressedFrame(compression.deflater);
    } else {
      // With context takeover each peer's compressor has its own history: compress for this one.
      frame = encodeFrame(message.opcode, compression.deflater.compress(message.payload), { rsv1: true });
    }
    return this.writeMessage(frame, message.payloadLength);
  }

  /** Sends a Ping (RFC 6455 5.5.2); the peer must answer with a Pong. */
  ping(payload?: Uint8Array): void {
    if (this.readyState !== ReadyState.Open) return;
    this.write(payload === undefined || payload.length === 0 ? PING_FRAME : encodeFrame(Opcode.Ping, payload));
  }

  /**
   * Starts the closing handshake (RFC 6455 7.1.2): sends a Close frame and waits up to the close
   * timeout for the peer's, then destroys the socket. Throws on codes that may not be sent.
   */
  close(code: number = CloseCode.Normal, reason = ''): void {
    if (!isValidCloseCode(code)) throw new RangeError(`close code ${code} may not be sent (RFC 6455 7.4)`);
    if (this.readyState !== ReadyState.Open) return;
    this.closeCode = code;
    this.closeReason = reason;
    this.sendCloseFrame(code, reason);
    this.readyState = ReadyState.Closing;
    this.startCloseTimer();
  }

  /** Destroys the socket at once, without a closing handshake. */
  terminate(): void {
    this.socket.destroy();
  }

  // --- ReceiverHandler: what the protocol core reports -------------------------------------

  /** @internal */
  onMessage(data: Buffer, isBinary: boolean): void {
    const metrics = this.options.metrics;
    if (metrics !== undefined) {
      metrics.messagesReceived++;
      metrics.bytesReceived += data.length;
    }
    this.emit('message', data, isBinary);
  }

  /** @internal */
  onPing(payload: Buffer): void {
    if (this.readyState === ReadyState.Open) {
      if (this.pongWaitingFor === 0) this.writePong(payload);
      else this.holdPing(payload);
    }
    this.emit('ping', payload);
  }

  /**
   * RFC 6455 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
   * response ... It SHOULD respond with Pong frame as soon as is practical." Same payload (5.5.3).
   */
  private writePong(payload: Buffer): void {
    const pong = encodeFrame(Opcode.Pong, payload);
    this.write(pong);
    this.replyWritten();
    // Behind what the peer has not read, this Pong waits; until it goes, later Pings are held.
    // With nothing before it, the peer has caught up: the count of pings held starts again.
    if (this.peerIsBehind()) this.pongWaitingFor = this.writesIssued;
    else this.pingsHeld = 0;
    this.checkSendBuffer(pong.length + ServerDefaults.queuedWriteBytes);
  }

  /**
   * A Ping while our Pong to an earlier one still waits for the peer to read. RFC 6455 5.5.3:
   * "If an endpoint receives a Ping frame and has not yet sent Pong frame(s) in response to
   * previous Ping frame(s), the endpoint MAY elect to send a Pong frame for only the most
   * recently processed Ping frame." So only the latest is kept: a peer that sends pings and
   * never reads makes the server queue one Pong, not one per Ping. Past a limit it is closed.
   */
  private holdPing(payload: Buffer): void {
    const limit = ServerDefaults.maxUnansweredPings;
    if (++this.pingsHeld > limit) {
      this.heldPing = undefined;
      this.onError(protocolError('PING_FLOOD', `more than ${limit} pings while the pongs were not read`));
      return;
    }
    // A copy: the payload may be a view of a whole socket read, which should not be kept for it.
    this.heldPing = Buffer.from(payload);
  }

  /**
   * The waiting Pong has gone to the operating system: answer the Ping held meanwhile. (The
   * pings held are still counted: the peer may be reading a little, or its kernel may be making
   * room, while it keeps pinging far faster. The count starts again once it has caught up.)
   */
  private pongLeft(): void {
    this.pongWaitingFor = 0;
    const held = this.heldPing;
    this.heldPing = undefined;
    if (held !== undefined && this.readyState === ReadyState.Open) this.writePong(held);
  }

  /** @internal */
  onPong(payload: Buffer): void {
    this.emit('pong', payload);
  }

  /** @internal */
  onClose(info: CloseInfo): void {
    this.closeCode = info.code;
    this.closeReason = info.reason;
    // RFC 6455 5.5.1: "If an endpoint receives a Close frame and did not previously send a Close
    // frame, the endpoint MUST send a Close frame in response", typically echoing the code.
    // 1005 means the peer sent no code, so the answer carries none either.
    if (!this.closeFrameSent) {
      this.sendCloseFrame(info.code === CloseCode.NoStatusReceived ? undefined : info.code, '');
    }
    this.readyState = ReadyState.Closing;
    // RFC 6455 7.1.1: "the server SHOULD close the underlying TCP connection first".
    this.socket.end();
    this.startCloseTimer();
  }

  /** @internal */
  onError(error: ProtocolError): void {
    this.options.metrics?.countProtocolError(error.code);
    this.fail(error.closeCode, error.reason);
  }

  // --- Internals -----------------------------------------------------------------------------

  /** @internal Bytes from the socket. */
  receive(chunk: Buffer): void {
    this.heardFrom = true;
    const receiver = this.receiver ?? this.createReceiver();
    if (receiver.stopped) return this.discard(chunk);
    // Replies produced while reading this chunk (echoes, pongs) leave in one write rather than
    // one write each. But the first socket read of a turn of the event loop, which is every read
    // of a server that is not busy, sends its first reply at once and batches the rest: the
    // peer gets on with that reply while the rest are made, rather than both sides taking turns
    // to wait. (Measured on echo at 1 connection, 16 messages in flight, in the same rounds as
    // the build that batched every reply: 1.63x plain ws's messages/s against 0.93x. A busy
    // server has many reads a turn and still batches; at 64 and 512 connections no cost was seen.)
    if (isFirstReadOfTurn()) this.corkAfterFirstReply = true;
    else this.cork();
    let more = false;
    try {
      more = receiver.push(chunk, this.framesLeftThisTurn(receiver));
    } finally {
      // Even when a 'message' listener threw, the socket must not stay corked.
      // (Still set: nothing was written, so nothing was corked.)
      if (this.corkAfterFirstReply) this.corkAfterFirstReply = false;
      else this.socket.uncork();
    }
    if (more || this.framesLeftThisTurn(receiver) <= 0) this.yieldInput();
  }

  /**
   * How many more frames this connection may read in this turn of the event loop
   * (`ServerDefaults.framesPerTurn` a turn, over all its reads: the event loop reads a socket
   * with plenty waiting up to 32 times in a row, 64 KiB each).
   */
  private framesLeftThisTurn(receiver: Receiver): number {
    if (this.inputTurn !== turnNumber) {
      this.inputTurn = turnNumber;
      this.framesAtTurnStart = receiver.framesRead;
    }
    return ServerDefaults.framesPerTurn - (receiver.framesRead - this.framesAtTurnStart);
  }

  /**
   * This turn's frames are used up (`ServerDefaults.framesPerTurn`): stop reading the socket and
   * read on in the next turn of the event loop, after the other connections' reads. A flood of
   * tiny frames then costs its sender the wait, not its neighbours. Meanwhile the peer's further
   * bytes wait in the kernel's buffers, and then in the peer's own.
   */
  private yieldInput(): void {
    this.socket.pause();
    setImmediate(continueInput, this);
  }

  /** @internal The turn after `yieldInput`: the next slice of the frames kept, then the socket reads again. */
  continueInput(): void {
    const receiver = this.receiver;
    if (receiver === undefined || this.readyState === ReadyState.Closed) return;
    // A callback of its own, so a later turn than the one that yielded: a new budget, whether or
    // not that turn has been counted yet (see `endTurn`).
    this.inputTurn = turnNumber;
    this.framesAtTurnStart = receiver.framesRead;
    this.cork();
    let more = false;
    try {
      more = receiver.resume(ServerDefaults.framesPerTurn);
    } finally {
      this.socket.uncork();
      if (more) setImmediate(continueInput, this);
      else this.socket.resume();
    }
  }

  /**
   * Bytes after the peer's Close, or after this side failed the connection: RFC 6455 7.1.7, "An
   * endpoint MUST NOT continue to attempt to process data ... after being instructed to _Fail
   * the WebSocket Connection_". They are read only so that the peer's end of stream can come;
   * past `maxBytesAfterClose` (a flood that does not stop at the Close) they are not read and
   * thrown away until the close timeout. Once our Close has gone, the socket is destroyed; while
   * it still waits behind what the peer has not read, the socket is no longer read instead: the
   * flooder's writes block, and the close timeout ends the connection if it never reads.
   */
  private discard(chunk: Buffer): void {
    this.bytesDiscarded += chunk.length;
    if (this.bytesDiscarded <= ServerDefaults.maxBytesAfterClose) return;
    if (this.peerIsBehind()) this.socket.pause();
    else this.socket.destroy();
  }

  /** Called after each reply written: in `receive`, corks the socket after the first one. */
  private replyWritten(): void {
    if (this.corkAfterFirstReply) {
      this.corkAfterFirstReply = false;
      this.cork();
    }
  }

  /** Corks the socket, noting from the outermost cork what the peer had not read by then (see `peerIsBehind`). */
  private cork(): void {
    if (this.socket.writableCorked === 0) this.backlogAtCork = this.socket.writableLength;
    this.socket.cork();
  }

  /**
   * Whether bytes sent before still wait for the peer to read them. What our own cork holds
   * back in this turn does not count: it leaves as soon as the cork is let go.
   */
  private peerIsBehind(): boolean {
    return (this.socket.writableCorked === 0 ? this.socket.writableLength : this.backlogAtCork) > 0;
  }

  /** Every frame leaves through here, counted until the socket is done with it (see `queuedWrites`). */
  private write(bytes: Uint8Array): void {
    this.writesIssued++;
    this.socket.write(bytes, this.writeDone);
  }

  /** What waits to be sent, as memory: its bytes plus `queuedWriteBytes` for each queued write. */
  private queuedBytes(): number {
    return this.socket.writableLength + this.queuedWrites * ServerDefaults.queuedWriteBytes;
  }

  private createReceiver(): Receiver {
    const options = this.options;
    this.receiver = new Receiver(this, {
      role: 'server',
      maxMessageSize: options.maxMessageSize ?? ServerDefaults.maxMessageSize,
      maxFragmentsPerMessage: ServerDefaults.maxFragmentsPerMessage,
      observeFrame: options.observeFrame,
      inflater: options.compression?.inflater,
    });
    return this.receiver;
  }

  private sendPayload(opcode: number, payload: Uint8Array): boolean {
    if (payload.length < WRITE_PAYLOAD_SEPARATELY_BYTES) return this.writeMessage(encodeFrame(opcode, payload), payload.length);
    const header = encodeFrameHeader(opcode, payload.length);
    this.cork();
    this.write(header);
    this.write(payload);
    this.socket.uncork();
    return this.afterWrite(payload.length, header.length + payload.length + 2 * ServerDefaults.queuedWriteBytes);
  }

  private writeMessage(frame: Buffer, payloadLength: number): boolean {
    this.write(frame);
    return this.afterWrite(payloadLength, frame.length + ServerDefaults.queuedWriteBytes);
  }

  /**
   * Counts a sent message (`payloadLength` before compression) and checks what was just queued
   * (`queuedCost`: its bytes and writes, counted as `queuedBytes` counts them).
   */
  private afterWrite(payloadLength: number, queuedCost: number): boolean {
    this.replyWritten();
    const metrics = this.options.metrics;
    if (metrics !== undefined) {
      metrics.messagesSent++;
      metrics.bytesSent += payloadLength;
    }
    return this.checkSendBuffer(queuedCost);
  }

  /**
   * Enforces the send buffer bound; says whether the caller may keep sending. The bound applies
   * to what was still waiting when `justQueued` (a frame's bytes and writes, as `queuedBytes`
   * counts them) was added: a peer is slow when earlier messages have piled up, not because one
   * message is larger than the bound (a message of up to `maxMessageSize` can always be sent).
   * So a connection holds at most `maxSendBuffer` plus one message.
   */
  private checkSendBuffer(justQueued: number): boolean {
    const maxSendBuffer = this.options.maxSendBuffer ?? ServerDefaults.maxSendBuffer;
    let buffered = this.queuedBytes();
    // Bytes our own cork holds back until the end of this turn (batched replies, broadcasts)
    // say nothing about how fast the peer reads: hand them to the operating system first, and
    // judge the peer by what is still waiting after that.
    if (buffered - justQueued > maxSendBuffer && this.socket.writableCorked > 0) buffered = this.flushCorked();
    // Checked before the high-water mark, so the bound holds even when it is set below that mark.
    if (buffered - justQueued > maxSendBuffer) {
      this.dropSlowConsumer();
      return false;
    }
    if (buffered <= this.sendHighWaterMark) return true;
    if (!this.needDrain) {
      this.needDrain = true;
      if (!this.socket.writableNeedDrain) this.awaitFlush();
    }
    return false;
  }

  /** `send()` returns false past this many waiting bytes. */
  private get sendHighWaterMark(): number {
    return this.options.sendHighWaterMark ?? ServerDefaults.sendHighWaterMark;
  }

  /**
   * Emits 'drain' once what is queued now has gone to the operating system. The socket emits its
   * own 'drain' only past its own high-water mark (16 KiB by default); for a `sendHighWaterMark`
   * below that, an empty write queued behind everything else says when: its callback runs once
   * all the bytes before it have been written. (Only when send() first returns false.)
   */
  private awaitFlush(): void {
    this.socket.write(NOTHING, (error?: Error | null) => {
      // A failed write means the socket is gone (terminated, reset): no 'drain' for it.
      if (error || this.socket.destroyed || this.readyState !== ReadyState.Open) return;
      if (this.socket.writableNeedDrain) return; // the socket's own 'drain' will come
      if (this.queuedBytes() > this.sendHighWaterMark) this.awaitFlush();
      else this.drained();
    });
  }

  /**
   * Writes out what the socket's cork holds back, then corks it again as deeply as before, so
   * the rest of this turn still batches; returns what is still waiting after that (`queuedBytes`).
   */
  private flushCorked(): number {
    const socket = this.socket;
    const depth = socket.writableCorked;
    for (let i = 0; i < depth; i++) socket.uncork();
    for (let i = 0; i < depth; i++) this.cork();
    return this.queuedBytes();
  }

  /**
   * The peer reads too slowly: its send buffer passed the limit. A Close frame would wait behind
   * megabytes it does not read, so the socket is destroyed at once and the close counted as 1008.
   */
  private dropSlowConsumer(): void {
    if (this.options.metrics !== undefined) this.options.metrics.slowConsumersDropped++;
    this.closeCode = CloseCode.PolicyViolation;
    this.closeReason = 'send buffer overflow: the client reads too slowly';
    this.readyState = ReadyState.Closing;
    this.receiver?.stop();
    this.socket.destroy();
  }

  /** RFC 6455 7.1.7: _Fail the WebSocket Connection_: send a Close with the code, then close TCP. */
  private fail(code: number, reason: string): void {
    this.closeCode = code;
    this.closeReason = reason;
    if (!this.closeFrameSent) this.sendCloseFrame(code, reason);
    this.readyState = ReadyState.Closing;
    this.receiver?.stop();
    this.socket.end();
    this.startCloseTimer();
  }

  private sendCloseFrame(code: number | undefined, reason: string): void {
    this.closeFrameSent = true;
    if (!this.socket.destroyed) this.write(encodeCloseFrame(code, reason));
  }

  private startCloseTimer(): void {
    if (this.closeTimer !== undefined) return;
    this.closeTimer = setTimeout(destroySocket, this.options.closeTimeout ?? ServerDefaults.closeTimeout, this.socket);
    this.closeTimer.unref();
  }

  /** @internal The socket is gone: settle state and tell listeners once. */
  finish(): void {
    if (this.readyState === ReadyState.Closed) return;
    this.readyState = ReadyState.Closed;
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    this.receiver?.stop();
    this.heldPing = undefined;
    this.socket[kConnection] = undefined;
    const metrics = this.options.metrics;
    if (metrics !== undefined) {
      metrics.connectionsOpen--;
      metrics.countClose(this.closeCode);
    }
    this.emit('close', this.closeCode, this.closeReason);
  }

  /** @internal The turn of the event loop that corked this socket for broadcasts is over: write what they queued. */
  uncorkBroadcast(): void {
    this.corkedForBroadcast = false;
    this.socket.uncork();
  }

  /** @internal The peer half-closed its side. */
  peerEnded(): void {
    // Without a Close frame first this is an abnormal end (1006); either way our side ends too.
    this.readyState = ReadyState.Closing;
    this.socket.end();
    this.startCloseTimer();
  }

  /** @internal */
  drained(): void {
    if (this.needDrain && this.readyState === ReadyState.Open) {
      this.needDrain = false;
      this.emit('drain');
    }
  }
}

// --- The end of a turn of the event loop -------------------------------------------------
// Two things last until the poll phase of the current turn (every socket read in it) is over:
// whether a read has been handled yet (see `receive`), and the sockets corked for broadcasts
// (see `sendPrepared`). One setImmediate a turn ends both.

let turnEndScheduled = false;
/** Whether a socket read was handled in this turn of the event loop. */
let readThisTurn = false;
/** Counts the turns ended, so that a connection can tell a new turn from the one it last read in. */
let turnNumber = 0;
/** Connections whose sockets `sendPrepared` corked in this turn of the event loop. */
const corkedConnections: WebSocketConnection[] = [];

function scheduleTurnEnd(): void {
  if (turnEndScheduled) return;
  turnEndScheduled = true;
  setImmediate(endTurn);
}

/** True for the first socket read of a turn of the event loop. */
function isFirstReadOfTurn(): boolean {
  if (readThisTurn) return false;
  readThisTurn = true;
  scheduleTurnEnd();
  return true;
}

function endTurn(): void {
  turnEndScheduled = false;
  readThisTurn = false;
  turnNumber++;
  for (let i = 0; i < corkedConnections.length; i++) corkedConnections[i].uncorkBroadcast();
  corkedConnections.length = 0;
}

// Socket listeners are named functions shared by every connection, found through the socket.

function onSocketData(this: ConnectionSocket, chunk: Buffer): void {
  this[kConnection]?.receive(chunk);
}

function continueInput(connection: WebSocketConnection): void {
  connection.continueInput();
}

function onSocketEnd(this: ConnectionSocket): void {
  this[kConnection]?.peerEnded();
}

function onSocketClose(this: ConnectionSocket): void {
  this[kConnection]?.finish();
}

function onSocketDrain(this: ConnectionSocket): void {
  this[kConnection]?.drained();
}

function onSocketError(this: ConnectionSocket): void {
  // ECONNRESET and the like: 'close' follows and cleans up. Nothing else to do.
}

function destroySocket(socket: Transport): void {
  socket.destroy();
}

/** A TCP socket, which has Nagle's algorithm and an idle timeout to turn off; an HTTP/2 stream has neither. */
function isSocket(transport: Transport): transport is Transport & Socket {
  return transport.kind === undefined;
}
