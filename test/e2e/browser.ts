/**
 * Browser tests' shared setup: Debian's Chromium, headless, driven by playwright-core (never
 * Playwright's own browser download), with a fresh profile and no outside network.
 *
 * Outside CI a machine without Chromium skips the browser tests with a loud warning; with
 * CI=true they always run, and fail if Chromium is missing.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where each test's screenshot goes (git-ignored). */
export const SCREENSHOT_DIR = join(process.cwd(), 'test-results', 'e2e');

/** Flags for a headless Chromium that never reaches outside this machine. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** True when the browser tests should run; warns loudly when they are skipped. */
export function browserTestsEnabled(suite: string): boolean {
  if (existsSync(CHROMIUM_PATH)) return true;
  if (process.env.CI === 'true') return true; // must run in CI: launching will fail and say why
  console.warn(
    `\n!!! SKIPPING the browser tests of ${suite}: no Chromium at ${CHROMIUM_PATH}.\n` +
      '!!! Install it with `apt-get install -y chromium` (or set CHROMIUM_PATH). In CI (CI=true) these tests must run.\n',
  );
  return false;
}

/** A running Chromium with its own temporary profile. */
export interface Browser {
  /** A new page (tab). Each page has its own sessionStorage, so its own chat nickname. */
  newPage(viewport?: { width: number; height: number }): Promise<Page>;
  /** Saves a screenshot of every open page (what its viewport shows) as test-results/e2e/<name>[-n].png. */
  screenshotAll(name: string): Promise<void>;
  /** Closes every open page (between tests). */
  closePages(): Promise<void>;
  close(): Promise<void>;
}

/** `extraArgs`: more Chromium flags, e.g. `--ignore-certificate-errors` for a test certificate. */
export async function launchBrowser(extraArgs: readonly string[] = []): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'framecast-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS, ...extraArgs],
      viewport: { width: 1100, height: 800 },
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  // A persistent context opens with one blank page: close it so every page is one a test made.
  for (const page of context.pages()) await page.close();
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  return {
    async newPage(viewport) {
      const page = await context.newPage();
      if (viewport !== undefined) await page.setViewportSize(viewport);
      return page;
    },
    async screenshotAll(name) {
      const safe = name.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 100);
      const pages = context.pages();
      await Promise.all(
        pages.map((page, i) =>
          page.screenshot({ path: join(SCREENSHOT_DIR, pages.length === 1 ? `${safe}.png` : `${safe}-${i + 1}.png`) }).catch(() => undefined),
        ),
      );
    },
    async closePages() {
      await Promise.all(context.pages().map((page) => page.close()));
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
