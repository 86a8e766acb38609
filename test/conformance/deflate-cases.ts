/**
 * Section 11: permessage-deflate (RFC 7692), in the manner of the Autobahn test suite's
 * sections 12 and 13. The suite offers the extension in each parameter combination and judges
 * the server's answer against RFC 7692 7.1; on every connection where it was accepted, the
 * suite sends messages compressed (honouring what the answer agreed for its side) and
 * uncompressed, inflates the server's compressed echoes (wire.ts) and compares them byte for
 * byte; and it sends what a compressing client must not: RSV1 where it has no meaning, data
 * that is not DEFLATE, text that inflates to invalid UTF-8, a small message that inflates past
 * the server's limit.
 *
 * RFC 7692 is not in the repository; the sections cited are 6 (Framing: RSV1, the "Per-Message
 * Compressed" bit, on the first frame of a data message only), 7.1 (negotiation: a server MUST
 * decline an offer with an unknown parameter, an invalid value or a repeated parameter; a
 * client MUST fail the connection on such an answer), 7.1.1.1/7.1.1.2 (the context takeover
 * parameters), 7.1.2.1/7.1.2.2 (the window bits), 7.2.1/7.2.2 (compressing and inflating), 7.2.3 (examples of compressed
 * payloads: one block, a block with no compression, a block with BFINAL set, two blocks).
 */
import { randomBytes } from 'node:crypto';
import { constants as zlibConstants, createDeflateRaw, type DeflateRaw, deflateRawSync } from 'node:zlib';
import { type ExtensionOffer, Opcode, parseExtensionOffers } from '../../src/protocol/index.js';
import { switchingProtocols } from './client-mode.js';
import type { CaseContext, ConformanceCase, Expected, FailureExpectation, Section } from './suite.js';
import { compressionOf, DEFAULT_WINDOW_BITS, DEFLATE_TAIL, type DeflateAgreement, otherSide, RSV1, type Side, type SideCompression, throughZlib } from './wire.js';

const PERMESSAGE_DEFLATE = 'permessage-deflate';
const PROTOCOL_ERROR = 1002;
const INVALID_PAYLOAD = 1007;
const MESSAGE_TOO_BIG = 1009;
/** Window bits are 8 to 15 (RFC 7692 7.1.2.1, 7.1.2.2). */
const MIN_WINDOW_BITS = 8;
const MAX_WINDOW_BITS = 15;
/** zlib cannot compress with a 256-byte window, so with an answer of 8 the suite sends uncompressed. */
const SMALLEST_ZLIB_DEFLATE_WINDOW = 9;
const HTTP_SWITCHING_PROTOCOLS = 101;

// --- Judging the answer (RFC 7692 7.1) ----------------------------------------------------------

/** A window-bits value as RFC 7692 7.1.2 allows it: a decimal integer from 8 to 15. */
function windowBits(value: string | true): number | undefined {
  if (value === true || !/^[1-9][0-9]?$/.test(value)) return undefined;
  const bits = Number(value);
  return bits >= MIN_WINDOW_BITS && bits <= MAX_WINDOW_BITS ? bits : undefined;
}

/** The verdict on one answer: what was agreed (undefined when declined) or why it is invalid. */
export type AnswerJudgement = { valid: true; agreement: DeflateAgreement | undefined; notes: string[] } | { valid: false; reason: string };

/**
 * Judges a server's Sec-WebSocket-Extensions answer (undefined when absent) against one offer
 * the suite made, from the client's side of RFC 7692 7.1: a valid acceptance of that offer, a
 * decline (no permessage-deflate at all), or invalid.
 */
export function judgeDeflateAnswer(offer: ExtensionOffer, header: string | undefined): AnswerJudgement {
  if (header === undefined) return { valid: true, agreement: undefined, notes: [] };
  const answers = parseExtensionOffers(header);
  if (answers === undefined) return { valid: false, reason: `malformed Sec-WebSocket-Extensions answer ${JSON.stringify(header)} (RFC 6455 9.1)` };
  const others = answers.filter((answer) => answer.name !== PERMESSAGE_DEFLATE);
  if (others.length > 0) return { valid: false, reason: `answered with ${others[0].name}, which was not offered (RFC 6455 9.1)` };
  // Two permessage-deflate answers would both claim RSV1 for the same messages.
  if (answers.length > 1) return { valid: false, reason: `answered with ${answers.length} permessage-deflate elements: one offer is accepted, or none (RFC 7692 7.1)` };
  const answer = answers[0];
  // RFC 7692 7.1: a client MUST fail the connection on a repeated, unknown or invalid parameter.
  if (answer.repeatedParams.length > 0) return { valid: false, reason: `repeated parameter ${answer.repeatedParams[0]} in the answer (RFC 7692 7.1)` };
  const notes: string[] = [];
  let serverNoContextTakeover = false;
  let clientNoContextTakeover = false;
  let serverMaxWindowBits: number | undefined;
  let clientMaxWindowBits: number | undefined;
  for (const [name, value] of answer.params) {
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        // 7.1.1.1, 7.1.1.2: both take no value; the server may answer with either unasked.
        if (value !== true) return { valid: false, reason: `${name}=${value}: the parameter has no value (RFC 7692 7.1.1)` };
        if (name === 'server_no_context_takeover') serverNoContextTakeover = true;
        else clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        // 7.1.2.1: 8-15, "the same or smaller value as the offer"; the server may also answer
        // with it when the offer did not have it.
        const bits = windowBits(value);
        if (bits === undefined) return { valid: false, reason: `server_max_window_bits=${value === true ? '(no value)' : value}: not an integer from 8 to 15 (RFC 7692 7.1.2.1)` };
        const offered = offer.params.get('server_max_window_bits');
        const offeredBits = offered === undefined ? undefined : windowBits(offered);
        if (offeredBits !== undefined && bits > offeredBits) return { valid: false, reason: `server_max_window_bits=${bits} is larger than the ${offeredBits} offered (RFC 7692 7.1.2.1)` };
        serverMaxWindowBits = bits;
        break;
      }
      case 'client_max_window_bits': {
        // 7.1.2.2: only if the offer had it; in an answer it has a value, 8-15.
        if (!offer.params.has('client_max_window_bits')) return { valid: false, reason: 'client_max_window_bits in the answer, but not in the offer (RFC 7692 7.1.2.2: MUST NOT)' };
        const bits = windowBits(value);
        if (bits === undefined) return { valid: false, reason: `client_max_window_bits=${value === true ? '(no value)' : value}: not an integer from 8 to 15 (RFC 7692 7.1.2.2)` };
        clientMaxWindowBits = bits;
        break;
      }
      default:
        return { valid: false, reason: `parameter ${JSON.stringify(name)} is not defined for an answer (RFC 7692 7.1)` };
    }
  }
  // 7.1.1.1: a server "accepts" an offer with server_no_context_takeover by answering with it;
  // 7.1.2.1: the same for server_max_window_bits.
  if (offer.params.has('server_no_context_takeover') && !serverNoContextTakeover) {
    return { valid: false, reason: 'the offer had server_no_context_takeover and the answer does not (RFC 7692 7.1.1.1)' };
  }
  const offeredServerBits = offer.params.get('server_max_window_bits');
  if (offeredServerBits !== undefined && serverMaxWindowBits === undefined) {
    return { valid: false, reason: 'the offer had server_max_window_bits and the answer does not (RFC 7692 7.1.2.1)' };
  }
  // The suite never compresses with a bigger window than its own offer said, whatever the answer.
  const offeredClient = offer.params.get('client_max_window_bits');
  const offeredClientBits = offeredClient === undefined ? undefined : windowBits(offeredClient);
  if (offeredClientBits !== undefined && clientMaxWindowBits !== undefined && clientMaxWindowBits > offeredClientBits) {
    notes.push(`client_max_window_bits=${clientMaxWindowBits} is larger than the ${offeredClientBits} offered; the suite keeps to ${offeredClientBits}`);
  }
  const clientBits = Math.min(clientMaxWindowBits ?? DEFAULT_WINDOW_BITS, offeredClientBits ?? DEFAULT_WINDOW_BITS);
  return {
    valid: true,
    notes,
    agreement: { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits: serverMaxWindowBits ?? DEFAULT_WINDOW_BITS, clientMaxWindowBits: clientBits },
  };
}

