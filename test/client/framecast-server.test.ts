/**
 * framecast's client against framecast's own server (src/server), end to end: the echo endpoint
 * with permessage-deflate as the server answers it (no context takeover either way), the chat
 * endpoint between two clients, and the server's shutdown Close (1001). The independent peer
 * is `ws` (websocket.test.ts); this is the integration of the two halves of the project.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from '../../src/client/index.js';
import { type RunningFramecast, startFramecast } from '../helpers/framecast.js';
import { waitUntil } from '../helpers/wait.js';
import { closing, messagesOf, nextEvent, openWebSocket } from '../helpers/websocket-client.js';

let running: RunningFramecast | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

describe('framecast client to framecast server', () => {
  it('echoes text and binary, with permessage-deflate as the server agreed it', async () => {
    running = await startFramecast({ heartbeatInterval: 0 });
    const socket = await openWebSocket(`${running.wsUrl}/ws`);
    expect(socket.extensions).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
    socket.binaryType = 'nodebuffer';
    const data = messagesOf(socket);
    const text = 'framecast to framecast '.repeat(5000);
    const binary = randomBytes(300_000);
    socket.send(text);
    socket.send(binary);
    socket.send('small');
    await waitUntil(() => data.length === 3, 5_000, 'three echoes');
    expect(data[0]).toBe(text);
    expect((data[1] as Buffer).equals(binary)).toBe(true);
    expect(data[2]).toBe('small');
    const closed = closing(socket);
    socket.close(1000, 'thanks');
    const { close } = await closed;
    // The close event reports the server's Close: framecast echoes the code, not the reason.
    expect([close.code, close.reason, close.wasClean]).toEqual([1000, '', true]);
  });

  it('two clients chat through /chat', async () => {
    running = await startFramecast({ heartbeatInterval: 0 });
    const alice = await openWebSocket(`${running.wsUrl}/chat?channel=client-test`);
    const bob = await openWebSocket(`${running.wsUrl}/chat?channel=client-test`);
    const toBob = nextEvent<MessageEvent>(bob, 'message');
    alice.send('hello bob');
    expect((await toBob).data).toBe('hello bob');
    alice.close();
    bob.close();
  });

  it("the server's shutdown reaches the client as a clean Close 1001", async () => {
    running = await startFramecast({ heartbeatInterval: 0 });
    const socket = await openWebSocket(`${running.wsUrl}/ws`);
    const closed = closing(socket);
    const stopping = running.close();
    running = undefined;
    const { close } = await closed;
    await stopping;
    expect([close.code, close.wasClean]).toEqual([1001, true]);
  });

  it('a message over the server limit is refused by the server with 1009, which the client reports', async () => {
    running = await startFramecast({ heartbeatInterval: 0, maxMessageSize: 1024 });
    const socket = new WebSocket(`${running.wsUrl}/ws`, { perMessageDeflate: false });
    await nextEvent(socket, 'open');
    const closed = closing(socket);
    socket.send(Buffer.alloc(2048));
    const { close, error } = await closed;
    expect(error).toBeUndefined();
    expect([close.code, close.wasClean]).toEqual([1009, true]);
  });
});
