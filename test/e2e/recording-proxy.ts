/**
 * A TCP proxy on 127.0.0.1 that forwards to a server and records every byte the client sends:
 * an independent witness of what crossed the wire, so a test can check what the inspector page
 * shows against the real frames, masking key included. Its frame reader is deliberately
 * separate from src/protocol: written out from RFC 6455 5.2 for the test.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** One client frame as recorded. */
export interface RecordedFrame {
  fin: boolean;
  opcode: number;
  payloadLength: number;
  /** All header bytes: the first two, the extended length, the masking key. */
  header: Buffer;
  maskingKey: Buffer;
  /** The payload as sent: masked. */
  maskedPayload: Buffer;
}

export interface RecordingProxy {
  readonly port: number;
  /** Everything the client sent on each connection, in connection order. */
  readonly connections: Buffer[][];
  close(): Promise<void>;
}

export async function startRecordingProxy(targetPort: number): Promise<RecordingProxy> {
  const connections: Buffer[][] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const received: Buffer[] = [];
    connections.push(received);
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      received.push(Buffer.from(chunk));
      upstream.write(chunk);
    });
    upstream.pipe(client);
    client.on('end', () => upstream.end());
    const forget = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', forget).on('error', forget);
    upstream.on('close', forget).on('error', forget);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The bytes a client sent on the connection whose request line starts with `GET <path>`. */
export function upgradeConnection(proxy: RecordingProxy, path: string): Buffer | undefined {
  const prefix = `GET ${path} `;
  for (const chunks of proxy.connections) {
    const bytes = Buffer.concat(chunks);
    if (bytes.subarray(0, prefix.length).toString('latin1') === prefix) return bytes;
  }
  return undefined;
}

/** Splits a client's bytes into the request head's headers and the complete frames that follow. */
export function readUpgradeStream(bytes: Buffer): { headers: Map<string, string>; frames: RecordedFrame[] } {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd === -1) throw new Error('no complete request head recorded');
  const headers = new Map<string, string>();
  for (const line of bytes.subarray(0, headEnd).toString('latin1').split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const frames: RecordedFrame[] = [];
  let at = headEnd + 4;
  while (at + 2 <= bytes.length) {
    const first = bytes[at];
    const second = bytes[at + 1];
    let length = second & 0x7f;
    let cursor = at + 2;
    if (length === 126) {
      if (cursor + 2 > bytes.length) break;
      length = bytes.readUInt16BE(cursor);
      cursor += 2;
    } else if (length === 127) {
      if (cursor + 8 > bytes.length) break;
      length = Number(bytes.readBigUInt64BE(cursor));
      cursor += 8;
    }
    const masked = (second & 0x80) !== 0;
    const keyEnd = cursor + (masked ? 4 : 0);
    if (keyEnd + length > bytes.length) break;
    frames.push({
      fin: (first & 0x80) !== 0,
      opcode: first & 0x0f,
      payloadLength: length,
      header: bytes.subarray(at, keyEnd),
      maskingKey: bytes.subarray(cursor, keyEnd),
      maskedPayload: bytes.subarray(keyEnd, keyEnd + length),
    });
    at = keyEnd + length;
  }
  return { headers, frames };
}
