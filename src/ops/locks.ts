// Lock listing and stuck-lock cleanup: the broker's own refresh locks (`<prefix>{acct:<id>}:lock`) and the legacy
// lock keys of older tooling named by LOCK_CLEANUP_PATTERNS (e.g. a PHP service's `wechat:lock:*`).
//
// What counts as stuck, and is removed by cleanup:
// - a broker lock key without TTL (ours always have one: such a key was made by hand or by old tooling);
// - a legacy key without TTL whose value carries no expiry, or an expiry that has passed.
// Never removed: any key with a TTL (a live holder's, or one Redis expires by itself), a legacy key whose embedded
// expiry is still ahead (its holder manages expiry itself, SETNX-style), a non-string legacy key (we cannot tell
// what it is). Each removal is a compare-and-delete in Lua, so a key re-taken between listing and removal stays.
//
// SCAN with COUNT only (never KEYS): a big shared Redis must not be blocked by a cleanup.
import type { Redis } from "ioredis";
import { isCluster, type RedisClient } from "../store/redisClient";
import { StoreUnavailableError } from "../broker/errors";
import { systemClock, type Clock } from "../clock";
import type { RefreshLock } from "../lock/types";
import { sanitizeRedisError } from "../store/errors";
import { KeySpace } from "../store/keys";
import { LEGACY_LOCK_READ, LEGACY_UNLOCK_STUCK, LOCK_HOLDER, UNLOCK_STUCK } from "../store/lua";

export type LockKind = "broker" | "legacy";
/** Why a lock is stuck: no TTL at all, or (legacy) its own embedded expiry has passed and it has no TTL. */
export type StuckReason = "no_ttl" | "expired_value";
/** Why cleanup left a key: it has a TTL; its embedded expiry is ahead; it is not a string; it changed meanwhile. */
export type KeepReason = "has_ttl" | "expiry_in_future" | "not_a_string" | "changed";

export interface LockEntry {
  key: string;
  kind: LockKind;
  /** Broker locks: the account the key belongs to (configured or not). */
  accountId?: string;
  /** Legacy locks: the LOCK_CLEANUP_PATTERNS entry that matched. */
  pattern?: string;
  /** Who holds it, where known (broker lockinfo; a legacy JSON value's owner/host field). */
  owner?: string;
  /** Broker locks: the fencing generation issued with it. */
  gen?: number;
  /** Remaining time to live in ms; -1 when the key has no TTL. */
  ttlMs: number;
  /** When it was taken (ISO), where known. */
  acquiredAt?: string;
  /** How long it has been held, ms, where known. */
  ageMs?: number;
  /** When it ends (ISO): now + TTL, or a legacy value's embedded expiry when the key has no TTL. */
  expiresAt?: string;
  stuck: boolean;
  stuckReason?: StuckReason;
  /** Legacy keys that are not plain strings (hash, set…): listed, never removed. */
  valueType?: string;
}

export interface LockListing {
  /** "embedded": in-process locks of this broker (no Redis); nothing can be stuck, cleanup removes nothing. */
  mode: "redis" | "embedded";
  generatedAt: string;
  /** The legacy patterns scanned (LOCK_CLEANUP_PATTERNS). */
  patterns: string[];
  /** Keys examined. */
  scanned: number;
  /** True when a scan stopped at the key limit: there may be more. */
  truncated: boolean;
  locks: LockEntry[];
  note?: string;
}

export interface CleanupResult {
  mode: "redis" | "embedded";
  /** True: nothing was removed; `removed` lists what a real run would remove. */
  dryRun: boolean;
  scanned: number;
  truncated: boolean;
  removed: Array<{ key: string; reason: StuckReason }>;
  kept: Array<{ key: string; ttlMs: number; owner?: string; reason: KeepReason }>;
  note?: string;
}

export interface LockInspectorOptions {
  /** The command connection in Redis mode (one server or a Cluster); null in embedded mode. */
  redis: RedisClient | null;
  keyPrefix: string;
  /** LOCK_CLEANUP_PATTERNS. */
  patterns: readonly string[];
  /** The broker's lock (embedded mode lists its in-process holders). */
  lock: RefreshLock;
  /** The configured accounts (embedded mode asks the lock about each). */
  accountIds: () => string[];
  clock?: Clock;
  /** SCAN COUNT hint. */
  scanCount?: number;
  /** Stop after examining this many keys per pattern (a pattern matching a whole keyspace must not run forever). */
  maxKeys?: number;
}

/** A legacy value longer than this is not a lock record; it is not read. */
const MAX_LEGACY_VALUE_BYTES = 4096;
const BATCH = 50;

export const EMBEDDED_NOTE =
  "embedded mode: locks are held inside this broker process with an in-process expiry; nothing is stored in Redis, so no lock can be stuck and cleanup removes nothing.";

