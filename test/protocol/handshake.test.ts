/**
 * The opening handshake (RFC 6455 section 4), both sides, from the worked example of
 * section 1.3 to every way a request can be refused.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WEBSOCKET_GUID } from '../../src/protocol/constants.js';
import {
  type AcceptOptions,
  buildAcceptResponse,
  buildClientRequest,
  buildRejectResponse,
  computeAcceptKey,
  generateClientKey,
  type HandshakeAccepted,
  type HandshakeRejected,
  type HandshakeResult,
  headerMapFromRaw,
  isValidClientKey,
  validateExtendedConnect,
  MAX_RESPONSE_HEAD_BYTES,
  parseResponseHead,
  type ResponseHead,
  type UpgradeRequest,
  validateUpgradeRequest,
  verifyServerResponse,
} from '../../src/protocol/handshake.js';

/** The client's handshake of RFC 6455 1.2 and 1.3, line by line. */
const RFC_REQUEST_LINES = [
  'GET /chat HTTP/1.1',
  'Host: server.example.com',
  'Upgrade: websocket',
  'Connection: Upgrade',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  'Origin: http://example.com',
  'Sec-WebSocket-Protocol: chat, superchat',
  'Sec-WebSocket-Version: 13',
];
const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** Reads an HTTP request head (request line, header lines) the way node:http hands it over. */
function parseRequest(text: string): UpgradeRequest {
  const lines = text.split('\r\n');
  const [method, , version] = lines[0].split(' ');
  const raw: string[] = [];
  for (const line of lines.slice(1)) {
    if (line === '') break;
    const colon = line.indexOf(':');
    raw.push(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return { method, httpVersion: version.replace('HTTP/', ''), headers: headerMapFromRaw(raw) };
}

/** The RFC request with some header lines replaced (`name: undefined` removes the header) or added. */
function rfcRequestWith(changes: Record<string, string | undefined> = {}, requestLine = RFC_REQUEST_LINES[0]): UpgradeRequest {
  const lines = [requestLine];
  const seen = new Set<string>();
  for (const line of RFC_REQUEST_LINES.slice(1)) {
    const name = line.slice(0, line.indexOf(':'));
    if (name in changes) {
      seen.add(name);
      const value = changes[name];
      if (value !== undefined) lines.push(`${name}: ${value}`);
    } else {
      lines.push(line);
    }
  }
  for (const [name, value] of Object.entries(changes)) {
    if (!seen.has(name) && value !== undefined) lines.push(`${name}: ${value}`);
  }
  return parseRequest(lines.join('\r\n') + '\r\n\r\n');
}

function expectAccepted(result: HandshakeResult): HandshakeAccepted {
  if (!result.ok) throw new Error(`expected acceptance, got ${result.status}: ${result.reason}`);
  return result;
}

function expectRejected(result: HandshakeResult, status: number): HandshakeRejected {
  if (result.ok) throw new Error(`expected ${status}, got acceptance`);
  expect(result.status).toBe(status);
  return result;
}

describe('RFC 6455 1.3 and 4.2.2: Sec-WebSocket-Accept from the worked example', () => {
  it('the GUID is 258EAFA5-E914-47DA-95CA-C5AB0DC85B11', () => {
    expect(WEBSOCKET_GUID).toBe('258EAFA5-E914-47DA-95CA-C5AB0DC85B11');
  });

  it('SHA-1 of key + GUID is b3 7a 4f 2c c0 62 4f 16 90 f6 46 06 cf 38 59 45 b2 be c4 ea', () => {
    const digest = createHash('sha1').update(`${RFC_KEY}${WEBSOCKET_GUID}`).digest('hex');
    expect(digest).toBe('b37a4f2cc0624f1690f64606cf385945b2bec4ea');
  });

  it(`computeAcceptKey("${RFC_KEY}") is "${RFC_ACCEPT}", the base64 of those 20 bytes`, () => {
    const accept = computeAcceptKey(RFC_KEY);
    expect(accept).toBe(RFC_ACCEPT);
    expect(Buffer.from(accept, 'base64').toString('hex')).toBe('b37a4f2cc0624f1690f64606cf385945b2bec4ea');
  });

  it('accepts the request of section 1.3, choosing "chat" from "chat, superchat"', () => {
    const accepted = expectAccepted(validateUpgradeRequest(rfcRequestWith(), { protocols: ['chat'] }));
    expect(accepted.key).toBe(RFC_KEY);
    expect(accepted.accept).toBe(RFC_ACCEPT);
    expect(accepted.protocol).toBe('chat');
    expect(accepted.origin).toBe('http://example.com');
    expect(accepted.extensionOffers).toEqual([]);
  });

  it("buildAcceptResponse writes the server's handshake of section 1.3, byte for byte", () => {
    const accepted = expectAccepted(validateUpgradeRequest(rfcRequestWith(), { protocols: ['chat'] }));
    expect(buildAcceptResponse(accepted)).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
        'Sec-WebSocket-Protocol: chat\r\n' +
        '\r\n',
    );
  });

  it('without a subprotocol the response has no Sec-WebSocket-Protocol; a negotiated extension is added', () => {
    const accepted = expectAccepted(validateUpgradeRequest(rfcRequestWith({ 'Sec-WebSocket-Protocol': undefined })));
    expect(buildAcceptResponse(accepted, 'permessage-deflate')).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
        'Sec-WebSocket-Extensions: permessage-deflate\r\n' +
        '\r\n',
    );
  });
});

