/**
 * Which web pages may use this server: the Origin checks. A browser names the page that made a
 * request in its `Origin` header; other clients send none. A WebSocket handshake (RFC 6455
 * 10.2, cross-site WebSocket hijacking) and a token-less push (cross-site request forgery) both
 * accept a page only from the server's own origin or one allowed explicitly.
 */

/** An origin as compared here: lower case, no trailing slash. */
function normalizeOrigin(origin: string): string {
  return origin.toLowerCase().replace(/\/$/, '');
}

/** Host of a URL origin or Host header, lower-cased, with the scheme's default port dropped. */
function normalizeHost(host: string, scheme: 'http:' | 'https:' | 'ws:' | 'wss:'): string {
  const lowered = host.toLowerCase();
  const defaultPort = scheme === 'https:' || scheme === 'wss:' ? ':443' : ':80';
  return lowered.endsWith(defaultPort) ? lowered.slice(0, -defaultPort.length) : lowered;
}

/** Allowed origins as `isOriginAllowed` compares them ('*' allows any). */
export function allowedOriginSet(origins: readonly string[] = []): ReadonlySet<string> {
  return new Set(origins.map(normalizeOrigin));
}

/**
 * A browser's request must come from this server's own origin (the one its Host header names)
 * or one in `allowed` (see `allowedOriginSet`). No Origin means not a browser.
 */
export function isOriginAllowed(origin: string | undefined, host: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (origin === undefined) return true;
  if (allowed.has('*')) return true;
  const normalized = normalizeOrigin(origin);
  if (allowed.has(normalized)) return true;
  if (host === undefined) return false;
  let url: URL;
  try {
    url = new URL(normalized);
  } catch {
    return false; // 'null' and other opaque origins
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return url.host === normalizeHost(host, url.protocol);
}