interface Examined {
  entry: LockEntry;
  /** The legacy value judged, for the compare-and-delete. */
  value?: string;
  lockinfoKey?: string;
}

export class LockInspector {
  readonly mode: "redis" | "embedded";
  private readonly redis: RedisClient | null;
  private readonly keys: KeySpace;
  private readonly patterns: readonly string[];
  private readonly lock: RefreshLock;
  private readonly accountIds: () => string[];
  private readonly clock: Clock;
  private readonly scanCount: number;
  private readonly maxKeys: number;

  constructor(o: LockInspectorOptions) {
    this.redis = o.redis;
    this.mode = o.redis ? "redis" : "embedded";
    this.keys = new KeySpace(o.keyPrefix);
    this.patterns = [...o.patterns];
    this.lock = o.lock;
    this.accountIds = o.accountIds;
    this.clock = o.clock ?? systemClock;
    this.scanCount = o.scanCount ?? 500;
    this.maxKeys = o.maxKeys ?? 10_000;
  }

  async list(): Promise<LockListing> {
    const { examined, scanned, truncated } = await this.examine();
    const listing: LockListing = {
      mode: this.mode,
      generatedAt: new Date(this.clock.now()).toISOString(),
      patterns: [...this.patterns],
      scanned,
      truncated,
      locks: examined.map((e) => e.entry),
    };
    if (this.mode === "embedded") listing.note = EMBEDDED_NOTE;
    return listing;
  }

  async cleanup(opts: { dryRun?: boolean } = {}): Promise<CleanupResult> {
    const dryRun = opts.dryRun === true;
    const { examined, scanned, truncated } = await this.examine();
    const result: CleanupResult = { mode: this.mode, dryRun, scanned, truncated, removed: [], kept: [] };
    if (this.mode === "embedded") result.note = EMBEDDED_NOTE;
    for (const x of examined) {
      const e = x.entry;
      if (!e.stuck || !e.stuckReason) {
        result.kept.push(kept(e, keepReason(e)));
        continue;
      }
      if (dryRun || (await this.removeStuck(x))) result.removed.push({ key: e.key, reason: e.stuckReason });
      else result.kept.push(kept(e, "changed"));
    }
    return result;
  }

  // ---- reading ----

  private async examine(): Promise<{ examined: Examined[]; scanned: number; truncated: boolean }> {
    if (!this.redis) return { examined: await this.embedded(), scanned: this.accountIds().length, truncated: false };
    const redis = this.redis;
    const now = this.clock.now();
    let scanned = 0;
    let truncated = false;

    const own = await this.scan(redis, this.keys.lockPattern());
    truncated ||= own.truncated;
    const ownKeys = own.keys.filter((k) => this.keys.parse(k)?.kind === "lock");
    scanned += ownKeys.length;
    const examined: Examined[] = [];
    for (const batch of chunks(ownKeys, BATCH)) {
      const read = await Promise.all(batch.map((k) => this.readOwn(redis, k, now)));
      for (const x of read) if (x) examined.push(x);
    }

    const seen = new Set<string>(ownKeys);
    for (const pattern of this.patterns) {
      const found = await this.scan(redis, pattern);
      truncated ||= found.truncated;
      // Never treat the broker's own keys as legacy: a broad pattern would otherwise reach the fence counter
      // (no TTL by design) and the token hashes.
      const keys = found.keys.filter((k) => !seen.has(k) && !k.startsWith(`${this.keys.prefix}{acct:`));
      for (const k of keys) seen.add(k);
      scanned += keys.length;
      for (const batch of chunks(keys, BATCH)) {
        const read = await Promise.all(batch.map((k) => this.readLegacy(redis, k, pattern, now)));
        for (const x of read) if (x) examined.push(x);
      }
    }
    examined.sort((a, b) => a.entry.key.localeCompare(b.entry.key));
    return { examined, scanned, truncated };
  }

  private async embedded(): Promise<Examined[]> {
    const now = this.clock.now();
    const out: Examined[] = [];
    for (const accountId of this.accountIds()) {
      const h = (await this.lock.holder(accountId)) as { owner: string; ttlMs: number; gen?: number; acquiredAt?: number } | null;
      if (!h) continue;
      out.push({ entry: brokerEntry(this.keys.account(accountId).lock, accountId, h, now) });
    }
    return out;
  }

