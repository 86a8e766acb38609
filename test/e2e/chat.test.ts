/**
 * The chat page (public/index.html, chat.js) in a real headless Chromium against a real
 * framecast: what people see, in the order they see it. Every test leaves a screenshot of each
 * page in test-results/e2e/.
 */
import type { IncomingMessage } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Page } from 'playwright-core';
import { MessageDeflater } from '../../src/protocol/index.js';
import { createFramecast } from '../../src/server/app.js';
import type { WebSocketConnection } from '../../src/server/connection.js';
import { startFramecast, type RunningFramecast } from '../helpers/framecast.js';
import { type Browser, browserTestsEnabled, launchBrowser } from './browser.js';
import { readUpgradeStream, startRecordingProxy, upgradeConnection } from './recording-proxy.js';

/** How long to wait for something the page should show promptly. */
const SHOWN_WITHIN_MS = 5_000;

interface Entry {
  kind: string;
  nick: string;
  text: string;
  mine: boolean;
}

/** Opens the chat page and waits until its WebSocket is open. */
async function openChat(browser: Browser, baseUrl: string, query: string, viewport?: { width: number; height: number }): Promise<Page> {
  const page = await browser.newPage(viewport);
  await page.goto(`${baseUrl}/?${query}`);
  await page.waitForSelector('#status[data-state="open"]', { timeout: SHOWN_WITHIN_MS });
  return page;
}

/** Types a message and presses Enter, as a person would. */
async function send(page: Page, text: string): Promise<void> {
  await page.fill('#message', text);
  await page.press('#message', 'Enter');
}

/** The chat messages and pushes in the log, in order (connection notices left out). */
function entries(page: Page): Promise<Entry[]> {
  return page.$$eval('#log > li:not([data-kind="system"])', (items) =>
    items.map((item) => ({
      kind: (item as HTMLElement).dataset.kind ?? '',
      nick: item.querySelector('.nick')?.textContent ?? '',
      text: item.querySelector('.text')?.textContent ?? '',
      mine: item.classList.contains('mine'),
    })),
  );
}

/** Waits until the log holds at least `count` messages, then returns them. */
async function waitForEntries(page: Page, count: number): Promise<Entry[]> {
  await page.waitForFunction((n) => document.querySelectorAll('#log > li:not([data-kind="system"])').length >= n, count, { timeout: SHOWN_WITHIN_MS });
  return entries(page);
}

const enabled = browserTestsEnabled('test/e2e/chat.test.ts');

