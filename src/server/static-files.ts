/**
 * Serving the files of public/: GET and HEAD only, the right Content-Type, nothing outside the
 * folder (no path traversal, no dot-files), 404 for anything else.
 */
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';

const CONTENT_TYPES: ReadonlyMap<string, string> = new Map([
  ['.html', 'text/html; charset=utf-8'],
  ['.css', 'text/css; charset=utf-8'],
  ['.js', 'text/javascript; charset=utf-8'],
  ['.mjs', 'text/javascript; charset=utf-8'],
  ['.json', 'application/json; charset=utf-8'],
  ['.svg', 'image/svg+xml'],
  ['.png', 'image/png'],
  ['.ico', 'image/x-icon'],
  ['.txt', 'text/plain; charset=utf-8'],
  ['.map', 'application/json; charset=utf-8'],
]);

/** Headers every static answer carries: no sniffing, and a page may only talk to its own server. */
const SECURITY_HEADERS: ReadonlyMap<string, string> = new Map([
  ['x-content-type-options', 'nosniff'],
  [
    'content-security-policy',
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  ],
  ['referrer-policy', 'no-referrer'],
]);

export function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

/**
 * Maps a URL path to a file below `root`, or undefined when it would leave `root`, names a
 * dot-file, or cannot be decoded. `/` and paths ending in `/` mean `index.html`.
 */
export function resolveStaticPath(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  if (decoded.endsWith('/')) decoded += 'index.html';
  // Normalizing against "/" removes every "..", so the result can only be below root.
  const relative = normalize('/' + decoded.replaceAll('\\', '/')).slice(1);
  if (relative.split(/[\\/]/).some((part) => part.startsWith('.'))) return undefined;
  const rootPath = resolve(root);
  const full = join(rootPath, relative);
  return full.startsWith(rootPath + sep) ? full : undefined;
}

/** Answers 405 to anything but GET and HEAD (true when it did). */
export function refusedMethod(request: IncomingMessage, response: ServerResponse): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return false;
  response.setHeader('allow', 'GET, HEAD');
  sendText(response, 405, 'method not allowed\n');
  return true;
}

/** Answers a request for a file of `root`. */
export async function serveStatic(root: string, urlPath: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (refusedMethod(request, response)) return;
  const path = resolveStaticPath(root, urlPath);
  if (path === undefined) return sendText(response, 404, 'not found\n');
  let body: Buffer;
  try {
    if (!(await stat(path)).isFile()) return sendText(response, 404, 'not found\n');
    body = await readFile(path);
  } catch {
    return sendText(response, 404, 'not found\n');
  }
  sendAsset(request, response, CONTENT_TYPES.get(extname(path).toLowerCase()) ?? 'application/octet-stream', body);
}

/** Answers 200 with a page's asset (a file, or one made on the spot) and the security headers. */
export function sendAsset(request: IncomingMessage, response: ServerResponse, contentType: string, body: Buffer): void {
  for (const [name, value] of SECURITY_HEADERS) response.setHeader(name, value);
  response.writeHead(200, { 'content-type': contentType, 'content-length': body.length, 'cache-control': 'no-cache' });
  response.end(request.method === 'HEAD' ? undefined : body);
}
