/**
 * The `framecast` command line: flags, their environment variables, and validation. Pure: it
 * returns options or a one-line error, and cli.ts does the I/O.
 */
import { MAX_MESSAGE_SIZE_LIMIT } from '../protocol/index.js';
import { BrokerDefaults, PubSubDefaults, ServerDefaults } from './config.js';
import { type LogLevel, LogLevels } from './log.js';

export interface CliOptions {
  port: number;
  host: string | undefined;
  pushToken: string | undefined;
  allowOrigins: string[];
  maxMessageSize: number;
  /** Heartbeat interval in ms (0: off). */
  heartbeatInterval: number;
  maxConnections: number;
  logLevel: LogLevel;
  /** Redis URL for scale-out over Redis pub/sub; undefined: the in-process hub. */
  redis: string | undefined;
  /** With --redis: how long a node may go silent before the others take it for dead (ms). */
  nodeTimeout: number;
  /** permessage-deflate on /ws, /chat and /pubsub. */
  deflate: boolean;
  /** framecast.v1 history: publications per channel, their age (ms), and all of them together (bytes). */
  historySize: number;
  historyTtl: number;
  historyMemory: number;
  /** Whether framecast.v1 clients may publish. */
  clientPublish: boolean;
  /** PEM files of the TLS certificate and its key; both or neither. Reread on SIGHUP. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Without TLS: cleartext HTTP/2 with prior knowledge (h2c) beside HTTP/1.1. */
  h2c: boolean;
}

export type CliParseResult = { help: true } | { help: false; options: CliOptions } | { error: string };

interface FlagSpec {
  readonly name: string;
  readonly env: string;
  readonly value: string;
  readonly help: string;
}

/** Every flag, in the order --help lists them. Each has an environment variable; flags win. */
export const FLAGS: readonly FlagSpec[] = [
  { name: 'port', env: 'FRAMECAST_PORT', value: 'N', help: `TCP port to listen on (default ${ServerDefaults.port})` },
  { name: 'host', env: 'FRAMECAST_HOST', value: 'ADDR', help: 'address to bind (default: all interfaces)' },
  { name: 'push-token', env: 'FRAMECAST_PUSH_TOKEN', value: 'TOKEN', help: 'require "Authorization: Bearer TOKEN" on POST /push (default: loopback clients only)' },
  { name: 'allow-origin', env: 'FRAMECAST_ALLOW_ORIGIN', value: 'ORIGIN', help: 'also accept browsers from ORIGIN (repeatable or comma-separated; * for any)' },
  { name: 'max-message', env: 'FRAMECAST_MAX_MESSAGE', value: 'BYTES', help: 'largest WebSocket message, e.g. 1048576, 64KiB or 16MiB (default 16MiB)' },
  { name: 'heartbeat', env: 'FRAMECAST_HEARTBEAT', value: 'SECONDS', help: `ping interval; a silent peer is dropped after two (default ${ServerDefaults.heartbeatInterval / 1000}, 0 disables)` },
  { name: 'max-connections', env: 'FRAMECAST_MAX_CONNECTIONS', value: 'N', help: `most open WebSockets, 503 beyond (default ${ServerDefaults.maxConnections})` },
  { name: 'redis', env: 'FRAMECAST_REDIS', value: 'URL', help: 'relay messages through Redis pub/sub to run several nodes as one, e.g. redis://127.0.0.1:6379 (default: this process only)' },
  {
    name: 'node-timeout',
    env: 'FRAMECAST_NODE_TIMEOUT',
    value: 'SECONDS',
    help: `with --redis: a node silent this long is taken for dead, its subscribers leave presence (default ${BrokerDefaults.nodeTimeout / 1000})`,
  },
  { name: 'deflate', env: 'FRAMECAST_DEFLATE', value: 'on|off', help: 'permessage-deflate compression, without context kept between messages (default on)' },
  { name: 'history-size', env: 'FRAMECAST_HISTORY_SIZE', value: 'N', help: `framecast.v1 publications kept per channel for recovery; 0 keeps none (default ${PubSubDefaults.historySize})` },
  { name: 'history-ttl', env: 'FRAMECAST_HISTORY_TTL', value: 'SECONDS', help: `how long a publication stays in the history (default ${PubSubDefaults.historyTtl / 1000})` },
  { name: 'history-memory', env: 'FRAMECAST_HISTORY_MEMORY', value: 'BYTES', help: 'bytes all histories together may hold, the oldest publication going first (default 64MiB)' },
  { name: 'client-publish', env: 'FRAMECAST_CLIENT_PUBLISH', value: 'on|off', help: 'whether framecast.v1 clients may publish; off for push-only (default on)' },
  { name: 'tls-cert', env: 'FRAMECAST_TLS_CERT', value: 'FILE', help: 'serve https: and wss: (HTTP/2 and HTTP/1.1) with this PEM certificate (chain); needs --tls-key; reread on SIGHUP' },
  { name: 'tls-key', env: 'FRAMECAST_TLS_KEY', value: 'FILE', help: "the certificate's PEM private key; reread on SIGHUP" },
  { name: 'h2c', env: 'FRAMECAST_H2C', value: 'on|off', help: 'without TLS: speak cleartext HTTP/2 with prior knowledge instead of HTTP/1.1, WebSockets by RFC 8441, for a proxy in front (default off)' },
  { name: 'log-level', env: 'FRAMECAST_LOG_LEVEL', value: 'LEVEL', help: `one of ${LogLevels.join(', ')} (default info)` },
];

