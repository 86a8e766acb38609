/**
 * What `new WebSocket(url, protocols)` accepts, by the rules of the WHATWG WebSockets standard
 * (the constructor's steps) and RFC 6455 3 (ws and wss URIs) and 4.1 (the handshake's parts):
 * the URL parsed, http(s) mapped to ws(s), no fragment; subprotocols that are tokens, each once.
 * Anything else throws a `SyntaxError` DOMException, as browsers do.
 */
import { isToken } from '../protocol/index.js';

/** Where a WebSocket connects, and what its handshake names. */
export interface WebSocketTarget {
  /** The URL as the `url` attribute reports it: ws: or wss:, serialized. */
  readonly href: string;
  /** wss: TLS (RFC 6455 3: "the wss URI ... uses TLS"). */
  readonly secure: boolean;
  /** Host name or address to connect to (an IPv6 address without its brackets). */
  readonly hostname: string;
  readonly port: number;
  /** The Host header: host, and the port when it is not the scheme's default (RFC 6455 4.1 item 4). */
  readonly authority: string;
  /** The request target: path and query, "/" when empty (RFC 6455 3, "resource name"). */
  readonly resource: string;
  /** The origin of the URL, for MessageEvent.origin. */
  readonly origin: string;
}

/** RFC 6455 3: port 80 for ws, 443 for wss, when the URL has none. */
const DEFAULT_PORT = { 'ws:': 80, 'wss:': 443 } as const;

function syntaxError(message: string): DOMException {
  return new DOMException(message, 'SyntaxError');
}

/**
 * Parses a WebSocket URL (the WHATWG constructor's steps 1-5), resolving relative ones against
 * `base` (the previous URL, for a redirect's Location). Throws a SyntaxError DOMException.
 */
export function parseWebSocketUrl(input: string | URL, base?: string): WebSocketTarget {
  let url: URL;
  try {
    url = new URL(String(input), base);
  } catch {
    throw syntaxError(`${JSON.stringify(String(input))} is not a valid URL`);
  }
  // The standard maps http: and https: to ws: and wss: (browsers accept both since 2023).
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw syntaxError(`the URL's scheme must be ws: or wss: (or http: or https:), not ${url.protocol}`);
  }
  // RFC 6455 3: "Fragment identifiers are meaningless in the context of WebSocket URIs and MUST NOT be used."
  if (url.href.includes('#')) throw syntaxError('a WebSocket URL may not have a fragment');
  const secure = url.protocol === 'wss:';
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return {
    href: url.href,
    secure,
    hostname,
    port: url.port === '' ? DEFAULT_PORT[url.protocol as keyof typeof DEFAULT_PORT] : Number(url.port),
    // URL.host leaves out the default port, as RFC 6455 4.1 item 4 allows.
    authority: url.host,
    resource: (url.pathname === '' ? '/' : url.pathname) + url.search,
    origin: url.origin,
  };
}

/**
 * The subprotocols to offer (the constructor's steps 6-7): one string or a list; each a token
 * (RFC 6455 4.1 item 10: "characters in the range U+0021 to U+007E not including separator
 * characters"), none repeated. Throws a SyntaxError DOMException.
 */
export function checkProtocols(protocols: string | readonly string[] | undefined): readonly string[] {
  if (protocols === undefined) return [];
  const list = typeof protocols === 'string' ? [protocols] : [...protocols].map(String);
  const seen = new Set<string>();
  for (const protocol of list) {
    if (!isToken(protocol)) throw syntaxError(`${JSON.stringify(protocol)} is not a valid subprotocol name`);
    if (seen.has(protocol)) throw syntaxError(`subprotocol ${JSON.stringify(protocol)} is given more than once`);
    seen.add(protocol);
  }
  return list;
}