// --- The suite's compressing side ---------------------------------------------------------------

/**
 * Compresses the suite's messages as agreed for the suite's side (RFC 7692 7.2.1): one continuous
 * deflate stream for the connection with context takeover, a fresh one per message when the
 * answer has no_context_takeover for the suite's side (7.1.1: it then MUST NOT use context
 * takeover), with at most the agreed window.
 */
export class SuiteDeflater {
  private stream: DeflateRaw | undefined;

  constructor(private readonly own: SideCompression) {}

  /** Whether the suite can compress at all under this agreement (zlib needs a window of 9 bits or more). */
  get canCompress(): boolean {
    return this.own.windowBits >= SMALLEST_ZLIB_DEFLATE_WINDOW;
  }

  async compress(data: Buffer): Promise<Buffer> {
    if (this.stream === undefined || this.own.noContextTakeover) {
      this.stream?.close();
      this.stream = createDeflateRaw({ windowBits: this.own.windowBits });
    }
    const output = await throughZlib(this.stream, data);
    if (output instanceof Error) throw output;
    // 7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end."
    const end = output.length - DEFLATE_TAIL.length;
    if (end < 0 || !output.subarray(end).equals(DEFLATE_TAIL)) throw new Error('zlib did not end the flush with an empty stored block');
    return output.subarray(0, end);
  }

  close(): void {
    this.stream?.close();
  }
}

