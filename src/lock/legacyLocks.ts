// What a legacy lock key says about itself, and the rule that decides whether cleanup may remove it.
//
// The rule (docs/troubleshooting.md, docs/configuration.md LEGACY_LOCK_MAX_HOLD_SEC): a legacy lock is removed only
// when nothing it says can belong to a live holder.
// - It has a TTL: kept (Redis removes it by itself; a live holder set it).
// - Its value names an expiry explicitly (JSON `expires_at`, `expireAt`, `deadline`…): removed once that has passed.
// - Its value is a bare time (`1700000000`): PHP's `SETNX key time()` stores when the lock was taken, the classic
//   `SETNX key now+timeout` recipe stores its expiry. The two cannot be told apart, so the time is read as the
//   latest the lock could have been taken: a time ahead is an expiry (kept until then), a time past is removed only
//   once it is more than LEGACY_LOCK_MAX_HOLD_SEC ago.
// - Its value names when it was taken (JSON `acquired_at`, `locked_at`, `time`…): removed once older than the
//   maximum hold.
// - Anything else (a random token, an owner name, a flag): its age is unknown, so it is kept and the report says
//   how to remove it by hand.
// The value itself is never reported: a random lock token is a capability to release someone's lock.
import type { KeepReason, StuckReason } from "./inventory";

export interface LegacyLockInfo {
  owner?: string;
  /** Epoch ms of the expiry the value names explicitly. */
  expiresAtMs?: number;
  /** Epoch ms of the acquisition the value names explicitly. */
  acquiredAtMs?: number;
  /** A bare number that reads as a time: when the lock was taken, or when it expires (cannot be told apart). */
  bareTimeMs?: number;
}

export type LegacyVerdict = { stuck: true; reason: StuckReason; why: string } | { stuck: false; reason: KeepReason; why: string };

const EXPIRY_FIELDS = [
  "expires_at",
  "expiresAt",
  "expire_at",
  "expireAt",
  "expire",
  "expires",
  "expiry",
  "expired_at",
  "until",
  "deadline",
];
const ACQUIRED_FIELDS = ["acquired_at", "acquiredAt", "created_at", "createdAt", "locked_at", "lockedAt", "time", "timestamp"];
const OWNER_FIELDS = ["owner", "holder", "locked_by", "lockedBy", "hostname", "host", "instance", "worker", "server"];
const NUMBER = /^\d{1,16}(\.\d+)?$/;

/**
 * Reads a legacy lock value: a random token, an owner string, a bare timestamp, or JSON such as
 * `{"expires_at": 1700000000, "owner": "web-1"}`. Anything unrecognised yields nothing.
 */
export function parseLegacyLockValue(value: string): LegacyLockInfo {
  const text = value.trim();
  if (NUMBER.test(text)) {
    const at = toEpochMs(Number(text));
    return at !== undefined ? { bareTimeMs: at } : {};
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
    const clean =
      s === undefined
        ? ""
        : s
            .replace(/[^\x20-\x7e]/g, "")
            .trim()
            .slice(0, 100);
    if (clean !== "") {
      info.owner = clean;
      break;
    }
  }
  return info;
}

/** The cleanup rule above, for one string key. `ttlMs` is PTTL (-1: none). */
export function judgeLegacyLock(ttlMs: number, info: LegacyLockInfo, now: number, maxHoldMs: number): LegacyVerdict {
  const hold = `LEGACY_LOCK_MAX_HOLD_SEC (${Math.round(maxHoldMs / 1000)} s)`;
  if (ttlMs >= 0) return { stuck: false, reason: "has_ttl", why: "it has a TTL: Redis removes it when that runs out" };
  if (info.expiresAtMs !== undefined) {
    return info.expiresAtMs <= now
      ? { stuck: true, reason: "expired_value", why: `no TTL, and the expiry its value names passed ${ago(now - info.expiresAtMs)} ago` }
      : { stuck: false, reason: "expiry_in_future", why: `no TTL, but the expiry its value names is ${ago(info.expiresAtMs - now)} ahead` };
  }
  if (info.bareTimeMs !== undefined) {
    const t = info.bareTimeMs;
    if (t > now)
      return { stuck: false, reason: "expiry_in_future", why: `no TTL; its value is a time ${ago(t - now)} ahead, read as its expiry` };
    return now - t > maxHoldMs
      ? { stuck: true, reason: "older_than_max_hold", why: `no TTL; its value is a time ${ago(now - t)} ago, more than ${hold}` }
      : {
          stuck: false,
          reason: "within_max_hold",
          why: `no TTL; its value is a time ${ago(now - t)} ago, which may be the time it was taken (PHP SETNX key time()): kept until it is older than ${hold}`,
        };
  }
  if (info.acquiredAtMs !== undefined) {
    const age = now - info.acquiredAtMs;
    return age > maxHoldMs
      ? { stuck: true, reason: "older_than_max_hold", why: `no TTL; taken ${ago(age)} ago, more than ${hold}` }
      : { stuck: false, reason: "within_max_hold", why: `no TTL; taken ${ago(Math.max(0, age))} ago: kept until it is older than ${hold}` };
  }
  return {
    stuck: false,
    reason: "age_unknown",
    why: "no TTL, and its value says neither when it was taken nor when it expires: if its holder is gone, remove it by hand (redis-cli DEL <key>)",
  };
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

function firstTime(rec: Record<string, unknown>, fields: readonly string[]): number | undefined {
  for (const f of fields) {
    const v = rec[f];
    let at: number | undefined;
    if (typeof v === "number") at = toEpochMs(v);
    else if (typeof v === "string" && NUMBER.test(v.trim())) at = toEpochMs(Number(v.trim()));
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
