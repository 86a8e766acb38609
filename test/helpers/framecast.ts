/** Test helpers: a framecast service on a free loopback port, and a `ws` client that waits for what it needs. */
import WebSocket from 'ws';
import { createFramecast, type Framecast, type FramecastOptions } from '../../src/server/app.js';

export interface RunningFramecast {
  readonly framecast: Framecast;
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly httpUrl: string;
  /** ws://127.0.0.1:PORT */
  readonly wsUrl: string;
  close(): Promise<void>;
}

/** Starts framecast on 127.0.0.1 and an OS-chosen port. Remember to `close()` it. */
export async function startFramecast(options: FramecastOptions = {}): Promise<RunningFramecast> {
  const framecast = createFramecast(options);
  const address = await framecast.listen(0, '127.0.0.1');
  return {
    framecast,
    port: address.port,
    httpUrl: `http://127.0.0.1:${address.port}`,
    wsUrl: `ws://127.0.0.1:${address.port}`,
    close: () => framecast.close(),
  };
}

/** Opens a `ws` client and resolves once it is open (rejects on error or unexpected response). */
export function openClient(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const client = new WebSocket(url, options);
    client.once('open', () => resolve(client));
    client.once('error', reject);
    client.once('unexpected-response', (_request, response) => reject(new Error(`unexpected response ${response.statusCode}`)));
  });
}

/** Resolves with the next `count` messages of a client, as [data, isBinary] pairs. */
export function nextMessages(client: WebSocket, count: number): Promise<Array<[Buffer, boolean]>> {
  return new Promise((resolve) => {
    const received: Array<[Buffer, boolean]> = [];
    const onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
      received.push([Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), isBinary]);
      if (received.length === count) {
        client.off('message', onMessage);
        resolve(received);
      }
    };
    client.on('message', onMessage);
  });
}

/** Resolves with the close code and reason a client sees. */
export function closed(client: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => client.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}