/** Compresses `data` on its own (no context), for messages sent once. */
function compressAlone(data: Buffer): Buffer {
  const output = deflateRawSync(data, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  return output.subarray(0, output.length - DEFLATE_TAIL.length);
}

/** The outcome of a negotiation: the agreement with a deflater for the suite's side, or declined. */
interface Negotiated {
  agreement: DeflateAgreement | undefined;
  deflater: SuiteDeflater | undefined;
}

/** Once agreed: the reader inflates what the peer compresses, and the suite compresses as its own side may. */
function agreed(t: CaseContext, agreement: DeflateAgreement): Negotiated {
  t.connection.reader.enableDeflate(agreement);
  return { agreement, deflater: new SuiteDeflater(compressionOf(agreement, otherSide(t.peer))) };
}

/** What a server that refuses the handshake over an extension offer is told. */
function refusedOffer(t: CaseContext, status: number, offer: string): void {
  t.nonStrict(`refused the handshake with ${status} over the offer ${JSON.stringify(offer)}; RFC 7692 7.1 has the server decline an offer it cannot accept, and the connection go on without it`);
}

/**
 * Server mode: opens the connection with `offer` as Sec-WebSocket-Extensions and judges the
 * answer against the offers in `acceptable` (the valid ones; the server may accept any one of
 * them). An invalid answer FAILS the case; a refused handshake is NON-STRICT and ends the case
 * (undefined). Once accepted, the reader inflates what the server compresses.
 *
 * Client mode: `offer` says what the suite, as the server, wants agreed; it answers the client's
 * offer with that, as far as the offer allows (`answerFor`), or declines when no offer allows it.
 */
async function negotiate(t: CaseContext, offer: string, acceptable: readonly string[] = [offer]): Promise<Negotiated | undefined> {
  if (t.peer === 'client') return answerClient(t, offer);
  const result = await t.connection.openingHandshake(t.settings.target, t.settings.caseTimeout / 2, { extensions: offer });
  if (result instanceof Error) t.fail(`opening handshake failed: ${result.message}`);
  if (result.response.head.status !== HTTP_SWITCHING_PROTOCOLS) {
    refusedOffer(t, result.response.head.status, offer);
    return undefined;
  }
  if (result.verified instanceof Error) t.fail(`invalid 101 answer: ${result.verified.message}`);
  const header = result.verified.extensions;
  const reasons: string[] = [];
  for (const candidate of acceptable) {
    const parsed = parseExtensionOffers(candidate);
    if (parsed === undefined || parsed.length !== 1) throw new Error(`bad acceptable offer ${candidate}`);
    const judged = judgeDeflateAnswer(parsed[0], header);
    if (!judged.valid) {
      reasons.push(judged.reason);
      continue;
    }
    for (const note of judged.notes) t.nonStrict(note);
    if (judged.agreement === undefined) return { agreement: undefined, deflater: undefined };
    return agreed(t, judged.agreement);
  }
  t.fail(`answered ${JSON.stringify(header)} to the offer ${JSON.stringify(offer)}: ${reasons.join('; ')}`);
}

/** The client's permessage-deflate offers, in its order of preference. */
function clientOffers(t: CaseContext): ExtensionOffer[] {
  return t.settings.clients!.requestOf(t.connection).extensionOffers.filter((offer) => offer.name === PERMESSAGE_DEFLATE);
}

/**
 * The answer a server that wants `wish` gives to the client's `offer`, keeping every rule of
 * RFC 7692 7.1 a server must: server_no_context_takeover and server_max_window_bits (at most the
 * offered value) when the offer has them (7.1.1.1, 7.1.2.1); client_max_window_bits only when
 * the offer has it (7.1.2.2: "MUST NOT" otherwise), at most its value. Undefined when the wish
 * needs client_max_window_bits and the offer has none.
 */
export function answerFor(offer: ExtensionOffer, wish: ExtensionOffer): string | undefined {
  const params: string[] = [];
  if (wish.params.has('server_no_context_takeover') || offer.params.has('server_no_context_takeover')) params.push('server_no_context_takeover');
  if (wish.params.has('client_no_context_takeover')) params.push('client_no_context_takeover');
  const wishedServerBits = bitsOf(wish.params.get('server_max_window_bits'));
  const offeredServerBits = bitsOf(offer.params.get('server_max_window_bits'));
  const serverBits = offeredServerBits === undefined ? wishedServerBits : Math.min(wishedServerBits ?? offeredServerBits, offeredServerBits);
  if (serverBits !== undefined) params.push(`server_max_window_bits=${serverBits}`);
  if (wish.params.has('client_max_window_bits')) {
    if (!offer.params.has('client_max_window_bits')) return undefined;
    const wished = bitsOf(wish.params.get('client_max_window_bits')) ?? MAX_WINDOW_BITS;
    const offered = bitsOf(offer.params.get('client_max_window_bits'));
    params.push(`client_max_window_bits=${offered === undefined ? wished : Math.min(wished, offered)}`);
  }
  return [PERMESSAGE_DEFLATE, ...params].join('; ');
}

function bitsOf(value: string | true | undefined): number | undefined {
  return value === undefined ? undefined : windowBits(value);
}

/** Client mode's side of `negotiate`: answers the client's first offer the wish fits (the answer checked by `judgeDeflateAnswer`), or declines. */
function answerClient(t: CaseContext, wishText: string): Negotiated {
  const clients = t.settings.clients!;
  const key = clients.requestOf(t.connection).key;
  const wish = parseExtensionOffers(wishText)?.[0];
  if (wish === undefined) throw new Error(`bad wish ${wishText}`);
  for (const offer of clientOffers(t)) {
    if (offer.repeatedParams.length > 0 || [...offer.params].some(([name, value]) => !isValidOfferParam(name, value))) continue;
    const answer = answerFor(offer, wish);
    if (answer === undefined) continue;
    const judged = judgeDeflateAnswer(offer, answer);
    // The suite's own answer is checked by the same rules it holds servers to.
    if (!judged.valid || judged.agreement === undefined) throw new Error(`the suite's answer ${answer} is not valid: ${judged.valid ? 'declined' : judged.reason}`);
    t.send(Buffer.from(switchingProtocols(key, [`Sec-WebSocket-Extensions: ${answer}`]), 'latin1'));
    return agreed(t, judged.agreement);
  }
  clients.accept(t.connection);
  return { agreement: undefined, deflater: undefined };
}

/** A parameter a permessage-deflate offer may have (RFC 7692 7.1): the suite answers only valid offers. */
function isValidOfferParam(name: string, value: string | true): boolean {
  switch (name) {
    case 'server_no_context_takeover':
    case 'client_no_context_takeover':
      return value === true;
    case 'server_max_window_bits':
      return windowBits(value) !== undefined;
    case 'client_max_window_bits':
      return value === true || windowBits(value) !== undefined;
    default:
      return false;
  }
}

/**
 * The opening handshake of a case that negotiates nothing: the suite's plain request to a
 * server, or its plain 101 to a client.
 */
async function plainHandshake(t: CaseContext): Promise<void> {
  if (t.peer === 'client') {
    t.settings.clients!.accept(t.connection);
    return;
  }
  const refused = await t.connection.handshake(t.settings.target, t.settings.caseTimeout / 2);
  if (refused !== undefined) t.fail(`opening handshake failed: ${refused.message}`);
}

/** Why nothing was agreed, for an INFORMATIONAL case. */
function declined(t: CaseContext, offer: string): string {
  if (t.peer === 'server') return `declined the offer ${JSON.stringify(offer)}`;
  const offers = clientOffers(t);
  return offers.length === 0 ? 'offered no permessage-deflate' : `made no valid permessage-deflate offer that allows the answer to ${JSON.stringify(offer)}`;
}

/** Like `negotiate`, for cases that need compression: a decline makes the case INFORMATIONAL (not applicable). */
async function negotiateAccepted(t: CaseContext, offer: string): Promise<SuiteDeflater | undefined> {
  const negotiated = await negotiate(t, offer);
  if (negotiated === undefined) return undefined;
  const { deflater } = negotiated;
  if (deflater === undefined) {
    t.inform(`${declined(t, offer)}: nothing compressed to test`);
    await t.closeNormally();
    return undefined;
  }
  return deflater;
}

// --- Payloads -----------------------------------------------------------------------------------

/** Text that compresses well: a repeated phrase (ASCII, so valid UTF-8 at any length). */
export function compressibleText(length: number): Buffer {
  const phrase = Buffer.from('permessage-deflate compresses repeated phrases well. ');
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = phrase[i % phrase.length];
  return bytes;
}

const PRINTABLE_FIRST = 0x21;
const PRINTABLE_COUNT = 94;

/** Text that hardly compresses: random printable ASCII. */
function randomText(length: number): Buffer {
  const bytes = randomBytes(length);
  for (let i = 0; i < length; i++) bytes[i] = PRINTABLE_FIRST + (bytes[i] % PRINTABLE_COUNT);
  return bytes;
}

/** Binary that compresses well: runs of the same byte. */
function compressibleBinary(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i >> 6) & 0xff;
  return bytes;
}

interface Payload {
  binary: boolean;
  data: Buffer;
}

/** The four kinds of message each size is tried with. */
function payloads(size: number): Payload[] {
  return [
    { binary: false, data: compressibleText(size) },
    { binary: false, data: randomText(size) },
    { binary: true, data: compressibleBinary(size) },
    { binary: true, data: randomBytes(size) },
  ];
}

function messageFrame(t: CaseContext, message: Payload, payload: Buffer, rsv: number): Buffer {
  return t.frame.build({ opcode: message.binary ? Opcode.Binary : Opcode.Text, payload, rsv });
}

/** "16 B", "4 KiB". */
function sizeName(size: number): string {
  return size >= 1024 ? `${size / 1024} KiB` : `${size} B`;
}

// --- Cases --------------------------------------------------------------------------------------