describe('RFC 6455 4.2.1 item 1: an HTTP/1.1 or higher GET request', () => {
  it('POST is refused with 405 and "Allow: GET"', () => {
    const rejected = expectRejected(validateUpgradeRequest(rfcRequestWith({}, 'POST /chat HTTP/1.1')), 405);
    expect(rejected.headers.get('allow')).toBe('GET');
  });

  it('methods are case-sensitive: "get" is refused with 405', () => {
    expectRejected(validateUpgradeRequest(rfcRequestWith({}, 'get /chat HTTP/1.1')), 405);
  });

  it('HTTP/1.0 is refused with 400', () => {
    expectRejected(validateUpgradeRequest(rfcRequestWith({}, 'GET /chat HTTP/1.0')), 400);
  });

  it('a nonsense HTTP version is refused with 400', () => {
    expectRejected(validateUpgradeRequest({ ...rfcRequestWith(), httpVersion: 'x.y' }), 400);
  });

  it('higher versions are fine: 1.2 and 2.0', () => {
    expectAccepted(validateUpgradeRequest(rfcRequestWith({}, 'GET /chat HTTP/1.2')));
    expectAccepted(validateUpgradeRequest(rfcRequestWith({}, 'GET /chat HTTP/2.0')));
  });
});

describe('RFC 6455 4.2.1 item 2: a Host header field', () => {
  it('a request without Host is refused with 400', () => {
    expectRejected(validateUpgradeRequest(rfcRequestWith({ Host: undefined })), 400);
  });

  it('an empty Host is refused with 400', () => {
    expectRejected(validateUpgradeRequest(rfcRequestWith({ Host: '' })), 400);
  });

  it('two Host headers (joined by the header map as "a, b") are refused with 400 (RFC 7230 5.4)', () => {
    const headers = headerMapFromRaw([
      ...['Host', 'server.example.com', 'Host', 'other.example'],
      ...['Upgrade', 'websocket', 'Connection', 'Upgrade'],
      ...['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version', '13'],
    ]);
    expectRejected(validateUpgradeRequest({ method: 'GET', httpVersion: '1.1', headers }), 400);
  });
});

