/**
 * Client mode: the suite plays the server. For each case it starts the client under test (a
 * command, or a function in tests) with the case's URL, `ws://127.0.0.1:PORT/<case id>`; the
 * client connects and echoes every message it gets with its opcode, like the echo endpoint a
 * server is tested through. The suite reads the client's request (with node:http), judges it
 * (RFC 6455 4.1), answers it, and from then on the same cases as in server mode run with the
 * roles swapped: the suite sends server frames (unmasked) and the strict reader judges the
 * client's (masked, each with a new key).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type ExtensionOffer, parseExtensionOffers, parseTokenList } from '../../src/protocol/index.js';
import { RawConnection } from './wire.js';

/** The GUID appended to the key for Sec-WebSocket-Accept (RFC 6455 1.3), written out here rather than imported. */
const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Sec-WebSocket-Accept for a key (RFC 6455 4.2.2 item 5.4). */
export function acceptFor(key: string): string {
  return createHash('sha1').update(key + ACCEPT_GUID).digest('base64');
}

/** A client under test, started for one case. */
export interface RunningClient {
  /** Stops it if it has not ended by itself; resolves once it is gone. */
  stop(): Promise<void>;
  /** The last lines it printed (for the report of a case it failed). */
  output(): string[];
  /** Resolves when it ends by itself, with how (e.g. "exit code 1"). */
  readonly ended: Promise<string>;
}

/** Starts a client under test that connects to `url` and echoes every message until the connection closes. */
export type ClientLauncher = (url: string) => RunningClient;

/** What the client asked for in its opening handshake. */
export interface ClientRequest {
  readonly method: string;
  readonly httpVersion: string;
  /** The request target, e.g. `/1.1.1`. */
  readonly path: string;
  /** Header fields by lower-cased name, repeats joined with ", ". */
  readonly headers: ReadonlyMap<string, string>;
  /** Header fields by lower-cased name, and how many times each came. */
  readonly headerCounts: ReadonlyMap<string, number>;
  /** Sec-WebSocket-Key, or '' when missing. */
  readonly key: string;
  /** The Sec-WebSocket-Extensions offers, in order (empty when none, or when the header is malformed). */
  readonly extensionOffers: readonly ExtensionOffer[];
  /** The subprotocols offered (Sec-WebSocket-Protocol). */
  readonly protocols: readonly string[];
}

/** One upgrade request from a client, with its socket. */
interface Upgrade {
  request: IncomingMessage;
  socket: Socket;
  head: Buffer;
}

/** A client's connection for a case: the raw connection after its request, the request, and the client. */
export interface ClientConnection {
  readonly connection: RawConnection;
  readonly request: ClientRequest;
  readonly stop: () => Promise<void>;
  readonly output: () => string[];
}

/** How long a client that has been told to stop gets to end before it is killed (ms). */
const STOP_GRACE_MS = 1_000;
/** Lines of a client's output kept for the report. */
const OUTPUT_LINES = 20;

/**
 * The suite's listening end in client mode: one HTTP server on 127.0.0.1, every case a path on
 * it. Requests for a path no case is waiting for are answered 404.
 */
