// The Redis lock's keys as operators see them: listing with holder, TTL, gen and age, and stuck-lock cleanup, for
// the broker's own lock keys (`<prefix>{acct:<id>}:lock` with its `:lockinfo`) and the legacy lock keys of older
// tooling named by LOCK_CLEANUP_PATTERNS (e.g. a PHP service's `wechat:lock:*`). The stuck rules: inventory.ts.
//
// Each read is one script (LOCK_HOLDER, LEGACY_LOCK_READ) and each removal a compare-and-delete (UNLOCK_STUCK,
// LEGACY_UNLOCK_STUCK, all in src/store/lua.ts), so a key re-taken between listing and removal stays. Walking the
// keyspace is keyScan.ts's job: `list` and `cleanup` walk it once within a large budget; `sweep` reads the given
// accounts' lock keys directly and walks the rest a budget further each call.
import { systemClock, type Clock } from "../clock";
import type { AccountKeys, KeySpace } from "../store/keys";
import { LEGACY_LOCK_READ, LEGACY_UNLOCK_STUCK, LOCK_HOLDER, UNLOCK_STUCK } from "../store/lua";
import type { RedisClient } from "../store/redisClient";
import { lockUnavailable } from "./errors";
import {
  brokerLockEntry,
  cleanUp,
  type HolderFields,
  type LockCleanup,
  type LockEntry,
  type LockInventory,
  type LockInventoryOptions,
  type LockSurvey,
  type LockSweep,
} from "./inventory";
import { FULL_WALK_DEFAULTS, KeySweep, SWEEP_DEFAULTS, walkKeys, type ScanLimits } from "./keyScan";
import { judgeLegacyLock, parseLegacyLockValue } from "./legacyLocks";

/** A legacy value longer than this is not a lock record; it is not read. */
const MAX_LEGACY_VALUE_BYTES = 4096;
/** Keys read concurrently. */
const BATCH = 50;

interface Examined {
  entry: LockEntry;
  /** The legacy value judged, for the compare-and-delete. */
  value?: string;
  lockinfoKey?: string;
}

/** The holder of one account's lock, read with its TTL in one step; null when there is no lock key. */
export async function readLockHolder(redis: RedisClient, k: Pick<AccountKeys, "lock" | "lockinfo">): Promise<HolderFields | null> {
  const reply = await LOCK_HOLDER.run(redis, [k.lock, k.lockinfo], []);
  if (!Array.isArray(reply)) throw new TypeError("lock holder: unexpected reply");
  const [pttl, owner, gen, acquiredAt] = reply as [number, string | null, string | null, string | null];
  if (Number(pttl) === -2) return null;
  const h: HolderFields = { ttlMs: Number(pttl) };
  if (owner !== null) h.owner = owner;
  if (gen !== null) h.gen = Number(gen);
  if (acquiredAt !== null) h.acquiredAt = Number(acquiredAt);
  return h;
}

/** Remove one account's lock (and its info) only if the key has no TTL: never a live holder's. */
export async function unlockStuck(redis: RedisClient, k: Pick<AccountKeys, "lock" | "lockinfo">): Promise<boolean> {
  return Number(await UNLOCK_STUCK.run(redis, [k.lock, k.lockinfo], [])) === 1;
}

