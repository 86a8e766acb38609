/**
 * `WebSocket` for Node: the browser's API (the WHATWG WebSockets standard) over framecast's
 * protocol core in the client role, on node:net and node:tls. Code written for browsers runs
 * unchanged; Node programs get a few documented extras (an options object, `send` reporting
 * backpressure, 'drain', `ping()` and 'pong', the 'nodebuffer' binary type).
 *
 * How a connection goes, top to bottom:
 * 1. The constructor checks the URL and subprotocols as the standard says (SyntaxError), and the
 *    options, and starts the opening handshake (opening-handshake.ts).
 * 2. On the server's valid 101: readyState OPEN, 'open'; from then on client-connection.ts reads
 *    frames and writes them.
 * 3. Messages become 'message' events; `send` frames and masks what the application sends.
 * 4. `close()`, the server's Close, a protocol violation or a lost connection end it: readyState
 *    CLOSING then CLOSED, 'error' if the connection was failed, then 'close'.
 */
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import {
  canDeflateWithWindow,
  checkedMaxMessageSize,
  type DeflateOfferOptions,
  isToken,
  MAX_CLOSE_REASON_BYTES,
  MAX_CONTROL_PAYLOAD,
  MessageDeflater,
  MessageInflater,
  type ProtocolError,
} from '../protocol/index.js';
import { type ClientCompression, ClientConnection, type ConnectionListener } from './client-connection.js';
import { ClientDefaults, MAX_TIMER_MS } from './config.js';
import { WebSocketError } from './errors.js';
import { CloseEvent, ErrorEvent } from './events.js';
import { Http2Handshake } from './http2-handshake.js';
import { type HandshakeResult, type HandshakeSettings, OpeningHandshake } from './opening-handshake.js';
import { checkProtocols, parseWebSocketUrl, type WebSocketTarget } from './url.js';

/**
 * How binary messages are delivered in `MessageEvent.data`: a `Blob` (the standard's default),
 * an `ArrayBuffer`, or (Node only) a `Buffer`.
 */
export type BinaryType = 'blob' | 'arraybuffer' | 'nodebuffer';