function deflateCase(id: string, description: string, expectation: string, run: (t: CaseContext) => Promise<void>, appliesTo?: Side): ConformanceCase {
  // `http`: each case does its own opening handshake, with its own offer (or answer).
  return { id, description, expectation, kind: 'http', run, appliesTo };
}

/** Proves an accepted agreement works: a compressed message each way, then the closing handshake. */
async function exchangeOne(t: CaseContext, negotiated: Negotiated | undefined): Promise<void> {
  if (negotiated === undefined) return;
  if (negotiated.deflater !== undefined && negotiated.deflater.canCompress) {
    const text = compressibleText(2048);
    t.send(t.frame.text(await negotiated.deflater.compress(text), { rsv: RSV1 }));
    await t.expectEcho(text);
  }
  negotiated.deflater?.close();
  await t.closeNormally();
}

/** Offers that must be answered validly, accepted or declined (7.1). */
const VALID_OFFERS: readonly string[] = [
  'permessage-deflate',
  'permessage-deflate; server_no_context_takeover',
  'permessage-deflate; client_no_context_takeover',
  ...[9, 10, 11, 12, 13, 14, 15].map((bits) => `permessage-deflate; server_max_window_bits=${bits}`),
  'permessage-deflate; client_max_window_bits',
  ...[9, 12, 15].map((bits) => `permessage-deflate; client_max_window_bits=${bits}`),
  'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  'permessage-deflate; server_max_window_bits=10; client_max_window_bits=10',
  'permessage-deflate; client_no_context_takeover; client_max_window_bits',
  'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9',
  'permessage-deflate; server_max_window_bits="12"',
  'permessage-deflate; server_max_window_bits=8; client_max_window_bits',
];

/** Offers a server MUST decline (RFC 7692 7.1), and why. */
const DECLINED_OFFERS: ReadonlyArray<readonly [string, string]> = [
  ['permessage-deflate; x-unknown-param', 'an unknown parameter'],
  ['permessage-deflate; client_max_window_bits; x-unknown=1', 'an unknown parameter with a value'],
  ['permessage-deflate; server_no_context_takeover; server_no_context_takeover', 'a repeated parameter'],
  ['permessage-deflate; server_max_window_bits=10; server_max_window_bits=11', 'a repeated window'],
  ['permessage-deflate; client_max_window_bits; client_max_window_bits=10', 'a repeated client window'],
  ['permessage-deflate; server_max_window_bits', 'server_max_window_bits without a value'],
  ['permessage-deflate; server_max_window_bits=7', 'server_max_window_bits below 8'],
  ['permessage-deflate; server_max_window_bits=16', 'server_max_window_bits above 15'],
  ['permessage-deflate; server_max_window_bits=abc', 'server_max_window_bits not a number'],
  ['permessage-deflate; client_max_window_bits=16', 'client_max_window_bits above 15'],
  ['permessage-deflate; client_max_window_bits=0', 'client_max_window_bits of 0'],
  ['permessage-deflate; server_no_context_takeover=1', 'a value for server_no_context_takeover'],
  ['permessage-deflate; client_no_context_takeover=yes', 'a value for client_no_context_takeover'],
];

/** Several offers in one header; the valid ones the server may pick (RFC 7692 7.1: "may accept a later offer"). */
const MULTIPLE_OFFERS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['permessage-deflate; x-unknown-param, permessage-deflate; client_max_window_bits', ['permessage-deflate; client_max_window_bits']],
  ['permessage-deflate; server_max_window_bits=16, permessage-deflate', ['permessage-deflate']],
  [
    'permessage-deflate; server_max_window_bits=10; client_max_window_bits, permessage-deflate; client_max_window_bits',
    ['permessage-deflate; server_max_window_bits=10; client_max_window_bits', 'permessage-deflate; client_max_window_bits'],
  ],
  ['x-conformance-unknown, permessage-deflate', ['permessage-deflate']],
];

/** 11.1-11.3 for a server under test: the offers it must answer validly, decline, or choose among. */
function negotiationCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  VALID_OFFERS.forEach((offer, i) => {
    cases.push(
      deflateCase(`11.1.${i + 1}`, `offer: ${offer}`, 'a valid answer (RFC 7692 7.1) or none (declined); once accepted, a compressed message each way', async (t) => {
        await exchangeOne(t, await negotiate(t, offer));
      }, 'server'),
    );
  });
  DECLINED_OFFERS.forEach(([offer, why], i) => {
    cases.push(
      deflateCase(`11.2.${i + 1}`, `offer with ${why}: ${offer}`, '101 without permessage-deflate: the server MUST decline such an offer (RFC 7692 7.1); refusing the whole handshake is NON-STRICT', async (t: CaseContext) => {
        const result = await t.connection.openingHandshake(t.settings.target, t.settings.caseTimeout / 2, { extensions: offer });
        if (result instanceof Error) t.fail(`opening handshake failed: ${result.message}`);
        const status = result.response.head.status;
        if (status !== HTTP_SWITCHING_PROTOCOLS) return refusedOffer(t, status, offer);
        if (result.verified instanceof Error) t.fail(`invalid 101 answer: ${result.verified.message}`);
        const answer = result.verified.extensions;
        if (answer !== undefined && parseExtensionOffers(answer)?.some((element) => element.name === PERMESSAGE_DEFLATE) !== false) {
          t.fail(`accepted it: Sec-WebSocket-Extensions: ${answer} (RFC 7692 7.1: MUST decline)`);
        }
        if (answer !== undefined) t.fail(`answered with Sec-WebSocket-Extensions: ${answer}, which was not offered (RFC 6455 9.1)`);
        // RSV1 stays reserved on this connection: a plain message still echoes.
        t.send(t.frame.text('uncompressed'));
        await t.expectEcho('uncompressed');
        await t.closeNormally();
      }, 'server'),
    );
  });
  MULTIPLE_OFFERS.forEach(([offer, acceptable], i) => {
    cases.push(
      deflateCase(`11.3.${i + 1}`, `several offers: ${offer}`, 'an answer valid for one of the valid offers, or none (RFC 7692 7.1: the server may accept a later offer); a compressed message each way', async (t) => {
        await exchangeOne(t, await negotiate(t, offer, acceptable));
      }, 'server'),
    );
  });
  return cases;
}

