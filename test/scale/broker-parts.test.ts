/**
 * The pieces of the Redis scale-out that need no Redis: the broker envelope, the reconnect
 * backoff, the URL shown in logs, and the `--redis` and `--node-timeout` options.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, ENVELOPE_VERSION, EnvelopeKind, positionHeader, readPositionHeader } from '../../src/server/hub/broker-envelope.js';
import { parseCli } from '../../src/server/cli-options.js';
import { BrokerDefaults } from '../../src/server/config.js';
import { reconnectDelay, redactUrl } from '../../src/server/hub/redis-hub.js';

describe('broker envelope v2: flags byte, header length, header, then the payload unchanged', () => {
  it('round-trips binary payloads byte for byte, with the position header', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (bytes, offset) => {
        const header = positionHeader('kV3mQ9xA', offset);
        const envelope = encodeEnvelope(EnvelopeKind.Binary, header, bytes);
        expect(envelope.length).toBe(2 + header.length + bytes.length);
        const message = decodeEnvelope(envelope);
        expect(message?.kind).toBe(EnvelopeKind.Binary);
        expect(readPositionHeader(message!.header)).toEqual({ epoch: 'kV3mQ9xA', offset });
        expect(Buffer.compare(message!.payload, Buffer.from(bytes))).toBe(0);
      }),
    );
  });

  it('round-trips text given as a string or as UTF-8 bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (text) => {
        for (const envelope of [encodeEnvelope(EnvelopeKind.Text, '', text), encodeEnvelope(EnvelopeKind.Text, '', Buffer.from(text, 'utf8'))]) {
          const message = decodeEnvelope(envelope);
          expect(message?.kind).toBe(EnvelopeKind.Text);
          expect(message?.header).toBe('');
          expect(message!.payload.toString('utf8')).toBe(text);
        }
      }),
    );
  });

  it('writes the version in the high four bits, the kind in bits 1-0, then the header length', () => {
    expect([...encodeEnvelope(EnvelopeKind.Text, 'e 1', 'a')]).toEqual([ENVELOPE_VERSION << 4, 3, 0x65, 0x20, 0x31, 0x61]);
    expect(encodeEnvelope(EnvelopeKind.Binary, '', new Uint8Array([1]))[0]).toBe((ENVELOPE_VERSION << 4) | 1);
    expect(encodeEnvelope(EnvelopeKind.Presence, 'n-node', '{}')[0]).toBe((ENVELOPE_VERSION << 4) | 2);
    expect(() => encodeEnvelope(EnvelopeKind.Text, 'x'.repeat(256), '')).toThrow(RangeError);
  });

  it('refuses short envelopes, other versions (version 1 among them), unknown kinds and headers past the end', () => {
    expect(decodeEnvelope(Buffer.alloc(0))).toBeUndefined();
    expect(decodeEnvelope(Buffer.from([ENVELOPE_VERSION << 4]))).toBeUndefined();
    expect(decodeEnvelope(Buffer.from([(ENVELOPE_VERSION + 1) << 4, 0, 0x61]))).toBeUndefined();
    expect(decodeEnvelope(Buffer.from([0x10, 0x61]))).toBeUndefined(); // a version 1 text message "a"
    expect(decodeEnvelope(Buffer.from([(ENVELOPE_VERSION << 4) | 3, 0, 0x61]))).toBeUndefined();
    expect(decodeEnvelope(Buffer.from([(ENVELOPE_VERSION << 4) | 4, 0, 0x61]))).toBeUndefined();
    expect(decodeEnvelope(Buffer.from([ENVELOPE_VERSION << 4, 5, 0x61]))).toBeUndefined();
  });

  it('reads a position header only when it is "EPOCH OFFSET" with an offset from 1 to 2^53-1', () => {
    expect(readPositionHeader('kV3mQ9xA 42')).toEqual({ epoch: 'kV3mQ9xA', offset: 42 });
    for (const bad of ['', 'kV3mQ9xA', ' 42', 'kV3mQ9xA ', 'kV3mQ9xA 0', 'kV3mQ9xA -1', 'kV3mQ9xA 4x', 'kV3mQ9xA 9007199254740992', 'kV3mQ9xA 12345678901234567']) {
      expect(readPositionHeader(bad)).toBeUndefined();
    }
  });
});

describe('reconnect backoff: doubling from the minimum, capped, with bounded jitter', () => {
  it('doubles per attempt until the cap, never below the base or above base plus jitter', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 500 }), fc.integer({ min: 500, max: 10_000 }), (retries, min, max) => {
        const base = Math.min(max, min * 2 ** Math.min(retries, 30));
        const delay = reconnectDelay(retries, min, max, BrokerDefaults.reconnectJitter);
        expect(delay).toBeGreaterThanOrEqual(base);
        expect(delay).toBeLessThanOrEqual(Math.round(base * (1 + BrokerDefaults.reconnectJitter)));
      }),
    );
  });

  it('with no jitter: 50, 100, 200, ... up to 2000 ms', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 20].map((retries) => reconnectDelay(retries, 50, 2000, 0))).toEqual([50, 100, 200, 400, 800, 1600, 2000, 2000]);
  });
});

describe('Redis URLs in logs', () => {
  it('hides the password and keeps the rest', () => {
    expect(redactUrl('redis://user:secret@cache.internal:6380/2')).toBe('redis://user:***@cache.internal:6380/2');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});

describe('--redis / FRAMECAST_REDIS', () => {
  const optionsOf = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const parsed = parseCli(argv, env);
    if (!('options' in parsed)) throw new Error(`expected options, got ${JSON.stringify(parsed)}`);
    return parsed.options;
  };

  it('keeps the in-process hub when neither is given', () => {
    expect(optionsOf([]).redis).toBeUndefined();
  });

  it('takes a redis:// or rediss:// URL from the flag or the environment; the flag wins', () => {
    expect(optionsOf(['--redis', 'redis://127.0.0.1:6379']).redis).toBe('redis://127.0.0.1:6379');
    expect(optionsOf(['--redis=rediss://user:pw@cache:6380']).redis).toBe('rediss://user:pw@cache:6380');
    expect(optionsOf([], { FRAMECAST_REDIS: 'redis://envhost:6379' }).redis).toBe('redis://envhost:6379');
    expect(optionsOf(['--redis', 'redis://flaghost:6379'], { FRAMECAST_REDIS: 'redis://envhost:6379' }).redis).toBe('redis://flaghost:6379');
  });

  it('refuses anything that is not a Redis URL with a host', () => {
    for (const bad of ['127.0.0.1:6379', 'http://127.0.0.1:6379', 'redis://', 'not a url']) {
      const parsed = parseCli(['--redis', bad], {});
      expect(parsed).toHaveProperty('error');
      expect((parsed as { error: string }).error).toMatch(/--redis/);
    }
  });
});

describe('--node-timeout / FRAMECAST_NODE_TIMEOUT', () => {
  it('is BrokerDefaults.nodeTimeout (30 s) unless given, in whole seconds from 1 to 3600', () => {
    const parsed = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseCli(argv, env);
    expect(parsed([])).toMatchObject({ options: { nodeTimeout: BrokerDefaults.nodeTimeout } });
    expect(BrokerDefaults.nodeTimeout).toBe(30_000);
    expect(parsed(['--node-timeout', '2'])).toMatchObject({ options: { nodeTimeout: 2000 } });
    expect(parsed([], { FRAMECAST_NODE_TIMEOUT: '90' })).toMatchObject({ options: { nodeTimeout: 90_000 } });
    for (const bad of ['0', '3601', '1.5', 'soon']) {
      expect((parsed(['--node-timeout', bad]) as { error: string }).error).toMatch(/--node-timeout/);
    }
  });
});
