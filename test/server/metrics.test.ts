/**
 * GET /metrics (Prometheus text format 0.0.4) and GET /healthz: every counter moves by exactly
 * what happened on the wire.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closed, nextMessages, openClient, type RunningFramecast, startFramecast } from '../helpers/framecast.js';
import { clientFrame, RawWebSocket, rawRequest, upgradeRequest } from '../helpers/raw-socket.js';
import { fetchMetrics, sample, waitUntil } from '../helpers/wait.js';

let app: RunningFramecast;

beforeAll(async () => {
  app = await startFramecast({ heartbeatInterval: 0 });
});

afterAll(async () => {
  await app.close();
});

/** Current value of one sample. */
async function metric(name: string): Promise<number> {
  return sample(await fetchMetrics(app.httpUrl), name);
}

/** Waits until a sample reaches `expected` (server-side closes are counted a moment after the client sees them). */
async function expectMetric(name: string, expected: number): Promise<void> {
  let last = NaN;
  await waitUntil(async () => (last = await metric(name)) === expected, 3_000, `${name} to be ${expected}`).catch(() => {
    throw new Error(`${name} is ${last}, expected ${expected}`);
  });
}

describe('/metrics', () => {
  it('is Prometheus text with HELP and TYPE lines, not cached', async () => {
    const response = await fetch(`${app.httpUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const text = await response.text();
    expect(text).toMatch(/^# HELP framecast_connections_open /m);
    expect(text).toMatch(/^# TYPE framecast_connections_open gauge$/m);
    expect(text).toMatch(/^# TYPE framecast_messages_received_total counter$/m);
  });

  it('counts connections open and opened', async () => {
    const opened = await metric('framecast_connections_opened_total');
    const [a, b] = await Promise.all([openClient(`${app.wsUrl}/ws`), openClient(`${app.wsUrl}/chat`)]);
    await expectMetric('framecast_connections_open', 2);
    expect(await metric('framecast_connections_opened_total')).toBe(opened + 2);
    a.close(1000);
    b.close(4000, 'app');
    await expectMetric('framecast_connections_open', 0);
    expect(await metric('framecast_connections_opened_total')).toBe(opened + 2);
  });

  it('counts messages and payload bytes in and out', async () => {
    const before = await fetchMetrics(app.httpUrl);
    const client = await openClient(`${app.wsUrl}/ws`);
    const payloads = ['x', 'hello', Buffer.alloc(1000, 1)];
    const echoes = nextMessages(client, payloads.length);
    for (const payload of payloads) client.send(payload);
    await echoes;
    const after = await fetchMetrics(app.httpUrl);
    const bytes = 1 + 5 + 1000;
    const delta = (name: string): number => sample(after, name) - sample(before, name);
    expect(delta('framecast_messages_received_total')).toBe(3);
    expect(delta('framecast_bytes_received_total')).toBe(bytes);
    expect(delta('framecast_messages_sent_total')).toBe(3);
    expect(delta('framecast_bytes_sent_total')).toBe(bytes);
    client.terminate();
  });

  it('counts accepted pushes, and each recipient as a message sent', async () => {
    const members = await Promise.all([openClient(`${app.wsUrl}/chat?channel=m`), openClient(`${app.wsUrl}/chat?channel=m`)]);
    const before = await fetchMetrics(app.httpUrl);
    const arrivals = members.map((member) => nextMessages(member, 1));
    const response = await fetch(`${app.httpUrl}/push?channel=m`, { method: 'POST', body: 'twelve bytes' });
    expect(response.status).toBe(202);
    await Promise.all(arrivals);
    const after = await fetchMetrics(app.httpUrl);
    expect(sample(after, 'framecast_pushes_total') - sample(before, 'framecast_pushes_total')).toBe(1);
    expect(sample(after, 'framecast_messages_sent_total') - sample(before, 'framecast_messages_sent_total')).toBe(2);
    expect(sample(after, 'framecast_bytes_sent_total') - sample(before, 'framecast_bytes_sent_total')).toBe(24);
    // A refused push is not counted.
    expect((await fetch(`${app.httpUrl}/push?channel=bad%20name`, { method: 'POST', body: 'x' })).status).toBe(400);
    expect(await metric('framecast_pushes_total')).toBe(sample(after, 'framecast_pushes_total'));
    for (const member of members) member.terminate();
  });

  it('counts closes by code: the peer\'s code, 1006 without a Close frame', async () => {
    const before = await fetchMetrics(app.httpUrl);
    const polite = await openClient(`${app.wsUrl}/ws`);
    const politeClosed = closed(polite);
    polite.close(4321, 'done');
    await politeClosed;
    const rude = await openClient(`${app.wsUrl}/ws`);
    rude.terminate();
    await expectMetric('framecast_closes_total{code="4321"}', sample(before, 'framecast_closes_total{code="4321"}') + 1);
    await expectMetric('framecast_closes_total{code="1006"}', sample(before, 'framecast_closes_total{code="1006"}') + 1);
  });

  it('counts protocol errors by violation, and their close codes', async () => {
    const before = await fetchMetrics(app.httpUrl);
    const cases: Array<[Buffer, string, number]> = [
      [clientFrame(0x1, 'x', { mask: false }), 'UNMASKED_CLIENT_FRAME', 1002],
      [clientFrame(0x1, Buffer.from([0xff])), 'INVALID_UTF8', 1007],
      [clientFrame(0x9, 'x', { fin: false }), 'CONTROL_FRAME_FRAGMENTED', 1002],
    ];
    for (const [bytes] of cases) {
      const raw = await RawWebSocket.open(app.port, '/ws');
      raw.write(bytes);
      await raw.waitForClose();
      raw.destroy();
    }
    for (const [, violation] of cases) {
      const name = `framecast_protocol_errors_total{violation="${violation}"}`;
      await expectMetric(name, sample(before, name) + 1);
    }
    await expectMetric('framecast_closes_total{code="1002"}', sample(before, 'framecast_closes_total{code="1002"}') + 2);
    await expectMetric('framecast_closes_total{code="1007"}', sample(before, 'framecast_closes_total{code="1007"}') + 1);
  });

  it('counts refused handshakes by HTTP status', async () => {
    const before = await fetchMetrics(app.httpUrl);
    const refusals: Array<[string, Record<string, string | undefined>, number]> = [
      ['/ws', { 'Sec-WebSocket-Key': 'short' }, 400],
      ['/ws', { 'Sec-WebSocket-Key': undefined }, 400],
      ['/ws', { Origin: 'https://elsewhere.example' }, 403],
      ['/chat', { 'Sec-WebSocket-Version': '7' }, 426],
      ['/chat?channel=no%20spaces', {}, 400],
      // No endpoint at that path: the router's answer, counted once although three endpoints share the metrics.
      ['/nowhere', {}, 404],
    ];
    for (const [path, headers, status] of refusals) {
      expect((await rawRequest(app.port, upgradeRequest(app.port, path, headers))).status).toBe(status);
    }
    const after = await fetchMetrics(app.httpUrl);
    const delta = (status: number): number =>
      sample(after, `framecast_handshakes_rejected_total{status="${status}"}`) - sample(before, `framecast_handshakes_rejected_total{status="${status}"}`);
    expect(delta(400)).toBe(3);
    expect(delta(403)).toBe(1);
    expect(delta(426)).toBe(1);
    expect(delta(404)).toBe(1);
  });
});

describe('/healthz', () => {
  it('answers JSON with the status, open connections and the hub', async () => {
    const client = await openClient(`${app.wsUrl}/ws`);
    await expectMetric('framecast_connections_open', 1);
    const response = await fetch(`${app.httpUrl}/healthz`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ status: 'ok', connections: 1, hub: 'in-process' });
    client.terminate();
  });
});