describe('RFC 6455 4.2.1 item 3: Upgrade containing "websocket", case-insensitively', () => {
  it('a request without Upgrade is refused with 400', () => {
    expectRejected(validateUpgradeRequest(rfcRequestWith({ Upgrade: undefined })), 400);
  });

  it('"Upgrade: h2c" is refused with 400', () => {
    expectRejected(validateUpgradeRequest(rfcRequestWith({ Upgrade: 'h2c' })), 400);
  });

  it('"Upgrade: websockets" is refused with 400', () => {
    expectRejected(validateUpgradeRequest(rfcRequestWith({ Upgrade: 'websockets' })), 400);
  });

  it('"Upgrade: WebSocket" is accepted', () => {
    expectAccepted(validateUpgradeRequest(rfcRequestWith({ Upgrade: 'WebSocket' })));
  });

  it('websocket among other protocols, some with versions (RFC 7230 6.7), is accepted: "HTTP/2.0, websocket"', () => {
    expectAccepted(validateUpgradeRequest(rfcRequestWith({ Upgrade: 'HTTP/2.0, websocket' })));
    expectAccepted(validateUpgradeRequest(rfcRequestWith({ Upgrade: 'websocket, h2c/1' })));
  });

  it('"websocket/13" (a version of it) and a malformed list are refused with 400', () => {
    expectRejected(validateUpgradeRequest(rfcRequestWith({ Upgrade: 'websocket/13' })), 400);
    expectRejected(validateUpgradeRequest(rfcRequestWith({ Upgrade: 'HTTP/, websocket' })), 400);
  });
});

describe('RFC 6455 4.2.1 item 4: Connection including the token "Upgrade", case-insensitively', () => {
  it('a request without Connection is refused with 400', () => {
    expectRejected(validateUpgradeRequest(rfcRequestWith({ Connection: undefined })), 400);
  });

  it('"Connection: keep-alive" is refused with 400', () => {
    expectRejected(validateUpgradeRequest(rfcRequestWith({ Connection: 'keep-alive' })), 400);
  });

  it('"Connection: keep-alive, Upgrade" (what Firefox sends) is accepted', () => {
    expectAccepted(validateUpgradeRequest(rfcRequestWith({ Connection: 'keep-alive, Upgrade' })));
  });

  it('"Connection: upgrade" is accepted', () => {
    expectAccepted(validateUpgradeRequest(rfcRequestWith({ Connection: 'upgrade' })));
  });

  it('Connection sent twice, "keep-alive" then "Upgrade", is read as one list and accepted', () => {
    const text = [...RFC_REQUEST_LINES.filter((l) => !l.startsWith('Connection')), 'Connection: keep-alive', 'Connection: Upgrade'];
    const request = parseRequest(text.join('\r\n') + '\r\n\r\n');
    expect(request.headers.get('connection')).toBe('keep-alive, Upgrade');
    expectAccepted(validateUpgradeRequest(request));
  });
});

describe('RFC 6455 4.2.1 item 6 and 4.4: Sec-WebSocket-Version 13, else 426 naming the version', () => {
  for (const version of ['8', '12', '14', '', '13, 8'] as const) {
    it(`version ${JSON.stringify(version)} is refused with 426 and "Sec-WebSocket-Version: 13"`, () => {
      const rejected = expectRejected(validateUpgradeRequest(rfcRequestWith({ 'Sec-WebSocket-Version': version })), 426);
      expect(rejected.headers.get('sec-websocket-version')).toBe('13');
    });
  }

  it('a request without Sec-WebSocket-Version is refused with 426 and "Sec-WebSocket-Version: 13"', () => {
    const rejected = expectRejected(validateUpgradeRequest(rfcRequestWith({ 'Sec-WebSocket-Version': undefined })), 426);
    expect(rejected.headers.get('sec-websocket-version')).toBe('13');
  });

  it('the 426 response carries the header (RFC 6455 4.4)', () => {
    const rejected = expectRejected(validateUpgradeRequest(rfcRequestWith({ 'Sec-WebSocket-Version': '8' })), 426);
    const response = buildRejectResponse(rejected.status, rejected.reason, rejected.headers);
    expect(response.startsWith('HTTP/1.1 426 Upgrade Required\r\n')).toBe(true);
    expect(response).toContain('\r\nsec-websocket-version: 13\r\n');
  });
});

