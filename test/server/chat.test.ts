/**
 * GET /chat?channel=NAME: every message goes to all members of the channel, sender included,
 * in one order that every member sees; other channels hear nothing; bad names are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { nextMessages, openClient, type RunningFramecast, startFramecast } from '../helpers/framecast.js';
import { rawRequest, upgradeRequest } from '../helpers/raw-socket.js';

let app: RunningFramecast;

beforeAll(async () => {
  app = await startFramecast({ heartbeatInterval: 0 });
});

afterAll(async () => {
  await app.close();
});

function chatUrl(channel?: string): string {
  return channel === undefined ? `${app.wsUrl}/chat` : `${app.wsUrl}/chat?channel=${encodeURIComponent(channel)}`;
}

describe('broadcast: one order for every member of a channel', () => {
  it('three clients each sending 300 messages at once all see the identical sequence, sender included', async () => {
    const PER_CLIENT = 300;
    const members = await Promise.all([0, 1, 2].map(() => openClient(chatUrl('order'))));
    const received = members.map((member) => nextMessages(member, PER_CLIENT * members.length));
    // Interleave the senders: each tick, every member sends its next message.
    for (let i = 0; i < PER_CLIENT; i++) {
      members.forEach((member, who) => member.send(`${who}:${i}`));
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const sequences = (await Promise.all(received)).map((messages) => messages.map(([data]) => data.toString()));
    expect(sequences[0]).toHaveLength(PER_CLIENT * 3);
    expect(sequences[1]).toEqual(sequences[0]);
    expect(sequences[2]).toEqual(sequences[0]);
    // Every message is there once, and each sender's messages keep the order they were sent in.
    for (let who = 0; who < 3; who++) {
      const own = sequences[0].filter((text) => text.startsWith(`${who}:`));
      expect(own).toEqual(Array.from({ length: PER_CLIENT }, (_, i) => `${who}:${i}`));
    }
    for (const member of members) member.terminate();
  });

  it('binary messages stay binary and text stays text', async () => {
    const [a, b] = await Promise.all([openClient(chatUrl('types')), openClient(chatUrl('types'))]);
    const atB = nextMessages(b, 2);
    a.send(Buffer.from([0, 1, 2, 255]));
    a.send('text');
    const [[first, firstBinary], [second, secondBinary]] = await atB;
    expect(firstBinary).toBe(true);
    expect([...first]).toEqual([0, 1, 2, 255]);
    expect(secondBinary).toBe(false);
    expect(second.toString()).toBe('text');
    a.terminate();
    b.terminate();
  });
});

describe('channels are separate', () => {
  it('a member of another channel receives nothing from this one', async () => {
    const [a1, a2, outsider] = await Promise.all([openClient(chatUrl('alpha')), openClient(chatUrl('alpha')), openClient(chatUrl('beta'))]);
    const outsiderMessages: string[] = [];
    outsider.on('message', (data: Buffer) => outsiderMessages.push(data.toString()));
    const atA2 = nextMessages(a2, 20);
    for (let i = 0; i < 20; i++) a1.send(`alpha ${i}`);
    await atA2;
    // A message the outsider sends to its own channel comes back first: nothing from alpha got there before it.
    const own = nextMessages(outsider, 1);
    outsider.send('beta only');
    await own;
    expect(outsiderMessages).toEqual(['beta only']);
    for (const client of [a1, a2, outsider]) client.terminate();
  });

  it('without ?channel a client joins the default channel, lobby', async () => {
    const [implicit, explicit] = await Promise.all([openClient(chatUrl()), openClient(chatUrl('lobby'))]);
    const atExplicit = nextMessages(explicit, 1);
    implicit.send('hello lobby');
    expect((await atExplicit)[0][0].toString()).toBe('hello lobby');
    implicit.terminate();
    explicit.terminate();
  });

  it('channel membership ends with the connection', async () => {
    const hub = app.framecast.hub;
    const [stays, leaves] = await Promise.all([openClient(chatUrl('membership')), openClient(chatUrl('membership'))]);
    const leftClosed = new Promise((resolve) => leaves.once('close', resolve));
    leaves.close(1000);
    await leftClosed;
    // A push to the channel now reaches only the one left.
    expect(await hub.publish('membership', 'who is here', false)).toBe(1);
    expect((await nextMessages(stays, 1))[0][0].toString()).toBe('who is here');
    stays.terminate();
  });
});

describe('channel names: 1-64 letters, digits, "-", "_" or "."; anything else is 400', () => {
  for (const name of ['', 'has space', 'slash/es', 'ümlaut', 'x'.repeat(65), 'semi;colon']) {
    it(`refuses ${JSON.stringify(name.length > 20 ? `${name.slice(0, 10)}... (${name.length} chars)` : name)}`, async () => {
      const response = await rawRequest(app.port, upgradeRequest(app.port, `/chat?channel=${encodeURIComponent(name)}`));
      expect(response.status).toBe(400);
      expect(response.body).toMatch(/channel names/);
    });
  }

  it('accepts the longest valid name and every allowed character', async () => {
    for (const name of ['x'.repeat(64), 'Az09-_.']) {
      const client: WebSocket = await openClient(chatUrl(name));
      const echo = nextMessages(client, 1);
      client.send('ok');
      expect((await echo)[0][0].toString()).toBe('ok');
      client.terminate();
    }
  });
});
