/**
 * The conformance runner: what a case is, the verdicts, the helpers a case judges its peer
 * with, and running every case, one connection per case, each with a timeout: against a
 * server's URL (the suite plays the client), or against a client the suite starts for each
 * case (the suite plays the server, see client-mode.ts). Most cases are the same rule in both
 * modes, with the roles swapped.
 *
 * Verdicts, as in the Autobahn test suite:
 * - OK: the server did exactly what RFC 6455 requires (and, where it says SHOULD, what it says).
 * - NON-STRICT: acceptable but not the strict behaviour, e.g. it dropped the TCP connection
 *   where a Close frame with a code was expected, or chose a different but defensible code.
 * - FAILED: it broke a MUST: echoed invalid UTF-8, accepted a reserved opcode, sent a bad
 *   frame, timed out, crashed.
 * - INFORMATIONAL: RFC 6455 leaves the answer open; what happened is recorded.
 */
import { isValidCloseCode } from '../../src/protocol/index.js';
import type { ClientsUnderTest } from './client-mode.js';
import { describeEvent, type FrameBuilder, frameBuilder, otherSide, parseTarget, RawConnection, type Side, type Target, type WireEvent } from './wire.js';

export const Verdict = {
  Ok: 'OK',
  NonStrict: 'NON-STRICT',
  Failed: 'FAILED',
  Informational: 'INFORMATIONAL',
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/** Options of a run. */
export interface SuiteOptions {
  /** The server's message size limit in bytes, for the limits section; undefined skips the cases that need it. */
  maxMessageSize?: number;
  /** Upper bound for one case, connection and handshake included (ms). Default 5000. */
  caseTimeout?: number;
  /**
   * How long to wait for something that should happen at once, such as the Close after a
   * violation, before deciding it did not (ms). Default 1000.
   */
  replyTimeout?: number;
  /** Pause between the pieces of chopped delivery (ms). Default 1. */
  chopDelay?: number;
  /**
   * Client mode: after the closing handshake, how long the suite waits to see whether the client
   * closes TCP itself (it SHOULD leave that to the server, RFC 6455 7.1.1) before closing it (ms).
   * Default 50.
   */
  clientCloseGrace?: number;
  /** Run only cases whose id starts with one of these. */
  only?: readonly string[];
  /** Called after each case, e.g. to print progress. */
  onResult?: (result: CaseResult) => void;
}

/** Settings every case sees, resolved from `SuiteOptions`. */
export interface Settings {
  /** The side under test: a server the suite connects to, or clients it starts. */
  readonly peer: Side;
  /** Server mode: where the server under test listens. Client mode: where the suite listens. */
  readonly target: Target;
  /** Client mode: the suite's listening end and the clients it starts. */
  readonly clients: ClientsUnderTest | undefined;
  /** The peer's message size limit. */
  readonly maxMessageSize: number | undefined;
  readonly caseTimeout: number;
  readonly replyTimeout: number;
  readonly chopDelay: number;
  readonly clientCloseGrace: number;
}

/** One case: an id like `5.2.1`, what it sends, what RFC 6455 requires, and how it runs. */
export interface ConformanceCase {
  readonly id: string;
  readonly description: string;
  /** The expected behaviour and the RFC section that mandates it. */
  readonly expectation: string;
  /**
   * `websocket` cases get a connection after a valid handshake; `http` cases get a bare TCP
   * connection and speak HTTP themselves (server mode: send a request; client mode: answer the
   * client's, which was read already).
   */
  readonly kind: 'websocket' | 'http';
  /** The side under test the case is for; both when absent (the same rule, roles swapped). */
  readonly appliesTo?: Side;
  /** Case body: resolves when done; the verdict is collected by the context. */
  run(t: CaseContext): Promise<void>;
}

/** A section of the report, e.g. "Framing". */
export interface Section {
  readonly id: string;
  readonly title: string;
  readonly cases: readonly ConformanceCase[];
}

export interface CaseResult {
  readonly section: Section;
  readonly testCase: ConformanceCase;
  readonly verdict: Verdict;
  /** Why the verdict is not OK, or what was observed for INFORMATIONAL. */
  readonly notes: readonly string[];
  /** Everything the server sent, in order. */
  readonly observed: readonly string[];
  readonly durationMs: number;
}

/** Thrown to end a case as FAILED. */
export class CaseFailure extends Error {}

/** Compact rendering of a payload for notes. */
function show(data: Buffer): string {
  if (data.length > 32) return `${data.length} bytes`;
  return `${data.length} bytes ${JSON.stringify(data.toString('latin1'))}`;
}

/** What a case expects the peer to send next. */
export type Expected =
  | { kind: 'message'; binary: boolean; data: Buffer }
  | { kind: 'pong'; data: Buffer };

export const expect = {
  text: (data: string | Buffer): Expected => ({ kind: 'message', binary: false, data: Buffer.from(data) }),
  binary: (data: Buffer): Expected => ({ kind: 'message', binary: true, data }),
  pong: (data: string | Buffer = ''): Expected => ({ kind: 'pong', data: Buffer.from(data) }),
};

/** What to accept when the peer fails the connection. */
export interface FailureExpectation {
  /** Close codes that are the strict answer (OK). */
  codes: readonly number[];
  /** Other close codes RFC 6455 allows for this violation (OK), e.g. none at all for 5.1. */
  alsoOk?: readonly number[];
  /** A plain TCP close without a Close frame is OK (RFC 6455 5.1: the peer MAY send 1002). */
  tcpCloseOk?: boolean;
}

/**
 * The handle a case works with: its connection, the settings, and the judging helpers. The
 * verdict starts OK; `nonStrict` lowers it, `fail` (or a `CaseFailure`) ends the case FAILED.
 */
export class CaseContext {
  verdict: Verdict = Verdict.Ok;
  readonly notes: string[] = [];
  /** Frames as the suite's side sends them: masked to a server, unmasked to a client. */
  readonly frame: FrameBuilder;

  constructor(
    readonly connection: RawConnection,
    readonly settings: Settings,
  ) {
    this.frame = frameBuilder(otherSide(settings.peer));
  }

  /** The side under test. */
  get peer(): Side {
    return this.settings.peer;
  }

  /** Writes frames (or any bytes) in one write. */
  send(...frames: Buffer[]): void {
    this.connection.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
  }

  /** Writes bytes in pieces of `chunkSize` with a pause between them. */
  sendChopped(bytes: Buffer, chunkSize = 1): Promise<void> {
    return this.connection.writeChopped(bytes, chunkSize, this.settings.chopDelay);
  }

  fail(reason: string): never {
    throw new CaseFailure(reason);
  }

  nonStrict(reason: string): void {
    if (this.verdict === Verdict.Ok) this.verdict = Verdict.NonStrict;
    this.notes.push(reason);
  }

  /** Records what happened in an INFORMATIONAL case. */
  inform(observation: string): void {
    this.verdict = Verdict.Informational;
    this.notes.push(observation);
  }

  /** The next event within the reply timeout (or `timeoutMs`). */
  next(timeoutMs = this.settings.replyTimeout): Promise<WireEvent | undefined> {
    return this.connection.next(timeoutMs);
  }

  /** The server must send exactly these messages and pongs next, in this order, each within `timeoutMs`. */
  async expectEvents(expected: readonly Expected[], timeoutMs = this.settings.replyTimeout): Promise<void> {
    for (const wanted of expected) {
      const event = await this.next(timeoutMs);
      const what = wanted.kind === 'pong' ? `a pong with ${show(wanted.data)}` : `a ${wanted.binary ? 'binary' : 'text'} message of ${show(wanted.data)}`;
      if (event === undefined || event.kind !== wanted.kind) this.fail(`expected ${what}, got ${describeEvent(event)}`);
      if (event.kind === 'message' && wanted.kind === 'message' && event.binary !== wanted.binary) {
        this.fail(`expected ${what}, got a ${event.binary ? 'binary' : 'text'} message (RFC 6455 5.6: the echo keeps the opcode)`);
      }
      if ((event.kind === 'message' || event.kind === 'pong') && !event.data.equals(wanted.data)) {
        this.fail(`expected ${what}, got ${event.kind} with different data (${show(event.data)})`);
      }
    }
  }

  /** The echo of one message. */
  expectEcho(data: string | Buffer, binary = false, timeoutMs?: number): Promise<void> {
    return this.expectEvents([binary ? expect.binary(Buffer.from(data)) : expect.text(data)], timeoutMs);
  }

  /**
   * The peer must fail the connection (RFC 6455 7.1.7): a Close frame with one of
   * `expected.codes` (OK), another valid code (NON-STRICT) or no Close frame at all
   * (NON-STRICT unless `tcpCloseOk`), then the TCP close. Anything else first FAILS, and so does
   * silence: the peer must not wait for more data before failing.
   */
  async expectFailure(expected: FailureExpectation): Promise<void> {
    const event = await this.next();
    if (event === undefined) this.fail(`expected the connection to be failed with ${expected.codes.join(' or ')}, but nothing came within ${this.settings.replyTimeout} ms`);
    await this.judgeFailureEvent(event, expected);
  }

  /**
   * Fail fast: writes the `valid` pieces (bytes after which the server has no reason to fail
   * yet: frames, or parts of one) one at a time, PIECE_PAUSE_MS apart, then `invalid` (after
   * which it has), and holds back `rest` for the reply timeout (1 s by default). OK if the
   * server fails as `expected` before `rest` is sent; NON-STRICT if only after; FAILED if
   * never, or before the invalid bytes were sent.
   */
  async expectFailFast(invalid: readonly Buffer[], rest: readonly Buffer[], expected: FailureExpectation, valid: readonly Buffer[] = []): Promise<void> {
    for (const piece of valid) {
      this.send(piece);
      const premature = await this.next(PIECE_PAUSE_MS);
      if (premature !== undefined) this.fail(`answered with ${describeEvent(premature)} before the offending bytes were sent`);
    }
    this.send(...invalid);
    const early = await this.next();
    if (early !== undefined) return this.judgeFailureEvent(early, expected);
    this.send(...rest);
    const late = await this.next();
    if (late === undefined) this.fail(`never failed the connection (expected ${expected.codes.join(' or ')})`);
    if (late.kind === 'close' || late.kind === 'tcp-closed') this.nonStrict(`failed only once the rest was sent, not as soon as the offending bytes arrived ${this.settings.replyTimeout} ms earlier`);
    await this.judgeFailureEvent(late, expected);
  }

  /** Judges the event that should be the failure (shared with cases that wait differently). */
  async judgeFailureEvent(event: WireEvent, expected: FailureExpectation): Promise<void> {
    const codes = expected.codes.join(' or ');
    switch (event.kind) {
      case 'close': {
        const allowed = [...expected.codes, ...(expected.alsoOk ?? [])];
        if (event.code === undefined || !allowed.includes(event.code)) {
          this.nonStrict(`closed with ${event.code ?? 'no code'} where ${codes} was expected`);
        }
        // RFC 6455 5.5.1: the suite answers the Close, then the server closes TCP.
        if (event.code !== undefined && isValidCloseCode(event.code)) this.send(this.frame.close(event.code));
        else this.send(this.frame.close());
        await this.expectTcpClose();
        return;
      }
      case 'tcp-closed':
        if (!expected.tcpCloseOk) this.nonStrict(`dropped the TCP connection without the Close frame (${codes}) that RFC 6455 7.1.7 says it SHOULD send`);
        return;
      default:
        this.fail(`expected the connection to be failed with ${codes}, got ${describeEvent(event)} first`);
    }
  }

  /**
   * After the closing handshake the server closes TCP (RFC 6455 7.1.1: "the server SHOULD close
   * the underlying TCP connection first", and the client "SHOULD wait for the server to close
   * the connection"). Server mode: the server under test must close it. Client mode: the client
   * under test must not have closed it within the grace time; then the suite closes it.
   */
  async expectTcpClose(): Promise<void> {
    if (this.peer === 'server') {
      const closed = await this.connection.waitForTcpClose(this.settings.replyTimeout * 2);
      if (!closed) this.nonStrict('did not close the TCP connection after the closing handshake (RFC 6455 7.1.1: the server SHOULD close it first)');
      return;
    }
    const closedByClient = await this.connection.waitForTcpClose(this.settings.clientCloseGrace);
    if (closedByClient) {
      this.nonStrict('closed the TCP connection itself after the closing handshake (RFC 6455 7.1.1: the client SHOULD wait for the server to close it)');
      return;
    }
    this.connection.end();
    await this.connection.waitForTcpClose(this.settings.replyTimeout);
  }

  /**
   * Ends a healthy case with the closing handshake: sends Close `code`, expects the peer's
   * Close echoing it (RFC 6455 5.5.1), then the TCP close. Without a code, the answer may be
   * empty or 1000.
   */
  async closeNormally(code: number | undefined = 1000, reason = ''): Promise<void> {
    this.send(this.frame.close(code, reason));
    await this.expectCloseEcho(code);
  }

  /** The peer's answer to a Close the case sent. */
  async expectCloseEcho(code: number | undefined): Promise<void> {
    const event = await this.next();
    if (event === undefined) this.fail(`expected a Close frame in answer to ours (RFC 6455 5.5.1), got nothing within ${this.settings.replyTimeout} ms`);
    if (event.kind === 'tcp-closed') this.fail('dropped the TCP connection without answering our Close frame (RFC 6455 5.5.1: it MUST send a Close in response)');
    if (event.kind !== 'close') this.fail(`expected a Close frame in answer to ours, got ${describeEvent(event)}`);
    if (code === undefined) {
      if (event.code !== undefined && event.code !== 1000) this.nonStrict(`answered a Close without a code with ${event.code}`);
    } else if (event.code !== code) {
      // RFC 6455 5.5.1: "the endpoint typically echos the status code it received".
      this.nonStrict(`answered Close ${code} with ${event.code ?? 'no code'} rather than echoing it (RFC 6455 5.5.1)`);
    }
    await this.expectTcpClose();
  }

  /**
   * Client mode, after an opening handshake answer the client MUST refuse ("the client MUST _Fail
   * the WebSocket Connection_", `rule`): it must close TCP without sending anything. Anything it
   * sends FAILS (it accepted), and so does silence; a Close frame is NON-STRICT (the connection was
   * never established, and RFC 6455 7.1.7 asks for a Close frame only on an established one).
   */
  async expectRefusal(rule: string): Promise<void> {
    const event = await this.next();
    if (event === undefined) this.fail(`neither refused the answer nor closed the connection within ${this.settings.replyTimeout} ms (${rule}: it MUST fail the connection)`);
    if (event.kind === 'tcp-closed') return;
    if (event.kind === 'close') {
      this.nonStrict('sent a Close frame on a connection it never established (RFC 6455 7.1.7: the Close frame is for an established connection)');
      return;
    }
    this.fail(`accepted the answer: sent ${describeEvent(event)} (${rule}: it MUST fail the connection)`);
  }

  /** The connection is still open and working: a Ping gets its Pong. */
  async expectOpen(): Promise<void> {
    const probe = 'still there?';
    this.send(this.frame.ping(probe));
    await this.expectEvents([expect.pong(probe)], this.settings.replyTimeout);
  }
}

/**
 * Opens the case's connection: to the server under test, or from the client started for the
 * case (its request read and judged). The `cleanup` stops that client.
 */
async function openConnection(testCase: ConformanceCase, settings: Settings): Promise<{ connection: RawConnection; cleanup: () => Promise<void>; log: () => string[] }> {
  if (settings.peer === 'server') {
    return { connection: await RawConnection.open(settings.target, settings.caseTimeout), cleanup: async () => {}, log: () => [] };
  }
  const clients = settings.clients as ClientsUnderTest;
  const accepted = await clients.connect(testCase.id, settings.caseTimeout);
  return { connection: accepted.connection, cleanup: accepted.stop, log: accepted.output };
}

/** The normal opening handshake before a `websocket` case: the suite's request, or its 101 to the client's. */
async function openingHandshake(connection: RawConnection, settings: Settings): Promise<Error | undefined> {
  if (settings.peer === 'server') return connection.handshake(settings.target, settings.caseTimeout);
  (settings.clients as ClientsUnderTest).accept(connection);
  return undefined;
}

/** Runs one case on a fresh connection with a timeout and returns its result. */
export async function runCase(section: Section, testCase: ConformanceCase, settings: Settings): Promise<CaseResult> {
  const started = Date.now();
  const notes: string[] = [];
  let verdict: Verdict = Verdict.Ok;
  let connection: RawConnection | undefined;
  let cleanup = async (): Promise<void> => {};
  let peerOutput = (): string[] => [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const opened = await openConnection(testCase, settings);
    connection = opened.connection;
    cleanup = opened.cleanup;
    peerOutput = opened.log;
    const context = new CaseContext(opened.connection, settings);
    const body = async (): Promise<void> => {
      if (testCase.kind === 'websocket') {
        const refused = await openingHandshake(opened.connection, settings);
        if (refused !== undefined) context.fail(`opening handshake failed: ${refused.message}`);
      }
      await testCase.run(context);
    };
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CaseFailure(`timed out after ${settings.caseTimeout} ms`)), settings.caseTimeout);
    });
    try {
      await Promise.race([body(), timeout]);
      verdict = context.verdict;
      notes.push(...context.notes);
    } catch (error) {
      verdict = Verdict.Failed;
      notes.push(...context.notes, error instanceof Error ? error.message : String(error));
    }
    // Every frame the peer sent is judged, whatever the case was about.
    if (opened.connection.reader.violations.length > 0) {
      verdict = Verdict.Failed;
      notes.push(...opened.connection.reader.violations);
    }
  } catch (error) {
    verdict = Verdict.Failed;
    notes.push(`could not connect: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    clearTimeout(timer);
    connection?.destroy();
    await cleanup();
  }
  // A failing client's own output says why, for the report.
  if (verdict === Verdict.Failed) for (const line of peerOutput()) notes.push(`client output: ${line}`);
  return { section, testCase, verdict, notes, observed: connection?.log ?? [], durationMs: Date.now() - started };
}

const DEFAULT_CASE_TIMEOUT = 5_000;
/**
 * How long `expectFailFast` leaves each piece that is still fine alone before the next: long
 * enough for the server to read it on its own, and to catch it failing too early.
 */
const PIECE_PAUSE_MS = 100;
const DEFAULT_REPLY_TIMEOUT = 1_000;
const DEFAULT_CHOP_DELAY = 1;
const DEFAULT_CLIENT_CLOSE_GRACE = 50;

/** The settings for running cases against the server at `url`, defaults filled in. */
export function resolveSettings(url: string, options: SuiteOptions = {}): Settings {
  return {
    peer: 'server',
    target: parseTarget(url),
    clients: undefined,
    maxMessageSize: options.maxMessageSize,
    caseTimeout: options.caseTimeout ?? DEFAULT_CASE_TIMEOUT,
    replyTimeout: options.replyTimeout ?? DEFAULT_REPLY_TIMEOUT,
    chopDelay: options.chopDelay ?? DEFAULT_CHOP_DELAY,
    clientCloseGrace: options.clientCloseGrace ?? DEFAULT_CLIENT_CLOSE_GRACE,
  };
}

/** The settings for running cases against the clients `clients` starts, defaults filled in. */
export function resolveClientSettings(clients: ClientsUnderTest, options: SuiteOptions = {}): Settings {
  return { ...resolveSettings(clients.url, options), peer: 'client', clients };
}

/** Whether a case is for the side under test. */
export function appliesTo(testCase: ConformanceCase, peer: Side): boolean {
  return testCase.appliesTo === undefined || testCase.appliesTo === peer;
}

/** Runs the sections' cases one after another against the server at `url`. */
export function runSuite(url: string, sections: readonly Section[], options: SuiteOptions = {}): Promise<CaseResult[]> {
  return runCases(resolveSettings(url, options), sections, options);
}

/** Runs the sections' cases one after another with `settings`: every case that applies to the side under test. */
export async function runCases(settings: Settings, sections: readonly Section[], options: SuiteOptions = {}): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const section of sections) {
    for (const testCase of section.cases) {
      if (!appliesTo(testCase, settings.peer)) continue;
      if (options.only !== undefined && !options.only.some((prefix) => testCase.id === prefix || testCase.id.startsWith(`${prefix}.`))) continue;
      const result = await runCase(section, testCase, settings);
      results.push(result);
      options.onResult?.(result);
    }
  }
  return results;
}

/** Counts of each verdict. */
export type Tally = Record<Verdict, number>;

export function tally(results: readonly CaseResult[]): Tally {
  const counts: Tally = { OK: 0, 'NON-STRICT': 0, FAILED: 0, INFORMATIONAL: 0 };
  for (const result of results) counts[result.verdict]++;
  return counts;
}

/** One line per verdict count, e.g. `31 OK, 0 NON-STRICT, 0 FAILED, 1 INFORMATIONAL`. */
export function formatTally(counts: Tally): string {
  return `${counts.OK} OK, ${counts['NON-STRICT']} NON-STRICT, ${counts.FAILED} FAILED, ${counts.INFORMATIONAL} INFORMATIONAL`;
}

/** The closing summary: one line per section, then the total. */
export function formatSummary(results: readonly CaseResult[]): string {
  const sections = [...new Set(results.map((result) => result.section))];
  const width = Math.max(...sections.map((section) => `${section.id}. ${section.title}`.length));
  const lines = ['Summary'];
  for (const section of sections) {
    const own = results.filter((result) => result.section === section);
    lines.push(`  ${`${section.id}. ${section.title}`.padEnd(width)}  ${formatTally(tally(own))}`);
  }
  lines.push(`  ${'Total'.padEnd(width)}  ${formatTally(tally(results))} (${results.length} cases)`);
  return lines.join('\n');
}

/** A case's line, with its notes under it when it is not OK. */
export function formatResult(result: CaseResult): string {
  const lines = [formatResultLine(result)];
  if (result.verdict !== Verdict.Ok) for (const note of result.notes) lines.push(`            ${note}`);
  return lines.join('\n');
}

export function formatResultLine(result: CaseResult): string {
  return `  ${result.testCase.id.padEnd(9)} ${result.verdict.padEnd(13)} ${result.testCase.description}`;
}

/** Escapes a table cell for Markdown. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A Markdown table per section (for docs/conformance.md), notes for every case that is not OK. */
export function formatMarkdown(results: readonly CaseResult[]): string {
  const lines: string[] = [];
  let section: Section | undefined;
  for (const result of results) {
    if (result.section !== section) {
      section = result.section;
      const own = results.filter((r) => r.section === section);
      lines.push('', `#### ${section.id}. ${section.title} (${formatTally(tally(own))})`, '', '| Case | Result | Description | Notes |', '|---|---|---|---|');
    }
    const notes = result.verdict === Verdict.Ok ? '' : result.notes.join('; ');
    lines.push(`| ${result.testCase.id} | ${result.verdict} | ${cell(result.testCase.description)} | ${cell(notes)} |`);
  }
  lines.push('', `Total: ${results.length} cases: ${formatTally(tally(results))}`);
  return lines.join('\n');
}