/** permessage-deflate (RFC 7692) settings of the client's offer. */
export interface PerMessageDeflateOptions {
  /** Promise to keep no compression window between messages (less memory, worse ratio). Default false. */
  clientNoContextTakeover?: boolean;
  /** Ask the server to keep none; the answer must then agree (RFC 7692 7.1.1.1). Default false. */
  serverNoContextTakeover?: boolean;
  /** Messages smaller than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
}

/** Node-only options: the third argument of the constructor, or the second in place of the subprotocols. */
export interface WebSocketOptions {
  /** Subprotocols to offer, when the options come second. */
  protocols?: string | readonly string[];
  /**
   * Extra request headers, e.g. `{ authorization: 'Bearer ...' }`. Names must be tokens; the
   * handshake's own headers (Host, Upgrade, Connection, Origin, Sec-WebSocket-*) cannot be set here.
   * Authorization, Cookie and Proxy-Authorization are not sent on after a redirect to another origin.
   */
  headers?: Readonly<Record<string, string>> | Iterable<readonly [string, string]>;
  /** The Origin header to send (browsers always send one; Node clients by default none). */
  origin?: string;
  /**
   * Options for `tls.connect` on wss: URLs: `ca`, `cert`, `key`, `rejectUnauthorized`,
   * `servername` and the rest. Node's default CAs apply, with NODE_EXTRA_CA_CERTS.
   */
  tls?: TlsConnectionOptions;
  /** Offer permessage-deflate (default true, as browsers do), with these settings when an object. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Largest message accepted from the server in bytes, after inflation (default 16 MiB); larger ones fail with 1009. */
  maxMessageSize?: number;
  /** Time for the whole opening handshake in ms, DNS to 101 (default 30 s; 0 or Infinity for none). */
  handshakeTimeout?: number;
  /** Time for the closing handshake in ms, until the server closes TCP (default 5 s); then the socket is destroyed. */
  closeTimeout?: number;
  /** Follow 3xx redirects to their Location (default false: a redirect fails the connection, as in browsers). Never from wss: to ws:. */
  followRedirects?: boolean;
  /** Most redirects followed (default 10). */
  maxRedirects?: number;
  /** `send()` returns false once this many bytes wait to be written (default 1 MiB). */
  sendHighWaterMark?: number;
  /**
   * Open the WebSocket over HTTP/2 by extended CONNECT (RFC 8441) rather than HTTP/1.1's
   * Upgrade: TLS with ALPN h2 for wss:, cleartext prior knowledge (h2c) for ws:. Fails with
   * INVALID_HANDSHAKE when the server does not announce SETTINGS_ENABLE_CONNECT_PROTOCOL.
   * Redirects are not followed. Default false.
   */
  http2?: boolean;
}

/** The readyState values (WHATWG): on the constructor and on every instance. */
const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
type ReadyStateValue = typeof CONNECTING | typeof OPEN | typeof CLOSING | typeof CLOSED;

/** Codes an application may pass to `close()` (WHATWG: 1000, or 3000-4999). */
const NORMAL_CLOSURE = 1000;
const FIRST_APPLICATION_CODE = 3000;
const LAST_APPLICATION_CODE = 4999;
/** Close code for a Blob that could not be read (RFC 6455 7.4.1: "an unexpected condition"). */
const INTERNAL_ERROR = 1011;

/** Request headers the handshake writes itself (RFC 6455 4.1). */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'upgrade',
  'connection',
  'origin',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

type EventHandler<E extends Event> = ((this: WebSocket, event: E) => unknown) | null;
type HandledEvent = 'open' | 'message' | 'error' | 'close';

/** A send waiting behind a Blob being read, so that messages leave in the order they were sent. */
interface QueuedSend {
  /** The bytes or text; undefined while a Blob is read; null for a queued close(). */
  data: string | Uint8Array | undefined | null;
  isBinary: boolean;
  size: number;
  closeCode?: number;
  closeReason?: string;
}

/**
 * A WebSocket client connection, as in browsers (WHATWG WebSockets).
 *
 * ```js
 * const socket = new WebSocket('wss://example.com/chat', 'chat.v1');
 * socket.onmessage = (event) => console.log(event.data);
 * socket.onopen = () => socket.send('hello');
 * ```
 *
 * Events: 'open'; 'message' (`MessageEvent`, `data` a string for text, else as `binaryType`
 * says); 'error' (an `ErrorEvent` with `message` and `error`, a `WebSocketError`, before the
 * 'close' of a failed connection); 'close' (`CloseEvent`: `code`, `reason`, `wasClean`).
 * Node only: 'drain' (after `send` returned false, when the buffer has room again) and 'pong'
 * (`MessageEvent` whose `data` is the pong's payload as a Buffer).
 */
export class WebSocket extends EventTarget {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  declare readonly CONNECTING: typeof CONNECTING;
  declare readonly OPEN: typeof OPEN;
  declare readonly CLOSING: typeof CLOSING;
  declare readonly CLOSED: typeof CLOSED;

  private readonly target: WebSocketTarget;
  private readonly maxMessageSize: number;
  private readonly closeTimeout: number;
  private readonly deflateOffer: (DeflateOfferOptions & { threshold: number }) | undefined;
  private handshake: OpeningHandshake | Http2Handshake | undefined;
  private connection: ClientConnection | undefined;
  /** readyState before the connection opens, and once it has closed. */
  private state: ReadyStateValue = CONNECTING;
  private chosenProtocol = '';
  private chosenExtensions = '';
  private binaryTypeValue: BinaryType = 'blob';
  private readonly handlers: Record<HandledEvent, EventHandler<Event> | null> = { open: null, message: null, error: null, close: null };
  /** Event types whose handler attribute has its listener added. */
  private readonly handlerListening = new Set<HandledEvent>();
  /** Sends behind a Blob being read (undefined when none is). */
  private queue: QueuedSend[] | undefined;
  private queuedBytes = 0;
  /** close() was called while sends were queued: the Close waits behind them, readyState is CLOSING. */
  private closeQueued = false;
  /** Bytes sent after the connection started closing: never transmitted, still counted (WHATWG). */
  private discardedBytes = 0;
  /** A send returned false: 'drain' is owed. */
  private needDrain = false;

