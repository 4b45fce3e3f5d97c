// The unauthenticated diagnosis must cost Redis a bounded amount whatever the keyspace and the request rate: a
// private redis-server is filled with 300,000 keys and Redis's own INFO commandstats count the SCAN calls.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import { startRedis, type TestRedis } from "../helpers/redis";
import { assertDocumented } from "../helpers/openapi";
import { createRedisClient } from "../../src/store/redisClient";
import { silentLogger } from "../../src/logger";
import { RedisRefreshLock } from "../../src/lock/redisLock";
import { CENSUS_DEFAULTS, LockInspector } from "../../src/ops/locks";
import type { DiagnosisReport } from "../../src/ops/diagnosisReport";
import { registerOpsGauges } from "../../src/ops/opsGauges";
import { Registry } from "prom-client";
import { accountsEnv, freshPrefix, opsBroker, SECRETS } from "./helpers";

const KEYS = 300_000;
let redis: TestRedis;
before(async () => {
  redis = await startRedis({ extraArgs: ["--enable-debug-command", "local"] });
  assert.equal(redis.cli("DEBUG", "POPULATE", String(KEYS), "filler"), "OK");
  assert.equal(Number(redis.cli("DBSIZE")), KEYS);
});
after(async () => {
  await redis.close();
});

const ACCOUNTS = accountsEnv([{ id: "gh_a", appId: "wx_a", appSecret: SECRETS.appSecret }]);

/** SCAN calls and the microseconds Redis spent in them since the last CONFIG RESETSTAT. */
function scanCost(): { calls: number; usec: number } {
  const line = redis
    .cli("INFO", "commandstats")
    .split("\n")
    .find((l) => l.startsWith("cmdstat_scan:"));
  if (!line) return { calls: 0, usec: 0 };
  return { calls: Number(/calls=(\d+)/.exec(line)![1]), usec: Number(/usec=(\d+)/.exec(line)![1]) };
}

