/**
 * Reading a request target without a URL object: the path before `?`, and one query
 * parameter, which must always be what the URL standard (`URLSearchParams`) says it is.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pathOf, queryParameter } from '../../src/server/websocket/request-target.js';

/** The oracle: the WHATWG URL parser, as `new URL(...).searchParams.get` reads it. */
function byUrl(target: string, name: string): string | null {
  return new URL(target, 'http://localhost').searchParams.get(name);
}

/** Plain characters, and the ones either parser treats specially: escapes, '+', space, '#', controls, non-ASCII. */
const plainText = fc.stringMatching(/^[A-Za-z0-9._~!$()*,;:@?/\\[\]^`{|}-]{0,6}$/);
const specialText = fc.constantFrom('%', '%2', '%41', '%zz', '%E2%82%AC', '%C3', '+', ' ', '#', '"', "'", '<', '>', '\t', '\n', '\u0000', '\u007f', 'é', '€', '\u00a0');
/** Mostly plain, sometimes with one special piece somewhere inside. */
const text = fc.oneof(
  { weight: 3, arbitrary: plainText },
  { weight: 2, arbitrary: fc.tuple(plainText, specialText, plainText).map((parts) => parts.join('')) },
);
/** A query of `name=value` pairs (some without '=', some empty), with names near 'channel'. */
const queryText = fc
  .array(
    fc.tuple(fc.oneof(fc.constantFrom('channel', 'chan', 'channelx', ''), text), fc.boolean(), text),
    { maxLength: 5 },
  )
  .map((pairs) => pairs.map(([name, hasValue, value]) => (hasValue ? `${name}=${value}` : name)).join('&'));

describe('pathOf: the path is everything before the first "?"', () => {
  it('splits at the first "?" and keeps the rest whole', () => {
    expect(pathOf('/push?channel=a?b')).toBe('/push');
    expect(pathOf('/push')).toBe('/push');
    expect(pathOf('/push/?x')).toBe('/push/');
    expect(pathOf('?x')).toBe('');
    expect(pathOf(undefined)).toBe('');
  });
});

describe('queryParameter: the first value of a parameter, as URLSearchParams.get gives it', () => {
  it('reads plain queries directly', () => {
    expect(queryParameter('/push?channel=news', 'channel')).toBe('news');
    expect(queryParameter('/push?a=1&channel=news&channel=other', 'channel')).toBe('news');
    expect(queryParameter('/push?channelx=1&chan=2', 'channel')).toBeNull();
    expect(queryParameter('/push?channel', 'channel')).toBe('');
    expect(queryParameter('/push?channel=', 'channel')).toBe('');
    expect(queryParameter('/push?channel=a=b', 'channel')).toBe('a=b');
    expect(queryParameter('/push?&&channel=x&', 'channel')).toBe('x');
    expect(queryParameter('/push?', 'channel')).toBeNull();
    expect(queryParameter('/push', 'channel')).toBeNull();
  });

  it('decodes what the URL standard decodes: percent-escapes, "+" as space, non-ASCII', () => {
    expect(queryParameter('/push?channel=a%2Db', 'channel')).toBe('a-b');
    expect(queryParameter('/push?chann%65l=x', 'channel')).toBe('x');
    expect(queryParameter('/push?channel=a+b', 'channel')).toBe('a b');
    expect(queryParameter('/push?channel=%zz', 'channel')).toBe('%zz');
    expect(queryParameter('/push?channel=caf\u00e9', 'channel')).toBe('caf\u00e9');
    // '#' starts the fragment, which is not part of the query.
    expect(queryParameter('/push?channel=a#b', 'channel')).toBe('a');
  });

  it('agrees with URLSearchParams on any query', () => {
    fc.assert(
      fc.property(queryText, (query) => {
        const target = `/push?${query}`;
        expect(queryParameter(target, 'channel')).toBe(byUrl(target, 'channel'));
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with URLSearchParams on arbitrary strings after "?"', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40, unit: 'binary' }), (query) => {
        const target = `/chat?${query}`;
        expect(queryParameter(target, 'channel')).toBe(byUrl(target, 'channel'));
      }),
      { numRuns: 2000 },
    );
  });
});
