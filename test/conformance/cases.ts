/**
 * The conformance cases, derived rule by rule from RFC 6455's MUSTs (and SHOULDs, which make
 * the difference between OK and NON-STRICT). Each case names the behaviour it expects and the
 * section that requires it. Sections follow the Autobahn test suite's: framing, pings and
 * pongs, reserved bits, opcodes, fragmentation, UTF-8, close handling, limits, plus masking and
 * the opening handshake; section 11, permessage-deflate (RFC 7692), is in deflate-cases.ts.
 *
 * The same cases judge servers and clients: sections 1 to 8 (and most of 11) are one rule with
 * the roles swapped (the suite sends what a client, or a server, may and may not send); masking
 * (9), the opening handshake (10) and permessage-deflate negotiation (11.1-11.3) have a list of
 * their own for each side under test (`sectionsFor`).
 *
 * Every case runs on its own connection. Cases that end healthy finish with the closing
 * handshake, so the close is judged everywhere too; and every frame the peer sends in any
 * case goes through the strict reader of wire.ts (masked as its side must be, RSV clear,
 * minimal length, valid close codes, valid UTF-8 text).
 */
import { generateClientKey, computeAcceptKey, Opcode, WEBSOCKET_VERSION } from '../../src/protocol/index.js';
import {
  type CaseContext,
  type ConformanceCase,
  expect,
  type FailureExpectation,
  type Section,
} from './suite.js';
import { acceptFor, switchingProtocols } from './client-mode.js';
import { deflateSection, QUICK_DEFLATE_SIZES } from './deflate-cases.js';
import { describeEvent, type RawResponse, type Side } from './wire.js';

// --- Close codes (RFC 6455 7.4) -------------------------------------------------------------

const NORMAL = 1000;
const PROTOCOL_ERROR = 1002;
const INVALID_PAYLOAD = 1007;
const MESSAGE_TOO_BIG = 1009;

/** RFC 6455 7.1.7 with 7.4.1: a protocol violation fails the connection with 1002. */
const PROTOCOL_FAILURE: FailureExpectation = { codes: [PROTOCOL_ERROR] };
/** RFC 6455 8.1 with 7.4.1: invalid UTF-8 in a text message fails the connection with 1007. */
const UTF8_FAILURE: FailureExpectation = { codes: [INVALID_PAYLOAD] };
/** RFC 6455 10.4 with 7.4.1: a message too big to process is refused with 1009. */
const TOO_BIG_FAILURE: FailureExpectation = { codes: [MESSAGE_TOO_BIG] };

// --- Case builders ----------------------------------------------------------------------------

function wsCase(id: string, description: string, expectation: string, run: (t: CaseContext) => Promise<void>): ConformanceCase {
  return { id, description, expectation, kind: 'websocket', run };
}

function httpCase(id: string, description: string, expectation: string, run: (t: CaseContext) => Promise<void>, appliesTo?: Side): ConformanceCase {
  return { id, description, expectation, kind: 'http', run, appliesTo };
}

/** "1 byte", "125 bytes". */
function bytes(count: number): string {
  return count === 1 ? '1 byte' : `${count} bytes`;
}

/** Payload bytes 0, 1, 2, ... as text-safe ASCII letters. */
function asciiPayload(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = 0x61 + (i % 26);
  return bytes;
}

/** Every byte value in turn. */
function binaryPayload(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = i & 0xff;
  return bytes;
}

/** Sends `frames` then expects `events` and a clean closing handshake. */
async function echoCase(t: CaseContext, frames: Buffer[], events: Parameters<CaseContext['expectEvents']>[0]): Promise<void> {
  t.send(...frames);
  await t.expectEvents(events);
  await t.closeNormally();
}

/** Sends `frames`, expects `before` (e.g. echoes of valid frames sent first), then the failure. */
async function failureCase(t: CaseContext, frames: Buffer[], failure: FailureExpectation, before: Parameters<CaseContext['expectEvents']>[0] = []): Promise<void> {
  t.send(...frames);
  await t.expectEvents(before);
  await t.expectFailure(failure);
}

// --- 1. Framing (RFC 6455 5.2) -----------------------------------------------------------------

/** Lengths on both sides of every encoding boundary: 7-bit up to 125, 16-bit up to 65535, then 64-bit. */
const BOUNDARY_LENGTHS = [0, 1, 125, 126, 127, 128, 65535, 65536] as const;
const CHOPPED_LENGTHS = [0, 1, 125, 126, 127] as const;
const LARGE_CHOP = 997;

const framing: Section = {
  id: '1',
  title: 'Framing',
  cases: [
    ...BOUNDARY_LENGTHS.map((length, i) =>
      wsCase(`1.1.${i + 1}`, `text message of ${bytes(length)}`, 'echoed as one text message; every length encoded minimally (RFC 6455 5.2, 5.6)', (t) =>
        echoCase(t, [t.frame.text(asciiPayload(length))], [expect.text(asciiPayload(length))]),
      ),
    ),
    ...BOUNDARY_LENGTHS.map((length, i) =>
      wsCase(`1.2.${i + 1}`, `binary message of ${bytes(length)}`, 'echoed as one binary message (RFC 6455 5.2, 5.6)', (t) =>
        echoCase(t, [t.frame.binary(binaryPayload(length))], [expect.binary(binaryPayload(length))]),
      ),
    ),
    ...CHOPPED_LENGTHS.map((length, i) =>
      wsCase(`1.3.${i + 1}`, `text message of ${bytes(length)} delivered one byte at a time`, 'a frame may arrive in any number of TCP reads: echoed unchanged (RFC 6455 5.2)', async (t) => {
        await t.sendChopped(t.frame.text(asciiPayload(length)), 1);
        await t.expectEvents([expect.text(asciiPayload(length))]);
        await t.closeNormally();
      }),
    ),
    wsCase('1.3.6', 'binary message of 65536 bytes, header one byte at a time, payload in 997-byte pieces', 'the 64-bit length split across reads is read correctly (RFC 6455 5.2)', async (t) => {
      const bytes = t.frame.binary(binaryPayload(65536));
      const headerLength = 14; // 2 + 8 bytes of length + 4 of masking key
      await t.sendChopped(bytes.subarray(0, headerLength), 1);
      await t.sendChopped(bytes.subarray(headerLength), LARGE_CHOP);
      await t.expectEvents([expect.binary(binaryPayload(65536))]);
      await t.closeNormally();
    }),
    wsCase('1.4.1', 'ten text messages in one write', 'every frame in a read is processed, in order (RFC 6455 5.2, 6.2)', (t) => {
      const texts = Array.from({ length: 10 }, (_, i) => `message ${i}`);
      return echoCase(t, texts.map((text) => t.frame.text(text)), texts.map((text) => expect.text(text)));
    }),
    wsCase('1.4.2', 'text message whose header and payload arrive 50 ms apart', 'the server waits for the rest of a frame (RFC 6455 5.2)', async (t) => {
      const bytes = t.frame.text('split header');
      t.send(bytes.subarray(0, 6));
      await new Promise((resolve) => setTimeout(resolve, 50));
      t.send(bytes.subarray(6));
      await t.expectEvents([expect.text('split header')]);
      await t.closeNormally();
    }),
    wsCase('1.4.3', 'binary message with every byte value', 'binary payloads are opaque (RFC 6455 5.6)', (t) =>
      echoCase(t, [t.frame.binary(binaryPayload(256))], [expect.binary(binaryPayload(256))]),
    ),
    wsCase('1.5.1', 'text message of 5 bytes with a 16-bit length (not minimal)', 'INFORMATIONAL: the sender broke 5.2 ("minimal number of bytes MUST be used"); RFC 6455 does not say what the receiver does', (t) =>
      informationalEcho(t, t.frame.text('Hello', { lengthBits: 16 }), 'Hello'),
    ),
    wsCase('1.5.2', 'text message of 5 bytes with a 64-bit length (not minimal)', 'INFORMATIONAL: as 1.5.1, with the 64-bit encoding', (t) =>
      informationalEcho(t, t.frame.text('Hello', { lengthBits: 64 }), 'Hello'),
    ),
  ],
};

/** Records whether a frame the RFC gives no verdict on was echoed or refused. */
async function informationalEcho(t: CaseContext, bytes: Buffer, text: string): Promise<void> {
  t.send(bytes);
  const event = await t.next();
  if (event?.kind === 'message' && !event.binary && event.data.toString() === text) {
    t.inform('echoed the message');
    await t.closeNormally();
    return;
  }
  t.inform(`answered with ${describeEvent(event)}`);
  if (event?.kind === 'close') t.send(t.frame.close(event.code ?? NORMAL));
}

// --- 2. Pings and pongs (RFC 6455 5.5.2, 5.5.3) -----------------------------------------------

const MAX_CONTROL = 125;

