/**
 * Section 11 judges permessage-deflate, it does not trust it: answers that break RFC 7692 7.1
 * and servers that compress wrongly (RSV1 out of place, context or window beyond what they
 * agreed, text that inflates to invalid UTF-8) must get FAILED, with the rule in the notes; a
 * correct server with context takeover both ways (ws) must get OK.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { constants as zlib, createDeflateRaw, deflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, test } from 'vitest';
import { computeAcceptKey, Opcode, parseExtensionOffers } from '../../src/protocol/index.js';
import { SECTIONS } from './cases.js';
import { compressibleText, judgeDeflateAnswer } from './deflate-cases.js';
import { startWsReference } from './reference-server.js';
import { type CaseResult, resolveSettings, runCase, Verdict } from './suite.js';
import { buildFrame, DEFLATE_TAIL, RSV1, throughZlib } from './wire.js';

const TIMEOUTS = { caseTimeout: 2_000, replyTimeout: 300 };
/** The payload of case 11.1.x's compressed exchange. */
const EXCHANGED = compressibleText(2048);

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await (closers.pop() as () => Promise<void>)();
});

/** Raw DEFLATE of `data` on its own, without the 00 00 ff ff tail (RFC 7692 7.2.1). */
function deflate(data: Buffer, windowBits = 15): Buffer {
  const output = deflateRawSync(data, { finishFlush: zlib.Z_SYNC_FLUSH, windowBits });
  return output.subarray(0, output.length - DEFLATE_TAIL.length);
}

/**
 * A hand-made server: answers every handshake with 101 and `extensions` as
 * Sec-WebSocket-Extensions, then, on the first bytes the client sends after it, writes what
 * `reply` returns (once).
 */
