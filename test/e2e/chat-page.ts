/**
 * Driving the chat page (public/index.html, chat.js) as a person would, and reading what it
 * shows: the log, the outbox, the presence panel, and the page's records of its status line and
 * outbox entries (public/state-history.js), which keep states however briefly they were shown.
 */
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startFramecast, type RunningFramecast } from '../helpers/framecast.js';
import { type Browser, launchBrowser } from './browser.js';
import { type BrowserClientBuild, buildBrowserClient } from './browser-client.js';

/** What a chat page suite runs on; set in its beforeAll. */
export interface ChatSuite {
  readonly service: RunningFramecast;
  readonly browser: Browser;
  readonly build: BrowserClientBuild;
}

/**
 * Registers a suite's setup (call it inside the describe): the browser client compiled for it,
 * a framecast serving it, Chromium; every test leaves a screenshot of each page
 * (`<prefix>-<test name>`) and closes its pages.
 */
export function chatSuite(screenshotPrefix: string): ChatSuite {
  const suite = {} as { service: RunningFramecast; browser: Browser; build: BrowserClientBuild };
  beforeAll(async () => {
    suite.build = await buildBrowserClient();
    suite.service = await startFramecast({ browserClientDir: suite.build.dir });
    suite.browser = await launchBrowser();
  });
  afterEach(async ({ task }) => {
    await suite.browser.screenshotAll(`${screenshotPrefix}-${task.name}`);
    await suite.browser.closePages();
  });
  afterAll(async () => {
    await suite.browser?.close();
    await suite.service?.close();
    await suite.build?.remove();
  });
  return suite;
}

/** How long to wait for something the page should show promptly. */
export const SHOWN_WITHIN_MS = 5_000;

/** A chat message or push as the log shows it. */
export interface Entry {
  kind: string;
  nick: string;
  text: string;
  mine: boolean;
  /** The publication's offset in its channel; null for a push to every connection. */
  offset: number | null;
}

/** Opens the chat page and waits until it has joined its channel. */
export async function openChat(browser: Browser, baseUrl: string, query: string, viewport?: { width: number; height: number }): Promise<Page> {
  const page = await browser.newPage(viewport);
  await page.goto(`${baseUrl}/?${query}`);
  await page.waitForSelector('#status[data-state="open"]', { timeout: SHOWN_WITHIN_MS });
  return page;
}

/** Types a message and presses Enter, as a person would. */
export async function send(page: Page, text: string): Promise<void> {
  await page.fill('#message', text);
  await page.press('#message', 'Enter');
}

/** The chat messages and pushes in the log, in order (connection notices left out). */
export function entries(page: Page): Promise<Entry[]> {
  return page.$$eval('#log > li:not([data-kind="system"])', (items) =>
    items.map((item) => {
      const offset = (item as HTMLElement).dataset.offset;
      return {
        kind: (item as HTMLElement).dataset.kind ?? '',
        nick: item.querySelector('.nick')?.textContent ?? '',
        text: item.querySelector('.text')?.textContent ?? '',
        mine: item.classList.contains('mine'),
        offset: offset === undefined ? null : Number(offset),
      };
    }),
  );
}

/** Waits until the log holds at least `count` messages, then returns them. */
export async function waitForEntries(page: Page, count: number, timeout = SHOWN_WITHIN_MS): Promise<Entry[]> {
  await page.waitForFunction((n) => document.querySelectorAll('#log > li:not([data-kind="system"])').length >= n, count, { timeout });
  return entries(page);
}

/** One change the page recorded (public/state-history.js). */
export interface RecordedChange {
  /** Counts changes from 1. */
  n: number;
  at: number;
  state: string;
  text: string;
}

/** The page's records: its status line, and its outbox entries. */
export type RecordName = 'framecastStatusHistory' | 'framecastOutboxHistory';

/** Every change of a record so far, oldest first. */
export function recorded(page: Page, name: RecordName = 'framecastStatusHistory'): Promise<RecordedChange[]> {
  return page.evaluate((key) => (window as unknown as Record<string, RecordedChange[] | undefined>)[key] ?? [], name);
}

/** Every change of the status line so far, oldest first. */
export function statusHistory(page: Page): Promise<RecordedChange[]> {
  return recorded(page, 'framecastStatusHistory');
}

/**
 * Waits until the page has recorded `state` with a text matching `pattern` after change number
 * `after`, however briefly it was shown, and returns that change.
 */
export async function waitForRecorded(page: Page, name: RecordName, state: string, pattern: RegExp, after = 0, timeout = SHOWN_WITHIN_MS): Promise<RecordedChange> {
  const found = await page.waitForFunction(
    ([key, wanted, source, flags, since]) => {
      const history = (window as unknown as Record<string, RecordedChange[] | undefined>)[key] ?? [];
      const matches = new RegExp(source, flags);
      return history.find((change) => change.n > since && change.state === wanted && matches.test(change.text)) ?? false;
    },
    [name, state, pattern.source, pattern.flags, after] as const,
    { timeout },
  );
  return (await found.jsonValue()) as RecordedChange;
}

/** waitForRecorded on the status line. */
export function waitForStatus(page: Page, state: string, pattern: RegExp, after = 0, timeout = SHOWN_WITHIN_MS): Promise<RecordedChange> {
  return waitForRecorded(page, 'framecastStatusHistory', state, pattern, after, timeout);
}

/** The nicknames the presence panel lists, in its order. */
export function presence(page: Page): Promise<string[]> {
  return page.$$eval('#presence > li .nick', (items) => items.map((item) => item.textContent ?? ''));
}

/** Waits until the presence panel lists exactly these nicknames (in any order). */
export async function waitForPresence(page: Page, nicks: string[], timeout = SHOWN_WITHIN_MS): Promise<void> {
  await page.waitForFunction(
    (wanted) => {
      const shown = Array.from(document.querySelectorAll('#presence > li .nick'), (item) => item.textContent ?? '').sort();
      return JSON.stringify(shown) === JSON.stringify([...wanted].sort());
    },
    nicks,
    { timeout },
  );
}