const pings: Section = {
  id: '2',
  title: 'Pings and pongs',
  cases: [
    wsCase('2.1', 'ping without payload', 'a Pong with the same (empty) payload (RFC 6455 5.5.2, 5.5.3)', (t) => echoCase(t, [t.frame.ping()], [expect.pong()])),
    wsCase('2.2', 'ping with 125 bytes of text', 'a Pong with identical application data (RFC 6455 5.5.3)', (t) =>
      echoCase(t, [t.frame.ping(asciiPayload(MAX_CONTROL))], [expect.pong(asciiPayload(MAX_CONTROL))]),
    ),
    wsCase('2.3', 'ping with 125 bytes of binary data', 'a Pong with identical application data (RFC 6455 5.5.3)', (t) =>
      echoCase(t, [t.frame.ping(binaryPayload(MAX_CONTROL))], [expect.pong(binaryPayload(MAX_CONTROL))]),
    ),
    wsCase('2.4', 'ping with 126 bytes', 'fail with 1002: control frames carry at most 125 bytes (RFC 6455 5.5)', (t) =>
      failureCase(t, [t.frame.ping(asciiPayload(MAX_CONTROL + 1))], PROTOCOL_FAILURE),
    ),
    wsCase('2.5', 'ping delivered one byte at a time', 'a Pong with the same payload (RFC 6455 5.5.2)', async (t) => {
      await t.sendChopped(t.frame.ping('chopped ping'), 1);
      await t.expectEvents([expect.pong('chopped ping')]);
      await t.closeNormally();
    }),
    wsCase('2.6', 'unsolicited pong without payload', 'ignored: "A response to an unsolicited Pong frame is not expected" (RFC 6455 5.5.3)', async (t) => {
      t.send(t.frame.pong());
      await t.expectOpen();
      await t.closeNormally();
    }),
    wsCase('2.7', 'unsolicited pong with 125 bytes, then a ping', 'only the ping is answered (RFC 6455 5.5.3)', (t) =>
      echoCase(t, [t.frame.pong(asciiPayload(MAX_CONTROL)), t.frame.ping('after pong')], [expect.pong('after pong')]),
    ),
    wsCase('2.8', 'pong with 126 bytes', 'fail with 1002: control frames carry at most 125 bytes (RFC 6455 5.5)', (t) =>
      failureCase(t, [t.frame.pong(asciiPayload(MAX_CONTROL + 1))], PROTOCOL_FAILURE),
    ),
    wsCase('2.9', 'ten pings in one write', 'a Pong for each, in order; or, as 5.5.3 allows, for a later ping only, ending with the last (RFC 6455 5.5.3)', async (t: CaseContext) => {
      const payloads = Array.from({ length: 10 }, (_, i) => `ping ${i}`);
      t.send(...payloads.map((payload) => t.frame.ping(payload)));
      let expected = 0;
      while (expected < payloads.length) {
        const event = await t.next();
        if (event?.kind !== 'pong') t.fail(`expected pongs for the ten pings, got ${describeEvent(event)}`);
        const index = payloads.indexOf(event.data.toString(), expected);
        if (index === -1) t.fail(`got a pong with ${JSON.stringify(event.data.toString())}, which answers no outstanding ping in order`);
        expected = index + 1;
      }
      await t.closeNormally();
    }),
    wsCase('2.10', 'ping, then Close, in one write', 'the Pong, then the Close answered: a Ping before the Close MUST be answered (RFC 6455 5.5.2)', async (t) => {
      t.send(t.frame.ping('before close'), t.frame.close(NORMAL));
      await t.expectEvents([expect.pong('before close')]);
      await t.expectCloseEcho(NORMAL);
    }),
    wsCase('2.11', 'Close, then a ping, in one write', 'the Close answered and the ping not: no Pong is owed "if it already received a Close frame" (RFC 6455 5.5.2)', async (t: CaseContext) => {
      t.send(t.frame.close(NORMAL), t.frame.ping('after close'));
      const event = await t.next();
      if (event?.kind === 'pong') {
        t.nonStrict('answered a ping that came after the Close frame (RFC 6455 5.5.2, 1.4)');
        await t.expectCloseEcho(NORMAL);
        return;
      }
      if (event?.kind !== 'close') t.fail(`expected the Close answered, got ${describeEvent(event)}`);
      if (event.code !== NORMAL) t.nonStrict(`answered Close 1000 with ${event.code ?? 'no code'}`);
      await t.expectTcpClose();
    }),
  ],
};

// --- 3. Reserved bits (RFC 6455 5.2) ----------------------------------------------------------

const RSV_NAMES = ['', 'RSV3', 'RSV2', 'RSV2+RSV3', 'RSV1', 'RSV1+RSV3', 'RSV1+RSV2', 'RSV1+RSV2+RSV3'];
const RSV_RULE = 'fail with 1002: RSV bits "MUST be 0 unless an extension is negotiated" and none was (RFC 6455 5.2)';

const reservedBits: Section = {
  id: '3',
  title: 'Reserved bits',
  cases: [
    ...[1, 2, 3, 4, 5, 6, 7].map((rsv) =>
      wsCase(`3.1.${rsv}`, `text message with ${RSV_NAMES[rsv]} set`, RSV_RULE, (t) => failureCase(t, [t.frame.text('Hello', { rsv })], PROTOCOL_FAILURE)),
    ),
    wsCase('3.2', 'binary message with RSV1+RSV2+RSV3 set', RSV_RULE, (t) => failureCase(t, [t.frame.binary(binaryPayload(8), { rsv: 7 })], PROTOCOL_FAILURE)),
    wsCase('3.3', 'ping with RSV1 set', RSV_RULE, (t) => failureCase(t, [t.frame.ping('rsv', { rsv: 4 })], PROTOCOL_FAILURE)),
    wsCase('3.4', 'Close with RSV2 set', RSV_RULE, (t) => failureCase(t, [t.frame.close(NORMAL, '', { rsv: 2 })], PROTOCOL_FAILURE)),
    wsCase('3.5', 'continuation frame with RSV3 set', RSV_RULE, (t) =>
      failureCase(t, [t.frame.text('frag', { fin: false }), t.frame.continuation('ment', { rsv: 1 })], PROTOCOL_FAILURE),
    ),
    wsCase('3.6', 'valid text, text with RSV1, then a ping, in one write', 'the first echoed, then fail with 1002 at once: the ping is not answered (RFC 6455 5.2, 7.1.7)', (t) =>
      failureCase(t, [t.frame.text('valid'), t.frame.text('reserved', { rsv: 4 }), t.frame.ping('never')], PROTOCOL_FAILURE, [expect.text('valid')]),
    ),
    wsCase('3.7', 'as 3.6, delivered one byte at a time', 'as 3.6 (RFC 6455 5.2)', async (t) => {
      await t.sendChopped(Buffer.concat([t.frame.text('valid'), t.frame.text('reserved', { rsv: 4 }), t.frame.ping('never')]), 1);
      await t.expectEvents([expect.text('valid')]);
      await t.expectFailure(PROTOCOL_FAILURE);
    }),
  ],
};

// --- 4. Opcodes (RFC 6455 5.2) -----------------------------------------------------------------

const RESERVED_DATA_OPCODES = [0x3, 0x4, 0x5, 0x6, 0x7];
const RESERVED_CONTROL_OPCODES = [0xb, 0xc, 0xd, 0xe, 0xf];
const OPCODE_RULE = 'fail with 1002: "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket Connection_" (RFC 6455 5.2)';

const opcodes: Section = {
  id: '4',
  title: 'Opcodes',
  cases: [
    ...RESERVED_DATA_OPCODES.map((opcode, i) =>
      wsCase(`4.1.${i + 1}`, `reserved non-control opcode 0x${opcode.toString(16)} without payload`, OPCODE_RULE, (t) =>
        failureCase(t, [t.frame.build({ opcode })], PROTOCOL_FAILURE),
      ),
    ),
    ...RESERVED_CONTROL_OPCODES.map((opcode, i) =>
      wsCase(`4.2.${i + 1}`, `reserved control opcode 0x${opcode.toString(16)} with payload`, OPCODE_RULE, (t) =>
        failureCase(t, [t.frame.build({ opcode, payload: Buffer.from('reserved') })], PROTOCOL_FAILURE),
      ),
    ),
    wsCase('4.3', 'valid text, opcode 0x5 with payload, then a ping', 'the first echoed, then fail with 1002; the ping not answered (RFC 6455 5.2)', (t) =>
      failureCase(t, [t.frame.text('valid'), t.frame.build({ opcode: 0x5, payload: Buffer.from('reserved') }), t.frame.ping('never')], PROTOCOL_FAILURE, [expect.text('valid')]),
    ),
    wsCase('4.4', 'reserved control opcode 0xb inside a fragmented message', OPCODE_RULE, (t) =>
      failureCase(t, [t.frame.text('frag', { fin: false }), t.frame.build({ opcode: 0xb }), t.frame.continuation('ment')], PROTOCOL_FAILURE),
    ),
  ],
};

// --- 5. Fragmentation (RFC 6455 5.4) ---------------------------------------------------------

const FRAGMENT_RULE = 'fail with 1002: fragments are a first frame with an opcode, continuations, the last with FIN set, and nothing else in between but control frames (RFC 6455 5.4)';
const CONTROL_FRAGMENT_RULE = 'fail with 1002: "Control frames themselves MUST NOT be fragmented" (RFC 6455 5.4, 5.5)';

