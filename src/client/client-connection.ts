/**
 * An open client connection: the I/O shell around the sans-I/O `Receiver` in the client role,
 * after the opening handshake. It owns the socket and the close timer: it writes masked frames,
 * answers pings, runs the closing handshake, and tells its owner (the `WebSocket`) what happened.
 *
 * RFC 6455 sections: 5.1 and 5.3 (a client masks every frame, each with a fresh key), 5.5.2
 * (answer a Ping with a Pong), 5.5.1 and 7.1.1-7.1.4 (closing handshake: echo the server's
 * Close, then wait for the server to close TCP), 7.1.5 (1005 and 1006 as reported codes),
 * 7.1.7 (failing the connection).
 */
import type { Duplex } from 'node:stream';
import {
  type CloseInfo,
  CloseCode,
  encodeCloseFrame,
  encodeFrame,
  encodeTextFrame,
  LENGTH_16_MARKER,
  LENGTH_64_MARKER,
  type MessageDeflater,
  type MessageInflater,
  Opcode,
  PAYLOAD_LENGTH_MASK,
  type ProtocolError,
  Receiver,
  type ReceiverHandler,
} from '../protocol/index.js';

/** What the connection tells its owner. Every call is synchronous, from a socket event. */
export interface ConnectionListener {
  /** A complete message; `data` belongs to the listener. */
  onMessage(data: Buffer, isBinary: boolean): void;
  onPong(payload: Buffer): void;
  /** The socket's send buffer emptied below its high-water mark after a write said it was full. */
  onDrain(): void;
  /** The socket is gone (exactly once). `error`: the connection was failed (RFC 6455 7.1.7). */
  onClosed(code: number, reason: string, wasClean: boolean, error: ProtocolError | undefined): void;
}

/** permessage-deflate for this connection, as agreed (RFC 7692). */
export interface ClientCompression {
  /** Compresses what the client sends; undefined when it cannot (client_max_window_bits=8): it then sends uncompressed. */
  readonly deflater: MessageDeflater | undefined;
  /** Inflates what the server sends. */
  readonly inflater: MessageInflater;
  /** Messages below this many bytes go uncompressed. */
  readonly threshold: number;
}

export interface ClientConnectionOptions {
  readonly maxMessageSize: number;
  readonly closeTimeout: number;
  readonly compression: ClientCompression | undefined;
}

/** Where the connection is; the WebSocket's readyState follows it. */
export const ConnectionState = { Open: 1, Closing: 2, Closed: 3 } as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/** RFC 6455 5.3: every client frame is masked, with a fresh key the serializer draws. */
const MASKED = Object.freeze({ mask: true as const });
const MASKED_COMPRESSED = Object.freeze({ mask: true as const, rsv1: true });

/**
 * Payload sizes of the messages written to the socket whose write has not completed, oldest
 * first: what `bufferedAmount` counts (WHATWG: application data not yet transmitted). A queue
 * with a moving start, since `Array.prototype.shift` copies the whole array on every call.
 */
class PendingWrites {
  private sizes: number[] = [];
  private first = 0;
  /** Sum of the sizes in the queue. */
  total = 0;

  push(size: number): void {
    this.sizes.push(size);
    this.total += size;
  }

  /** The oldest write completed. */
  shift(): void {
    this.total -= this.sizes[this.first++];
    if (this.first === this.sizes.length) {
      this.sizes.length = 0;
      this.first = 0;
    } else if (this.first >= COMPACT_AFTER && this.first * 2 >= this.sizes.length) {
      this.sizes = this.sizes.slice(this.first);
      this.first = 0;
    }
  }
}
const COMPACT_AFTER = 1024;

