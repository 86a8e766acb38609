/**
 * The Lua scripts framecast runs in Redis. A script runs atomically: nothing else happens in
 * Redis between its first command and its last. That is what makes one channel's offsets one
 * sequence for every node: the publish script takes the next offset, appends the publication to
 * the history and PUBLISHes it in one step, so the order of offsets is the order in which every
 * node receives the publications.
 *
 * Every script touches the keys of one channel only (keys.ts: they share the `{NAME}` hash tag).
 * Scripts are sent by their SHA-1 (EVALSHA); a Redis that does not know one yet (just started,
 * or SCRIPT FLUSH) answers NOSCRIPT, and the script is sent whole once (EVAL), which also loads it.
 *
 * Needs Redis 6.2 or later (exclusive XRANGE starts, SET ... GET).
 */
import { createHash } from 'node:crypto';
import type { createClient, RedisArgument } from 'redis';

type RedisClient = ReturnType<typeof createClient>;
/** The options `sendCommand` takes (a reply type mapping, for one). */
export type CommandOptions = Parameters<RedisClient['sendCommand']>[1];

export interface LuaScript {
  readonly source: string;
  readonly sha1: string;
}

function defineLua(source: string): LuaScript {
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}

/** Runs a script by its SHA-1, sending the source once if Redis does not have it. */
export async function runScript<T>(client: RedisClient, script: LuaScript, keys: readonly string[], args: readonly RedisArgument[], options?: CommandOptions): Promise<T> {
  const tail = [String(keys.length), ...keys, ...args];
  try {
    return (await client.sendCommand(['EVALSHA', script.sha1, ...tail], options)) as T;
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return (await client.sendCommand(['EVAL', script.source, ...tail], options)) as T;
  }
}

/**
 * Lines shared by the scripts that start an epoch: a channel without one is new, or Redis lost
 * it (restarted without persistence, the key expired or was evicted). Whatever history is left
 * belongs to a sequence nobody can name any more, so it goes, and offsets start again at 0.
 */
const START_EPOCH = `
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
`;

/**
 * A channel's publication, in one atomic step: its offset, into the history, out to every node.
 *
 *   KEYS[1] the channel's meta hash        KEYS[2] its log stream
 *   ARGV[1] an epoch to start if the channel has none (a fresh random one from the node)
 *   ARGV[2] the pub/sub channel            ARGV[3] the envelope's flags byte (broker-envelope.ts)
 *   ARGV[4] '0' text or '1' binary, for the log                ARGV[5] the payload
 *   ARGV[6] history size (0: no history)   ARGV[7] history ttl (ms)   ARGV[8] meta ttl (ms)
 *
 * Returns { epoch, offset, nodes that received it }.
 *
 * The log's entry ids are the offsets themselves (OFFSET-0), so reading "every publication after
 * K" is one XRANGE from (K-0. MAXLEN keeps the latest `size`; the log expires `ttl` after the
 * channel's last publication, and reads skip entries older than `ttl` (field t, Redis's clock).
 * The envelope is version 2 of broker-envelope.ts: flags, header length, "EPOCH OFFSET", payload.
 */
export const PUBLISH_SCRIPT = defineLua(`
if redis.replicate_commands then redis.replicate_commands() end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then ${START_EPOCH} end
local offset = string.format('%d', redis.call('HINCRBY', KEYS[1], 'offset', 1))
redis.call('PEXPIRE', KEYS[1], ARGV[8])
if ARGV[6] ~= '0' then
  local now = redis.call('TIME')
  local ms = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[6], offset .. '-0', 't', ms, 'k', ARGV[4], 'd', ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
end
local header = epoch .. ' ' .. offset
local nodes = redis.call('PUBLISH', ARGV[2], string.char(tonumber(ARGV[3]), #header) .. header .. ARGV[5])
return {epoch, tonumber(offset), nodes}
`);

