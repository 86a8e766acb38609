/**
 * The client's opening handshake over HTTP/2 (RFC 8441), for `new WebSocket(url, { http2: true })`:
 * an HTTP/2 connection (TLS with ALPN h2 for wss:, prior knowledge for ws:), the server's
 * SETTINGS awaited, and an extended CONNECT on a new stream. Hands over the stream once the
 * server's 2xx answer checks out; from then on it carries RFC 6455 frames as a socket would.
 *
 * Each WebSocket has an HTTP/2 connection of its own here, closed with it: what this client
 * shows is the handshake, not connection sharing.
 */
import { type ClientHttp2Session, type ClientHttp2Stream, connect, constants, type IncomingHttpHeaders } from 'node:http2';
import { isIP } from 'node:net';
import { acceptDeflateResponse, buildDeflateOffer, type DeflateParameters, headerMapFromRaw, verifyExtendedConnectResponse, WEBSOCKET_VERSION } from '../protocol/index.js';
import { WebSocketError } from './errors.js';
import { HandshakeAttempt, type HandshakeResult, type HandshakeSettings } from './opening-handshake.js';
import type { WebSocketTarget } from './url.js';

/** One RFC 8441 handshake. Calls `done` exactly once; `abort()` fails it at once. */
export class Http2Handshake extends HandshakeAttempt {
  private session: ClientHttp2Session | undefined;
  private stream: ClientHttp2Stream | undefined;
  private readonly target: WebSocketTarget;

  constructor(target: WebSocketTarget, settings: HandshakeSettings, done: (result: HandshakeResult | WebSocketError) => void) {
    super(settings, done);
    this.target = target;
  }

  protected attempt(): void {
    const target = this.target;
    const origin = `${target.secure ? 'https' : 'http'}://${target.authority}`;
    let session: ClientHttp2Session;
    try {
      session = connect(origin, {
        servername: isIP(target.hostname) === 0 ? target.hostname : undefined,
        ...this.settings.tls,
        host: target.hostname,
        port: target.port,
      });
    } catch (error) {
      return this.fail(new WebSocketError('CONNECT_FAILED', `could not connect to ${target.href}: ${(error as Error).message}`, { cause: error }));
    }
    this.session = session;
    session.on('error', (error: Error) => {
      this.fail(new WebSocketError('CONNECT_FAILED', `HTTP/2 connection to ${target.href} failed: ${error.message}`, { cause: error }));
    });
    session.once('close', () => this.fail(new WebSocketError('CONNECT_FAILED', `${target.href} closed the HTTP/2 connection before answering`)));
    // RFC 8441 3: "A client MUST NOT send a CONNECT request with the :protocol pseudo-header
    // unless it has received SETTINGS_ENABLE_CONNECT_PROTOCOL with a value of 1".
    session.once('remoteSettings', (remote) => {
      if (remote.enableConnectProtocol !== true) {
        return this.fail(new WebSocketError('INVALID_HANDSHAKE', `${target.href} does not offer WebSockets over HTTP/2 (no SETTINGS_ENABLE_CONNECT_PROTOCOL)`));
      }
      this.request(session);
    });
  }

  private request(session: ClientHttp2Session): void {
    const settings = this.settings;
    const target = this.target;
    const headers: Record<string, string> = {
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': target.secure ? 'https' : 'http',
      ':path': target.resource,
      ':authority': target.authority,
      'sec-websocket-version': WEBSOCKET_VERSION,
    };
    if (settings.protocols.length > 0) headers['sec-websocket-protocol'] = settings.protocols.join(', ');
    if (settings.deflate !== undefined) headers['sec-websocket-extensions'] = buildDeflateOffer(settings.deflate);
    if (settings.origin !== undefined) headers.origin = settings.origin;
    for (const [name, value] of settings.headers) headers[name.toLowerCase()] = value;
    const stream = session.request(headers, { endStream: false });
    this.stream = stream;
    stream.on('error', (error: Error) => this.fail(new WebSocketError('CONNECT_FAILED', `stream to ${target.href} failed: ${error.message}`, { cause: error })));
    stream.once('response', (answer: IncomingHttpHeaders) => this.answered(session, stream, answer));
  }

  private answered(session: ClientHttp2Session, stream: ClientHttp2Stream, answer: IncomingHttpHeaders): void {
    const status = Number(answer[':status']);
    const headers = headerMapFromRaw(Object.entries(answer).flatMap(([name, value]) => (value === undefined ? [] : [name, Array.isArray(value) ? value.join(', ') : String(value)])));
    if (status < 200 || status > 299) {
      return this.fail(new WebSocketError('UNEXPECTED_STATUS', `server answered the extended CONNECT with ${status}, not 200`, { status }));
    }
    const verified = verifyExtendedConnectResponse(status, headers, { protocols: this.settings.protocols, extensions: this.settings.deflate !== undefined });
    if (verified instanceof Error) return this.fail(new WebSocketError('INVALID_HANDSHAKE', verified.message));
    let deflate: DeflateParameters | undefined;
    if (verified.extensions !== undefined) {
      const agreed = acceptDeflateResponse(verified.extensions, this.settings.deflate);
      if (agreed instanceof Error) return this.fail(new WebSocketError('INVALID_HANDSHAKE', agreed.message));
      deflate = agreed;
    }
    session.removeAllListeners('close');
    session.removeAllListeners('error');
    session.on('error', ignoreError);
    stream.removeAllListeners('error');
    // The server's END_STREAM stands for its TCP FIN (RFC 8441 6): end ours too, so the stream
    // closes; and with the stream, this WebSocket's own HTTP/2 connection.
    stream.once('end', () => stream.end());
    stream.once('close', () => session.close());
    this.succeed({ socket: stream, rest: Buffer.alloc(0), protocol: verified.protocol ?? '', extensions: verified.extensions ?? '', deflate });
  }

  protected release(): void {
    this.stream?.on('error', ignoreError);
    this.stream?.close(constants.NGHTTP2_CANCEL);
    this.session?.on('error', ignoreError);
    this.session?.destroy();
  }
}

function ignoreError(): void {}
