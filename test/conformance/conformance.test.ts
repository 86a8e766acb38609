/**
 * framecast against its own RFC 6455 conformance suite: every case must be OK (no NON-STRICT),
 * except the INFORMATIONAL ones, where RFC 6455 has no right answer. One test per case, so
 * a regression names the rule it broke.
 */
import { afterAll, beforeAll } from 'vitest';
import { startFramecast, type RunningFramecast } from '../helpers/framecast.js';
import { SECTIONS } from './cases.js';
import { testEveryCase } from './every-case.js';
import { resolveSettings, type Settings } from './suite.js';

/** A small limit keeps the limits section fast; the suite is told the same number. */
const MAX_MESSAGE_SIZE = 256 * 1024;
/** Cases with no right answer (the client breaks a sender's rule the receiver is not told how to treat). */
const INFORMATIONAL_CASES = new Set(['1.5.1', '1.5.2']);

let running: RunningFramecast;
let settings: Settings;

beforeAll(async () => {
  running = await startFramecast({ maxMessageSize: MAX_MESSAGE_SIZE, heartbeatInterval: 0, closeTimeout: 1_000 });
  // Generous waits: framecast answers at once, so they cost nothing unless a case is about to fail,
  // and they keep a busy CI machine from turning a slow answer into a verdict.
  settings = resolveSettings(`${running.wsUrl}/ws`, { maxMessageSize: MAX_MESSAGE_SIZE, replyTimeout: 3_000, caseTimeout: 10_000 });
});

afterAll(async () => {
  await running.close();
});

testEveryCase(SECTIONS, () => settings, INFORMATIONAL_CASES);
