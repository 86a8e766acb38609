/**
 * GET /framecast.js and /framecast/*.js (src/server/browser-client.ts): the browser build of
 * FramecastClient, served from a folder and never compiled at run time.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_CLIENT_DIR, PUBLIC_DIR } from '../../src/server/app.js';
import { startFramecast, type RunningFramecast } from '../helpers/framecast.js';

/** The status of a GET whose target is sent byte for byte as given. */
function statusOf(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    }).on('error', reject);
  });
}

describe('the browser client at /framecast.js', () => {
  let folder: string;
  let built: RunningFramecast;
  let unbuilt: RunningFramecast;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'framecast-browser-client-test-'));
    await writeFile(join(folder, 'framecast-client.js'), "import { x } from './backoff.js';\nexport class FramecastClient {}\n");
    await writeFile(join(folder, 'backoff.js'), 'export const x = 1;\n');
    await mkdir(join(folder, 'empty'));
    built = await startFramecast({ browserClientDir: folder });
    unbuilt = await startFramecast({ browserClientDir: join(folder, 'empty') });
  });

  afterAll(async () => {
    await built?.close();
    await unbuilt?.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('answers /framecast.js with a module re-exporting the build, which keeps its relative imports under /framecast/', async () => {
    const response = await fetch(`${built.httpUrl}/framecast.js`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
    // The browser resolves './framecast/...' against /framecast.js: /framecast/framecast-client.js.
    expect(await response.text()).toBe("export * from './framecast/framecast-client.js';\n");
    for (const [path, body] of [
      ['/framecast/framecast-client.js', "import { x } from './backoff.js';\nexport class FramecastClient {}\n"],
      ['/framecast/backoff.js', 'export const x = 1;\n'],
    ]) {
      const module = await fetch(`${built.httpUrl}${path}`);
      expect(module.status).toBe(200);
      expect(module.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(await module.text()).toBe(body);
    }
    const head = await fetch(`${built.httpUrl}/framecast.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('answers 404 for what the build does not hold and for paths out of its folder, 405 for anything but GET and HEAD', async () => {
    // Sent as written (fetch would resolve the dots first); a file beside the folder must stay
    // out of reach.
    await writeFile(join(folder, '..', 'framecast-browser-client-test-outside.js'), 'secret');
    try {
      for (const path of ['/framecast/nothing.js', '/framecast/..%2fframecast-browser-client-test-outside.js', '/framecast/%2e%2e%2fframecast-browser-client-test-outside.js', '/framecast/']) {
        expect(await statusOf(built.port, path), path).toBe(404);
      }
    } finally {
      await rm(join(folder, '..', 'framecast-browser-client-test-outside.js'), { force: true });
    }
    const post = await fetch(`${built.httpUrl}/framecast.js`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('answers 503 saying how to build it when the build is missing: nothing is compiled at run time', async () => {
    for (const path of ['/framecast.js', '/framecast/framecast-client.js']) {
      const response = await fetch(`${unbuilt.httpUrl}${path}`);
      expect(response.status).toBe(503);
      expect(await response.text()).toContain('npm run build');
    }
    // The rest of the site is unaffected.
    expect((await fetch(`${unbuilt.httpUrl}/`)).status).toBe(200);
  });

  it('looks for the build in dist/browser/ of the package by default, from src/ and from dist/ alike', () => {
    expect(BROWSER_CLIENT_DIR).toBe(join(PUBLIC_DIR, '..', 'dist', 'browser'));
  });
});