/** Answers a client must accept (RFC 7692 7.1), each one fitted to its offer by `answerFor`. */
const VALID_ANSWERS: readonly string[] = [
  'permessage-deflate',
  'permessage-deflate; server_no_context_takeover',
  'permessage-deflate; client_no_context_takeover',
  ...[9, 10, 11, 12, 13, 14, 15].map((bits) => `permessage-deflate; server_max_window_bits=${bits}`),
  ...[8, 9, 12, 15].map((bits) => `permessage-deflate; client_max_window_bits=${bits}`),
  'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  'permessage-deflate; server_max_window_bits=10; client_max_window_bits=10',
  'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9',
];

/** Answers written out as sent, valid whatever was offered: the client must read them as the ones above. */
const VALID_ANSWER_SPELLINGS: ReadonlyArray<readonly [string, string]> = [
  ['permessage-deflate;server_no_context_takeover', 'no whitespace'],
  ['permessage-deflate ; server_no_context_takeover ;client_no_context_takeover', 'whitespace around the semicolons'],
  ['permessage-deflate; server_max_window_bits="12"', 'a quoted value'],
];

/** Answers a client MUST refuse (RFC 7692 7.1: "the client MUST _Fail the WebSocket Connection_"), and why. */
const INVALID_ANSWERS: ReadonlyArray<readonly [string, string]> = [
  ['permessage-deflate; x-unknown-param', 'an unknown parameter'],
  ['permessage-deflate; server_no_context_takeover; server_no_context_takeover', 'a repeated parameter'],
  ['permessage-deflate; server_max_window_bits', 'server_max_window_bits without a value'],
  ['permessage-deflate; server_max_window_bits=7', 'server_max_window_bits below 8'],
  ['permessage-deflate; server_max_window_bits=16', 'server_max_window_bits above 15'],
  ['permessage-deflate; server_max_window_bits=abc', 'server_max_window_bits not a number'],
  ['permessage-deflate; client_max_window_bits', 'client_max_window_bits without a value'],
  ['permessage-deflate; client_max_window_bits=16', 'client_max_window_bits above 15'],
  ['permessage-deflate; server_no_context_takeover=1', 'a value for server_no_context_takeover'],
  ['permessage-deflate; client_no_context_takeover=yes', 'a value for client_no_context_takeover'],
  ['permessage-deflate, permessage-deflate', 'two permessage-deflate elements'],
  ['permessage-deflate, x-conformance-not-offered', 'permessage-deflate and an extension not offered'],
];

/**
 * 11.1-11.2 for a client under test: answers it must accept, and answers it must refuse, to
 * its own offer. A client that offered no permessage-deflate makes them INFORMATIONAL.
 */
function clientNegotiationCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  VALID_ANSWERS.forEach((wish, i) => {
    cases.push(
      deflateCase(`11.1.${i + 1}`, `answer: ${wish} (fitted to the offer)`, 'accepted; then a compressed message each way, the client\'s compressed as agreed (RFC 7692 7.1, 7.2)', async (t) => {
        const negotiated = await negotiate(t, wish);
        if (negotiated?.deflater === undefined) t.inform(`${declined(t, wish)}: answered without the extension`);
        await exchangeOne(t, negotiated);
      }, 'client'),
    );
  });
  VALID_ANSWER_SPELLINGS.forEach(([answer, how], i) => {
    cases.push(
      deflateCase(`11.1.${VALID_ANSWERS.length + i + 1}`, `answer with ${how}: ${answer}`, 'accepted: the grammar of RFC 6455 9.1 allows it; then a compressed message each way', async (t) => {
        const offer = clientOffers(t).find((candidate) => judgeDeflateAnswer(candidate, answer).valid);
        if (offer === undefined) {
          t.inform(`${declined(t, answer)}: answered without the extension`);
          await exchangeOne(t, answerClient(t, 'x-never-fits'));
          return;
        }
        const judged = judgeDeflateAnswer(offer, answer);
        if (!judged.valid || judged.agreement === undefined) throw new Error(`the suite's answer ${answer} is not valid`);
        t.send(Buffer.from(switchingProtocols(t.settings.clients!.requestOf(t.connection).key, [`Sec-WebSocket-Extensions: ${answer}`]), 'latin1'));
        await exchangeOne(t, agreed(t, judged.agreement));
      }, 'client'),
    );
  });
  INVALID_ANSWERS.forEach(([answer, why], i) => {
    cases.push(
      deflateCase(`11.2.${i + 1}`, `answer with ${why}: ${answer}`, 'the client fails the connection: closes TCP without sending a frame (RFC 7692 7.1; RFC 6455 9.1)', async (t: CaseContext) => {
        if (clientOffers(t).length === 0) {
          t.inform('offered no permessage-deflate: the case does not apply');
          await exchangeOne(t, answerClient(t, 'x-never-fits'));
          return;
        }
        await refuseAnswer(t, answer);
      }, 'client'),
    );
  });
  const onlyIf = (id: string, description: string, applies: (offer: ExtensionOffer) => boolean, answer: (offer: ExtensionOffer) => string): void => {
    cases.push(
      deflateCase(id, description, 'the client fails the connection (RFC 7692 7.1.1.1, 7.1.2.2); INFORMATIONAL when its offer makes the answer valid', async (t) => {
        const offer = clientOffers(t)[0];
        if (offer === undefined || !applies(offer)) {
          t.inform(offer === undefined ? 'offered no permessage-deflate' : 'the client\'s offer makes this answer valid: the case does not apply');
          await exchangeOne(t, answerClient(t, 'x-never-fits'));
          return;
        }
        await refuseAnswer(t, answer(offer));
      }, 'client'),
    );
  };
  onlyIf(`11.2.${INVALID_ANSWERS.length + 1}`, 'client_max_window_bits=10 in the answer, when the offer had no client_max_window_bits', (offer) => !offer.params.has('client_max_window_bits'), () => 'permessage-deflate; client_max_window_bits=10');
  onlyIf(`11.2.${INVALID_ANSWERS.length + 2}`, 'no server_no_context_takeover in the answer, when the offer had it', (offer) => offer.params.has('server_no_context_takeover'), () => 'permessage-deflate');
  return cases;
}

/** Sends a 101 with `answer` as Sec-WebSocket-Extensions and a compressed message behind it: the client must refuse. */
async function refuseAnswer(t: CaseContext, answer: string): Promise<void> {
  const key = t.settings.clients!.requestOf(t.connection).key;
  t.send(Buffer.from(switchingProtocols(key, [`Sec-WebSocket-Extensions: ${answer}`]), 'latin1'), t.frame.text(compressAlone(Buffer.from('refused?')), { rsv: RSV1 }));
  await t.expectRefusal('RFC 7692 7.1');
}