describe('RFC 6455 4.2.1 item 5: Sec-WebSocket-Key, base64 of exactly 16 bytes', () => {
  const badKeys: ReadonlyArray<[string, string]> = [
    ['23 characters', 'dGhlIHNhbXBsZSBub25jZQ='],
    ['25 characters', 'dGhlIHNhbXBsZSBub25jZQ==A'],
    ['not base64', '!!!!!!!!!!!!!!!!!!!!!!=='],
    ['15 bytes (20 characters)', Buffer.alloc(15, 7).toString('base64')],
    ['15 bytes padded out to 24 characters', `${Buffer.alloc(15, 7).toString('base64')}====`],
    ['17 bytes (24 characters)', Buffer.alloc(17, 7).toString('base64')],
    ['16 bytes written non-canonically (padding bits set)', 'dGhlIHNhbXBsZSBub25jZR=='],
    ['16 bytes in the URL-safe alphabet', '_____________________w=='],
    ['24 characters with a space inside', 'dGhlIHNhbXBs ZSBub25jZQ='],
    ['empty', ''],
  ];
  for (const [name, key] of badKeys) {
    it(`a key of ${name} is refused with 400`, () => {
      expect(isValidClientKey(key)).toBe(false);
      expectRejected(validateUpgradeRequest(rfcRequestWith({ 'Sec-WebSocket-Key': key })), 400);
    });
  }

  it('the 17-byte key really is 24 characters (so only its decoded length gives it away)', () => {
    expect(Buffer.alloc(17, 7).toString('base64')).toHaveLength(24);
  });

  it('a request without Sec-WebSocket-Key is refused with 400', () => {
    expectRejected(validateUpgradeRequest(rfcRequestWith({ 'Sec-WebSocket-Key': undefined })), 400);
  });

  it('two Sec-WebSocket-Key fields are refused with 400', () => {
    const request = parseRequest([...RFC_REQUEST_LINES, `Sec-WebSocket-Key: ${RFC_KEY}`].join('\r\n') + '\r\n\r\n');
    expectRejected(validateUpgradeRequest(request), 400);
  });

  it('the key of 16 bytes 0xff, "/////////////////////w==", is valid', () => {
    expect(isValidClientKey('/////////////////////w==')).toBe(true);
  });

  it('any 16 bytes, base64-encoded, are a valid key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        expect(isValidClientKey(Buffer.from(bytes).toString('base64'))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('generateClientKey makes valid, different keys (RFC 6455 4.1: randomly selected)', () => {
    const keys = new Set(Array.from({ length: 16 }, () => generateClientKey()));
    for (const key of keys) expect(isValidClientKey(key)).toBe(true);
    expect(keys.size).toBe(16);
  });
});

