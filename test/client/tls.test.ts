/**
 * wss: URLs: TLS through node:tls with the options passed through (a CA, rejectUnauthorized),
 * the certificate checked against the URL's host, and no redirect from wss: to ws:. The server
 * is `ws` on an https server with a self-signed certificate made for the test.
 * (NODE_EXTRA_CA_CERTS, which needs a fresh process, is tested in package.test.ts.)
 */
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { WebSocket } from '../../src/client/index.js';
import { makeSelfSignedCertificate, type SelfSignedCertificate, tlsTestsEnabled } from '../helpers/tls-cert.js';
import { closing, echo, nextEvent, openWebSocket } from '../helpers/websocket-client.js';

const enabled = tlsTestsEnabled('test/client/tls.test.ts');

describe.runIf(enabled)('wss: (TLS)', () => {
  let certificate: SelfSignedCertificate;
  let server: Server;
  let port: number;
  let redirecting: Server;
  let redirectingPort: number;

  beforeAll(async () => {
    certificate = makeSelfSignedCertificate();
    server = createHttpsServer({ cert: certificate.cert, key: certificate.key });
    const wss = new WebSocketServer({ server });
    wss.on('connection', echo);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    // Answers every upgrade with a redirect to plain ws: on the same port.
    redirecting = createHttpsServer({ cert: certificate.cert, key: certificate.key });
    redirecting.on('upgrade', (_request, socket) => socket.end(`HTTP/1.1 302 Found\r\nLocation: ws://localhost:${port}/\r\nContent-Length: 0\r\n\r\n`));
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    redirectingPort = (redirecting.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    redirecting.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await new Promise((resolve) => redirecting.close(resolve));
    certificate.remove();
  });

  it('connects with the CA given in tls, by host name and by IP address, and echoes', async () => {
    for (const host of ['localhost', '127.0.0.1']) {
      const socket = await openWebSocket(`wss://${host}:${port}/secure`, { tls: { ca: certificate.cert } });
      const reply = nextEvent<MessageEvent>(socket, 'message');
      socket.send(`over TLS to ${host}`);
      expect((await reply).data).toBe(`over TLS to ${host}`);
      const closed = closing(socket);
      socket.close();
      expect((await closed).close.wasClean).toBe(true);
    }
  });

  it("refuses a certificate Node's CAs do not trust, with CONNECT_FAILED and Node's reason", async () => {
    const socket = new WebSocket(`wss://localhost:${port}/`);
    const { close, error } = await closing(socket);
    expect(error?.error.code).toBe('CONNECT_FAILED');
    expect((error?.error.cause as NodeJS.ErrnoException).code).toMatch(/SELF_SIGNED/);
    expect(close.code).toBe(1006);
  });

  it('passes the tls options through: rejectUnauthorized: false connects anyway', async () => {
    const socket = await openWebSocket(`wss://localhost:${port}/`, { tls: { rejectUnauthorized: false } });
    socket.close();
  });

  it('checks the certificate against the host of the URL, unless servername says otherwise', async () => {
    // The certificate names localhost and 127.0.0.1: as "example.test" it is refused.
    const refused = new WebSocket(`wss://127.0.0.1:${port}/`, { tls: { ca: certificate.cert, servername: 'example.test' } });
    const { error } = await closing(refused);
    expect(error?.error.code).toBe('CONNECT_FAILED');
    expect(String(error?.error.message)).toMatch(/example\.test/);
  });

  it('does not follow a redirect from wss: to ws:, even with followRedirects', async () => {
    const socket = new WebSocket(`wss://localhost:${redirectingPort}/`, { tls: { ca: certificate.cert }, followRedirects: true });
    const { error } = await closing(socket);
    expect(error?.error.code).toBe('REDIRECT_REFUSED');
    expect(error?.error.status).toBe(302);
  });
});
