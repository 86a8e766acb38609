/**
 * `POST /push?channel=NAME`: outside systems push a message over plain HTTP to every member of
 * a channel, or to every open WebSocket without `channel`. The body becomes one text message
 * (binary with Content-Type application/octet-stream); text must be valid UTF-8.
 *
 * Access: with a push token configured, `Authorization: Bearer <token>` is required (compared
 * in constant time; 401 otherwise). With none, only loopback clients may push (403 otherwise),
 * and of those no web page of a foreign origin: a browser on the same machine is on loopback
 * too, and any site it visits could otherwise push (cross-site request forgery). So the Host
 * header must name the server by a loopback address (a site's own name resolved to 127.0.0.1,
 * DNS rebinding, would otherwise pass for the server's own origin), and a request with an
 * `Origin` header must come from the server's own origin or an allowed one (403 otherwise).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { isValidUtf8 } from '../protocol/index.js';
import type { Hub, PublishResult } from './hub/hub.js';
import { describeError, type Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { isOriginAllowed } from './websocket/origin.js';

export interface PushOptions extends AccessOptions {
  hub: Hub;
  metrics: Metrics;
  logger: Logger;
  /** Largest body in bytes (413 beyond). */
  maxBody: number;
}

/** True for 127.0.0.0/8 and ::1, also in their IPv4-mapped IPv6 forms. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

/**
 * True when a Host header names this machine by a loopback name or address (`localhost`,
 * 127.x.x.x, `[::1]`), with or without a port. Any other name on a loopback connection may be a
 * web page's own domain pointed at 127.0.0.1 (DNS rebinding), so it counts as foreign.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const lowered = host.trim().toLowerCase();
  if (lowered.startsWith('[')) return lowered.startsWith('[::1]') && (lowered.length === 5 || lowered[5] === ':');
  const colon = lowered.indexOf(':');
  const name = colon === -1 ? lowered : lowered.slice(0, colon);
  return name === 'localhost' || (isIP(name) === 4 && name.startsWith('127.'));
}

/** Compares two secrets in time that depends on neither (hashing first hides the length too). */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Channel names: 1 to `maxLength` letters, digits, '-', '_' or '.'. */
export function isValidChannelName(name: string, maxLength: number): boolean {
  if (name.length === 0 || name.length > maxLength) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const ok =
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f || c === 0x2e;
    if (!ok) return false;
  }
  return true;
}

export function answer(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body) + '\n';
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

/** Refuses with `status` and, since the body is left unread, closes the connection afterwards. */
function refuseUnread(response: ServerResponse, status: number, error: string, headers: Record<string, string> = {}): void {
  answer(response, status, { error }, { connection: 'close', ...headers });
}

/**
 * The body of one push as it arrives, up to `maxBody` bytes, then the publication. Plain
 * listeners rather than promises: the only promise per push is the hub's `publish` (measured:
 * the async chain this replaced, four promises deep, cost about a tenth of the server's
 * throughput on small pushes).
 */
class PushBody {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  private refused = false;
  private readonly dataListener = (chunk: Buffer): void => this.onData(chunk);

  constructor(
    private readonly request: IncomingMessage,
    private readonly response: ServerResponse,
    private readonly channel: string | null,
    private readonly options: PushOptions,
  ) {
    request.on('data', this.dataListener);
    request.on('end', () => this.onEnd());
    request.on('error', (error: Error) => this.onError(error));
  }

  private onData(chunk: Buffer): void {
    this.length += chunk.length;
    if (this.length > this.options.maxBody) {
      // Over the limit: stop reading (the rest is never buffered) and refuse.
      this.refused = true;
      this.request.off('data', this.dataListener);
      this.request.pause();
      refuseUnread(this.response, 413, `body over ${this.options.maxBody} bytes`);
      return;
    }
    this.chunks.push(chunk);
  }

  private onEnd(): void {
    if (this.refused) return;
    // An event listener, not a promise: anything thrown here would end the process, so it is
    // answered as a failed push instead.
    try {
      this.publish();
    } catch (error) {
      this.notPublished(error);
    }
  }