/**
 * Reads a channel's position and history.
 *
 *   KEYS[1] meta hash    KEYS[2] log stream
 *   ARGV[1] an epoch to start if the channel has none
 *   ARGV[2] '1': start it (a node with members of the channel, which keeps it from then on);
 *           '0': only read (the answer then names ARGV[1], an epoch nobody will see again)
 *   ARGV[3] 'since': every publication after offset ARGV[4] of epoch ARGV[5] ('' for the
 *           current epoch; another epoch reads the whole history)
 *           'latest': the latest ARGV[4] publications ('' for the whole history)
 *   ARGV[6] history ttl (ms)   ARGV[7] meta ttl (ms)
 *
 * Returns { epoch, latest offset, { offset, kind, data, offset, kind, data, ... } } oldest
 * first, without publications older than the ttl (only ever a prefix: once one is young enough,
 * everything after it is kept, whatever the clock did).
 */
export const READ_SCRIPT = defineLua(`
if redis.replicate_commands then redis.replicate_commands() end
local state = redis.call('HMGET', KEYS[1], 'epoch', 'offset')
local epoch, latest = state[1], tonumber(state[2])
if not epoch then
  if ARGV[2] ~= '1' then return {ARGV[1], 0, {}} end
  ${START_EPOCH}
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
  return {epoch, 0, {}}
end
local entries
if ARGV[3] == 'since' and (ARGV[5] == '' or ARGV[5] == epoch) then
  entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[4] .. '-0', '+')
elseif ARGV[3] == 'since' or ARGV[4] == '' then
  entries = redis.call('XRANGE', KEYS[2], '-', '+')
elseif ARGV[4] == '0' then
  entries = {}
else
  local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[4])
  entries = {}
  for i = #newest, 1, -1 do entries[#entries + 1] = newest[i] end
end
local now = redis.call('TIME')
local deadline = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[6])
local out = {}
local keeping = false
for _, entry in ipairs(entries) do
  local fields = entry[2]
  if keeping or tonumber(fields[2]) > deadline then
    keeping = true
    out[#out + 1] = tonumber(string.match(entry[1], '^%d+'))
    out[#out + 1] = fields[4]
    out[#out + 1] = fields[6]
  end
end
return {epoch, latest, out}
`);

/**
 * A framecast.v1 subscriber joins a channel's presence; other nodes hear of it.
 *
 *   KEYS[1] the channel's presence hash
 *   ARGV[1] client id   ARGV[2] "NODE INFO"   ARGV[3] presence ttl (ms)
 *   ARGV[4] the pub/sub channel   ARGV[5] the join envelope (kind presence)
 *
 * The join is published only when the entry is new, so that putting entries back after Redis
 * lost them (see presence.ts) announces only those that were missing. Returns 1 if new.
 */
export const JOIN_SCRIPT = defineLua(`
local added = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if added == 1 then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return added
`);

/**
 * A subscriber leaves: its entry goes, and other nodes hear of it if it was there.
 *
 *   KEYS[1] presence hash   ARGV[1] client id   ARGV[2] pub/sub channel   ARGV[3] leave envelope
 */
export const LEAVE_SCRIPT = defineLua(`
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
if removed == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return removed
`);

/**
 * Removes every entry of a dead node from a channel's presence; returns them as
 * { client, info, client, info, ... } for the caller to announce their leave.
 *
 *   KEYS[1] presence hash   ARGV[1] the dead node's id
 */
export const PURGE_SCRIPT = defineLua(`
local all = redis.call('HGETALL', KEYS[1])
local prefix = ARGV[1] .. ' '
local removed = {}
for i = 1, #all, 2 do
  local value = all[i + 1]
  if string.sub(value, 1, #prefix) == prefix then
    redis.call('HDEL', KEYS[1], all[i])
    removed[#removed + 1] = all[i]
    removed[#removed + 1] = string.sub(value, #prefix + 1)
  end
end
return removed
`);
