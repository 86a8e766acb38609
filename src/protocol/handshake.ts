/**
 * The opening handshake, both sides, as pure functions: request headers in, response bytes
 * (or an HTTP error) out, and the reverse for clients. No sockets.
 *
 * RFC 6455 sections: 1.3 (the Sec-WebSocket-Accept computation), 4.1 (client requirements),
 * 4.2.1 (reading the client's handshake), 4.2.2 (the server's answer), 4.4 (version
 * mismatch: 426 with the versions understood), 9.1 (extension negotiation syntax).
 */
import { createHash, randomBytes } from 'node:crypto';
import { WEBSOCKET_GUID, WEBSOCKET_VERSION } from './constants.js';
import { type ExtensionOffer, parseExtensionOffers, parseTokenList, tokenListIncludes, upgradeOffers } from './http-tokens.js';

/** Header fields by lower-cased name; repeated fields joined with ", " (RFC 7230 3.2.2). */
export type HeaderMap = Map<string, string>;

/**
 * Builds a `HeaderMap` from Node's `rawHeaders` (name, value, name, value, ...): names
 * lower-cased, repeats joined with ", ", so a header sent twice is seen as sent twice.
 */
export function headerMapFromRaw(rawHeaders: readonly string[]): HeaderMap {
  const headers: HeaderMap = new Map();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? rawHeaders[i + 1] : `${previous}, ${rawHeaders[i + 1]}`);
  }
  return headers;
}

/**
 * Sec-WebSocket-Accept for a key (RFC 6455 4.2.2 item 5.4): the base64 of the SHA-1 of the
 * key, as sent, followed by the GUID.
 */