const fragmentation: Section = {
  id: '5',
  title: 'Fragmentation',
  cases: [
    wsCase('5.1', 'text message in 2 fragments', 'echoed as one message (RFC 6455 5.4)', (t) =>
      echoCase(t, [t.frame.text('fragment1', { fin: false }), t.frame.continuation('fragment2')], [expect.text('fragment1fragment2')]),
    ),
    wsCase('5.2', 'binary message in 3 fragments', 'echoed as one binary message (RFC 6455 5.4)', (t) =>
      echoCase(
        t,
        [t.frame.binary(binaryPayload(10), { fin: false }), t.frame.continuation(binaryPayload(20), { fin: false }), t.frame.continuation(binaryPayload(30))],
        [expect.binary(Buffer.concat([binaryPayload(10), binaryPayload(20), binaryPayload(30)]))],
      ),
    ),
    wsCase('5.3', 'text message of 64 one-byte fragments', 'echoed as one message (RFC 6455 5.4)', (t) => {
      const text = asciiPayload(64);
      const frames = Array.from(text, (byte, i) =>
        i === 0 ? t.frame.text(Buffer.from([byte]), { fin: false }) : t.frame.continuation(Buffer.from([byte]), { fin: i === text.length - 1 }),
      );
      return echoCase(t, frames, [expect.text(text)]);
    }),
    wsCase('5.4', 'text message of three empty fragments', 'echoed as one empty text message (RFC 6455 5.4)', (t) =>
      echoCase(t, [t.frame.text('', { fin: false }), t.frame.continuation('', { fin: false }), t.frame.continuation('')], [expect.text('')]),
    ),
    wsCase('5.5', 'empty first fragment, then the content', 'echoed as one message (RFC 6455 5.4)', (t) =>
      echoCase(t, [t.frame.text('', { fin: false }), t.frame.continuation('content')], [expect.text('content')]),
    ),
    wsCase('5.6', 'ping between two fragments', 'the Pong, then the message: "control frames MAY be injected in the middle of a fragmented message" (RFC 6455 5.4)', (t) =>
      echoCase(t, [t.frame.text('frag', { fin: false }), t.frame.ping('between'), t.frame.continuation('ment')], [expect.pong('between'), expect.text('fragment')]),
    ),
    wsCase('5.7', 'pong between two fragments', 'the message only (RFC 6455 5.4, 5.5.3)', (t) =>
      echoCase(t, [t.frame.text('frag', { fin: false }), t.frame.pong('between'), t.frame.continuation('ment')], [expect.text('fragment')]),
    ),
    wsCase('5.8', 'three pings between four fragments', 'three Pongs in order, then the message (RFC 6455 5.4, 5.5.2)', (t) =>
      echoCase(
        t,
        [
          t.frame.text('a', { fin: false }),
          t.frame.ping('1'),
          t.frame.continuation('b', { fin: false }),
          t.frame.ping('2'),
          t.frame.continuation('c', { fin: false }),
          t.frame.ping('3'),
          t.frame.continuation('d'),
        ],
        [expect.pong('1'), expect.pong('2'), expect.pong('3'), expect.text('abcd')],
      ),
    ),
    wsCase('5.9', 'as 5.6, delivered one byte at a time', 'as 5.6 (RFC 6455 5.4)', async (t) => {
      await t.sendChopped(Buffer.concat([t.frame.text('frag', { fin: false }), t.frame.ping('between'), t.frame.continuation('ment')]), 1);
      await t.expectEvents([expect.pong('between'), expect.text('fragment')]);
      await t.closeNormally();
    }),
    wsCase('5.10', 'Close between two fragments', 'the Close answered and the unfinished message dropped (RFC 6455 5.4, 5.5.1)', async (t) => {
      t.send(t.frame.text('never', { fin: false }), t.frame.close(NORMAL));
      await t.expectCloseEcho(NORMAL);
    }),
    wsCase('5.11', 'two fragmented messages back to back', 'both echoed, in order (RFC 6455 5.4)', (t) =>
      echoCase(
        t,
        [t.frame.text('one-', { fin: false }), t.frame.continuation('a'), t.frame.binary(binaryPayload(3), { fin: false }), t.frame.continuation(binaryPayload(4))],
        [expect.text('one-a'), expect.binary(Buffer.concat([binaryPayload(3), binaryPayload(4)]))],
      ),
    ),
    wsCase('5.11.1', 'binary message of 128 KiB in 128 fragments of 1 KiB', 'echoed as one binary message (RFC 6455 5.4)', (t) => {
      const payload = binaryPayload(128 * 1024);
      const frames = Array.from({ length: 128 }, (_, i) =>
        t.frame.build({ opcode: i === 0 ? Opcode.Binary : Opcode.Continuation, payload: payload.subarray(i * 1024, (i + 1) * 1024), fin: i === 127 }),
      );
      return echoCase(t, frames, [expect.binary(payload)]);
    }),
    wsCase('5.12', 'continuation frame (FIN set) with no message to continue', FRAGMENT_RULE, (t) => failureCase(t, [t.frame.continuation('orphan')], PROTOCOL_FAILURE)),
    wsCase('5.13', 'continuation frame (FIN clear) with no message to continue', FRAGMENT_RULE, (t) =>
      failureCase(t, [t.frame.continuation('orphan', { fin: false })], PROTOCOL_FAILURE),
    ),
    wsCase('5.14', 'complete text message, then a continuation frame', 'the message echoed, then fail with 1002 (RFC 6455 5.4)', (t) =>
      failureCase(t, [t.frame.text('complete'), t.frame.continuation('orphan')], PROTOCOL_FAILURE, [expect.text('complete')]),
    ),
    wsCase('5.15', 'unfinished text message, then a new text frame', FRAGMENT_RULE, (t) =>
      failureCase(t, [t.frame.text('first', { fin: false }), t.frame.text('second')], PROTOCOL_FAILURE),
    ),
    wsCase('5.16', 'unfinished text message, then a binary frame', FRAGMENT_RULE, (t) =>
      failureCase(t, [t.frame.text('first', { fin: false }), t.frame.binary(binaryPayload(4))], PROTOCOL_FAILURE),
    ),
    wsCase('5.17', 'unfinished binary message, then an unfinished text frame', FRAGMENT_RULE, (t) =>
      failureCase(t, [t.frame.binary(binaryPayload(4), { fin: false }), t.frame.text('second', { fin: false }), t.frame.continuation('end')], PROTOCOL_FAILURE),
    ),
    wsCase('5.18', 'fragmented message, then one continuation too many', 'the message echoed, then fail with 1002 (RFC 6455 5.4)', (t) =>
      failureCase(t, [t.frame.text('a', { fin: false }), t.frame.continuation('b'), t.frame.continuation('c', { fin: false })], PROTOCOL_FAILURE, [expect.text('ab')]),
    ),
    wsCase('5.19', 'ping with FIN clear', CONTROL_FRAGMENT_RULE, (t) => failureCase(t, [t.frame.ping('half', { fin: false })], PROTOCOL_FAILURE)),
    wsCase('5.20', 'ping in two fragments', CONTROL_FRAGMENT_RULE, (t) =>
      failureCase(t, [t.frame.ping('half', { fin: false }), t.frame.continuation('ping')], PROTOCOL_FAILURE),
    ),
    wsCase('5.21', 'pong with FIN clear', CONTROL_FRAGMENT_RULE, (t) => failureCase(t, [t.frame.pong('half', { fin: false })], PROTOCOL_FAILURE)),
    wsCase('5.22', 'Close with FIN clear', CONTROL_FRAGMENT_RULE, (t) => failureCase(t, [t.frame.close(NORMAL, '', { fin: false })], PROTOCOL_FAILURE)),
    wsCase('5.23', 'fragmented ping inside a fragmented text message', CONTROL_FRAGMENT_RULE, (t) =>
      failureCase(t, [t.frame.text('frag', { fin: false }), t.frame.ping('half', { fin: false }), t.frame.continuation('ping'), t.frame.continuation('ment')], PROTOCOL_FAILURE),
    ),
  ],
};

// --- 6. UTF-8 (RFC 6455 5.6, 8.1; RFC 3629) ---------------------------------------------------

interface Utf8Vector {
  readonly name: string;
  readonly bytes: Buffer;
}

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** Valid UTF-8: the edges of every sequence length and of the surrogate gap. */
const VALID_UTF8: readonly Utf8Vector[] = [
  { name: 'ASCII "Hello"', bytes: Buffer.from('Hello') },
  { name: 'U+0000 NUL', bytes: hex('00') },
  { name: 'U+007F, the last 1-byte code point', bytes: hex('7f') },
  { name: 'U+0080, the first 2-byte code point', bytes: hex('c2 80') },
  { name: 'U+07FF, the last 2-byte code point', bytes: hex('df bf') },
  { name: 'U+0800, the first 3-byte code point', bytes: hex('e0 a0 80') },
  { name: 'U+D7FF, just below the surrogates', bytes: hex('ed 9f bf') },
  { name: 'U+E000, just above the surrogates', bytes: hex('ee 80 80') },
  { name: 'U+FFFE and U+FFFF (noncharacters are valid UTF-8)', bytes: hex('ef bf be ef bf bf') },
  { name: 'U+10000, the first 4-byte code point', bytes: hex('f0 90 80 80') },
  { name: 'U+10FFFF, the last code point', bytes: hex('f4 8f bf bf') },
  { name: 'Greek "κόσμε"', bytes: Buffer.from('κόσμε') },
  { name: 'mixed "Hello-µ@ßöäüàá-UTF-8!!" with an emoji', bytes: Buffer.from('Hello-µ@ßöäüàá-UTF-8!! 😀') },
];

/** Invalid UTF-8: overlong forms, surrogates, past U+10FFFF, truncated and stray bytes (RFC 3629 3, 10). */
const INVALID_UTF8: readonly Utf8Vector[] = [
  { name: 'overlong 2-byte NUL (C0 80)', bytes: hex('c0 80') },
  { name: 'overlong 2-byte U+007F (C1 BF)', bytes: hex('c1 bf') },
  { name: 'overlong 3-byte NUL (E0 80 80)', bytes: hex('e0 80 80') },
  { name: 'overlong 3-byte U+07FF (E0 9F BF)', bytes: hex('e0 9f bf') },
  { name: 'overlong 4-byte NUL (F0 80 80 80)', bytes: hex('f0 80 80 80') },
  { name: 'overlong 4-byte U+FFFF (F0 8F BF BF)', bytes: hex('f0 8f bf bf') },
  { name: 'overlong "/" (C0 AF) inside text', bytes: Buffer.concat([Buffer.from('a'), hex('c0 af'), Buffer.from('b')]) },
  { name: 'high surrogate U+D800 (ED A0 80)', bytes: hex('ed a0 80') },
  { name: 'low surrogate U+DFFF (ED BF BF)', bytes: hex('ed bf bf') },
  { name: 'surrogate pair encoded as two 3-byte sequences', bytes: hex('ed a0 80 ed b0 80') },
  { name: 'U+110000, past the last code point (F4 90 80 80)', bytes: hex('f4 90 80 80') },
  { name: 'lead byte F5', bytes: hex('f5 80 80 80') },
  { name: '5-byte form (F8 88 80 80 80)', bytes: hex('f8 88 80 80 80') },
  { name: 'bytes FE and FF', bytes: hex('fe ff') },
  { name: 'stray continuation byte 80', bytes: hex('80') },
  { name: 'three stray continuation bytes', bytes: hex('80 bf 80') },
  { name: '2-byte sequence truncated at the end (C3)', bytes: Buffer.concat([Buffer.from('ab'), hex('c3')]) },
  { name: '3-byte sequence truncated at the end (E2 82)', bytes: hex('e2 82') },
  { name: '4-byte sequence truncated at the end (F0 9F 98)', bytes: hex('f0 9f 98') },
  { name: '3-byte sequence cut by ASCII (E2 82 41)', bytes: hex('e2 82 41') },
  { name: 'surrogate inside Greek text (Autobahn 6.3.1)', bytes: Buffer.concat([Buffer.from('κόσμε'), hex('ed a0 80'), Buffer.from('edited')]) },
];

