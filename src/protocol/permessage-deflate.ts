/**
 * Negotiating the permessage-deflate extension (RFC 7692 section 7.1): which offer a server
 * accepts and what it answers, and how a client checks that answer.
 *
 * The four parameters (RFC 7692 7.1.1, 7.1.2):
 * - `server_no_context_takeover`: the server compresses each message on its own, keeping no
 *   LZ77 window between messages. A server may announce it even when not asked (7.1.1.1).
 * - `client_no_context_takeover`: the same for the client; the server may demand it (7.1.1.2).
 * - `server_max_window_bits=N` (8-15): caps the server's window; a server accepts it by answering
 *   with the same or a smaller value (7.1.2.1). framecast answers it only when it was offered.
 * - `client_max_window_bits[=N]`: the client can cap its window; answered only if offered (7.1.2.2).
 *
 * RFC 7692 7.1: a server MUST decline an offer with an unknown parameter, an invalid value,
 * a repeated parameter, or a configuration it does not support, and may accept a later offer.
 */
import type { ExtensionOffer } from './http-tokens.js';
import { parseExtensionOffers } from './http-tokens.js';

/** The extension's registered name (RFC 7692 5). */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** LZ77 window sizes are 2^8 to 2^15 bytes (RFC 7692 7.1.2). */
export const MIN_WINDOW_BITS = 8;
export const MAX_WINDOW_BITS = 15;

/** What was agreed for one connection. */
export interface DeflateParameters {
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  /** Window the server compresses with. */
  readonly serverMaxWindowBits: number;
  /** Window the client compresses with (at most). */
  readonly clientMaxWindowBits: number;
}

/** A server's policy for accepting offers. */
export interface DeflateServerOptions {
  /** Announce server_no_context_takeover: keep no compression window between messages (default true). */
  serverNoContextTakeover?: boolean;
  /** Demand client_no_context_takeover: keep no decompression window between messages (default true). */
  clientNoContextTakeover?: boolean;
  /** Largest window the server compresses with, 9-15 (default 15). zlib cannot deflate with 8. */
  serverMaxWindowBits?: number;
}

/** The defaults chosen so that a connection holds no compression state between messages. */
export const DeflateDefaults = {
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  serverMaxWindowBits: MAX_WINDOW_BITS,
  /** Messages smaller than this many bytes are sent uncompressed. */
  threshold: 1024,
} as const;

/** zlib's raw deflate cannot use a 256-byte window (it silently uses 512), so 8 is refused. */
const SMALLEST_DEFLATE_WINDOW_BITS = 9;

/** Parses a window-bits value: a decimal integer 8-15 without leading zeros (RFC 7692 7.1.2.1). */
function parseWindowBits(value: string | true): number | undefined {
  if (value === true || !/^[1-9][0-9]?$/.test(value)) return undefined;
  const bits = Number(value);
  return bits >= MIN_WINDOW_BITS && bits <= MAX_WINDOW_BITS ? bits : undefined;
}

/** The server's answer to one acceptable offer, or undefined to decline it. */
function acceptOffer(offer: ExtensionOffer, options: DeflateServerOptions): { parameters: DeflateParameters; response: string } | undefined {
  // RFC 7692 7.1: decline offers with a repeated parameter.
  if (offer.repeatedParams.length > 0) return undefined;
  let serverNoContextTakeover = options.serverNoContextTakeover ?? DeflateDefaults.serverNoContextTakeover;
  let clientNoContextTakeover = options.clientNoContextTakeover ?? DeflateDefaults.clientNoContextTakeover;
  let serverMaxWindowBits = Math.max(options.serverMaxWindowBits ?? DeflateDefaults.serverMaxWindowBits, SMALLEST_DEFLATE_WINDOW_BITS);
  let answerServerWindow = false;
  let clientMaxWindowBits = MAX_WINDOW_BITS;
  let answerClientWindow = false;

  for (const [name, value] of offer.params) {
    switch (name) {
      case 'server_no_context_takeover':
        if (value !== true) return undefined; // takes no value (RFC 7692 7.1.1.1)
        serverNoContextTakeover = true;
        break;
      case 'client_no_context_takeover':
        if (value !== true) return undefined; // takes no value (RFC 7692 7.1.1.2)
        // The client says it won't keep context. Echoing the parameter makes that binding
        // (7.1.1.2), so no window need be kept for it. (Some clients, ws among them, do keep
        // context after sending only the hint.)
        clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        const bits = parseWindowBits(value);
        if (bits === undefined) return undefined;
        if (bits < SMALLEST_DEFLATE_WINDOW_BITS) return undefined; // not a configuration we support
        serverMaxWindowBits = Math.min(serverMaxWindowBits, bits);
        answerServerWindow = true; // RFC 7692 7.1.2.1: accept by answering with the same or a smaller value
        break;
      }
      case 'client_max_window_bits': {
        // RFC 7692 7.1.2.2: may come without a value, meaning "I can limit my window if you ask".
        if (value !== true) {
          const bits = parseWindowBits(value);
          if (bits === undefined) return undefined;
          clientMaxWindowBits = bits;
          answerClientWindow = true;
        }
        break;
      }
      default:
        return undefined; // RFC 7692 7.1: a parameter not defined for an offer
    }
  }
  let response = PERMESSAGE_DEFLATE;
  if (serverNoContextTakeover) response += '; server_no_context_takeover';
  if (clientNoContextTakeover) response += '; client_no_context_takeover';
  if (answerServerWindow) response += `; server_max_window_bits=${serverMaxWindowBits}`;
  if (answerClientWindow) response += `; client_max_window_bits=${clientMaxWindowBits}`;
  return {
    parameters: { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits },
    response,
  };
}