export function computeAcceptKey(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/**
 * True when `key` is the base64 encoding of exactly 16 bytes (RFC 6455 4.2.1 item 5): 24
 * characters ending in "==" that decode to 16 bytes and encode back to themselves.
 */
export function isValidClientKey(key: string): boolean {
  if (key.length !== 24) return false;
  const decoded = Buffer.from(key, 'base64');
  return decoded.length === 16 && decoded.toString('base64') === key;
}

/** The parts of a request line the handshake looks at, with the headers. */
export interface UpgradeRequest {
  method: string;
  /** e.g. `1.1` as Node reports it in `req.httpVersion`. */
  httpVersion: string;
  headers: HeaderMap;
}

/** What a server chooses when it accepts. */
export interface AcceptOptions {
  /** Subprotocols the server speaks; the client's first one that is among them is chosen. */
  protocols?: readonly string[];
  /**
   * Refuse (400) a request that offers none of `protocols`. RFC 6455 4.2.2 leaves a server free
   * to refuse the handshake; an endpoint that speaks only its subprotocol says so at once,
   * rather than accepting a client that cannot understand it.
   */
  requireProtocol?: boolean;
}

/** What both handshakes (HTTP/1.1 Upgrade, HTTP/2 extended CONNECT) agree on alike. */
export interface NegotiatedOffers {
  readonly ok: true;
  /** The subprotocol chosen (RFC 6455 4.2.2 item 5.5), if any. */
  readonly protocol: string | undefined;
  /** Extensions the client offered, in its order of preference; the caller decides which to use. */
  readonly extensionOffers: readonly ExtensionOffer[];
  /** The Origin header, if sent (browsers always send it; RFC 6455 4.2.1 item 7, 10.2). */
  readonly origin: string | undefined;
}

/** A valid HTTP/1.1 request, and what the server agreed to. */
export interface HandshakeAccepted extends NegotiatedOffers {
  readonly key: string;
  /** Sec-WebSocket-Accept for this key. */
  readonly accept: string;
}

/** A request refused: the HTTP status to answer with, why, and any headers the answer needs. */
export interface HandshakeRejected {
  readonly ok: false;
  readonly status: number;
  readonly reason: string;
  readonly headers: HeaderMap;
}

export type HandshakeResult = HandshakeAccepted | HandshakeRejected;

/** The outcome of an RFC 8441 extended CONNECT: no key, no accept, only what was agreed. */
export type ExtendedConnectResult = NegotiatedOffers | HandshakeRejected;

function reject(status: number, reason: string, headers: HeaderMap = new Map()): HandshakeRejected {
  return { ok: false, status, reason, headers };
}

function isHttp11OrHigher(version: string): boolean {
  const dot = version.indexOf('.');
  const major = Number(dot === -1 ? version : version.slice(0, dot));
  const minor = dot === -1 ? 0 : Number(version.slice(dot + 1));
  if (!Number.isInteger(major) || !Number.isInteger(minor)) return false;
  return major > 1 || (major === 1 && minor >= 1);
}

/**
 * Reads a client's opening handshake (RFC 6455 4.2.1), checking its parts in the order the
 * RFC lists them. Never throws: any header may be missing or hostile.
 */
export function validateUpgradeRequest(request: UpgradeRequest, options: AcceptOptions = {}): HandshakeResult {
  const headers = request.headers;
  // 1. "An HTTP/1.1 or higher GET request".
  if (request.method !== 'GET') {
    return reject(405, 'the opening handshake must be a GET request', new Map([['allow', 'GET']]));
  }
  if (!isHttp11OrHigher(request.httpVersion)) {
    return reject(400, 'the opening handshake needs HTTP/1.1 or higher');
  }
  // 2. "A |Host| header field containing the server's authority."
  const host = headers.get('host');
  if (host === undefined || host.trim() === '') return reject(400, 'missing Host header');
  // RFC 7230 5.4: a request with more than one Host header MUST get 400. (A host never holds a
  // comma, so one here means the header came twice and was joined.)
  if (host.includes(',')) return reject(400, 'more than one Host header');
  // 3. "An |Upgrade| header field containing the value "websocket"", case-insensitively; the
  //    field may offer other protocols too, with versions (RFC 7230 6.7: `HTTP/2.0, websocket`).
  if (!upgradeOffers(headers.get('upgrade'), 'websocket')) {
    return reject(400, 'missing or invalid Upgrade header: expected "websocket"');
  }
  // 4. "A |Connection| header field that includes the token "Upgrade"", case-insensitively.
  if (!tokenListIncludes(headers.get('connection'), 'upgrade')) {
    return reject(400, 'missing or invalid Connection header: expected the "Upgrade" token');
  }
  // 6. "A |Sec-WebSocket-Version| header field, with a value of 13." RFC 6455 4.4: otherwise
  //    answer 426 with the version(s) this server understands.
  const version = headers.get('sec-websocket-version');
  if (!isVersion13(version)) return rejectVersion(426, version);
  // 5. "A |Sec-WebSocket-Key| header field with a base64-encoded value that, when decoded, is 16 bytes."
  const key = headers.get('sec-websocket-key')?.trim();
  if (key === undefined) return reject(400, 'missing Sec-WebSocket-Key header');
  if (!isValidClientKey(key)) return reject(400, 'Sec-WebSocket-Key must be the base64 of 16 bytes');
  const offers = negotiateOffers(headers, options);
  if (!offers.ok) return offers;
  return { ...offers, key, accept: computeAcceptKey(key) };
}

/**
 * The headers both handshakes read alike (RFC 8441 5: the rest of the handshake is that of
 * RFC 6455 4.2.1): the subprotocol, the extension offers and the origin.
 */
function negotiateOffers(headers: HeaderMap, options: AcceptOptions): NegotiatedOffers | HandshakeRejected {
  // 8. Optional subprotocols, "ordered by preference": take the client's first that the server speaks.
  let protocol: string | undefined;
  const protocolHeader = headers.get('sec-websocket-protocol');
  if (protocolHeader !== undefined) {
    const offered = parseTokenList(protocolHeader);
    if (offered === undefined) return reject(400, 'invalid Sec-WebSocket-Protocol header');
    const supported = options.protocols ?? [];
    protocol = offered.find((name) => supported.includes(name));
  }
  if (protocol === undefined && options.requireProtocol === true) {
    const names = (options.protocols ?? []).join(', ');
    return reject(400, `this endpoint speaks only the subprotocol ${names}: offer it in Sec-WebSocket-Protocol`);
  }
  // 9. Optional extensions. RFC 6455 9.1: a value that does not conform "MUST immediately _Fail the WebSocket Connection_".
  let extensionOffers: ExtensionOffer[] = [];
  const extensionHeader = headers.get('sec-websocket-extensions');
  if (extensionHeader !== undefined) {
    const parsed = parseExtensionOffers(extensionHeader);
    if (parsed === undefined) return reject(400, 'invalid Sec-WebSocket-Extensions header');
    extensionOffers = parsed;
  }
  return { ok: true, protocol, extensionOffers, origin: headers.get('origin') };
}

function isVersion13(version: string | undefined): boolean {
  return version !== undefined && version.trim() === WEBSOCKET_VERSION;
}

/** A refusal for a version other than 13, naming the one this server speaks (RFC 6455 4.4). */
function rejectVersion(status: number, version: string | undefined): HandshakeRejected {
  return reject(
    status,
    `unsupported WebSocket version ${version === undefined ? '(none)' : JSON.stringify(version)}: this server speaks 13`,
    new Map([['sec-websocket-version', WEBSOCKET_VERSION]]),
  );
}

/**
 * Reads an HTTP/2 extended CONNECT (RFC 8441 4 and 5): the WebSocket handshake over one HTTP/2
 * stream. `headers` hold the pseudo-headers (`:method`, `:protocol`, `:authority`, ...) with the
 * rest. There is no Sec-WebSocket-Key and no Accept (RFC 8441 5: "the Sec-WebSocket-Key and
 * Sec-WebSocket-Accept header fields are not used"), and no Upgrade or Connection (HTTP/2 has
 * no connection-specific headers, RFC 9113 8.2.2); Sec-WebSocket-Version, subprotocols and
 * extensions are as over HTTP/1.1. Never throws.
 */
export function validateExtendedConnect(headers: HeaderMap, options: AcceptOptions = {}): ExtendedConnectResult {
  // RFC 8441 4: "A new pseudo-header field :protocol MAY be included on request HEADERS
  // indicating the desired protocol to be spoken on the tunnel created by CONNECT."
  if (headers.get(':method') !== 'CONNECT') {
    return reject(405, 'a WebSocket over HTTP/2 is opened with an extended CONNECT (RFC 8441)', new Map([['allow', 'CONNECT']]));
  }
  const protocol = headers.get(':protocol');
  if (protocol === undefined) return reject(400, 'a CONNECT without :protocol asks for a TCP tunnel, which this server does not offer: send :protocol websocket (RFC 8441 4)');
  // RFC 8441 4 takes :protocol values from the HTTP Upgrade Token registry; tokens there match case-insensitively (RFC 9110 7.8).
  if (protocol.toLowerCase() !== 'websocket') return reject(400, `this server opens only WebSockets, not ${JSON.stringify(protocol)}: send :protocol websocket`);
  // RFC 8441 4: "On requests that contain the :protocol pseudo-header field, the :scheme and :path pseudo-header fields of the target URI MUST also be included."
  if (headers.get(':scheme') === undefined || headers.get(':path') === undefined) {
    return reject(400, 'an extended CONNECT must carry :scheme and :path (RFC 8441 4)');
  }
  // :authority plays the part of Host (RFC 9113 8.3.1).
  const authority = headers.get(':authority');
  if (authority === undefined || authority.trim() === '') return reject(400, 'missing :authority');
  // RFC 6455 4.2.1 item 6, as RFC 8441 5 keeps it. Not 426: that status asks to switch
  // protocols with an Upgrade header, which HTTP/2 does not have (RFC 9113 8.6); 400 with the
  // version this server speaks says the same without it.
  const version = headers.get('sec-websocket-version');
  if (!isVersion13(version)) return rejectVersion(400, version);
  return negotiateOffers(headers, options);
}

/**
 * The server's 101 answer (RFC 6455 4.2.2 item 5), ready to write to the socket.
 * `extensions` is the negotiated Sec-WebSocket-Extensions value, if any.
 */
export function buildAcceptResponse(accepted: HandshakeAccepted, extensions?: string): string {
  let response =
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${accepted.accept}\r\n`;
  if (accepted.protocol !== undefined) response += `Sec-WebSocket-Protocol: ${accepted.protocol}\r\n`;
  if (extensions !== undefined) response += `Sec-WebSocket-Extensions: ${extensions}\r\n`;
  return response + '\r\n';
}

const STATUS_TEXT: ReadonlyMap<number, string> = new Map([
  [400, 'Bad Request'],
  [401, 'Unauthorized'],
  [403, 'Forbidden'],
  [404, 'Not Found'],
  [405, 'Method Not Allowed'],
  [426, 'Upgrade Required'],
  [431, 'Request Header Fields Too Large'],
  [500, 'Internal Server Error'],
  [503, 'Service Unavailable'],
]);

/** A complete HTTP error response with the reason as a plain-text body, for refusing an upgrade. */
export function buildRejectResponse(status: number, reason: string, headers: HeaderMap = new Map()): string {
  const body = reason + '\n';
  let response = `HTTP/1.1 ${status} ${STATUS_TEXT.get(status) ?? 'Error'}\r\n`;
  response += 'Connection: close\r\n';
  response += 'Content-Type: text/plain; charset=utf-8\r\n';
  response += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  for (const [name, value] of headers) response += `${name}: ${value}\r\n`;
  return response + '\r\n' + body;
}

// ---------------------------------------------------------------------------------------
// Client side (RFC 6455 4.1), for the project's own tests and benchmark client.

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64 (RFC 6455 4.1: "randomly selected"). */
export function generateClientKey(): string {
  return randomBytes(16).toString('base64');
}

export interface ClientRequestOptions {
  /** host[:port] for the Host header. */
  host: string;
  /** The resource name, e.g. `/ws?x=1`. */
  path: string;
  key: string;
  protocols?: readonly string[];
  extensions?: string;
  origin?: string;
  /** Extra header lines, name to value. */
  headers?: ReadonlyMap<string, string>;
}

/** The client's opening handshake as bytes to send (RFC 6455 4.1). */
export function buildClientRequest(options: ClientRequestOptions): string {
  let request =
    `GET ${options.path} HTTP/1.1\r\n` +
    `Host: ${options.host}\r\n` +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${options.key}\r\n` +
    `Sec-WebSocket-Version: ${WEBSOCKET_VERSION}\r\n`;
  if (options.protocols !== undefined && options.protocols.length > 0) {
    request += `Sec-WebSocket-Protocol: ${options.protocols.join(', ')}\r\n`;
  }
  if (options.extensions !== undefined) request += `Sec-WebSocket-Extensions: ${options.extensions}\r\n`;
  if (options.origin !== undefined) request += `Origin: ${options.origin}\r\n`;
  for (const [name, value] of options.headers ?? []) request += `${name}: ${value}\r\n`;
  return request + '\r\n';
}

/** The status line and headers of an HTTP response, and how many bytes they took. */
export interface ResponseHead {
  readonly status: number;
  readonly headers: HeaderMap;
  readonly headLength: number;
}

const HEAD_END = Buffer.from('\r\n\r\n');
/** Largest response head a client reads before giving up. */
export const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;

/**
 * Reads an HTTP response head from the start of `bytes`: `undefined` while incomplete, an
 * `Error` when malformed or too long. Bytes after `headLength` are already WebSocket frames.
 */
export function parseResponseHead(bytes: Buffer): ResponseHead | Error | undefined {
  const end = bytes.indexOf(HEAD_END);
  if (end === -1) {
    return bytes.length > MAX_RESPONSE_HEAD_BYTES ? new Error('response head too long') : undefined;
  }
  const lines = bytes.toString('latin1', 0, end).split('\r\n');
  const statusLine = lines[0];
  if (!statusLine.startsWith('HTTP/1.') || statusLine.charCodeAt(8) !== 0x20) {
    return new Error(`malformed status line ${JSON.stringify(statusLine.slice(0, 80))}`);
  }
  // status-line = HTTP-version SP status-code SP reason-phrase, status-code = 3DIGIT (RFC 7230 3.1.2).
  const code = statusLine.slice(9, 12);
  const status = isThreeDigits(code) ? Number(code) : Number.NaN;
  const afterCode = statusLine.charCodeAt(12); // NaN at the end of the line: tolerate a missing SP.
  if (!(status >= 100 && status <= 599) || !(Number.isNaN(afterCode) || afterCode === 0x20)) {
    return new Error(`malformed status line ${JSON.stringify(statusLine.slice(0, 80))}`);
  }
  const raw: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (colon <= 0) return new Error(`malformed header line ${JSON.stringify(lines[i].slice(0, 80))}`);
    raw.push(lines[i].slice(0, colon).trim(), lines[i].slice(colon + 1).trim());
  }
  return { status, headers: headerMapFromRaw(raw), headLength: end + HEAD_END.length };
}

