/**
 * The client's opening handshake over a real socket (RFC 6455 4.1): TCP, or TLS for wss:, the
 * request, the server's answer read and checked, redirects followed only when asked for, all
 * within one timeout. Hands over the socket once the server's 101 checks out.
 *
 * The request and the checks are src/protocol's (`buildClientRequest`, `parseResponseHead`,
 * `verifyServerResponse`, `acceptDeflateResponse`); this file only does the I/O around them.
 */
import { connect as connectTcp, isIP, type NetConnectOpts, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as connectTls, type ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import {
  acceptDeflateResponse,
  buildClientRequest,
  buildDeflateOffer,
  type DeflateOfferOptions,
  type DeflateParameters,
  generateClientKey,
  parseResponseHead,
  verifyServerResponse,
} from '../protocol/index.js';
import { WebSocketError } from './errors.js';
import { parseWebSocketUrl, type WebSocketTarget } from './url.js';

/** What the handshake needs, every option resolved. */
export interface HandshakeSettings {
  readonly protocols: readonly string[];
  /** Offer permessage-deflate with these options, or undefined not to offer it. */
  readonly deflate: DeflateOfferOptions | undefined;
  /** Extra request headers (checked by the caller). */
  readonly headers: ReadonlyMap<string, string>;
  readonly origin: string | undefined;
  /** Passed to tls.connect for wss: (`host`, `port` and, by default, `servername` are set here). */
  readonly tls: TlsConnectionOptions | undefined;
  /** ms; 0 for no limit; at most MAX_TIMER_MS. */
  readonly handshakeTimeout: number;
  readonly followRedirects: boolean;
  readonly maxRedirects: number;
  /** The socket's write high-water mark (see ClientDefaults.sendHighWaterMark). */
  readonly sendHighWaterMark: number;
}

/** A handshake that succeeded: the socket, now carrying WebSocket frames, and what was agreed. */
export interface HandshakeResult {
  /** The socket after the 101, or the HTTP/2 stream after the 200 of RFC 8441 (http2-handshake.ts). */
  readonly socket: Duplex;
  /** Bytes that came after the response head: already frames (RFC 6455 4.1). */
  readonly rest: Buffer;
  /** The subprotocol the server chose, or ''. */
  readonly protocol: string;
  /** The Sec-WebSocket-Extensions answer, or ''. */
  readonly extensions: string;
  /** The permessage-deflate agreement, when the server accepted the offer. */
  readonly deflate: DeflateParameters | undefined;
}

/** 3xx statuses that redirect to their Location (RFC 9110 15.4). */
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** Request headers that carry credentials; they are not sent on to another origin after a redirect. */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'cookie', 'proxy-authorization']);

/**
 * What every opening handshake shares, over HTTP/1.1 (below) or HTTP/2 (http2-handshake.ts):
 * one timeout for all of it, the first attempt on a later tick (so `done` is never called from
 * inside the constructor), `done` called exactly once, and `abort()`.
 */
export abstract class HandshakeAttempt {
  private timer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(
    protected readonly settings: HandshakeSettings,
    private readonly done: (result: HandshakeResult | WebSocketError) => void,
  ) {
    const timeout = settings.handshakeTimeout;
    if (timeout > 0) {
      this.timer = setTimeout(() => this.fail(new WebSocketError('HANDSHAKE_TIMEOUT', `no answer to the opening handshake within ${timeout} ms`)), timeout);
    }
    process.nextTick(() => {
      if (!this.finished) this.attempt();
    });
  }

  /** Gives up (the application closed the WebSocket while it was connecting). */
  abort(error: WebSocketError): void {
    this.fail(error);
  }

  /** Connects and sends the request. */
  protected abstract attempt(): void;

  /** Releases what the attempt holds (socket, session), after a failure. */
  protected abstract release(): void;

  protected succeed(result: HandshakeResult): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.done(result);
  }

  protected fail(error: WebSocketError): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.release();
    this.done(error);
  }
}

/**
 * One opening handshake, redirects included. Calls `done` exactly once: with the result, or
 * with the error that failed it (after destroying the socket). `abort()` fails it at once.
 */
export class OpeningHandshake extends HandshakeAttempt {
  private socket: Socket | undefined;
  private redirects = 0;
  private headers: ReadonlyMap<string, string>;
  private target: WebSocketTarget;

  constructor(target: WebSocketTarget, settings: HandshakeSettings, done: (result: HandshakeResult | WebSocketError) => void) {
    super(settings, done);
    this.target = target;
    this.headers = settings.headers;
  }