async function fakeServer(extensions: string, reply: () => Promise<Buffer> | Buffer): Promise<string> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    let head = '';
    let state: 'head' | 'open' | 'replied' = 'head';
    socket.on('data', (chunk: Buffer) => {
      if (state === 'open') {
        state = 'replied';
        void Promise.resolve(reply()).then((bytes) => socket.write(bytes));
        return;
      }
      if (state === 'replied') return;
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? '';
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${computeAcceptKey(key)}\r\nSec-WebSocket-Extensions: ${extensions}\r\n\r\n`,
      );
      state = 'open';
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  closers.push(
    () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
}

async function judge(url: string, id: string): Promise<CaseResult> {
  for (const section of SECTIONS) {
    const testCase = section.cases.find((c) => c.id === id);
    if (testCase !== undefined) return runCase(section, testCase, resolveSettings(url, TIMEOUTS));
  }
  throw new Error(`no case ${id}`);
}

function expectFailedWith(result: CaseResult, note: RegExp): void {
  expect(result.verdict, result.notes.join('\n')).toBe(Verdict.Failed);
  expect(result.notes.join('\n')).toMatch(note);
}

const offerOf = (text: string) => (parseExtensionOffers(text) ?? [])[0];

describe('the answer is judged against the offer (RFC 7692 7.1)', () => {
  test.each([
    ['permessage-deflate', undefined],
    ['permessage-deflate', 'permessage-deflate'],
    ['permessage-deflate', 'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
    ['permessage-deflate', 'permessage-deflate; server_max_window_bits=10'],
    ['permessage-deflate; server_max_window_bits=12', 'permessage-deflate; server_max_window_bits=9'],
    ['permessage-deflate; client_max_window_bits', 'permessage-deflate; client_max_window_bits=11'],
    ['permessage-deflate; server_no_context_takeover', 'permessage-deflate; server_no_context_takeover'],
  ])('offer %s, answer %s: valid', (offer, answer) => {
    expect(judgeDeflateAnswer(offerOf(offer), answer)).toMatchObject({ valid: true });
  });

  test.each([
    ['permessage-deflate', 'permessage-deflate; client_max_window_bits=10', /MUST NOT/],
    ['permessage-deflate; client_max_window_bits', 'permessage-deflate; client_max_window_bits', /not an integer/],
    ['permessage-deflate; server_max_window_bits=10', 'permessage-deflate; server_max_window_bits=11', /larger than/],
    ['permessage-deflate; server_max_window_bits=10', 'permessage-deflate', /answer does not/],
    ['permessage-deflate; server_no_context_takeover', 'permessage-deflate', /answer does not/],
    ['permessage-deflate', 'permessage-deflate; server_max_window_bits=16', /not an integer/],
    ['permessage-deflate', 'permessage-deflate; server_no_context_takeover=1', /has no value/],
    ['permessage-deflate', 'permessage-deflate; x-level=1', /not defined/],
    ['permessage-deflate', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', /repeated/],
    ['permessage-deflate', 'permessage-deflate, permessage-deflate', /2 permessage-deflate/],
    ['permessage-deflate', 'x-webkit-deflate-frame', /not offered/],
  ])('offer %s, answer %s: invalid', (offer, answer, reason) => {
    const judged = judgeDeflateAnswer(offerOf(offer), answer);
    expect(judged.valid).toBe(false);
    if (!judged.valid) expect(judged.reason).toMatch(reason);
  });
});

describe('servers that get permessage-deflate wrong FAIL', () => {
  test('an invalid answer to a valid offer', async () => {
    const url = await fakeServer('permessage-deflate; client_max_window_bits=10', () => Buffer.alloc(0));
    expectFailedWith(await judge(url, '11.1.1'), /client_max_window_bits in the answer, but not in the offer/);
  });

  test('accepting an offer with an unknown parameter', async () => {
    const url = await fakeServer('permessage-deflate', () => Buffer.alloc(0));
    expectFailedWith(await judge(url, '11.2.1'), /MUST decline/);
  });

  test('RSV1 on a continuation frame of its message', async () => {
    const compressed = deflate(EXCHANGED);
    const url = await fakeServer('permessage-deflate', () =>
      Buffer.concat([
        buildFrame({ opcode: Opcode.Text, payload: compressed.subarray(0, 10), fin: false, rsv: RSV1, mask: false }),
        buildFrame({ opcode: Opcode.Continuation, payload: compressed.subarray(10), rsv: RSV1, mask: false }),
      ]),
    );
    expectFailedWith(await judge(url, '11.1.1'), /RSV1 on a continuation frame/);
  });

  test('RSV1 on a ping', async () => {
    const url = await fakeServer('permessage-deflate', () => buildFrame({ opcode: Opcode.Ping, payload: Buffer.from('x'), rsv: RSV1, mask: false }));
    expectFailedWith(await judge(url, '11.1.1'), /control frame with RSV1/);
  });

  test('context takeover after announcing server_no_context_takeover', async () => {
    // One deflate stream for two copies of the message: the second refers back to the first.
    const url = await fakeServer('permessage-deflate; server_no_context_takeover', async () => {
      const stream = createDeflateRaw();
      const frames: Buffer[] = [];
      for (let i = 0; i < 2; i++) {
        const output = (await throughZlib(stream, EXCHANGED)) as Buffer;
        frames.push(buildFrame({ opcode: Opcode.Text, payload: output.subarray(0, output.length - DEFLATE_TAIL.length), rsv: RSV1, mask: false }));
      }
      stream.close();
      return Buffer.concat(frames);
    });
    expectFailedWith(await judge(url, '11.1.2'), /does not inflate/);
  });

  test('a window larger than the server_max_window_bits it answered', async () => {
    // 1000 random bytes twice: the copy is 1000 bytes back, beyond a 512-byte window.
    const random = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7919 + (i >> 3) * 31) & 0xff));
    const url = await fakeServer('permessage-deflate; server_max_window_bits=9', () =>
      buildFrame({ opcode: Opcode.Binary, payload: deflate(Buffer.concat([random, random])), rsv: RSV1, mask: false }),
    );
    expectFailedWith(await judge(url, '11.1.4'), /does not inflate/);
  });

  test('compressed text that inflates to invalid UTF-8', async () => {
    const url = await fakeServer('permessage-deflate', () =>
      buildFrame({ opcode: Opcode.Text, payload: deflate(Buffer.from([0x61, 0xed, 0xa0, 0x80])), rsv: RSV1, mask: false }),
    );
    expectFailedWith(await judge(url, '11.1.1'), /not valid UTF-8/);
  });
});

describe('a correct server with context takeover both ways (ws) is OK', () => {
  test.each(['11.1.1', '11.1.4', '11.4.1.3', '11.4.2.4', '11.5.1.2', '11.6.1', '11.6.8'])('case %s', async (id) => {
    const reference = await startWsReference(1024 * 1024);
    closers.push(() => reference.close());
    const result = await judge(reference.url, id);
    expect(result.verdict, result.notes.join('\n')).toBe(Verdict.Ok);
  });
});
