/**
 * Graceful shutdown: `framecast.close()` stops accepting, closes every WebSocket (echo and
 * chat) with 1001 Going Away (RFC 6455 7.4.1), waits for the closing handshakes up to the
 * shutdown timeout, destroys whatever did not answer, and resolves.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { closed, openClient, startFramecast } from '../helpers/framecast.js';
import { RawWebSocket } from '../helpers/raw-socket.js';

const SHUTDOWN_TIMEOUT = 400;
/** A shutdown timeout no test waits for unless the server wrongly waits for it. */
const PATIENT_SHUTDOWN_TIMEOUT = 20_000;

describe('graceful shutdown', () => {
  it('sends 1001 to every echo and chat client and resolves once they have answered', async () => {
    const app = await startFramecast({ heartbeatInterval: 0, shutdownTimeout: PATIENT_SHUTDOWN_TIMEOUT });
    const clients = await Promise.all([
      openClient(`${app.wsUrl}/ws`),
      openClient(`${app.wsUrl}/ws`),
      openClient(`${app.wsUrl}/chat?channel=a`),
      openClient(`${app.wsUrl}/chat?channel=b`),
    ]);
    const closes = clients.map((client) => closed(client));
    const startedAt = Date.now();
    await app.close();
    // Every client answered, so the shutdown did not wait for its timeout (timers never fire early).
    expect(Date.now() - startedAt).toBeLessThan(PATIENT_SHUTDOWN_TIMEOUT);
    for (const close of await Promise.all(closes)) expect(close).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(app.framecast.echo.clients.size).toBe(0);
    expect(app.framecast.chat.clients.size).toBe(0);
    expect(app.framecast.metrics.connectionsOpen).toBe(0);
  });

  it('destroys a client that never answers the Close once the shutdown timeout has passed', async () => {
    // The per-connection close timeout is longer, so only the shutdown timeout can end it.
    const app = await startFramecast({ heartbeatInterval: 0, shutdownTimeout: SHUTDOWN_TIMEOUT, closeTimeout: 30_000 });
    const polite = await openClient(`${app.wsUrl}/ws`);
    const politeClosed = closed(polite);
    const deaf = await RawWebSocket.open(app.port, '/chat?channel=deaf');
    const startedAt = Date.now();
    await app.close();
    const took = Date.now() - startedAt;
    expect(took).toBeGreaterThanOrEqual(SHUTDOWN_TIMEOUT - 20);
    // Ended by the shutdown timeout, long before the close timeout (with room for a loaded machine).
    expect(took).toBeLessThan(SHUTDOWN_TIMEOUT + 10_000);
    // The deaf client was told (1001), then cut off.
    expect((await deaf.waitForClose()).code).toBe(1001);
    await deaf.waitForSocketClose(1_000);
    expect((await politeClosed).code).toBe(1001);
    expect(app.framecast.chat.clients.size).toBe(0);
  });

  it('after close() the port accepts no connections', async () => {
    const app = await startFramecast({ heartbeatInterval: 0 });
    await app.close();
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const socket = connect(app.port, '127.0.0.1');
      socket.once('error', resolve);
      socket.once('connect', () => {
        socket.destroy();
        resolve(Object.assign(new Error('connected'), { code: 'CONNECTED' }));
      });
    });
    expect(error.code).toBe('ECONNREFUSED');
  });
});