describe("the cost of the unauthenticated diagnosis on a large keyspace", () => {
  test("many diagnoses in a row cost a bounded number of SCAN calls, and a stuck lock of a configured account is still reported at once", async (t) => {
    const prefix = freshPrefix();
    const b = opsBroker({
      ACCOUNTS,
      REDIS_URL: redis.url,
      WECHAT_API_BASE: "http://127.0.0.1:9",
      KEY_PREFIX: prefix,
      LOCK_CLEANUP_PATTERNS: "php:lock:*",
    });
    try {
      redis.cli("SET", `${prefix}{acct:gh_a}:lock`, "left-by-hand");
      redis.cli("CONFIG", "RESETSTAT");
      const started = Date.now();
      const runs = 60;
      // Two patterns walked (the broker's own lock keys and php:lock:*), each within its budget per census refresh.
      const perRefresh = 2 * Math.ceil(CENSUS_DEFAULTS.visitBudget / CENSUS_DEFAULTS.scanCount);
      let first: DiagnosisReport | undefined;
      for (let i = 0; i < runs; i++) {
        const r = await b.diagnosis.run();
        first ??= r;
        const refreshes = Math.floor((Date.now() - started) / CENSUS_DEFAULTS.refreshMs) + 1;
        const { calls } = scanCost();
        assert.ok(
          calls <= refreshes * perRefresh,
          `after ${i + 1} diagnoses: ${calls} SCAN calls, more than ${refreshes} census refreshes × ${perRefresh}`,
        );
      }
      const cost = scanCost();
      const elapsed = Date.now() - started;
      // Redis's CPU time is printed, not asserted (figures belong to benchmarks); the call count above is the bound.
      t.diagnostic(
        `${runs} diagnoses over ${KEYS} keys in ${elapsed} ms: ${cost.calls} SCAN calls, ${(cost.usec / 1000).toFixed(1)} ms of Redis CPU in SCAN`,
      );
      const locks = first!.checks.find((c) => c.id === "locks")!;
      assert.equal(locks.status, "fail", JSON.stringify(locks));
      assert.match(locks.detail!.en, /\{acct:gh_a\}:lock/);
    } finally {
      await b.close();
    }
  });

  test("the lock census finds a stale legacy lock anywhere in the keyspace by walking it a budget at a time", async () => {
    const client = createRedisClient({ url: redis.url, commandTimeoutMs: 5000, connectTimeoutMs: 1000, tls: false }, silentLogger());
    const key = `census:${freshPrefix()}stale`;
    try {
      redis.cli("SET", key, JSON.stringify({ expires_at: 1_700_000_000 }));
      const inspector = new LockInspector({
        patterns: ["census:*"],
        lock: new RedisRefreshLock({ redis: client, replicaId: "census", keyPrefix: freshPrefix(), logger: silentLogger() }),
        accountIds: () => [],
        census: { refreshMs: 0, visitBudget: 50_000, scanCount: 1000 },
      });
      let found = false;
      let refreshes = 0;
      redis.cli("CONFIG", "RESETSTAT");
      while (!found && refreshes < 40) {
        const listing = await inspector.census();
        refreshes++;
        found = listing.locks.some((l) => l.key === key && l.stuck);
        if (!found) assert.equal(listing.census?.complete, false, "a complete census must have found the key");
      }
      assert.ok(found, `not found after ${refreshes} refreshes`);
      // The whole keyspace was walked about once: 300,000 keys at 50,000 a refresh.
      assert.ok(refreshes <= Math.ceil(KEYS / 50_000) + 2, `${refreshes} refreshes`);
      // Two patterns walked per refresh (the broker's own lock keys and census:*), 50 calls each at most.
      assert.ok(scanCost().calls <= refreshes * 2 * 50, `${scanCost().calls} SCAN calls in ${refreshes} refreshes`);
    } finally {
      redis.cli("DEL", key);
      client.disconnect();
    }
  });

  test("the stuck-lock gauge of /metrics (also keyless) reads the same census, at the same bounded cost", async () => {
    const prefix = freshPrefix();
    const b = opsBroker({
      ACCOUNTS,
      REDIS_URL: redis.url,
      WECHAT_API_BASE: "http://127.0.0.1:9",
      KEY_PREFIX: prefix,
      LOCK_CLEANUP_PATTERNS: "php:lock:*",
    });
    try {
      redis.cli("SET", `${prefix}{acct:gh_a}:lock`, "left-by-hand");
      const registry = new Registry();
      // Every scrape takes a fresh snapshot and may scan: the census alone bounds the cost.
      registerOpsGauges(registry, {
        store: b.core.store,
        locks: b.locks,
        accounts: b.config.accounts,
        snapshotTtlMs: 0,
        lockScanIntervalMs: 0,
      });
      redis.cli("CONFIG", "RESETSTAT");
      const started = Date.now();
      let text = "";
      for (let i = 0; i < 10; i++) text = await registry.metrics();
      const refreshes = Math.floor((Date.now() - started) / CENSUS_DEFAULTS.refreshMs) + 1;
      const perRefresh = 2 * Math.ceil(CENSUS_DEFAULTS.visitBudget / CENSUS_DEFAULTS.scanCount);
      assert.ok(scanCost().calls <= refreshes * perRefresh, `${scanCost().calls} SCAN calls for 10 scrapes`);
      assert.match(text, /^wtb_stuck_locks 1$/m);
    } finally {
      await b.close();
    }
  });

  test("one client asking again and again gets 429 with Retry-After in the documented error shape", async () => {
    const b = opsBroker({ ACCOUNTS, REDIS_URL: redis.url, WECHAT_API_BASE: "http://127.0.0.1:9", KEY_PREFIX: freshPrefix() });
    try {
      const statuses: number[] = [];
      let limited: request.Response | undefined;
      for (let i = 0; i < 40; i++) {
        const res = await request(b.app).get(i % 2 === 0 ? "/quick_diagnosis.php" : "/api/diagnosis");
        statuses.push(res.status);
        if (res.status === 429) limited ??= res;
      }
      assert.ok(limited, `never limited: ${statuses.join(",")}`);
      assert.ok(statuses.filter((s) => s === 429).length >= 10, statuses.join(","));
      assert.equal(limited.body.error.code, "rate_limited");
      assert.match(limited.body.error.hint, /Retry-After/);
      assert.ok(Number(limited.headers["retry-after"]) >= 1);
      assertDocumented(limited);
    } finally {
      await b.close();
    }
  });
});
