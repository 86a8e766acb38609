/**
 * The reference: framecast's contract served with the `ws` package, the idiomatic fast way.
 *
 * - `GET /ws`: echo, same opcode back. `GET /chat?channel=NAME`: broadcast to the channel's
 *   members, sender included. `POST /push?channel=NAME`: the body to the channel (binary with
 *   Content-Type application/octet-stream; text must be UTF-8), 202 {"channel","recipients"};
 *   loopback only. No channel: every open WebSocket.
 * - One `WebSocketServer` in noServer mode behind a plain node:http server, no
 *   permessage-deflate (the ws default on servers), no client tracking (channels are our own
 *   Sets), the ws idiom `client.send(data, { binary: isBinary })` to broadcast.
 *
 * Run plain with WS_NO_BUFFER_UTIL=1 WS_NO_UTF_8_VALIDATE=1, or with the bufferutil and
 * utf-8-validate addons installed and those variables unset (ws picks the addons up itself).
 *
 * `--per-message-deflate`: the same server with `perMessageDeflate: true`, ws's own defaults
 * for everything else (context takeover both ways, 15-bit windows, messages under 1024 bytes
 * sent uncompressed, zlib's default level, at most 10 zlib operations at once), as the
 * compressed fan-out benchmark compares against.
 */
import { isUtf8 } from 'node:buffer';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { listenArgs } from './args.js';
import { CHANNEL_NAME, DEFAULT_CHANNEL, isLoopback, MAX_MESSAGE_BYTES, MAX_PUSH_BODY } from './contract.js';

const DEFLATE_FLAG = '--per-message-deflate';
const argv = process.argv.slice(2);
const perMessageDeflate = argv.includes(DEFLATE_FLAG);

const channels = new Map<string, Set<WebSocket>>();
const everyone = new Set<WebSocket>();
const wss = new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate });

function broadcast(members: Iterable<WebSocket>, data: RawData | Buffer, isBinary: boolean): number {
  let count = 0;
  for (const client of members) {
    if (client.readyState === WebSocket.OPEN) {
      client.send(data, { binary: isBinary });
      count++;
    }
  }
  return count;
}

function ignoreError(): void {
  // A peer that breaks the protocol: ws closes the connection with the right code and emits
  // 'error' as well, which, with no listener, would end the process. Idiomatic ws code listens.
}

function track(ws: WebSocket): void {
  everyone.add(ws);
  ws.on('close', () => everyone.delete(ws));
  ws.on('error', ignoreError);
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

const server = createServer((request: IncomingMessage, response: ServerResponse) => {
  const url = new URL(request.url ?? '/', 'http://localhost');
  if (url.pathname !== '/push' || request.method !== 'POST') {
    response.writeHead(404).end();
    return;
  }
  if (!isLoopback(request.socket.remoteAddress ?? '')) {
    response.writeHead(403).end();
    return;
  }
  const channel = url.searchParams.get('channel');
  if (channel !== null && !CHANNEL_NAME.test(channel)) {
    response.writeHead(400).end();
    return;
  }
  const chunks: Buffer[] = [];
  let length = 0;
  request.on('data', (chunk: Buffer) => {
    length += chunk.length;
    chunks.push(chunk);
  });
  request.on('end', () => {
    if (length > MAX_PUSH_BODY) {
      response.writeHead(413).end();
      return;
    }
    const body = Buffer.concat(chunks, length);
    const isBinary = (request.headers['content-type'] ?? '').startsWith('application/octet-stream');
    if (!isBinary && !isUtf8(body)) {
      response.writeHead(400).end();
      return;
    }
    const members = channel === null ? everyone : channels.get(channel);
    const recipients = members === undefined ? 0 : broadcast(members, body, isBinary);
    const text = JSON.stringify({ channel, recipients }) + '\n';
    response.writeHead(202, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    response.end(text);
  });
});

server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
  const url = new URL(request.url ?? '/', 'http://localhost');
  if (url.pathname === '/ws') {
    wss.handleUpgrade(request, socket, head, (ws) => {
      track(ws);
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
    return;
  }
  if (url.pathname === '/chat') {
    const channel = url.searchParams.get('channel') ?? DEFAULT_CHANNEL;
    if (!CHANNEL_NAME.test(channel)) return refuse(socket, 400, 'Bad Request');
    wss.handleUpgrade(request, socket, head, (ws) => {
      track(ws);
      let members = channels.get(channel);
      if (members === undefined) {
        members = new Set();
        channels.set(channel, members);
      }
      members.add(ws);
      ws.on('message', (data, isBinary) => broadcast(members, data, isBinary));
      ws.on('close', () => {
        members.delete(ws);
        if (members.size === 0 && channels.get(channel) === members) channels.delete(channel);
      });
    });
    return;
  }
  refuse(socket, 404, 'Not Found');
});

const { port, host } = listenArgs(argv.filter((arg) => arg !== DEFLATE_FLAG));
server.listen(port, host);
process.on('SIGTERM', () => process.exit(0));