export class RedisLockInventory implements LockInventory {
  readonly mode = "redis" as const;
  private readonly patterns: readonly string[];
  private readonly clock: Clock;
  private readonly fullWalk: ScanLimits;
  private readonly sweepLimits: ScanLimits;
  private readonly legacyMaxHoldMs: number;
  /** The census's walks, one per pattern, each going on where the last step stopped. */
  private readonly sweeps = new Map<string, KeySweep>();

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
    o: LockInventoryOptions = {},
  ) {
    this.patterns = [...(o.legacyPatterns ?? [])];
    this.clock = o.clock ?? systemClock;
    const maxKeys = o.maxKeys ?? 10_000;
    this.fullWalk = {
      scanCount: o.scanCount ?? FULL_WALK_DEFAULTS.scanCount,
      visitBudget: o.visitBudget ?? FULL_WALK_DEFAULTS.visitBudget,
      maxKeys,
    };
    this.sweepLimits = { ...SWEEP_DEFAULTS, ...o.sweep, maxKeys };
    this.legacyMaxHoldMs = o.legacyMaxHoldMs ?? 3_600_000;
  }

  async list(): Promise<LockSurvey> {
    const { examined, scanned, truncated } = await this.examine();
    return { locks: examined.map((e) => e.entry), scanned, truncated };
  }

  async cleanup(opts: { dryRun?: boolean } = {}): Promise<LockCleanup> {
    return cleanUp(await this.examine(), opts.dryRun === true, (x) => this.removeStuck(x));
  }

  async sweep(accountIds: readonly string[]): Promise<LockSweep> {
    const now = this.clock.now();
    const examined: Examined[] = [];
    const seen = new Set<string>();
    let visited = 0;
    let complete = true;
    let truncated = false;
    // The given accounts first, by key: exact at every step, no walk needed.
    const ownKeys = accountIds.map((id) => this.keys.account(id).lock);
    examined.push(...(await this.readAll(ownKeys, (k) => this.readOwn(k, now))));
    for (const k of ownKeys) seen.add(k);
    const ownPattern = this.keys.lockPattern();
    for (const pattern of [ownPattern, ...this.patterns]) {
      let sweep = this.sweeps.get(pattern);
      if (!sweep) this.sweeps.set(pattern, (sweep = new KeySweep(pattern, this.sweepLimits)));
      try {
        await sweep.step(this.redis);
      } catch (err) {
        throw lockUnavailable("scan", err);
      }
      visited += sweep.visited;
      complete &&= sweep.complete;
      truncated ||= sweep.truncated;
      const own = pattern === ownPattern;
      const keys = sweep.keys().filter((k) => !seen.has(k) && (own ? this.isLockKey(k) : !this.isBrokerKey(k)));
      for (const k of keys) seen.add(k);
      examined.push(...(await this.readAll(keys, (k) => (own ? this.readOwn(k, now) : this.readLegacy(k, pattern, now)))));
    }
    examined.sort(byKey);
    return { locks: examined.map((e) => e.entry), scanned: examined.length, truncated, complete, visited };
  }

  // ---- reading ----

  private async examine(): Promise<{ examined: Examined[]; scanned: number; truncated: boolean }> {
    const now = this.clock.now();
    let scanned = 0;
    let truncated = false;

    const own = await this.walk(this.keys.lockPattern());
    truncated ||= own.truncated;
    const ownKeys = own.keys.filter((k) => this.isLockKey(k));
    scanned += ownKeys.length;
    const examined = await this.readAll(ownKeys, (k) => this.readOwn(k, now));

    const seen = new Set<string>(ownKeys);
    for (const pattern of this.patterns) {
      const found = await this.walk(pattern);
      truncated ||= found.truncated;
      // Never treat the broker's own keys as legacy: a broad pattern would otherwise reach the fence counter
      // (no TTL by design) and the token hashes.
      const keys = found.keys.filter((k) => !seen.has(k) && !this.isBrokerKey(k));
      for (const k of keys) seen.add(k);
      scanned += keys.length;
      examined.push(...(await this.readAll(keys, (k) => this.readLegacy(k, pattern, now))));
    }
    examined.sort(byKey);
    return { examined, scanned, truncated };
  }

  private isLockKey(key: string): boolean {
    return this.keys.parse(key)?.kind === "lock";
  }

  private isBrokerKey(key: string): boolean {
    return key.startsWith(`${this.keys.prefix}{acct:`);
  }

  private async walk(pattern: string): Promise<{ keys: string[]; truncated: boolean }> {
    try {
      const walk = await walkKeys(this.redis, pattern, this.fullWalk);
      return { keys: walk.keys, truncated: !walk.complete };
    } catch (err) {
      throw lockUnavailable("scan", err);
    }
  }

  /** Reads keys BATCH at a time; keys gone since they were found are skipped. */
  private async readAll(keys: readonly string[], read: (key: string) => Promise<Examined | null>): Promise<Examined[]> {
    const out: Examined[] = [];
    for (let i = 0; i < keys.length; i += BATCH) {
      for (const x of await Promise.all(keys.slice(i, i + BATCH).map(read))) if (x) out.push(x);
    }
    return out;
  }

  private async readOwn(key: string, now: number): Promise<Examined | null> {
    const parsed = this.keys.parse(key);
    if (!parsed) return null;
    const k = this.keys.account(parsed.accountId);
    let h: HolderFields | null;
    try {
      h = await readLockHolder(this.redis, k);
    } catch (err) {
      throw lockUnavailable("lock holder", err);
    }
    return h ? { entry: brokerLockEntry(key, parsed.accountId, h, now), lockinfoKey: k.lockinfo } : null;
  }

  private async readLegacy(key: string, pattern: string, now: number): Promise<Examined | null> {
    let reply: unknown;
    try {
      reply = await LEGACY_LOCK_READ.run(this.redis, [key], [MAX_LEGACY_VALUE_BYTES]);
    } catch (err) {
      throw lockUnavailable("legacy lock read", err);
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
      entry.why =
        type !== "string"
          ? `a ${type}, not a plain string lock value: never removed automatically`
          : "a value too large to be a lock record: never removed automatically";
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
    try {
      if (x.entry.kind === "broker") {
        if (!x.lockinfoKey) return false;
        return await unlockStuck(this.redis, { lock: x.entry.key, lockinfo: x.lockinfoKey });
      }
      if (x.value === undefined) return false;
      return Number(await LEGACY_UNLOCK_STUCK.run(this.redis, [x.entry.key], [x.value])) === 1;
    } catch (err) {
      throw lockUnavailable("cleanup", err);
    }
  }
}

function byKey(a: Examined, b: Examined): number {
  return a.entry.key.localeCompare(b.entry.key);
}
