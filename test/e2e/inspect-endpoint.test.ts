/**
 * GET /inspect, the protocol inspector's WebSocket, driven by a `ws` client whose masking key
 * the test chooses: so the bytes that crossed the wire are known without asking the server,
 * and every field of the server's report can be checked against them.
 */
import { createHash } from 'node:crypto';
import { constants, inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { nextMessages, startFramecast, type RunningFramecast } from '../helpers/framecast.js';
import type { ControlReport, HandshakeReport, InspectorReport, MessageReport } from '../../src/server/inspector.js';

const KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const RFC_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The frame a client sends for `payload` with `KEY`, written out from RFC 6455 5.2 by hand. */
function wireFrame(opcodeByte: number, payload: Buffer): { header: Buffer; masked: Buffer } {
  let lengthPart: Buffer;
  if (payload.length <= 125) lengthPart = Buffer.from([0x80 | payload.length]);
  else if (payload.length <= 0xffff) lengthPart = Buffer.from([0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  else {
    lengthPart = Buffer.alloc(9);
    lengthPart[0] = 0x80 | 127;
    lengthPart.writeBigUInt64BE(BigInt(payload.length), 1);
  }
  const masked = Buffer.from(payload.map((byte, i) => byte ^ KEY[i % 4]));
  return { header: Buffer.concat([Buffer.from([opcodeByte]), lengthPart, KEY]), masked };
}

function parse(raw: Buffer): InspectorReport {
  return JSON.parse(raw.toString('utf8')) as InspectorReport;
}

let service: RunningFramecast;
let client: WebSocket;
let handshake: HandshakeReport;
let sentKey = '';

beforeAll(async () => {
  service = await startFramecast();
  // The key as the server received it, read from the raw request rather than from the report.
  service.framecast.server.prependListener('upgrade', (request: IncomingMessage) => {
    sentKey = String(request.headers['sec-websocket-key']);
  });
  // The handshake report may arrive in the same chunk as the 101: listen from the start.
  client = new WebSocket(`${service.wsUrl}/inspect`, { generateMask: (mask: Buffer) => KEY.copy(mask) });
  const first = new Promise<Buffer>((resolve, reject) => {
    client.once('message', (data: Buffer) => resolve(data));
    client.once('error', reject);
  });
  handshake = parse(await first) as HandshakeReport;
});

afterAll(async () => {
  client?.terminate();
  await service?.close();
});

describe('the handshake report (RFC 6455 1.3, 4.2.2)', () => {
  it('is the first message and names the key received and the accept computed from it with the GUID', () => {
    expect(handshake.type).toBe('handshake');
    expect(handshake.guid).toBe(RFC_GUID);
    expect(handshake.key).toBe(sentKey);
    expect(handshake.key).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(handshake.accept).toBe(createHash('sha1').update(handshake.key + RFC_GUID).digest('base64'));
    expect(handshake.request.method).toBe('GET');
    expect(handshake.request.target).toBe('/inspect');
    expect(handshake.response).toContain(`Sec-WebSocket-Accept: ${handshake.accept}\r\n`);
    expect(handshake.response.startsWith('HTTP/1.1 101 ')).toBe(true);
  });

  it('negotiates no extension, so the frames it describes are plain RFC 6455 (RSV1-3 zero)', () => {
    // The ws client offers permessage-deflate by default, as browsers do.
    const offer = handshake.request.headers.find(([name]) => name.toLowerCase() === 'sec-websocket-extensions');
    expect(offer?.[1]).toContain('permessage-deflate');
    expect(handshake.response).not.toMatch(/sec-websocket-extensions/i);
    expect(handshake.extensions).toBe('');
    expect(client.extensions).toBe('');
  });
});

describe('a message report: each frame as the parser read it (RFC 6455 5.2, 5.3)', () => {
  for (const [label, length, encoding] of [
    ['7-bit length', 5, '7'],
    ['16-bit extended length', 200, '7+16'],
    ['64-bit extended length', 70_000, '7+64'],
  ] as const) {
    it(`describes a ${length}-byte text message (${label}) with the bytes that crossed the wire`, async () => {
      const text = 'abcdefghij'.repeat(Math.ceil(length / 10)).slice(0, length);
      const reply = nextMessages(client, 1);
      client.send(text);
      const report = parse((await reply)[0][0]) as MessageReport;
      expect(report.type).toBe('message');
      expect(report.isBinary).toBe(false);
      expect(report.messageLength).toBe(length);
      expect(report.frameCount).toBe(1);
      expect(report.textPreview).toBe(text.slice(0, 200));
      const [frame] = report.frames;
      const wire = wireFrame(0x81, Buffer.from(text));
      expect(frame.parsed).toMatchObject({ fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 1, masked: true });
      expect(frame.parsed.payloadLength).toBe(length);
      expect(frame.parsed.headerLength).toBe(wire.header.length);
      expect(frame.parsed.maskingKeyHex).toBe(KEY.toString('hex'));
      expect(frame.derived.lengthEncoding).toBe(encoding);
      expect(frame.derived.opcodeName).toBe('text');
      expect(frame.derived.headerHex).toBe(wire.header.toString('hex'));
      const shown = Math.min(length, 256);
      expect(frame.derived.payloadBytesShown).toBe(shown);
      expect(frame.parsed.unmaskedPayloadHex).toBe(Buffer.from(text).subarray(0, shown).toString('hex'));
      expect(frame.derived.maskedPayloadHex).toBe(wire.masked.subarray(0, shown).toString('hex'));
    });
  }

  it('lists every frame of a fragmented message, continuation frames included (RFC 6455 5.4)', async () => {
    const reply = nextMessages(client, 1);
    client.send(Buffer.from([1, 2, 3]), { binary: true, fin: false });
    client.send(Buffer.from([4, 5]), { binary: true, fin: true });
    const report = parse((await reply)[0][0]) as MessageReport;
    expect(report).toMatchObject({ type: 'message', isBinary: true, messageLength: 5, textPreview: null, frameCount: 2 });
    expect(report.frames.map((frame) => [frame.parsed.fin, frame.parsed.opcode, frame.derived.opcodeName])).toEqual([
      [false, 2, 'binary'],
      [true, 0, 'continuation'],
    ]);
    expect(report.frames[0].derived.headerHex).toBe(wireFrame(0x02, Buffer.from([1, 2, 3])).header.toString('hex'));
    expect(report.frames[1].derived.headerHex).toBe(wireFrame(0x80, Buffer.from([4, 5])).header.toString('hex'));
  });

  it('reports a Ping as a control frame, once', async () => {
    const replies = nextMessages(client, 1);
    client.ping(Buffer.from('hi'));
    const report = parse((await replies)[0][0]) as ControlReport;
    expect(report.type).toBe('control');
    expect(report.frames).toHaveLength(1);
    expect(report.frames[0].derived.opcodeName).toBe('ping');
    expect(report.frames[0].derived.headerHex).toBe(wireFrame(0x89, Buffer.from('hi')).header.toString('hex'));
    // One report per message or control frame: the next message gets exactly its own.
    const next = nextMessages(client, 1);
    client.send('x');
    expect((parse((await next)[0][0]) as MessageReport).messageLength).toBe(1);
  });
});

describe('GET /inspect?deflate=on: permessage-deflate negotiated (RFC 7692)', () => {
  const ANSWER = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
  let deflateClient: WebSocket;
  let deflateHandshake: HandshakeReport;

  beforeAll(async () => {
    deflateClient = new WebSocket(`${service.wsUrl}/inspect?deflate=on`, {
      generateMask: (mask: Buffer) => KEY.copy(mask),
      perMessageDeflate: { threshold: 0 },
    });
    const first = new Promise<Buffer>((resolve, reject) => {
      deflateClient.once('message', (data: Buffer) => resolve(data));
      deflateClient.once('error', reject);
    });
    deflateHandshake = parse(await first) as HandshakeReport;
  });

  afterAll(() => deflateClient?.terminate());

  it('answers the offer with no context takeover either way, and the handshake report shows that answer', () => {
    expect(deflateClient.extensions).toBe('permessage-deflate');
    expect(deflateHandshake.extensions).toBe(ANSWER);
    expect(deflateHandshake.request.target).toBe('/inspect?deflate=on');
    expect(deflateHandshake.response).toContain(`Sec-WebSocket-Extensions: ${ANSWER}\r\n`);
  });

  it('reports a compressed message: RSV1 set, the DEFLATE bytes as on the wire, and the inflated message', async () => {
    const text = 'compress me, '.repeat(150);
    const reply = nextMessages(deflateClient, 1);
    deflateClient.send(text);
    const report = parse((await reply)[0][0]) as MessageReport;
    expect(report).toMatchObject({ type: 'message', isBinary: false, compressed: true, messageLength: text.length, frameCount: 1 });
    expect(report.textPreview).toBe(text.slice(0, 200));
    expect(report.messagePreviewHex).toBe(Buffer.from(text).subarray(0, 256).toString('hex'));
    const [frame] = report.frames;
    // RFC 7692 6.1: the first frame of a compressed message has RSV1 set.
    expect(frame.parsed).toMatchObject({ fin: true, rsv1: true, rsv2: false, rsv3: false, opcode: 1, masked: true });
    expect(report.wireLength).toBe(frame.parsed.payloadLength);
    expect(report.wireLength).toBeLessThan(text.length / 10);
    expect(frame.derived.headerHex.slice(0, 2)).toBe('c1'); // FIN + RSV1 + text
    // The payload shown is all of it here, and it is DEFLATE data: with the 4 tail bytes put
    // back (RFC 7692 7.2.2), node's zlib inflates it to the message.
    expect(frame.derived.payloadBytesShown).toBe(frame.parsed.payloadLength);
    const wire = Buffer.from(frame.parsed.unmaskedPayloadHex, 'hex');
    const inflated = inflateRawSync(Buffer.concat([wire, Buffer.from([0x00, 0x00, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH });
    expect(inflated.toString()).toBe(text);
    expect(frame.derived.maskedPayloadHex).toBe(Buffer.from(wire.map((byte, i) => byte ^ KEY[i % 4])).toString('hex'));
  });

  it('reports a message sent uncompressed on the same connection with RSV1 clear and the wire length equal to the message', async () => {
    const text = 'sent as is, '.repeat(20);
    const reply = nextMessages(deflateClient, 1);
    deflateClient.send(text, { compress: false });
    const report = parse((await reply)[0][0]) as MessageReport;
    expect(report).toMatchObject({ compressed: false, messageLength: text.length, wireLength: text.length });
    expect(report.frames[0].parsed.rsv1).toBe(false);
  });
});

describe('the /inspect endpoint', () => {
  it('answers a plain GET with 426 and gets no channel-less pushes', async () => {
    const plain = await fetch(`${service.httpUrl}/inspect`);
    expect(plain.status).toBe(426);
    const push = await fetch(`${service.httpUrl}/push`, { method: 'POST', body: 'to everyone' });
    expect(await push.json()).toEqual({ channel: null, recipients: 0 });
  });
});

describe('the handshake report withholds credentials', () => {
  it('shows Cookie, Authorization and Proxy-Authorization by size only, and every other header as sent', async () => {
    const cookie = 'session=SECRET-httponly';
    const authorization = 'Bearer SECRET-token';
    const withCredentials = new WebSocket(`${service.wsUrl}/inspect`, {
      headers: { Cookie: cookie, Authorization: authorization, 'Proxy-Authorization': 'Basic U0VDUkVU', 'X-Visible': 'shown' },
    });
    const [[raw]] = await nextMessages(withCredentials, 1);
    withCredentials.terminate();
    expect(raw.toString('utf8')).not.toContain('SECRET');
    expect(raw.toString('utf8')).not.toContain('U0VDUkVU');
    const report = parse(raw) as HandshakeReport;
    const shown = new Map(report.request.headers.map(([name, value]) => [name.toLowerCase(), value]));
    expect(shown.get('cookie')).toBe(`(withheld: ${cookie.length} bytes)`);
    expect(shown.get('authorization')).toBe(`(withheld: ${authorization.length} bytes)`);
    expect(shown.get('proxy-authorization')).toBe('(withheld: 14 bytes)');
    expect(shown.get('x-visible')).toBe('shown');
  });
});
