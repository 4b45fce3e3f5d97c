// What a refresh lock tells operators about its keys, and how it cleans up stuck ones. Both locks implement it
// (RedisRefreshLock over the keyspace, MemoryRefreshLock over its own table), so the operator's view in
// src/ops/locks.ts is the same in both modes and knows nothing of keys, scripts or SCAN.
//
// What counts as stuck, and is removed by cleanup:
// - a broker lock key without TTL (the broker always sets one: such a key was made by hand or by old tooling);
// - a legacy lock key (LOCK_CLEANUP_PATTERNS) that legacyLocks.ts's rule says no live holder can own.
// Never removed: a lock with a TTL, a legacy key that may still be held, a legacy key that is not a plain string.
// Every listed lock says why it is kept or removed.
import type { Clock } from "../clock";

export type LockKind = "broker" | "legacy";

/** Why cleanup removes (or would remove) a key. */
export type StuckReason = "no_ttl" | "expired_value" | "older_than_max_hold";
/** Why cleanup leaves a key. `changed`: it was modified between the listing and the removal. */
export type KeepReason = "has_ttl" | "expiry_in_future" | "within_max_hold" | "age_unknown" | "not_a_string" | "changed";

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

export interface LockSurvey {
  /** Sorted by key. */
  locks: LockEntry[];
  /** Keys examined. */
  scanned: number;
  /** True when a walk stopped at the key limit: there may be more. */
  truncated: boolean;
}

/** One step of the bounded walk the diagnosis's census reads. */
export interface LockSweep extends LockSurvey {
  /** False until the walk has been once through the whole keyspace: keys it has not reached are not listed. */
  complete: boolean;
  /** Keys Redis walked in this step. */
  visited: number;
}

export interface LockCleanup {
  /** True: nothing was removed; `removed` lists what a real run would remove. */
  dryRun: boolean;
  scanned: number;
  truncated: boolean;
  removed: Array<{ key: string; reason: StuckReason; why: string }>;
  kept: Array<{ key: string; ttlMs: number; owner?: string; reason: KeepReason; why: string }>;
}

export interface LockInventoryOptions {
  /** LOCK_CLEANUP_PATTERNS: legacy lock keys of older tooling to list and clean up beside the broker's own. */
  legacyPatterns?: readonly string[];
  /** LEGACY_LOCK_MAX_HOLD_SEC in ms (default 1 h). */
  legacyMaxHoldMs?: number;
  /** Stop after this many keys per pattern (a pattern matching a whole keyspace must not run forever). */
  maxKeys?: number;
  /** SCAN COUNT of the full walk (list, cleanup). */
  scanCount?: number;
  /** Keys the full walk may visit per pattern. */
  visitBudget?: number;
  /** The census walk: keys visited per pattern and step, SCAN COUNT. */
  sweep?: Partial<{ visitBudget: number; scanCount: number }>;
  /** Where "now" comes from for ages and expiries (the memory lock always uses its own clock). */
  clock?: Clock;
}

export interface LockInventory {
  /** "embedded": an in-process lock; no key can be stuck and cleanup removes nothing. */
  readonly mode: "redis" | "embedded";
  /** Every lock: the broker's own, then the legacy patterns, each walked once within the full budget. */
  list(): Promise<LockSurvey>;
  /** The given accounts' locks read directly, the rest of the keyspace walked a bounded step further. */
  sweep(accountIds: readonly string[]): Promise<LockSweep>;
  /** Remove the stuck locks (or, on a dry run, say which would go). A lock re-taken meanwhile is kept. */
  cleanup(opts?: { dryRun?: boolean }): Promise<LockCleanup>;
}

/** What a broker lock key says about its holder; `owner` only where lockinfo names one. */
export interface HolderFields {
  owner?: string;
  /** -1: the key has no TTL. */
  ttlMs: number;
  gen?: number;
  acquiredAt?: number;
}

/** The listing entry of a broker lock: held while it has a TTL, stuck without one. */
export function brokerLockEntry(key: string, accountId: string, h: HolderFields, now: number): LockEntry {
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

/**
 * The cleanup of examined locks: each stuck one is removed by `remove` (a compare-and-delete that answers false
 * when the key changed since it was examined), everything else is kept with its reason.
 */
export async function cleanUp<X extends { entry: LockEntry }>(
  survey: { examined: X[]; scanned: number; truncated: boolean },
  dryRun: boolean,
  remove: (x: X) => Promise<boolean>,
): Promise<LockCleanup> {
  const result: LockCleanup = { dryRun, scanned: survey.scanned, truncated: survey.truncated, removed: [], kept: [] };
  for (const x of survey.examined) {
    const e = x.entry;
    if (!e.stuck || !e.stuckReason) {
      result.kept.push(kept(e, e.keepReason ?? "has_ttl", e.why));
      continue;
    }
    if (dryRun || (await remove(x))) result.removed.push({ key: e.key, reason: e.stuckReason, why: e.why });
    else result.kept.push(kept(e, "changed", "it changed between the listing and the removal (re-taken, or given a TTL)"));
  }
  return result;
}

function kept(e: LockEntry, reason: KeepReason, why: string): LockCleanup["kept"][number] {
  const k: LockCleanup["kept"][number] = { key: e.key, ttlMs: e.ttlMs, reason, why };
  if (e.owner !== undefined) k.owner = e.owner;
  return k;
}
