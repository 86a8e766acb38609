/**
 * Slow consumers: a client that stops reading must not make the server buffer without bound.
 * Once more than `maxSendBuffer` bytes are still waiting for it, it is dropped (counted as
 * close code 1008 and in framecast_slow_consumers_dropped_total), while a client that reads
 * keeps receiving every message, in order.
 */
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { WebSocketConnection } from '../../src/server/websocket/connection.js';
import { openClient, type RunningFramecast, startFramecast } from '../helpers/framecast.js';
import { RawWebSocket } from '../helpers/raw-socket.js';
import { fetchMetrics, sample } from '../helpers/wait.js';

const KIB = 1024;
const MIB = 1024 * KIB;
const MAX_SEND_BUFFER = 256 * KIB;
const PUSH_BYTES = 256 * KIB;
/** Upper bound on pushes: the kernel's loopback buffers absorb a few MiB before the server's own buffer fills. */
const MAX_PUSHES = 400;
/** Pushes sent after the drop, to see the good client still served. */
const PUSHES_AFTER_DROP = 20;

/** A garbage collection, so memory figures are live bytes rather than garbage not yet collected. */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function memory(): { rss: number; arrayBuffers: number } {
  collectGarbage();
  collectGarbage(); // a second pass frees what the first one's finalizers released
  const { rss, arrayBuffers } = process.memoryUsage();
  return { rss, arrayBuffers };
}

let app: RunningFramecast;

beforeAll(async () => {
  app = await startFramecast({ heartbeatInterval: 0, maxSendBuffer: MAX_SEND_BUFFER, maxPushBody: PUSH_BYTES });
});

afterAll(async () => {
  await app.close();
});

/** A push body that carries its sequence number in the first 4 bytes. */
function numberedBody(sequence: number): Buffer {
  const body = Buffer.alloc(PUSH_BYTES, sequence & 0xff);
  body.writeUInt32BE(sequence, 0);
  return body;
}

async function push(sequence: number): Promise<{ channel: string; recipients: number }> {
  const response = await fetch(`${app.httpUrl}/push?channel=firehose`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(numberedBody(sequence)),
  });
  expect(response.status).toBe(202);
  return (await response.json()) as { channel: string; recipients: number };
}

describe('a client that never reads is dropped; one that reads gets everything', () => {
  it('drops the stalled client past maxSendBuffer, counts it, and keeps serving the reader in order', async () => {
    const baseline = memory();
    const stalledOnServer = new Promise<WebSocketConnection>((resolve) => app.framecast.chat.once('connection', resolve));
    const stalled = await RawWebSocket.open(app.port, '/chat?channel=firehose');
    const stalledConnection = await stalledOnServer;
    stalled.socket.pause(); // never reads again: its receive window fills, then the server's buffer.

    const reader: WebSocket = await openClient(`${app.wsUrl}/chat?channel=firehose`);
    let received = 0;
    let outOfOrder = 0;
    reader.on('message', (data: Buffer) => {
      if (data.length !== PUSH_BYTES || data.readUInt32BE(0) !== received) outOfOrder++;
      received++;
    });

    let sent = 0;
    let dropped = false;
    let peakBuffered = 0;
    while (sent < MAX_PUSHES && !dropped) {
      const { recipients } = await push(sent++);
      dropped = recipients === 1 && app.framecast.metrics.slowConsumersDropped === 1;
      if (!dropped) peakBuffered = Math.max(peakBuffered, stalledConnection.bufferedAmount);
    }
    expect(dropped).toBe(true);
    const droppedAfter = sent;
    for (let i = 0; i < PUSHES_AFTER_DROP; i++) {
      expect((await push(sent++)).recipients).toBe(1);
    }

    // The reader got every push, each whole and in order.
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (received >= sent) resolve();
        else setTimeout(check, 10);
      };
      check();
    });
    expect(received).toBe(sent);
    expect(outOfOrder).toBe(0);

    // Counted once, as a slow consumer closed with 1008; the server no longer tracks it.
    const metrics = await fetchMetrics(app.httpUrl);
    expect(sample(metrics, 'framecast_slow_consumers_dropped_total')).toBe(1);
    expect(sample(metrics, 'framecast_closes_total{code="1008"}')).toBe(1);
    expect(app.framecast.chat.clients.size).toBe(1);

    // Memory: the server held at most maxSendBuffer plus one message (and its frame header)
    // for the stalled client, not everything pushed at it; once dropped, that is released.
    const FRAME_HEADER_BYTES = 10;
    expect(peakBuffered).toBeGreaterThan(MAX_SEND_BUFFER / 2);
    expect(peakBuffered).toBeLessThanOrEqual(MAX_SEND_BUFFER + PUSH_BYTES + FRAME_HEADER_BYTES);
    const pushedBytes = sent * PUSH_BYTES;
    expect(pushedBytes).toBeGreaterThan(4 * MIB);
    // The whole test process, measured after a GC: generous bounds, since the ws client, fetch
    // and other test files' leftovers share it, yet below the 100 MiB that holding every push
    // (MAX_PUSHES of them) for the stalled client would take.
    const after = memory();
    expect(after.arrayBuffers - baseline.arrayBuffers).toBeLessThan(48 * MIB);
    expect(after.rss - baseline.rss).toBeLessThan(160 * MIB);

    // The stalled client, reading again, finds its connection gone.
    stalled.socket.resume();
    await stalled.waitForSocketClose(5_000);
    console.info(
      `slow consumer dropped after ${droppedAfter} pushes of ${PUSH_BYTES / KIB} KiB; ` +
        `its server-side buffer peaked at ${(peakBuffered / KIB).toFixed(0)} KiB; ` +
        `after a GC: arrayBuffers ${((after.arrayBuffers - baseline.arrayBuffers) / MIB).toFixed(1)} MiB, ` +
        `rss ${((after.rss - baseline.rss) / MIB).toFixed(1)} MiB over the start`,
    );
    reader.terminate();
  });
});

describe('bytes held back until the end of a turn of the event loop do not count against a client', () => {
  it('delivers a burst of twice maxSendBuffer, published in one turn, to a client that reads, without dropping it', async () => {
    const BURST = 8;
    const MESSAGE_BYTES = (2 * MAX_SEND_BUFFER) / BURST;
    const reader: WebSocket = await openClient(`${app.wsUrl}/chat?channel=burst`);
    const droppedBefore = app.framecast.metrics.slowConsumersDropped;
    const received = new Promise<number[]>((resolve) => {
      const sequence: number[] = [];
      reader.on('message', (data: Buffer) => {
        sequence.push(data.length === MESSAGE_BYTES ? data.readUInt32BE(0) : -1);
        if (sequence.length === BURST) resolve(sequence);
      });
    });

    // One synchronous loop, so every broadcast is batched behind the socket's cork until the
    // end of this turn: the sixth finds more than maxSendBuffer waiting, though the client reads.
    const published: Promise<number>[] = [];
    for (let i = 0; i < BURST; i++) {
      const body = randomBytes(MESSAGE_BYTES); // incompressible: the client negotiates permessage-deflate
      body.writeUInt32BE(i, 0);
      published.push(app.framecast.hub.publish('burst', body, true));
    }
    expect(await Promise.all(published)).toEqual(new Array<number>(BURST).fill(1));
    expect(await received).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(app.framecast.metrics.slowConsumersDropped).toBe(droppedBefore);
    expect(reader.readyState).toBe(reader.OPEN);
    reader.terminate();
  });
});
