/**
 * framecast.v1 on the wire (docs/pubsub.md): reading a client's command from a text frame, and
 * writing replies and pushes. Pure: text in, values out; text out.
 *
 * Every frame is one JSON object. A command is `{"id":N,"<command>":{...}}` with exactly one
 * command key; its reply carries the same id and the result key or `error`.
 */
import type { ChannelPosition, HistoryQuery, HistoryResult, Publication } from './history.js';

/** The stable error codes of framecast.v1 (docs/pubsub.md "Errors"). */
export const ErrorCode = {
  BadRequest: 'bad_request',
  UnknownCommand: 'unknown_command',
  InvalidChannel: 'invalid_channel',
  AlreadySubscribed: 'already_subscribed',
  NotSubscribed: 'not_subscribed',
  PermissionDenied: 'permission_denied',
  TooManySubscriptions: 'too_many_subscriptions',
  MessageTooBig: 'message_too_big',
  Unavailable: 'unavailable',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A command that could not be carried out: its code and a message for people. */
export class CommandError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

/** The commands, by their key. */
export type Command =
  | { readonly id: number; readonly kind: 'subscribe'; readonly channel: string; readonly query: HistoryQuery; readonly info: unknown; readonly infoJson: string }
  | { readonly id: number; readonly kind: 'unsubscribe'; readonly channel: string }
  | { readonly id: number; readonly kind: 'publish'; readonly channel: string; readonly data: string | Buffer; readonly isBinary: boolean }
  | { readonly id: number; readonly kind: 'presence'; readonly channel: string }
  | { readonly id: number; readonly kind: 'history'; readonly channel: string; readonly query: HistoryQuery };

/** What reading a frame gave: a command, or an error to answer (with the id when there was a valid one). */
export type ReadResult = Command | { readonly id: number | undefined; readonly error: CommandError };

const COMMANDS: ReadonlySet<string> = new Set(['subscribe', 'unsubscribe', 'publish', 'presence', 'history']);

/** What a command's arguments must satisfy, beyond their JSON types. */
export interface WireLimits {
  readonly maxChannelNameLength: number;
  readonly maxPresenceInfoBytes: number;
  readonly isValidChannelName: (name: string, maxLength: number) => boolean;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** 1 to 2^53-1: every id a JavaScript number holds exactly. */
function isValidId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function bad(message: string): CommandError {
  return new CommandError(ErrorCode.BadRequest, message);
}

/** Base64 (RFC 4648 4, with padding) that decodes to exactly what it says: Node's decoder skips junk, so check first. */
const BASE64_CHAR = /^[A-Za-z0-9+/]*={0,2}$/;
function decodeBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !BASE64_CHAR.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}

/** Reads the arguments of one command; throws CommandError. */
function readCommand(id: number, kind: string, args: unknown, limits: WireLimits): Command {
  if (!isPlainObject(args)) throw bad(`"${kind}" takes an object`);
  const channel = args.channel;
  if (typeof channel !== 'string' || !limits.isValidChannelName(channel, limits.maxChannelNameLength)) {
    throw new CommandError(ErrorCode.InvalidChannel, `channel names are 1-${limits.maxChannelNameLength} letters, digits, '-', '_' or '.'`);
  }
  switch (kind) {
    case 'subscribe': {
      const query = readQuery(args, 'history');
      let info: unknown = null;
      let infoJson = 'null';
      if (args.info !== undefined) {
        info = args.info;
        infoJson = JSON.stringify(info);
        if (Buffer.byteLength(infoJson) > limits.maxPresenceInfoBytes) {
          throw new CommandError(ErrorCode.MessageTooBig, `info is over ${limits.maxPresenceInfoBytes} bytes as JSON`);
        }
      }
      return { id, kind, channel, query, info, infoJson };
    }
    case 'history':
      return { id, kind, channel, query: readQuery(args, 'limit') };
    case 'publish': {
      const hasText = args.text !== undefined;
      const hasBinary = args.binary !== undefined;
      if (hasText === hasBinary) throw bad('publish takes exactly one of "text" and "binary"');
      if (hasText) {
        if (typeof args.text !== 'string') throw bad('"text" must be a string');
        return { id, kind, channel, data: args.text, isBinary: false };
      }
      const decoded = typeof args.binary === 'string' ? decodeBase64(args.binary) : undefined;
      if (decoded === undefined) throw bad('"binary" must be base64 (RFC 4648, with padding)');
      return { id, kind, channel, data: decoded, isBinary: true };
    }
    default:
      return { id, kind: kind as 'unsubscribe' | 'presence', channel };
  }
}

/** `history: N` (subscribe) or `limit: N` (history), and `since: {epoch, offset}`. */
function readQuery(args: Record<string, unknown>, countKey: 'history' | 'limit'): HistoryQuery {
  const count = args[countKey];
  if (count !== undefined && !isCount(count)) throw bad(`"${countKey}" must be a whole number`);
  const since = args.since;
  if (since === undefined) {
    // subscribe without `history` reads nothing; history without `limit` reads everything kept.
    return { limit: count ?? (countKey === 'history' ? 0 : undefined) };
  }
  if (!isPlainObject(since) || typeof since.epoch !== 'string' || !isCount(since.offset)) {
    throw bad('"since" must be {"epoch": string, "offset": whole number}');
  }
  return { since: { epoch: since.epoch, offset: since.offset } };
}

/**
 * Reads one text frame from a client. Never throws: anything malformed comes back as an error
 * to answer, with the command's id when it had a valid one.
 */
export function readFrame(text: string, limits: WireLimits): ReadResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { id: undefined, error: bad('not JSON: every frame is one JSON object') };
  }
  if (!isPlainObject(value) || !isValidId(value.id)) {
    return { id: undefined, error: bad('a command is a JSON object with an integer id from 1 to 2^53-1') };
  }
  const id = value.id;
  let kind: string | undefined;
  for (const key of Object.keys(value)) {
    if (key === 'id') continue;
    if (kind !== undefined) return { id, error: bad('a command has exactly one command key') };
    kind = key;
  }
  if (kind === undefined) return { id, error: bad('a command has exactly one command key') };
  if (!COMMANDS.has(kind)) return { id, error: new CommandError(ErrorCode.UnknownCommand, `unknown command ${JSON.stringify(kind)}`) };
  try {
    return readCommand(id, kind, value[kind], limits);
  } catch (error) {
    if (error instanceof CommandError) return { id, error };
    throw error;
  }
}