/** Every vector of two bytes or more, split at every byte: a case per split, the halves as two fragments. */
const SPLIT_VALID = VALID_UTF8.filter((vector) => vector.bytes.length >= 2);
const SPLIT_INVALID = INVALID_UTF8.filter((vector) => vector.bytes.length >= 2);

function oneByteFragments(t: CaseContext, bytes: Buffer): Buffer[] {
  if (bytes.length === 0) return [t.frame.text('')];
  return Array.from(bytes, (byte, i) =>
    i === 0 ? t.frame.text(Buffer.from([byte]), { fin: bytes.length === 1 }) : t.frame.continuation(Buffer.from([byte]), { fin: i === bytes.length - 1 }),
  );
}

function splitInTwo(t: CaseContext, bytes: Buffer, at: number): Buffer[] {
  return [t.frame.text(bytes.subarray(0, at), { fin: false }), t.frame.continuation(bytes.subarray(at))];
}

const UTF8_VALID_RULE = 'echoed unchanged: valid UTF-8 (RFC 6455 5.6; RFC 3629)';
const UTF8_INVALID_RULE = 'fail with 1007: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte stream is not ... that endpoint MUST _Fail the WebSocket Connection_" (RFC 6455 8.1, 7.4.1)';
const FAIL_FAST_RULE = 'fail with 1007 as soon as the invalid fragment arrives, before the message ends (RFC 6455 8.1); failing only at the end is NON-STRICT';
const FAIL_FAST_FRAME_RULE = 'fail with 1007 as soon as the invalid bytes arrive, before the rest of the frame is sent (RFC 6455 8.1, 5.6); failing only once the frame is complete is NON-STRICT';

/**
 * Fail fast (RFC 6455 8.1): `invalid` makes the text invalid, `rest` is held back (see
 * CaseContext.expectFailFast); `valid` pieces go first, one at a time.
 */
function failFastCase(t: CaseContext, invalid: Buffer[], rest: Buffer[], valid: Buffer[] = []): Promise<void> {
  return t.expectFailFast(invalid, rest, UTF8_FAILURE, valid);
}

/**
 * Fail fast inside one frame: the text frame of `payload` written in pieces cut at the payload
 * offsets `validEnd` (the text up to there can still be valid; 0 for no such piece) and
 * `invalidEnd` (up to there it cannot), the rest of the frame held back.
 */
function failFastInFrame(t: CaseContext, payload: Buffer, validEnd: number, invalidEnd: number): Promise<void> {
  const bytes = t.frame.text(payload);
  const payloadStart = bytes.length - payload.length;
  const valid = validEnd === 0 ? [] : [bytes.subarray(0, payloadStart + validEnd)];
  const invalid = bytes.subarray(validEnd === 0 ? 0 : payloadStart + validEnd, payloadStart + invalidEnd);
  return failFastCase(t, [invalid], [bytes.subarray(payloadStart + invalidEnd)], valid);
}

const KOSME = Buffer.from('κόσμε');
const SIXTY_FOUR_KIB = 64 * 1024;

const utf8: Section = {
  id: '6',
  title: 'UTF-8 handling',
  cases: [
    ...VALID_UTF8.map((vector, i) =>
      wsCase(`6.1.${i + 1}`, `valid text: ${vector.name}`, UTF8_VALID_RULE, (t) => echoCase(t, [t.frame.text(vector.bytes)], [expect.text(vector.bytes)])),
    ),
    ...SPLIT_VALID.flatMap((vector, i) =>
      Array.from({ length: vector.bytes.length - 1 }, (_, k) =>
        wsCase(`6.2.${i + 1}.${k + 1}`, `valid text ${vector.name}, split into 2 fragments after byte ${k + 1}`, `${UTF8_VALID_RULE}; a code point may span fragments (RFC 6455 5.4)`, (t) =>
          echoCase(t, splitInTwo(t, vector.bytes, k + 1), [expect.text(vector.bytes)]),
        ),
      ),
    ),
    ...VALID_UTF8.map((vector, i) =>
      wsCase(`6.3.${i + 1}`, `valid text ${vector.name}, one fragment per byte`, UTF8_VALID_RULE, (t) => echoCase(t, oneByteFragments(t, vector.bytes), [expect.text(vector.bytes)])),
    ),
    wsCase('6.4.1', 'valid mixed text delivered one byte at a time', UTF8_VALID_RULE, async (t) => {
      const bytes = VALID_UTF8[VALID_UTF8.length - 1].bytes;
      await t.sendChopped(t.frame.text(bytes), 1);
      await t.expectEvents([expect.text(bytes)]);
      await t.closeNormally();
    }),
    ...INVALID_UTF8.map((vector, i) =>
      wsCase(`6.5.${i + 1}`, `invalid text: ${vector.name}`, UTF8_INVALID_RULE, (t) => failureCase(t, [t.frame.text(vector.bytes)], UTF8_FAILURE)),
    ),
    ...SPLIT_INVALID.flatMap((vector, i) =>
      Array.from({ length: vector.bytes.length - 1 }, (_, k) =>
        wsCase(`6.6.${i + 1}.${k + 1}`, `invalid text ${vector.name}, split into 2 fragments after byte ${k + 1}`, UTF8_INVALID_RULE, (t) =>
          failureCase(t, splitInTwo(t, vector.bytes, k + 1), UTF8_FAILURE),
        ),
      ),
    ),
    ...INVALID_UTF8.map((vector, i) =>
      wsCase(`6.7.${i + 1}`, `invalid text ${vector.name}, one fragment per byte`, UTF8_INVALID_RULE, (t) => failureCase(t, oneByteFragments(t, vector.bytes), UTF8_FAILURE)),
    ),
    wsCase('6.8.1', 'invalid UTF-8 in the first fragment of a longer message, the rest held back', FAIL_FAST_RULE, (t) =>
      failFastCase(t, [t.frame.text(Buffer.concat([Buffer.from('κόσμε'), hex('ed a0 80')]), { fin: false })], [t.frame.continuation('edited')]),
    ),
    wsCase('6.8.2', 'valid first fragment, invalid second, the last held back', FAIL_FAST_RULE, (t) =>
      failFastCase(t, [t.frame.text('valid ', { fin: false }), t.frame.continuation(hex('c0 80'), { fin: false })], [t.frame.continuation('end')]),
    ),
    wsCase('6.8.3', 'a surrogate split across fragments (ED | A0 80), the last held back', FAIL_FAST_RULE, (t) =>
      failFastCase(t, [t.frame.text(hex('61 ed'), { fin: false }), t.frame.continuation(hex('a0 80'), { fin: false })], [t.frame.continuation('end')]),
    ),
    wsCase('6.8.4', 'a fragment ending in F8, a byte that starts no sequence, the rest held back', FAIL_FAST_RULE, (t) =>
      failFastCase(t, [t.frame.text(hex('61 62 f8'), { fin: false })], [t.frame.continuation(hex('88 80 80 80'))]),
    ),
    wsCase('6.8.5', 'a fragment ending in ED A0, already a surrogate, the rest held back', FAIL_FAST_RULE, (t) =>
      failFastCase(t, [t.frame.text(hex('61 ed a0'), { fin: false })], [t.frame.continuation(hex('80'))]),
    ),
    // Autobahn 6.4.x: one frame written in pieces with pauses; the server must fail at the piece
    // that makes the text invalid, not wait for the rest of the frame.
    wsCase('6.9.1', 'one text frame, its first piece "κόσμε" ED A0 80 (a surrogate), the rest of the frame held back', FAIL_FAST_FRAME_RULE, (t) =>
      failFastInFrame(t, Buffer.concat([KOSME, hex('ed a0 80'), Buffer.from('edited')]), 0, KOSME.length + 3),
    ),
    wsCase('6.9.2', 'one text frame in three pieces: "κόσμε", then F4 90 80 80 (past U+10FFFF), the rest held back', FAIL_FAST_FRAME_RULE, (t) =>
      failFastInFrame(t, Buffer.concat([KOSME, hex('f4 90 80 80'), Buffer.from('edited')]), KOSME.length, KOSME.length + 4),
    ),
    wsCase('6.9.3', 'one text frame in three pieces: "κόσμε", then F4 90 (invalid already, the character unfinished), the rest held back', FAIL_FAST_FRAME_RULE, (t) =>
      failFastInFrame(t, Buffer.concat([KOSME, hex('f4 90 80 80'), Buffer.from('edited')]), KOSME.length, KOSME.length + 2),
    ),
    wsCase('6.9.4', 'one text frame whose first payload byte is FF, the rest of its 125 bytes held back', FAIL_FAST_FRAME_RULE, (t) =>
      failFastInFrame(t, Buffer.concat([hex('ff'), asciiPayload(124)]), 0, 1),
    ),
    wsCase('6.9.5', 'a 64 KiB text frame (64-bit length), an overlong C0 AF in its first KiB, the rest held back', FAIL_FAST_FRAME_RULE, (t) => {
      const payload = asciiPayload(SIXTY_FOUR_KIB);
      hex('c0 af').copy(payload, 1000);
      return failFastInFrame(t, payload, 0, 1024);
    }),
    wsCase('6.9.6', 'a fragmented text message: a valid first fragment, then the continuation frame in pieces, ED BF BF in its second, the rest held back', FAIL_FAST_FRAME_RULE, (t) => {
      const continuation = t.frame.continuation(Buffer.concat([Buffer.from('more '), hex('ed bf bf'), Buffer.from(' and the end')]));
      const payloadStart = continuation.length - (5 + 3 + 12);
      return failFastCase(t, [continuation.subarray(payloadStart + 5, payloadStart + 8)], [continuation.subarray(payloadStart + 8)], [
        Buffer.concat([t.frame.text('first fragment ', { fin: false }), continuation.subarray(0, payloadStart + 5)]),
      ]);
    }),
  ],
};

// --- 7. Close handling (RFC 6455 5.5.1, 7.1, 7.4) -------------------------------------------