export class ClientConnection implements ReceiverHandler {
  state: ConnectionState = ConnectionState.Open;
  private readonly receiver: Receiver;
  private readonly pending = new PendingWrites();
  /** Called by the socket as each message's write completes; bound once, not made per frame. */
  private readonly onWritten = (error?: Error | null): void => {
    // A failed write is data that never left: it stays counted, as WHATWG wants of data the
    // connection dropped ("does not reset to zero once the connection closes").
    if (!error) this.pending.shift();
  };
  private closeTimer: NodeJS.Timeout | undefined;
  private closeFrameSent = false;
  private closeFrameReceived = false;
  /** The code and reason of the server's Close frame (RFC 6455 7.1.5, 7.1.6); 1006 until one comes. */
  private closeCode: number = CloseCode.AbnormalClosure;
  private closeReason = '';
  /** Set when this side failed the connection (RFC 6455 7.1.7). */
  private failure: ProtocolError | undefined;
  private needDrain = false;

  constructor(
    /** A TCP or TLS socket after the 101, or an HTTP/2 stream after RFC 8441's 200. */
    private readonly socket: Duplex,
    private readonly options: ClientConnectionOptions,
    private readonly listener: ConnectionListener,
  ) {
    this.receiver = new Receiver(this, {
      role: 'client',
      maxMessageSize: options.maxMessageSize,
      inflater: options.compression?.inflater,
    });
    socket.on('data', (chunk: Buffer) => this.receiver.push(chunk));
    socket.on('drain', () => this.drained());
    socket.on('close', () => this.finish());
    socket.on('error', () => {
      // ECONNRESET and the like: 'close' follows and reports the end (1006).
    });
  }

  /** Bytes that came with the 101 answer: the first frames. Called once the owner has announced 'open'. */
  start(rest: Buffer): void {
    if (rest.length > 0) this.receiver.push(rest);
  }

  /** Application data written but not yet handed to the operating system (WHATWG `bufferedAmount`). */
  get bufferedAmount(): number {
    return this.pending.total;
  }

  /**
   * Sends a message as one masked frame, compressed when permessage-deflate was agreed and the
   * message is large enough. Returns false when the socket's buffer is full: 'drain' follows.
   */
  send(data: string | Uint8Array, isBinary: boolean): boolean {
    if (this.state !== ConnectionState.Open || this.socket.destroyed) return false;
    const compression = this.options.compression;
    const deflater = compression?.deflater;
    // A UTF-16 code unit takes at most 3 bytes of UTF-8, so short text need not be encoded to know it stays uncompressed.
    if (typeof data === 'string' && (deflater === undefined || data.length * 3 < compression!.threshold)) {
      const frame = encodeTextFrame(data, MASKED);
      return this.write(frame, frame.length - headerLengthOfMasked(frame));
    }
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const opcode = isBinary ? Opcode.Binary : Opcode.Text;
    if (deflater !== undefined && payload.length >= compression!.threshold) {
      // RFC 7692 6.1: a compressed message has RSV1 set on its first (here only) frame.
      return this.write(encodeFrame(opcode, deflater.compress(payload), MASKED_COMPRESSED), payload.length);
    }
    return this.write(encodeFrame(opcode, payload, MASKED), payload.length);
  }

  /** Sends a Ping (RFC 6455 5.5.2); the server answers with a Pong (the 'pong' event). */
  ping(payload: Uint8Array): void {
    if (this.state === ConnectionState.Open) this.socket.write(encodeFrame(Opcode.Ping, payload, MASKED));
  }

  /**
   * Starts the closing handshake (RFC 6455 7.1.2): sends a Close frame (no body when `code` is
   * undefined) and waits up to the close timeout for the server's Close and its TCP close.
   */
  close(code: number | undefined, reason: string): void {
    if (this.state !== ConnectionState.Open) return;
    this.state = ConnectionState.Closing;
    this.sendCloseFrame(code, reason);
    this.startCloseTimer();
  }

  // --- ReceiverHandler: what the protocol core reports -------------------------------------

  /** @internal */
  onMessage(data: Buffer, isBinary: boolean): void {
    this.listener.onMessage(data, isBinary);
  }

