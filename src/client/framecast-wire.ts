/**
 * framecast.v1 on the wire (docs/pubsub.md): the commands the client writes and a careful
 * reader for what the server sends. Every frame is one JSON object; the reader checks each
 * field it uses and ignores the fields it does not know ("Clients must ignore keys they do
 * not know", docs/pubsub.md "Frames").
 */
import { decodeBase64, encodeBase64 } from './base64.js';
import { ClientErrorCode, FramecastError } from './framecast-error.js';

/** A publication of a channel: its offset and its data (text, or the bytes of a binary publication). */
export interface Publication {
  readonly offset: number;
  readonly data: string | Uint8Array;
}

/** Where a client is in a channel: an epoch and the latest offset seen in it. */
export interface Position {
  readonly epoch: string;
  readonly offset: number;
}

/** What `pub`, `publish` and the publication lists carry: `text`, or `binary` as base64. */
export function payloadFields(data: string | Uint8Array | ArrayBuffer): { text: string } | { binary: string } {
  if (typeof data === 'string') return { text: data };
  return { binary: encodeBase64(data instanceof Uint8Array ? data : new Uint8Array(data)) };
}

/** One command as sent: `{"id":N,"<name>":{...}}`. */
export function encodeCommand(id: number, name: string, argument: object): string {
  return JSON.stringify({ id, [name]: argument });
}

/** A frame from the server, sorted: a reply (it has an id), a push, or nothing this client knows. */
export type Incoming =
  | { readonly kind: 'reply'; readonly id: number; readonly body: ReadonlyMap<string, unknown> }
  | { readonly kind: 'pub'; readonly channel: string | undefined; readonly offset: number | undefined; readonly data: string | Uint8Array }
  | { readonly kind: 'join' | 'leave'; readonly channel: string; readonly client: string; readonly info: unknown }
  | { readonly kind: 'unknown' };

const UNKNOWN: Incoming = { kind: 'unknown' };

type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isOffset(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** `text` or `binary` of a publication or push; undefined when neither is usable. */
function readData(value: JsonObject): string | Uint8Array | undefined {
  if (typeof value.text === 'string') return value.text;
  if (typeof value.binary === 'string') {
    try {
      return decodeBase64(value.binary);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Sorts one text frame; a frame that is not a JSON object, or a push it cannot read, is `unknown`. */
export function readIncoming(text: string): Incoming {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return UNKNOWN;
  }
  if (!isObject(value)) return UNKNOWN;
  if (value.id !== undefined) {
    return Number.isSafeInteger(value.id) ? { kind: 'reply', id: value.id as number, body: new Map(Object.entries(value)) } : UNKNOWN;
  }
  if (isObject(value.pub)) {
    const pub = value.pub;
    const data = readData(pub);
    if (data === undefined) return UNKNOWN;
    if (pub.channel === undefined) return { kind: 'pub', channel: undefined, offset: undefined, data };
    if (typeof pub.channel !== 'string' || !isOffset(pub.offset)) return UNKNOWN;
    return { kind: 'pub', channel: pub.channel, offset: pub.offset, data };
  }
  for (const kind of ['join', 'leave'] as const) {
    const event = value[kind];
    if (isObject(event) && typeof event.channel === 'string' && typeof event.client === 'string') {
      return { kind, channel: event.channel, client: event.client, info: event.info ?? null };
    }
  }
  return UNKNOWN;
}

function badReply(what: string): FramecastError {
  return new FramecastError(ClientErrorCode.BadReply, `the server's reply is not framecast.v1: ${what}`);
}

/**
 * The result of a reply: the object under `key`, or the FramecastError its `error` stands for
 * (thrown). A reply with neither is a bad reply.
 */
export function replyResult(body: ReadonlyMap<string, unknown>, key: string): JsonObject {
  const error = body.get('error');
  if (isObject(error)) {
    const code = typeof error.code === 'string' ? error.code : 'unknown_error';
    throw new FramecastError(code, typeof error.message === 'string' ? error.message : code);
  }
  const result = body.get(key);
  if (!isObject(result)) throw badReply(`no "${key}" or "error"`);
  return result;
}

/** A field that must be a string. */
export function stringField(result: JsonObject, name: string): string {
  const value = result[name];
  if (typeof value !== 'string') throw badReply(`"${name}" is not a string`);
  return value;
}

/** A field that must be an offset (a whole number, 0 or more). */
export function offsetField(result: JsonObject, name: string): number {
  const value = result[name];
  if (!isOffset(value)) throw badReply(`"${name}" is not an offset`);
  return value;
}

/** The `publications` list of a `subscribed` or `history` reply, oldest first. */
export function publicationsField(result: JsonObject): Publication[] {
  const list = result.publications;
  if (!Array.isArray(list)) throw badReply('"publications" is not a list');
  return list.map((item: unknown) => {
    const data = isObject(item) ? readData(item) : undefined;
    if (!isObject(item) || !isOffset(item.offset) || data === undefined) throw badReply('a publication without an offset and text or binary');
    return { offset: item.offset, data };
  });
}

/** `recovered`, present exactly when the command had `since`. */
export function recoveredField(result: JsonObject): boolean | undefined {
  return typeof result.recovered === 'boolean' ? result.recovered : undefined;
}
