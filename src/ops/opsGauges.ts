// Point-in-time gauges for the alert rules (ops/prometheus/alerts.yml), computed on scrape through prom-client
// `collect()` callbacks instead of timers:
//
//   wtb_store_up                                 1 when the token store answers PING (embedded: always 1)
//   wtb_stuck_locks                              lock keys cleanup would remove (ops/locks.ts: no live holder possible)
//   wtb_upstream_token_calls_today{account}      upstream token calls on WeChat's quota day (all replicas)
//   wtb_upstream_token_daily_limit{account}      WeChat's daily limit of that account's token endpoint
//   wtb_force_refresh_budget_left{account}       force_refresh calls left today (stable accounts, all replicas)
//   wtb_account_upstream_failing{account,errclass,errcode}
//                                                1 while the account's last WeChat refusal is unresolved (shared
//                                                state in the store, so every replica reports the same; unlike the
//                                                per-replica wtb_breaker_open it clears as soon as any replica succeeds)
//
// One snapshot serves every gauge of a scrape. The lock count comes from the lock census (ops/locks.ts `census`,
// shared with the diagnosis: a bounded walk of the keyspace per refresh), read at most once a minute. A failing read never fails the scrape: the store
// is reported down and the other values keep their last reading.
import { Gauge, type Registry } from "prom-client";
import type { Account } from "../accounts";
import { tokenSourceOf } from "../accounts";
import { quotaDay, systemClock, type Clock } from "../clock";
import type { TokenStore } from "../store/types";
import { DAILY_TOKEN_QUOTA } from "../wechat/quota";
import type { LockInspector } from "./locks";

export interface OpsGaugeSources {
  store: TokenStore;
  locks: LockInspector;
  accounts: readonly Account[];
  clock?: Clock;
  /** FORCE_REFRESH_PER_DAY: the budget wtb_force_refresh_budget_left counts down from (default 20). */
  forcePerDay?: number;
  /** Minimum time between two lock scans (default 60 s). */
  lockScanIntervalMs?: number;
  /** How long one snapshot serves the gauges of a scrape (default 2 s). */
  snapshotTtlMs?: number;
}

interface Failing {
  account: string;
  errclass: string;
  errcode: string;
}

interface Snapshot {
  storeUp: boolean;
  stuckLocks?: number;
  calls: Map<string, number>;
  /** force_refresh calls used today, stable accounts. */
  forceUsed: Map<string, number>;
  /** Undefined when the statuses could not be read (the gauge then keeps its last series). */
  failing?: Failing[];
}

export function registerOpsGauges(registry: Registry, src: OpsGaugeSources): void {
  const clock = src.clock ?? systemClock;
  const lockEvery = src.lockScanIntervalMs ?? 60_000;
  const ttl = src.snapshotTtlMs ?? 2_000;
  let cached: { at: number; value: Promise<Snapshot> } | null = null;
  let locksAt = -Infinity;
  let lastStuck: number | undefined;

  async function take(): Promise<Snapshot> {
    const snap: Snapshot = { storeUp: false, calls: new Map(), forceUsed: new Map() };
    try {
      await src.store.ping();
      snap.storeUp = true;
    } catch {
      return snap;
    }
    const now = clock.now();
    const day = quotaDay(now);
    const failing: Failing[] = [];
    let statusesRead = true;
    await Promise.all(
      src.accounts.map(async (a) => {
        try {
          snap.calls.set(a.id, await src.store.upstreamCalls(a.id, day));
        } catch {
          // Keep the previous reading of this account.
        }
        if (tokenSourceOf(a) === "stable") {
          try {
            snap.forceUsed.set(a.id, await src.store.forceBudgetUsed(a.id, day));
          } catch {
            // Keep the previous reading of this account.
          }
        }
        try {
          const st = await src.store.getStatus(a.id);
          const e = st.lastError;
          if (e && (st.lastSuccessAt === undefined || e.at > st.lastSuccessAt)) {
            failing.push({ account: a.id, errclass: e.errclass, errcode: e.errcode !== undefined ? String(e.errcode) : "none" });
          }
        } catch {
          statusesRead = false;
        }
      }),
    );
    if (statusesRead) snap.failing = failing;
    if (now - locksAt >= lockEvery) {
      try {
        // The census the diagnosis reads: /metrics needs no key either, so its Redis cost must be bounded too.
        lastStuck = (await src.locks.census()).locks.filter((l) => l.stuck).length;
        locksAt = now;
      } catch {
        // Try again on the next scrape.
      }
    }
    snap.stuckLocks = lastStuck;
    return snap;
  }

  function snapshot(): Promise<Snapshot> {
    const now = clock.now();
    if (!cached || now - cached.at >= ttl) cached = { at: now, value: take() };
    return cached.value;
  }

  new Gauge({
    name: "wtb_store_up",
    help: "1 when the token store (Redis) answers PING from this replica, 0 when it does not; always 1 in embedded mode.",
    registers: [registry],
    async collect() {
      this.set((await snapshot()).storeUp ? 1 : 0);
    },
  });

  new Gauge({
    name: "wtb_stuck_locks",
    help: "Lock keys that are stuck: no TTL, or a legacy value whose embedded expiry has passed (refreshed at most once a minute).",
    registers: [registry],
    async collect() {
      const s = await snapshot();
      if (s.stuckLocks !== undefined) this.set(s.stuckLocks);
    },
  });

  const calls = new Gauge({
    name: "wtb_upstream_token_calls_today",
    help: "Upstream token calls made by the broker (all replicas) on WeChat's current quota day (Beijing time), failed ones included.",
    labelNames: ["account"],
    registers: [registry],
    async collect() {
      const s = await snapshot();
      for (const [account, n] of s.calls) this.set({ account }, n);
    },
  });

  new Gauge({
    name: "wtb_account_upstream_failing",
    help: "1 while the account's last WeChat refusal (errclass, errcode; errcode none = no errcode) has not been followed by a success.",
    labelNames: ["account", "errclass", "errcode"],
    registers: [registry],
    async collect() {
      const s = await snapshot();
      if (!s.failing) return;
      // Only the current refusal of each account: a resolved or replaced one must disappear, not stay at 1.
      this.reset();
      for (const f of s.failing) this.set({ account: f.account, errclass: f.errclass, errcode: f.errcode }, 1);
    },
  });

  const limit = new Gauge({
    name: "wtb_upstream_token_daily_limit",
    help: "WeChat's daily limit of the account's token endpoint: 2000 for cgi-bin/token, 500000 for stable_token; absent for WeCom.",
    labelNames: ["account"],
    registers: [registry],
  });
  const perDay = src.forcePerDay ?? 20;
  const forceLeft = new Gauge({
    name: "wtb_force_refresh_budget_left",
    help: "force_refresh calls the stable-token account has left on WeChat's current quota day (FORCE_REFRESH_PER_DAY minus those used by all replicas).",
    labelNames: ["account"],
    registers: [registry],
    async collect() {
      const s = await snapshot();
      for (const [account, used] of s.forceUsed) this.set({ account }, Math.max(0, perDay - used));
    },
  });
  for (const a of src.accounts) {
    if (tokenSourceOf(a) === "stable") forceLeft.set({ account: a.id }, perDay);
    const l = DAILY_TOKEN_QUOTA[tokenSourceOf(a)];
    if (l !== null) limit.set({ account: a.id }, l);
    calls.set({ account: a.id }, 0);
  }
}
