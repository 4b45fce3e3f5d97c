// The TokenStore conformance suite: the same behaviour is required of the Redis store and the memory store.
// Each test uses its own account id, so one backend serves the whole suite.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { AccountStatus, StoredToken, TokenStore } from "../../src/store/types";
import { quotaDayEnd } from "../../src/clock";

export interface StoreBackend {
  /**
   * A store over the shared data. For Redis every call opens new connections (another replica); the memory
   * store is one replica, so it returns the same instance. Stores are closed by close().
   */
  open(): Promise<TokenStore>;
  close(): Promise<void>;
}

let seq = 0;
export function freshAccount(tag = "acct"): string {
  seq++;
  return `${tag}_${seq}_${randomBytes(3).toString("hex")}`;
}

export function token(gen: number, overrides: Partial<StoredToken> = {}): StoredToken {
  const now = Date.now();
  return {
    accessToken: `TOKEN_gen${gen}_${randomBytes(6).toString("hex")}`,
    expiresAt: now + 7200_000,
    fetchedAt: now,
    api: "stable",
    gen,
    checkedAt: now,
    notBefore: 0,
    ...overrides,
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves when `n` notices have arrived, or rejects after `ms`. */
function collect(
  store: TokenStore,
  n: number,
  ms: number,
): { done: Promise<Array<[string, number]>>; seen: Array<[string, number]>; stop: () => void } {
  const seen: Array<[string, number]> = [];
  let stop = () => {};
  const done = new Promise<Array<[string, number]>>((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`expected ${n} notices within ${ms} ms, got ${JSON.stringify(seen)}`));
    }, ms);
    const unsubscribe = store.onRefreshed((accountId, gen) => {
      seen.push([accountId, gen]);
      if (seen.length >= n) {
        clearTimeout(timer);
        resolve(seen);
      }
    });
    stop = () => {
      clearTimeout(timer);
      unsubscribe();
    };
  });
  return { done, seen, stop };
}

