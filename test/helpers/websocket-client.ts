/**
 * Test helpers for framecast's WebSocket client (src/client): waiting for its events, and a `ws`
 * server on a free loopback port as the independent peer.
 */
import type { AddressInfo } from 'node:net';
import { type ServerOptions, type WebSocket as WsSocket, WebSocketServer } from 'ws';
import { type CloseEvent, type ErrorEvent, WebSocket } from '../../src/client/index.js';

/** Resolves with the next event of `type`; rejects after `timeoutMs`. */
export function nextEvent<E extends Event = Event>(socket: WebSocket, type: string, timeoutMs = 5_000): Promise<E> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${type}' event within ${timeoutMs} ms`)), timeoutMs);
    socket.addEventListener(
      type,
      (event) => {
        clearTimeout(timer);
        resolve(event as E);
      },
      { once: true },
    );
  });
}

/** Resolves once `socket` is open; rejects with the error (or the close) that came instead. */
export function opened(socket: WebSocket): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const onError = (event: Event): void => reject((event as ErrorEvent).error);
    socket.addEventListener('open', () => {
      socket.removeEventListener('error', onError);
      resolve(socket);
    }, { once: true });
    socket.addEventListener('error', onError, { once: true });
  });
}

/** Opens a client and resolves once it is open. */
export function openWebSocket(...args: ConstructorParameters<typeof WebSocket>): Promise<WebSocket> {
  return opened(new WebSocket(...args));
}

/** The 'close' event, and the 'error' event before it if there was one. */
export function closing(socket: WebSocket, timeoutMs = 5_000): Promise<{ close: CloseEvent; error: ErrorEvent | undefined }> {
  let error: ErrorEvent | undefined;
  socket.addEventListener('error', (event) => (error = event as ErrorEvent), { once: true });
  return nextEvent<CloseEvent>(socket, 'close', timeoutMs).then((close) => ({ close, error }));
}

/** Every 'message' event's data from now on, in order. */
export function messagesOf(socket: WebSocket): unknown[] {
  const data: unknown[] = [];
  socket.addEventListener('message', (event) => data.push((event as MessageEvent).data));
  return data;
}

export interface RunningWsServer {
  readonly server: WebSocketServer;
  /** ws://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A `ws` server on 127.0.0.1 and a free port; `onConnection` sets up each connection. */
export async function startWsServer(options: ServerOptions = {}, onConnection?: (socket: WsSocket, request: import('node:http').IncomingMessage) => void): Promise<RunningWsServer> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  if (onConnection !== undefined) server.on('connection', onConnection);
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `ws://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

/** An echo on a `ws` connection: every message back with its opcode. */
export function echo(socket: WsSocket): void {
  socket.on('message', (data, isBinary) => socket.send(data as Buffer, { binary: isBinary }));
}

/** A promise with its resolve function, to hand a value out of a callback. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => (resolve = settle));
  return { promise, resolve };
}