export class ClientsUnderTest {
  private readonly waiting = new Map<string, { resolve: (upgrade: Upgrade) => void; reject: (error: Error) => void }>();
  private readonly requests = new WeakMap<RawConnection, ClientRequest>();
  /** Every Sec-WebSocket-Key of the run, to catch one used twice (RFC 6455 4.1 item 7: "randomly selected"). */
  private readonly keysSeen = new Set<string>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly launch: ClientLauncher,
    /** ws://127.0.0.1:PORT/ */
    readonly url: string,
  ) {
    server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(request, socket, head));
    server.on('request', (request: IncomingMessage, response) => {
      const waiter = this.waiting.get(request.url ?? '');
      response.writeHead(426, { 'content-type': 'text/plain', connection: 'close' }).end('a WebSocket handshake is expected here\n');
      if (waiter !== undefined) {
        this.waiting.delete(request.url ?? '');
        waiter.reject(new Error('the client sent a request without Upgrade: websocket and Connection: Upgrade (RFC 6455 4.1 items 5, 6)'));
      }
    });
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Listens on a free loopback port. */
  static async start(launch: ClientLauncher): Promise<ClientsUnderTest> {
    const server = createServer();
    // Node's defaults would drop a slow case's socket or refuse odd requests before the suite sees them.
    server.requestTimeout = 0;
    server.headersTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return new ClientsUnderTest(server, launch, `ws://127.0.0.1:${port}/`);
  }

  /** The Host header a client must send: the URL's authority (RFC 6455 4.1 item 4). */
  get authority(): string {
    return new URL(this.url).host;
  }

  /**
   * Starts the client for case `id` and resolves with its connection once its upgrade request
   * has been read and judged (what it broke goes into the reader's violations). Rejects if no
   * request comes within `timeoutMs` or the client ends first.
   */
  async connect(id: string, timeoutMs: number): Promise<ClientConnection> {
    const path = `/${id}`;
    const client = this.launch(new URL(id, this.url).href);
    try {
      const upgrade = await this.waitForUpgrade(path, timeoutMs, client.ended);
      const connection = RawConnection.adopt(upgrade.socket, upgrade.head);
      const request = this.judgeRequest(upgrade, path, connection);
      this.requests.set(connection, request);
      return { connection, request, stop: () => client.stop(), output: () => client.output() };
    } catch (error) {
      await client.stop();
      const output = client.output();
      if (output.length === 0) throw error;
      // What the client printed says why it did not connect.
      throw new Error(`${error instanceof Error ? error.message : String(error)}; client output: ${output.join(' | ')}`);
    }
  }

  /** The next upgrade request for `path` (the case's own, or where a case redirected the client). */
  waitForUpgrade(path: string, timeoutMs: number, ended?: Promise<string>): Promise<Upgrade> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(path);
        reject(new Error(`no request for ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = (): void => {
        clearTimeout(timer);
        this.waiting.delete(path);
      };
      this.waiting.set(path, {
        resolve: (upgrade) => {
          settle();
          resolve(upgrade);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
      void ended?.then((how) => {
        if (!this.waiting.has(path)) return;
        settle();
        reject(new Error(`the client ended (${how}) without connecting to ${path}`));
      });
    });
  }

  /** Adopts a further upgrade (e.g. after a redirect) as a connection, its request judged like the first. */
  adopt(upgrade: Upgrade, path: string): RawConnection {
    const connection = RawConnection.adopt(upgrade.socket, upgrade.head);
    this.requests.set(connection, this.judgeRequest(upgrade, path, connection));
    return connection;
  }

  /** The request that opened `connection`. */
  requestOf(connection: RawConnection): ClientRequest {
    const request = this.requests.get(connection);
    if (request === undefined) throw new Error('not a client connection of this run');
    return request;
  }

  /** Answers the client's request with a plain 101: no subprotocol, no extension (what a `websocket` case starts from). */
  accept(connection: RawConnection): void {
    connection.write(Buffer.from(switchingProtocols(this.requestOf(connection).key), 'latin1'));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onUpgrade(request: IncomingMessage, socket: Socket, head: Buffer): void {
    const waiter = this.waiting.get(request.url ?? '');
    if (waiter === undefined) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.waiting.delete(request.url ?? '');
    waiter.resolve({ request, socket, head });
  }

  /** Reads the client's opening handshake and records every rule of RFC 6455 4.1 it breaks. */
  private judgeRequest(upgrade: Upgrade, path: string, connection: RawConnection): ClientRequest {
    const { request, head } = upgrade;
    const headers = new Map<string, string>();
    const headerCounts = new Map<string, number>();
    for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
      const name = request.rawHeaders[i].toLowerCase();
      const previous = headers.get(name);
      headers.set(name, previous === undefined ? request.rawHeaders[i + 1] : `${previous}, ${request.rawHeaders[i + 1]}`);
      headerCounts.set(name, (headerCounts.get(name) ?? 0) + 1);
    }
    const broke = (rule: string): void => {
      connection.reader.violations.push(`client's opening handshake: ${rule}`);
    };
    const includes = (name: string, token: string): boolean =>
      (parseTokenList(headers.get(name) ?? '') ?? []).some((value) => value.toLowerCase() === token);
    // RFC 6455 4.1, the client's requirements, in the order given there.
    if (request.method !== 'GET') broke(`method ${request.method}, not GET (item 2)`);
    if (!(request.httpVersionMajor > 1 || (request.httpVersionMajor === 1 && request.httpVersionMinor >= 1))) broke(`HTTP/${request.httpVersion}, not 1.1 or higher (item 2)`);
    if (request.url !== path) broke(`request target ${JSON.stringify(request.url)}, not the URL's resource name ${path} (item 3)`);
    const host = headers.get('host');
    if (host === undefined) broke('no Host header (item 4)');
    else if (host.toLowerCase() !== this.authority) broke(`Host ${JSON.stringify(host)}, not the URL's ${this.authority} (item 4)`);
    if (!includes('upgrade', 'websocket')) broke('no Upgrade: websocket (item 5)');
    if (!includes('connection', 'upgrade')) broke('no Connection: Upgrade (item 6)');
    const key = headers.get('sec-websocket-key') ?? '';
    if ((headerCounts.get('sec-websocket-key') ?? 0) > 1) broke('Sec-WebSocket-Key more than once (RFC 6455 11.3.1)');
    else if (!isBase64Of16Bytes(key)) broke(`Sec-WebSocket-Key ${JSON.stringify(key)} is not the base64 of 16 bytes (item 7)`);
    else if (this.keysSeen.has(key)) broke(`Sec-WebSocket-Key ${key} was used before in this run: it MUST be "randomly selected" for each connection (item 7)`);
    this.keysSeen.add(key);
    if (headers.get('sec-websocket-version') !== '13') broke(`Sec-WebSocket-Version ${JSON.stringify(headers.get('sec-websocket-version') ?? '(none)')}, not 13 (item 9)`);
    let protocols: string[] = [];
    const protocolHeader = headers.get('sec-websocket-protocol');
    if (protocolHeader !== undefined) {
      const parsed = parseTokenList(protocolHeader);
      if (parsed === undefined || parsed.length === 0) broke(`Sec-WebSocket-Protocol ${JSON.stringify(protocolHeader)} is not a list of tokens (item 10)`);
      else if (new Set(parsed).size !== parsed.length) broke(`Sec-WebSocket-Protocol ${JSON.stringify(protocolHeader)} repeats a value: they "MUST all be unique" (item 10)`);
      protocols = parsed ?? [];
    }
    let extensionOffers: ExtensionOffer[] = [];
    const extensionHeader = headers.get('sec-websocket-extensions');
    if (extensionHeader !== undefined) {
      const parsed = parseExtensionOffers(extensionHeader);
      if (parsed === undefined) broke(`Sec-WebSocket-Extensions ${JSON.stringify(extensionHeader)} does not match the grammar of RFC 6455 9.1 (item 11)`);
      else {
        extensionOffers = parsed;
        for (const offer of parsed) if (offer.name === 'permessage-deflate') for (const problem of deflateOfferProblems(offer)) broke(problem);
      }
    }
    // RFC 6455 4.1: "Once the client's opening handshake has been sent, the client MUST wait for
    // a response from the server before sending any further data."
    if (head.length > 0) broke(`${head.length} bytes sent after the request, before the server's answer (RFC 6455 4.1: the client MUST wait for the response)`);
    return { method: request.method ?? '', httpVersion: request.httpVersion, path: request.url ?? '', headers, headerCounts, key, extensionOffers, protocols };
  }
}

