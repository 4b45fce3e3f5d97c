// Lock listing and stuck-lock cleanup: the broker's own refresh locks (`<prefix>{acct:<id>}:lock`) and the legacy
// lock keys of older tooling named by LOCK_CLEANUP_PATTERNS (e.g. a PHP service's `wechat:lock:*`).
//
// What counts as stuck, and is removed by cleanup:
// - a broker lock key without TTL (ours always have one: such a key was made by hand or by old tooling);
// - a legacy key for which legacyLocks.ts's rule says no live holder can own it (an explicit expiry that has
//   passed, or a time older than LEGACY_LOCK_MAX_HOLD_SEC).
// Never removed: any key with a TTL, a legacy key that may still be held, a non-string legacy key. Each removal is
// a compare-and-delete in Lua, so a key re-taken between listing and removal stays. Every listed key says why.
//
// Walking the keyspace is keyScan.ts's job, at a bounded cost: `list` and `cleanup` (admin) walk it once within a
// large budget; `census` (the unauthenticated diagnosis) reads the configured accounts' lock keys directly and
// walks the rest a budget at a time, at most once per refresh interval whatever the request rate.
import type { RedisClient } from "../store/redisClient";
import { StoreUnavailableError } from "../broker/errors";
import { systemClock, type Clock } from "../clock";
import type { RefreshLock } from "../lock/types";
import { sanitizeRedisError } from "../store/errors";
import { KeySpace } from "../store/keys";
import { LEGACY_LOCK_READ, LEGACY_UNLOCK_STUCK, LOCK_HOLDER, UNLOCK_STUCK } from "../store/lua";
import { CENSUS_DEFAULTS, FULL_WALK_DEFAULTS, KeySweep, Refreshing, walkKeys, type ScanLimits } from "./keyScan";
import { judgeLegacyLock, parseLegacyLockValue, type KeepReason, type StuckReason } from "./legacyLocks";

export { parseLegacyLockValue, type KeepReason, type LegacyLockInfo, type StuckReason } from "./legacyLocks";

export type LockKind = "broker" | "legacy";

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
  /** Why it is not stuck (what cleanup would answer). */
  keepReason?: KeepReason;
  /** The reason in words, for a person. */
  why: string;
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
  /** Set on the diagnosis's census: the configured accounts' locks are read directly, other keys found by a walk
   * of the keyspace spread over refreshes. */
  census?: {
    refreshedAt: string;
    /** False until the walk has been once through the whole keyspace: keys it has not reached are not listed. */
    complete: boolean;
    /** Keys Redis walked for this refresh. */
    visited: number;
    refreshMs: number;
  };
}

export interface CleanupResult {
  mode: "redis" | "embedded";
  /** True: nothing was removed; `removed` lists what a real run would remove. */
  dryRun: boolean;
  scanned: number;
  truncated: boolean;
  removed: Array<{ key: string; reason: StuckReason; why: string }>;
  kept: Array<{ key: string; ttlMs: number; owner?: string; reason: KeepReason; why: string }>;
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
  /** SCAN COUNT hint of the full walk. */
  scanCount?: number;
  /** Keys the full walk (list, cleanup) may visit per pattern. */
  visitBudget?: number;
  /** The diagnosis's census: refresh interval, keys visited per pattern and refresh, SCAN COUNT. */
  census?: Partial<{ refreshMs: number; visitBudget: number; scanCount: number }>;
  /** Stop after examining this many keys per pattern (a pattern matching a whole keyspace must not run forever). */
  maxKeys?: number;
  /** LEGACY_LOCK_MAX_HOLD_SEC in ms (default 1 h). */
  legacyMaxHoldMs?: number;
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
  private readonly fullWalk: ScanLimits;
  private readonly censusLimits: ScanLimits & { refreshMs: number };
  private readonly maxKeys: number;
  private readonly legacyMaxHoldMs: number;
  private readonly sweeps = new Map<string, KeySweep>();
  private readonly censusCache: Refreshing<LockListing>;

  constructor(o: LockInspectorOptions) {
    this.redis = o.redis;
    this.mode = o.redis ? "redis" : "embedded";
    this.keys = new KeySpace(o.keyPrefix);
    this.patterns = [...o.patterns];
    this.lock = o.lock;
    this.accountIds = o.accountIds;
    this.clock = o.clock ?? systemClock;
    this.maxKeys = o.maxKeys ?? 10_000;
    this.fullWalk = { scanCount: o.scanCount ?? FULL_WALK_DEFAULTS.scanCount, visitBudget: o.visitBudget ?? FULL_WALK_DEFAULTS.visitBudget, maxKeys: this.maxKeys };
    this.censusLimits = { ...CENSUS_DEFAULTS, ...o.census, maxKeys: this.maxKeys };
    this.legacyMaxHoldMs = o.legacyMaxHoldMs ?? 3_600_000;
    this.censusCache = new Refreshing(() => this.takeCensus(), this.censusLimits.refreshMs, () => this.clock.now());
  }

  /**
   * The locks as the unauthenticated diagnosis sees them: at most one refresh per interval shared by every caller,
   * each costing Redis a bounded walk. The configured accounts' own locks are always read exactly.
   */
  census(): Promise<LockListing> {
    if (!this.redis) return this.list();
    return this.censusCache.get();
  }

