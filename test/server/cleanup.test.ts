/**
 * However a connection ends (a TCP reset halfway through a frame, a half-close without a
 * Close frame, a reset while the server waits for the peer's Close), nothing stays behind: no
 * entry in the server's client set, no channel membership, no timer. The close is reported
 * as 1006 (RFC 6455 7.1.5: the connection closed without a Close frame).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { WebSocketConnection } from '../../src/server/websocket/connection.js';
import { InProcessHub, type LocalChannels } from '../../src/server/hub/hub.js';
import { type RunningFramecast, startFramecast } from '../helpers/framecast.js';
import { clientFrame, RawWebSocket } from '../helpers/raw-socket.js';
import { waitUntil } from '../helpers/wait.js';

/** A long close timeout: if a timer were left running, it would still be there when checked. */
const CLOSE_TIMEOUT = 30_000;

let app: RunningFramecast;
/** Membership as the app's default in-process hub keeps it. */
let channels: LocalChannels;

beforeAll(async () => {
  app = await startFramecast({ heartbeatInterval: 0, closeTimeout: CLOSE_TIMEOUT });
  expect(app.framecast.hub).toBeInstanceOf(InProcessHub);
  channels = (app.framecast.hub as InProcessHub).channels;
});

afterAll(async () => {
  await app.close();
});

/**
 * The close timers connections start from now on: every `setTimeout` of CLOSE_TIMEOUT ms
 * (nothing else here uses that delay). A timer that was cleared, or has fired, is marked
 * destroyed by Node; these cannot have fired within a test, so destroyed means cleared.
 */
function watchCloseTimers(): { started: () => number; stillPending: () => number } {
  const spy = vi.spyOn(globalThis, 'setTimeout');
  cleanups.push(() => spy.mockRestore());
  const closeTimers = (): NodeJS.Timeout[] =>
    spy.mock.calls.flatMap((call, i) => (call[1] === CLOSE_TIMEOUT ? [spy.mock.results[i].value as NodeJS.Timeout] : []));
  return {
    started: () => closeTimers().length,
    stillPending: () => closeTimers().filter((timer) => !(timer as unknown as { _destroyed: boolean })._destroyed).length,
  };
}

let cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** Opens a raw client in `channel` and resolves with both ends. */
async function member(channel: string): Promise<{ raw: RawWebSocket; connection: WebSocketConnection }> {
  const serverSide = new Promise<WebSocketConnection>((resolve) => app.framecast.chat.once('connection', resolve));
  const raw = await RawWebSocket.open(app.port, `/chat?channel=${channel}`);
  return { raw, connection: await serverSide };
}

function closeEvent(connection: WebSocketConnection): Promise<number> {
  return new Promise((resolve) => connection.once('close', resolve));
}

describe('a vanished client leaves nothing behind', () => {
  it('a TCP reset halfway through a frame: no client entry, no membership, no timer, close 1006', async () => {
    const timers = watchCloseTimers();
    const { raw, connection } = await member('reset');
    expect(channels.memberCount('reset')).toBe(1);
    const closedWith = closeEvent(connection);
    const frame = clientFrame(0x2, Buffer.alloc(200_000, 1));
    raw.write(frame.subarray(0, 100_000));
    await waitUntil(() => raw.socket.writableLength === 0, 2_000, 'the half frame to be sent');
    raw.socket.resetAndDestroy();

    expect(await closedWith).toBe(1006);
    expect(connection.readyState).toBe(3);
    expect(app.framecast.chat.clients.has(connection)).toBe(false);
    expect(channels.memberCount('reset')).toBe(0);
    expect([...channels.channelNames()]).not.toContain('reset');
    expect(await app.framecast.hub.publish('reset', 'anyone?', false)).toBe(0);
    expect(timers.stillPending()).toBe(0);
  });

  it('a half-close (FIN) without a Close frame: the server ends too, close 1006, nothing left', async () => {
    const timers = watchCloseTimers();
    const { raw, connection } = await member('fin');
    const closedWith = closeEvent(connection);
    raw.write(clientFrame(0x1, 'half a message', { fin: false }));
    raw.socket.end();
    expect(await closedWith).toBe(1006);
    await raw.waitForSocketClose(2_000);
    expect(app.framecast.chat.clients.has(connection)).toBe(false);
    expect(channels.memberCount('fin')).toBe(0);
    // Ending its side started the close timer (7.1.1); the socket closing cleared it.
    expect(timers.started()).toBe(1);
    expect(timers.stillPending()).toBe(0);
  });

  it('a reset while the server waits for the peer\'s Close clears the close timer at once', async () => {
    const timers = watchCloseTimers();
    const { raw, connection } = await member('closing');
    const closedWith = closeEvent(connection);
    connection.close(1000, 'bye');
    expect((await raw.waitForClose()).code).toBe(1000);
    // The server now waits up to CLOSE_TIMEOUT for our Close: a timer is running.
    expect(timers.started()).toBe(1);
    expect(timers.stillPending()).toBe(1);
    raw.socket.resetAndDestroy();
    expect(await closedWith).toBe(1000);
    expect(app.framecast.chat.clients.has(connection)).toBe(false);
    expect(channels.memberCount('closing')).toBe(0);
    expect(timers.stillPending()).toBe(0);
  });

  it('many clients resetting at once leave the client sets and channels empty', async () => {
    const members: Array<{ raw: RawWebSocket; connection: WebSocketConnection }> = [];
    for (let i = 0; i < 20; i++) members.push(await member(`crowd-${i % 3}`));
    expect(new Set(members.map(({ connection }) => connection)).size).toBe(20);
    const closes = members.map(({ connection }) => closeEvent(connection));
    for (const { raw } of members) {
      raw.write(clientFrame(0x1, 'partial', { fin: false }));
      raw.socket.resetAndDestroy();
    }
    await Promise.all(closes);
    expect(app.framecast.chat.clients.size).toBe(0);
    for (let i = 0; i < 3; i++) expect(channels.memberCount(`crowd-${i}`)).toBe(0);
    expect(app.framecast.metrics.connectionsOpen).toBe(0);
  });
});
