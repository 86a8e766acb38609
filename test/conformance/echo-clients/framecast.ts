#!/usr/bin/env node
/**
 * The echo client for client mode, on framecast's own WebSocket (src/client): connects to the
 * case's URL, sends every message back with its opcode, and ends when the connection closes.
 *
 *     node dist/test/conformance/echo-clients/framecast.js [--max-message-size BYTES] ws://127.0.0.1:PORT/CASE
 */
import { WebSocket } from '../../../src/client/index.js';
import { type EchoClient, runAsScript } from './echo-client.js';

/** Starts an echo client on framecast's WebSocket; `maxMessageSize` is its message limit; errors go to `log`. */
export function framecastEcho(url: string, maxMessageSize: number, log: (line: string) => void = () => {}): EchoClient {
  const socket = new WebSocket(url, { maxMessageSize });
  socket.binaryType = 'nodebuffer';
  socket.onmessage = (event) => {
    socket.send(event.data as string | Buffer);
  };
  const closed = new Promise<string>((resolve) => {
    socket.onerror = (event) => log(`error: ${event.message}`);
    socket.onclose = (event) => resolve(`closed ${event.code}${event.wasClean ? ' cleanly' : ''}`);
  });
  return { closed, stop: () => socket.close() };
}

runAsScript(import.meta.url, framecastEcho);
