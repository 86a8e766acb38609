/**
 * Client mode judges, it does not trust: clients that break RFC 6455 on purpose must get
 * FAILED (or NON-STRICT where the RFC says SHOULD), with the rule they broke in the notes.
 * Without these tests a client mode that passed everything would pass too.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { type FrameHeader, FrameParser, Opcode } from '../../src/protocol/index.js';
import { findCase } from './cases.js';
import { acceptFor, type ClientLauncher, ClientsUnderTest, inProcessLauncher } from './client-mode.js';
import { framecastEcho } from './echo-clients/framecast.js';
import { type CaseResult, resolveClientSettings, runCase, type SuiteOptions, Verdict } from './suite.js';
import { buildFrame } from './wire.js';

/** Short timeouts: every misbehaving client here is on loopback, in this process. */
const TIMEOUTS: SuiteOptions = { caseTimeout: 3_000, replyTimeout: 500, clientCloseGrace: 300 };

const running: ClientsUnderTest[] = [];
afterEach(async () => {
  while (running.length > 0) await running.pop()!.close();
});

/** Runs the client-mode cases `ids`, in order, with clients from `launch`. */
async function judge(launch: ClientLauncher, ...ids: string[]): Promise<CaseResult[]> {
  const clients = await ClientsUnderTest.start(launch);
  running.push(clients);
  const settings = resolveClientSettings(clients, TIMEOUTS);
  const results: CaseResult[] = [];
  for (const id of ids) {
    const { section, testCase } = findCase(id, 'client');
    results.push(await runCase(section, testCase, settings));
  }
  return results;
}

/** Ways a hand-made echo client can break the rules. */
interface Quirks {
  /** Masking of its frames: a fresh random key (right), none, or the same key every time. */
  mask?: 'random' | 'none' | 'fixed';
  /** The Sec-WebSocket-Key of every connection (a fresh one when absent). */
  key?: string;
  /** Leave out Sec-WebSocket-Version. */
  noVersion?: boolean;
  /** Sec-WebSocket-Extensions to offer. */
  extensions?: string;
  /** Send a frame right behind the request, before the 101. */
  earlyFrame?: boolean;
  /** Take any 101, whatever its Sec-WebSocket-Accept. */
  ignoreAccept?: boolean;
  /** Do not answer pings. */
  noPong?: boolean;
  /** End TCP right after echoing the server's Close, instead of leaving that to the server. */
  closeTcpFirst?: boolean;
}

const FIXED_KEY = Buffer.from([0x12, 0x34, 0x56, 0x78]);

/**
 * An echo client spoken by hand (its request and frames written here, with the suite's own
 * frame builder), reading the server's frames with src/protocol's parser; it misbehaves as
 * `quirks` say.
 */
