/**
 * FramecastClient for pages: `GET /framecast.js` and the modules it imports, under `/framecast/`.
 *
 * `npm run build` compiles src/client/framecast-client.ts and what it imports with
 * tsconfig.browser.json (DOM types only) to dist/browser/. `/framecast.js` is a one-line module
 * re-exporting `./framecast/framecast-client.js`, so the compiled files keep their relative
 * imports: the browser resolves `./backoff.js` in it to `/framecast/backoff.js`. Nothing is
 * compiled at run time; without the build both answer 503, saying so.
 */
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { refusedMethod, sendAsset, sendText, serveStatic } from './static-files.js';

/** The module pages import: `import { FramecastClient } from '/framecast.js'`. */
export const BROWSER_CLIENT_PATH = '/framecast.js';
/** Where the compiled modules are, one URL per file of the build. */
const MODULES_PREFIX = '/framecast/';
const ENTRY_MODULE = 'framecast-client.js';
const JAVASCRIPT = 'text/javascript; charset=utf-8';
const ENTRY_SHIM = Buffer.from(`export * from '.${MODULES_PREFIX}${ENTRY_MODULE}';\n`);
const NOT_BUILT = 'the browser client is not built: run `npm run build` (tsconfig.browser.json compiles it to dist/browser/)\n';

/** True for the paths this module answers. */
export function isBrowserClientPath(pathname: string): boolean {
  return pathname === BROWSER_CLIENT_PATH || pathname.startsWith(MODULES_PREFIX);
}

async function isBuilt(dir: string): Promise<boolean> {
  try {
    return (await stat(join(dir, ENTRY_MODULE))).isFile();
  } catch {
    return false;
  }
}

/** Answers `/framecast.js` or `/framecast/<file>` from the browser build in `dir`. */
export async function serveBrowserClient(dir: string, pathname: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (refusedMethod(request, response)) return;
  if (!(await isBuilt(dir))) return sendText(response, 503, NOT_BUILT);
  if (pathname === BROWSER_CLIENT_PATH) return sendAsset(request, response, JAVASCRIPT, ENTRY_SHIM);
  return serveStatic(dir, pathname.slice(MODULES_PREFIX.length - 1), request, response);
}