/** Parameter combinations the echo cases run with (each one the server may accept or decline). */
const ECHO_OFFERS: readonly string[] = [
  'permessage-deflate',
  'permessage-deflate; client_max_window_bits',
  'permessage-deflate; server_no_context_takeover',
  'permessage-deflate; client_no_context_takeover',
  'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  'permessage-deflate; server_max_window_bits=9',
  'permessage-deflate; client_max_window_bits=9',
  'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12',
];

/** Message sizes: the quick set runs in `npm test`, the full set with `--deflate-full`. */
export const QUICK_DEFLATE_SIZES: readonly number[] = [16, 1024, 16 * 1024, 64 * 1024];
export const FULL_DEFLATE_SIZES: readonly number[] = [16, 64, 256, 1024, 4 * 1024, 16 * 1024, 64 * 1024, 256 * 1024];
/** Each message is sent this many times, so that with context takeover later copies refer back to earlier ones. */
const ROUNDS = 2;

/**
 * Every kind of payload of `size` bytes, compressed and uncompressed, `ROUNDS` times over, all
 * sent before the first echo is read; each echo must come back in order, byte for byte.
 */
async function echoMany(t: CaseContext, offer: string, size: number): Promise<void> {
  if (t.settings.maxMessageSize !== undefined && size > t.settings.maxMessageSize) {
    t.inform(`not run: ${size} bytes is over the --max-message-size of ${t.settings.maxMessageSize}`);
    return;
  }
  const deflater = await negotiateAccepted(t, offer);
  if (deflater === undefined) return;
  const expected: Expected[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const message of payloads(size)) {
      if (deflater.canCompress) t.send(messageFrame(t, message, await deflater.compress(message.data), RSV1));
      else t.nonStrict('the answer left the suite a window zlib cannot compress with; sent uncompressed');
      t.send(messageFrame(t, message, message.data, 0));
      const echo: Expected = { kind: 'message', binary: message.binary, data: message.data };
      expected.push(echo, echo);
    }
  }
  await t.expectEvents(expected, t.settings.replyTimeout * 2);
  deflater.close();
  await t.closeNormally();
}

function echoCases(sizes: readonly number[]): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  ECHO_OFFERS.forEach((offer, i) => {
    sizes.forEach((size, j) => {
      cases.push(
        deflateCase(
          `11.4.${i + 1}.${j + 1}`,
          `${sizeName(size)} messages (text and binary, compressible and random, compressed and not, ${ROUNDS} rounds) after: ${offer}`,
          'every message echoed byte for byte; compressed echoes inflate as agreed: RSV1 on the first frame only, no context or window beyond the answer (RFC 7692 6, 7.1.1, 7.1.2, 7.2)',
          (t) => echoMany(t, offer, size),
        ),
      );
    });
  });
  return cases;
}

/** Splits `bytes` into `count` nearly equal pieces (the last may be empty when bytes are few). */
function pieces(bytes: Buffer, count: number): Buffer[] {
  const size = Math.ceil(bytes.length / count);
  return Array.from({ length: count }, (_, i) => bytes.subarray(i * size, (i + 1) * size));
}

/** A compressed message as `count` frames: RSV1 on the first only (RFC 7692 6). */
function fragmentedCompressed(t: CaseContext, opcode: number, compressed: Buffer, count: number, between: Buffer[] = []): Buffer[] {
  return pieces(compressed, count).flatMap((piece, i) => {
    const fin = i === count - 1;
    const first = t.frame.build({ opcode: i === 0 ? opcode : Opcode.Continuation, payload: piece, fin, rsv: i === 0 ? RSV1 : 0 });
    return fin ? [first] : [first, ...between];
  });
}

const FRAGMENT_OFFERS: readonly string[] = ['permessage-deflate', 'permessage-deflate; client_no_context_takeover; server_no_context_takeover'];

function fragmentCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  FRAGMENT_OFFERS.forEach((offer, i) => {
    const id = (n: number): string => `11.5.${i + 1}.${n}`;
    const after = `after: ${offer}`;
    const rule = 'the compressed bytes of one message may be split over frames, RSV1 on the first only: echoed whole (RFC 7692 6)';
    cases.push(
      deflateCase(id(1), `16 KiB text compressed, in 3 frames, ${after}`, rule, async (t) => {
        const deflater = await negotiateAccepted(t, offer);
        if (deflater === undefined) return;
        const text = compressibleText(16 * 1024);
        t.send(...fragmentedCompressed(t, Opcode.Text, await deflater.compress(text), 3));
        await t.expectEcho(text);
        deflater.close();
        await t.closeNormally();
      }),
      deflateCase(id(2), `4 KiB random binary compressed, one frame per 100 compressed bytes, twice, ${after}`, rule, async (t) => {
        const deflater = await negotiateAccepted(t, offer);
        if (deflater === undefined) return;
        const data = randomBytes(4 * 1024);
        for (let round = 0; round < ROUNDS; round++) {
          const compressed = await deflater.compress(data);
          t.send(...fragmentedCompressed(t, Opcode.Binary, compressed, Math.ceil(compressed.length / 100)));
        }
        await t.expectEvents([
          { kind: 'message', binary: true, data },
          { kind: 'message', binary: true, data },
        ]);
        deflater.close();
        await t.closeNormally();
      }),
      deflateCase(id(3), `compressed text in 4 frames with a ping between each, ${after}`, 'the pongs first, then the message whole: control frames may come between fragments (RFC 6455 5.4; RFC 7692 6)', async (t) => {
        const deflater = await negotiateAccepted(t, offer);
        if (deflater === undefined) return;
        const text = compressibleText(3000);
        t.send(...fragmentedCompressed(t, Opcode.Text, await deflater.compress(text), 4, [t.frame.ping('between')]));
        await t.expectEvents([
          { kind: 'pong', data: Buffer.from('between') },
          { kind: 'pong', data: Buffer.from('between') },
          { kind: 'pong', data: Buffer.from('between') },
          { kind: 'message', binary: false, data: text },
        ]);
        deflater.close();
        await t.closeNormally();
      }),
      deflateCase(id(4), `compressed text whose first frame is empty, ${after}`, 'echoed whole: an empty first frame still carries RSV1 for the message (RFC 7692 6)', async (t) => {
        const deflater = await negotiateAccepted(t, offer);
        if (deflater === undefined) return;
        const text = compressibleText(500);
        const compressed = await deflater.compress(text);
        t.send(t.frame.text(Buffer.alloc(0), { fin: false, rsv: RSV1 }), t.frame.continuation(compressed));
        await t.expectEcho(text);
        deflater.close();
        await t.closeNormally();
      }),
      deflateCase(id(5), `an empty message, compressed, ${after}`, 'echoed as an empty text message (RFC 7692 7.2.1: an empty message compresses to a few bytes)', async (t) => {
        const deflater = await negotiateAccepted(t, offer);
        if (deflater === undefined) return;
        t.send(t.frame.text(await deflater.compress(Buffer.alloc(0)), { rsv: RSV1 }));
        await t.expectEcho('');
        deflater.close();
        await t.closeNormally();
      }),
    );
  });
  RFC_EXAMPLES.forEach(([name, hex], i) => {
    cases.push(
      deflateCase(`11.5.3.${i + 1}`, `"Hello" as ${name}, then a compressed message`, 'both echoed: a receiver inflates any valid DEFLATE data, as in the examples of RFC 7692 7.2.3', async (t) => {
        const deflater = await negotiateAccepted(t, 'permessage-deflate');
        if (deflater === undefined) return;
        // The next message is compressed on its own: the suite's deflate stream has not seen "Hello".
        const after = compressibleText(1500);
        t.send(t.frame.text(Buffer.from(hex, 'hex'), { rsv: RSV1 }), t.frame.text(compressAlone(after), { rsv: RSV1 }));
        await t.expectEvents([
          { kind: 'message', binary: false, data: Buffer.from('Hello') },
          { kind: 'message', binary: false, data: after },
        ]);
        deflater.close();
        await t.closeNormally();
      }),
    );
  });
  return cases;
}

