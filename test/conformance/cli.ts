#!/usr/bin/env node
/**
 * `npm run conformance -- ws://host:port/path [options]`: runs the RFC 6455 conformance suite
 * against any echo endpoint and prints a result per case and a summary per section.
 * `npm run conformance:client -- [options] <command>`: the same against a client: the suite
 * plays the server and starts `command` once per case with the case's URL.
 * Exits 1 when any case FAILED, 2 on bad usage.
 */
import { fileURLToPath } from 'node:url';
import { parseSize } from '../../src/server/cli-options.js';
import { sectionsFor } from './cases.js';
import { ClientsUnderTest, commandLauncher } from './client-mode.js';
import { FULL_DEFLATE_SIZES, QUICK_DEFLATE_SIZES } from './deflate-cases.js';
import { startWsReference } from './reference-server.js';
import {
  type CaseResult,
  formatMarkdown,
  formatResult,
  formatSummary,
  resolveClientSettings,
  resolveSettings,
  runCases,
  type Section,
  type SuiteOptions,
  tally,
  Verdict,
} from './suite.js';

/** framecast's default message limit, assumed unless --max-message-size says otherwise. */
const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

const USAGE = `Usage: npm run conformance -- <ws://host:port/path> [options]
       npm run conformance -- --ws-reference [options]
       npm run conformance:client -- [options] <command> [arguments]
       npm run conformance:client -- [options] --framecast-client | --ws-client

Runs the RFC 6455 conformance suite (and permessage-deflate, RFC 7692, in section 11) against
a WebSocket echo endpoint (every message sent back with the same opcode). One connection per
case; results are OK, NON-STRICT, FAILED or INFORMATIONAL. Exits 1 if any case FAILED.

Client mode (--client, which npm run conformance:client passes) judges a client instead: the
suite plays the server on 127.0.0.1 and, for each case, starts <command> with the case's URL
(ws://127.0.0.1:PORT/CASE) as its last argument, or in place of {url} among the arguments. The
client must connect, send every message back with its opcode, and end once the connection
closes. --framecast-client and --ws-client start the echo clients of
test/conformance/echo-clients (framecast's WebSocket, and the ws package's) with the same
--max-message-size.

Options:
  --max-message-size SIZE  the message limit of the server (client mode: of the client), e.g.
                           1048576 or 16MiB (default 16MiB); "none" skips the cases that need it
  --case ID                run only case ID and the cases under it (repeatable), e.g. --case 6.8
  --timeout MS             upper bound for one case (default 5000)
  --reply-timeout MS       how long "at once" is, e.g. for the Close after a violation (default 1000)
  --deflate-full           permessage-deflate echo cases (11.4) over every size: 16 B to 256 KiB,
                           rather than the quick set (16 B, 1 KiB, 16 KiB, 64 KiB)
  --markdown               print the results as Markdown tables
  --ws-reference           start an echo server on the ws package (permessage-deflate enabled)
                           and test it instead of a URL
  --client                 client mode: the arguments after the options are the client's command
  --framecast-client       client mode with framecast's echo client
  --ws-client              client mode with the ws package's echo client
  --close-grace MS         client mode: how long the suite waits, after the closing handshake,
                           to see whether the client closes TCP itself (default 50)
  --help                   show this help
`;

/** The echo clients --framecast-client and --ws-client start, next to this file once built. */
const ECHO_CLIENTS = {
  framecast: fileURLToPath(new URL('./echo-clients/framecast.js', import.meta.url)),
  ws: fileURLToPath(new URL('./echo-clients/ws.js', import.meta.url)),
} as const;

interface CliArguments {
  url: string | undefined;
  wsReference: boolean;
  /** Client mode: the command to start for each case. */
  client: string[] | undefined;
  /** Client mode with one of the bundled echo clients. */
  echoClient: keyof typeof ECHO_CLIENTS | undefined;
  markdown: boolean;
  deflateFull: boolean;
  options: SuiteOptions;
}

