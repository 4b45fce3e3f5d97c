// Every Redis Lua script of the project, in one file. Each script touches only keys of one account (same
// `{acct:<id>}` hash tag), so it is atomic on standalone, Sentinel and Cluster alike. run() refuses keys that do
// not share one hash tag on every deployment, so a script that would fail with CROSSSLOT on a Cluster fails the
// same way in a single-server test; any hash tag works (`{acct:<id>}`, `{caller:<name>}`, …). What each
// one guarantees: docs/design.md §5.2; which keys each touches and why: docs/redis-keys.md. The store's scripts come
// first, then the refresh lock's (acquire, fence, release, list, clean up), which only src/lock/ runs.
//
// Scripts run through EVALSHA with an EVAL fallback on NOSCRIPT (a restarted or failed-over Redis has an empty
// script cache). A script whose call timed out has an unknown outcome; each one is written so that running it
// again is safe (CAS on gen, compare-and-delete, counters that only callers act on).
//
// Numbers: Lua turns numbers into strings with "%.14g", so every integer a script writes back comes from ARGV
// (an exact decimal string) or stays below 1e14 (fence generations).
import { createHash } from "node:crypto";
import type { RedisClient } from "./redisClient";

export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly numKeys: number,
    readonly source: string,
  ) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  async run(redis: RedisClient, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    if (keys.length !== this.numKeys) throw new Error(`lua ${this.name}: expected ${this.numKeys} keys, got ${keys.length}`);
    if (!sameSlotTag(keys))
      throw new TypeError(`lua ${this.name}: its keys must share one hash tag ({…}) so they live in one Redis Cluster slot`);
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      // EVAL also caches the script, so the next EVALSHA hits.
      return await redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/**
 * The part of a key Redis Cluster hashes to pick its slot: the text between the first `{` and the next `}` when
 * that is not empty, else the whole key (the Cluster specification's hash-tag rule).
 */
export function hashTagOf(key: string): string {
  const open = key.indexOf("{");
  if (open === -1) return key;
  const close = key.indexOf("}", open + 1);
  return close === -1 || close === open + 1 ? key : key.slice(open + 1, close);
}

/** True when all keys hash by the same text, so they are in one slot (one key always is). */
export function sameSlotTag(keys: readonly string[]): boolean {
  if (keys.length < 2) return true;
  const tag = hashTagOf(keys[0]!);
  return keys.every((k) => hashTagOf(k) === tag);
}

/**
 * CAS write of a token (the fenced write).
 * KEYS[1] token hash. ARGV: gen, accessToken, expiresAt, fetchedAt, api, retentionMs, checkedAt, notBefore.
 * Writes only when ARGV gen > stored gen (a missing gen counts as none). The hash then lives until
 * max(expiresAt, now) + retentionMs: the token is worthless after expiresAt, but `gen` must outlive it so a
 * writer that wakes up late is still fenced out. Returns {1, gen} when written, {0, storedGen} when fenced.
 */
export const CAS_WRITE = new LuaScript(
  "casWrite",
  1,
  `
local gen = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'gen'))
if cur and cur >= gen then
  return {0, cur}
end
redis.call('HSET', KEYS[1], 'accessToken', ARGV[2], 'expiresAt', ARGV[3], 'fetchedAt', ARGV[4], 'api', ARGV[5], 'gen', ARGV[1], 'checkedAt', ARGV[7] or ARGV[4], 'notBefore', ARGV[8] or '0')
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local keepUntil = math.max(tonumber(ARGV[3]), nowMs) + tonumber(ARGV[6])
redis.call('PEXPIREAT', KEYS[1], string.format('%d', keepUntil))
return {1, gen}
`,
);

/**
 * Compare-and-delete invalidation.
 * KEYS[1] token hash. ARGV[1] the access token a caller saw fail.
 * Removes the token fields only when the stored token is exactly that one, and KEEPS `gen` (and the hash's
 * expiry) so an older writer arriving after the invalidation is still fenced out. Returns 1 when removed.
 */
export const INVALIDATE = new LuaScript(
  "invalidate",
  1,
  `
if redis.call('HGET', KEYS[1], 'accessToken') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'accessToken', 'expiresAt', 'fetchedAt', 'api', 'checkedAt', 'notBefore')
  return 1
end
return 0
`,
);

/**
 * Count one event on a per-day counter.
 * KEYS[1] counter. ARGV[1] ttlMs. INCR, and give the key a TTL if it has none (first event of the day, or a
 * counter someone created by hand). Returns the new count.
 */
export const COUNT_DAILY = new LuaScript(
  "countDaily",
  1,
  `
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`,
);

/**
 * Take one force_refresh from the account's budget, atomically (check and take in one step, so 50 replicas
 * racing cannot take more than allowed).
 * KEYS[1] per-day counter, KEYS[2] last-force timestamp (spans days: spacing applies across midnight).
 * ARGV: nowMs, perDay, minIntervalMs, ttlMs.
 * Returns {1, usedAfter} on success; {0, used, 'daily_limit', 0} or {0, used, 'too_soon', lastMs} when refused.
 * The daily limit is checked first: it is the longer wait. Replicas' clocks may disagree, so the last-force
 * timestamp never moves backwards, and a "now" before it counts as too soon (conservative: WeChat enforces 30 s
 * on its own clock).
 */
export const FORCE_TAKE = new LuaScript(
  "forceTake",
  2,
  `
local now = tonumber(ARGV[1])
local perDay = tonumber(ARGV[2])
local minInterval = tonumber(ARGV[3])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= perDay then
  return {0, used, 'daily_limit', 0}
end
local last = tonumber(redis.call('GET', KEYS[2]))
if last and minInterval > 0 and now - last < minInterval then
  return {0, used, 'too_soon', last}
end
used = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if not last or now > last then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4])
end
return {1, used}
`,
);

/**
 * Mark a day's force budget as used up: WeChat answered a force call with its daily quota error, so no more force
 * calls today whatever our own count says. KEYS[1] per-day force counter. ARGV: perDay, ttlMs. Never lowers it.
 */
export const FORCE_CLOSE = new LuaScript(
  "forceClose",
  1,
  `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
`,
);

/**
 * Take one slot of a sliding-window limit: at most ARGV[1] entries in the last ARGV[2] ms. KEYS[1] a sorted set of
 * entry times (Redis's clock, so replicas' clocks cannot stretch the window). ARGV[3] a unique member.
 * Returns {1, 0} when taken, {0, msUntilTheOldestEntryLeaves} when full. The set expires with its window.
 */
export const SLOT_TAKE = new LuaScript(
  "slotTake",
  1,
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - window))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, 0}
`,
);

// ---- the refresh lock (run only from src/lock/) -----------------------------------------------------------
// The broker's lock is `{acct:<id>}:lock` (redlock's value, always a PX TTL) with `:lockinfo` beside it; the fencing
// generation comes from `:fence`. Listing reads a lock with its holder in one step; cleanup removes a lock only when
// it has no TTL. Keys matched by LOCK_CLEANUP_PATTERNS belong to older tooling (e.g. a PHP service's
// `wechat:lock:*`): they are not ours, so they are read and removed one key at a time, atomically, and only when
// they are plainly stuck.

/**
 * Attach a fencing generation and holder info to a lock just acquired through redlock.
 * KEYS[1] lock, KEYS[2] lockinfo, KEYS[3] fence counter, KEYS[4] token hash.
 * ARGV: lock value, owner, acquiredAt.
 * Issues the gen only if the lock still holds OUR value, in the same atomic step: a holder that lost its lock
 * between acquire and here never gets a gen larger than the new holder's. The gen is INCR of the fence counter,
 * lifted to at least Redis's clock in ms and above the token's stored gen. The clock is what keeps fencing moving
 * forward when Redis loses its data (restart without persistence, failover to a stale replica, eviction): a new gen
 * is still above every gen issued before, so replicas' caches, which refuse lower generations, keep following.
 * lockinfo (hash owner/acquiredAt/gen) gets the lock's remaining PTTL: both expire together, so a listing never
 * shows a previous holder. Returns {gen, pttl}, or {0, 0} when the lock is not ours (any more).
 */
export const LOCK_ATTACH = new LuaScript(
  "lockAttach",
  4,
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {0, 0}
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then
  return {0, 0}
end
local gen = redis.call('INCR', KEYS[3])
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stored = tonumber(redis.call('HGET', KEYS[4], 'gen'))
local floor = nowMs
if stored and stored + 1 > floor then
  floor = stored + 1
end
if gen < floor then
  gen = floor
  redis.call('SET', KEYS[3], string.format('%d', gen))
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'owner', ARGV[2], 'acquiredAt', ARGV[3], 'gen', gen)
redis.call('PEXPIRE', KEYS[2], ttl)
return {gen, ttl}
`,
);

