/**
 * The reference: an echo server on the `ws` package (a dev dependency, never used by src/),
 * answering every message with the same opcode, as framecast's /ws does. The conformance record
 * in docs/conformance.md runs the suite against both. permessage-deflate is enabled with ws's
 * defaults (context takeover both ways, messages under 1 KiB sent uncompressed), for section 11;
 * the other sections offer no extension, so it changes nothing for them.
 */
import type { AddressInfo } from 'node:net';
import { type RawData, WebSocketServer } from 'ws';

export interface ReferenceServer {
  /** ws://127.0.0.1:PORT/ws */
  readonly url: string;
  close(): Promise<void>;
}

/** Starts a `ws` echo server on a free loopback port with `maxPayload` as its message limit. */
export function startWsReference(maxPayload: number): Promise<ReferenceServer> {
  return new Promise((resolve, reject) => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload, perMessageDeflate: true });
    server.on('connection', (socket) => {
      socket.on('message', (data: RawData, isBinary: boolean) => socket.send(data as Buffer, { binary: isBinary }));
      socket.on('error', () => {
        // Protocol errors close the connection; ws reports them here too.
      });
    });
    server.once('error', reject);
    server.once('listening', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `ws://127.0.0.1:${port}/ws`,
        close: () =>
          new Promise<void>((done) => {
            for (const client of server.clients) client.terminate();
            server.close(() => done());
          }),
      });
    });
  });
}