function rawClient(quirks: Quirks): ClientLauncher {
  return inProcessLauncher((url) => {
    const target = new URL(url);
    const socket = connect({ host: target.hostname, port: Number(target.port) });
    socket.on('error', () => {});
    const closed = new Promise<string>((resolve) => socket.once('close', () => resolve('closed')));
    const frame = (opcode: number, payload: Buffer): Buffer =>
      buildFrame({ opcode, payload, mask: quirks.mask !== 'none', maskKey: quirks.mask === 'fixed' ? FIXED_KEY : undefined });
    const key = quirks.key ?? Buffer.from(Array.from({ length: 16 }, () => Math.floor(Math.random() * 256))).toString('base64');
    const lines = [`GET ${target.pathname} HTTP/1.1`, `Host: ${target.host}`, 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${key}`];
    if (!quirks.noVersion) lines.push('Sec-WebSocket-Version: 13');
    if (quirks.extensions !== undefined) lines.push(`Sec-WebSocket-Extensions: ${quirks.extensions}`);
    const request = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
    socket.write(quirks.earlyFrame ? Buffer.concat([request, frame(Opcode.Text, Buffer.from('too early'))]) : request);
    const parser = new FrameParser(
      {
        onFrame(header: FrameHeader, payload: Buffer): void {
          if (header.opcode === Opcode.Text || header.opcode === Opcode.Binary) socket.write(frame(header.opcode, Buffer.from(payload)));
          else if (header.opcode === Opcode.Ping && !quirks.noPong) socket.write(frame(Opcode.Pong, Buffer.from(payload)));
          else if (header.opcode === Opcode.Close) {
            socket.write(frame(Opcode.Close, Buffer.from(payload)));
            if (quirks.closeTcpFirst) socket.end();
          }
        },
        onFrameError: () => socket.destroy(),
      },
      { role: 'client' },
    );
    let head = Buffer.alloc(0);
    let open = false;
    socket.on('data', (chunk: Buffer) => {
      if (open) return parser.push(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      const text = head.subarray(0, end).toString('latin1');
      const accept = /sec-websocket-accept:\s*(\S+)/i.exec(text)?.[1];
      if (!text.startsWith('HTTP/1.1 101') || (!quirks.ignoreAccept && accept !== acceptFor(key))) return socket.destroy();
      open = true;
      if (head.length > end + 4) parser.push(head.subarray(end + 4));
    });
    return { closed, stop: () => socket.destroy() };
  });
}

describe("every frame and request of the client is judged", () => {
  test('unmasked frames FAIL', async () => {
    const [result] = await judge(rawClient({ mask: 'none' }), '1.1.2');
    expect(result.verdict).toBe(Verdict.Failed);
    expect(result.notes.join('\n')).toContain('client sent an unmasked frame (RFC 6455 5.1');
  });

  test('the same masking key for every frame FAILS', async () => {
    const [tenMessages, keyed] = await judge(rawClient({ mask: 'fixed' }), '1.4.1', '9.5');
    expect(tenMessages.verdict).toBe(Verdict.Failed);
    expect(tenMessages.notes.join('\n')).toContain('two frames in a row with the same key 12345678');
    expect(keyed.verdict).toBe(Verdict.Failed);
    expect(keyed.notes.join('\n')).toContain('used the masking key 12345678 for more than one frame');
  });

  test('the same Sec-WebSocket-Key on a second connection FAILS', async () => {
    const [first, second] = await judge(rawClient({ key: 'dGhlIHNhbXBsZSBub25jZQ==' }), '1.1.1', '1.1.2');
    expect(first.verdict).toBe(Verdict.Ok);
    expect(second.verdict).toBe(Verdict.Failed);
    expect(second.notes.join('\n')).toContain('was used before in this run');
  });

  test('a request without Sec-WebSocket-Version, or with a malformed deflate offer, FAILS', async () => {
    const [noVersion] = await judge(rawClient({ noVersion: true }), '1.1.2');
    expect(noVersion.verdict).toBe(Verdict.Failed);
    expect(noVersion.notes.join('\n')).toContain('Sec-WebSocket-Version "(none)", not 13');
    const [badOffer] = await judge(rawClient({ extensions: 'permessage-deflate; x-nonsense; server_max_window_bits=99' }), '1.1.2');
    expect(badOffer.verdict).toBe(Verdict.Failed);
    expect(badOffer.notes.join('\n')).toContain('unknown parameter x-nonsense');
    expect(badOffer.notes.join('\n')).toContain('server_max_window_bits=99');
  });

  test('data sent before the 101 FAILS', async () => {
    const [result] = await judge(rawClient({ earlyFrame: true }), '1.1.2');
    expect(result.verdict).toBe(Verdict.Failed);
    expect(result.notes.join('\n')).toContain('before the server\'s answer');
  });
});

describe('the verdict follows what the RFC allows', () => {
  test('a client that takes a wrong Sec-WebSocket-Accept FAILS; one that checks it is OK', async () => {
    const [careless] = await judge(rawClient({ ignoreAccept: true }), '10.7');
    expect(careless.verdict).toBe(Verdict.Failed);
    expect(careless.notes.join('\n')).toContain('accepted the answer');
    const [careful] = await judge(rawClient({}), '10.7');
    expect(careful.verdict).toBe(Verdict.Ok);
  });

  test('silence where a pong is owed FAILS', async () => {
    const [result] = await judge(rawClient({ noPong: true }), '2.1');
    expect(result.verdict).toBe(Verdict.Failed);
    expect(result.notes.join('\n')).toContain('expected a pong');
  });

  test('closing TCP before the server does is NON-STRICT (RFC 6455 7.1.1: the client SHOULD wait); waiting is OK', async () => {
    const [hasty] = await judge(rawClient({ closeTcpFirst: true }), '1.1.2');
    expect(hasty.verdict).toBe(Verdict.NonStrict);
    expect(hasty.notes.join('\n')).toContain('the client SHOULD wait for the server to close it');
    const [patient] = await judge(rawClient({}), '1.1.2');
    expect(patient.verdict).toBe(Verdict.Ok);
  });

  test('ws, which ends TCP itself after the Close, is NON-STRICT for it; framecast\'s client is OK', async () => {
    const [ws] = await judge(inProcessLauncher((url) => wsClient(url, {})), '7.1.2');
    expect(ws.verdict).toBe(Verdict.NonStrict);
    const [framecast] = await judge(inProcessLauncher((url) => framecastEcho(url, 16 * 1024 * 1024)), '7.1.2');
    expect(framecast.verdict).toBe(Verdict.Ok);
  });

  test('a client that echoes invalid UTF-8 FAILS the UTF-8 cases but passes the valid ones', async () => {
    const [valid, invalid] = await judge(inProcessLauncher((url) => wsClient(url, { skipUTF8Validation: true })), '6.1.12', '6.5.8');
    // ws ends TCP itself after the Close: NON-STRICT, not FAILED, for the valid text.
    expect(valid.verdict).toBe(Verdict.NonStrict);
    expect(invalid.verdict).toBe(Verdict.Failed);
    expect(invalid.notes.join('\n')).toContain('client sent a text message that is not valid UTF-8');
  });
});

/** A `ws` echo client with `options`. */
function wsClient(url: string, options: WebSocket.ClientOptions): { closed: Promise<string>; stop(): void } {
  const socket = new WebSocket(url, options);
  socket.on('message', (data, isBinary) => socket.send(data as Buffer, { binary: isBinary }));
  socket.on('error', () => {});
  return { closed: new Promise((resolve) => socket.on('close', (code) => resolve(`closed ${code}`))), stop: () => socket.terminate() };
}
