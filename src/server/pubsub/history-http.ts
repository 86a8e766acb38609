/**
 * `GET /history?channel=X&limit=N` (or `&since=K`, with `&epoch=E` for `recovered`): a
 * channel's history over plain HTTP for server-side backfill (docs/pubsub.md), with the same
 * authorisation as `POST /push`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Hub } from '../hub/hub.js';
import { describeError, type Logger } from '../log.js';
import { type AccessOptions, answer, isAuthorized } from '../push.js';
import { queryParameter } from '../websocket/request-target.js';
import type { HistoryQuery } from './history.js';
import { historyJson } from './wire.js';

export interface HistoryHttpOptions extends AccessOptions {
  readonly hub: Hub;
  readonly logger: Logger;
  readonly isValidChannel: (name: string) => boolean;
}

/** A whole number written in plain digits (at most 2^53-1), else undefined. */
function wholeNumber(text: string): number | undefined {
  if (text.length === 0 || text.length > 16) return undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

export function handleHistory(request: IncomingMessage, response: ServerResponse, options: HistoryHttpOptions): void {
  if (request.method !== 'GET' && request.method !== 'HEAD') return answer(response, 405, { error: 'use GET' }, { allow: 'GET, HEAD' });
  if (!isAuthorized(request, response, options)) return;
  const target = request.url ?? '/';
  const channel = queryParameter(target, 'channel');
  if (channel === null || !options.isValidChannel(channel)) return answer(response, 400, { error: 'a valid ?channel= is required' });
  const limitText = queryParameter(target, 'limit');
  const sinceText = queryParameter(target, 'since');
  const epoch = queryParameter(target, 'epoch');
  const limit = limitText === null ? undefined : wholeNumber(limitText);
  const since = sinceText === null ? undefined : wholeNumber(sinceText);
  if ((limitText !== null && limit === undefined) || (sinceText !== null && since === undefined)) {
    return answer(response, 400, { error: 'limit and since are whole numbers' });
  }
  const query: HistoryQuery = since === undefined ? { limit } : { since: { offset: since, epoch: epoch ?? undefined } };
  options.hub.history(channel, query).then(
    (result) => {
      const body = historyJson(channel, result) + '\n';
      response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : body);
    },
    (error: unknown) => {
      options.logger.warn(`history failed: ${describeError(error)}`);
      answer(response, 503, { error: 'the history could not be read; try again later' });
    },
  );
}
