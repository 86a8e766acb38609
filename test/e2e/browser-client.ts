/**
 * The browser build of FramecastClient for the pages under test: tsconfig.browser.json
 * compiled into a fresh temporary folder, which the test's server serves as /framecast.js
 * (FramecastOptions.browserClientDir). A folder per test file: files running in parallel never
 * read each other's half-written output, and the pages always run the source as it is now,
 * not whatever `npm run build` last left in dist/.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

export interface BrowserClientBuild {
  readonly dir: string;
  remove(): Promise<void>;
}

export async function buildBrowserClient(): Promise<BrowserClientBuild> {
  const dir = await mkdtemp(join(tmpdir(), 'framecast-browser-client-'));
  try {
    await run(process.execPath, [TSC, '-p', 'tsconfig.browser.json', '--outDir', dir], { cwd: process.cwd() });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    const { stdout = '' } = error as { stdout?: string };
    throw new Error(`tsc -p tsconfig.browser.json failed:\n${stdout}`);
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
