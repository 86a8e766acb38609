/**
 * framecast over TLS (`tls` option, --tls-cert/--tls-key): the page, POST /push, /healthz and
 * every WebSocket endpoint as wss:, judged with the `ws` client and Node's https; the
 * certificate replaced for new connections while an open WebSocket stays open (setCertificate,
 * and SIGHUP in the CLI). The certificates are self-signed, made by openssl for each run.
 */
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { compileCli, type CliChild, spawnCli } from '../helpers/cli-process.js';
import { nextMessages, openClient, startFramecast, type RunningFramecast } from '../helpers/framecast.js';
import { makeSelfSignedCertificate, type SelfSignedCertificate, tlsTestsEnabled } from '../helpers/tls-cert.js';
import { waitUntil } from '../helpers/wait.js';

const enabled = tlsTestsEnabled('test/server/tls.test.ts');

/** An https request with the test CA; resolves with status and body. */
function https(port: number, ca: Buffer, path: string, method = 'GET', body?: string): Promise<{ status: number; body: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, method, ca, servername: 'localhost' }, (response) => {
      const chunks: Buffer[] = [];
      const alpn = (response.socket as TLSSocket).alpnProtocol ?? false;
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString(), alpn }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The SHA-256 fingerprint of the certificate a new TLS connection to `port` is served. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.on('error', reject);
  });
}

function fingerprintOf(certificate: SelfSignedCertificate): Promise<string> {
  return import('node:crypto').then(({ X509Certificate }) => new X509Certificate(certificate.cert).fingerprint256);
}

describe.runIf(enabled)('framecast over TLS', () => {
  let first: SelfSignedCertificate;
  let second: SelfSignedCertificate;
  let running: RunningFramecast;

  beforeAll(async () => {
    first = makeSelfSignedCertificate();
    second = makeSelfSignedCertificate();
    running = await startFramecast({ tls: { cert: first.cert, key: first.key }, heartbeatInterval: 0 });
  });

  afterAll(async () => {
    await running.close();
    first.remove();
    second.remove();
  });

  it('echoes over wss:// to the ws client, which checks the certificate against its CA', async () => {
    const client = await openClient(`wss://localhost:${running.port}/ws`, { ca: first.cert });
    const reply = nextMessages(client, 1);
    client.send('over TLS');
    expect((await reply)[0][0].toString()).toBe('over TLS');
    client.close();
  });

  it('fails a client that does not trust the certificate', async () => {
    await expect(openClient(`wss://localhost:${running.port}/ws`)).rejects.toThrow(/self[- ]signed/i);
  });

  it('serves the page, /healthz and /metrics over https, HTTP/1.1 to a client that offers no ALPN', async () => {
    const page = await https(running.port, first.cert, '/');
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<html/i);
    const health = await https(running.port, first.cert, '/healthz');
    expect(JSON.parse(health.body).status).toBe('ok');
    // Node's https offers no ALPN protocol: the server (allowHTTP1) answers it in HTTP/1.1.
    expect(health.alpn).toBe(false);
    expect((await https(running.port, first.cert, '/metrics')).body).toMatch(/framecast_connections_opened_total \d+/);
  });

  it('delivers POST /push over https to a chat client on wss://', async () => {
    const client = await openClient(`wss://localhost:${running.port}/chat?channel=tls`, { ca: first.cert });
    const delivered = nextMessages(client, 1);
    const pushed = await https(running.port, first.cert, '/push?channel=tls', 'POST', 'pushed over TLS');
    expect(pushed.status).toBe(202);
    expect((await delivered)[0][0].toString()).toBe('pushed over TLS');
    client.close();
  });

  it('setCertificate: new connections get the new certificate, an open WebSocket stays open', async () => {
    const open = await openClient(`wss://localhost:${running.port}/ws`, { ca: first.cert });
    expect(await servedFingerprint(running.port)).toBe(await fingerprintOf(first));
    running.framecast.setCertificate({ cert: second.cert, key: second.key });
    expect(await servedFingerprint(running.port)).toBe(await fingerprintOf(second));
    // The WebSocket made under the first certificate still works.
    const reply = nextMessages(open, 1);
    open.send('still here');
    expect((await reply)[0][0].toString()).toBe('still here');
    expect(open.readyState).toBe(WebSocket.OPEN);
    const fresh = await openClient(`wss://localhost:${running.port}/ws`, { ca: second.cert });
    fresh.close();
    open.close();
    running.framecast.setCertificate({ cert: first.cert, key: first.key });
  });
});

describe.runIf(enabled)('the CLI with --tls-cert and --tls-key', () => {
  let build: { dir: string; cli: string };
  let first: SelfSignedCertificate;
  let second: SelfSignedCertificate;
  let cli: CliChild | undefined;

  beforeAll(() => {
    build = compileCli('framecast-tls-');
    first = makeSelfSignedCertificate();
    second = makeSelfSignedCertificate();
  });

  afterAll(() => {
    const pid = cli?.child.pid;
    if (pid !== undefined && cli?.child.exitCode === null) process.kill(pid, 'SIGKILL');
    rmSync(build.dir, { recursive: true, force: true });
    first.remove();
    second.remove();
  });

  it('serves wss:// and rereads the certificate files on SIGHUP without dropping an open WebSocket', async () => {
    // Files of its own, overwritten below as a renewal would.
    const certFile = `${build.dir}/cert.pem`;
    const keyFile = `${build.dir}/key.pem`;
    writeFileSync(certFile, first.cert);
    writeFileSync(keyFile, first.key);
    cli = await spawnCli(build.cli, ['--port', '0', '--host', '127.0.0.1', '--heartbeat', '0'], { FRAMECAST_TLS_CERT: certFile, FRAMECAST_TLS_KEY: keyFile }).listening;
    expect(cli.stderr()).toMatch(/listening on https:\/\//);
    const port = cli.port;
    const open = await openClient(`wss://localhost:${port}/ws`, { ca: first.cert });
    expect(await servedFingerprint(port)).toBe(await fingerprintOf(first));

    writeFileSync(certFile, second.cert);
    writeFileSync(keyFile, second.key);
    process.kill(cli.child.pid!, 'SIGHUP');
    await waitUntil(() => /certificate reread/.test(cli!.stderr()), 5_000);
    expect(await servedFingerprint(port)).toBe(await fingerprintOf(second));

    const reply = nextMessages(open, 1);
    open.send('across the reload');
    expect((await reply)[0][0].toString()).toBe('across the reload');
    open.close();
  });
});
