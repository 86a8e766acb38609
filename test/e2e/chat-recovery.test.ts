/**
 * The chat page on framecast.v1 in headless Chromium: what a channel's history, a dropped
 * connection and presence look like to people. One page's connection runs through a TCP proxy
 * the test cuts (test/helpers/tcp-proxy.ts), so the server, and its history, live on.
 */
import { describe, expect, it } from 'vitest';
import { startFramecast } from '../helpers/framecast.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { browserTestsEnabled } from './browser.js';
import {
  chatSuite,
  type Entry,
  entries,
  openChat,
  presence,
  recorded,
  send,
  waitForEntries,
  waitForPresence,
  waitForRecorded,
  waitForStatus,
} from './chat-page.js';

/** For what takes a reconnect (a backoff wait, a handshake, a resubscription) on a loaded machine. */
const RECOVERED_WITHIN_MS = 20_000;

const enabled = browserTestsEnabled('test/e2e/chat-recovery.test.ts');

/** What two pages must agree on: the sequence of messages, by kind, author and text. */
function sequence(list: Entry[]): string[] {
  return list.map((entry) => `${entry.kind}|${entry.nick}|${entry.text}`);
}

describe.skipIf(!enabled)('the chat page: history, recovery and presence (framecast.v1)', () => {
  const suite = chatSuite('recovery');

  async function push(channel: string, text: string): Promise<number> {
    const response = await fetch(`${suite.service.httpUrl}/push?channel=${channel}`, { method: 'POST', body: text });
    expect(response.status).toBe(202);
    return ((await response.json()) as { offset: number }).offset;
  }

  it('two pages chat, and a third page opened later shows the same messages from the history', async () => {
    const alice = await openChat(suite.browser, suite.service.httpUrl, 'channel=history');
    const bob = await openChat(suite.browser, suite.service.httpUrl, 'channel=history');
    const bobNick = await bob.inputValue('#nick');
    await send(alice, 'hello from alice');
    await waitForEntries(bob, 1);
    await send(bob, 'hello from bob');
    await waitForEntries(alice, 2);
    await push('history', 'a push in between');
    await send(alice, 'and again');
    const seenByAlice = await waitForEntries(alice, 4);
    const seenByBob = await waitForEntries(bob, 4);
    expect(sequence(seenByBob)).toEqual(sequence(seenByAlice));
    expect(seenByAlice.map((entry) => entry.text)).toEqual(['hello from alice', 'hello from bob', 'a push in between', 'and again']);
    expect(seenByAlice.map((entry) => entry.offset)).toEqual([1, 2, 3, 4]);

    const carol = await openChat(suite.browser, suite.service.httpUrl, 'channel=history');
    const seenByCarol = await waitForEntries(carol, 4);
    expect(sequence(seenByCarol)).toEqual(sequence(seenByAlice));
    expect(seenByCarol.map((entry) => entry.offset)).toEqual([1, 2, 3, 4]);
    expect(seenByCarol.find((entry) => entry.text === 'hello from bob')).toMatchObject({ kind: 'chat', nick: bobNick, mine: false });
    expect(seenByCarol[2]).toMatchObject({ kind: 'push', nick: 'server push' });
  });

  it('shows only the last 50 messages of a longer history on joining', async () => {
    for (let i = 1; i <= 60; i++) await push('long', `push ${i}`);
    const page = await openChat(suite.browser, suite.service.httpUrl, 'channel=long');
    const shown = await waitForEntries(page, 50);
    expect(shown.map((entry) => entry.text)).toEqual(Array.from({ length: 50 }, (_, i) => `push ${i + 11}`));
    expect(shown[0].offset).toBe(11);
  });

  it('after its connection is cut, a page shows every message sent and pushed meanwhile once, in order, and delivers what it typed offline', async () => {
    const proxy: TcpProxy = await startTcpProxy(suite.service.port);
    try {
      const alice = await openChat(suite.browser, suite.service.httpUrl, 'channel=cut');
      const bob = await openChat(suite.browser, suite.service.httpUrl, 'channel=cut');
      // Carol loads the page and connects through the proxy; short backoff, to keep the test short.
      const carol = await openChat(suite.browser, `http://127.0.0.1:${proxy.port}`, 'channel=cut&backoff=200&backoffMax=1000', { width: 390, height: 760 });
      await send(alice, 'before the cut');
      await waitForEntries(carol, 1);
      const opened = (await recorded(carol)).at(-1)?.n ?? 0;

      proxy.cut();
      await waitForStatus(carol, 'reconnecting', /^closed \(1006 connection lost without a Close frame\); reconnecting in \d+ s$/, opened, RECOVERED_WITHIN_MS);
      // Meanwhile the others talk and the server pushes; each waits to be shown, so the order is known.
      let count = 1;
      for (const [who, text] of [
        [alice, 'missed 1 (alice)'],
        [bob, 'missed 2 (bob)'],
        [undefined, 'missed 3 (a push)'],
        [alice, 'missed 4 (alice)'],
      ] as const) {
        if (who === undefined) await push('cut', text);
        else await send(who, text);
        await waitForEntries(alice, ++count);
      }
      // And Carol types while offline: it waits in her outbox.
      await send(carol, 'typed by carol offline');
      await waitForRecorded(carol, 'framecastOutboxHistory', 'queued', /^typed by carol offline$/);
      expect(await carol.locator('#outbox > li').getAttribute('data-state')).toBe('queued');

      proxy.letThrough();
      const reopened = await waitForStatus(carol, 'open', /^open: #cut as /, opened, RECOVERED_WITHIN_MS);
      expect(reopened.n).toBeGreaterThan(opened);
      const delivered = await waitForRecorded(carol, 'framecastOutboxHistory', 'delivered', /^offset \d+: typed by carol offline$/, 0, RECOVERED_WITHIN_MS);
      const confirmedOffset = Number(/^offset (\d+):/.exec(delivered.text)?.[1]);
      await waitForEntries(alice, 6);
      // A message after the recovery: anything shown twice would come before it.
      await send(bob, 'after the recovery');
      const seenByAlice = await waitForEntries(alice, 7);
      const seenByCarol = await waitForEntries(carol, 7, RECOVERED_WITHIN_MS);
      expect(seenByAlice.map((entry) => entry.text)).toEqual([
        'before the cut',
        'missed 1 (alice)',
        'missed 2 (bob)',
        'missed 3 (a push)',
        'missed 4 (alice)',
        'typed by carol offline',
        'after the recovery',
      ]);
      expect(sequence(seenByCarol)).toEqual(sequence(seenByAlice));
      expect(seenByCarol.map((entry) => entry.offset)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      // Her own message carries the offset the server confirmed, and the outbox is empty again.
      expect(seenByCarol[5]).toMatchObject({ mine: true, offset: confirmedOffset });
      await carol.waitForFunction(() => document.querySelectorAll('#outbox > li').length === 0);
      // The page said it recovered everything.
      expect(await carol.locator('#log > li[data-kind="system"]').allTextContents()).toEqual(
        expect.arrayContaining([expect.stringContaining('reconnected: the messages sent meanwhile are above')]),
      );
    } finally {
      await proxy.close();
    }
  });

  it('says so when the server no longer keeps every message sent during the drop', async () => {
    const short = await startFramecast({ browserClientDir: suite.build.dir, historySize: 2 });
    const proxy = await startTcpProxy(short.port);
    try {
      const page = await openChat(suite.browser, `http://127.0.0.1:${proxy.port}`, 'channel=gap&backoff=200&backoffMax=1000');
      proxy.cut();
      await waitForStatus(page, 'reconnecting', /1006/, 0, RECOVERED_WITHIN_MS);
      for (const text of ['gone 1', 'gone 2', 'kept 3', 'kept 4']) {
        const response = await fetch(`${short.httpUrl}/push?channel=gap`, { method: 'POST', body: text });
        expect(response.status).toBe(202);
      }
      proxy.letThrough();
      const shown = await waitForEntries(page, 2, RECOVERED_WITHIN_MS);
      expect(shown.map((entry) => entry.text)).toEqual(['kept 3', 'kept 4']);
      await page.waitForFunction(() => Array.from(document.querySelectorAll('#log > li[data-kind="system"]'), (item) => item.textContent ?? '').some((text) => text.includes('no longer kept by the server')));
    } finally {
      await suite.browser.closePages();
      await proxy.close();
      await short.close();
    }
  });

  it('shows who is in the channel by nickname, and removes a page that was closed', async () => {
    const alice = await openChat(suite.browser, suite.service.httpUrl, 'channel=people');
    const bob = await openChat(suite.browser, suite.service.httpUrl, 'channel=people', { width: 390, height: 760 });
    const aliceNick = await alice.inputValue('#nick');
    const bobNick = await bob.inputValue('#nick');
    await waitForPresence(alice, [aliceNick, bobNick]);
    await waitForPresence(bob, [aliceNick, bobNick]);
    // Each page lists itself first, marked as you.
    expect((await presence(alice))[0]).toBe(aliceNick);
    expect(await alice.locator('#presence > li.me .badge').textContent()).toBe('you');
    expect(await alice.textContent('#presence-count')).toBe('2');

    // A new nickname shows in the others' panels.
    await bob.fill('#nick', 'Bob the Builder');
    await bob.press('#nick', 'Enter');
    await waitForPresence(alice, [aliceNick, 'Bob the Builder']);

    await bob.close();
    await waitForPresence(alice, [aliceNick]);
    expect(await alice.textContent('#presence-count')).toBe('1');
    // The log is the channel's messages only: presence changes are not in it.
    expect(await entries(alice)).toEqual([]);
  });

  it('serves the client as an ES module built from the TypeScript source', async () => {
    const shim = await fetch(`${suite.service.httpUrl}/framecast.js`);
    expect(shim.status).toBe(200);
    expect(shim.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await shim.text()).toBe("export * from './framecast/framecast-client.js';\n");
    const module = await fetch(`${suite.service.httpUrl}/framecast/framecast-client.js`);
    expect(module.status).toBe(200);
    expect(await module.text()).toContain('export class FramecastClient');
    // The page loads it with no script from elsewhere: every script it ran came from this server.
    const page = await suite.browser.newPage();
    const scripts: string[] = [];
    page.on('request', (request) => {
      if (request.resourceType() === 'script') scripts.push(request.url());
    });
    await page.goto(`${suite.service.httpUrl}/?channel=module`);
    await page.waitForSelector('#status[data-state="open"]');
    expect(scripts.length).toBeGreaterThan(2);
    for (const url of scripts) expect(new URL(url).origin).toBe(suite.service.httpUrl);
    expect(scripts.map((url) => new URL(url).pathname)).toEqual(expect.arrayContaining(['/chat.js', '/framecast.js', '/framecast/framecast-client.js', '/framecast/backoff.js']));
  });
});