/** Codes a Close frame may carry: 7.4.1 defined ones. */
const DEFINED_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011];
/** Registered in the IANA "WebSocket Close Code Number Registry" after RFC 6455 (RFC 6455 11.7). */
const IANA_CODES = [1012, 1013, 1014];
/** 7.4.2: 3000-3999 for libraries and applications, 4000-4999 private use. */
const APPLICATION_CODES = [3000, 3999, 4000, 4999];
/** 7.4.1: 1004 reserved; 1005, 1006, 1015 MUST NOT be sent; 7.4.2: 0-999 not used; 1016-2999 unassigned; 5000+ outside every range. */
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

const closeHandling: Section = {
  id: '7',
  title: 'Close handling',
  cases: [
    wsCase('7.1.1', 'Close without a body', 'a Close in answer (empty, or 1000), then the server closes TCP (RFC 6455 5.5.1, 7.1.1)', (t) => t.closeNormally(undefined)),
    wsCase('7.1.2', 'Close 1000 with reason "bye"', 'a Close 1000 in answer, then the TCP close (RFC 6455 5.5.1)', (t) => t.closeNormally(NORMAL, 'bye')),
    wsCase('7.1.3', 'Close 1000 with a 123-byte reason (125-byte body, the maximum)', 'a Close 1000 in answer (RFC 6455 5.5, 5.5.1)', (t) => t.closeNormally(NORMAL, asciiPayload(123).toString())),
    wsCase('7.1.4', 'Close 1000 with a multi-byte UTF-8 reason', 'a Close 1000 in answer (RFC 6455 5.5.1)', (t) => t.closeNormally(NORMAL, 'κόσμε 😀')),
    wsCase('7.1.5', 'text message, then Close, in one write', 'the echo, then the Close answered (RFC 6455 5.5.1)', async (t) => {
      t.send(t.frame.text('last words'), t.frame.close(NORMAL));
      await t.expectEvents([expect.text('last words')]);
      await t.expectCloseEcho(NORMAL);
    }),
    wsCase('7.1.6', 'Close delivered one byte at a time', 'a Close 1000 in answer (RFC 6455 5.5.1)', async (t) => {
      await t.sendChopped(t.frame.close(NORMAL, 'chopped'), 1);
      await t.expectCloseEcho(NORMAL);
    }),
    wsCase('7.2.1', 'Close with a 1-byte body', 'fail with 1002: a body starts with a 2-byte code (RFC 6455 5.5.1)', (t) =>
      failureCase(t, [t.frame.build({ opcode: Opcode.Close, payload: Buffer.from([0x03]) })], PROTOCOL_FAILURE),
    ),
    wsCase('7.2.2', 'Close with a 126-byte body', 'fail with 1002: control frames carry at most 125 bytes (RFC 6455 5.5)', (t) =>
      failureCase(t, [t.frame.close(NORMAL, asciiPayload(124))], PROTOCOL_FAILURE),
    ),
    wsCase('7.2.3', 'Close 1000 with an invalid UTF-8 reason', 'fail with 1007: the reason "MUST be UTF-8-encoded" (RFC 6455 5.5.1, 8.1); 1002 is NON-STRICT', (t) =>
      failureCase(t, [t.frame.close(NORMAL, Buffer.concat([Buffer.from('κόσμε'), hex('ed a0 80')]))], UTF8_FAILURE),
    ),
    wsCase('7.2.4', 'Close 1000 with a reason truncated mid-character', 'fail with 1007 (RFC 6455 5.5.1, 8.1)', (t) =>
      failureCase(t, [t.frame.close(NORMAL, hex('61 e2 82'))], UTF8_FAILURE),
    ),
    ...DEFINED_CODES.map((code, i) =>
      wsCase(`7.3.${i + 1}`, `Close ${code}`, `a Close echoing ${code} (RFC 6455 5.5.1, 7.4.1)`, (t) => t.closeNormally(code)),
    ),
    ...IANA_CODES.map((code, i) =>
      wsCase(`7.4.${i + 1}`, `Close ${code} (IANA-registered)`, `a Close echoing ${code}: registered in the IANA close code registry (RFC 6455 11.7)`, (t) => t.closeNormally(code)),
    ),
    ...APPLICATION_CODES.map((code, i) =>
      wsCase(`7.5.${i + 1}`, `Close ${code}`, `a Close echoing ${code}: 3000-4999 belong to applications (RFC 6455 7.4.2)`, (t) => t.closeNormally(code)),
    ),
    ...INVALID_CODES.map((code, i) =>
      wsCase(`7.6.${i + 1}`, `Close with invalid code ${code}`, `fail with 1002: ${code} may not be sent (RFC 6455 7.4.1, 7.4.2); echoing it FAILS (the server would send it)`, (t) =>
        failureCase(t, [t.frame.close(code)], PROTOCOL_FAILURE),
      ),
    ),
    wsCase('7.7.1', 'Close, then a text message, in one write', 'the Close answered, the text not echoed: data after a Close is discarded (RFC 6455 5.5.1, 1.4)', async (t) => {
      t.send(t.frame.close(NORMAL), t.frame.text('after close'));
      await t.expectCloseEcho(NORMAL);
    }),
    wsCase('7.7.2', 'Close, then a text message 50 ms later', 'as 7.7.1 (RFC 6455 5.5.1)', async (t: CaseContext) => {
      t.send(t.frame.close(NORMAL));
      const event = await t.next();
      t.send(t.frame.text('after close'));
      if (event?.kind !== 'close') t.fail(`expected the Close answered, got ${describeEvent(event)}`);
      if (event.code !== NORMAL) t.nonStrict(`answered Close 1000 with ${event.code ?? 'no code'}`);
      await t.expectTcpClose();
    }),
  ],
};

// --- 8. Limits (RFC 6455 10.4, 5.2) ------------------------------------------------------------

const TWO_TO_THE_63 = 2n ** 63n;
const TWO_TO_THE_53 = 2n ** 53n;
const TWO_TO_THE_32 = 2n ** 32n;

/** A header-only frame declaring `length`: the server must refuse it from the header alone. */
async function declaredLengthCase(t: CaseContext, length: bigint, failure: FailureExpectation, firstFragment?: Buffer): Promise<void> {
  // After an unfinished first fragment, the oversized frame is its continuation (RFC 6455 5.4).
  const opcode = firstFragment === undefined ? Opcode.Binary : Opcode.Continuation;
  const header = t.frame.build({ opcode, declaredLength: length, lengthBits: 64 });
  t.send(...(firstFragment === undefined ? [header] : [firstFragment, header]));
  const event = await t.next();
  if (event === undefined) {
    t.nonStrict(`kept waiting for the payload of a frame declaring ${length} bytes instead of refusing it from the header (RFC 6455 10.4)`);
    return;
  }
  await t.judgeFailureEvent(event, failure);
}

/** Cases that need the server's message limit; INFORMATIONAL when the run was not given one. */
function limitCase(id: string, description: string, expectation: string, run: (t: CaseContext, limit: number) => Promise<void>): ConformanceCase {
  return wsCase(id, description, expectation, async (t) => {
    const limit = t.settings.maxMessageSize;
    if (limit === undefined) {
      t.inform('not run: the message size limit of the server was not given (--max-message-size)');
      await t.closeNormally();
      return;
    }
    await run(t, limit);
  });
}

const limits: Section = {
  id: '8',
  title: 'Limits',
  cases: [
    limitCase('8.1', 'binary message of exactly the limit', 'echoed: the limit is inclusive (RFC 6455 10.4)', async (t, limit) => {
      const payload = binaryPayload(limit);
      t.send(t.frame.binary(payload));
      // A large echo may take longer than a reply to a small frame.
      await t.expectEvents([expect.binary(payload)], t.settings.caseTimeout / 2);
      await t.closeNormally();
    }),
    limitCase('8.2', 'frame header declaring limit + 1 bytes, payload held back', 'fail with 1009 from the header alone, before any payload (RFC 6455 10.4, 7.4.1)', async (t: CaseContext, limit: number) => {
      t.send(t.frame.build({ opcode: Opcode.Binary, declaredLength: limit + 1 }));
      const event = await t.next();
      if (event !== undefined) return t.judgeFailureEvent(event, TOO_BIG_FAILURE);
      t.send(binaryPayload(limit + 1));
      const late = await t.next(t.settings.caseTimeout / 2);
      if (late === undefined) t.fail('neither refused nor echoed a message over the limit');
      if (late.kind === 'message') t.fail(`echoed a message of ${late.data.length} bytes, over the limit of ${limit} given to the suite (is --max-message-size the server's limit?)`);
      t.nonStrict('refused the message only after reading its whole payload (RFC 6455 10.4)');
      await t.judgeFailureEvent(late, TOO_BIG_FAILURE);
    }),
    limitCase('8.3', 'fragments adding up to limit + 1 bytes, the last one held back', 'fail with 1009 at the fragment header that passes the limit (RFC 6455 10.4)', (t, limit) => {
      const half = Math.floor(limit / 2);
      return declaredLengthCase(t, BigInt(limit - half + 1), TOO_BIG_FAILURE, t.frame.binary(binaryPayload(half), { fin: false }));
    }),
    wsCase('8.4', 'frame header declaring 2^63 - 1 bytes', 'fail with 1009 at once: too big to process, nothing allocated (RFC 6455 10.4, 7.4.1)', (t) =>
      declaredLengthCase(t, TWO_TO_THE_63 - 1n, TOO_BIG_FAILURE),
    ),
    wsCase('8.5', 'frame header declaring 2^53 bytes', 'fail with 1009 at once (RFC 6455 10.4)', (t) => declaredLengthCase(t, TWO_TO_THE_53, TOO_BIG_FAILURE)),
    limitCase('8.6', 'frame header declaring 2^32 bytes', 'fail with 1009 at once: past the limit (RFC 6455 10.4)', (t, limit) =>
      limit >= Number(TWO_TO_THE_32) ? Promise.resolve(t.inform('not run: the limit is 4 GiB or more')) : declaredLengthCase(t, TWO_TO_THE_32, TOO_BIG_FAILURE),
    ),
    wsCase('8.7', 'frame header declaring 2^63 bytes (most significant bit set)', 'fail with 1002: "the most significant bit MUST be 0" (RFC 6455 5.2); 1009 is NON-STRICT', (t) =>
      declaredLengthCase(t, TWO_TO_THE_63, PROTOCOL_FAILURE),
    ),
  ],
};

