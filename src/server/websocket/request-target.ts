/**
 * The request target of an HTTP request (`request.url`, RFC 9112 3.2): its path, and one
 * parameter of its query, read without building a URL object.
 *
 * Why not `new URL(...)`: on a small `POST /push` the URL object and its `searchParams` were
 * about 6% of the server's CPU (measured with --cpu-prof), for one parameter. The scanner below
 * reads the common case, a query of plain characters, directly; anything that the URL standard
 * would decode or re-encode (`%`, `+`, spaces, quotes, non-ASCII, ...) goes to `URLSearchParams`,
 * so the answer is always the one the URL standard gives (property-tested against it).
 */

const NOT_FOUND = -1;

/** The path part of a request target, without the query string. */
export function pathOf(target: string | undefined): string {
  if (target === undefined) return '';
  const query = target.indexOf('?');
  return query === NOT_FOUND ? target : target.slice(0, query);
}

/**
 * True for the characters that the URL standard leaves as they are in a query and that
 * `application/x-www-form-urlencoded` parsing does not decode: printable ASCII except space,
 * `"`, `#`, `%`, `'`, `+`, `<` and `>`. (`&` and `=` are plain too: the scanner splits on them.)
 */
function isPlainQueryChar(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x22 && c !== 0x23 && c !== 0x25 && c !== 0x27 && c !== 0x2b && c !== 0x3c && c !== 0x3e;
}

/**
 * The first value of query parameter `name` in a request target, or null when there is none:
 * what `new URL(target, base).searchParams.get(name)` returns, for a target in origin form
 * (starting with `/`, as every target of a routed request does). `name` is plain ASCII.
 */
export function queryParameter(target: string, name: string): string | null {
  const start = target.indexOf('?') + 1;
  if (start === 0) return null;
  for (let i = start; i < target.length; i++) {
    if (!isPlainQueryChar(target.charCodeAt(i))) return queryParameterByUrl(target, name);
  }
  // A plain query: `name=value` pairs split on `&`, the first `=` separating name from value.
  let pairStart = start;
  while (pairStart <= target.length) {
    let pairEnd = target.indexOf('&', pairStart);
    if (pairEnd === NOT_FOUND) pairEnd = target.length;
    const equals = target.indexOf('=', pairStart);
    const nameEnd = equals === NOT_FOUND || equals > pairEnd ? pairEnd : equals;
    if (nameEnd - pairStart === name.length && target.startsWith(name, pairStart)) {
      return nameEnd === pairEnd ? '' : target.slice(nameEnd + 1, pairEnd);
    }
    pairStart = pairEnd + 1;
  }
  return null;
}

/** The slow, exact path: the URL standard's own parser. */
function queryParameterByUrl(target: string, name: string): string | null {
  try {
    return new URL(target, 'http://localhost').searchParams.get(name);
  } catch {
    return null;
  }
}
