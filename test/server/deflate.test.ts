/**
 * permessage-deflate on a live server (RFC 7692), with the `ws` package as an independent peer
 * in its several settings, raw sockets for what `ws` would never send, and the server's memory.
 */
import { deflateRawSync, constants } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { MessageDeflater } from '../../src/protocol/message-compression.js';
import { closed, nextMessages, openClient, type RunningFramecast, startFramecast } from '../helpers/framecast.js';
import { clientFrame, RawWebSocket } from '../helpers/raw-socket.js';
import { waitUntil } from '../helpers/wait.js';

let running: RunningFramecast | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await running?.close();
  running = undefined;
});

/** A message stream with repeats across messages and sizes around the 1 KiB threshold. */
function conversation(count: number): Array<{ data: Buffer; binary: boolean }> {
  const messages: Array<{ data: Buffer; binary: boolean }> = [];
  for (let i = 0; i < count; i++) {
    const text = JSON.stringify({ seq: i, user: `user-${i % 3}`, body: 'the quick brown fox '.repeat((i * 37) % 200) });
    messages.push({ data: Buffer.from(text), binary: i % 4 === 3 });
  }
  return messages;
}

async function echoAll(client: WebSocket, messages: Array<{ data: Buffer; binary: boolean }>): Promise<void> {
  const received = nextMessages(client, messages.length);
  for (const message of messages) client.send(message.data, { binary: message.binary });
  const echoes = await received;
  expect(echoes.map(([data, isBinary]) => [data.toString(), isBinary])).toEqual(messages.map((m) => [m.data.toString(), m.binary]));
}

describe('RFC 7692 7.1: framecast negotiates permessage-deflate by default', () => {
  it('answers ws\'s offer without context takeover either way, and compresses on the wire', async () => {
    running = await startFramecast();
    const answer = new Promise<string | undefined>((resolve) => {
      const probe = new WebSocket(`${running!.wsUrl}/ws`, { perMessageDeflate: true });
      probe.once('upgrade', (response) => resolve(response.headers['sec-websocket-extensions']));
      probe.once('open', () => probe.close());
    });
    expect(await answer).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
    const client = await openClient(`${running.wsUrl}/ws`, { perMessageDeflate: true });
    expect(client.extensions).toBe('permessage-deflate');
    const big = JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({ id: i, name: 'framecast', ok: true })));
    const echoed = nextMessages(client, 1);
    const socket = (client as unknown as { _socket: { bytesRead: number } })._socket;
    const before = socket.bytesRead;
    client.send(big);
    const [[data, isBinary]] = await echoed;
    expect(isBinary).toBe(false);
    expect(data.toString()).toBe(big);
    expect(socket.bytesRead - before).toBeLessThan(big.length / 5);
    client.close();
  });

  it('is off with perMessageDeflate: false: no extension answered', async () => {
    running = await startFramecast({ perMessageDeflate: false });
    const client = await openClient(`${running.wsUrl}/ws`, { perMessageDeflate: true });
    expect(client.extensions).toBe('');
    await echoAll(client, conversation(5));
    client.close();
  });
});

describe('RFC 7692 7: interoperability with ws in each setting', () => {
  const clientSettings: Array<WebSocket.PerMessageDeflateOptions> = [
    {},
    { serverNoContextTakeover: true, clientNoContextTakeover: true },
    { serverMaxWindowBits: 10 },
    { clientMaxWindowBits: 9 },
    { serverMaxWindowBits: 9, clientMaxWindowBits: 12, serverNoContextTakeover: true },
  ];
  const serverPolicies = [
    { name: 'default (no context takeover)', policy: true as const },
    { name: 'context takeover both ways', policy: { serverNoContextTakeover: false, clientNoContextTakeover: false } },
    { name: 'small server window', policy: { serverMaxWindowBits: 10, threshold: 0 } },
  ];
  for (const { name, policy } of serverPolicies) {
    it(`server ${name}: every ws client setting echoes a conversation byte for byte`, async () => {
      running = await startFramecast({ perMessageDeflate: policy });
      for (const settings of clientSettings) {
        const client = await openClient(`${running.wsUrl}/ws`, { perMessageDeflate: { threshold: 0, ...settings } });
        expect(client.extensions.startsWith('permessage-deflate')).toBe(true);
        await echoAll(client, conversation(25));
        client.close();
        await closed(client);
      }
    });
  }
});

describe('RFC 7692 7.2 and 10: what crosses the wire', () => {
  it('small messages and opted-out ones go uncompressed, large ones with RSV1', async () => {
    running = await startFramecast();
    const raw = await RawWebSocket.open(running.port, '/chat?channel=wire', { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    const chat = running.framecast.chat;
    await waitUntil(() => chat.clients.size === 1, 5_000, 'the member to join');
    const member = [...chat.clients][0];
    member.send('short');
    member.send('x'.repeat(5000));
    member.send('y'.repeat(5000), false, { compress: false });
    const frames = await raw.waitForFrames(3);
    expect(frames.map((frame) => [frame.rsv1, frame.payload.length < 5000])).toEqual([
      [false, true],
      [true, true],
      [false, false],
    ]);
    raw.destroy();
  });

  it('a push is compressed once for all compressing members, not once per recipient', async () => {
    running = await startFramecast();
    const members = await Promise.all(Array.from({ length: 5 }, () => openClient(`${running!.wsUrl}/chat?channel=once`, { perMessageDeflate: true })));
    const plain = await openClient(`${running.wsUrl}/chat?channel=once`, { perMessageDeflate: false });
    const compress = vi.spyOn(MessageDeflater.prototype, 'compress');
    const body = 'pushed to everyone '.repeat(500);
    const deliveries = [...members, plain].map((client) => nextMessages(client, 1));
    const response = await fetch(`${running.httpUrl}/push?channel=once`, { method: 'POST', body });
    expect(await response.json()).toEqual({ channel: 'once', recipients: 6, offset: 1, epoch: expect.any(String) });
    for (const delivery of deliveries) expect((await delivery)[0][0].toString()).toBe(body);
    expect(compress).toHaveBeenCalledTimes(1);
    for (const client of [...members, plain]) client.close();
  });
});

describe('RFC 7692 8 and RFC 6455 10.4: decompression bombs', () => {
  it('a bomb is closed with 1009 while inflating, memory stays flat, and others keep echoing', async () => {
    running = await startFramecast({ maxMessageSize: 1024 * 1024 });
    const bystander = await openClient(`${running.wsUrl}/ws`, { perMessageDeflate: true });
    // DEFLATE's ratio tops out near 1000:1, so 128 MiB of zeros take about 128 KiB: under the
    // 1 MiB limit on the wire, 128 times over it inflated. Fully inflated it would add 128 MiB.
    const bomb = deflateRawSync(Buffer.alloc(128 * 1024 * 1024), { finishFlush: constants.Z_SYNC_FLUSH });
    const compressed = bomb.subarray(0, bomb.length - 4);
    expect(compressed.length).toBeLessThan(1024 * 1024);
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const attacker = await RawWebSocket.open(running.port, '/ws', { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    attacker.write(clientFrame(0x2, compressed, { rsv: 0x40 }));
    expect(await attacker.waitForClose()).toEqual({ code: 1009, reason: expect.stringContaining('larger than the limit') });
    const growth = process.memoryUsage().rss - rssBefore;
    expect(growth).toBeLessThan(64 * 1024 * 1024);
    await echoAll(bystander, conversation(3));
    bystander.close();
  });
});