/** "Hello" compressed in the ways RFC 7692 7.2.3 shows, without the 00 00 ff ff tail. */
const RFC_EXAMPLES: ReadonlyArray<readonly [string, string]> = [
  ['one compressed DEFLATE block', 'f248cdc9c90700'],
  ['a DEFLATE block with no compression', '000500faff48656c6c6f00'],
  ['a DEFLATE block with BFINAL set to 1', 'f348cdc9c9070000'],
  ['two DEFLATE blocks', 'f24805000000ffffcac9c90700'],
];

// --- Failures -----------------------------------------------------------------------------------

const PROTOCOL_FAILURE: FailureExpectation = { codes: [PROTOCOL_ERROR] };
/** RFC 7692 does not name a code for data that does not inflate; framecast's 1007 is the strict one here, another Close is NON-STRICT. */
const BAD_DEFLATE_FAILURE: FailureExpectation = { codes: [INVALID_PAYLOAD] };
const UTF8_FAILURE: FailureExpectation = { codes: [INVALID_PAYLOAD] };
const TOO_BIG_FAILURE: FailureExpectation = { codes: [MESSAGE_TOO_BIG] };
/** DEFLATE block type 3 is reserved (RFC 1951 3.2.3): these bytes never inflate. */
const NOT_DEFLATE = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]);

