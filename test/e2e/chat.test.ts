/**
 * The chat page (public/index.html, chat.js) in a real headless Chromium against a real
 * framecast: what people see, in the order they see it. Every test leaves a screenshot of each
 * page in test-results/e2e/.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { MessageDeflater } from '../../src/protocol/index.js';
import { createFramecast } from '../../src/server/app.js';
import type { WebSocketConnection } from '../../src/server/websocket/connection.js';
import { lowContrastText } from '../helpers/contrast.js';
import { browserTestsEnabled } from './browser.js';
import { chatSuite, entries, openChat, send, SHOWN_WITHIN_MS, statusHistory, waitForEntries, waitForStatus } from './chat-page.js';
import { readUpgradeStream, startRecordingProxy, upgradeConnection } from './recording-proxy.js';

/** WCAG 2 AA for body text. */
const AA_CONTRAST = 4.5;

const enabled = browserTestsEnabled('test/e2e/chat.test.ts');

describe.skipIf(!enabled)('the chat page in Chromium', () => {
  const suite = chatSuite('chat');

  describe('messages in a channel', () => {
    it('two pages in the same channel see every message in the same order, each marking its own', async () => {
      const alice = await openChat(suite.browser, suite.service.httpUrl, 'channel=order');
      const bob = await openChat(suite.browser, suite.service.httpUrl, 'channel=order');
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
      const page = await openChat(suite.browser, suite.service.httpUrl, 'channel=keys');
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
      const page = await openChat(suite.browser, suite.service.httpUrl, 'channel=xss');
      const attack = '<img src=x onerror="document.title=\'pwned\'"><b>bold</b><script>document.title="pwned"</script>';
      await send(page, attack);
      // The push goes once the message is in: the two take different ways to the server.
      await waitForEntries(page, 1);
      const pushed = '<img src=y onerror=alert(1)> from a push';
      await fetch(`${suite.service.httpUrl}/push?channel=xss`, { method: 'POST', body: pushed });
      const [chat, push] = await waitForEntries(page, 2);
      expect(chat.text).toBe(attack);
      expect(push.text).toBe(pushed);
      expect(await page.locator('#log img, #log b, #log script').count()).toBe(0);
      expect(await page.title()).not.toBe('pwned');
    });
  });

  describe('pushes from POST /push', () => {
    it('reach every page in the channel, shown as coming from the server; other channels see neither them nor its chat', async () => {
      const first = await openChat(suite.browser, suite.service.httpUrl, 'channel=news');
      const second = await openChat(suite.browser, suite.service.httpUrl, 'channel=news', { width: 390, height: 760 });
      const outsider = await openChat(suite.browser, suite.service.httpUrl, 'channel=elsewhere');

      const response = await fetch(`${suite.service.httpUrl}/push?channel=news`, { method: 'POST', body: 'deploy finished' });
      expect(await response.json()).toEqual({ channel: 'news', recipients: 2, offset: expect.any(Number), epoch: expect.any(String) });
      const binary = await fetch(`${suite.service.httpUrl}/push?channel=news`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array([1, 2, 0xfe]),
      });
      expect(binary.status).toBe(202);

      for (const page of [first, second]) {
        const [text, bytes] = await waitForEntries(page, 2);
        expect(text).toMatchObject({ kind: 'push', nick: 'server push', text: 'deploy finished', mine: false });
        expect(bytes).toMatchObject({ kind: 'push', text: 'binary message, 3 bytes: 01 02 fe' });
        // Said once: the card names the server as its sender, nothing repeats it.
        const card = (await page.locator('#log > li.push').first().textContent()) ?? '';
        expect(card.match(/server/g)).toHaveLength(1);
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
      // Pushes, own messages, notices: every text readable (WCAG AA, 4.5:1) in both schemes.
      for (const colorScheme of ['light', 'dark'] as const) {
        await first.emulateMedia({ colorScheme });
        expect(await lowContrastText(first, AA_CONTRAST), colorScheme).toEqual([]);
      }
    });
  });

  describe('permessage-deflate, negotiated by default (RFC 7692)', () => {
    it('both pages\' connections compress; a large chat message and a large push arrive intact on both, each compressed once', async () => {
      // The pages load through a recording proxy: the bytes Chromium sends are witnessed.
      const proxy = await startRecordingProxy(suite.service.port);
      const connections: WebSocketConnection[] = [];
      const onConnection = (connection: WebSocketConnection, request: IncomingMessage): void => {
        if (request.url === '/pubsub') connections.push(connection);
      };
      suite.service.framecast.pubsub.on('connection', onConnection);
      const compress = vi.spyOn(MessageDeflater.prototype, 'compress');
      try {
        const baseUrl = `http://127.0.0.1:${proxy.port}`;
        const alice = await openChat(suite.browser, baseUrl, 'channel=deflate');
        const bob = await openChat(suite.browser, baseUrl, 'channel=deflate');
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
        const response = await fetch(`${suite.service.httpUrl}/push?channel=deflate`, { method: 'POST', body: pushBody });
        expect(await response.json()).toEqual({ channel: 'deflate', recipients: 2, offset: expect.any(Number), epoch: expect.any(String) });

        for (const page of [alice, bob]) {
          const [chat, push] = await waitForEntries(page, 2);
          expect(chat).toMatchObject({ kind: 'chat', text: chatText });
          expect(push).toMatchObject({ kind: 'push', text: pushBody });
        }
        // One compress per message, the same bytes to both pages (neither keeps context, RFC 7692 7.1.1).
        expect(compress).toHaveBeenCalledTimes(2);

        // What Chromium sent for the chat message (the publish command, its largest frame by
        // far): one frame, RSV1 set (RFC 7692 6.1), and fewer payload bytes than the text alone.
        const sentByAlice = readUpgradeStream(upgradeConnection(proxy, '/pubsub') ?? Buffer.alloc(0)).frames.filter((frame) => frame.opcode === 0x1);
        const publish = sentByAlice.reduce((largest, frame) => (frame.payloadLength > largest.payloadLength ? frame : largest));
        expect(publish.fin).toBe(true);
        expect(publish.header[0] & 0x40).toBe(0x40);
        expect(publish.payloadLength).toBeLessThan(chatText.length / 2);
      } finally {
        compress.mockRestore();
        suite.service.framecast.pubsub.off('connection', onConnection);
        await proxy.close();
      }
    });
  });

  describe('controls', () => {
    it('takes the channel from the URL and changes channel and nickname from the form', async () => {
      const page = await openChat(suite.browser, suite.service.httpUrl, 'channel=ops');
      expect(await page.inputValue('#channel')).toBe('ops');
      expect(await page.textContent('#status-text')).toContain('#ops');
      expect(suite.service.framecast.pubsub.clients.size).toBeGreaterThan(0);

      await page.fill('#nick', 'Ada');
      await page.fill('#channel', 'ops-2');
      await page.press('#channel', 'Enter');
      await page.waitForFunction(() => document.querySelector('#status')?.getAttribute('data-state') === 'open' && document.querySelector('#status-text')?.textContent?.includes('#ops-2'), null, { timeout: SHOWN_WITHIN_MS });
      expect(new URL(page.url()).searchParams.get('channel')).toBe('ops-2');

      const listener = await openChat(suite.browser, suite.service.httpUrl, 'channel=ops-2');
      await send(page, 'hello ops-2');
      const [entry] = await waitForEntries(listener, 1);
      expect(entry).toMatchObject({ nick: 'Ada', text: 'hello ops-2', mine: false });
    });

    it('refuses a message it cannot send visibly, keeping the text', async () => {
      const page = await openChat(suite.browser, suite.service.httpUrl, 'channel=limits');
      const tooLong = 'x'.repeat(4001);
      await send(page, tooLong);
      expect(await page.textContent('#composer-note')).toContain('Not sent');
      expect(await page.inputValue('#message')).toBe(tooLong);
      expect(await entries(page)).toEqual([]);
    });

    it('labels every control', async () => {
      const page = await openChat(suite.browser, suite.service.httpUrl, 'channel=labels');
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
      const own = createFramecast({ browserClientDir: suite.build.dir });
      const { port } = await own.listen(0, '127.0.0.1');
      const baseUrl = `http://127.0.0.1:${port}`;
      // The countdown is on screen for only 0.15-0.3 s with this backoff: the test reads the
      // page's record of its status line rather than trying to catch it on screen.
      const page = await openChat(suite.browser, baseUrl, 'channel=restart&backoff=300&backoffMax=1000');
      const opened = await waitForStatus(page, 'open', /^open: #restart as /);

      await own.close();
      const closed = await waitForStatus(page, 'reconnecting', /^closed \(1001 going away: server shutting down\); reconnecting in \d+ s$/, opened.n);
      // Nothing in between: the Close is the next thing the page showed after being open.
      expect(closed.n).toBe(opened.n + 1);

      // Typed while offline: queued, visibly, not lost. Nothing listens on the port, so the page
      // stays offline until the second server starts below.
      await send(page, 'typed while offline');
      const pending = page.locator('#outbox > li');
      expect(await pending.count()).toBe(1);
      expect(await pending.getAttribute('data-state')).toBe('queued');
      expect(await pending.textContent()).toContain('typed while offline');

      // While the port is closed, attempts fail with 1006 and keep backing off.
      const retried = await waitForStatus(page, 'connecting', /^connecting to #restart…$/, closed.n);
      const failed = await waitForStatus(page, 'reconnecting', /^closed \(1006 connection lost without a Close frame\); reconnecting in \d+ s$/, retried.n);

      const again = createFramecast({ browserClientDir: suite.build.dir });
      await again.listen(port, '127.0.0.1');
      try {
        await waitForStatus(page, 'open', /^open: #restart as /, failed.n);
        const [entry] = await waitForEntries(page, 1);
        expect(entry).toMatchObject({ text: 'typed while offline', mine: true });
        // Confirmed by its offset and shown: the outbox is empty.
        await page.waitForFunction(() => document.querySelectorAll('#outbox > li').length === 0, null, { timeout: SHOWN_WITHIN_MS });
        expect(again.pubsub.clients.size).toBe(1);
        // Only these states, in this order: open, then closed-and-counting-down alternating
        // with attempts, then open again.
        const states = (await statusHistory(page)).filter((change) => change.n >= opened.n).map((change) => change.state);
        expect(states.join(' ')).toMatch(/^open (reconnecting )+(connecting (reconnecting )+)+connecting open$/);
      } finally {
        await suite.browser.screenshotAll('chat-reconnected');
        await suite.browser.closePages();
        await again.close();
      }
    });
  });
});
