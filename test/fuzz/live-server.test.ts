/**
 * Fuzzing a running framecast: fast-check generates byte streams, random ones and mutations of
 * valid frame sequences (flipped bits, wrong lengths, truncation, insertions, split points),
 * and sends each to the echo endpoint on its own connection. For every stream:
 *
 * - every frame the server sends back is valid (the conformance suite's strict reader: unmasked,
 *   RSV clear, minimal lengths, valid close codes, UTF-8 text);
 * - the server either keeps the connection or closes it with a Close frame first, never a bare drop;
 * - the server never crashes, and a well-behaved client connected alongside keeps getting its
 *   echoes, in order, the whole time.
 *
 * Bounded: a fixed number of runs per property and a time limit. On failure fast-check's
 * message carries the seed and path; replay with FUZZ_SEED=<seed> FUZZ_PATH=<path>.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type WebSocket from 'ws';
import { isValidCloseCode, Opcode } from '../../src/protocol/index.js';
import { openClient, startFramecast, type RunningFramecast } from '../helpers/framecast.js';
import { buildFrame, parseTarget, RawConnection, type Target, type WireEvent } from '../conformance/wire.js';

/** Small limits so that generated lengths hit them. */
const MAX_MESSAGE_SIZE = 4 * 1024;
const CLOSE_TIMEOUT = 200;
/** How long a connection must stay quiet before the run counts it as "kept open". */
const QUIET_MS = 25;
/**
 * How long to wait for an answer that is known to be owed. Only a failing run waits this
 * long, so it is generous for a loaded 2-core machine.
 */
const PATIENT_MS = 5_000;
/** How long the server may take to end TCP after its Close (its close timeout is CLOSE_TIMEOUT); generous for the same reason. */
const TCP_CLOSE_PATIENCE_MS = 25 * CLOSE_TIMEOUT;
const RUNS_PER_PROPERTY = 120;
const TIME_LIMIT_PER_PROPERTY = 8_000;
const PROBE_INTERVAL = 20;
/** Generous for a loaded 2-core machine; a server stalled by a bad peer would take far longer. */
const MAX_ECHO_DELAY = 2_000;

const replaySeed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const replayPath = process.env.FUZZ_PATH;

/** fast-check settings shared by the properties: bounded, replayable. */
function runParameters<T>(): fc.Parameters<T> {
  return {
    numRuns: RUNS_PER_PROPERTY,
    interruptAfterTimeLimit: TIME_LIMIT_PER_PROPERTY,
    markInterruptAsFailure: false,
    ...(replaySeed === undefined ? {} : { seed: replaySeed, path: replayPath }),
  };
}

let running: RunningFramecast;
let target: Target;