  /** @internal */
  onPing(payload: Buffer): void {
    // RFC 6455 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
    // response", with the same payload (5.5.3). Not after this side's Close.
    if (this.state === ConnectionState.Open) this.socket.write(encodeFrame(Opcode.Pong, payload, MASKED));
  }

  /** @internal */
  onPong(payload: Buffer): void {
    this.listener.onPong(payload);
  }

  /** @internal */
  onClose(info: CloseInfo): void {
    this.closeFrameReceived = true;
    this.closeCode = info.code;
    this.closeReason = info.reason;
    // RFC 6455 5.5.1: "If an endpoint receives a Close frame and did not previously send a Close
    // frame, the endpoint MUST send a Close frame in response", typically echoing the code
    // (none when the server sent none: 1005 may not be sent).
    if (!this.closeFrameSent) this.sendCloseFrame(info.code === CloseCode.NoStatusReceived ? undefined : info.code, '');
    this.state = ConnectionState.Closing;
    // RFC 6455 7.1.1: "the server SHOULD close the underlying TCP connection first"; the
    // client waits for that, and only after the close timeout closes it itself.
    this.startCloseTimer();
  }

  /** @internal */
  onError(error: ProtocolError): void {
    // RFC 6455 7.1.7: _Fail the WebSocket Connection_: send a Close with the code (if none was
    // sent yet), stop processing what the server sends ("including a responding Close frame"),
    // and close: the server closes TCP when it has our Close, or the timer does.
    this.failure = error;
    if (!this.closeFrameSent) this.sendCloseFrame(error.closeCode, error.reason);
    this.state = ConnectionState.Closing;
    this.startCloseTimer();
  }

  // --- Internals -----------------------------------------------------------------------------

  private write(frame: Buffer, payloadLength: number): boolean {
    this.pending.push(payloadLength);
    const roomLeft = this.socket.write(frame, this.onWritten);
    if (!roomLeft) this.needDrain = true;
    return roomLeft;
  }

  private drained(): void {
    if (!this.needDrain || this.state !== ConnectionState.Open) return;
    this.needDrain = false;
    this.listener.onDrain();
  }

  private sendCloseFrame(code: number | undefined, reason: string): void {
    this.closeFrameSent = true;
    // RFC 6455 5.5.1: after the Close frame, "the endpoint MUST NOT send any more data frames".
    if (!this.socket.destroyed) this.socket.write(encodeCloseFrame(code, reason, MASKED));
  }

  private startCloseTimer(): void {
    if (this.closeTimer !== undefined) return;
    this.closeTimer = setTimeout(destroySocket, this.options.closeTimeout, this.socket);
    this.closeTimer.unref();
  }

  /** The socket is gone: report the end once. */
  private finish(): void {
    if (this.state === ConnectionState.Closed) return;
    this.state = ConnectionState.Closed;
    clearTimeout(this.closeTimer);
    this.receiver.stop();
    const failure = this.failure;
    // RFC 6455 7.1.5: without a Close frame received (or after failing, when a responding Close is
    // not processed), the close code is 1006. 7.1.4: closed cleanly when TCP closed after the
    // closing handshake completed.
    const clean = failure === undefined && this.closeFrameSent && this.closeFrameReceived;
    const code = failure === undefined && this.closeFrameReceived ? this.closeCode : CloseCode.AbnormalClosure;
    const reason = failure === undefined && this.closeFrameReceived ? this.closeReason : '';
    this.listener.onClosed(code, reason, clean, failure);
  }
}

/** Bytes of the masking key that follows the length (RFC 6455 5.2). */
const MASK_KEY_BYTES = 4;

/** Header bytes of a masked frame the serializer built: 2, plus 2 or 8 of extended length, plus the key. */
function headerLengthOfMasked(frame: Buffer): number {
  const length7 = frame[1] & PAYLOAD_LENGTH_MASK;
  return (length7 === LENGTH_16_MARKER ? 4 : length7 === LENGTH_64_MARKER ? 10 : 2) + MASK_KEY_BYTES;
}

function destroySocket(socket: Duplex): void {
  socket.destroy();
}
