/**
 * `framecast/client` as a user gets it: src/ compiled as `npm run build` compiles it (with the
 * project's compiler options, into a temporary copy of the package), then a program in another
 * directory with the package in its node_modules imports `framecast/client` and `framecast`
 * through package.json's `exports`, and a TypeScript file is type-checked against the emitted
 * declarations. The same program connects over wss: trusting the test's self-signed
 * certificate only through NODE_EXTRA_CA_CERTS, as any Node TLS client does.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { makeSelfSignedCertificate, tlsTestsEnabled } from '../helpers/tls-cert.js';
import { echo } from '../helpers/websocket-client.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
/** Compiling src/ and type-checking the consumer take several seconds on a loaded machine. */
const BUILD_TIMEOUT_MS = 120_000;

interface PackageJson {
  main: string;
  types: string;
  exports: Record<string, string | { types: string; default: string }>;
}

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
const tsconfigBuild = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };

describe('package.json exports', () => {
  it('maps "." to the main entry and "./client" to src/client, each with its declarations, where the build puts them', () => {
    // tsconfig.json: rootDir ".", outDir "dist": src/x.ts is built to dist/src/x.js.
    expect(manifest.exports['.']).toEqual({ types: './dist/src/index.d.ts', default: './dist/src/index.js' });
    expect(manifest.exports['./client']).toEqual({ types: './dist/src/client/index.d.ts', default: './dist/src/client/index.js' });
    expect(`./${manifest.main}`).toBe('./dist/src/index.js');
    expect(`./${manifest.types}`).toBe('./dist/src/index.d.ts');
    expect(tsconfigBuild.include).toContain('src');
  });
});

describe('importing framecast/client after a build', () => {
  let work: string;
  let user: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'framecast-package-'));
    const pkg = join(work, 'framecast');
    user = join(work, 'user');
    mkdirSync(pkg);
    mkdirSync(join(user, 'node_modules'), { recursive: true });
    // The package: its package.json, src/ built with the project's options, its dependencies.
    writeFileSync(join(pkg, 'package.json'), JSON.stringify(manifest));
    writeFileSync(
      join(work, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.json'),
        compilerOptions: { noEmit: false, rootDir: ROOT, outDir: join(pkg, 'dist'), sourceMap: false, typeRoots: [join(ROOT, 'node_modules/@types')] },
        include: [join(ROOT, 'src')],
      }),
    );
    await run(process.execPath, [TSC, '-p', join(work, 'tsconfig.json')]);
    symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');
    // The user's project, with the package installed.
    symlinkSync(pkg, join(user, 'node_modules', 'framecast'), 'dir');
    writeFileSync(join(user, 'package.json'), JSON.stringify({ name: 'user', type: 'module', private: true }));
  }, BUILD_TIMEOUT_MS);

  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
  });

  it('both entries import, with the client and the server', async () => {
    writeFileSync(
      join(user, 'imports.mjs'),
      [
        "import { WebSocket, CloseEvent, WebSocketError, ClientDefaults } from 'framecast/client';",
        "import { WebSocketServer, createFramecast } from 'framecast';",
        'console.log(JSON.stringify({ ws: typeof WebSocket, open: WebSocket.OPEN, close: typeof CloseEvent, error: typeof WebSocketError, defaults: typeof ClientDefaults, server: typeof WebSocketServer, app: typeof createFramecast }));',
      ].join('\n'),
    );
    const { stdout } = await run(process.execPath, ['imports.mjs'], { cwd: user });
    expect(JSON.parse(stdout)).toEqual({ ws: 'function', open: 1, close: 'function', error: 'function', defaults: 'object', server: 'function', app: 'function' });
  });

  it('TypeScript finds the declarations through the exports map', async () => {
    writeFileSync(
      join(user, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, lib: ['ES2022', 'DOM'], types: [], typeRoots: [join(ROOT, 'node_modules/@types')] }, files: ['consumer.ts'] }),
    );
    writeFileSync(
      join(user, 'consumer.ts'),
      [
        "import { WebSocket, type WebSocketOptions, type CloseEvent } from 'framecast/client';",
        "import { WebSocketServer } from 'framecast';",
        "const options: WebSocketOptions = { maxMessageSize: 1024, perMessageDeflate: { threshold: 0 } };",
        "const socket = new WebSocket('ws://127.0.0.1:1/', ['chat'], options);",
        'const state: 0 | 1 | 2 | 3 = socket.readyState;',
        'const backpressure: boolean = socket.send("typed");',
        "socket.onclose = (event: CloseEvent) => console.log(event.code, event.wasClean, state, backpressure);",
        '// @ts-expect-error: binaryType is a closed set',
        "socket.binaryType = 'text';",
        '// @ts-expect-error: maxMessageSize is a number',
        "new WebSocket('ws://x/', { maxMessageSize: 'big' });",
        'void WebSocketServer;',
      ].join('\n'),
    );
    // Fails (exit code 2, with the messages) if an import does not resolve, a type is wrong, or
    // one of the expected errors above does not happen because the types are too loose.
    await expect(run(process.execPath, [TSC, '-p', join(user, 'tsconfig.json')], { cwd: user })).resolves.toBeDefined();
  }, BUILD_TIMEOUT_MS);

  it.runIf(tlsTestsEnabled('test/client/package.test.ts'))('connects over wss: trusting a CA given only by NODE_EXTRA_CA_CERTS', async () => {
    const certificate = makeSelfSignedCertificate();
    const server = createHttpsServer({ cert: certificate.cert, key: certificate.key });
    new WebSocketServer({ server }).on('connection', echo);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as AddressInfo).port;
    try {
      writeFileSync(
        join(user, 'wss.mjs'),
        [
          "import { WebSocket } from 'framecast/client';",
          `const socket = new WebSocket('wss://localhost:${port}/');`,
          "socket.onopen = () => socket.send('trusted');",
          "socket.onmessage = (event) => { console.log(event.data); socket.close(); };",
          "socket.onerror = (event) => { console.log('error ' + event.message); };",
        ].join('\n'),
      );
      const trusted = await run(process.execPath, ['wss.mjs'], { cwd: user, env: { ...process.env, NODE_EXTRA_CA_CERTS: certificate.certPath } });
      expect(trusted.stdout.trim()).toBe('trusted');
      const untrusted = await run(process.execPath, ['wss.mjs'], { cwd: user, env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } });
      expect(untrusted.stdout).toMatch(/^error .*self-signed/);
    } finally {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
      certificate.remove();
    }
  });
});