describe('RFC 6455 4.2.2 item 5.5 and 1.9: subprotocol negotiation', () => {
  const negotiate = (offered: string | undefined, options: AcceptOptions) =>
    expectAccepted(validateUpgradeRequest(rfcRequestWith({ 'Sec-WebSocket-Protocol': offered }), options)).protocol;

  it("the client's order of preference wins: it offers chat, superchat; the server speaks both", () => {
    expect(negotiate('chat, superchat', { protocols: ['superchat', 'chat'] })).toBe('chat');
  });

  it("the client's first protocol that the server speaks is chosen", () => {
    expect(negotiate('v3.chat, v2.chat, v1.chat', { protocols: ['v1.chat', 'v2.chat'] })).toBe('v2.chat');
  });

  it('no protocol in common: none chosen, and the handshake still succeeds', () => {
    expect(negotiate('chat, superchat', { protocols: ['mqtt'] })).toBeUndefined();
  });

  it('a server that speaks no subprotocol chooses none', () => {
    expect(negotiate('chat', {})).toBeUndefined();
  });

  it('a client that offers none gets none', () => {
    expect(negotiate(undefined, { protocols: ['chat'] })).toBeUndefined();
  });

  it('a malformed list is refused with 400', () => {
    expectRejected(validateUpgradeRequest(rfcRequestWith({ 'Sec-WebSocket-Protocol': 'chat superchat' }), { protocols: ['chat'] }), 400);
  });

  it('a 64 KiB list whose last element is the one the server speaks is negotiated correctly', () => {
    const value = `${'x,'.repeat(32 * 1024)}chat`;
    expect(negotiate(value, { protocols: ['chat'] })).toBe('chat');
  });

  it('with requireProtocol, a request offering none of the protocols is refused with 400 naming them; one offering it is accepted', () => {
    const options: AcceptOptions = { protocols: ['framecast.v1'], requireProtocol: true };
    for (const offered of [undefined, 'chat, mqtt']) {
      const refused = expectRejected(validateUpgradeRequest(rfcRequestWith({ 'Sec-WebSocket-Protocol': offered }), options), 400);
      expect(refused.reason).toContain('framecast.v1');
    }
    expect(negotiate('chat, framecast.v1', options)).toBe('framecast.v1');
  });

  it('a 64 KiB malformed list is refused with 400', () => {
    const value = `${'x '.repeat(32 * 1024)}chat`;
    expectRejected(validateUpgradeRequest(rfcRequestWith({ 'Sec-WebSocket-Protocol': value }), { protocols: ['chat'] }), 400);
  });
});

describe('RFC 6455 9.1: Sec-WebSocket-Extensions in the handshake', () => {
  it("passes on the client's offers in its order of preference", () => {
    const accepted = expectAccepted(
      validateUpgradeRequest(
        rfcRequestWith({ 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits, x-webkit-deflate-frame' }),
      ),
    );
    expect(accepted.extensionOffers.map((o) => o.name)).toEqual(['permessage-deflate', 'x-webkit-deflate-frame']);
    expect(accepted.extensionOffers[0].params.get('client_max_window_bits')).toBe(true);
  });

  it('extension fields sent twice are read as one list', () => {
    const request = parseRequest(
      [...RFC_REQUEST_LINES, 'Sec-WebSocket-Extensions: a; p=1', 'Sec-WebSocket-Extensions: b'].join('\r\n') + '\r\n\r\n',
    );
    const accepted = expectAccepted(validateUpgradeRequest(request));
    expect(accepted.extensionOffers.map((o) => o.name)).toEqual(['a', 'b']);
  });

  it('__proto__ and constructor as parameter names are harmless', () => {
    const accepted = expectAccepted(
      validateUpgradeRequest(rfcRequestWith({ 'Sec-WebSocket-Extensions': 'x; __proto__=1; constructor="2"' })),
    );
    expect([...accepted.extensionOffers[0].params]).toEqual([
      ['__proto__', '1'],
      ['constructor', '2'],
    ]);
    expect(({} as Record<string, unknown>)['1']).toBeUndefined();
  });

  for (const value of ['', 'permessage-deflate;', 'permessage-deflate; a="b c"', 'a b', 'x; y=']) {
    it(`a malformed value ${JSON.stringify(value)} is refused with 400`, () => {
      expectRejected(validateUpgradeRequest(rfcRequestWith({ 'Sec-WebSocket-Extensions': value })), 400);
    });
  }

  it('a 64 KiB value of valid offers is read in full', () => {
    const value = Array.from({ length: 8 * 1024 }, (_, i) => `e${i % 10}; abc`).join(', ');
    expect(value.length).toBeGreaterThanOrEqual(64 * 1024);
    const accepted = expectAccepted(validateUpgradeRequest(rfcRequestWith({ 'Sec-WebSocket-Extensions': value })));
    expect(accepted.extensionOffers).toHaveLength(8 * 1024);
    expect(accepted.extensionOffers[8 * 1024 - 1].name).toBe('e1');
  });

  it('a 64 KiB value that turns malformed at its very end is refused with 400', () => {
    const value = `${'e; a=1, '.repeat(8 * 1024)}e; a=`;
    expectRejected(validateUpgradeRequest(rfcRequestWith({ 'Sec-WebSocket-Extensions': value })), 400);
  });
});

describe('RFC 6455 4.1: the client side, round trip against the server side', () => {
  it('buildClientRequest writes the handshake of section 1.3, which the server accepts', () => {
    const text = buildClientRequest({
      host: 'server.example.com',
      path: '/chat',
      key: RFC_KEY,
      origin: 'http://example.com',
      protocols: ['chat', 'superchat'],
    });
    expect(text).toBe(
      'GET /chat HTTP/1.1\r\n' +
        'Host: server.example.com\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        'Sec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Protocol: chat, superchat\r\n' +
        'Origin: http://example.com\r\n' +
        '\r\n',
    );
  });

  it('request → validateUpgradeRequest → buildAcceptResponse → parseResponseHead → verifyServerResponse', () => {
    const key = generateClientKey();
    const protocols = ['v2.chat', 'v1.chat'];
    const requestText = buildClientRequest({
      host: 'localhost:8080',
      path: '/ws?room=1',
      key,
      protocols,
      extensions: 'permessage-deflate',
      headers: new Map([['X-Test', 'yes']]),
    });
    const request = parseRequest(requestText);
    expect(request.headers.get('x-test')).toBe('yes');
    const accepted = expectAccepted(validateUpgradeRequest(request, { protocols: ['v1.chat'] }));
    expect(accepted.protocol).toBe('v1.chat');
    expect(accepted.extensionOffers.map((o) => o.name)).toEqual(['permessage-deflate']);

    // The server's first frame may arrive in the same read as the response head.
    const firstFrame = Buffer.from('810548656c6c6f', 'hex');
    const received = Buffer.concat([Buffer.from(buildAcceptResponse(accepted), 'latin1'), firstFrame]);
    const head = parseResponseHead(received);
    if (head === undefined || head instanceof Error) throw new Error(`bad head: ${String(head)}`);
    expect(head.status).toBe(101);
    expect(received.subarray(head.headLength)).toEqual(firstFrame);
    expect(verifyServerResponse(head, key, { protocols, extensions: true })).toEqual({ protocol: 'v1.chat', extensions: undefined });
  });

  it('the round trip holds for any valid key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const key = Buffer.from(bytes).toString('base64');
        const accepted = expectAccepted(validateUpgradeRequest(parseRequest(buildClientRequest({ host: 'h', path: '/', key }))));
        const head = parseResponseHead(Buffer.from(buildAcceptResponse(accepted)));
        if (head === undefined || head instanceof Error) throw new Error('bad head');
        expect(verifyServerResponse(head, key)).toEqual({ protocol: undefined, extensions: undefined });
      }),
      { numRuns: 100 },
    );
  });
});

