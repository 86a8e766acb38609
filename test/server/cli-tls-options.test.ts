/** The TLS and HTTP/2 flags of parseCli: --tls-cert and --tls-key together, --h2c only without TLS, environment variables alike. */
import { describe, expect, it } from 'vitest';
import { FLAGS, parseCli } from '../../src/server/cli-options.js';

describe('--tls-cert, --tls-key and --h2c', () => {
  it('plain HTTP/1.1 by default', () => {
    const parsed = parseCli([], {});
    expect(parsed).toMatchObject({ help: false, options: { tlsCert: undefined, tlsKey: undefined, h2c: false } });
  });

  it('takes the two files from flags or from FRAMECAST_TLS_CERT / FRAMECAST_TLS_KEY', () => {
    expect(parseCli(['--tls-cert', 'c.pem', '--tls-key', 'k.pem'], {})).toMatchObject({ options: { tlsCert: 'c.pem', tlsKey: 'k.pem' } });
    expect(parseCli([], { FRAMECAST_TLS_CERT: 'c.pem', FRAMECAST_TLS_KEY: 'k.pem' })).toMatchObject({ options: { tlsCert: 'c.pem', tlsKey: 'k.pem' } });
    expect(FLAGS.map((flag) => flag.env)).toEqual(expect.arrayContaining(['FRAMECAST_TLS_CERT', 'FRAMECAST_TLS_KEY', 'FRAMECAST_H2C']));
  });

  it('refuses one file without the other', () => {
    expect(parseCli(['--tls-cert', 'c.pem'], {})).toEqual({ error: expect.stringMatching(/--tls-cert and --tls-key go together/) });
    expect(parseCli([], { FRAMECAST_TLS_KEY: 'k.pem' })).toEqual({ error: expect.stringMatching(/go together/) });
  });

  it('--h2c on|off, and not with TLS (which offers HTTP/2 already)', () => {
    expect(parseCli(['--h2c', 'on'], {})).toMatchObject({ options: { h2c: true } });
    expect(parseCli(['--h2c', 'yes'], {})).toEqual({ error: expect.stringMatching(/--h2c must be on or off/) });
    expect(parseCli(['--h2c', 'on', '--tls-cert', 'c.pem', '--tls-key', 'k.pem'], {})).toEqual({ error: expect.stringMatching(/cleartext/) });
  });
});