function isThreeDigits(text: string): boolean {
  if (text.length !== 3) return false;
  for (let i = 0; i < 3; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** What a client learns from a server's valid 101 answer. */
export interface ServerHandshake {
  readonly protocol: string | undefined;
  readonly extensions: string | undefined;
}

/**
 * Checks the server's answer (RFC 6455 4.1, "the client MUST validate the server's response"):
 * 101, Upgrade and Connection, the right Sec-WebSocket-Accept, and only a subprotocol or
 * extensions the client offered. Returns an Error describing the first problem.
 */
export function verifyServerResponse(
  head: ResponseHead,
  key: string,
  offered: { protocols?: readonly string[]; extensions?: boolean } = {},
): ServerHandshake | Error {
  // 1. "If the status code received from the server is not 101, the client handles the response per HTTP".
  if (head.status !== 101) return new Error(`server answered ${head.status}, not 101`);
  // 2. Upgrade must be "websocket", 3. Connection must hold "Upgrade", both case-insensitively.
  if (!upgradeOffers(head.headers.get('upgrade'), 'websocket')) return new Error('response lacks Upgrade: websocket');
  if (!tokenListIncludes(head.headers.get('connection'), 'upgrade')) return new Error('response lacks Connection: Upgrade');
  // 4. Sec-WebSocket-Accept must be base64(SHA-1(key + GUID)).
  if (head.headers.get('sec-websocket-accept') !== computeAcceptKey(key)) {
    return new Error('Sec-WebSocket-Accept does not match the key');
  }
  return verifyOffersAnswered(head.headers, offered);
}

/**
 * Checks a server's 2xx answer to an RFC 8441 extended CONNECT (section 5): no Accept to check,
 * only that the subprotocol and extensions it chose were offered, as over HTTP/1.1.
 */
export function verifyExtendedConnectResponse(
  status: number,
  headers: HeaderMap,
  offered: { protocols?: readonly string[]; extensions?: boolean } = {},
): ServerHandshake | Error {
  // RFC 8441 5: "A server ... responds with a 2xx status code"; anything else refuses.
  if (status < 200 || status > 299) return new Error(`server answered the extended CONNECT with ${status}, not 200`);
  return verifyOffersAnswered(headers, offered);
}

/** RFC 6455 4.1 items 5 and 6 of the answer's checks, shared by both handshakes. */
function verifyOffersAnswered(headers: HeaderMap, offered: { protocols?: readonly string[]; extensions?: boolean }): ServerHandshake | Error {
  // 5. Extensions "not present in the client's handshake" fail the connection.
  const extensions = headers.get('sec-websocket-extensions');
  if (extensions !== undefined && !offered.extensions) return new Error('server chose an extension that was not offered');
  // 6. A subprotocol "not present in the client's handshake" fails the connection.
  const protocol = headers.get('sec-websocket-protocol');
  if (protocol !== undefined && !(offered.protocols ?? []).includes(protocol)) {
    return new Error(`server chose subprotocol ${JSON.stringify(protocol)} that was not offered`);
  }
  return { protocol, extensions };
}
