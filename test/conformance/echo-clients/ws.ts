#!/usr/bin/env node
/**
 * The echo client for client mode on the `ws` package, the reference client: connects to the
 * case's URL, sends every message back with its opcode, and ends when the connection closes.
 * permessage-deflate is offered, as ws does by default; `maxPayload` is the message limit.
 *
 *     node dist/test/conformance/echo-clients/ws.js [--max-message-size BYTES] ws://127.0.0.1:PORT/CASE
 */
import WebSocket, { type RawData } from 'ws';
import { type EchoClient, runAsScript } from './echo-client.js';

/** Starts an echo client on ws; `maxMessageSize` is its message limit; errors go to `log`. */
export function wsEcho(url: string, maxMessageSize: number, log: (line: string) => void = () => {}): EchoClient {
  const socket = new WebSocket(url, { maxPayload: maxMessageSize, perMessageDeflate: true });
  socket.on('message', (data: RawData, isBinary: boolean) => socket.send(data as Buffer, { binary: isBinary }));
  const closed = new Promise<string>((resolve) => {
    socket.on('error', (error) => log(`error: ${error.message}`));
    socket.on('close', (code) => resolve(`closed ${code}`));
  });
  return { closed, stop: () => socket.terminate() };
}

runAsScript(import.meta.url, wsEcho);