  private publish(): void {
    const body = Buffer.concat(this.chunks, this.length);
    const contentType = (this.request.headers['content-type'] ?? '').toLowerCase();
    const isBinary = contentType.startsWith('application/octet-stream');
    if (!isBinary && !isValidUtf8(body)) return answer(this.response, 400, { error: 'text body is not valid UTF-8' });
    // 4. Publish.
    this.options.hub.publishWithOffset(this.channel ?? undefined, body, isBinary).then(
      (result) => this.published(result),
      (error: unknown) => this.notPublished(error),
    );
  }

  /** The request stream broke (the client went away mid-body): nothing can be answered. */
  private onError(error: Error): void {
    this.options.logger.warn(`push request failed: ${error.message}`);
    this.response.destroy();
  }

  private published(result: PublishResult): void {
    const options = this.options;
    options.metrics.pushes++;
    // A broker hub counts the nodes that received the publication, and says so; a channel's
    // publication says where it stands in the channel (docs/pubsub.md).
    const channel = this.channel;
    const recipients = result.recipients;
    const counted = options.hub.recipientsCounted === 'connections' ? undefined : options.hub.recipientsCounted;
    const position = result.position;
    answer(this.response, 202, { channel, recipients, ...(position === undefined ? {} : { offset: position.offset, epoch: position.epoch }), ...(counted === undefined ? {} : { counted }) });
  }

  private notPublished(error: unknown): void {
    this.options.logger.warn(`push failed: ${describeError(error)}`);
    answer(this.response, 503, { error: 'the message could not be published; try again later' });
  }
}

/** Who may use the server's HTTP side doors (`POST /push`, `GET /history`). */
export interface AccessOptions {
  /** Required bearer token; undefined means loopback clients only. */
  readonly pushToken: string | undefined;
  /** Origins whose pages may push without a token, lower case, besides the server's own ('*' for any). */
  readonly allowOrigins: ReadonlySet<string>;
}

/** The authority a request names: its Host header, or over HTTP/2 its `:authority` (RFC 9113 8.3.1), which stands for Host. */
function hostOf(request: IncomingMessage): string | undefined {
  const authority = request.headers[':authority'];
  return request.headers.host ?? (typeof authority === 'string' ? authority : undefined);
}

/**
 * Checks who is asking (see the top of this file); refuses (401 or 403) and returns false when
 * they may not.
 */
export function isAuthorized(request: IncomingMessage, response: ServerResponse, options: AccessOptions): boolean {
  if (options.pushToken !== undefined) {
    const authorization = request.headers.authorization ?? '';
    const token = authorization.startsWith('Bearer ') ? authorization.slice(7).trim() : '';
    if (!secretsEqual(token, options.pushToken)) {
      refuseUnread(response, 401, 'a valid Authorization: Bearer token is required', { 'www-authenticate': 'Bearer' });
      return false;
    }
    return true;
  }
  if (!isLoopbackAddress(request.socket.remoteAddress)) {
    refuseUnread(response, 403, 'no push token is configured, so only loopback clients may push');
  } else if (!isLoopbackHost(hostOf(request))) {
    refuseUnread(response, 403, 'no push token is configured, so pushes must name the server by a loopback address (Host: localhost or 127.0.0.1)');
  } else if (!isOriginAllowed(request.headers.origin, hostOf(request), options.allowOrigins)) {
    refuseUnread(response, 403, 'no push token is configured, so web pages of other origins may not push');
  } else {
    return true;
  }
  return false;
}

/**
 * Handles `POST /push`. `channel` is the query parameter, null when absent. Answers once the
 * body has arrived and the message is published (or at once when the request is refused).
 */
export function handlePush(
  request: IncomingMessage,
  response: ServerResponse,
  channel: string | null,
  channelNameValid: boolean,
  options: PushOptions,
): void {
  if (request.method !== 'POST') return refuseUnread(response, 405, 'use POST', { allow: 'POST' });

  // 1. Who may push.
  if (!isAuthorized(request, response, options)) return;
  // 2. Where to.
  if (channel !== null && !channelNameValid) return refuseUnread(response, 400, 'invalid channel name');

  // 3. The body, bounded before it is read: a declared length over the limit is refused unread.
  const declared = Number(request.headers['content-length'] ?? '0');
  if (declared > options.maxBody) return refuseUnread(response, 413, `body over ${options.maxBody} bytes`);
  new PushBody(request, response, channel, options);
}