/**
 * Compare-and-delete of lockinfo on release: only if it still describes this holder (owner and gen), so a
 * holder whose lock expired and was taken over never erases the new holder's info.
 * KEYS[1] lockinfo. ARGV: owner, gen. Returns 1 when deleted.
 */
export const LOCKINFO_RELEASE = new LuaScript(
  "lockinfoRelease",
  1,
  `
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] and redis.call('HGET', KEYS[1], 'gen') == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
`,
);

/**
 * Who holds a lock, read atomically.
 * KEYS[1] lock, KEYS[2] lockinfo. Returns {pttl, owner|false, gen|false, acquiredAt|false}; pttl is -2 when
 * there is no lock, -1 when the lock has no TTL (a stuck lock).
 */
export const LOCK_HOLDER = new LuaScript(
  "lockHolder",
  2,
  `
local ttl = redis.call('PTTL', KEYS[1])
local info = redis.call('HMGET', KEYS[2], 'owner', 'gen', 'acquiredAt')
return {ttl, info[1], info[2], info[3]}
`,
);

/**
 * Remove a stuck lock: a lock key without TTL (left by old tooling or a hand-made SET). Atomic, so it never
 * removes a lock that has a TTL, i.e. a live holder's. KEYS[1] lock, KEYS[2] lockinfo. Returns 1 when removed.
 */
