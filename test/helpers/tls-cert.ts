/**
 * A self-signed certificate for localhost and 127.0.0.1, made with Debian's `openssl` for the
 * TLS tests (node:crypto cannot write X.509 certificates). Without openssl those tests skip
 * loudly, except with CI=true, where they run and fail.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SelfSignedCertificate {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The certificate's file, e.g. for NODE_EXTRA_CA_CERTS. */
  readonly certPath: string;
  /** Removes the files. */
  remove(): void;
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** True when the TLS tests should run; warns loudly when they are skipped. */
export function tlsTestsEnabled(suite: string): boolean {
  if (hasOpenssl()) return true;
  if (process.env.CI === 'true') return true; // must run in CI: making the certificate will fail and say why
  console.warn(`\n!!! SKIPPING the TLS tests of ${suite}: no openssl on PATH.\n!!! Install it with \`apt-get install -y openssl\`. In CI (CI=true) these tests must run.\n`);
  return false;
}

/** Makes a certificate valid for a day, for DNS localhost and IP 127.0.0.1. */
export function makeSelfSignedCertificate(): SelfSignedCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'framecast-tls-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(certPath), key: readFileSync(keyPath), certPath, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
