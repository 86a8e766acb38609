/**
 * The suite judges, it does not trust: servers that break RFC 6455 on purpose must get
 * FAILED (or NON-STRICT where the RFC allows it), with the rule they broke in the notes.
 * Without these tests a suite that passed everything would pass too.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { type RawData, WebSocketServer } from 'ws';
import { computeAcceptKey } from '../../src/protocol/index.js';
import { SECTIONS } from './cases.js';
import { type CaseResult, resolveSettings, runCase, Verdict } from './suite.js';
import { buildFrame } from './wire.js';

/** Short timeouts: every misbehaving server here is on loopback. */
const TIMEOUTS = { caseTimeout: 2_000, replyTimeout: 300 };

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await (closers.pop() as () => Promise<void>)();
});

function listen(server: Server | WebSocketServer): Promise<number> {
  return new Promise((resolve) => {
    server.once('listening', () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * A hand-made server: it completes the handshake (with a wrong accept key if asked), then
 * calls `onData` for every chunk the client sends, which decides how to misbehave.
 */
async function fakeServer(onData: (socket: Socket, chunk: Buffer) => void, options: { wrongAccept?: boolean } = {}): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    let head = '';
    let upgraded = false;
    socket.on('data', (chunk: Buffer) => {
      if (upgraded) return onData(socket, chunk);
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? '';
      const accept = options.wrongAccept ? computeAcceptKey(`${key}x`) : computeAcceptKey(key);
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      upgraded = true;
      const rest = Buffer.from(head.slice(end + 4), 'latin1');
      if (rest.length > 0) onData(socket, rest);
    });
  });
  server.listen(0, '127.0.0.1');
  const port = await listen(server);
  closers.push(
    () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return `ws://127.0.0.1:${port}/ws`;
}

/** Runs one case by id against `url`. */
async function judge(url: string, id: string): Promise<CaseResult> {
  for (const section of SECTIONS) {
    const testCase = section.cases.find((c) => c.id === id);
    if (testCase !== undefined) return runCase(section, testCase, resolveSettings(url, TIMEOUTS));
  }
  throw new Error(`no case ${id}`);
}

/** Case 1.1.2 sends a 1-byte text message and expects its echo; these servers answer with a bad frame. */
const ECHO_CASE = '1.1.2';

describe('every frame the server sends is checked', () => {
  test.each([
    ['masked', buildFrame({ opcode: 0x1, payload: Buffer.from('a'), mask: true }), 'masked frame (RFC 6455 5.1)'],
    ['with a 16-bit length for 1 byte', buildFrame({ opcode: 0x1, payload: Buffer.from('a'), mask: false, lengthBits: 16 }), 'minimal encoding'],
    ['with a 64-bit length for 1 byte', buildFrame({ opcode: 0x1, payload: Buffer.from('a'), mask: false, lengthBits: 64 }), 'minimal encoding'],
    ['with RSV1 set', buildFrame({ opcode: 0x1, payload: Buffer.from('a'), mask: false, rsv: 4 }), 'RSV bits'],
    ['with a reserved opcode', buildFrame({ opcode: 0x3, payload: Buffer.from('a'), mask: false }), 'reserved opcode 0x3'],
    ['as invalid UTF-8 text', buildFrame({ opcode: 0x1, payload: Buffer.from([0xc0, 0x80]), mask: false }), 'not valid UTF-8'],
    ['as an orphan continuation', buildFrame({ opcode: 0x0, payload: Buffer.from('a'), mask: false }), 'no message to continue'],
    ['as a fragmented ping', buildFrame({ opcode: 0x9, fin: false, mask: false }), 'fragmented control frame'],
  ])('an echo sent %s FAILS', async (_name, reply, note) => {
    const url = await fakeServer((socket) => socket.write(reply));
    const result = await judge(url, ECHO_CASE);
    expect(result.verdict).toBe(Verdict.Failed);
    expect(result.notes.join('\n')).toContain(note);
  });

  test('a Close with code 1005, which may never be sent, FAILS', async () => {
    const close1005 = buildFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xed]), mask: false });
    const url = await fakeServer((socket) => socket.end(close1005));
    const result = await judge(url, '7.1.2');
    expect(result.verdict).toBe(Verdict.Failed);
    expect(result.notes.join('\n')).toContain('close code 1005');
  });

  test('a data frame after the server’s Close FAILS', async () => {
    const close = buildFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8]), mask: false });
    const text = buildFrame({ opcode: 0x1, payload: Buffer.from('late'), mask: false });
    const url = await fakeServer((socket) => socket.end(Buffer.concat([close, text])));
    const result = await judge(url, '7.1.2');
    expect(result.verdict).toBe(Verdict.Failed);
    expect(result.notes.join('\n')).toContain('after its Close frame');
  });
});