describe.skipIf(!enabled)('the chat page in Chromium', () => {
  let service: RunningFramecast;
  let browser: Browser;

  beforeAll(async () => {
    service = await startFramecast();
    browser = await launchBrowser();
  });

  afterEach(async ({ task }) => {
    await browser.screenshotAll(`chat-${task.name}`);
    await browser.closePages();
  });

  afterAll(async () => {
    await browser?.close();
    await service?.close();
  });

  describe('messages in a channel', () => {
    it('two pages in the same channel see every message in the same order, each marking its own', async () => {
      const alice = await openChat(browser, service.httpUrl, 'channel=order');
      const bob = await openChat(browser, service.httpUrl, 'channel=order');
      const aliceNick = await alice.inputValue('#nick');
      const bobNick = await bob.inputValue('#nick');
      expect(aliceNick).not.toBe(bobNick);

      // Both type at the same time: the server's relay decides one order, and both must show it.
      await Promise.all([
        (async () => {
          for (const text of ['a1', 'a2', 'a3']) await send(alice, text);
        })(),
        (async () => {
          for (const text of ['b1', 'b2', 'b3']) await send(bob, text);
        })(),
      ]);
      const seenByAlice = await waitForEntries(alice, 6);
      const seenByBob = await waitForEntries(bob, 6);

      expect(seenByAlice.map((entry) => entry.text)).toEqual(seenByBob.map((entry) => entry.text));
      expect([...seenByAlice.map((entry) => entry.text)].sort()).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'b3']);
      // Each sender's own messages stay in the order typed.
      expect(seenByAlice.map((entry) => entry.text).filter((text) => text.startsWith('a'))).toEqual(['a1', 'a2', 'a3']);
      expect(seenByAlice.map((entry) => entry.text).filter((text) => text.startsWith('b'))).toEqual(['b1', 'b2', 'b3']);
      for (const entry of seenByAlice) {
        expect(entry.kind).toBe('chat');
        expect(entry.nick).toBe(entry.text.startsWith('a') ? aliceNick : bobNick);
        expect(entry.mine).toBe(entry.text.startsWith('a'));
      }
      for (const entry of seenByBob) expect(entry.mine).toBe(entry.text.startsWith('b'));
      // Every message shows the time it arrived.
      expect(await alice.$$eval('#log > li[data-kind="chat"] time', (times) => times.every((time) => time.textContent !== ''))).toBe(true);
    });

    it('Enter sends, Shift+Enter makes a new line', async () => {
      const page = await openChat(browser, service.httpUrl, 'channel=keys');
      await page.focus('#message');
      await page.keyboard.type('first line');
      await page.keyboard.press('Shift+Enter');
      await page.keyboard.type('second line');
      expect(await waitForEntries(page, 0)).toEqual([]);
      await page.keyboard.press('Enter');
      const [entry] = await waitForEntries(page, 1);
      expect(entry.text).toBe('first line\nsecond line');
      expect(await page.inputValue('#message')).toBe('');
    });

    it('a message with HTML in it shows as characters, never as markup', async () => {
      const page = await openChat(browser, service.httpUrl, 'channel=xss');
      const attack = '<img src=x onerror="document.title=\'pwned\'"><b>bold</b><script>document.title="pwned"</script>';
      await send(page, attack);
      const pushed = '<img src=y onerror=alert(1)> from a push';
      await fetch(`${service.httpUrl}/push?channel=xss`, { method: 'POST', body: pushed });
      const [chat, push] = await waitForEntries(page, 2);
      expect(chat.text).toBe(attack);
      expect(push.text).toBe(pushed);
      expect(await page.locator('#log img, #log b, #log script').count()).toBe(0);
      expect(await page.title()).not.toBe('pwned');
    });
  });

  describe('pushes from POST /push', () => {
    it('reach every page in the channel, shown as coming from the server; other channels see neither them nor its chat', async () => {
      const first = await openChat(browser, service.httpUrl, 'channel=news');
      const second = await openChat(browser, service.httpUrl, 'channel=news', { width: 390, height: 760 });
      const outsider = await openChat(browser, service.httpUrl, 'channel=elsewhere');

      const response = await fetch(`${service.httpUrl}/push?channel=news`, { method: 'POST', body: 'deploy finished' });
      expect(await response.json()).toEqual({ channel: 'news', recipients: 2, offset: expect.any(Number), epoch: expect.any(String) });
      const binary = await fetch(`${service.httpUrl}/push?channel=news`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array([1, 2, 0xfe]),
      });
      expect(binary.status).toBe(202);

      for (const page of [first, second]) {
        const [text, bytes] = await waitForEntries(page, 2);
        expect(text).toMatchObject({ kind: 'push', nick: 'server push', text: 'deploy finished', mine: false });
        expect(bytes).toMatchObject({ kind: 'push', text: 'binary message, 3 bytes: 01 02 fe' });
        expect(await page.locator('#log > li.push').first().textContent()).toContain('from the server');
      }

      // The outsider's message is relayed (it sees its own echo) but not to the other channel.
      await send(outsider, 'only for elsewhere');
      expect(await waitForEntries(outsider, 1)).toEqual([expect.objectContaining({ text: 'only for elsewhere', mine: true })]);
      // A later message in "news": had the outsider's reached "news", it would be before this one.
      await send(first, 'later in news');
      for (const page of [first, second]) {
        const texts = (await waitForEntries(page, 3)).map((entry) => entry.text);
        expect(texts).toEqual(['deploy finished', 'binary message, 3 bytes: 01 02 fe', 'later in news']);
      }
      expect((await entries(outsider)).map((entry) => entry.text)).toEqual(['only for elsewhere']);
    });
  });

  describe('permessage-deflate, negotiated by default (RFC 7692)', () => {
    it('both pages\' connections compress; a large chat message and a large push arrive intact on both, each compressed once', async () => {
      // The pages load through a recording proxy: the bytes Chromium sends are witnessed.
      const proxy = await startRecordingProxy(service.port);
      const connections: WebSocketConnection[] = [];
      const onConnection = (connection: WebSocketConnection, request: IncomingMessage): void => {
        if (request.url === '/chat?channel=deflate') connections.push(connection);
      };
      service.framecast.chat.on('connection', onConnection);
      const compress = vi.spyOn(MessageDeflater.prototype, 'compress');
      try {
        const baseUrl = `http://127.0.0.1:${proxy.port}`;
        const alice = await openChat(browser, baseUrl, 'channel=deflate');
        const bob = await openChat(browser, baseUrl, 'channel=deflate');
        // Chromium offers permessage-deflate; framecast's answer (RFC 7692 7.1) binds both sides
        // to no context takeover.
        expect(connections.map((connection) => connection.extensions)).toEqual([
          'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
          'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
        ]);

        const words = ['deploy', 'staging', 'finished', 'in', 'minutes', 'logs', 'are', 'clean', 'rollback', 'not', 'needed', 'thanks', 'all'];
        const chatText = Array.from({ length: 600 }, (_, i) => words[(i * 7) % words.length]).join(' ').slice(0, 3990);
        await send(alice, chatText);
        const records = Array.from({ length: 2500 }, (_, i) => ({ id: i, status: i % 3 === 0 ? 'shipped' : 'pending', owner: `user-${i % 17}` }));
        const pushBody = JSON.stringify({ type: 'orders.updated', records });
        expect(pushBody.length).toBeGreaterThan(100_000);
        // The push waits until the chat message has been relayed, so both pages see the same order.
        await waitForEntries(alice, 1);
        const response = await fetch(`${service.httpUrl}/push?channel=deflate`, { method: 'POST', body: pushBody });
        expect(await response.json()).toEqual({ channel: 'deflate', recipients: 2, offset: expect.any(Number), epoch: expect.any(String) });

        for (const page of [alice, bob]) {
          const [chat, push] = await waitForEntries(page, 2);
          expect(chat).toMatchObject({ kind: 'chat', text: chatText });
          expect(push).toMatchObject({ kind: 'push', text: pushBody });
        }
        // One compress per message, the same bytes to both pages (neither keeps context, RFC 7692 7.1.1).
        expect(compress).toHaveBeenCalledTimes(2);

        // What Chromium sent for the chat message: one frame, RSV1 set (RFC 7692 6.1), and fewer
        // payload bytes than the text alone.
        const sentByAlice = readUpgradeStream(upgradeConnection(proxy, '/chat?channel=deflate') ?? Buffer.alloc(0)).frames.filter((frame) => frame.opcode === 0x1);
        expect(sentByAlice).toHaveLength(1);
        expect(sentByAlice[0].header[0] & 0x40).toBe(0x40);
        expect(sentByAlice[0].payloadLength).toBeLessThan(chatText.length / 2);
      } finally {
        compress.mockRestore();
        service.framecast.chat.off('connection', onConnection);
        await proxy.close();
      }
    });
  });

  describe('controls', () => {
    it('takes the channel from the URL and changes channel and nickname from the form', async () => {
      const page = await openChat(browser, service.httpUrl, 'channel=ops');
      expect(await page.inputValue('#channel')).toBe('ops');
      expect(await page.textContent('#status-text')).toContain('#ops');
      expect(service.framecast.chat.clients.size).toBeGreaterThan(0);

      await page.fill('#nick', 'Ada');
      await page.fill('#channel', 'ops-2');
      await page.press('#channel', 'Enter');
      await page.waitForFunction(() => document.querySelector('#status')?.getAttribute('data-state') === 'open' && document.querySelector('#status-text')?.textContent?.includes('#ops-2'), null, { timeout: SHOWN_WITHIN_MS });
      expect(new URL(page.url()).searchParams.get('channel')).toBe('ops-2');

      const listener = await openChat(browser, service.httpUrl, 'channel=ops-2');
      await send(page, 'hello ops-2');
      const [entry] = await waitForEntries(listener, 1);
      expect(entry).toMatchObject({ nick: 'Ada', text: 'hello ops-2', mine: false });
    });

    it('refuses a message it cannot send visibly, keeping the text', async () => {
      const page = await openChat(browser, service.httpUrl, 'channel=limits');
      const tooLong = 'x'.repeat(4001);
      await send(page, tooLong);
      expect(await page.textContent('#composer-note')).toContain('Not sent');
      expect(await page.inputValue('#message')).toBe(tooLong);
      expect(await entries(page)).toEqual([]);
    });

    it('labels every control', async () => {
      const page = await openChat(browser, service.httpUrl, 'channel=labels');
      for (const id of ['nick', 'channel', 'message']) {
        expect(await page.locator(`label[for="${id}"]`).count()).toBe(1);
      }
      expect(await page.getAttribute('#log', 'role')).toBe('log');
      expect(await page.getAttribute('#status', 'role')).toBe('status');
    });
  });

  describe('connection state and reconnecting', () => {
    it('shows the close and the countdown when the server stops, queues what is typed, and reconnects by itself', async () => {
      // A server of its own, stopped and started again on the same port.
      const own = createFramecast();
      const { port } = await own.listen(0, '127.0.0.1');
      const baseUrl = `http://127.0.0.1:${port}`;
      const page = await openChat(browser, baseUrl, 'channel=restart&backoff=300&backoffMax=1000');
      expect(await page.textContent('#status-text')).toContain('open');

      await own.close();
      await page.waitForSelector('#status[data-state="reconnecting"]', { timeout: SHOWN_WITHIN_MS });
      const shown = await page.textContent('#status-text');
      expect(shown).toMatch(/closed \(1001 going away: server shutting down\); reconnecting in \d+ s/);

      // Typed while offline: queued, visibly, not lost.
      await send(page, 'typed while offline');
      const pending = page.locator('#outbox > li');
      expect(await pending.count()).toBe(1);
      expect(await pending.getAttribute('data-state')).toBe('queued');
      expect(await pending.textContent()).toContain('typed while offline');

      // While the port is closed, attempts fail with 1006 and keep backing off.
      await page.waitForFunction(() => document.querySelector('#status-text')?.textContent?.includes('1006'), null, { timeout: SHOWN_WITHIN_MS });

      const again = createFramecast();
      await again.listen(port, '127.0.0.1');
      try {
        await page.waitForSelector('#status[data-state="open"]', { timeout: SHOWN_WITHIN_MS });
        const [entry] = await waitForEntries(page, 1);
        expect(entry).toMatchObject({ text: 'typed while offline', mine: true });
        expect(await pending.count()).toBe(0);
        expect(again.chat.clients.size).toBe(1);
      } finally {
        await browser.screenshotAll('chat-reconnected');
        await browser.closePages();
        await again.close();
      }
    });
  });
});