function failureCases(): ConformanceCase[] {
  const offer = 'permessage-deflate';
  const withDeflate = (id: string, description: string, expectation: string, run: (t: CaseContext) => Promise<void>): ConformanceCase =>
    deflateCase(id, description, expectation, async (t) => {
      const negotiated = await negotiate(t, offer);
      if (negotiated === undefined) return;
      const { deflater } = negotiated;
      if (deflater === undefined) {
        t.inform(`${declined(t, offer)}: the case does not apply`);
        await t.closeNormally();
        return;
      }
      await run(t);
      deflater.close();
    });
  /** A case that needs the server's message limit: without --max-message-size it is not run (INFORMATIONAL). */
  const withDeflateAndLimit = (id: string, description: string, expectation: string, run: (t: CaseContext, limit: number) => Promise<void>): ConformanceCase =>
    withDeflate(id, description, expectation, async (t) => {
      const limit = t.settings.maxMessageSize;
      if (limit === undefined) {
        t.inform('not run: no --max-message-size given');
        await t.closeNormally();
        return;
      }
      await run(t, limit);
    });
  const hello = compressAlone(Buffer.from('Hello, compressed'));
  return [
    withDeflate('11.6.1', 'RSV1 on a continuation frame of a compressed message', 'fail with 1002: RSV1 belongs to the first frame of a message only (RFC 7692 6)', async (t) => {
      t.send(t.frame.text(hello.subarray(0, 4), { fin: false, rsv: RSV1 }), t.frame.continuation(hello.subarray(4), { rsv: RSV1 }));
      await t.expectFailure(PROTOCOL_FAILURE);
    }),
    withDeflate('11.6.2', 'RSV1 on a continuation frame of an uncompressed message', 'fail with 1002 (RFC 7692 6)', async (t) => {
      t.send(t.frame.text('plain ', { fin: false }), t.frame.continuation('text', { rsv: RSV1 }));
      await t.expectFailure(PROTOCOL_FAILURE);
    }),
    withDeflate('11.6.3', 'RSV1 on a ping', 'fail with 1002: permessage-deflate gives RSV1 no meaning on control frames (RFC 7692 6; RFC 6455 5.2)', async (t) => {
      t.send(t.frame.ping('compressed?', { rsv: RSV1 }));
      await t.expectFailure(PROTOCOL_FAILURE);
    }),
    withDeflate('11.6.4', 'RSV1 on a Close frame', 'fail with 1002 (RFC 7692 6; RFC 6455 5.2)', async (t) => {
      t.send(t.frame.close(1000, '', { rsv: RSV1 }));
      await t.expectFailure(PROTOCOL_FAILURE);
    }),
    withDeflate('11.6.5', 'RSV2 on a text frame, deflate negotiated', 'fail with 1002: permessage-deflate defines RSV1 only (RFC 6455 5.2)', async (t) => {
      t.send(t.frame.text(hello, { rsv: 0b110 }));
      await t.expectFailure(PROTOCOL_FAILURE);
    }),
    deflateCase('11.6.6', 'RSV1 on a valid compressed message when no extension was negotiated', 'fail with 1002: "MUST be 0 unless an extension is negotiated" (RFC 6455 5.2)', async (t) => {
      await plainHandshake(t);
      t.send(t.frame.text(hello, { rsv: RSV1 }));
      await t.expectFailure(PROTOCOL_FAILURE);
    }),
    withDeflate('11.6.7', 'a compressed message that is not DEFLATE data', 'fail with 1007 (framecast\'s choice: the payload is invalid; RFC 7692 names no code, so another Close code is NON-STRICT)', async (t) => {
      t.send(t.frame.binary(NOT_DEFLATE, { rsv: RSV1 }));
      await t.expectFailure(BAD_DEFLATE_FAILURE);
    }),
    withDeflate('11.6.8', 'compressed text that inflates to invalid UTF-8', 'fail with 1007: the inflated text is not UTF-8 (RFC 6455 8.1; RFC 7692 6)', async (t) => {
      t.send(t.frame.text(compressAlone(Buffer.from([0x48, 0x69, 0xed, 0xa0, 0x80, 0x21])), { rsv: RSV1 }));
      await t.expectFailure(UTF8_FAILURE);
    }),
    withDeflate('11.6.9', 'compressed text, fragmented, whose inflated bytes are invalid UTF-8', 'fail with 1007 (RFC 6455 8.1; RFC 7692 6)', async (t) => {
      const compressed = compressAlone(Buffer.concat([compressibleText(1000), Buffer.from([0xc0, 0xaf])]));
      t.send(...fragmentedCompressed(t, Opcode.Text, compressed, 3));
      await t.expectFailure(UTF8_FAILURE);
    }),
    withDeflateAndLimit('11.6.10', 'a small compressed message that inflates to the limit + 1 (a decompression bomb)', 'fail with 1009: the message is too big to process (RFC 6455 7.4.1, 10.4), judged on the inflated size', async (t, limit) => {
      const bomb = compressAlone(Buffer.alloc(limit + 1));
      t.send(t.frame.binary(bomb, { rsv: RSV1 }));
      await t.expectFailure(TOO_BIG_FAILURE);
    }),
    withDeflate('11.6.11', 'a compressed message that inflates to exactly 64 KiB, then a ping', 'echoed, then the pong: a bomb test must not be a false alarm (RFC 7692 7.2.2)', async (t) => {
      const size = Math.min(64 * 1024, t.settings.maxMessageSize ?? Infinity);
      t.send(t.frame.binary(compressAlone(Buffer.alloc(size)), { rsv: RSV1 }), t.frame.ping('after'));
      await t.expectEvents([
        { kind: 'message', binary: true, data: Buffer.alloc(size) },
        { kind: 'pong', data: Buffer.from('after') },
      ]);
      await t.closeNormally();
    }),
    withDeflateAndLimit('11.6.12', 'a compressed message that inflates to exactly the limit', 'echoed: the limit applies to the inflated size, and a message of exactly the limit is within it (as in 8.1; RFC 6455 10.4)', async (t, limit) => {
      const data = compressibleBinary(limit);
      t.send(t.frame.binary(compressAlone(data), { rsv: RSV1 }));
      await t.expectEvents([{ kind: 'message', binary: true, data }], t.settings.replyTimeout * 4);
      await t.closeNormally();
    }),
    deflateCase('11.6.13', 'RSV1 on a compressed message after the server declined the offer (one with an unknown parameter)', 'fail with 1002: declined means not negotiated (RFC 6455 5.2; RFC 7692 7.1); a server that refused the handshake instead (11.2.1) leaves nothing to test (INFORMATIONAL)', async (t: CaseContext) => {
      const offer = DECLINED_OFFERS[0][0];
      const result = await t.connection.openingHandshake(t.settings.target, t.settings.caseTimeout / 2, { extensions: offer });
      if (result instanceof Error) t.fail(`opening handshake failed: ${result.message}`);
      if (result.response.head.status !== HTTP_SWITCHING_PROTOCOLS) {
        t.inform(`refused the handshake with ${result.response.head.status} (judged in 11.2.1)`);
        return;
      }
      if (result.verified instanceof Error) t.fail(`invalid 101 answer: ${result.verified.message}`);
      if (result.verified.extensions !== undefined) t.fail(`accepted ${result.verified.extensions} (judged in 11.2.1)`);
      t.send(t.frame.text(hello, { rsv: RSV1 }));
      await t.expectFailure(PROTOCOL_FAILURE);
    }, 'server'),
    withDeflate('11.6.14', 'compressed text in three frames whose first inflates to invalid UTF-8 ("Hi" C0 AF), the other two held back', 'fail with 1007 as soon as the first frame is in: inflated, its text can no longer be valid (RFC 6455 8.1; RFC 7692 6.2); failing only once the message is complete is NON-STRICT', async (t) => {
      // A flush after the invalid start, so that the first frame's bytes inflate to all of it.
      const { first, rest } = await compressInTwo(Buffer.from([0x48, 0x69, 0xc0, 0xaf]), compressibleText(2000));
      const half = rest.length >> 1;
      await t.expectFailFast(
        [t.frame.text(first, { fin: false, rsv: RSV1 })],
        [t.frame.continuation(rest.subarray(0, half), { fin: false }), t.frame.continuation(rest.subarray(half))],
        UTF8_FAILURE,
      );
    }),
    withDeflateAndLimit('11.6.15', 'a compressed message in two frames whose first inflates to the limit + 1 (a bomb), the second held back', 'fail with 1009 as soon as the first frame is in: the limit holds for the inflated size as the frames arrive (RFC 6455 10.4, 7.4.1); only once the message is complete is NON-STRICT', async (t, limit) => {
      const { first, rest } = await compressInTwo(Buffer.alloc(limit + 1), Buffer.from('end'));
      await t.expectFailFast([t.frame.binary(first, { fin: false, rsv: RSV1 })], [t.frame.continuation(rest)], TOO_BIG_FAILURE);
    }),
  ];
}

/**
 * One message compressed in two parts by one deflate stream, flushed after each: the first
 * part's bytes inflate to all of `head` on their own, and `rest` (the tail left off, RFC 7692
 * 7.2.1) ends the message.
 */
async function compressInTwo(head: Buffer, tail: Buffer): Promise<{ first: Buffer; rest: Buffer }> {
  const stream = createDeflateRaw({ windowBits: DEFAULT_WINDOW_BITS });
  try {
    const first = await throughZlib(stream, head);
    const last = await throughZlib(stream, tail);
    if (first instanceof Error || last instanceof Error) throw first instanceof Error ? first : last;
    return { first, rest: last.subarray(0, last.length - DEFLATE_TAIL.length) };
  } finally {
    stream.close();
  }
}

/** The permessage-deflate section for the side under test, with the echo cases over `sizes`. */
export function deflateSection(sizes: readonly number[] = QUICK_DEFLATE_SIZES, peer: Side = 'server'): Section {
  const negotiation = peer === 'server' ? negotiationCases() : clientNegotiationCases();
  return {
    id: '11',
    title: 'permessage-deflate (RFC 7692)',
    cases: [...negotiation, ...echoCases(sizes), ...fragmentCases(), ...failureCases()].filter((c) => c.appliesTo === undefined || c.appliesTo === peer),
  };
}
