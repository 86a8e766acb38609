/**
 * The Node client over HTTP/2 (`{ http2: true }`, RFC 8441) against framecast: wss: with TLS
 * (ALPN h2) and ws: over h2c, the server seeing an HTTP/2 transport; a subprotocol and
 * permessage-deflate agreed; a clean close; and a server that does not announce
 * SETTINGS_ENABLE_CONNECT_PROTOCOL refused before any CONNECT is sent.
 */
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from '../../src/client/index.js';
import { startFramecast, type RunningFramecast } from '../helpers/framecast.js';
import { makeSelfSignedCertificate, type SelfSignedCertificate, tlsTestsEnabled } from '../helpers/tls-cert.js';
import { waitUntil } from '../helpers/wait.js';
import { closing, nextEvent, openWebSocket } from '../helpers/websocket-client.js';

const enabled = tlsTestsEnabled('test/client/http2.test.ts');

describe.runIf(enabled)('WebSocket with { http2: true }', () => {
  let certificate: SelfSignedCertificate;
  let running: RunningFramecast;
  let h2c: RunningFramecast;
  let plainHttp2: Http2SecureServer;
  let plainPort: number;
  let connectsSeen = 0;

  beforeAll(async () => {
    certificate = makeSelfSignedCertificate();
    running = await startFramecast({ tls: { cert: certificate.cert, key: certificate.key }, heartbeatInterval: 0 });
    h2c = await startFramecast({ h2c: true, heartbeatInterval: 0 });
    // HTTP/2 without SETTINGS_ENABLE_CONNECT_PROTOCOL: the client must not send a CONNECT to it.
    plainHttp2 = createSecureServer({ cert: certificate.cert, key: certificate.key });
    plainHttp2.on('stream', () => connectsSeen++);
    await new Promise<void>((resolve) => plainHttp2.listen(0, '127.0.0.1', resolve));
    plainPort = (plainHttp2.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await running.close();
    await h2c.close();
    await new Promise((resolve) => plainHttp2.close(resolve));
    certificate.remove();
  });

  it('echoes over wss: on an HTTP/2 stream, which the server sees as transport http2', async () => {
    const socket = await openWebSocket(`wss://localhost:${running.port}/ws`, { http2: true, tls: { ca: certificate.cert } });
    await waitUntil(() => running.framecast.echo.clients.size === 1);
    expect([...running.framecast.echo.clients][0].transport).toBe('http2');
    expect(socket.extensions).toMatch(/^permessage-deflate/);
    const reply = nextEvent<MessageEvent>(socket, 'message');
    socket.send('over RFC 8441, compressed '.repeat(20));
    expect((await reply).data).toBe('over RFC 8441, compressed '.repeat(20));
    const closed = closing(socket);
    socket.close(1000, 'done');
    const { close } = await closed;
    expect(close.wasClean).toBe(true);
    expect(close.code).toBe(1000);
    await waitUntil(() => running.framecast.echo.clients.size === 0);
  });

  it('agrees on a subprotocol over HTTP/2', async () => {
    const socket = await openWebSocket(`wss://localhost:${running.port}/pubsub`, { http2: true, tls: { ca: certificate.cert }, protocols: ['framecast.v1'] });
    expect(socket.protocol).toBe('framecast.v1');
    socket.close();
  });

  it('reports a refusal as UNEXPECTED_STATUS with the status', async () => {
    const socket = new WebSocket(`wss://localhost:${running.port}/nowhere`, { http2: true, tls: { ca: certificate.cert } });
    const { error, close } = await closing(socket);
    expect(error?.error.code).toBe('UNEXPECTED_STATUS');
    expect(error?.error.message).toMatch(/404/);
    expect(close.code).toBe(1006);
  });

  it('connects over h2c for ws: URLs', async () => {
    const socket = await openWebSocket(`ws://127.0.0.1:${h2c.port}/ws`, { http2: true });
    expect([...h2c.framecast.echo.clients][0].transport).toBe('http2');
    const reply = nextEvent<MessageEvent>(socket, 'message');
    socket.send('over h2c');
    expect((await reply).data).toBe('over h2c');
    socket.close();
  });

  it('refuses a server without SETTINGS_ENABLE_CONNECT_PROTOCOL, having sent no CONNECT', async () => {
    const socket = new WebSocket(`wss://localhost:${plainPort}/ws`, { http2: true, tls: { ca: certificate.cert } });
    const { error } = await closing(socket);
    expect(error?.error.code).toBe('INVALID_HANDSHAKE');
    expect(error?.error.message).toMatch(/SETTINGS_ENABLE_CONNECT_PROTOCOL/);
    expect(connectsSeen).toBe(0);
  });
});