// --- 9. Masking (RFC 6455 5.1, 5.3) --------------------------------------------------------------

/** RFC 6455 5.1: "The server MUST close the connection upon receiving a frame that is not masked ... a server MAY send a Close frame with a status code of 1002". */
const UNMASKED_FAILURE: FailureExpectation = { codes: [PROTOCOL_ERROR], tcpCloseOk: true };
const UNMASKED_RULE = 'close the connection, with or without a Close 1002: "The server MUST close the connection upon receiving a frame that is not masked" (RFC 6455 5.1)';

const serverMasking: Section = {
  id: '9',
  title: 'Masking',
  cases: [
    wsCase('9.1', 'unmasked text message', UNMASKED_RULE, (t) => failureCase(t, [t.frame.text('unmasked', { mask: false })], UNMASKED_FAILURE)),
    wsCase('9.2', 'unmasked ping', UNMASKED_RULE, (t) => failureCase(t, [t.frame.ping('unmasked', { mask: false })], UNMASKED_FAILURE)),
    wsCase('9.3', 'unmasked Close 1000', `${UNMASKED_RULE}; answering it as a normal close FAILS`, (t) => failureCase(t, [t.frame.close(NORMAL, '', { mask: false })], UNMASKED_FAILURE)),
    wsCase('9.4', 'masked text, then an unmasked one', 'the first echoed, then the connection closed (RFC 6455 5.1)', (t) =>
      failureCase(t, [t.frame.text('masked'), t.frame.text('unmasked', { mask: false })], UNMASKED_FAILURE, [expect.text('masked')]),
    ),
    wsCase('9.5', 'text masked with the all-zero key', 'echoed: any 32-bit value is a masking key (RFC 6455 5.3)', (t) =>
      echoCase(t, [t.frame.text('zero key', { maskKey: Buffer.alloc(4) })], [expect.text('zero key')]),
    ),
  ],
};

/** RFC 6455 5.1: "A client MUST close a connection if it detects a masked frame ... In this case, it MAY use the status code 1002". */
const MASKED_FAILURE: FailureExpectation = { codes: [PROTOCOL_ERROR], tcpCloseOk: true };
const MASKED_RULE = 'close the connection, with or without a Close 1002: "A client MUST close a connection if it detects a masked frame" (RFC 6455 5.1)';
/** Messages whose echoes 9.5 compares the masking keys of. */
const KEYED_ECHOES = 20;

/** Section 9 for a client under test: the server's frames must not be masked, the client's must, each with a new key. */
const clientMasking: Section = {
  id: '9',
  title: 'Masking',
  cases: [
    wsCase('9.1', 'masked text message', MASKED_RULE, (t) => failureCase(t, [t.frame.text('masked', { mask: true })], MASKED_FAILURE)),
    wsCase('9.2', 'masked ping', MASKED_RULE, (t) => failureCase(t, [t.frame.ping('masked', { mask: true })], MASKED_FAILURE)),
    wsCase('9.3', 'masked Close 1000', `${MASKED_RULE}; answering it as a normal close FAILS`, (t) => failureCase(t, [t.frame.close(NORMAL, '', { mask: true })], MASKED_FAILURE)),
    wsCase('9.4', 'unmasked text, then a masked one', 'the first echoed, then the connection closed (RFC 6455 5.1)', (t) =>
      failureCase(t, [t.frame.text('unmasked'), t.frame.text('masked', { mask: true })], MASKED_FAILURE, [expect.text('unmasked')]),
    ),
    wsCase('9.5', `${KEYED_ECHOES} text messages in one write`, `${KEYED_ECHOES} echoes, every one masked with a key of its own: "a new masking key" for each frame, unpredictable (RFC 6455 5.3, 10.3)`, async (t) => {
      const texts = Array.from({ length: KEYED_ECHOES }, (_, i) => `keyed ${i}`);
      t.send(...texts.map((text) => t.frame.text(text)));
      await t.expectEvents(texts.map((text) => expect.text(text)));
      const keys = t.connection.reader.maskKeys.map((key) => key.toString('hex'));
      const repeated = keys.filter((key, i) => keys.indexOf(key) !== i);
      if (repeated.length > 0) t.fail(`used the masking key ${repeated[0]} for more than one frame among ${keys.length} (RFC 6455 5.3: a new key for every frame)`);
      await t.closeNormally();
    }),
  ],
};

// --- 10. Opening handshake (RFC 6455 4.1, 4.2, 4.4) ----------------------------------------------

interface RequestParts {
  method?: string;
  httpVersion?: string;
  /** Header lines to send, in order; a header set to undefined is left out. */
  headers: Array<[string, string | undefined]>;
}

