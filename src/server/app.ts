/**
 * The framecast service on one http.Server: the endpoints, wired together.
 *
 * - `GET /ws` (Upgrade): echo, every message back unchanged with the same opcode.
 * - `GET /chat?channel=NAME` (Upgrade): every message goes to all members of NAME, sender included.
 * - `POST /push?channel=NAME`: the body to every member of NAME, or to every WebSocket without `channel`.
 * - `GET /pubsub` (Upgrade, subprotocol framecast.v1): publish/subscribe with offsets, history, recovery and presence (docs/pubsub.md).
 * - `GET /history?channel=NAME`: a channel's history, for server-side backfill (authorised like POST /push).
 * - `GET /inspect` (Upgrade): the protocol inspector: each message answered with its frames as parsed (inspector.ts).
 * - `GET /healthz`, `GET /metrics` (Prometheus), and the files of public/ (`GET /` is the chat page).
 * - `GET /framecast.js`: FramecastClient for pages, from its browser build (browser-client.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSecureServer, createServer as createH2cServer, type Http2SecureServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloseCode } from '../protocol/index.js';
import { startActivitySummary } from './activity-summary.js';
import { HttpDefaults, PubSubDefaults, ServerDefaults } from './config.js';
import { ReadyState, type WebSocketConnection } from './websocket/connection.js';
import { defaultHistoryLimits, type Hub, type HubContext, InProcessHub } from './hub/hub.js';
import { createInspector } from './inspector.js';
import { describeError, type Logger, silentLogger } from './log.js';
import { Metrics } from './metrics.js';
import { allowedOriginSet } from './websocket/origin.js';
import { createPubSubServer } from './pubsub/endpoint.js';
import { handleHistory, type HistoryHttpOptions } from './pubsub/history-http.js';
import { handlePush, isValidChannelName, type PushOptions } from './push.js';
import { pathOf, queryParameter } from './websocket/request-target.js';
import { isBrowserClientPath, serveBrowserClient } from './browser-client.js';
import { serveStatic } from './static-files.js';
import { WebSocketServer, type WebSocketHttpServer, type WebSocketServerOptions } from './websocket/websocket-server.js';

/** This package's folder: the nearest one with a package.json above this file (src/ or dist/src/). */
function findPackageDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}
const PACKAGE_DIR = findPackageDir();
export const PUBLIC_DIR = join(PACKAGE_DIR, 'public');
/** The browser build of FramecastClient (tsconfig.browser.json), the same whether this runs from src/ or dist/. */
export const BROWSER_CLIENT_DIR = join(PACKAGE_DIR, 'dist', 'browser');

/** A certificate and its private key, PEM (the contents, not file names). */
export interface TlsCredentials {
  cert: string | Buffer;
  key: string | Buffer;
}

export interface FramecastOptions {
  /**
   * Serve everything over TLS (https:, wss:): the page, POST /push, /healthz, /metrics and every
   * WebSocket endpoint. HTTP/2 and HTTP/1.1 are both offered (ALPN); on HTTP/2 WebSockets open
   * by extended CONNECT (RFC 8441). Plain HTTP/1.1 without it. See `Framecast.setCertificate`.
   */
  tls?: TlsCredentials;
  /**
   * Without `tls`: speak cleartext HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1, with
   * the same extended CONNECT, for a proxy in front that speaks it. HTTP/2 only: Node 20's
   * cleartext http2 server cannot take HTTP/1.1 on the same port. Default false.
   */
  h2c?: boolean;
  /** Bearer token for `POST /push`; without one, pushes are accepted from loopback only. */
  pushToken?: string;
  /** Origins allowed besides the server's own; `*` for any. */
  allowOrigins?: readonly string[];
  maxMessageSize?: number;
  heartbeatInterval?: number;
  maxConnections?: number;
  maxSendBuffer?: number;
  sendHighWaterMark?: number;
  closeTimeout?: number;
  handshakeTimeout?: number;
  maxPushBody?: number;
  shutdownTimeout?: number;
  /**
   * permessage-deflate (RFC 7692) on /ws and /chat: on by default, negotiated so that no
   * compression context is kept between messages (see WebSocketServerOptions.perMessageDeflate).
   * `false` turns it off.
   */
  perMessageDeflate?: WebSocketServerOptions['perMessageDeflate'];
  /** Folder of static files; the package's public/ by default. */
  publicDir?: string;
  /** Folder of the browser build of FramecastClient, served as /framecast.js; the package's dist/browser/ by default. */
  browserClientDir?: string;
  logger?: Logger;
  /** Interval of the activity summary logged at info, in ms (0: none); see ServerDefaults.summaryInterval. */
  summaryInterval?: number;
  /**
   * Builds the hub; the in-process hub by default. `everyone` are the raw client sets a
   * channel-less push reaches (also in `context`, with the framecast.v1 ones and the history limits).
   */
  createHub?: (everyone: readonly ReadonlySet<WebSocketConnection>[], context: HubContext) => Hub;
  /** Publications kept per channel for framecast.v1 recovery (default 100; 0 for none). */
  historySize?: number;
  /** How long a publication stays in the history, in ms (default 300 s). */
  historyTtl?: number;
  /** Bytes all histories together may hold (default 64 MiB). */
  historyMemory?: number;
  /** Whether framecast.v1 clients may publish (default true). */
  clientPublish?: boolean;
}