describe('the verdict follows what the RFC allows', () => {
  test('dropping TCP without a Close frame on a protocol error is NON-STRICT', async () => {
    const url = await fakeServer((socket) => socket.destroy());
    const result = await judge(url, '3.1.1');
    expect(result.verdict).toBe(Verdict.NonStrict);
    expect(result.notes.join('\n')).toContain('without the Close frame');
  });

  test('dropping TCP without a Close frame on an unmasked frame is OK (RFC 6455 5.1: the Close is a MAY)', async () => {
    const url = await fakeServer((socket) => socket.destroy());
    const result = await judge(url, '9.1');
    expect(result.verdict).toBe(Verdict.Ok);
  });

  test('silence where a Pong is owed FAILS', async () => {
    const url = await fakeServer(() => {});
    const result = await judge(url, '2.1');
    expect(result.verdict).toBe(Verdict.Failed);
    expect(result.notes.join('\n')).toContain('expected a pong');
  });

  test('a wrong Sec-WebSocket-Accept FAILS every WebSocket case', async () => {
    const url = await fakeServer(() => {}, { wrongAccept: true });
    const result = await judge(url, ECHO_CASE);
    expect(result.verdict).toBe(Verdict.Failed);
    expect(result.notes.join('\n')).toContain('Sec-WebSocket-Accept');
  });

  test('a server that echoes invalid UTF-8 FAILS the UTF-8 cases but passes the valid ones', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', skipUTF8Validation: true });
    server.on('connection', (socket) => socket.on('message', (data: RawData, isBinary: boolean) => socket.send(data as Buffer, { binary: isBinary })));
    const port = await listen(server);
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const url = `ws://127.0.0.1:${port}/ws`;
    expect((await judge(url, '6.1.12')).verdict).toBe(Verdict.Ok);
    const invalid = await judge(url, '6.5.8');
    expect(invalid.verdict).toBe(Verdict.Failed);
    expect(invalid.notes.join('\n')).toContain('not valid UTF-8');
    for (const client of server.clients) client.terminate();
  });
});

describe('fail-fast inside a frame (6.9): only a Close before the rest of the frame is sent is OK', () => {
  const close1007 = buildFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xef]), mask: false });

  test('a server that fails at the first bytes of an invalid frame is OK', async () => {
    const url = await fakeServer((socket) => socket.end(close1007));
    const result = await judge(url, '6.9.1');
    expect(result.verdict, result.notes.join('\n')).toBe(Verdict.Ok);
  });

  test('a server that fails only once the frame is complete (ws, which checks a message once it is whole) is NON-STRICT', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    server.on('connection', (socket) => {
      socket.on('message', (data: RawData, isBinary: boolean) => socket.send(data as Buffer, { binary: isBinary }));
      socket.on('error', () => {});
    });
    const port = await listen(server);
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    for (const id of ['6.9.1', '6.9.5']) {
      const result = await judge(`ws://127.0.0.1:${port}/ws`, id);
      expect(result.verdict, result.notes.join('\n')).toBe(Verdict.NonStrict);
      expect(result.notes.join('\n')).toContain('failed only once the rest was sent');
    }
    for (const client of server.clients) client.terminate();
  });

  test('a server that fails before the invalid bytes are sent (on the valid first piece) FAILS', async () => {
    const url = await fakeServer((socket) => socket.end(close1007));
    const result = await judge(url, '6.9.2');
    expect(result.verdict).toBe(Verdict.Failed);
    expect(result.notes.join('\n')).toContain('before the offending bytes were sent');
  });

  test('a server that never fails FAILS', async () => {
    const url = await fakeServer(() => {});
    const result = await judge(url, '6.9.3');
    expect(result.verdict).toBe(Verdict.Failed);
    expect(result.notes.join('\n')).toContain('never failed the connection');
  });
});