/** The well-behaved client: sends a numbered message every few ms and checks each echo in order. */
class Bystander {
  sent = 0;
  received = 0;
  problem: string | undefined;
  /** The slowest echo so far, in ms: the server must not stall a good client while it fends off bad ones. */
  slowestEcho = 0;
  private readonly sentAt: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly client: WebSocket) {
    client.on('message', (data) => {
      const expected = `probe ${this.received}`;
      const text = String(data);
      if (text !== expected && this.problem === undefined) this.problem = `expected echo ${JSON.stringify(expected)}, got ${JSON.stringify(text)}`;
      this.slowestEcho = Math.max(this.slowestEcho, Date.now() - (this.sentAt[this.received] ?? Date.now()));
      this.received++;
    });
    client.on('close', (code) => {
      this.problem ??= `the well-behaved client was closed with ${code}`;
    });
    this.timer = setInterval(() => {
      if (client.readyState !== client.OPEN) return;
      this.sentAt.push(Date.now());
      client.send(`probe ${this.sent++}`);
    }, PROBE_INTERVAL);
  }

  /** Stops sending and waits for the outstanding echoes. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    const deadline = Date.now() + 2_000;
    while (this.received < this.sent && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let bystander: Bystander;

beforeAll(async () => {
  running = await startFramecast({ maxMessageSize: MAX_MESSAGE_SIZE, heartbeatInterval: 0, closeTimeout: CLOSE_TIMEOUT, handshakeTimeout: 2_000 });
  target = parseTarget(`${running.wsUrl}/ws`);
  bystander = new Bystander(await openClient(`${running.wsUrl}/ws`));
});

afterAll(async () => {
  bystander.client.terminate();
  await running.close();
});

/** Cuts `bytes` at the given points (taken modulo its length), in order. */
function split(bytes: Buffer, points: readonly number[]): Buffer[] {
  const cuts = [...new Set(points.map((point) => (bytes.length === 0 ? 0 : point % bytes.length)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const cut of cuts) {
    if (cut > start) pieces.push(bytes.subarray(start, cut));
    start = Math.max(start, cut);
  }
  pieces.push(bytes.subarray(start));
  return pieces.filter((piece) => piece.length > 0);
}

/** What one fuzzed connection came to. */
interface Outcome {
  events: WireEvent[];
  violations: string[];
}

/**
 * Opens a connection, sends the pieces one write each, and collects what the server does until
 * it closes or goes quiet. With `expectedEvents`, quiet only counts once that many events came
 * (or PATIENT_MS passed), so a slow machine does not cut a correct answer short.
 */
async function sendToServer(pieces: readonly Buffer[], expectedEvents = 0): Promise<Outcome> {
  const connection = await RawConnection.open(target, 2_000);
  try {
    const refused = await connection.handshake(target, 2_000);
    if (refused !== undefined) throw refused;
    for (const piece of pieces) {
      connection.write(piece);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const events: WireEvent[] = [];
    for (;;) {
      const event = await connection.next(events.length < expectedEvents ? PATIENT_MS : QUIET_MS, true);
      if (event === undefined) break; // quiet: the server keeps the connection
      events.push(event);
      if (event.kind === 'close') {
        // The closing handshake: the server must end TCP by itself within its close timeout.
        const closed = await connection.waitForTcpClose(TCP_CLOSE_PATIENCE_MS);
        events.push({ kind: 'tcp-closed', reset: !closed });
        break;
      }
      if (event.kind === 'tcp-closed') break;
    }
    return { events, violations: [...connection.reader.violations] };
  } finally {
    connection.destroy();
  }
}

/** The rules every outcome must keep. */
function checkOutcome(outcome: Outcome): void {
  expect(outcome.violations, 'frames the server sent').toEqual([]);
  const closeIndex = outcome.events.findIndex((event) => event.kind === 'close');
  const tcpIndex = outcome.events.findIndex((event) => event.kind === 'tcp-closed');
  if (tcpIndex !== -1) {
    // Closed: with a Close frame first (RFC 6455 7.1.7), never a bare drop.
    expect(closeIndex, 'a Close frame before the TCP close').not.toBe(-1);
    expect(closeIndex).toBeLessThan(tcpIndex);
  }
  if (closeIndex !== -1) {
    const close = outcome.events[closeIndex] as Extract<WireEvent, { kind: 'close' }>;
    if (close.code !== undefined) expect(isValidCloseCode(close.code), `close code ${close.code}`).toBe(true);
    expect(outcome.events[closeIndex + 1], 'the server ends TCP after its Close').toEqual({ kind: 'tcp-closed', reset: false });
  }
  expect(bystander.problem, 'the well-behaved client').toBeUndefined();
}

// --- Generators ---------------------------------------------------------------------------------

const payload = (max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength: max });

/** One valid client frame sequence element: a message (maybe fragmented) or a control frame. */
const validFrames: fc.Arbitrary<Buffer[]> = fc.oneof(
  fc.string({ maxLength: 200, unit: 'grapheme' }).map((text) => [buildFrame({ opcode: Opcode.Text, payload: Buffer.from(text) })]),
  payload(300).map((bytes) => [buildFrame({ opcode: Opcode.Binary, payload: bytes })]),
  payload(125).map((bytes) => [buildFrame({ opcode: Opcode.Ping, payload: bytes })]),
  payload(125).map((bytes) => [buildFrame({ opcode: Opcode.Pong, payload: bytes })]),
  fc.array(fc.string({ maxLength: 20 }), { minLength: 2, maxLength: 4 }).map((parts) =>
    parts.map((part, i) => buildFrame({ opcode: i === 0 ? Opcode.Text : Opcode.Continuation, payload: Buffer.from(part), fin: i === parts.length - 1 })),
  ),
  fc.constantFrom(1000, 1001, 3000, 4999).map((code) => [buildFrame({ opcode: Opcode.Close, payload: Buffer.from([code >> 8, code & 0xff]) })]),
);

/** A change to a valid byte stream. Indexes are taken modulo the stream's length. */
type Mutation =
  | { kind: 'flip'; index: number; bit: number }
  | { kind: 'set'; index: number; value: number }
  | { kind: 'truncate'; index: number }
  | { kind: 'insert'; index: number; bytes: Uint8Array }
  | { kind: 'delete'; index: number; count: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), index: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), index: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), index: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), index: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), index: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
);

/** Byte offsets of each frame's second byte (MASK bit and length) in a sequence: the "wrong length" targets. */
function lengthByteOffsets(frames: readonly Buffer[]): number[] {
  const offsets: number[] = [];
  let offset = 0;
  for (const f of frames) {
    offsets.push(offset + 1);
    offset += f.length;
  }
  return offsets;
}