  /** Connects to the current target and sends the request. */
  protected attempt(): void {
    const target = this.target;
    const settings = this.settings;
    const key = generateClientKey();
    let socket: Socket;
    try {
      socket = target.secure
        ? connectTls({
            // SNI and the certificate check use the host name (not for an IP address, RFC 6066 3);
            // the application's own servername, CA and so on win. NODE_EXTRA_CA_CERTS applies as for any tls.connect.
            servername: isIP(target.hostname) === 0 ? target.hostname : undefined,
            ...settings.tls,
            host: target.hostname,
            port: target.port,
            // (Stream options reach the socket, though the types do not list them.)
            highWaterMark: settings.sendHighWaterMark,
          } as TlsConnectionOptions)
        : connectTcp({ host: target.hostname, port: target.port, writableHighWaterMark: settings.sendHighWaterMark } as NetConnectOpts);
    } catch (error) {
      // tls.connect throws at once on malformed options (a bad key or certificate).
      return this.fail(new WebSocketError('CONNECT_FAILED', `could not connect to ${target.href}: ${(error as Error).message}`, { cause: error }));
    }
    this.socket = socket;
    socket.setNoDelay(true);
    // Written at once: the socket queues it until TCP (and TLS) is up.
    socket.write(
      buildClientRequest({
        host: target.authority,
        path: target.resource,
        key,
        protocols: settings.protocols,
        extensions: settings.deflate === undefined ? undefined : buildDeflateOffer(settings.deflate),
        origin: settings.origin,
        headers: this.headers,
      }),
      'latin1',
    );

    let head: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const response = parseResponseHead(head);
      if (response === undefined) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      if (response instanceof Error) return this.fail(new WebSocketError('INVALID_HANDSHAKE', `invalid answer to the opening handshake: ${response.message}`));
      if (response.status !== 101) return this.onNotUpgraded(response.status, response.headers.get('location'));
      // RFC 6455 4.1: "the client MUST validate the server's response": Accept, Upgrade,
      // Connection, and only a subprotocol or extension that was offered.
      const verified = verifyServerResponse(response, key, { protocols: settings.protocols, extensions: settings.deflate !== undefined });
      if (verified instanceof Error) return this.fail(new WebSocketError('INVALID_HANDSHAKE', verified.message));
      let deflate: DeflateParameters | undefined;
      if (verified.extensions !== undefined) {
        // RFC 7692 7.1: an answer that is not a valid acceptance of the offer fails the connection.
        const agreed = acceptDeflateResponse(verified.extensions, settings.deflate);
        if (agreed instanceof Error) return this.fail(new WebSocketError('INVALID_HANDSHAKE', agreed.message));
        deflate = agreed;
      }
      this.succeed({
        socket,
        rest: head.subarray(response.headLength),
        protocol: verified.protocol ?? '',
        extensions: verified.extensions ?? '',
        deflate,
      });
    };
    const onError = (error: Error): void => {
      this.fail(new WebSocketError('CONNECT_FAILED', `connection to ${target.href} failed: ${error.message}`, { cause: error }));
    };
    const onClose = (): void => {
      this.fail(new WebSocketError('CONNECT_FAILED', `${target.href} closed the connection before answering the opening handshake`));
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  }

  /**
   * A status other than 101: RFC 6455 4.1 leaves it to HTTP. A redirect is followed only when the
   * application asked (browsers never follow one for a WebSocket), and never from wss: to ws:.
   */
  private onNotUpgraded(status: number, location: string | undefined): void {
    const details = { status };
    if (!REDIRECT_STATUSES.has(status) || location === undefined) {
      return this.fail(new WebSocketError('UNEXPECTED_STATUS', `server answered the opening handshake with ${status}, not 101`, details));
    }
    if (!this.settings.followRedirects) {
      return this.fail(new WebSocketError('REDIRECT_REFUSED', `server redirected (${status}) to ${location}; redirects are followed only with followRedirects: true`, details));
    }
    if (this.redirects >= this.settings.maxRedirects) {
      return this.fail(new WebSocketError('TOO_MANY_REDIRECTS', `more than ${this.settings.maxRedirects} redirects`, details));
    }
    let next: WebSocketTarget;
    try {
      next = parseWebSocketUrl(location, this.target.href);
    } catch {
      return this.fail(new WebSocketError('REDIRECT_REFUSED', `server redirected (${status}) to ${JSON.stringify(location)}, which is not a WebSocket URL`, details));
    }
    if (this.target.secure && !next.secure) {
      return this.fail(new WebSocketError('REDIRECT_REFUSED', `server redirected (${status}) from wss: to ${next.href}, which is not encrypted`, details));
    }
    if (next.origin !== this.target.origin) {
      // Credentials meant for one origin are not handed to another.
      this.headers = new Map([...this.headers].filter(([name]) => !CREDENTIAL_HEADERS.has(name.toLowerCase())));
    }
    this.redirects++;
    this.socket?.destroy();
    this.target = next;
    this.attempt();
  }

  protected release(): void {
    if (this.socket !== undefined) {
      // The socket may still report an error while it is torn down; nobody is listening any more.
      this.socket.on('error', ignoreError);
      this.socket.destroy();
    }
  }
}

function ignoreError(): void {}