  private async scan(redis: RedisClient, pattern: string): Promise<{ keys: string[]; truncated: boolean }> {
    const keys = new Set<string>();
    // SCAN walks one server's keyspace: on a Cluster, every master's (replicas hold copies of the same keys).
    const nodes: Redis[] = isCluster(redis) ? redis.nodes("master") : [redis];
    try {
      for (const node of nodes) {
        let cursor = "0";
        do {
          const [next, batch] = await node.scan(cursor, "MATCH", pattern, "COUNT", this.scanCount);
          cursor = next;
          for (const k of batch) keys.add(k);
          if (keys.size >= this.maxKeys) return { keys: [...keys].slice(0, this.maxKeys), truncated: cursor !== "0" || keys.size > this.maxKeys || node !== nodes.at(-1) };
        } while (cursor !== "0");
      }
    } catch (err) {
      throw unavailable("scan", err);
    }
    return { keys: [...keys], truncated: false };
  }

  private async readOwn(redis: RedisClient, key: string, now: number): Promise<Examined | null> {
    const parsed = this.keys.parse(key);
    if (!parsed) return null;
    const lockinfoKey = this.keys.account(parsed.accountId).lockinfo;
    let reply: unknown;
    try {
      reply = await LOCK_HOLDER.run(redis, [key, lockinfoKey], []);
    } catch (err) {
      throw unavailable("lock holder", err);
    }
    if (!Array.isArray(reply)) return null;
    const [pttl, owner, gen, acquiredAt] = reply as [number, string | null, string | null, string | null];
    if (Number(pttl) === -2) return null;
    const h = {
      owner: owner ?? undefined,
      ttlMs: Number(pttl),
      gen: gen !== null ? Number(gen) : undefined,
      acquiredAt: acquiredAt !== null ? Number(acquiredAt) : undefined,
    };
    return { entry: brokerEntry(key, parsed.accountId, h, now), lockinfoKey };
  }

  private async readLegacy(redis: RedisClient, key: string, pattern: string, now: number): Promise<Examined | null> {
    let reply: unknown;
    try {
      reply = await LEGACY_LOCK_READ.run(redis, [key], [MAX_LEGACY_VALUE_BYTES]);
    } catch (err) {
      throw unavailable("legacy lock read", err);
    }
    if (!Array.isArray(reply)) return null;
    const ttlMs = Number(reply[0]);
    if (ttlMs === -2) return null;
    const type = String(reply[1]);
    const value = typeof reply[2] === "string" ? reply[2] : undefined;
    const entry: LockEntry = { key, kind: "legacy", pattern, ttlMs, stuck: false };
    if (ttlMs >= 0) entry.expiresAt = new Date(now + ttlMs).toISOString();
    if (type !== "string") {
      entry.valueType = type;
      return { entry };
    }
    const info = value !== undefined ? parseLegacyLockValue(value) : {};
    if (info.owner !== undefined) entry.owner = info.owner;
    if (info.acquiredAtMs !== undefined) {
      entry.acquiredAt = new Date(info.acquiredAtMs).toISOString();
      entry.ageMs = Math.max(0, now - info.acquiredAtMs);
    }
    if (ttlMs === -1) {
      if (info.expiresAtMs !== undefined) {
        entry.expiresAt = new Date(info.expiresAtMs).toISOString();
        if (info.expiresAtMs <= now) {
          entry.stuck = true;
          entry.stuckReason = "expired_value";
        }
      } else {
        entry.stuck = true;
        entry.stuckReason = "no_ttl";
      }
    }
    // A value too large to read cannot be compared-and-deleted: never stuck (kept as not a lock record).
    if (value === undefined) {
      entry.stuck = false;
      delete entry.stuckReason;
      entry.valueType = "string (large)";
    }
    return { entry, value };
  }

  // ---- removing ----

  private async removeStuck(x: Examined): Promise<boolean> {
    const redis = this.redis;
    if (!redis) return false;
    try {
      if (x.entry.kind === "broker") {
        if (!x.lockinfoKey) return false;
        return Number(await UNLOCK_STUCK.run(redis, [x.entry.key, x.lockinfoKey], [])) === 1;
      }
      if (x.value === undefined) return false;
      return Number(await LEGACY_UNLOCK_STUCK.run(redis, [x.entry.key], [x.value])) === 1;
    } catch (err) {
      throw unavailable("cleanup", err);
    }
  }
}

function brokerEntry(key: string, accountId: string, h: { owner?: string; ttlMs: number; gen?: number; acquiredAt?: number }, now: number): LockEntry {
  const e: LockEntry = { key, kind: "broker", accountId, ttlMs: h.ttlMs, stuck: h.ttlMs === -1 };
  if (h.owner !== undefined) e.owner = h.owner;
  if (h.gen !== undefined && Number.isFinite(h.gen)) e.gen = h.gen;
  if (h.acquiredAt !== undefined && Number.isFinite(h.acquiredAt)) {
    e.acquiredAt = new Date(h.acquiredAt).toISOString();
    e.ageMs = Math.max(0, now - h.acquiredAt);
  }
  if (h.ttlMs >= 0) e.expiresAt = new Date(now + h.ttlMs).toISOString();
  if (e.stuck) e.stuckReason = "no_ttl";
  return e;
}