// --- Writing ------------------------------------------------------------------------------

/** A payload as framecast.v1 carries it: `"text":"..."`, or `"binary":"<base64>"` byte for byte. */
function payloadJson(data: Buffer, isBinary: boolean): string {
  return isBinary ? `"binary":"${data.toString('base64')}"` : `"text":${JSON.stringify(data.toString('utf8'))}`;
}

/** A publication as lists show it: `{"offset":N,"text":...}` or `{"offset":N,"binary":"<base64>"}`. */
function publicationJson(publication: Publication): string {
  return `{"offset":${publication.offset},${payloadJson(publication.data, publication.isBinary)}}`;
}


function publicationsJson(publications: readonly Publication[]): string {
  return `[${publications.map(publicationJson).join(',')}]`;
}

/** `{"id":N,"error":{...}}`, or without id for a frame that was not a command. */
export function errorReply(id: number | undefined, error: CommandError): string {
  const body = `"error":{"code":"${error.code}","message":${JSON.stringify(error.message)}}`;
  return id === undefined ? `{${body}}` : `{"id":${id},${body}}`;
}

export function subscribedReply(
  id: number,
  channel: string,
  result: HistoryResult,
  client: string,
): string {
  const recovered = result.recovered === undefined ? '' : `,"recovered":${result.recovered}`;
  return (
    `{"id":${id},"subscribed":{"channel":"${channel}","epoch":${JSON.stringify(result.epoch)},"offset":${result.offset},` +
    `"publications":${publicationsJson(result.publications)}${recovered},"client":"${client}"}}`
  );
}

export function historyReply(id: number, channel: string, result: HistoryResult): string {
  return `{"id":${id},"history":${historyJson(channel, result)}}`;
}

/** The body of a history answer, shared by the `history` reply and `GET /history`. */
export function historyJson(channel: string, result: HistoryResult): string {
  const recovered = result.recovered === undefined ? '' : `,"recovered":${result.recovered}`;
  return `{"channel":"${channel}","epoch":${JSON.stringify(result.epoch)},"offset":${result.offset},"publications":${publicationsJson(result.publications)}${recovered}}`;
}

export function unsubscribedReply(id: number, channel: string): string {
  return `{"id":${id},"unsubscribed":{"channel":"${channel}"}}`;
}

export function publishedReply(id: number, channel: string, position: ChannelPosition): string {
  return `{"id":${id},"published":{"channel":"${channel}","offset":${position.offset},"epoch":${JSON.stringify(position.epoch)}}}`;
}

/** One subscriber as presence lists it. */
export interface PresenceEntry {
  readonly client: string;
  /** `info` as serialized JSON (`null` without one). */
  readonly infoJson: string;
}

export function presenceReply(id: number, channel: string, clients: readonly PresenceEntry[]): string {
  const list = clients.map((entry) => `{"client":"${entry.client}","info":${entry.infoJson}}`).join(',');
  return `{"id":${id},"presence":{"channel":"${channel}","clients":[${list}]}}`;
}

/** The `pub` push of a channel's publication (channel names and offsets need no escaping). */
export function pubPush(channel: string, publication: Publication): string {
  return `{"pub":{"channel":"${channel}","offset":${publication.offset},${payloadJson(publication.data, publication.isBinary)}}}`;
}

/** The `pub` push of a message to every connection: no channel, no offset. */
export function broadcastPush(data: Buffer, isBinary: boolean): string {
  return `{"pub":{${payloadJson(data, isBinary)}}}`;
}

/** `{"join":...}` or `{"leave":...}`: another client came to or left a channel. */
export function presencePush(kind: 'join' | 'leave', channel: string, entry: PresenceEntry): string {
  return `{"${kind}":{"channel":"${channel}","client":"${entry.client}","info":${entry.infoJson}}}`;
}

/**
 * `{"lost":...}`: publications `from`..`to` of `epoch` will never reach this subscriber (the
 * range is left out when empty), and with `previousEpoch` the channel's history was lost and
 * its offsets now count in `epoch` (docs/pubsub.md "Pushes").
 */
export function lostPush(channel: string, epoch: string, from: number, to: number, previousEpoch: string | undefined): string {
  const range = to >= from ? `,"from":${from},"to":${to}` : '';
  const previous = previousEpoch === undefined ? '' : `,"previousEpoch":${JSON.stringify(previousEpoch)}`;
  return `{"lost":{"channel":"${channel}","epoch":${JSON.stringify(epoch)}${range}${previous}}}`;
}
