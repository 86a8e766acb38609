#!/usr/bin/env node
/**
 * `npm run conformance -- ws://host:port/path [options]`: runs the RFC 6455 conformance suite
 * against any echo endpoint and prints a result per case and a summary per section. Exits 1
 * when any case FAILED, 2 on bad usage.
 */
import { parseSize } from '../../src/server/cli-options.js';
import { SECTIONS, sectionsWith } from './cases.js';
import { FULL_DEFLATE_SIZES } from './deflate-cases.js';
import { startWsReference } from './reference-server.js';
import { type CaseResult, formatMarkdown, formatResult, formatSummary, runSuite, type Section, type SuiteOptions, tally, Verdict } from './suite.js';

/** framecast's default message limit, assumed unless --max-message-size says otherwise. */
const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

const USAGE = `Usage: npm run conformance -- <ws://host:port/path> [options]
       npm run conformance -- --ws-reference [options]

Runs the RFC 6455 conformance suite (and permessage-deflate, RFC 7692, in section 11) against
a WebSocket echo endpoint (every message sent back with the same opcode). One connection per case; results are OK, NON-STRICT, FAILED or
INFORMATIONAL. Exits 1 if any case FAILED.

Options:
  --max-message-size SIZE  the server's message limit, e.g. 1048576 or 16MiB (default 16MiB);
                           "none" skips the cases that need it
  --case ID                run only case ID and the cases under it (repeatable), e.g. --case 6.8
  --timeout MS             upper bound for one case (default 5000)
  --reply-timeout MS       how long "at once" is, e.g. for the Close after a violation (default 1000)
  --deflate-full           permessage-deflate echo cases (11.4) over every size: 16 B to 256 KiB,
                           rather than the quick set (16 B, 1 KiB, 16 KiB, 64 KiB)
  --markdown               print the results as Markdown tables
  --ws-reference           start an echo server on the ws package (permessage-deflate enabled)
                           and test it instead of a URL
  --help                   show this help
`;

interface CliArguments {
  url: string | undefined;
  wsReference: boolean;
  markdown: boolean;
  deflateFull: boolean;
  options: SuiteOptions;
}

function parseArguments(argv: readonly string[]): CliArguments | string {
  const parsed: CliArguments = { url: undefined, wsReference: false, markdown: false, deflateFull: false, options: { maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE } };
  const only: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
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
      default:
        if (arg.startsWith('--')) return `unknown option ${arg}`;
        if (parsed.url !== undefined) return `unexpected argument ${JSON.stringify(arg)}`;
        parsed.url = arg;
    }
  }
  for (const key of ['caseTimeout', 'replyTimeout'] as const) {
    const ms = parsed.options[key];
    if (ms !== undefined && !(Number.isFinite(ms) && ms > 0)) return 'timeouts are positive numbers of milliseconds';
  }
  if (only.length > 0) parsed.options.only = only;
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
  const url = reference?.url ?? (parsed.url as string);
  const limit = parsed.options.maxMessageSize;
  process.stdout.write(`RFC 6455 conformance: ${url}${reference === undefined ? '' : ' (ws reference server)'}, message limit ${limit === undefined ? 'not given' : `${limit} bytes`}\n`);
  const markdown = parsed.markdown;
  let section: Section | undefined;
  let results: CaseResult[];
  try {
    results = await runSuite(url, parsed.deflateFull ? sectionsWith(FULL_DEFLATE_SIZES) : SECTIONS, {
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
  }
  process.stdout.write('\n' + (markdown ? formatMarkdown(results) : formatSummary(results)) + '\n');
  if (results.length === 0) {
    process.stderr.write('conformance: no case matched\n');
    process.exit(2);
  }
  process.exit(tally(results)[Verdict.Failed] > 0 ? 1 : 0);
}

void main();