  private async takeCensus(): Promise<LockListing> {
    const redis = this.redis!;
    const now = this.clock.now();
    const examined: Examined[] = [];
    const seen = new Set<string>();
    let visited = 0;
    let complete = true;
    let truncated = false;
    // The configured accounts first, by key: exact at every refresh, no walk needed.
    const ownKeys = this.accountIds().map((id) => this.keys.account(id).lock);
    for (const batch of chunks(ownKeys, BATCH)) {
      const read = await Promise.all(batch.map((k) => this.readOwn(redis, k, now)));
      for (const x of read) if (x) examined.push(x);
    }
    for (const k of ownKeys) seen.add(k);
    for (const pattern of [this.keys.lockPattern(), ...this.patterns]) {
      let sweep = this.sweeps.get(pattern);
      if (!sweep) this.sweeps.set(pattern, (sweep = new KeySweep(pattern, this.censusLimits)));
      try {
        await sweep.step(redis);
      } catch (err) {
        throw unavailable("scan", err);
      }
      visited += sweep.visited;
      complete &&= sweep.complete;
      truncated ||= sweep.truncated;
      const own = pattern === this.keys.lockPattern();
      const keys = sweep.keys().filter((k) => !seen.has(k) && (own ? this.keys.parse(k)?.kind === "lock" : !k.startsWith(`${this.keys.prefix}{acct:`)));
      for (const k of keys) seen.add(k);
      for (const batch of chunks(keys, BATCH)) {
        const read = await Promise.all(batch.map((k) => (own ? this.readOwn(redis, k, now) : this.readLegacy(redis, k, pattern, now))));
        for (const x of read) if (x) examined.push(x);
      }
    }
    examined.sort((a, b) => a.entry.key.localeCompare(b.entry.key));
    return {
      mode: "redis",
      generatedAt: new Date(now).toISOString(),
      patterns: [...this.patterns],
      scanned: examined.length,
      truncated,
      locks: examined.map((e) => e.entry),
      census: { refreshedAt: new Date(now).toISOString(), complete, visited, refreshMs: this.censusLimits.refreshMs },
    };
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
        result.kept.push(kept(e, e.keepReason ?? "has_ttl", e.why));
        continue;
      }
      if (dryRun || (await this.removeStuck(x))) result.removed.push({ key: e.key, reason: e.stuckReason, why: e.why });
      else result.kept.push(kept(e, "changed", "it changed between the listing and the removal (re-taken, or given a TTL)"));
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
    try {
      const walk = await walkKeys(redis, pattern, this.fullWalk);
      return { keys: walk.keys, truncated: !walk.complete };
    } catch (err) {
      throw unavailable("scan", err);
    }
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
    const entry: LockEntry = { key, kind: "legacy", pattern, ttlMs, stuck: false, why: "" };
    if (ttlMs >= 0) entry.expiresAt = new Date(now + ttlMs).toISOString();
    if (type !== "string" || value === undefined) {
      // A value too large to read cannot be compared-and-deleted: kept, like other non-lock types.
      entry.valueType = type !== "string" ? type : "string (large)";
      entry.keepReason = "not_a_string";
      entry.why = type !== "string" ? `a ${type}, not a plain string lock value: never removed automatically` : "a value too large to be a lock record: never removed automatically";
      return { entry };
    }
    const info = parseLegacyLockValue(value);
    if (info.owner !== undefined) entry.owner = info.owner;
    if (info.acquiredAtMs !== undefined) {
      entry.acquiredAt = new Date(info.acquiredAtMs).toISOString();
      entry.ageMs = Math.max(0, now - info.acquiredAtMs);
    }
    if (ttlMs === -1 && info.expiresAtMs !== undefined) entry.expiresAt = new Date(info.expiresAtMs).toISOString();
    const v = judgeLegacyLock(ttlMs, info, now, this.legacyMaxHoldMs);
    entry.why = v.why;
    if (v.stuck) {
      entry.stuck = true;
      entry.stuckReason = v.reason;
    } else entry.keepReason = v.reason;
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
  const stuck = h.ttlMs === -1;
  const why = stuck ? "a broker lock without TTL: the broker always sets one, so no refresh holds it" : "held by a refresh: it has a TTL";
  const e: LockEntry = { key, kind: "broker", accountId, ttlMs: h.ttlMs, stuck, why };
  if (h.owner !== undefined) e.owner = h.owner;
  if (h.gen !== undefined && Number.isFinite(h.gen)) e.gen = h.gen;
  if (h.acquiredAt !== undefined && Number.isFinite(h.acquiredAt)) {
    e.acquiredAt = new Date(h.acquiredAt).toISOString();
    e.ageMs = Math.max(0, now - h.acquiredAt);
  }
  if (h.ttlMs >= 0) e.expiresAt = new Date(now + h.ttlMs).toISOString();
  if (e.stuck) e.stuckReason = "no_ttl";
  else e.keepReason = "has_ttl";
  return e;
}

function kept(e: LockEntry, reason: KeepReason, why: string): CleanupResult["kept"][number] {
  const k: CleanupResult["kept"][number] = { key: e.key, ttlMs: e.ttlMs, reason, why };
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

/** The inspector of a built broker core (see src/server.ts `buildCore`). */
export function locksFromCore(core: {
  redis: RedisClient | null;
  lock: RefreshLock;
  config: { keyPrefix: string; lockCleanupPatterns: string[]; legacyLockMaxHoldSec: number };
  service: { accountIds(): string[] };
}): LockInspector {
  return new LockInspector({
    redis: core.redis,
    keyPrefix: core.config.keyPrefix,
    patterns: core.config.lockCleanupPatterns,
    legacyMaxHoldMs: core.config.legacyLockMaxHoldSec * 1000,
    lock: core.lock,
    accountIds: () => core.service.accountIds(),
  });
}