function mutate(frames: readonly Buffer[], mutations: readonly Mutation[], lengthValues: readonly number[]): Buffer {
  let bytes = Buffer.concat(frames);
  // Wrong lengths: overwrite some frames' 7-bit length field, keeping the MASK bit.
  lengthByteOffsets(frames).forEach((offset, i) => {
    if (i < lengthValues.length && lengthValues[i] >= 0) bytes[offset] = (bytes[offset] & 0x80) | (lengthValues[i] & 0x7f);
  });
  for (const change of mutations) {
    if (bytes.length === 0) break;
    const index = change.index % bytes.length;
    switch (change.kind) {
      case 'flip':
        bytes[index] ^= 1 << change.bit;
        break;
      case 'set':
        bytes[index] = change.value;
        break;
      case 'truncate':
        bytes = bytes.subarray(0, index);
        break;
      case 'insert':
        bytes = Buffer.concat([bytes.subarray(0, index), change.bytes, bytes.subarray(index)]);
        break;
      case 'delete':
        bytes = Buffer.concat([bytes.subarray(0, index), bytes.subarray(index + change.count)]);
        break;
    }
  }
  return bytes;
}

const splitPoints = fc.array(fc.nat(), { maxLength: 6 });

describe('fuzzing the echo endpoint of a running server', () => {
  test('random byte streams: valid frames back, a Close before any TCP close, the bystander unharmed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 400 }), splitPoints, async (bytes, points) => {
        checkOutcome(await sendToServer(split(Buffer.from(bytes), points)));
      }),
      runParameters(),
    );
  });

  test('mutated valid frame sequences (flipped bits, wrong lengths, truncation, insertions, split points)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(validFrames, { minLength: 1, maxLength: 5 }).map((groups) => groups.flat()),
        fc.array(mutation, { maxLength: 3 }),
        fc.array(fc.integer({ min: -1, max: 127 }), { maxLength: 3 }),
        splitPoints,
        async (frames, mutations, lengthValues, points) => {
          checkOutcome(await sendToServer(split(mutate(frames, mutations, lengthValues), points)));
        },
      ),
      runParameters(),
    );
  });

  test('unmutated valid frame sequences at random split points are echoed exactly', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(validFrames, { minLength: 1, maxLength: 5 }), splitPoints, async (groups, points) => {
        // Up to the first Close, every message comes back and every Ping gets its Pong.
        const closeAt = groups.findIndex((group) => (group[0][0] & 0x0f) === Opcode.Close);
        const expectedReplies = (closeAt === -1 ? groups : groups.slice(0, closeAt)).filter((group) => (group[0][0] & 0x0f) !== Opcode.Pong).length;
        const outcome = await sendToServer(split(Buffer.concat(groups.flat()), points), expectedReplies + (closeAt === -1 ? 0 : 1));
        checkOutcome(outcome);
        const replies = outcome.events.filter((event) => event.kind === 'message' || event.kind === 'pong').length;
        expect(replies).toBe(expectedReplies);
        expect(outcome.events.some((event) => event.kind === 'close')).toBe(closeAt !== -1);
      }),
      runParameters(),
    );
  });

  test('mutated opening handshakes: answered 101 or 4xx (never 5xx), or left waiting for the rest', async () => {
    const valid = (key: string): Buffer =>
      Buffer.from(`GET /ws HTTP/1.1\r\nHost: ${target.authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (mutations) => {
        const request = mutate([valid('dGhlIHNhbXBsZSBub25jZQ==')], mutations, []);
        const connection = await RawConnection.open(target, 2_000);
        try {
          const response = await connection.request(request, QUIET_MS * 2);
          if (!(response instanceof Error)) {
            const status = response.head.status;
            expect(status === 101 || (status >= 400 && status < 500), `status ${status}`).toBe(true);
          }
        } finally {
          connection.destroy();
        }
        expect(bystander.problem, 'the well-behaved client').toBeUndefined();
      }),
      runParameters(),
    );
  });

  test('afterwards the server is healthy: the bystander got every echo in order and no connection leaked', async () => {
    await bystander.stop();
    expect(bystander.problem).toBeUndefined();
    expect(bystander.sent).toBeGreaterThan(10);
    expect(bystander.received).toBe(bystander.sent);
    console.log(`[fuzz] the well-behaved client sent ${bystander.sent} messages; slowest echo ${bystander.slowestEcho} ms`);
    expect(bystander.slowestEcho).toBeLessThan(MAX_ECHO_DELAY);
    const deadline = Date.now() + 2_000;
    while (running.framecast.echo.clients.size > 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(running.framecast.echo.clients.size).toBe(1);
  });
});