export function describeTokenStoreContract(name: string, makeBackend: () => Promise<StoreBackend>): void {
  void describe(`${name}: the TokenStore contract`, () => {
    let backend: StoreBackend;
    let store: TokenStore;

    before(async () => {
      backend = await makeBackend();
      store = await backend.open();
    });
    after(async () => {
      await backend.close();
    });

    void describe("compare-and-set writes", () => {
      void it("returns null for an account that has no token", async () => {
        assert.equal(await store.get(freshAccount()), null);
      });

      void it("writes a first token and reads back exactly what was written", async () => {
        const a = freshAccount();
        const t = token(1, { api: "classic", expiresAt: 1_900_000_000_123, fetchedAt: 1_899_999_000_456 });
        assert.equal(await store.write(a, t), "written");
        assert.deepEqual(await store.get(a), t);
      });

      void it("fences out a writer with an older or equal generation and keeps the newer token", async () => {
        const a = freshAccount();
        const newer = token(5);
        assert.equal(await store.write(a, newer), "written");
        assert.equal(await store.write(a, token(3)), "fenced");
        assert.equal(await store.write(a, token(5)), "fenced", "an equal generation is refused too");
        assert.deepEqual(await store.get(a), newer);
        const newest = token(6);
        assert.equal(await store.write(a, newest), "written");
        assert.deepEqual(await store.get(a), newest);
      });

      void it("lets the highest generation win among 50 concurrent writers on separate connections", async () => {
        const a = freshAccount();
        const stores = await Promise.all(Array.from({ length: 5 }, () => backend.open()));
        const gens = new Set<number>();
        while (gens.size < 50) gens.add(1 + Math.floor(Math.random() * 1_000_000));
        const tokens = [...gens].map((g) => token(g));
        const results = await Promise.all(tokens.map((t, i) => (stores[i % stores.length] as TokenStore).write(a, t)));
        const max = Math.max(...gens);
        const stored = await store.get(a);
        assert.equal(stored?.gen, max);
        assert.equal(stored?.accessToken, tokens.find((t) => t.gen === max)?.accessToken);
        assert.ok(results.includes("written"));
        assert.equal(results[tokens.findIndex((t) => t.gen === max)], "written", "the highest generation is never fenced");
      });

      void it("refuses malformed tokens instead of storing them", async () => {
        const a = freshAccount();
        await assert.rejects(store.write(a, token(0)), TypeError);
        await assert.rejects(store.write(a, token(1, { accessToken: "" })), TypeError);
        await assert.rejects(store.write(a, token(1.5)), TypeError);
        assert.equal(await store.get(a), null);
      });

      void it("refuses account ids that could break the key layout", async () => {
        for (const bad of ["a}b", "a:b", "", "x".repeat(65), "a b", "{acct:x}"]) {
          await assert.rejects(store.get(bad), TypeError, bad);
          await assert.rejects(store.write(bad, token(1)), TypeError, bad);
        }
      });
    });

    void describe("compare-and-delete invalidation", () => {
      void it("removes the token only when the reported token is exactly the stored one", async () => {
        const a = freshAccount();
        const t = token(2);
        await store.write(a, t);
        assert.equal(await store.invalidate(a, "SOME_OTHER_TOKEN"), false);
        assert.equal(await store.invalidate(a, t.accessToken.slice(0, -1)), false);
        assert.equal(await store.invalidate(a, ""), false);
        assert.deepEqual(await store.get(a), t, "a stale report leaves the current token alone");
        assert.equal(await store.invalidate(a, t.accessToken), true);
        assert.equal(await store.get(a), null);
        assert.equal(await store.invalidate(a, t.accessToken), false, "a second report of the same token finds nothing");
      });

      void it("keeps the generation, so a late writer with an older generation is still fenced after invalidation", async () => {
        const a = freshAccount();
        const t = token(7);
        await store.write(a, t);
        assert.equal(await store.invalidate(a, t.accessToken), true);
        assert.equal(await store.write(a, token(6)), "fenced");
        assert.equal(await store.write(a, token(7)), "fenced");
        assert.equal(await store.get(a), null);
        const next = token(8);
        assert.equal(await store.write(a, next), "written");
        assert.deepEqual(await store.get(a), next);
      });

      void it("returns false for an account that never had a token", async () => {
        assert.equal(await store.invalidate(freshAccount(), "ANY"), false);
      });
    });

    void describe("expiry", () => {
      void it("keeps an expired token's record so its generation still fences older writers", async () => {
        const a = freshAccount();
        const t = token(4, { expiresAt: Date.now() + 100 });
        await store.write(a, t);
        await sleep(250);
        assert.deepEqual(await store.get(a), t, "the expired record is still readable (the broker judges validity)");
        assert.equal(await store.write(a, token(3)), "fenced");
        assert.equal(await store.write(a, token(5)), "written");
      });
    });

    void describe("per-day counters", () => {
      void it("counts upstream calls per account and per quota day", async () => {
        const a = freshAccount();
        const b = freshAccount();
        assert.equal(await store.upstreamCalls(a, "2026-11-21"), 0);
        assert.equal(await store.countUpstreamCall(a, "2026-11-21"), 1);
        assert.equal(await store.countUpstreamCall(a, "2026-11-21"), 2);
        assert.equal(await store.countUpstreamCall(a, "2026-11-22"), 1);
        assert.equal(await store.countUpstreamCall(b, "2026-11-21"), 1);
        assert.equal(await store.upstreamCalls(a, "2026-11-21"), 2);
        assert.equal(await store.upstreamCalls(a, "2026-11-22"), 1);
        assert.equal(await store.upstreamCalls(b, "2026-11-21"), 1);
      });

      void it("counts every one of 50 concurrent calls exactly once", async () => {
        const a = freshAccount();
        const stores = await Promise.all(Array.from({ length: 5 }, () => backend.open()));
        const counts = await Promise.all(
          Array.from({ length: 50 }, (_, i) => (stores[i % 5] as TokenStore).countUpstreamCall(a, "2026-11-21")),
        );
        assert.deepEqual(
          [...counts].sort((x, y) => x - y),
          Array.from({ length: 50 }, (_, i) => i + 1),
        );
        assert.equal(await store.upstreamCalls(a, "2026-11-21"), 50);
      });

      void it("refuses a day that is not YYYY-MM-DD", async () => {
        await assert.rejects(store.countUpstreamCall(freshAccount(), "2026-11-21:x"), TypeError);
      });
    });

    void describe("force_refresh budget", () => {
      const limits = { perDay: 20, minIntervalMs: 30_000 };
      const day = "2026-11-21";
      const t0 = Date.parse("2026-11-21T04:00:00Z"); // noon in Beijing, inside quota day 2026-11-21

      void it("lets exactly one of 50 concurrent takers through when 30 s spacing applies", async () => {
        const a = freshAccount();
        const stores = await Promise.all(Array.from({ length: 5 }, () => backend.open()));
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => (stores[i % 5] as TokenStore).takeForceBudget(a, t0, day, limits)),
        );
        const ok = results.filter((r) => r.ok);
        assert.equal(ok.length, 1);
        assert.equal(ok[0]?.usedToday, 1);
        for (const r of results.filter((x) => !x.ok)) {
          assert.equal(r.reason, "too_soon");
          assert.equal(r.retryAt, t0 + 30_000);
          assert.equal(r.usedToday, 1);
        }
        assert.equal(await store.forceBudgetUsed(a, day), 1);
      });

      void it("lets exactly 20 of 50 concurrent takers through a day when there is no spacing", async () => {
        const a = freshAccount();
        const stores = await Promise.all(Array.from({ length: 5 }, () => backend.open()));
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            (stores[i % 5] as TokenStore).takeForceBudget(a, t0 + i, day, { perDay: 20, minIntervalMs: 0 }),
          ),
        );
        assert.equal(results.filter((r) => r.ok).length, 20);
        assert.deepEqual(
          results
            .filter((r) => r.ok)
            .map((r) => r.usedToday)
            .sort((x, y) => x - y),
          Array.from({ length: 20 }, (_, i) => i + 1),
        );
        for (const r of results.filter((x) => !x.ok)) {
          assert.equal(r.reason, "daily_limit");
          assert.equal(r.usedToday, 20);
          assert.equal(r.retryAt, quotaDayEnd(t0));
        }
        assert.equal(await store.forceBudgetUsed(a, day), 20);
      });

      void it("enforces the daily limit of 20 with 30 s spacing over a day, and starts again the next day", async () => {
        const a = freshAccount();
        for (let i = 0; i < 20; i++) {
          const r = await store.takeForceBudget(a, t0 + i * 30_000, day, limits);
          assert.equal(r.ok, true, `take ${i + 1}`);
          assert.equal(r.usedToday, i + 1);
        }
        const refused = await store.takeForceBudget(a, t0 + 20 * 30_000, day, limits);
        assert.deepEqual(refused, { ok: false, usedToday: 20, reason: "daily_limit", retryAt: quotaDayEnd(t0) });
        const nextDay = quotaDayEnd(t0) + 60_000;
        const again = await store.takeForceBudget(a, nextDay, "2026-11-22", limits);
        assert.deepEqual(again, { ok: true, usedToday: 1 });
        assert.equal(await store.forceBudgetUsed(a, day), 20);
        assert.equal(await store.forceBudgetUsed(a, "2026-11-22"), 1);
      });

      void it("refuses a take 29.999 s after the last one and accepts it at 30 s", async () => {
        const a = freshAccount();
        assert.equal((await store.takeForceBudget(a, t0, day, limits)).ok, true);
        assert.deepEqual(await store.takeForceBudget(a, t0 + 29_999, day, limits), {
          ok: false,
          usedToday: 1,
          reason: "too_soon",
          retryAt: t0 + 30_000,
        });
        assert.deepEqual(await store.takeForceBudget(a, t0 + 30_000, day, limits), { ok: true, usedToday: 2 });
      });

      void it("treats a taker whose clock is behind the last take as too soon, and never moves the last take backwards", async () => {
        const a = freshAccount();
        assert.equal((await store.takeForceBudget(a, t0, day, limits)).ok, true);
        assert.deepEqual(await store.takeForceBudget(a, t0 - 5_000, day, limits), {
          ok: false,
          usedToday: 1,
          reason: "too_soon",
          retryAt: t0 + 30_000,
        });
        const b = freshAccount();
        assert.equal((await store.takeForceBudget(b, t0 + 100, day, { perDay: 20, minIntervalMs: 0 })).ok, true);
        assert.equal(
          (await store.takeForceBudget(b, t0, day, { perDay: 20, minIntervalMs: 0 })).ok,
          true,
          "no spacing asked, none applied",
        );
        assert.deepEqual(await store.takeForceBudget(b, t0 + 30_050, day, limits), {
          ok: false,
          usedToday: 2,
          reason: "too_soon",
          retryAt: t0 + 30_100,
        });
      });

      void it("keeps the spacing across midnight even though the daily count starts again", async () => {
        const a = freshAccount();
        const midnight = quotaDayEnd(t0);
        assert.equal((await store.takeForceBudget(a, midnight - 10_000, day, limits)).ok, true);
        const r = await store.takeForceBudget(a, midnight + 5_000, "2026-11-22", limits);
        assert.deepEqual(r, { ok: false, usedToday: 0, reason: "too_soon", retryAt: midnight + 20_000 });
        assert.deepEqual(await store.takeForceBudget(a, midnight + 20_000, "2026-11-22", limits), { ok: true, usedToday: 1 });
      });
    });

    void describe("account status", () => {
      void it("reads a closed status for an account nobody wrote", async () => {
        assert.deepEqual(await store.getStatus(freshAccount()), { openUntil: 0, failures: 0 });
      });

      void it("round-trips a status with its last error, as the other replicas will read it", async () => {
        const a = freshAccount();
        const status: AccountStatus = {
          openUntil: 1_900_000_000_000,
          failures: 3,
          lastSuccessAt: 1_899_000_000_000,
          lastError: {
            message: "WeChat refused: IP 1.92.157.200 is not whitelisted (40164)",
            kind: "errcode",
            endpoint: "stable_token",
            errclass: "config",
            errcode: 40164,
            errmsg: "invalid ip 1.92.157.200 ipv6 ::ffff:1.92.157.200, not in whitelist rid: 6751b3c2-1f0a",
            retryable: false,
            retryAfterMs: 300_000,
            ip: "1.92.157.200",
            rid: "6751b3c2-1f0a",
            hint: { en: "Add 1.92.157.200 to the IP whitelist.", zh: "请将 1.92.157.200 加入 IP 白名单。" },
            at: 1_899_999_999_000,
          },
        };
        await store.setStatus(a, status);
        assert.deepEqual(await store.getStatus(a), status);
        const closed: AccountStatus = { openUntil: 0, failures: 0, lastSuccessAt: 1_900_000_100_000 };
        await store.setStatus(a, closed);
        assert.deepEqual(await store.getStatus(a), closed, "a later write replaces the whole status");
      });

      void it("drops undefined fields the same way in every store", async () => {
        const a = freshAccount();
        await store.setStatus(a, { openUntil: 0, failures: 1, lastSuccessAt: undefined });
        assert.deepEqual(await store.getStatus(a), { openUntil: 0, failures: 1 });
      });
    });

    void describe("refresh notices", () => {
      void it("delivers a notice to listeners of every store instance, the publisher's included, never synchronously", async () => {
        const a = freshAccount();
        const other = await backend.open();
        const mine = collect(store, 1, 3000);
        const theirs = collect(other, 1, 3000);
        const published = store.publishRefreshed(a, 42);
        assert.equal(mine.seen.length, 0, "listeners never run on the publisher's stack");
        await published;
        assert.deepEqual(await mine.done, [[a, 42]]);
        assert.deepEqual(await theirs.done, [[a, 42]]);
        mine.stop();
        theirs.stop();
      });

      void it("refuses to publish a notice with a generation receivers would drop", async () => {
        await assert.rejects(store.publishRefreshed(freshAccount(), 1.5), TypeError);
        await assert.rejects(store.publishRefreshed(freshAccount(), -1), TypeError);
        await assert.rejects(store.publishRefreshed("a}b", 1), TypeError);
      });

      void it("stops delivering to a listener after it unsubscribes, and keeps delivering when another listener throws", async () => {
        const a = freshAccount();
        const got: number[] = [];
        const unsubscribeThrower = store.onRefreshed(() => {
          throw new Error("listener bug");
        });
        const unsubscribe = store.onRefreshed((acc, gen) => {
          if (acc === a) got.push(gen);
        });
        await store.publishRefreshed(a, 1);
        for (let i = 0; i < 100 && got.length < 1; i++) await sleep(20);
        unsubscribe();
        unsubscribeThrower();
        await store.publishRefreshed(a, 2);
        await sleep(200);
        assert.deepEqual(got, [1]);
      });
    });

    void describe("health", () => {
      void it("is ready and answers ping with a round-trip time", async () => {
        assert.equal(store.isReady(), true);
        const rtt = await store.ping();
        assert.equal(typeof rtt, "number");
        assert.ok(rtt >= 0 && Number.isFinite(rtt));
      });
    });
  });
}
