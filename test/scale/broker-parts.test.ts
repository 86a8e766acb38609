/**
 * The pieces of the Redis scale-out that need no Redis: the broker envelope, the reconnect
 * backoff, the URL shown in logs, and the `--redis` option.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, ENVELOPE_VERSION } from '../../src/server/broker-envelope.js';
import { parseCli } from '../../src/server/cli-options.js';
import { BrokerDefaults } from '../../src/server/config.js';
import { reconnectDelay, redactUrl } from '../../src/server/redis-hub.js';

describe('broker envelope: one flags byte, then the payload unchanged', () => {
  it('round-trips binary payloads byte for byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
        const envelope = encodeEnvelope(bytes, true);
        expect(envelope.length).toBe(bytes.length + 1);
        const message = decodeEnvelope(envelope);
        expect(message?.isBinary).toBe(true);
        expect(Buffer.compare(message!.payload, Buffer.from(bytes))).toBe(0);
      }),
    );
  });

  it('round-trips text given as a string or as UTF-8 bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (text) => {
        for (const envelope of [encodeEnvelope(text, false), encodeEnvelope(Buffer.from(text, 'utf8'), false)]) {
          const message = decodeEnvelope(envelope);
          expect(message?.isBinary).toBe(false);
          expect(message!.payload.toString('utf8')).toBe(text);
        }
      }),
    );
  });

  it('writes the version in the high four bits and the binary flag in bit 0', () => {
    expect(encodeEnvelope('a', false)[0]).toBe(ENVELOPE_VERSION << 4);
    expect(encodeEnvelope(new Uint8Array([1]), true)[0]).toBe((ENVELOPE_VERSION << 4) | 1);
  });

  it('refuses empty envelopes and envelopes of another version', () => {
    expect(decodeEnvelope(Buffer.alloc(0))).toBeUndefined();
    expect(decodeEnvelope(Buffer.from([(ENVELOPE_VERSION + 1) << 4, 0x61]))).toBeUndefined();
    expect(decodeEnvelope(Buffer.from([0x00, 0x61]))).toBeUndefined();
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
