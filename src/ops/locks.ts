// The operator's view of the locks: the listing and the cleanup report of `GET /api/locks`, `POST /api/locks/cleanup`,
// the runbook's `/cleanup_expired_locks.php` and `wechat-token-broker locks`, and the census the unauthenticated
// diagnosis and the stuck-lock gauge read. What a lock key is, who holds it, whether it is stuck and how it is
// removed is the lock's own knowledge (src/lock/inventory.ts and the lock behind it); this module adds the report's
// frame (mode, time, patterns, notes) and bounds how often the census costs Redis a walk: at most once per refresh
// interval, whatever the request rate. Text rendering: locksText.ts.
import { StoreUnavailableError } from "../broker/errors";
import { systemClock, type Clock } from "../clock";
import { LockUnavailableError } from "../lock/errors";
import type { KeepReason, LockEntry, LockInventory, StuckReason } from "../lock/inventory";
import { SWEEP_DEFAULTS } from "../lock/keyScan";
import type { RefreshLock } from "../lock/types";
import { Refreshing } from "./refreshing";

export type { KeepReason, LockEntry, LockKind, StuckReason } from "../lock/inventory";

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
  /** The broker's lock: its inventory does the listing and cleanup (Redis keys, or in-process holders). */
  lock: RefreshLock;
  /** LOCK_CLEANUP_PATTERNS. */
  patterns: readonly string[];
  /** The configured accounts: the census reads their locks exactly at every refresh. */
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

/** The census the diagnosis reads: refreshed at most every `refreshMs`, each refresh walking at most `visitBudget`
 * keys per pattern (about 20 SCAN calls). */
export const CENSUS_DEFAULTS = { refreshMs: 5_000, ...SWEEP_DEFAULTS } as const;

export const EMBEDDED_NOTE =
  "embedded mode: locks are held inside this broker process with an in-process expiry; nothing is stored in Redis, so no lock can be stuck and cleanup removes nothing.";

export class LockInspector {
  readonly mode: "redis" | "embedded";
  private readonly inventory: LockInventory;
  private readonly patterns: readonly string[];
  private readonly accountIds: () => string[];
  private readonly clock: Clock;
  private readonly refreshMs: number;
  private readonly censusCache: Refreshing<LockListing>;

  constructor(o: LockInspectorOptions) {
    this.patterns = [...o.patterns];
    this.accountIds = o.accountIds;
    this.clock = o.clock ?? systemClock;
    const { refreshMs = CENSUS_DEFAULTS.refreshMs, ...sweep } = o.census ?? {};
    this.refreshMs = refreshMs;
    this.inventory = o.lock.inventory({
      legacyPatterns: this.patterns,
      legacyMaxHoldMs: o.legacyMaxHoldMs,
      maxKeys: o.maxKeys,
      scanCount: o.scanCount,
      visitBudget: o.visitBudget,
      sweep,
      clock: this.clock,
    });
    this.mode = this.inventory.mode;
    this.censusCache = new Refreshing(
      () => this.takeCensus(),
      refreshMs,
      () => this.clock.now(),
    );
  }

  /**
   * The locks as the unauthenticated diagnosis sees them: at most one refresh per interval shared by every caller,
   * each costing Redis a bounded walk. The configured accounts' own locks are always read exactly.
   */
  census(): Promise<LockListing> {
    if (this.mode === "embedded") return this.list();
    return this.censusCache.get();
  }

  private async takeCensus(): Promise<LockListing> {
    const now = this.clock.now();
    const s = await storeErrors(this.inventory.sweep(this.accountIds()));
    return {
      mode: this.mode,
      generatedAt: new Date(now).toISOString(),
      patterns: [...this.patterns],
      scanned: s.scanned,
      truncated: s.truncated,
      locks: s.locks,
      census: { refreshedAt: new Date(now).toISOString(), complete: s.complete, visited: s.visited, refreshMs: this.refreshMs },
    };
  }

  async list(): Promise<LockListing> {
    const s = await storeErrors(this.inventory.list());
    const listing: LockListing = {
      mode: this.mode,
      generatedAt: new Date(this.clock.now()).toISOString(),
      patterns: [...this.patterns],
      scanned: s.scanned,
      truncated: s.truncated,
      locks: s.locks,
    };
    if (this.mode === "embedded") listing.note = EMBEDDED_NOTE;
    return listing;
  }

  async cleanup(opts: { dryRun?: boolean } = {}): Promise<CleanupResult> {
    const c = await storeErrors(this.inventory.cleanup({ dryRun: opts.dryRun === true }));
    const result: CleanupResult = { mode: this.mode, ...c };
    if (this.mode === "embedded") result.note = EMBEDDED_NOTE;
    return result;
  }
}

/** Operators and the HTTP layer know one "Redis is unavailable" error; the lock's becomes that one. */
async function storeErrors<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof LockUnavailableError) throw new StoreUnavailableError(err.message);
    throw err;
  }
}

/** The inspector of a built broker core (see src/core.ts `buildCore`). */
export function locksFromCore(core: {
  lock: RefreshLock;
  config: { lockCleanupPatterns: string[]; legacyLockMaxHoldSec: number };
  service: { accountIds(): string[] };
}): LockInspector {
  return new LockInspector({
    patterns: core.config.lockCleanupPatterns,
    legacyMaxHoldMs: core.config.legacyLockMaxHoldSec * 1000,
    lock: core.lock,
    accountIds: () => core.service.accountIds(),
  });
}