describe('RFC 6455 4.1: the client validates the server response', () => {
  /** A response head as the client parses it, from lines. */
  function responseHead(lines: readonly string[]): ResponseHead {
    const head = parseResponseHead(Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'));
    if (head === undefined || head instanceof Error) throw new Error(`bad head: ${String(head)}`);
    return head;
  }
  const GOOD = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${RFC_ACCEPT}`];

  it('the response of section 1.3 is accepted for the key of section 1.3', () => {
    const head = responseHead([...GOOD, 'Sec-WebSocket-Protocol: chat']);
    expect(verifyServerResponse(head, RFC_KEY, { protocols: ['chat', 'superchat'] })).toEqual({
      protocol: 'chat',
      extensions: undefined,
    });
  });

  it('header names and the Upgrade/Connection values are case-insensitive', () => {
    const head = responseHead(['HTTP/1.1 101 Switching Protocols', 'upgrade: WebSocket', 'CONNECTION: upgrade', `sec-websocket-accept: ${RFC_ACCEPT}`]);
    expect(verifyServerResponse(head, RFC_KEY)).not.toBeInstanceOf(Error);
  });

  it('rejects an accept value computed for another key', () => {
    const head = responseHead(GOOD);
    expect(verifyServerResponse(head, generateClientKey())).toBeInstanceOf(Error);
  });

  it('rejects a missing Sec-WebSocket-Accept', () => {
    expect(verifyServerResponse(responseHead(GOOD.slice(0, 3)), RFC_KEY)).toBeInstanceOf(Error);
  });

  it('rejects a status other than 101, such as a 426 refusal', () => {
    const refusal = buildRejectResponse(426, 'no', new Map([['sec-websocket-version', '13']]));
    const head = parseResponseHead(Buffer.from(refusal));
    if (head === undefined || head instanceof Error) throw new Error('bad head');
    expect(head.status).toBe(426);
    expect(verifyServerResponse(head, RFC_KEY)).toBeInstanceOf(Error);
  });

  it('rejects 200 even with all the right headers', () => {
    expect(verifyServerResponse(responseHead(['HTTP/1.1 200 OK', ...GOOD.slice(1)]), RFC_KEY)).toBeInstanceOf(Error);
  });

  it('rejects a missing Upgrade or Connection header', () => {
    expect(verifyServerResponse(responseHead(GOOD.filter((l) => !l.startsWith('Upgrade'))), RFC_KEY)).toBeInstanceOf(Error);
    expect(verifyServerResponse(responseHead(GOOD.filter((l) => !l.startsWith('Connection'))), RFC_KEY)).toBeInstanceOf(Error);
  });

  it('rejects a subprotocol the client did not offer', () => {
    const head = responseHead([...GOOD, 'Sec-WebSocket-Protocol: superchat']);
    expect(verifyServerResponse(head, RFC_KEY, { protocols: ['chat'] })).toBeInstanceOf(Error);
    expect(verifyServerResponse(head, RFC_KEY)).toBeInstanceOf(Error);
  });

  it('rejects extensions when the client offered none', () => {
    const head = responseHead([...GOOD, 'Sec-WebSocket-Extensions: permessage-deflate']);
    expect(verifyServerResponse(head, RFC_KEY)).toBeInstanceOf(Error);
    expect(verifyServerResponse(head, RFC_KEY, { extensions: true })).toEqual({
      protocol: undefined,
      extensions: 'permessage-deflate',
    });
  });
});

describe('HTTP/1.1 response heads for the client (RFC 7230 3.1.2, 3.2)', () => {
  it('an incomplete head is undefined until its blank line arrives', () => {
    const full = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n`);
    for (let cut = 0; cut < full.length; cut++) expect(parseResponseHead(full.subarray(0, cut))).toBeUndefined();
    expect(parseResponseHead(full)).toMatchObject({ status: 101, headLength: full.length });
  });

  it(`a head over ${MAX_RESPONSE_HEAD_BYTES} bytes with no end is an Error`, () => {
    const long = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nX: ${'a'.repeat(MAX_RESPONSE_HEAD_BYTES)}`);
    expect(parseResponseHead(long)).toBeInstanceOf(Error);
  });

  for (const statusLine of [
    'HTTP/2 101 Switching Protocols',
    'HTTP/1.1 abc Nope',
    'ICY 200 OK',
    'HTTP/1.1  101',
    'HTTP/1.1 099 Low',
    // status-code = 3DIGIT, then SP (RFC 7230 3.1.2): not four digits, not a number in another notation.
    'HTTP/1.1 1011 Switching Protocols',
    'HTTP/1.1 1e2 Continue',
    'HTTP/1.1 +99 Plus',
    'HTTP/1.1 10',
  ]) {
    it(`a malformed status line ${JSON.stringify(statusLine)} is an Error`, () => {
      expect(parseResponseHead(Buffer.from(`${statusLine}\r\nUpgrade: websocket\r\n\r\n`))).toBeInstanceOf(Error);
    });
  }

  it('a status line with no reason phrase is read (the reason may be empty)', () => {
    expect(parseResponseHead(Buffer.from('HTTP/1.1 101 \r\n\r\n'))).toMatchObject({ status: 101 });
    expect(parseResponseHead(Buffer.from('HTTP/1.1 101\r\n\r\n'))).toMatchObject({ status: 101 });
  });

  it('a header line without a colon is an Error', () => {
    expect(parseResponseHead(Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade websocket\r\n\r\n'))).toBeInstanceOf(Error);
  });

  it('buildRejectResponse writes a complete response with a plain-text body and its length', () => {
    expect(buildRejectResponse(405, 'use GET', new Map([['allow', 'GET']]))).toBe(
      'HTTP/1.1 405 Method Not Allowed\r\n' +
        'Connection: close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 8\r\n' +
        'allow: GET\r\n' +
        '\r\n' +
        'use GET\n',
    );
  });

  it('Content-Length counts bytes, not characters', () => {
    expect(buildRejectResponse(400, 'é')).toContain('Content-Length: 3\r\n');
  });
});

describe('validateExtendedConnect (RFC 8441: the handshake on an HTTP/2 stream)', () => {
  const connect = (extra: Record<string, string | undefined> = {}): Map<string, string> => {
    const headers: Record<string, string | undefined> = {
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'https',
      ':path': '/ws',
      ':authority': 'localhost:8080',
      'sec-websocket-version': '13',
      ...extra,
    };
    return new Map(Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined));
  };

  it('accepts :method CONNECT with :protocol websocket, without any Sec-WebSocket-Key', () => {
    const result = validateExtendedConnect(connect({ origin: 'https://localhost:8080' }));
    expect(result).toEqual({ ok: true, protocol: undefined, extensionOffers: [], origin: 'https://localhost:8080' });
  });

  it('negotiates subprotocols and extension offers exactly as the HTTP/1.1 handshake does', () => {
    const headers = connect({ 'sec-websocket-protocol': 'chat, framecast.v1', 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' });
    const overHttp2 = validateExtendedConnect(headers, { protocols: ['framecast.v1'] });
    const http1Headers = new Map([...headers].filter(([name]) => !name.startsWith(':')));
    http1Headers.set('host', 'localhost:8080').set('upgrade', 'websocket').set('connection', 'Upgrade').set('sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ==');
    const overHttp1 = validateUpgradeRequest({ method: 'GET', httpVersion: '1.1', headers: http1Headers }, { protocols: ['framecast.v1'] });
    expect(overHttp2.ok && overHttp1.ok).toBe(true);
    if (!overHttp2.ok || !overHttp1.ok) return;
    expect(overHttp2.protocol).toBe('framecast.v1');
    expect(overHttp2.protocol).toBe(overHttp1.protocol);
    expect(overHttp2.extensionOffers).toEqual(overHttp1.extensionOffers);
  });

  it.each([
    ['no :protocol (a plain CONNECT tunnel)', { ':protocol': undefined }, 400],
    ['another :protocol', { ':protocol': 'connect-udp' }, 400],
    ['no :path', { ':path': undefined }, 400],
    ['no :scheme', { ':scheme': undefined }, 400],
    ['no :authority', { ':authority': undefined }, 400],
    ['a method other than CONNECT', { ':method': 'GET' }, 405],
    ['a bad Sec-WebSocket-Protocol', { 'sec-websocket-protocol': 'a b' }, 400],
    ['a bad Sec-WebSocket-Extensions', { 'sec-websocket-extensions': ';;' }, 400],
  ])('refuses %s with %i', (_what, extra, status) => {
    const result = validateExtendedConnect(connect(extra));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.status).toBe(status);
  });

  it('refuses a version other than 13 with 400 naming 13 (not 426, which needs an Upgrade header HTTP/2 lacks)', () => {
    for (const version of ['12', '8', undefined]) {
      const result = validateExtendedConnect(connect({ 'sec-websocket-version': version }));
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.status).toBe(400);
        expect(result.headers.get('sec-websocket-version')).toBe('13');
      }
    }
  });

  it(':protocol matches case-insensitively, as upgrade tokens do', () => {
    expect(validateExtendedConnect(connect({ ':protocol': 'WebSocket' })).ok).toBe(true);
  });
});
