/**
 * framecast's WebSocket client (src/client) against the conformance suite in client mode: the
 * suite plays the server, starts the echo client of echo-clients/framecast.ts for every case
 * (in this process), and every case must be OK, except the INFORMATIONAL ones, where RFC 6455
 * has no right answer. One test per case, so a regression names the rule it broke.
 */
import { afterAll, beforeAll } from 'vitest';
import { CLIENT_SECTIONS } from './cases.js';
import { ClientsUnderTest, inProcessLauncher } from './client-mode.js';
import { framecastEcho } from './echo-clients/framecast.js';
import { testEveryCase } from './every-case.js';
import { resolveClientSettings, type Settings } from './suite.js';

/** A small limit keeps the limits section fast; the client and the suite are given the same number. */
const MAX_MESSAGE_SIZE = 256 * 1024;
/**
 * Cases with no right answer: the server breaks a sender's rule the receiver is not told how to
 * treat (1.5), a redirect a client need not follow (10.20), and answers that only apply to
 * offers framecast does not make (11.2.13: it always offers client_max_window_bits; 11.2.14: it
 * asks for no server_no_context_takeover by default).
 */
const INFORMATIONAL_CASES = new Set(['1.5.1', '1.5.2', '10.20', '11.2.13', '11.2.14']);

let clients: ClientsUnderTest;
let settings: Settings;

beforeAll(async () => {
  clients = await ClientsUnderTest.start(inProcessLauncher((url) => framecastEcho(url, MAX_MESSAGE_SIZE)));
  // Generous waits: the client answers at once, so they cost nothing unless a case is about to
  // fail. The close grace is short: framecast's client never closes TCP first, so it only
  // costs time here (the judge tests check that it catches a client that does).
  settings = resolveClientSettings(clients, { maxMessageSize: MAX_MESSAGE_SIZE, replyTimeout: 3_000, caseTimeout: 10_000, clientCloseGrace: 10 });
});

afterAll(async () => {
  await clients.close();
});

testEveryCase(CLIENT_SECTIONS, () => settings, INFORMATIONAL_CASES);