/** A client handshake by hand, with every part replaceable. */
function handshakeRequest(t: CaseContext, key: string, change: (parts: RequestParts) => void = () => {}): string {
  const parts: RequestParts = {
    headers: [
      ['Host', t.settings.target.authority],
      ['Upgrade', 'websocket'],
      ['Connection', 'Upgrade'],
      ['Sec-WebSocket-Key', key],
      ['Sec-WebSocket-Version', WEBSOCKET_VERSION],
    ],
  };
  change(parts);
  const lines = [`${parts.method ?? 'GET'} ${t.settings.target.path} HTTP/${parts.httpVersion ?? '1.1'}`];
  for (const [name, value] of parts.headers) if (value !== undefined) lines.push(`${name}: ${value}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

function setHeader(parts: RequestParts, name: string, value: string | undefined): void {
  const existing = parts.headers.find(([header]) => header.toLowerCase() === name.toLowerCase());
  if (existing !== undefined) existing[1] = value;
  else parts.headers.push([name, value]);
}

async function send(t: CaseContext, request: string): Promise<RawResponse> {
  const response = await t.connection.request(request, t.settings.caseTimeout / 2);
  if (response instanceof Error) t.fail(`no valid HTTP response: ${response.message}`);
  return response;
}

/**
 * An invalid handshake must be refused with an HTTP error (RFC 6455 4.2.1: "return an HTTP
 * response with an appropriate error code (such as 400 Bad Request)"). `strict` are the codes
 * that fit best; another 4xx is NON-STRICT, 101 FAILS.
 */
async function refusalCase(t: CaseContext, change: (parts: RequestParts) => void, strict: readonly number[]): Promise<void> {
  const response = await send(t, handshakeRequest(t, generateClientKey(), change));
  const status = response.head.status;
  if (status === 101) t.fail('accepted the invalid handshake with 101 (RFC 6455 4.2.1)');
  if (!strict.includes(status)) t.nonStrict(`answered ${status} where ${strict.join(' or ')} fits (RFC 6455 4.2.1)`);
}

/** A version the server does not speak: 426 with Sec-WebSocket-Version listing 13 (RFC 6455 4.2.2 item 4, 4.4). */
async function versionCase(t: CaseContext, version: string | undefined, draftVersion: boolean): Promise<void> {
  const response = await send(t, handshakeRequest(t, generateClientKey(), (parts) => setHeader(parts, 'Sec-WebSocket-Version', version)));
  const status = response.head.status;
  if (status === 101) {
    if (draftVersion) {
      t.nonStrict(`accepted version ${version}, a pre-RFC draft (RFC 6455 4.4 lets a server speak several versions)`);
      return;
    }
    t.fail(`accepted version ${version ?? '(none)'} with 101 (RFC 6455 4.2.1 item 6)`);
  }
  const advertised = response.head.headers.get('sec-websocket-version');
  const versions = advertised?.split(',').map((v) => v.trim()) ?? [];
  if (!versions.includes(WEBSOCKET_VERSION)) {
    t.fail(`answered ${status} without Sec-WebSocket-Version: 13 (RFC 6455 4.4: it MUST list the versions it speaks)`);
  }
  if (status !== 426) t.nonStrict(`answered ${status}; RFC 6455 4.2.2 names 426 Upgrade Required`);
}

const OFFERED_PROTOCOL = 'x-conformance-unknown';
const BAD_REQUEST = 400;
const METHOD_NOT_ALLOWED = 405;
const UPGRADE_REQUIRED = 426;
const HTTP_VERSION_NOT_SUPPORTED = 505;

const handshake: Section = {
  id: '10',
  title: 'Opening handshake',
  cases: [
    httpCase('10.1', 'valid handshake', '101 with Upgrade: websocket, Connection: Upgrade and the right Sec-WebSocket-Accept; no subprotocol or extension that was not offered (RFC 6455 4.2.2)', async (t) => {
      const key = generateClientKey();
      const response = await send(t, handshakeRequest(t, key));
      if (response.head.status !== 101) t.fail(`answered ${response.head.status}, not 101`);
      if (response.head.headers.get('sec-websocket-accept') !== computeAcceptKey(key)) t.fail('wrong Sec-WebSocket-Accept (RFC 6455 4.2.2 item 5.4)');
      if (!/(^|,)\s*websocket\s*(,|$)/i.test(response.head.headers.get('upgrade') ?? '')) t.fail('no Upgrade: websocket (RFC 6455 4.2.2 item 5.2)');
      if (!/(^|,)\s*upgrade\s*(,|$)/i.test(response.head.headers.get('connection') ?? '')) t.fail('no Connection: Upgrade (RFC 6455 4.2.2 item 5.3)');
      if (response.head.headers.has('sec-websocket-protocol')) t.fail('chose a subprotocol that was not offered (RFC 6455 4.2.2)');
      if (response.head.headers.has('sec-websocket-extensions')) t.fail('chose an extension that was not offered (RFC 6455 9.1)');
      await t.closeNormally();
    }),
    httpCase('10.2', 'header names and values in unusual case: "upgrade: WebSocket", "CONNECTION: keep-alive, Upgrade"', '101: header names are case-insensitive and Upgrade/Connection values are "treated as an ASCII case-insensitive value" (RFC 6455 4.2.1 items 3, 4)', async (t) => {
      const key = generateClientKey();
      const request = handshakeRequest(t, key, (parts) => {
        parts.headers = [
          ['host', t.settings.target.authority],
          ['upgrade', 'WebSocket'],
          ['CONNECTION', 'keep-alive, Upgrade'],
          ['sec-websocket-key', key],
          ['SEC-WEBSOCKET-VERSION', WEBSOCKET_VERSION],
        ];
      });
      const response = await send(t, request);
      if (response.head.status !== 101) t.fail(`answered ${response.head.status}, not 101`);
      await t.closeNormally();
    }),
    httpCase('10.3', 'handshake and a text frame in the same write', '101, then the frame echoed: bytes after the request are frames (RFC 6455 4.2.2, 5)', async (t: CaseContext) => {
      const response = await t.connection.request(Buffer.concat([Buffer.from(handshakeRequest(t, generateClientKey())), t.frame.text('early')]), t.settings.caseTimeout / 2);
      if (response instanceof Error) t.fail(response.message);
      if (response.head.status !== 101) t.fail(`answered ${response.head.status}, not 101`);
      await t.expectEvents([expect.text('early')]);
      await t.closeNormally();
    }),
    httpCase('10.4', 'no Sec-WebSocket-Key', '400 (RFC 6455 4.2.1 item 5)', (t) => refusalCase(t, (parts) => setHeader(parts, 'Sec-WebSocket-Key', undefined), [BAD_REQUEST])),
    httpCase('10.5', 'Sec-WebSocket-Key that is not base64', '400 (RFC 6455 4.2.1 item 5)', (t) =>
      refusalCase(t, (parts) => setHeader(parts, 'Sec-WebSocket-Key', 'not a base64 key!!!!!!!!'), [BAD_REQUEST]),
    ),
    httpCase('10.6', 'Sec-WebSocket-Key of 15 bytes', '400: the key decodes to 16 bytes (RFC 6455 4.2.1 item 5)', (t) =>
      refusalCase(t, (parts) => setHeader(parts, 'Sec-WebSocket-Key', Buffer.alloc(15, 7).toString('base64')), [BAD_REQUEST]),
    ),
    httpCase('10.7', 'Sec-WebSocket-Key of 17 bytes', '400 (RFC 6455 4.2.1 item 5)', (t) =>
      refusalCase(t, (parts) => setHeader(parts, 'Sec-WebSocket-Key', Buffer.alloc(17, 7).toString('base64')), [BAD_REQUEST]),
    ),
    httpCase('10.8', 'Sec-WebSocket-Version: 8', '426 with Sec-WebSocket-Version: 13 (RFC 6455 4.2.2 item 4, 4.4); accepting the hybi-08 draft is NON-STRICT', (t) => versionCase(t, '8', true)),
    httpCase('10.9', 'Sec-WebSocket-Version: 14', '426 with Sec-WebSocket-Version: 13 (RFC 6455 4.2.2 item 4, 4.4)', (t) => versionCase(t, '14', false)),
    httpCase('10.10', 'no Sec-WebSocket-Version', 'refused with 400 or 426 (RFC 6455 4.2.1 item 6)', (t) =>
      refusalCase(t, (parts) => setHeader(parts, 'Sec-WebSocket-Version', undefined), [BAD_REQUEST, UPGRADE_REQUIRED]),
    ),
    httpCase('10.11', 'POST instead of GET', 'refused with 405 or 400: the handshake is a GET (RFC 6455 4.2.1 item 1)', (t) =>
      refusalCase(t, (parts) => {
        parts.method = 'POST';
        parts.headers.push(['Content-Length', '0']);
      }, [METHOD_NOT_ALLOWED, BAD_REQUEST]),
    ),
    httpCase('10.12', 'HTTP/1.0 request', 'refused: "HTTP/1.1 or higher" (RFC 6455 4.2.1 item 1)', (t) =>
      refusalCase(t, (parts) => {
        parts.httpVersion = '1.0';
      }, [BAD_REQUEST, HTTP_VERSION_NOT_SUPPORTED, UPGRADE_REQUIRED]),
    ),
    httpCase('10.13', 'no Upgrade header', 'refused with 400 or 426 (RFC 6455 4.2.1 item 3)', (t) =>
      refusalCase(t, (parts) => setHeader(parts, 'Upgrade', undefined), [BAD_REQUEST, UPGRADE_REQUIRED]),
    ),
    httpCase('10.14', 'Upgrade: h2c instead of websocket', 'refused with 400 or 426 (RFC 6455 4.2.1 item 3)', (t) =>
      refusalCase(t, (parts) => setHeader(parts, 'Upgrade', 'h2c'), [BAD_REQUEST, UPGRADE_REQUIRED]),
    ),
    httpCase('10.15', 'no Connection header', 'refused with 400 or 426 (RFC 6455 4.2.1 item 4)', (t) =>
      refusalCase(t, (parts) => setHeader(parts, 'Connection', undefined), [BAD_REQUEST, UPGRADE_REQUIRED]),
    ),
    httpCase('10.16', 'no Host header', '400 (RFC 6455 4.2.1 item 2)', (t) => refusalCase(t, (parts) => setHeader(parts, 'Host', undefined), [BAD_REQUEST])),
    httpCase('10.17', 'offers only a subprotocol no server speaks', '101 without Sec-WebSocket-Protocol: a server that does not agree "MUST NOT send back" the header (RFC 6455 4.2.2 item 5.5); agreeing to the unknown name is INFORMATIONAL', async (t) => {
      const response = await send(t, handshakeRequest(t, generateClientKey(), (parts) => setHeader(parts, 'Sec-WebSocket-Protocol', OFFERED_PROTOCOL)));
      if (response.head.status !== 101) t.nonStrict(`refused with ${response.head.status}; a server may also accept without a subprotocol`);
      const chosen = response.head.headers.get('sec-websocket-protocol');
      // RFC 6455 4.1: a subprotocol "not present in the client's handshake" fails the connection.
      if (chosen !== undefined && chosen !== OFFERED_PROTOCOL) t.fail(`chose subprotocol ${JSON.stringify(chosen)}, which was not offered`);
      // Agreeing to the offered name is the server's choice; the suite cannot know what it speaks.
      if (chosen === OFFERED_PROTOCOL) t.inform(`agreed to the subprotocol ${OFFERED_PROTOCOL}, which no server can know`);
      if (response.head.status === 101) await t.closeNormally();
    }),
    httpCase('10.18', 'offers only an extension no server knows', '101 without Sec-WebSocket-Extensions (RFC 6455 9.1: only offered extensions it supports)', async (t) => {
      const response = await send(t, handshakeRequest(t, generateClientKey(), (parts) => setHeader(parts, 'Sec-WebSocket-Extensions', 'x-conformance-unknown; level=1')));
      if (response.head.status !== 101) t.fail(`answered ${response.head.status}, not 101`);
      if (response.head.headers.has('sec-websocket-extensions')) t.fail(`chose extension ${response.head.headers.get('sec-websocket-extensions')}`);
      await t.closeNormally();
    }),
    httpCase('10.19', 'two Sec-WebSocket-Key headers', '400: "The |Sec-WebSocket-Key| header field MUST NOT appear more than once in an HTTP request" (RFC 6455 11.3.1)', (t) =>
      refusalCase(t, (parts) => parts.headers.push(['Sec-WebSocket-Key', generateClientKey()]), [BAD_REQUEST]),
    ),
    httpCase('10.20', 'Upgrade: h2c, websocket (a list containing websocket)', '101: the Upgrade header is a list and the request "contains the value websocket" (RFC 6455 4.2.1 item 3; RFC 7230 6.7); refusing is NON-STRICT', async (t) => {
      const response = await send(t, handshakeRequest(t, generateClientKey(), (parts) => setHeader(parts, 'Upgrade', 'h2c, websocket')));
      if (response.head.status !== 101) {
        t.nonStrict(`refused with ${response.head.status}: read Upgrade as a single value rather than a list`);
        return;
      }
      await t.closeNormally();
    }),
  ],
};

// --- 10. Opening handshake, client side (RFC 6455 4.1) ---------------------------------------------

/** The server's answer, with every part replaceable: the status line, then header lines in order. */
interface ResponseParts {
  statusLine: string;
  /** A header set to undefined is left out. */
  headers: Array<[string, string | undefined]>;
}

/** The server's 101 to the client's request, changed as a case needs. */
function handshakeResponse(t: CaseContext, change: (parts: ResponseParts, key: string) => void = () => {}): string {
  const key = t.settings.clients!.requestOf(t.connection).key;
  const valid = switchingProtocols(key).split('\r\n').filter((line) => line !== '');
  const parts: ResponseParts = {
    statusLine: valid[0],
    headers: valid.slice(1).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
  };
  change(parts, key);
  const lines = [parts.statusLine];
  for (const [name, value] of parts.headers) if (value !== undefined) lines.push(`${name}: ${value}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

function setResponseHeader(parts: ResponseParts, name: string, value: string | undefined): void {
  const existing = parts.headers.find(([header]) => header.toLowerCase() === name.toLowerCase());
  if (existing !== undefined) existing[1] = value;
  else parts.headers.push([name, value]);
}

const NOT_FOR_YOU = 'an echo of this means the handshake was accepted';

/** An answer the client MUST refuse (RFC 6455 4.1), sent with a text frame behind it that it must not echo. */
async function refusedAnswer(t: CaseContext, response: string): Promise<void> {
  t.send(Buffer.from(response, 'latin1'), t.frame.text(NOT_FOR_YOU));
  await t.expectRefusal('RFC 6455 4.1');
}

/** An answer the client must accept: then an echo and the closing handshake. */
async function acceptedAnswer(t: CaseContext, response: string, chopped = false): Promise<void> {
  const bytes = Buffer.from(response, 'latin1');
  if (chopped) await t.sendChopped(bytes, 1);
  else t.send(bytes);
  t.send(t.frame.text('after the answer'));
  await t.expectEvents([expect.text('after the answer')]);
  await t.closeNormally();
}

/** An HTTP answer that is not 101: the client must not open (RFC 6455 4.1); the server ends the exchange. */
async function notUpgraded(t: CaseContext, response: string): Promise<void> {
  t.send(Buffer.from(response, 'latin1'));
  const event = await t.next();
  if (event !== undefined && event.kind !== 'tcp-closed') t.fail(`sent ${describeEvent(event)} after a ${response.slice(9, 12)} answer (RFC 6455 4.1: only a 101 opens the connection)`);
  t.connection.end();
}

const UNOFFERED_PROTOCOL = 'x-conformance-not-offered';
const UNOFFERED_EXTENSION = 'x-conformance-not-offered';
const REFUSE_RULE = 'the client fails the connection: closes TCP without sending a frame (RFC 6455 4.1, "the client MUST _Fail the WebSocket Connection_")';

function clientCase(id: string, description: string, expectation: string, run: (t: CaseContext) => Promise<void>): ConformanceCase {
  return httpCase(id, description, expectation, run, 'client');
}

const clientHandshake: Section = {
  id: '10',
  title: 'Opening handshake',
  cases: [
    clientCase('10.1', 'the request, answered with a valid 101', 'a GET over HTTP/1.1 for the URL\'s resource name with Host, Upgrade: websocket, Connection: Upgrade, a fresh 16-byte Sec-WebSocket-Key, version 13, valid protocol and extension offers, nothing sent before the answer (RFC 6455 4.1; judged in every case); then an echo', (t) =>
      acceptedAnswer(t, handshakeResponse(t)),
    ),
    clientCase('10.2', 'header names and values in unusual case: "upgrade: WebSocket", "CONNECTION: UPGRADE", "sec-websocket-accept"', 'accepted: header names are case-insensitive, and so are the Upgrade and Connection values (RFC 6455 4.1 items 2, 3 of the checks)', (t) =>
      acceptedAnswer(t, handshakeResponse(t, (parts, key) => {
        parts.headers = [['upgrade', 'WebSocket'], ['CONNECTION', 'UPGRADE'], ['sec-websocket-accept', acceptFor(key)]];
      })),
    ),
    clientCase('10.3', 'a text frame in the same write as the 101', 'echoed: bytes after the answer are frames (RFC 6455 4.1)', async (t) => {
      t.send(Buffer.from(handshakeResponse(t), 'latin1'), t.frame.text('early'));
      await t.expectEvents([expect.text('early')]);
      await t.closeNormally();
    }),
    clientCase('10.4', 'the 101 delivered one byte at a time', 'accepted: an answer may arrive in any number of reads (RFC 6455 4.1)', (t) => acceptedAnswer(t, handshakeResponse(t), true)),
    clientCase('10.5', 'Connection: keep-alive, Upgrade', 'accepted: Connection is a list that "contains a token that is an ASCII case-insensitive match for the value Upgrade" (RFC 6455 4.1)', (t) =>
      acceptedAnswer(t, handshakeResponse(t, (parts) => setResponseHeader(parts, 'Connection', 'keep-alive, Upgrade'))),
    ),
    clientCase('10.6', 'a reason phrase other than "Switching Protocols", and extra headers', 'accepted: the reason phrase is free text (RFC 7230 3.1.2) and other headers are HTTP\'s (RFC 6455 4.1)', (t) =>
      acceptedAnswer(t, handshakeResponse(t, (parts) => {
        parts.statusLine = 'HTTP/1.1 101 Go ahead';
        parts.headers.push(['Server', 'conformance'], ['Set-Cookie', 'session=1; HttpOnly'], ['X-Extra', 'yes']);
      })),
    ),
    clientCase('10.7', 'a wrong Sec-WebSocket-Accept', REFUSE_RULE, (t) =>
      refusedAnswer(t, handshakeResponse(t, (parts, key) => setResponseHeader(parts, 'Sec-WebSocket-Accept', acceptFor(`${key}x`)))),
    ),
    clientCase('10.8', 'Sec-WebSocket-Accept: the key itself, not its hash', REFUSE_RULE, (t) =>
      refusedAnswer(t, handshakeResponse(t, (parts, key) => setResponseHeader(parts, 'Sec-WebSocket-Accept', key))),
    ),
    clientCase('10.9', 'no Sec-WebSocket-Accept', REFUSE_RULE, (t) => refusedAnswer(t, handshakeResponse(t, (parts) => setResponseHeader(parts, 'Sec-WebSocket-Accept', undefined)))),
    clientCase('10.10', 'Sec-WebSocket-Accept twice, the right value and a wrong one', `${REFUSE_RULE}; "MUST NOT appear more than once in an HTTP response" (RFC 6455 11.3.3)`, (t) =>
      refusedAnswer(t, handshakeResponse(t, (parts, key) => parts.headers.push(['Sec-WebSocket-Accept', acceptFor(`${key}x`)]))),
    ),
    clientCase('10.11', 'no Upgrade header', REFUSE_RULE, (t) => refusedAnswer(t, handshakeResponse(t, (parts) => setResponseHeader(parts, 'Upgrade', undefined)))),
    clientCase('10.12', 'Upgrade: h2c', REFUSE_RULE, (t) => refusedAnswer(t, handshakeResponse(t, (parts) => setResponseHeader(parts, 'Upgrade', 'h2c')))),
    clientCase('10.13', 'no Connection header', REFUSE_RULE, (t) => refusedAnswer(t, handshakeResponse(t, (parts) => setResponseHeader(parts, 'Connection', undefined)))),
    clientCase('10.14', 'Connection: keep-alive (no Upgrade token)', REFUSE_RULE, (t) => refusedAnswer(t, handshakeResponse(t, (parts) => setResponseHeader(parts, 'Connection', 'keep-alive')))),
    clientCase('10.15', 'status 200 with every WebSocket header right', 'the connection not opened: "If the status code received from the server is not 101, the client handles the response per HTTP" (RFC 6455 4.1)', (t) =>
      notUpgraded(t, handshakeResponse(t, (parts) => {
        parts.statusLine = 'HTTP/1.1 200 OK';
        parts.headers.push(['Content-Length', '0']);
      })),
    ),
    clientCase('10.16', 'status 403 with a body', 'the connection not opened (RFC 6455 4.1)', (t) =>
      notUpgraded(t, 'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nforbidden\n'),
    ),
    clientCase('10.17', `a subprotocol the client did not offer (${UNOFFERED_PROTOCOL})`, `${REFUSE_RULE}: a subprotocol "that was not present in the client's handshake" (RFC 6455 4.1)`, (t) =>
      refusedAnswer(t, handshakeResponse(t, (parts) => setResponseHeader(parts, 'Sec-WebSocket-Protocol', UNOFFERED_PROTOCOL))),
    ),
    clientCase('10.18', `an extension the client did not offer (${UNOFFERED_EXTENSION})`, `${REFUSE_RULE}: an extension "not present in the client's handshake" (RFC 6455 4.1, 9.1)`, (t) =>
      refusedAnswer(t, handshakeResponse(t, (parts) => setResponseHeader(parts, 'Sec-WebSocket-Extensions', UNOFFERED_EXTENSION))),
    ),
    clientCase('10.19', 'a malformed Sec-WebSocket-Extensions ("permessage-deflate; =")', `${REFUSE_RULE}: a value that does not match the grammar of RFC 6455 9.1`, (t) =>
      refusedAnswer(t, handshakeResponse(t, (parts) => setResponseHeader(parts, 'Sec-WebSocket-Extensions', 'permessage-deflate; ='))),
    ),
    clientCase('10.20', 'a 302 redirect to another path of the suite', 'INFORMATIONAL: "clients are not required to follow them" (RFC 6455 4.1); a client that does not follow must not open the first connection', async (t: CaseContext) => {
      const clients = t.settings.clients!;
      const path = `/${encodeURIComponent('10.20')}/redirected`;
      const redirected = clients.waitForUpgrade(path, t.settings.replyTimeout).catch(() => undefined);
      t.send(Buffer.from(`HTTP/1.1 302 Found\r\nLocation: ${new URL(path, clients.url).href}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, 'latin1'));
      const event = await t.next();
      if (event !== undefined && event.kind !== 'tcp-closed') t.fail(`sent ${describeEvent(event)} on the connection that was redirected (RFC 6455 4.1: only a 101 opens it)`);
      t.connection.end();
      const followed = await redirected;
      if (followed === undefined) {
        t.inform('did not follow the redirect');
        return;
      }
      followed.socket.destroy();
      t.inform(`followed the redirect to ${path}`);
    }),
  ],
};

/** Every section for the side under test, in report order, with the permessage-deflate echo cases over `deflateSizes`. */
export function sectionsFor(peer: Side, deflateSizes: readonly number[] = QUICK_DEFLATE_SIZES): readonly Section[] {
  const shared = [framing, pings, reservedBits, opcodes, fragmentation, utf8, closeHandling, limits];
  return peer === 'server'
    ? [...shared, serverMasking, handshake, deflateSection(deflateSizes, 'server')]
    : [...shared, clientMasking, clientHandshake, deflateSection(deflateSizes, 'client')];
}

/** Every section of server mode, in report order; the permessage-deflate echo cases over the quick set of sizes. */
export const SECTIONS: readonly Section[] = sectionsFor('server');

/** Every section of client mode. */
export const CLIENT_SECTIONS: readonly Section[] = sectionsFor('client');

/** Every section of server mode, with the permessage-deflate echo cases over `deflateSizes` (e.g. the full set). */
export function sectionsWith(deflateSizes: readonly number[]): readonly Section[] {
  return sectionsFor('server', deflateSizes);
}

/** The case `id` of the side under test, with its section. */
export function findCase(id: string, peer: Side = 'server', sections: readonly Section[] = sectionsFor(peer)): { section: Section; testCase: ConformanceCase } {
  for (const section of sections) {
    const testCase = section.cases.find((c) => c.id === id);
    if (testCase !== undefined) return { section, testCase };
  }
  throw new Error(`no case ${id} for a ${peer} under test`);
}
