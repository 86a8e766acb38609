/**
 * A Redis that is up but does not answer (paused, overloaded): the publications a node has
 * handed to it wait inside the client, and their bytes are bounded by `maxPendingPublishBytes`.
 * Past the bound, `publish` refuses at once (POST /push answers 503, a chat sender gets 1013)
 * instead of letting memory grow with whatever the clients send.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerBusyError, RedisHub } from '../../src/server/hub/redis-hub.js';
import { type RedisProcess, skipWithoutRedis, startRedis } from './redis-server.js';

const skip = skipWithoutRedis('slow Redis broker tests (test/scale/redis-slow-broker.test.ts)');

const MAX_PENDING = 200_000;
const MESSAGE_BYTES = 50_000;
/** Publications of MESSAGE_BYTES (plus an envelope header of a few bytes) that fit under MAX_PENDING. */
const FITTING = 3;
const ATTEMPTS = 12;
const PAUSE_MS = 1_000;

describe.skipIf(skip)('publications waiting for a Redis that does not answer are bounded', () => {
  let redis: RedisProcess | undefined;
  let hub: RedisHub | undefined;
  let admin: ReturnType<typeof createClient> | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    hub = new RedisHub([], { url: redis.url, maxPendingPublishBytes: MAX_PENDING });
    await hub.whenConnected();
    admin = createClient({ url: redis.url });
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.close();
    await hub?.close();
    await redis?.stop();
  });

  it('refuses publishes past maxPendingPublishBytes at once, delivers the waiting ones, then publishes again', async () => {
    const started = Date.now();
    // Every client of this Redis waits PAUSE_MS for an answer, the hub's publisher included.
    await admin!.sendCommand(['CLIENT', 'PAUSE', String(PAUSE_MS)]);
    const attempts = Array.from({ length: ATTEMPTS }, (_, i) => hub!.publish('slow', Buffer.alloc(MESSAGE_BYTES, i), true));
    let answered = false;
    void Promise.allSettled(attempts.slice(0, FITTING)).then(() => {
      answered = true;
    });
    const refusedBeforeAnswers = await Promise.allSettled(attempts.slice(FITTING));
    // Refused at once, not after Redis answers: told by order, not by the clock.
    expect(answered).toBe(false);
    for (const result of refusedBeforeAnswers) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(BrokerBusyError);
    }
    // The first ones were sent and are answered once Redis runs again (nobody subscribes: 0 nodes).
    expect(await Promise.all(attempts.slice(0, FITTING))).toEqual(new Array<number>(FITTING).fill(0));
    expect(Date.now() - started).toBeGreaterThanOrEqual(PAUSE_MS - 50);
    // Counted as failed publications, and nothing is left waiting: the next publish goes through.
    expect(hub!.metricLines()).toContain(`framecast_broker_publish_failures_total ${ATTEMPTS - FITTING}`);
    expect(await hub!.publish('slow', Buffer.alloc(MESSAGE_BYTES), true)).toBe(0);
  });
});
