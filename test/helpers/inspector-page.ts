/**
 * The protocol inspector page (public/inspect.html) in headless Chromium, loaded through the
 * recording proxy so a test can check what the page shows against the bytes Chromium really
 * sent. The setup, the report cells and the send-and-wait step the inspector suites share.
 */
import type { Page } from 'playwright-core';
import { type Browser, launchBrowser } from '../e2e/browser.js';
import { type RecordingProxy, startRecordingProxy } from '../e2e/recording-proxy.js';
import { startFramecast, type RunningFramecast } from './framecast.js';

/** How long the page may take to show a report or a state change. */
export const SHOWN_WITHIN_MS = 5_000;

/**
 * One framecast, recording proxy, Chromium and inspector page for a suite: `open()` in
 * `beforeAll`, `close()` in `afterAll` (it closes whatever `open()` got to start).
 */
export class InspectorPage {
  page!: Page;
  proxy!: RecordingProxy;
  /** Reports the page has shown so far; the newest is number `reports`. */
  reports = 0;
  private service: RunningFramecast | undefined;
  private browser: Browser | undefined;

  /** Starts everything, loads the page and waits for the handshake it shows first. */
  async open(): Promise<Page> {
    this.service = await startFramecast();
    this.proxy = await startRecordingProxy(this.service.port);
    this.browser = await launchBrowser();
    this.page = await this.browser.newPage();
    await this.page.goto(`http://127.0.0.1:${this.proxy.port}/inspect.html`);
    await this.page.waitForSelector('[data-part="accept-check"]', { timeout: SHOWN_WITHIN_MS });
    return this.page;
  }

  /** Sends `text` from the page and waits for its report; returns the report's number. */
  async sendAndWait(text: string): Promise<number> {
    await this.page.fill('#payload', text);
    await this.page.click('#send');
    const n = ++this.reports;
    await this.page.waitForSelector(`[data-report="${n}"]`, { timeout: SHOWN_WITHIN_MS });
    return n;
  }

  /** A cell of a field row of report `n`. */
  cell(n: number, field: string, column: 'value' | 'bits'): Promise<string | null> {
    return this.page.textContent(`[data-report="${n}"] tr[data-field="${field}"] td.${column}`);
  }

  /** Screenshots the page with the newest report (at the top of its list) in view, or the handshake before any. */
  async screenshot(name: string): Promise<void> {
    await this.page.locator(this.reports > 0 ? `[data-report="${this.reports}"]` : '#handshake').scrollIntoViewIfNeeded();
    await this.browser?.screenshotAll(name);
  }

  async close(): Promise<void> {
    await this.browser?.close();
    await this.proxy?.close();
    await this.service?.close();
  }
}