/** The --help text. */
export function usage(): string {
  const lines = ['Usage: framecast [options]', '', 'A WebSocket push and chat server (RFC 6455) on node:http.', '', 'Options:'];
  for (const flag of FLAGS) lines.push(`  --${`${flag.name} ${flag.value}`.padEnd(24)} ${flag.help}  [env ${flag.env}]`);
  lines.push(`  --${'help'.padEnd(24)} show this help`);
  return lines.join('\n') + '\n';
}

/** Bounds of the history flags: a channel's history is read whole at times, so keep it reasonable. */
const MAX_HISTORY_SIZE = 100_000;
const MAX_HISTORY_TTL_SECONDS = 7 * 86_400;
/** Bounds of --node-timeout: renewed every third of it, so under a second would keep Redis busy for nothing. */
const MIN_NODE_TIMEOUT_SECONDS = 1;
const MAX_NODE_TIMEOUT_SECONDS = 3_600;

const SIZE_UNITS: ReadonlyMap<string, number> = new Map([
  ['', 1],
  ['b', 1],
  ['k', 1024],
  ['kb', 1024],
  ['kib', 1024],
  ['m', 1024 ** 2],
  ['mb', 1024 ** 2],
  ['mib', 1024 ** 2],
  ['g', 1024 ** 3],
  ['gb', 1024 ** 3],
  ['gib', 1024 ** 3],
]);

/** Parses a byte size such as `1048576`, `64KiB` or `16MiB` (binary units). */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  if (match === null) return undefined;
  const unit = SIZE_UNITS.get(match[2].toLowerCase());
  if (unit === undefined) return undefined;
  const value = Number(match[1]) * unit;
  return Number.isSafeInteger(value) ? value : undefined;
}

function parseInteger(text: string, min: number, max: number): number | undefined {
  if (!/^\d+$/.test(text.trim())) return undefined;
  const value = Number(text);
  return value >= min && value <= max ? value : undefined;
}