function parseArguments(argv: readonly string[]): CliArguments | string {
  const parsed: CliArguments = {
    url: undefined,
    wsReference: false,
    client: undefined,
    echoClient: undefined,
    markdown: false,
    deflateFull: false,
    options: { maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE },
  };
  const only: string[] = [];
  let clientMode = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (clientMode && !arg.startsWith('--') && parsed.echoClient === undefined) {
      // Everything from the first argument that is not an option is the client's command.
      parsed.client = argv.slice(i);
      break;
    }
    const value = (): string => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case '--max-message-size': {
        const text = value();
        if (text === 'none') parsed.options.maxMessageSize = undefined;
        else {
          const size = parseSize(text);
          if (size === undefined || size < 2) return `--max-message-size must be a size such as 1048576 or 16MiB, not ${JSON.stringify(text)}`;
          parsed.options.maxMessageSize = size;
        }
        break;
      }
      case '--case':
        only.push(value());
        break;
      case '--timeout':
        parsed.options.caseTimeout = Number(value());
        break;
      case '--reply-timeout':
        parsed.options.replyTimeout = Number(value());
        break;
      case '--markdown':
        parsed.markdown = true;
        break;
      case '--ws-reference':
        parsed.wsReference = true;
        break;
      case '--deflate-full':
        parsed.deflateFull = true;
        break;
      case '--client':
        clientMode = true;
        break;
      case '--framecast-client':
      case '--ws-client':
        clientMode = true;
        parsed.echoClient = arg === '--ws-client' ? 'ws' : 'framecast';
        break;
      case '--close-grace':
        parsed.options.clientCloseGrace = Number(value());
        break;
      default:
        if (arg.startsWith('--')) return `unknown option ${arg}`;
        if (parsed.url !== undefined) return `unexpected argument ${JSON.stringify(arg)}`;
        parsed.url = arg;
    }
  }
  for (const key of ['caseTimeout', 'replyTimeout', 'clientCloseGrace'] as const) {
    const ms = parsed.options[key];
    if (ms !== undefined && !(Number.isFinite(ms) && ms > 0)) return 'timeouts are positive numbers of milliseconds';
  }
  if (only.length > 0) parsed.options.only = only;
  if (clientMode) {
    if (parsed.url !== undefined || parsed.wsReference) return 'client mode takes a client command, not a URL or --ws-reference';
    if (parsed.echoClient !== undefined) {
      const limit = parsed.options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
      parsed.client = [process.execPath, ECHO_CLIENTS[parsed.echoClient], '--max-message-size', String(limit)];
    }
    if (parsed.client === undefined) return 'give the command that starts the client, e.g. node my-echo-client.js';
    return parsed;
  }
  if (parsed.url === undefined && !parsed.wsReference) return 'give the URL of an echo endpoint, e.g. ws://127.0.0.1:8080/ws';
  if (parsed.url !== undefined && !parsed.url.startsWith('ws://')) return `only ws:// URLs are supported, not ${JSON.stringify(parsed.url)}`;
  return parsed;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  let parsed: CliArguments | string;
  try {
    parsed = parseArguments(argv);
  } catch (error) {
    parsed = error instanceof Error ? error.message : String(error);
  }
  if (typeof parsed === 'string') {
    process.stderr.write(`conformance: ${parsed}\n\n${USAGE}`);
    process.exit(2);
  }
  const reference = parsed.wsReference ? await startWsReference(parsed.options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE) : undefined;
  const clients = parsed.client === undefined ? undefined : await ClientsUnderTest.start(commandLauncher(parsed.client));
  const limit = parsed.options.maxMessageSize;
  const limitText = `message limit ${limit === undefined ? 'not given' : `${limit} bytes`}`;
  let settings;
  if (clients !== undefined) {
    settings = resolveClientSettings(clients, parsed.options);
    process.stdout.write(`RFC 6455 conformance, client mode: ${(parsed.client as string[]).join(' ')} {url}, the suite at ${clients.url}, ${limitText}\n`);
  } else {
    const url = reference?.url ?? (parsed.url as string);
    settings = resolveSettings(url, parsed.options);
    process.stdout.write(`RFC 6455 conformance: ${url}${reference === undefined ? '' : ' (ws reference server)'}, ${limitText}\n`);
  }
  const markdown = parsed.markdown;
  let section: Section | undefined;
  let results: CaseResult[];
  try {
    results = await runCases(settings, sectionsFor(settings.peer, parsed.deflateFull ? FULL_DEFLATE_SIZES : QUICK_DEFLATE_SIZES), {
      ...parsed.options,
      // Each case as it finishes, under its section's title.
      onResult(result) {
        if (markdown) return;
        if (result.section !== section) {
          section = result.section;
          process.stdout.write(`\n${section.id}. ${section.title}\n`);
        }
        process.stdout.write(`${formatResult(result)}\n`);
      },
    });
  } finally {
    await reference?.close();
    await clients?.close();
  }
  process.stdout.write('\n' + (markdown ? formatMarkdown(results) : formatSummary(results)) + '\n');
  if (results.length === 0) {
    process.stderr.write('conformance: no case matched\n');
    process.exit(2);
  }
  process.exit(tally(results)[Verdict.Failed] > 0 ? 1 : 0);
}

void main();