  /**
   * Opens a connection to `url` (ws:, wss:, or http: and https:, which map to them), offering
   * `protocols` (one name or a list). Throws a SyntaxError DOMException for a bad URL or
   * subprotocol, as browsers do, and a TypeError or RangeError for bad options.
   */
  constructor(url: string | URL, protocols?: string | readonly string[] | WebSocketOptions, options?: WebSocketOptions) {
    super();
    let offered: string | readonly string[] | undefined;
    if (protocols !== undefined && typeof protocols === 'object' && !isStringList(protocols)) {
      options = protocols as WebSocketOptions;
      offered = options.protocols;
    } else {
      offered = protocols as string | readonly string[] | undefined;
    }
    options ??= {};
    this.target = parseWebSocketUrl(url);
    const subprotocols = checkProtocols(offered);
    this.maxMessageSize = checkedMaxMessageSize(options.maxMessageSize ?? ClientDefaults.maxMessageSize);
    this.closeTimeout = Math.min(checkedDuration('closeTimeout', options.closeTimeout ?? ClientDefaults.closeTimeout, false), MAX_TIMER_MS);
    this.deflateOffer = deflateOfferFrom(options.perMessageDeflate);
    const settings: HandshakeSettings = {
      protocols: subprotocols,
      deflate: this.deflateOffer,
      headers: checkedHeaders(options.headers),
      origin: options.origin === undefined ? undefined : checkedHeaderValue('origin', options.origin),
      tls: options.tls,
      handshakeTimeout: Math.min(checkedDuration('handshakeTimeout', options.handshakeTimeout ?? ClientDefaults.handshakeTimeout, true), MAX_TIMER_MS),
      followRedirects: options.followRedirects === true,
      maxRedirects: checkedCount('maxRedirects', options.maxRedirects ?? ClientDefaults.maxRedirects),
      sendHighWaterMark: checkedCount('sendHighWaterMark', options.sendHighWaterMark ?? ClientDefaults.sendHighWaterMark),
    };
    const onHandshake = (result: HandshakeResult | WebSocketError): void => this.onHandshake(result);
    this.handshake = options.http2 === true ? new Http2Handshake(this.target, settings, onHandshake) : new OpeningHandshake(this.target, settings, onHandshake);
  }

  // --- Attributes (WHATWG) -------------------------------------------------------------------

  /** The URL, serialized, with http: and https: mapped to ws: and wss:. */
  get url(): string {
    return this.target.href;
  }

  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  get readyState(): ReadyStateValue {
    const connection = this.connection;
    if (connection === undefined || this.state === CLOSED) return this.state;
    if (this.closeQueued && connection.state === OPEN) return CLOSING;
    return connection.state;
  }

  /**
   * Bytes of application data (UTF-8 text, binary, Blobs) passed to `send` and not yet handed to
   * the operating system. As the standard says, it does not fall back to zero when the connection
   * closes: data sent then is counted and never sent.
   */
  get bufferedAmount(): number {
    return (this.connection?.bufferedAmount ?? 0) + this.queuedBytes + this.discardedBytes;
  }

  /** The Sec-WebSocket-Extensions the server agreed to, e.g. `permessage-deflate; client_max_window_bits=15`, or ''. */
  get extensions(): string {
    return this.chosenExtensions;
  }