export const UNLOCK_STUCK = new LuaScript(
  "unlockStuck",
  2,
  `
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0
`,
);

/**
 * Read a legacy lock key in one step. KEYS[1] the key. ARGV[1] largest value (bytes) worth returning.
 * Returns {-2} when the key is gone; {pttl, type} for non-string keys or values too large to be a lock;
 * {pttl, 'string', value} otherwise. pttl is -1 when the key has no TTL.
 */
export const LEGACY_LOCK_READ = new LuaScript(
  "legacyLockRead",
  1,
  `
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then
  return {-2}
end
local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'string' or redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then
  return {ttl, t}
end
return {ttl, t, redis.call('GET', KEYS[1])}
`,
);

/**
 * Remove a stuck legacy lock: compare-and-delete on "still no TTL and still exactly the value we judged".
 * KEYS[1] the key. ARGV[1] the value read by LEGACY_LOCK_READ. A key that got a TTL meanwhile, was re-taken
 * (new value), changed type or disappeared is left alone. Returns 1 when removed.
 */
export const LEGACY_UNLOCK_STUCK = new LuaScript(
  "legacyUnlockStuck",
  1,
  `
if redis.call('PTTL', KEYS[1]) ~= -1 then
  return 0
end
if redis.call('TYPE', KEYS[1])['ok'] ~= 'string' then
  return 0
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
`,
);

export const ALL_SCRIPTS: readonly LuaScript[] = [
  CAS_WRITE,
  INVALIDATE,
  COUNT_DAILY,
  FORCE_TAKE,
  FORCE_CLOSE,
  SLOT_TAKE,
  LOCK_ATTACH,
  LOCKINFO_RELEASE,
  LOCK_HOLDER,
  UNLOCK_STUCK,
  LEGACY_LOCK_READ,
  LEGACY_UNLOCK_STUCK,
];

/** Load every script into the server's cache (optional warm-up; run() falls back to EVAL anyway). */
export async function loadScripts(redis: RedisClient): Promise<void> {
  for (const s of ALL_SCRIPTS) await redis.script("LOAD", s.source);
}
