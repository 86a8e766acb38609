/**
 * The header values the opening handshake reads: token lists (RFC 7230 3.2.6 and 7, used by
 * RFC 6455 4.2.1 for Upgrade, Connection and Sec-WebSocket-Protocol) and extension offers
 * (RFC 6455 9.1, Sec-WebSocket-Extensions).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isToken, parseExtensionOffers, parseProtocolList, parseTokenList, tokenListIncludes, upgradeOffers } from '../../src/protocol/http-tokens.js';

const TCHAR_SPECIALS = "!#$%&'*+-.^_`|~";

describe('RFC 7230 3.2.6 (used by RFC 6455 4.1): token = 1*tchar', () => {
  it('accepts letters, digits and the tchar specials', () => {
    expect(isToken('websocket')).toBe(true);
    expect(isToken('permessage-deflate')).toBe(true);
    expect(isToken('v2.chat')).toBe(true);
    expect(isToken(TCHAR_SPECIALS)).toBe(true);
    expect(isToken('ABCxyz0189')).toBe(true);
  });

  it('rejects the empty string', () => {
    expect(isToken('')).toBe(false);
  });

  for (const char of ['(', ')', ',', '/', ':', ';', '<', '=', '>', '?', '@', '[', '\\', ']', '{', '}', '"', ' ', '\t', '\x7f', '\x00', 'é']) {
    it(`rejects a delimiter or non-token character ${JSON.stringify(char)}`, () => {
      expect(isToken(`a${char}b`)).toBe(false);
    });
  }

  it('of all 256 Latin-1 characters, exactly the 77 tchars are tokens', () => {
    const tchars: string[] = [];
    for (let code = 0; code < 256; code++) if (isToken(String.fromCharCode(code))) tchars.push(String.fromCharCode(code));
    expect(tchars.length).toBe(26 + 26 + 10 + TCHAR_SPECIALS.length);
    for (const c of TCHAR_SPECIALS) expect(tchars).toContain(c);
  });
});

describe('RFC 7230 7 (used by RFC 6455 4.2.1): comma-separated lists, 1#token', () => {
  it('reads "chat, superchat" from RFC 6455 1.2 in order', () => {
    expect(parseTokenList('chat, superchat')).toEqual(['chat', 'superchat']);
  });

  it('allows optional whitespace (spaces and tabs) around commas', () => {
    expect(parseTokenList(' a ,\tb,c \t')).toEqual(['a', 'b', 'c']);
  });

  it('skips empty list elements', () => {
    expect(parseTokenList(', a ,, b ,')).toEqual(['a', 'b']);
    expect(parseTokenList(' , ')).toEqual([]);
  });

  it('rejects an element that is not a token', () => {
    expect(parseTokenList('a b')).toBeUndefined();
    expect(parseTokenList('a;b')).toBeUndefined();
    expect(parseTokenList('a, "b"')).toBeUndefined();
    expect(parseTokenList('a, b/1')).toBeUndefined();
  });

  it('Upgrade lists (RFC 7230 6.7) hold protocols with optional versions: "HTTP/2.0, SHTTP/1.3, IRC/6.9, RTA/x11"', () => {
    expect(parseProtocolList('HTTP/2.0, SHTTP/1.3, IRC/6.9, RTA/x11')).toEqual(['HTTP/2.0', 'SHTTP/1.3', 'IRC/6.9', 'RTA/x11']);
    expect(parseProtocolList('websocket')).toEqual(['websocket']);
    for (const malformed of ['HTTP/', '/2.0', 'a/b/c', 'a b', 'HTTP / 2.0']) expect(parseProtocolList(malformed)).toBeUndefined();
    expect(upgradeOffers('HTTP/2.0, WebSocket', 'websocket')).toBe(true);
    expect(upgradeOffers('websocket/13', 'websocket')).toBe(false);
    expect(upgradeOffers(undefined, 'websocket')).toBe(false);
  });

  it('tokenListIncludes compares ASCII case-insensitively: "keep-alive, Upgrade" holds "upgrade"', () => {
    expect(tokenListIncludes('keep-alive, Upgrade', 'upgrade')).toBe(true);
    expect(tokenListIncludes('UPGRADE', 'upgrade')).toBe(true);
    expect(tokenListIncludes('WebSocket', 'websocket')).toBe(true);
  });

  it('tokenListIncludes matches whole tokens only', () => {
    expect(tokenListIncludes('keep-alive, Upgraded', 'upgrade')).toBe(false);
    expect(tokenListIncludes('websockets', 'websocket')).toBe(false);
  });

  it('tokenListIncludes is false for a missing header and for a malformed list', () => {
    expect(tokenListIncludes(undefined, 'upgrade')).toBe(false);
    expect(tokenListIncludes('upgrade x', 'upgrade')).toBe(false);
  });

  it('any list of tokens, joined with any optional whitespace and extra commas, reads back', () => {
    const token = fc.string({ unit: fc.constantFrom(...`${TCHAR_SPECIALS}azAZ09`), minLength: 1, maxLength: 8 });
    const ows = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 2 });
    fc.assert(
      fc.property(fc.array(fc.tuple(token, ows, ows, fc.boolean()), { maxLength: 8 }), (elements) => {
        const value = elements
          .map(([t, before, after, extraComma]) => `${before}${t}${after}${extraComma ? ',' : ''}`)
          .join(',');
        expect(parseTokenList(value)).toEqual(elements.map(([t]) => t));
      }),
      { numRuns: 300 },
    );
  });
});

describe('RFC 6455 9.1: Sec-WebSocket-Extensions offers', () => {
  it('reads one extension with no parameters', () => {
    const offers = parseExtensionOffers('permessage-deflate');
    expect(offers).toHaveLength(1);
    expect(offers?.[0].name).toBe('permessage-deflate');
    expect(offers?.[0].params.size).toBe(0);
    expect(offers?.[0].repeatedParams).toEqual([]);
  });

  it('reads several offers in order, parameters with and without values', () => {
    const offers = parseExtensionOffers(
      'permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate, x-foo;a=1;b',
    );
    expect(offers?.map((o) => o.name)).toEqual(['permessage-deflate', 'permessage-deflate', 'x-foo']);
    expect([...(offers?.[0].params ?? [])]).toEqual([
      ['client_max_window_bits', true],
      ['server_max_window_bits', '10'],
    ]);
    expect(offers?.[1].params.size).toBe(0);
    expect([...(offers?.[2].params ?? [])]).toEqual([
      ['a', '1'],
      ['b', true],
    ]);
  });

  it('unescapes quoted values: "10" and "1\\0" are both 10', () => {
    const offers = parseExtensionOffers('permessage-deflate; server_max_window_bits="10"; client_max_window_bits="1\\0"');
    expect(offers?.[0].params.get('server_max_window_bits')).toBe('10');
    expect(offers?.[0].params.get('client_max_window_bits')).toBe('10');
  });

  it('allows optional whitespace around ";", "=" and ","', () => {
    const offers = parseExtensionOffers(' foo \t;\tbar = 1 ; baz , qux ');
    expect(offers?.map((o) => o.name)).toEqual(['foo', 'qux']);
    expect([...(offers?.[0].params ?? [])]).toEqual([
      ['bar', '1'],
      ['baz', true],
    ]);
  });

  it('records repeated parameters (RFC 7692 7 declines such offers) and keeps the first value', () => {
    const offers = parseExtensionOffers('permessage-deflate; server_max_window_bits=10; server_max_window_bits=11');
    expect(offers?.[0].params.get('server_max_window_bits')).toBe('10');
    expect(offers?.[0].repeatedParams).toEqual(['server_max_window_bits']);
  });

  it('parameter names __proto__, constructor and toString are plain names, and nothing leaks into objects', () => {
    const offers = parseExtensionOffers('x; __proto__=polluted; constructor; toString=1; hasOwnProperty="2"');
    const params = offers?.[0].params;
    expect(params?.get('__proto__')).toBe('polluted');
    expect(params?.get('constructor')).toBe(true);
    expect(params?.get('toString')).toBe('1');
    expect(params?.get('hasOwnProperty')).toBe('2');
    expect(params?.size).toBe(4);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
    expect(typeof ({} as { toString: unknown }).toString).toBe('function');
  });

  it('an extension named __proto__ is just a name', () => {
    expect(parseExtensionOffers('__proto__; a')?.[0].name).toBe('__proto__');
  });

  const malformed: ReadonlyArray<[string, string]> = [
    ['an empty value', ''],
    ['only commas and spaces', ' , ,'],
    ['a parameter without an extension', '; a=1'],
    ['a trailing semicolon', 'foo;'],
    ['an empty parameter name', 'foo; =1'],
    ['"=" with no value', 'foo; a='],
    ['two extension names without a comma', 'foo bar'],
    ['a parameter name followed by junk', 'foo; a b'],
    ['a value that is not a token', 'foo; a=1/2'],
    ['an unterminated quoted string', 'foo; a="10'],
    ['a quoted value that is not a token once unescaped', 'foo; a="1 0"'],
    ['an empty quoted value', 'foo; a=""'],
    ['a quoted value ending in a lone backslash', 'foo; a="1\\'],
    ['a quoted extension name', '"foo"'],
    ['a non-token character in a name', 'foo@bar'],
    ['junk after a quoted value', 'foo; a="1"x'],
  ];
  for (const [name, value] of malformed) {
    it(`rejects ${name}: ${JSON.stringify(value)}`, () => {
      expect(parseExtensionOffers(value)).toBeUndefined();
    });
  }
});

describe('RFC 6455 4.2.1, 9.1: hostile 64 KiB header values are read correctly', () => {
  const SIZE = 64 * 1024;

  it('64 KiB of comma-separated tokens', () => {
    const tokens = Array.from({ length: SIZE / 8 + 1 }, (_, i) => `p${i.toString(36).padStart(5, '0')}`);
    const value = tokens.join(', ');
    expect(value.length).toBeGreaterThanOrEqual(SIZE);
    expect(parseTokenList(value)).toEqual(tokens);
  });

  it('64 KiB of whitespace and commas is an empty list', () => {
    expect(parseTokenList(' ,\t'.repeat(SIZE / 3))).toEqual([]);
  });

  it('a 64 KiB token followed by a space and junk is rejected', () => {
    expect(parseTokenList(`${'a'.repeat(SIZE)} b`)).toBeUndefined();
  });

  it('64 KiB of whitespace before a bad character is rejected', () => {
    expect(parseTokenList(`a,${' '.repeat(SIZE)}/`)).toBeUndefined();
  });

  it('an extension with 8192 parameters', () => {
    const value = `x${'; a=1'.repeat(SIZE / 8)}`;
    const offers = parseExtensionOffers(value);
    expect(offers).toHaveLength(1);
    expect(offers?.[0].params.get('a')).toBe('1');
    expect(offers?.[0].repeatedParams.length).toBe(SIZE / 8 - 1);
  });

  it('a 64 KiB quoted value made of escaped characters', () => {
    const offers = parseExtensionOffers(`x; a="${'\\b'.repeat(SIZE / 2)}"`);
    expect(offers?.[0].params.get('a')).toBe('b'.repeat(SIZE / 2));
  });

  it('a 64 KiB unterminated quoted string is rejected', () => {
    expect(parseExtensionOffers(`x; a="${'b'.repeat(SIZE)}`)).toBeUndefined();
  });

  it('64 KiB of semicolons is rejected', () => {
    expect(parseExtensionOffers(`x${';'.repeat(SIZE)}`)).toBeUndefined();
  });

  it('64 KiB of offers separated by commas', () => {
    const offers = parseExtensionOffers(Array.from({ length: SIZE / 4 }, () => 'ab').join(', '));
    expect(offers).toHaveLength(SIZE / 4);
    expect(offers?.every((o) => o.name === 'ab' && o.params.size === 0)).toBe(true);
  });
});