/** A redis:// or rediss:// URL with a host. */
function isRedisUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** Parses argv (without node and script) and the environment into options, or an error line. */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliParseResult {
  const given = new Map<string, string[]>();
  for (const flag of FLAGS) {
    const fromEnv = env[flag.env];
    if (fromEnv !== undefined && fromEnv !== '') given.set(flag.name, [fromEnv]);
  }
  const fromArgs = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return { help: true };
    if (!arg.startsWith('--')) return { error: `unexpected argument ${JSON.stringify(arg)}` };
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (!FLAGS.some((flag) => flag.name === name)) return { error: `unknown option --${name}` };
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) return { error: `--${name} needs a value` };
      value = argv[++i];
    }
    fromArgs.set(name, [...(fromArgs.get(name) ?? []), value]);
  }
  for (const [name, values] of fromArgs) given.set(name, values);
  const last = (name: string): string | undefined => given.get(name)?.at(-1);

  const options: CliOptions = {
    port: ServerDefaults.port,
    host: undefined,
    pushToken: undefined,
    allowOrigins: [],
    maxMessageSize: ServerDefaults.maxMessageSize,
    heartbeatInterval: ServerDefaults.heartbeatInterval,
    maxConnections: ServerDefaults.maxConnections,
    logLevel: 'info',
    redis: undefined,
    nodeTimeout: BrokerDefaults.nodeTimeout,
    deflate: true,
    historySize: PubSubDefaults.historySize,
    historyTtl: PubSubDefaults.historyTtl,
    historyMemory: PubSubDefaults.historyMemory,
    clientPublish: PubSubDefaults.clientPublish,
    tlsCert: undefined,
    tlsKey: undefined,
    h2c: false,
  };
  const port = last('port');
  if (port !== undefined) {
    const value = parseInteger(port, 0, 65535);
    if (value === undefined) return { error: `--port must be a whole number from 0 to 65535, not ${JSON.stringify(port)}` };
    options.port = value;
  }
  const host = last('host');
  if (host !== undefined) options.host = host;
  const token = last('push-token');
  if (token !== undefined) {
    if (token.trim() === '') return { error: '--push-token must not be empty' };
    options.pushToken = token;
  }
  for (const list of given.get('allow-origin') ?? []) {
    for (const origin of list.split(',').map((part) => part.trim()).filter((part) => part !== '')) {
      if (origin !== '*' && !/^https?:\/\/[^/\s]+$/i.test(origin)) {
        return { error: `--allow-origin takes origins like https://example.com or *, not ${JSON.stringify(origin)}` };
      }
      options.allowOrigins.push(origin);
    }
  }
  const maxMessage = last('max-message');
  if (maxMessage !== undefined) {
    const value = parseSize(maxMessage);
    if (value === undefined || value < 1) return { error: `--max-message must be a size such as 1048576 or 16MiB, not ${JSON.stringify(maxMessage)}` };
    if (value > MAX_MESSAGE_SIZE_LIMIT) {
      return { error: `--max-message may be at most ${MAX_MESSAGE_SIZE_LIMIT} bytes (the largest Buffer Node makes), not ${JSON.stringify(maxMessage)}` };
    }
    options.maxMessageSize = value;
  }
  const heartbeat = last('heartbeat');
  if (heartbeat !== undefined) {
    const value = parseInteger(heartbeat, 0, 86_400);
    if (value === undefined) return { error: `--heartbeat must be whole seconds from 0 to 86400, not ${JSON.stringify(heartbeat)}` };
    options.heartbeatInterval = value * 1000;
  }
  const maxConnections = last('max-connections');
  if (maxConnections !== undefined) {
    const value = parseInteger(maxConnections, 1, 10_000_000);
    if (value === undefined) return { error: `--max-connections must be a whole number of at least 1, not ${JSON.stringify(maxConnections)}` };
    options.maxConnections = value;
  }
  const redis = last('redis');
  if (redis !== undefined) {
    if (!isRedisUrl(redis)) return { error: `--redis takes a URL such as redis://127.0.0.1:6379 (or rediss:// for TLS), not ${JSON.stringify(redis)}` };
    options.redis = redis;
  }
  const nodeTimeout = last('node-timeout');
  if (nodeTimeout !== undefined) {
    const value = parseInteger(nodeTimeout, MIN_NODE_TIMEOUT_SECONDS, MAX_NODE_TIMEOUT_SECONDS);
    if (value === undefined) {
      return { error: `--node-timeout must be whole seconds from ${MIN_NODE_TIMEOUT_SECONDS} to ${MAX_NODE_TIMEOUT_SECONDS}, not ${JSON.stringify(nodeTimeout)}` };
    }
    options.nodeTimeout = value * 1000;
  }
  const deflate = last('deflate');
  if (deflate !== undefined) {
    if (deflate !== 'on' && deflate !== 'off') return { error: `--deflate must be on or off, not ${JSON.stringify(deflate)}` };
    options.deflate = deflate === 'on';
  }
  const historySize = last('history-size');
  if (historySize !== undefined) {
    const value = parseInteger(historySize, 0, MAX_HISTORY_SIZE);
    if (value === undefined) return { error: `--history-size must be a whole number from 0 to ${MAX_HISTORY_SIZE}, not ${JSON.stringify(historySize)}` };
    options.historySize = value;
  }
  const historyTtl = last('history-ttl');
  if (historyTtl !== undefined) {
    const value = parseInteger(historyTtl, 1, MAX_HISTORY_TTL_SECONDS);
    if (value === undefined) return { error: `--history-ttl must be whole seconds from 1 to ${MAX_HISTORY_TTL_SECONDS}, not ${JSON.stringify(historyTtl)}` };
    options.historyTtl = value * 1000;
  }
  const historyMemory = last('history-memory');
  if (historyMemory !== undefined) {
    const value = parseSize(historyMemory);
    if (value === undefined) return { error: `--history-memory must be a size such as 1048576 or 64MiB, not ${JSON.stringify(historyMemory)}` };
    options.historyMemory = value;
  }
  const clientPublish = last('client-publish');
  if (clientPublish !== undefined) {
    if (clientPublish !== 'on' && clientPublish !== 'off') return { error: `--client-publish must be on or off, not ${JSON.stringify(clientPublish)}` };
    options.clientPublish = clientPublish === 'on';
  }
  const tlsCert = last('tls-cert');
  const tlsKey = last('tls-key');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) return { error: '--tls-cert and --tls-key go together: give both or neither' };
  options.tlsCert = tlsCert;
  options.tlsKey = tlsKey;
  const h2c = last('h2c');
  if (h2c !== undefined) {
    if (h2c !== 'on' && h2c !== 'off') return { error: `--h2c must be on or off, not ${JSON.stringify(h2c)}` };
    if (h2c === 'on' && tlsCert !== undefined) return { error: '--h2c is for cleartext: with --tls-cert HTTP/2 is offered over TLS already' };
    options.h2c = h2c === 'on';
  }
  const logLevel = last('log-level');
  if (logLevel !== undefined) {
    if (!(LogLevels as readonly string[]).includes(logLevel)) {
      return { error: `--log-level must be one of ${LogLevels.join(', ')}, not ${JSON.stringify(logLevel)}` };
    }
    options.logLevel = logLevel as LogLevel;
  }
  return { help: false, options };
}