/** A running (or ready to run) framecast service. */
export interface Framecast {
  /** node:http's server; node:http2's with `tls` (serving HTTP/1.1 too) or `h2c`. */
  readonly server: WebSocketHttpServer;
  readonly echo: WebSocketServer;
  readonly chat: WebSocketServer;
  /** The protocol inspector at `/inspect`; its clients get no pushes. */
  readonly inspector: WebSocketServer;
  /** framecast.v1 at `/pubsub` (docs/pubsub.md). */
  readonly pubsub: WebSocketServer;
  readonly hub: Hub;
  readonly metrics: Metrics;
  /** Starts listening; resolves with the bound address. */
  listen(port: number, host?: string): Promise<AddressInfo>;
  /**
   * With `tls`: serve this certificate to connections made from now on (e.g. renewed, reread on
   * SIGHUP); open connections keep theirs. Throws without `tls`, or when the pair is not valid.
   */
  setCertificate(credentials: TlsCredentials): void;
  /** Graceful shutdown: stop accepting, close every WebSocket with 1001, wait, then end the rest. */
  close(): Promise<void>;
}

/** The chat channel named by a request's `channel` query parameter, or the default. */
function channelOf(request: IncomingMessage): string {
  return queryParameter(request.url ?? '/', 'channel') ?? ServerDefaults.defaultChannel;
}