function keepReason(e: LockEntry): KeepReason {
  if (e.valueType !== undefined) return "not_a_string";
  if (e.ttlMs >= 0) return "has_ttl";
  return "expiry_in_future";
}

function kept(e: LockEntry, reason: KeepReason): CleanupResult["kept"][number] {
  const k: CleanupResult["kept"][number] = { key: e.key, ttlMs: e.ttlMs, reason };
  if (e.owner !== undefined) k.owner = e.owner;
  return k;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function unavailable(op: string, err: unknown): StoreUnavailableError {
  return new StoreUnavailableError(`${op}: ${sanitizeRedisError(err).message}`);
}

// ---- legacy values ----

export interface LegacyLockInfo {
  owner?: string;
  /** Epoch ms of the expiry the value itself carries. */
  expiresAtMs?: number;
  acquiredAtMs?: number;
}

const EXPIRY_FIELDS = ["expires_at", "expiresAt", "expire_at", "expireAt", "expire", "expires", "expiry", "expired_at", "until", "deadline"];
const ACQUIRED_FIELDS = ["acquired_at", "acquiredAt", "created_at", "createdAt", "locked_at", "lockedAt", "time", "timestamp"];
const OWNER_FIELDS = ["owner", "holder", "locked_by", "lockedBy", "hostname", "host", "instance", "worker", "server"];

/**
 * What a legacy lock value says about itself. Values are whatever older tooling wrote: a random token, an owner
 * string, a bare expiry timestamp (the classic `SETNX lock <now+timeout>` recipe), or JSON such as
 * `{"expires_at": 1700000000, "owner": "web-1"}`. Anything unrecognised yields nothing. The value itself is never
 * returned: a random lock token is a capability to release someone's lock.
 */
export function parseLegacyLockValue(value: string): LegacyLockInfo {
  const text = value.trim();
  if (/^\d{1,16}(\.\d+)?$/.test(text)) {
    const at = toEpochMs(Number(text));
    return at !== undefined ? { expiresAtMs: at } : {};
  }
  if (!text.startsWith("{")) return {};
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return {};
  const rec = obj as Record<string, unknown>;
  const info: LegacyLockInfo = {};
  const expiry = firstTime(rec, EXPIRY_FIELDS);
  if (expiry !== undefined) info.expiresAtMs = expiry;
  const acquired = firstTime(rec, ACQUIRED_FIELDS);
  if (acquired !== undefined) info.acquiredAtMs = acquired;
  for (const f of OWNER_FIELDS) {
    const v = rec[f];
    const s = typeof v === "string" ? v : typeof v === "number" && Number.isFinite(v) ? String(v) : undefined;
    const clean = s === undefined ? "" : s.replace(/[^\x20-\x7e]/g, "").trim().slice(0, 100);
    if (clean !== "") {
      info.owner = clean;
      break;
    }
  }
  return info;
}

function firstTime(rec: Record<string, unknown>, fields: readonly string[]): number | undefined {
  for (const f of fields) {
    const v = rec[f];
    let at: number | undefined;
    if (typeof v === "number") at = toEpochMs(v);
    else if (typeof v === "string" && /^\d{1,16}(\.\d+)?$/.test(v.trim())) at = toEpochMs(Number(v.trim()));
    else if (typeof v === "string" && /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(v)) {
      const t = Date.parse(v);
      at = Number.isFinite(t) ? t : undefined;
    }
    if (at !== undefined) return at;
  }
  return undefined;
}

/**
 * Seconds or milliseconds since the epoch, told apart by size: ≥ 1e12 is ms (after 2001 in ms), ≥ 1e9 is
 * seconds (after 2001). Smaller numbers (a PID, a counter, a relative TTL) are not timestamps.
 */
function toEpochMs(n: number): number | undefined {
  if (!Number.isFinite(n) || n <= 0) return undefined;
  if (n >= 1e12 && n < 1e14) return Math.round(n);
  if (n >= 1e9 && n < 1e11) return Math.round(n * 1000);
  return undefined;
}

/** The inspector of a built broker core (see src/server.ts `buildCore`). */
export function locksFromCore(core: {
  redis: RedisClient | null;
  lock: RefreshLock;
  config: { keyPrefix: string; lockCleanupPatterns: string[] };
  service: { accountIds(): string[] };
}): LockInspector {
  return new LockInspector({
    redis: core.redis,
    keyPrefix: core.config.keyPrefix,
    patterns: core.config.lockCleanupPatterns,
    lock: core.lock,
    accountIds: () => core.service.accountIds(),
  });
}