/** The plain 101 answer to a request with `key` (RFC 6455 4.2.2 item 5). */
export function switchingProtocols(key: string, extraLines: readonly string[] = []): string {
  return ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`, ...extraLines].join('\r\n') + '\r\n\r\n';
}

function isBase64Of16Bytes(key: string): boolean {
  if (key.length !== 24) return false;
  const decoded = Buffer.from(key, 'base64');
  return decoded.length === 16 && decoded.toString('base64') === key;
}

/** A window-bits value (RFC 7692 7.1.2): an integer from 8 to 15. */
function isWindowBits(value: string | true): boolean {
  return value !== true && /^(8|9|1[0-5])$/.test(value);
}

/** What is wrong with a client's permessage-deflate offer (RFC 7692 7.1): its parameters and their values. */
function deflateOfferProblems(offer: ExtensionOffer): string[] {
  const problems: string[] = [];
  for (const name of offer.repeatedParams) problems.push(`permessage-deflate offer repeats ${name} (RFC 7692 7.1)`);
  for (const [name, value] of offer.params) {
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== true) problems.push(`permessage-deflate offer gives ${name} a value (RFC 7692 7.1.1: it has none)`);
        break;
      case 'server_max_window_bits':
        if (!isWindowBits(value)) problems.push(`permessage-deflate offer has server_max_window_bits=${value === true ? '(no value)' : value}: an integer from 8 to 15 is required (RFC 7692 7.1.2.1)`);
        break;
      case 'client_max_window_bits':
        if (value !== true && !isWindowBits(value)) problems.push(`permessage-deflate offer has client_max_window_bits=${value}: no value or an integer from 8 to 15 (RFC 7692 7.1.2.2)`);
        break;
      default:
        problems.push(`permessage-deflate offer has the unknown parameter ${name} (RFC 7692 7.1)`);
    }
  }
  return problems;
}

// --- Launchers ------------------------------------------------------------------------------------

/**
 * Starts `command` once per case with the case's URL as its last argument (or in place of every
 * `{url}` among the arguments). Its output is kept for the report; once the case is over it gets
 * a second to end by itself, then SIGTERM, then SIGKILL.
 */
export function commandLauncher(command: readonly string[]): ClientLauncher {
  if (command.length === 0) throw new Error('no client command given');
  return (url) => {
    const args = command.slice(1);
    const withUrl = args.some((arg) => arg.includes('{url}')) ? args.map((arg) => arg.replaceAll('{url}', url)) : [...args, url];
    const child = spawn(command[0], withUrl, { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(line);
      if (lines.length > OUTPUT_LINES) lines.splice(0, lines.length - OUTPUT_LINES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const ended = new Promise<string>((resolve) => {
      child.once('error', (error) => resolve(`could not start: ${error.message}`));
      child.once('exit', (code, signal) => resolve(signal === null ? `exit code ${code}` : `signal ${signal}`));
    });
    return { stop: () => stopChild(child, ended), output: () => [...lines], ended };
  };
}

/** A client running in this process (tests), as the echo clients of echo-clients/ are. */
export interface InProcessClient {
  /** Resolves once its connection has closed, saying how. */
  readonly closed: Promise<string>;
  /** Ends it early. */
  stop(): void;
}

/** Starts a client in this process for each case: for tests, without a process per case. */
export function inProcessLauncher(start: (url: string) => InProcessClient): ClientLauncher {
  return (url) => {
    const client = start(url);
    let done = false;
    const ended = client.closed.then((how) => {
      done = true;
      return how;
    });
    const stop = async (): Promise<void> => {
      if (done) return;
      const gone = (): Promise<unknown> => Promise.race([ended, new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS).unref())]);
      await gone();
      if (done) return;
      client.stop();
      await gone();
    };
    return { stop, output: () => [], ended };
  };
}

async function stopChild(child: ChildProcess, ended: Promise<string>): Promise<void> {
  const gone = (ms: number): Promise<boolean> => Promise.race([ended.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())]);
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  if (await gone(STOP_GRACE_MS)) return;
  child.kill('SIGTERM');
  if (await gone(STOP_GRACE_MS)) return;
  child.kill('SIGKILL');
  await ended;
}