  /** The subprotocol the server chose, or '' (also before 'open'). */
  get protocol(): string {
    return this.chosenProtocol;
  }

  /**
   * How binary messages arrive: 'blob' (the default, as in browsers and Node's own WebSocket),
   * 'arraybuffer', or 'nodebuffer' (Node only: a Buffer, with no copy). Other values are ignored.
   */
  get binaryType(): BinaryType {
    return this.binaryTypeValue;
  }

  set binaryType(value: BinaryType) {
    if (value === 'blob' || value === 'arraybuffer' || value === 'nodebuffer') this.binaryTypeValue = value;
  }

  get onopen(): EventHandler<Event> {
    return this.handlers.open;
  }
  set onopen(handler: EventHandler<Event>) {
    this.setHandler('open', handler);
  }
  get onmessage(): EventHandler<MessageEvent> {
    return this.handlers.message;
  }
  set onmessage(handler: EventHandler<MessageEvent>) {
    this.setHandler('message', handler as EventHandler<Event>);
  }
  get onerror(): EventHandler<ErrorEvent> {
    return this.handlers.error;
  }
  set onerror(handler: EventHandler<ErrorEvent>) {
    this.setHandler('error', handler as EventHandler<Event>);
  }
  get onclose(): EventHandler<CloseEvent> {
    return this.handlers.close;
  }
  set onclose(handler: EventHandler<CloseEvent>) {
    this.setHandler('close', handler as EventHandler<Event>);
  }

  // --- Methods -------------------------------------------------------------------------------

  /**
   * Sends a message: a string as text (UTF-8), an ArrayBuffer, typed array, DataView, Buffer or
   * Blob as binary; anything else is turned into a string, as browsers do. Throws an
   * InvalidStateError DOMException while CONNECTING.
   *
   * Node only: returns false when the data waits in memory (the socket's buffer is past
   * `sendHighWaterMark`, or a Blob ahead of it is still being read): stop sending until
   * 'drain'. After the connection started closing, data is discarded and it returns false
   * (no 'drain' follows; watch for 'close'). The bytes are copied while masking, so the buffer
   * may be reused at once.
   */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): boolean {
    if (this.readyState === CONNECTING) throw new DOMException('the WebSocket is still connecting', 'InvalidStateError');
    const isBlob = data instanceof Blob;
    const isBinary = isBlob || isBinaryData(data);
    const payload = isBlob ? undefined : toPayload(data);
    const size = isBlob ? data.size : typeof payload === 'string' ? Buffer.byteLength(payload) : (payload as Uint8Array).length;
    const connection = this.connection;
    if (this.readyState !== OPEN || connection === undefined) {
      // WHATWG: once closing, data is not sent but bufferedAmount grows by its size.
      this.discardedBytes += size;
      return false;
    }
    if (isBlob || this.queue !== undefined) {
      const entry: QueuedSend = { data: payload, isBinary, size };
      (this.queue ??= []).push(entry);
      this.queuedBytes += size;
      this.needDrain = true;
      if (isBlob) this.readBlob(data, entry);
      return false;
    }
    const roomLeft = connection.send(payload as string | Uint8Array, isBinary);
    if (!roomLeft) this.needDrain = true;
    return roomLeft;
  }

