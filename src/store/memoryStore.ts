// The embedded store (no REDIS_URL, one replica). Same semantics as RedisTokenStore, checked by the same
// conformance suite: fenced CAS writes, compare-and-delete keeping gen, atomic force budget, per-day counters,
// status, and notices delivered asynchronously like pub/sub. JavaScript runs each method body up to its first
// await without interleaving, and no method awaits before it has finished its read-modify-write, so each is atomic.
import { performance } from "node:perf_hooks";
import { quotaDayEnd } from "../clock";
import type { AccountStatus, ForceBudgetResult, RateSlot, SlotResult, StoredToken, TokenStore, WriteResult } from "./types";
import { assertAccountId, assertDay } from "./keys";
import { StoreUnavailableError } from "./errors";
import {
  assertForceLimits,
  assertNoticeGen,
  assertNowMs,
  assertSlot,
  assertStatus,
  assertToken,
  defaultStatus,
  parseStatus,
  serializeStatus,
  type RefreshedListener,
} from "./common";

/** Per-day counters kept per account (today, yesterday, one spare): enough for diagnosis, bounded memory. */
const DAYS_KEPT = 3;

interface AccountRecord {
  token: StoredToken | null;
  /** Highest generation written; survives invalidation and expiry so late writers stay fenced. */
  gen: number;
  calls: Map<string, number>;
  force: Map<string, number>;
  lastForceAt?: number;
  status?: string;
}

export class MemoryTokenStore implements TokenStore {
  readonly mode = "memory" as const;
  private readonly accounts = new Map<string, AccountRecord>();
  private readonly listeners = new Set<RefreshedListener>();
  /** Sliding-window entry times per limit (bounded: entries older than the window are dropped on each take). */
  private readonly windows = new Map<string, number[]>();
  private closed = false;

  async get(accountId: string): Promise<StoredToken | null> {
    const rec = this.record("get", accountId);
    return rec.token ? { ...rec.token } : null;
  }

  async write(accountId: string, token: StoredToken): Promise<WriteResult> {
    assertToken(token);
    const rec = this.record("write", accountId);
    if (rec.gen >= token.gen) return "fenced";
    rec.token = {
      accessToken: token.accessToken,
      expiresAt: token.expiresAt,
      fetchedAt: token.fetchedAt,
      api: token.api,
      gen: token.gen,
      checkedAt: token.checkedAt,
      notBefore: token.notBefore,
    };
    rec.gen = token.gen;
    return "written";
  }

  async invalidate(accountId: string, accessToken: string): Promise<boolean> {
    const rec = this.record("invalidate", accountId);
    if (!rec.token || typeof accessToken !== "string" || accessToken.length === 0 || rec.token.accessToken !== accessToken) return false;
    rec.token = null; // rec.gen stays
    return true;
  }

  async publishRefreshed(accountId: string, gen: number): Promise<void> {
    this.record("publishRefreshed", accountId);
    assertNoticeGen(gen);
    const listeners = [...this.listeners];
    // Asynchronous like Redis pub/sub: a publisher never runs listeners on its own stack.
    setImmediate(() => {
      if (this.closed) return;
      for (const l of listeners) {
        if (!this.listeners.has(l)) continue;
        try {
          l(accountId, gen);
        } catch {
          // A throwing listener must not keep the others from hearing about the refresh.
        }
      }
    });
  }

  onRefreshed(listener: RefreshedListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async countUpstreamCall(accountId: string, day: string): Promise<number> {
    assertDay(day);
    const rec = this.record("countUpstreamCall", accountId);
    const n = (rec.calls.get(day) ?? 0) + 1;
    setDayCount(rec.calls, day, n);
    return n;
  }

  async upstreamCalls(accountId: string, day: string): Promise<number> {
    assertDay(day);
    return this.record("upstreamCalls", accountId).calls.get(day) ?? 0;
  }

  async takeForceBudget(
    accountId: string,
    nowMs: number,
    day: string,
    limits: { perDay: number; minIntervalMs: number },
  ): Promise<ForceBudgetResult> {
    assertNowMs(nowMs);
    assertForceLimits(limits);
    assertDay(day);
    const rec = this.record("takeForceBudget", accountId);
    const used = rec.force.get(day) ?? 0;
    if (used >= limits.perDay) return { ok: false, usedToday: used, reason: "daily_limit", retryAt: quotaDayEnd(nowMs) };
    if (rec.lastForceAt !== undefined && limits.minIntervalMs > 0 && nowMs - rec.lastForceAt < limits.minIntervalMs) {
      return { ok: false, usedToday: used, reason: "too_soon", retryAt: rec.lastForceAt + limits.minIntervalMs };
    }
    setDayCount(rec.force, day, used + 1);
    // Never backwards, like the Redis script (callers' clocks may disagree).
    rec.lastForceAt = Math.max(rec.lastForceAt ?? 0, nowMs);
    return { ok: true, usedToday: used + 1 };
  }

  async forceBudgetUsed(accountId: string, day: string): Promise<number> {
    assertDay(day);
    return this.record("forceBudgetUsed", accountId).force.get(day) ?? 0;
  }

  async closeForceBudget(accountId: string, day: string, perDay: number): Promise<void> {
    assertDay(day);
    const rec = this.record("closeForceBudget", accountId);
    setDayCount(rec.force, day, Math.max(rec.force.get(day) ?? 0, perDay));
  }

  async takeSlot(slot: RateSlot, limit: number, windowMs: number, nowMs: number): Promise<SlotResult> {
    assertSlot(limit, windowMs);
    assertNowMs(nowMs);
    this.assertOpen("takeSlot");
    const key = "accountId" in slot ? (assertAccountId(slot.accountId), `${slot.kind}:${slot.accountId}`) : `caller:${slot.caller}`;
    const times = (this.windows.get(key) ?? []).filter((t) => t > nowMs - windowMs);
    if (times.length >= limit) {
      this.windows.set(key, times);
      return { ok: false, retryInMs: Math.max(0, times[0]! + windowMs - nowMs) };
    }
    times.push(nowMs);
    this.windows.set(key, times);
    return { ok: true, retryInMs: 0 };
  }

  async getStatus(accountId: string): Promise<AccountStatus> {
    const raw = this.record("getStatus", accountId).status;
    return (raw !== undefined ? parseStatus(raw) : null) ?? defaultStatus();
  }

  async setStatus(accountId: string, status: AccountStatus): Promise<void> {
    assertStatus(status);
    // Stored as the same JSON text as in Redis, so a round trip gives the same object in both stores.
    this.record("setStatus", accountId).status = serializeStatus(status);
  }

  async ping(): Promise<number> {
    const started = performance.now();
    this.assertOpen("ping");
    return performance.now() - started;
  }

  isReady(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }

  private assertOpen(op: string): void {
    if (this.closed) throw new StoreUnavailableError(op, `token store unavailable (${op}): store is closed`);
  }

  private record(op: string, accountId: string): AccountRecord {
    this.assertOpen(op);
    assertAccountId(accountId);
    let rec = this.accounts.get(accountId);
    if (!rec) {
      rec = { token: null, gen: 0, calls: new Map(), force: new Map() };
      this.accounts.set(accountId, rec);
    }
    return rec;
  }
}

function setDayCount(m: Map<string, number>, day: string, n: number): void {
  m.set(day, n);
  if (m.size > DAYS_KEPT) {
    // YYYY-MM-DD sorts chronologically as text.
    const oldest = [...m.keys()].sort().slice(0, m.size - DAYS_KEPT);
    for (const d of oldest) m.delete(d);
  }
}
