/**
 * The Bun reference: framecast's contract served by Bun's built-in WebSocket server
 * (`Bun.serve`, native code), the idiomatic fast way. Runs on the `bun` executable, which the
 * benchmark installs on demand (see bench/on-demand-packages.ts), not on Node.
 *
 * The same contract as ws-server.ts:
 * - `GET /ws`: echo, same opcode back. `GET /chat?channel=NAME`: broadcast to the channel's
 *   members, sender included. `POST /push?channel=NAME`: the body to the channel (binary with
 *   Content-Type application/octet-stream; text must be UTF-8), 202 {"channel","recipients"};
 *   loopback only; bodies over 1 MiB 413. No channel: every open WebSocket.
 * - Channels are Bun's own topics (`subscribe`, `server.publish`, which builds the frame once
 *   and includes the sender); every socket also joins one topic for "every open WebSocket".
 *   No permessage-deflate, messages up to 16 MiB.
 */
import { isUtf8 } from 'node:buffer';
import { listenArgs } from './args.js';
import { CHANNEL_NAME, DEFAULT_CHANNEL, EVERYONE_TOPIC as EVERYONE, isLoopback, MAX_MESSAGE_BYTES, MAX_PUSH_BODY } from './contract.js';

const ACCEPTED = 202;

/** What a socket carries from its upgrade: the channel for /chat, null for /ws echo. */
interface SocketData {
  channel: string | null;
}

/** The little of Bun's API this server uses (Bun's own types are not installed). */
interface BunSocket {
  data: SocketData;
  send(data: string | Uint8Array): number;
  subscribe(topic: string): void;
}
interface BunServer {
  upgrade(request: Request, options: { data: SocketData }): boolean;
  publish(topic: string, data: string | Uint8Array): number;
  subscriberCount(topic: string): number;
  requestIP(request: Request): { address: string } | null;
}
declare const Bun: {
  serve(options: {
    port: number;
    hostname: string;
    fetch(request: Request, server: BunServer): Response | undefined | Promise<Response | undefined>;
    websocket: {
      maxPayloadLength: number;
      perMessageDeflate: boolean;
      open(ws: BunSocket): void;
      message(ws: BunSocket, message: string | Uint8Array): void;
    };
  }): BunServer;
};

async function push(request: Request, server: BunServer, channel: string | null): Promise<Response> {
  if (!isLoopback(server.requestIP(request)?.address ?? '')) return new Response(null, { status: 403 });
  if (channel !== null && !CHANNEL_NAME.test(channel)) return new Response(null, { status: 400 });
  const body = new Uint8Array(await request.arrayBuffer());
  if (body.length > MAX_PUSH_BODY) return new Response(null, { status: 413 });
  const isBinary = (request.headers.get('content-type') ?? '').startsWith('application/octet-stream');
  if (!isBinary && !isUtf8(body)) return new Response(null, { status: 400 });
  const topic = channel ?? EVERYONE;
  const recipients = server.subscriberCount(topic);
  server.publish(topic, isBinary ? body : new TextDecoder().decode(body));
  return new Response(JSON.stringify({ channel, recipients }) + '\n', {
    status: ACCEPTED,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}

const { port, host } = listenArgs(process.argv.slice(2));
const serverRef: BunServer = Bun.serve({
  port,
  hostname: host,
  fetch(request, server) {
    const url = new URL(request.url);
    if (url.pathname === '/push' && request.method === 'POST') return push(request, server, url.searchParams.get('channel'));
    if (url.pathname === '/ws') {
      return server.upgrade(request, { data: { channel: null } }) ? undefined : new Response(null, { status: 400 });
    }
    if (url.pathname === '/chat') {
      const channel = url.searchParams.get('channel') ?? DEFAULT_CHANNEL;
      if (!CHANNEL_NAME.test(channel)) return new Response(null, { status: 400 });
      return server.upgrade(request, { data: { channel } }) ? undefined : new Response(null, { status: 400 });
    }
    return new Response(null, { status: 404 });
  },
  websocket: {
    maxPayloadLength: MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
    open(ws) {
      ws.subscribe(EVERYONE);
      if (ws.data.channel !== null) ws.subscribe(ws.data.channel);
    },
    message(ws, message) {
      // Text arrives as a string, binary as bytes; each goes back (or out) as it came.
      if (ws.data.channel === null) ws.send(message);
      else serverRef.publish(ws.data.channel, message);
    },
  },
});