  /**
   * Starts the closing handshake (RFC 6455 7.1.2), or abandons a connection that is not open
   * yet. `code` must be 1000 or 3000-4999 (else an InvalidAccessError DOMException) and `reason`
   * at most 123 bytes of UTF-8 (else a SyntaxError DOMException), as the standard says. A
   * reason without a code is sent with 1000. 'close' comes once the server has closed the
   * TCP connection, or after `closeTimeout`.
   */
  close(code?: number, reason?: string): void {
    let closeCode: number | undefined;
    if (code !== undefined) {
      closeCode = clampToUnsignedShort(code);
      if (closeCode !== NORMAL_CLOSURE && !(closeCode >= FIRST_APPLICATION_CODE && closeCode <= LAST_APPLICATION_CODE)) {
        throw new DOMException(`close code must be 1000 or from 3000 to 4999, not ${closeCode}`, 'InvalidAccessError');
      }
    }
    const closeReason = reason === undefined ? '' : String(reason);
    if (Buffer.byteLength(closeReason) > MAX_CLOSE_REASON_BYTES) {
      throw new DOMException(`a close reason is at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8`, 'SyntaxError');
    }
    if (closeCode === undefined && closeReason !== '') closeCode = NORMAL_CLOSURE;
    const state = this.readyState;
    if (state === CLOSING || state === CLOSED) return;
    if (state === CONNECTING) {
      // WHATWG: "fail the WebSocket connection and set readyState to CLOSING".
      this.state = CLOSING;
      this.handshake?.abort(new WebSocketError('CLOSED_BEFORE_OPEN', 'the WebSocket was closed before the connection was established'));
      return;
    }
    if (this.queue !== undefined) {
      this.closeQueued = true;
      this.queue.push({ data: null, isBinary: false, size: 0, closeCode, closeReason });
      return;
    }
    this.connection?.close(closeCode, closeReason);
  }

  /**
   * Node only: sends a Ping with `data` (at most 125 bytes, RFC 6455 5.5); the server's Pong
   * comes as a 'pong' event. Throws an InvalidStateError DOMException while CONNECTING, a
   * RangeError for a payload over 125 bytes; does nothing once closing.
   */
  ping(data: string | ArrayBufferLike | ArrayBufferView = ''): void {
    if (this.readyState === CONNECTING) throw new DOMException('the WebSocket is still connecting', 'InvalidStateError');
    const payload = toPayload(data);
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (bytes.length > MAX_CONTROL_PAYLOAD) throw new RangeError(`a ping carries at most ${MAX_CONTROL_PAYLOAD} bytes (RFC 6455 5.5), not ${bytes.length}`);
    if (this.readyState === OPEN) this.connection?.ping(bytes);
  }

  // --- The connection's life -------------------------------------------------------------------

  private onHandshake(result: HandshakeResult | WebSocketError): void {
    this.handshake = undefined;
    if (result instanceof WebSocketError) {
      // WHATWG: a failed connection reports 'error', then 'close' with 1006, not clean. Never
      // during the call that caused it (close() while connecting): events come on a later tick,
      // and readyState turns CLOSED with them.
      process.nextTick(() => {
        this.state = CLOSED;
        this.dispatchEvent(new ErrorEvent('error', result));
        this.dispatchEvent(new CloseEvent('close', { code: 1006, reason: '', wasClean: false }));
      });
      return;
    }
    this.chosenProtocol = result.protocol;
    this.chosenExtensions = result.extensions;
    this.state = OPEN;
    this.connection = new ClientConnection(
      result.socket,
      { maxMessageSize: this.maxMessageSize, closeTimeout: this.closeTimeout, compression: this.compressionFor(result) },
      this.connectionListener(),
    );
    this.dispatchEvent(new Event('open'));
    // Frames that came with the 101 are read only now, after 'open'.
    this.connection.start(result.rest);
  }

  /** The agreed permessage-deflate, for client-connection.ts. */
  private compressionFor(result: HandshakeResult): ClientCompression | undefined {
    const agreed = result.deflate;
    const offer = this.deflateOffer;
    if (agreed === undefined || offer === undefined) return undefined;
    // RFC 7692 7.1.1.2: no context when the server demands it or when we promised it.
    const noContext = agreed.clientNoContextTakeover || offer.clientNoContextTakeover === true;
    return {
      deflater: canDeflateWithWindow(agreed.clientMaxWindowBits) ? new MessageDeflater(agreed.clientMaxWindowBits, noContext) : undefined,
      inflater: new MessageInflater(agreed.serverMaxWindowBits, agreed.serverNoContextTakeover),
      threshold: offer.threshold,
    };
  }