/**
 * Picks the first permessage-deflate offer the server can accept, in the client's order of
 * preference, and returns the agreed parameters with the Sec-WebSocket-Extensions answer.
 * Undefined when there is none: the connection goes on uncompressed.
 */
export function negotiateDeflate(
  offers: readonly ExtensionOffer[],
  options: DeflateServerOptions = {},
): { parameters: DeflateParameters; response: string } | undefined {
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const accepted = acceptOffer(offer, options);
    if (accepted !== undefined) return accepted;
  }
  return undefined;
}

// --- Client side -------------------------------------------------------------------------------

/** What a client's offer asks for, besides `client_max_window_bits`, which it always has. */
export interface DeflateOfferOptions {
  /** Say the client will keep no compression window between messages (RFC 7692 7.1.1.2: a hint the client then keeps to). */
  clientNoContextTakeover?: boolean;
  /** Ask the server to keep none (RFC 7692 7.1.1.1: the server accepts by answering with it). */
  serverNoContextTakeover?: boolean;
}

/** A client's offer: permessage-deflate, saying it can limit its window if the server asks. */
export function buildDeflateOffer(options: DeflateOfferOptions = {}): string {
  let offer = `${PERMESSAGE_DEFLATE}; client_max_window_bits`;
  if (options.clientNoContextTakeover) offer += '; client_no_context_takeover';
  if (options.serverNoContextTakeover) offer += '; server_no_context_takeover';
  return offer;
}

/**
 * Checks a server's Sec-WebSocket-Extensions answer to `buildDeflateOffer(offer)` (RFC 7692 7.1):
 * exactly one permessage-deflate with valid parameters, and `server_no_context_takeover` when
 * the offer asked for it (7.1.1.1); anything else fails the connection.
 *
 * `client_max_window_bits=8` is a valid answer that zlib cannot honour (its raw deflate has no
 * 256-byte window and silently uses 512): a client that gets it must send uncompressed, which
 * RFC 7692 always allows, and can still inflate what the server sends.
 */
export function acceptDeflateResponse(header: string, offer: DeflateOfferOptions = {}): DeflateParameters | Error {
  const answers = parseExtensionOffers(header);
  if (answers === undefined) return new Error('malformed Sec-WebSocket-Extensions answer');
  if (answers.length !== 1 || answers[0].name !== PERMESSAGE_DEFLATE) {
    return new Error('the server answered with an extension that was not offered');
  }
  const answer = answers[0];
  if (answer.repeatedParams.length > 0) return new Error('repeated permessage-deflate parameter');
  let serverNoContextTakeover = false;
  let clientNoContextTakeover = false;
  let serverMaxWindowBits = MAX_WINDOW_BITS;
  let clientMaxWindowBits = MAX_WINDOW_BITS;
  for (const [name, value] of answer.params) {
    if (name === 'server_no_context_takeover' && value === true) serverNoContextTakeover = true;
    else if (name === 'client_no_context_takeover' && value === true) clientNoContextTakeover = true;
    else if (name === 'server_max_window_bits' && parseWindowBits(value) !== undefined) serverMaxWindowBits = parseWindowBits(value)!;
    else if (name === 'client_max_window_bits' && parseWindowBits(value) !== undefined) clientMaxWindowBits = parseWindowBits(value)!;
    else return new Error(`invalid permessage-deflate parameter ${JSON.stringify(name)} in the answer`);
  }
  if (offer.serverNoContextTakeover && !serverNoContextTakeover) {
    return new Error('the offer asked for server_no_context_takeover and the answer lacks it (RFC 7692 7.1.1.1)');
  }
  return { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits };
}

/** Whether zlib can compress with this window: with 8 bits a client sends uncompressed (see `acceptDeflateResponse`). */
export function canDeflateWithWindow(windowBits: number): boolean {
  return windowBits >= SMALLEST_DEFLATE_WINDOW_BITS;
}
