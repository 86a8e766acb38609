/**
 * The chat page over https:// in headless Chromium, served by framecast with TLS: the page loads
 * over HTTP/2 and its WebSocket goes over that same HTTP/2 connection by RFC 8441, as the server
 * sees it (the connection's transport). `--ignore-certificate-errors` accepts the test's
 * self-signed certificate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFramecast, type RunningFramecast } from '../helpers/framecast.js';
import { makeSelfSignedCertificate, type SelfSignedCertificate } from '../helpers/tls-cert.js';
import { waitUntil } from '../helpers/wait.js';
import { type Browser, browserTestsEnabled, launchBrowser } from './browser.js';
import { entries, send, SHOWN_WITHIN_MS, waitForEntries } from './chat-page.js';

const enabled = browserTestsEnabled('test/e2e/http2.test.ts');

describe.skipIf(!enabled)('the chat page over https:// and HTTP/2 in Chromium', () => {
  let certificate: SelfSignedCertificate;
  let running: RunningFramecast;
  let browser: Browser;

  beforeAll(async () => {
    certificate = makeSelfSignedCertificate();
    running = await startFramecast({ tls: { cert: certificate.cert, key: certificate.key }, heartbeatInterval: 0 });
    browser = await launchBrowser(['--ignore-certificate-errors']);
  });

  afterAll(async () => {
    await browser?.close();
    await running?.close();
    certificate?.remove();
  });

  it('loads the page over h2, chats, and the WebSocket is an HTTP/2 stream (RFC 8441) on the server', async () => {
    const page = await browser.newPage();
    let sessions = 0;
    const paths: string[] = [];
    const countSession = (session: import('node:http2').ServerHttp2Session): void => {
      const id = ++sessions;
      session.on('stream', (_stream, headers) => paths.push(`${id} ${headers[':method']} ${headers[':path']}`));
    };
    running.framecast.server.on('session', countSession);
    const response = await page.goto(`https://localhost:${running.port}/?channel=h2`);
    expect(response?.status()).toBe(200);
    // The page itself came over HTTP/2 (ALPN h2).
    expect(await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol)).toBe('h2');
    await waitUntil(() => running.framecast.pubsub.clients.size === 1, SHOWN_WITHIN_MS, 'the page to connect');
    const [connection] = running.framecast.pubsub.clients;
    expect(connection.transport).toBe('http2');
    // The extended CONNECT came on the HTTP/2 connection that carried the page. (Chromium may
    // open a second, speculative connection that carries nothing: only streams are compared.)
    const sessionOf = (line: string): string | undefined => paths.find((path) => path.endsWith(line))?.split(' ')[0];
    expect(sessionOf('CONNECT /pubsub')).toBeDefined();
    expect(sessionOf('CONNECT /pubsub')).toBe(sessionOf('GET /?channel=h2'));
    running.framecast.server.off('session', countSession);
    await send(page, 'hello over one connection');
    const shown = await waitForEntries(page, 1);
    expect(shown.map((entry) => entry.text)).toContain('hello over one connection');
    expect((await entries(page)).length).toBeGreaterThan(0);
    await browser.screenshotAll('http2-chat');
    await page.close();
  });

  it("the inspector shows that its WebSocket came over HTTP/2, with the CONNECT's fields and no key", async () => {
    const page = await browser.newPage();
    await page.goto(`https://localhost:${running.port}/inspect.html`);
    await page.waitForSelector('#handshake[data-transport]', { timeout: SHOWN_WITHIN_MS });
    expect(await page.getAttribute('#handshake', 'data-transport')).toBe('http2');
    expect(await page.textContent('#handshake [data-part="transport"]')).toMatch(/HTTP\/2.*RFC 8441/);
    const request = await page.textContent('#handshake [data-part="request"]');
    expect(request).toMatch(/:method: CONNECT/);
    expect(request).toMatch(/:protocol: websocket/);
    expect(request).not.toMatch(/sec-websocket-key/i);
    expect(await page.textContent('#handshake [data-part="response"]')).toMatch(/:status: 200/);
    await browser.screenshotAll('http2-inspector');
    await page.close();
  });
});