  /** What client-connection.ts reports, turned into events. */
  private connectionListener(): ConnectionListener {
    return {
      onMessage: (data, isBinary) => {
        // WHATWG: a message received when readyState is not OPEN is dropped.
        if (this.readyState !== OPEN) return;
        this.dispatchEvent(new MessageEvent('message', { data: isBinary ? this.binaryData(data) : data.toString('utf8'), origin: this.target.origin }));
      },
      onPong: (payload) => {
        this.dispatchEvent(new MessageEvent('pong', { data: payload, origin: this.target.origin }));
      },
      onDrain: () => {
        if (!this.needDrain || this.queue !== undefined) return;
        this.needDrain = false;
        this.dispatchEvent(new Event('drain'));
      },
      onClosed: (code, reason, wasClean, failure) => this.onClosed(code, reason, wasClean, failure),
    };
  }

  private onClosed(code: number, reason: string, wasClean: boolean, failure: ProtocolError | undefined): void {
    this.state = CLOSED;
    if (this.queue !== undefined) {
      // What waited behind a Blob never leaves; it stays in bufferedAmount.
      this.discardedBytes += this.queuedBytes;
      this.queuedBytes = 0;
      this.queue = undefined;
    }
    if (failure !== undefined) {
      this.dispatchEvent(
        new ErrorEvent('error', new WebSocketError('PROTOCOL_ERROR', `the server broke the protocol: ${failure.reason} (closed with ${failure.closeCode})`, { closeCode: failure.closeCode })),
      );
    }
    this.dispatchEvent(new CloseEvent('close', { code, reason, wasClean }));
  }

  /** A binary message as `binaryType` asks. */
  private binaryData(data: Buffer): Blob | ArrayBuffer | Buffer {
    switch (this.binaryTypeValue) {
      case 'nodebuffer':
        return data;
      case 'arraybuffer':
        // A Buffer may be a view of a larger (pooled or shared) ArrayBuffer: hand out exactly its bytes.
        return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
          ? (data.buffer as ArrayBuffer)
          : (data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer);
      case 'blob':
        return new Blob([data as Uint8Array<ArrayBuffer>]);
    }
  }

  /** Reads a queued Blob, then sends everything in the queue that is ready. */
  private readBlob(blob: Blob, entry: QueuedSend): void {
    blob.arrayBuffer().then(
      (bytes) => {
        entry.data = new Uint8Array(bytes);
        this.flushQueue();
      },
      () => {
        // WHATWG: data that cannot be sent closes the connection.
        entry.data = null;
        entry.closeCode = INTERNAL_ERROR;
        entry.closeReason = 'a Blob could not be read';
        this.flushQueue();
      },
    );
  }

  private flushQueue(): void {
    const queue = this.queue;
    const connection = this.connection;
    if (queue === undefined || connection === undefined) return;
    let roomLeft = true;
    while (queue.length > 0 && queue[0].data !== undefined) {
      if (connection.state !== OPEN) {
        // The server started closing meanwhile: what waited stays counted, unsent.
        this.discardedBytes += this.queuedBytes;
        this.queuedBytes = 0;
        this.queue = undefined;
        return;
      }
      const entry = queue.shift() as QueuedSend;
      this.queuedBytes -= entry.size;
      if (entry.data === null) {
        this.closeQueued = false;
        this.queue = undefined;
        // What was sent after the close() stays counted, unsent.
        for (const rest of queue) this.discardedBytes += rest.size;
        this.queuedBytes = 0;
        connection.close(entry.closeCode, entry.closeReason ?? '');
        return;
      }
      roomLeft = connection.send(entry.data as string | Uint8Array, entry.isBinary);
    }
    if (queue.length > 0) return;
    this.queue = undefined;
    if (roomLeft && this.needDrain && this.readyState === OPEN) {
      this.needDrain = false;
      this.dispatchEvent(new Event('drain'));
    }
  }

