/**
 * The uWebSockets.js reference: framecast's contract served by uWS (C++ behind a Node addon),
 * the idiomatic fast way. The addon is installed by the benchmark on demand (see
 * bench/on-demand-packages.ts) and loaded from its file directly: the npm build's own entry
 * point would silently fall back to a ws-based imitation when the addon does not load.
 *
 * The same contract as ws-server.ts:
 * - `GET /ws`: echo, same opcode back. `GET /chat?channel=NAME`: broadcast to the channel's
 *   members, sender included. `POST /push?channel=NAME`: the body to the channel (binary with
 *   Content-Type application/octet-stream; text must be UTF-8), 202 {"channel","recipients"};
 *   loopback only; bodies over 1 MiB 413. No channel: every open WebSocket.
 * - Channels are uWS topics (`subscribe`, `app.publish`, which frames once and includes the
 *   sender); every socket also joins one topic for "every open WebSocket". No compression,
 *   messages up to 16 MiB.
 */
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import { uwsAddonPath } from '../on-demand-packages.js';
import { listenArgs } from './args.js';
import { CHANNEL_NAME, DEFAULT_CHANNEL, EVERYONE_TOPIC as EVERYONE, isLoopback, MAX_MESSAGE_BYTES, MAX_PUSH_BODY } from './contract.js';
/** uWS's CompressOptions: DISABLED. */
const NO_COMPRESSION = 0;
/** Seconds of silence before uWS closes a socket; 0 turns it off, like the other servers. */
const NO_IDLE_TIMEOUT = 0;
/** Bytes queued per socket before uWS stops delivering publications to it. */
const MAX_BACKPRESSURE = 64 * 1024 * 1024;

/** The little of uWS's API this server uses (its types are not installed). */
interface UwsSocket {
  getUserData(): { channel: string | null };
  send(message: ArrayBuffer, isBinary: boolean): number;
  subscribe(topic: string): boolean;
}
interface UwsResponse {
  writeStatus(status: string): UwsResponse;
  writeHeader(key: string, value: string): UwsResponse;
  end(body?: string | Uint8Array): UwsResponse;
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): UwsResponse;
  onAborted(handler: () => void): UwsResponse;
  getRemoteAddressAsText(): ArrayBuffer;
  cork(work: () => void): UwsResponse;
  upgrade(userData: object, key: string, protocol: string, extensions: string, context: unknown): void;
}
interface UwsRequest {
  getQuery(name: string): string | undefined;
  getHeader(name: string): string;
}
interface UwsApp {
  ws(pattern: string, behavior: object): UwsApp;
  post(pattern: string, handler: (response: UwsResponse, request: UwsRequest) => void): UwsApp;
  any(pattern: string, handler: (response: UwsResponse, request: UwsRequest) => void): UwsApp;
  publish(topic: string, message: ArrayBuffer, isBinary: boolean): boolean;
  numSubscribers(topic: string): number;
  listen(host: string, port: number, done: (token: unknown) => void): UwsApp;
}
const uws = createRequire(import.meta.url)(uwsAddonPath()) as { App(): UwsApp };

const app = uws.App();

function status(response: UwsResponse, line: string): void {
  response.cork(() => response.writeStatus(line).end());
}

/** The upgrade of /chat: the channel from the query, kept as the socket's user data. */
function upgradeTo(channel: string | null, response: UwsResponse, request: UwsRequest, context: unknown): void {
  response.upgrade(
    { channel },
    request.getHeader('sec-websocket-key'),
    request.getHeader('sec-websocket-protocol'),
    request.getHeader('sec-websocket-extensions'),
    context,
  );
}

const behavior = { compression: NO_COMPRESSION, maxPayloadLength: MAX_MESSAGE_BYTES, idleTimeout: NO_IDLE_TIMEOUT, maxBackpressure: MAX_BACKPRESSURE };

app.ws('/ws', {
  ...behavior,
  upgrade: (response: UwsResponse, request: UwsRequest, context: unknown) => upgradeTo(null, response, request, context),
  open: (ws: UwsSocket) => ws.subscribe(EVERYONE),
  message: (ws: UwsSocket, message: ArrayBuffer, isBinary: boolean) => ws.send(message, isBinary),
});

app.ws('/chat', {
  ...behavior,
  upgrade: (response: UwsResponse, request: UwsRequest, context: unknown) => {
    const channel = request.getQuery('channel') || DEFAULT_CHANNEL;
    if (!CHANNEL_NAME.test(channel)) return status(response, '400 Bad Request');
    upgradeTo(channel, response, request, context);
  },
  open: (ws: UwsSocket) => {
    ws.subscribe(EVERYONE);
    ws.subscribe(ws.getUserData().channel as string);
  },
  message: (ws: UwsSocket, message: ArrayBuffer, isBinary: boolean) => app.publish(ws.getUserData().channel as string, message, isBinary),
});

app.post('/push', (response, request) => {
  // The request object is valid only until this handler returns: read everything now.
  const address = Buffer.from(response.getRemoteAddressAsText()).toString();
  const channel = request.getQuery('channel') ?? null;
  const isBinary = request.getHeader('content-type').startsWith('application/octet-stream');
  if (!isLoopback(address)) return status(response, '403 Forbidden');
  if (channel !== null && !CHANNEL_NAME.test(channel)) return status(response, '400 Bad Request');
  const chunks: Buffer[] = [];
  let length = 0;
  let aborted = false;
  response.onAborted(() => {
    aborted = true;
  });
  response.onData((chunk, isLast) => {
    // uWS reuses the chunk's memory after this call: copy it.
    length += chunk.byteLength;
    if (length <= MAX_PUSH_BODY) chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (!isLast || aborted) return;
    if (length > MAX_PUSH_BODY) return status(response, '413 Payload Too Large');
    const body = Buffer.concat(chunks, length);
    if (!isBinary && !isUtf8(body)) return status(response, '400 Bad Request');
    const topic = channel ?? EVERYONE;
    const recipients = app.numSubscribers(topic);
    app.publish(topic, body.buffer.slice(body.byteOffset, body.byteOffset + body.length), isBinary);
    response.cork(() =>
      response
        .writeStatus('202 Accepted')
        .writeHeader('content-type', 'application/json; charset=utf-8')
        .end(JSON.stringify({ channel, recipients }) + '\n'),
    );
  });
});

app.any('/*', (response) => status(response, '404 Not Found'));

const { port, host } = listenArgs(process.argv.slice(2));
app.listen(host, port, (token) => {
  if (!token) {
    console.error(`uws-server: cannot listen on ${host}:${port}`);
    process.exit(1);
  }
});
process.on('SIGTERM', () => process.exit(0));