function parseUrl(request: IncomingMessage): URL | undefined {
  try {
    return new URL(request.url ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}

const chatChannelOf = new WeakMap<WebSocketConnection, string>();

/** Echo endpoint: each message back as it came. A named listener shared by all connections. */
function echoMessage(this: WebSocketConnection, data: Buffer, isBinary: boolean): void {
  this.send(data, isBinary);
}

/** Builds the framecast service. Call `listen` to start it. */
export function createFramecast(options: FramecastOptions = {}): Framecast {
  const logger = options.logger ?? silentLogger;
  const metrics = new Metrics();
  const publicDir = options.publicDir ?? PUBLIC_DIR;
  const browserClientDir = options.browserClientDir ?? BROWSER_CLIENT_DIR;
  const maxChannel = ServerDefaults.maxChannelNameLength;
  const handshakeTimeout = options.handshakeTimeout ?? ServerDefaults.handshakeTimeout;

  const server = createHttpServer(options, handshakeTimeout);

  const common: WebSocketServerOptions = {
    maxMessageSize: options.maxMessageSize,
    heartbeatInterval: options.heartbeatInterval,
    maxConnections: options.maxConnections,
    maxSendBuffer: options.maxSendBuffer,
    sendHighWaterMark: options.sendHighWaterMark,
    closeTimeout: options.closeTimeout,
    allowOrigins: options.allowOrigins,
    metrics,
    logger,
  };
  const compressed: WebSocketServerOptions = { ...common, perMessageDeflate: options.perMessageDeflate ?? true };
  const echo = new WebSocketServer(compressed).attach(server, '/ws');
  const chat = new WebSocketServer({
    ...compressed,
    authenticate(request) {
      if (!isValidChannelName(channelOf(request), maxChannel)) {
        return { status: 400, reason: `channel names are 1-${maxChannel} letters, digits, '-', '_' or '.'` };
      }
      return true;
    },
  }).attach(server, '/chat');

  const inspector = createInspector(common).attach(server, '/inspect');

  const everyone = [echo.clients, chat.clients];
  // The framecast.v1 clients' set exists before its server, which needs the hub.
  const pubsubClients: Array<ReadonlySet<WebSocketConnection>> = [];
  const hubContext: HubContext = {
    everyone,
    pubsubEveryone: pubsubClients,
    history: {
      ...defaultHistoryLimits(),
      ...(options.historySize === undefined ? {} : { size: options.historySize }),
      ...(options.historyTtl === undefined ? {} : { ttl: options.historyTtl }),
      ...(options.historyMemory === undefined ? {} : { memory: options.historyMemory }),
    },
    metrics,
  };
  const hub = options.createHub?.(everyone, hubContext) ?? new InProcessHub(hubContext);
  const pubsub = createPubSubServer(hub, compressed, { clientPublish: options.clientPublish ?? PubSubDefaults.clientPublish }).attach(server, '/pubsub');
  pubsubClients.push(pubsub.clients);

  echo.on('connection', (connection: WebSocketConnection) => connection.on('message', echoMessage));
  chat.on('connection', (connection: WebSocketConnection, request: IncomingMessage) => {
    const channel = channelOf(request);
    chatChannelOf.set(connection, channel);
    hub.join(channel, connection);
    connection.on('message', chatMessage);
  });

  /** Chat endpoint: each message to every member of the sender's channel, sender included. */
  function chatMessage(this: WebSocketConnection, data: Buffer, isBinary: boolean): void {
    const channel = chatChannelOf.get(this);
    if (channel === undefined) return;
    hub.publish(channel, data, isBinary).catch((error: unknown) => {
      logger.warn(`chat publish failed: ${describeError(error)}`);
      // The message could not be relayed: tell the sender rather than drop it silently.
      if (this.readyState === ReadyState.Open) this.close(CloseCode.TryAgainLater, 'message broker unavailable or not keeping up');
    });
  }

  /** Something threw while answering a request: answer 500 if still possible. */
  function requestFailed(response: ServerResponse, error: unknown): void {
    logger.error(`request failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    if (!response.headersSent) {
      response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      response.end('internal error\n');
    } else {
      response.destroy();
    }
  }

  (server as Server).on('request', (request: IncomingMessage, response: ServerResponse) => {
    try {
      route(request, response);
    } catch (error) {
      requestFailed(response, error);
    }
  });

  const historyOptions: HistoryHttpOptions = {
    hub,
    logger,
    pushToken: options.pushToken,
    allowOrigins: allowedOriginSet(options.allowOrigins),
    isValidChannel: (name) => isValidChannelName(name, maxChannel),
  };
  const pushOptions: PushOptions = {
    hub,
    metrics,
    logger,
    pushToken: options.pushToken,
    maxBody: options.maxPushBody ?? ServerDefaults.maxPushBody,
    allowOrigins: allowedOriginSet(options.allowOrigins),
  };

  /**
   * Synchronous up to the handler, so that a push costs no promise on the way in. Only static
   * files need the target parsed as a URL (for its normalised path); the fixed routes match
   * the path as sent and read the query with a scanner (request-target.ts).
   */
  function route(request: IncomingMessage, response: ServerResponse): void {
    const target = request.url ?? '/';
    switch (pathOf(target)) {
      case '/healthz': {
        const body = JSON.stringify({ status: 'ok', connections: metrics.connectionsOpen, ...hub.health() }) + '\n';
        response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
        response.end(body);
        return;
      }
      case '/metrics':
        response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
        response.end(metrics.render(hub.metricLines()));
        return;
      case '/push': {
        const channel = queryParameter(target, 'channel');
        return handlePush(request, response, channel, channel !== null && isValidChannelName(channel, maxChannel), pushOptions);
      }
      case '/history':
        return handleHistory(request, response, historyOptions);
      case '/ws':
      case '/chat':
      case '/pubsub':
      case '/inspect':
        if (request.httpVersionMajor === 2) {
          // HTTP/2 has no Upgrade (RFC 9113 8.6): a WebSocket is opened with an extended CONNECT.
          response.writeHead(405, { 'content-type': 'text/plain; charset=utf-8', allow: 'CONNECT' });
          response.end('this endpoint speaks WebSocket: over HTTP/2 send an extended CONNECT with :protocol websocket (RFC 8441 4)\n');
          return;
        }
        // A plain HTTP request to a WebSocket endpoint (RFC 7231 6.5.15: 426 names the protocol to upgrade to).
        response.writeHead(426, { 'content-type': 'text/plain; charset=utf-8', upgrade: 'websocket', connection: 'Upgrade' });
        response.end('this endpoint speaks WebSocket: send a GET with Upgrade: websocket (RFC 6455 4.1)\n');
        return;
      default: {
        const url = parseUrl(request);
        if (url === undefined) {
          response.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
          response.end('bad request target\n');
          return;
        }
        const served = isBrowserClientPath(url.pathname)
          ? serveBrowserClient(browserClientDir, url.pathname, request, response)
          : serveStatic(publicDir, url.pathname, request, response);
        served.catch((error: unknown) => requestFailed(response, error));
        return;
      }
    }
  }

  /** Stops the activity summary; started by `listen`. */
  let stopSummary = (): void => undefined;

  return {
    server,
    echo,
    chat,
    inspector,
    pubsub,
    hub,
    metrics,
    setCertificate(credentials: TlsCredentials): void {
      if (options.tls === undefined) throw new Error('setCertificate needs a server made with the tls option');
      // Connections already open keep the context they were made with: none is dropped.
      (server as Http2SecureServer).setSecureContext({ cert: credentials.cert, key: credentials.key });
    },
    listen(port: number, host?: string): Promise<AddressInfo> {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          if (options.pushToken === undefined) {
            logger.warn('no push token configured: POST /push is accepted from loopback addresses only');
          }
          stopSummary();
          stopSummary = startActivitySummary(metrics, logger, options.summaryInterval ?? ServerDefaults.summaryInterval);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    async close(): Promise<void> {
      stopSummary();
      server.close();
      closeIdleConnections(server);
      const timeout = options.shutdownTimeout ?? ServerDefaults.shutdownTimeout;
      await Promise.all([
        echo.close(CloseCode.GoingAway, 'server shutting down', timeout),
        chat.close(CloseCode.GoingAway, 'server shutting down', timeout),
        inspector.close(CloseCode.GoingAway, 'server shutting down', timeout),
        pubsub.close(CloseCode.GoingAway, 'server shutting down', timeout),
      ]);
      await hub.close();
      closeAllConnections(server);
    },
  };
}

/**
 * The HTTP server: node:http's for plain HTTP/1.1; with TLS, node:http2's secure server offering
 * h2 and http/1.1 by ALPN; with `h2c`, node:http2's cleartext one, which takes HTTP/2 with prior
 * knowledge only (`allowHTTP1` applies to TLS alone in Node 20). Both of node:http2's advertise SETTINGS_ENABLE_CONNECT_PROTOCOL
 * (RFC 8441 3), without which no client may send an extended CONNECT.
 */
function createHttpServer(options: FramecastOptions, handshakeTimeout: number): WebSocketHttpServer {
  const http1 = {
    headersTimeout: handshakeTimeout,
    requestTimeout: Math.max(HttpDefaults.requestTimeout, handshakeTimeout),
    connectionsCheckingInterval: HttpDefaults.connectionsCheckingInterval,
  };
  if (options.tls === undefined && options.h2c !== true) {
    const server = createServer(http1);
    server.maxHeadersCount = HttpDefaults.maxHeadersCount;
    return server;
  }
  const http2 = {
    allowHTTP1: true,
    settings: { enableConnectProtocol: true, maxConcurrentStreams: HttpDefaults.http2MaxConcurrentStreams },
    maxSessionMemory: HttpDefaults.http2MaxSessionMemory,
    // HTTP/1.1 requests on this server are parsed by node:http, with its own options.
    ...http1,
  };
  const server: Http2SecureServer | Http2Server =
    options.tls === undefined ? createH2cServer(http2) : createSecureServer({ ...http2, cert: options.tls.cert, key: options.tls.key });
  return server;
}

/** Closes idle HTTP/1.1 keep-alive connections; node:http2's server closes idle sessions itself on close(). */
function closeIdleConnections(server: WebSocketHttpServer): void {
  if ('closeIdleConnections' in server) server.closeIdleConnections();
}

function closeAllConnections(server: WebSocketHttpServer): void {
  if ('closeAllConnections' in server) server.closeAllConnections();
}