  /** Event handler attributes (WHATWG): one listener, added the first time, calling the current handler. */
  private setHandler(type: HandledEvent, handler: EventHandler<Event>): void {
    const callable = typeof handler === 'function' ? handler : null;
    if (callable !== null && !this.handlerListening.has(type)) {
      this.handlerListening.add(type);
      this.addEventListener(type, (event) => this.handlers[type]?.call(this, event));
    }
    this.handlers[type] = callable;
  }
}

for (const [name, value] of [
  ['CONNECTING', CONNECTING],
  ['OPEN', OPEN],
  ['CLOSING', CLOSING],
  ['CLOSED', CLOSED],
] as const) {
  Object.defineProperty(WebSocket.prototype, name, { value, enumerable: true });
}

// --- Argument checks ---------------------------------------------------------------------------

function isStringList(value: object): boolean {
  return Array.isArray(value) || (Symbol.iterator in value && typeof (value as { [Symbol.iterator]: unknown })[Symbol.iterator] === 'function');
}

function isBinaryData(data: unknown): boolean {
  return data instanceof ArrayBuffer || ArrayBuffer.isView(data) || (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer);
}

/** The bytes of binary data (a view, no copy), or the text of anything else (WebIDL USVString). */
function toPayload(data: unknown): string | Uint8Array {
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer)) return Buffer.from(data);
  return String(data);
}

/** WebIDL `[Clamp] unsigned short`, the type of close()'s code. */
function clampToUnsignedShort(value: number): number {
  const number = Number(value);
  if (Number.isNaN(number)) return 0;
  const clamped = Math.min(Math.max(number, 0), 0xffff);
  // Round half to even, as WebIDL's clamp does.
  const floor = Math.floor(clamped);
  const fraction = clamped - floor;
  if (fraction > 0.5 || (fraction === 0.5 && floor % 2 === 1)) return floor + 1;
  return floor;
}

function deflateOfferFrom(option: WebSocketOptions['perMessageDeflate']): (DeflateOfferOptions & { threshold: number }) | undefined {
  if (option === false) return undefined;
  const settings = option === true || option === undefined ? {} : option;
  const threshold = settings.threshold ?? ClientDefaults.deflateThreshold;
  checkedCount('perMessageDeflate.threshold', threshold);
  return { clientNoContextTakeover: settings.clientNoContextTakeover === true, serverNoContextTakeover: settings.serverNoContextTakeover === true, threshold };
}

/** A duration in ms: 0 or more; `Infinity` only where it means "no limit" (as does 0 there). */
function checkedDuration(name: string, value: number, infinityAllowed: boolean): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (!infinityAllowed && !Number.isFinite(value))) {
    throw new RangeError(`${name} must be a number of milliseconds, 0 or more${infinityAllowed ? ' (0 or Infinity for no limit)' : ''}, not ${String(value)}`);
  }
  return value === Infinity ? 0 : value;
}

function checkedCount(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a whole number, 0 or more, not ${String(value)}`);
  return value;
}

/** A header value: no CR, LF or NUL, which would end the header (or the request) early. */
function checkedHeaderValue(name: string, value: string): string {
  const text = String(value);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x0d || code === 0x0a || code === 0x00 || code > 0xff) throw new TypeError(`the value of header ${name} has a character it may not have`);
  }
  return text;
}

function checkedHeaders(headers: WebSocketOptions['headers']): ReadonlyMap<string, string> {
  const checked = new Map<string, string>();
  if (headers === undefined) return checked;
  const entries = Symbol.iterator in headers ? (headers as Iterable<readonly [string, string]>) : Object.entries(headers);
  for (const [name, value] of entries) {
    if (!isToken(name)) throw new TypeError(`${JSON.stringify(name)} is not a valid header name`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) throw new TypeError(`header ${name} is set by the WebSocket handshake itself`);
    checked.set(name, checkedHeaderValue(name, value));
  }
  return checked;
}
