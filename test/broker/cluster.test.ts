// Several brokers sharing one real Redis, each with its own connections, against the simulator over HTTP.
// Counts of upstream calls come from the simulator, never from the broker.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRedis } from "../helpers/redis";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { account, startBroker, type TestBroker } from "../helpers/brokers";
import type { SimAppConfig } from "../../src/simulator/types";
import { LockUnavailableError, RedisRefreshLock } from "../../src/lock/redisLock";
import { createRedisClient } from "../../src/store/redisClient";
import { StoreUnavailableError, UpstreamUnavailableError } from "../../src/broker/errors";
import type { WeChatApi } from "../../src/wechat/types";
import pino from "pino";
import { rogueClassicFetch } from "../helpers/rogue";

let prefixSeq = 0;

const STABLE: SimAppConfig = { appId: "wx_stable", secret: "stable-secret-1" };
const CLASSIC: SimAppConfig = { appId: "wx_classic", secret: "classic-secret-1" };
const accounts = [
  account("gh_stable", "wx_stable", "stable-secret-1", "stable"),
  account("gh_classic", "wx_classic", "classic-secret-1", "classic"),
];

const { redis, sim } = useRedisAndSimulator([STABLE, CLASSIC], { resetEachTest: true });

/** N brokers on a fresh key prefix (a fresh "cluster"), each with its own Redis connections. */
async function cluster(n: number, extra: Partial<Parameters<typeof startBroker>[0]> = {}): Promise<TestBroker[]> {
  const keyPrefix = `c${++prefixSeq}:`;
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      startBroker({ accounts, redisUrl: redis.url, wechatApiBase: sim.url, keyPrefix, replicaId: `r${i}`, ...extra }),
    ),
  );
}
const closeAll = (bs: TestBroker[]) => Promise.all(bs.map((b) => b.close()));
const tokenCalls = (appId: string) => {
  const c = sim.admin.counters(appId).calls;
  return c.stable_token + c.token;
};

describe("a cluster of brokers sharing one Redis", () => {
  test("on a cold start 400 concurrent requests across 4 brokers cause exactly one upstream call and all get the same token", async () => {
    const bs = await cluster(4);
    try {
      const results = await Promise.all(Array.from({ length: 400 }, (_, i) => bs[i % 4]!.service.getToken("gh_stable")));
      assert.equal(tokenCalls("wx_stable"), 1);
      assert.equal(new Set(results.map((r) => r.accessToken)).size, 1);
      assert.equal(sim.admin.checkToken(results[0]!.accessToken).valid, true);
    } finally {
      await closeAll(bs);
    }
  });

  test("200 concurrent reports of a classic token that another system killed, from 4 brokers, cause one probe and exactly one upstream refresh", async () => {
    const bs = await cluster(4);
    try {
      const first = await bs[0]!.service.getToken("gh_classic");
      assert.equal(tokenCalls("wx_classic"), 1);
      await rogueClassicFetch(sim.url, "wx_classic", "classic-secret-1");
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => bs[i % 4]!.service.invalidate("gh_classic", first.accessToken)),
      );
      assert.equal(tokenCalls("wx_classic"), 1 + 2 + 1, "the broker's first fetch, the rogue's two, one refresh for the whole storm");
      assert.equal(sim.admin.counters("wx_classic").calls.probe, 1);
      const tokens = new Set(results.map((r) => r.token.accessToken));
      assert.equal(tokens.size, 1);
      assert.notEqual([...tokens][0], first.accessToken);
      assert.equal(sim.admin.checkToken([...tokens][0]!).valid, true);
      assert.ok(results.some((r) => r.refreshed && r.reason === "refreshed"));
      assert.ok(results.every((r) => r.reason === "refreshed" || r.reason === "already_replaced"));

      // A late report of the token already replaced causes no upstream call.
      const again = await bs[2]!.service.invalidate("gh_classic", first.accessToken);
      assert.equal(again.token.accessToken, [...tokens][0]);
      assert.deepEqual([again.refreshed, again.reason], [false, "already_replaced"]);
      assert.equal(tokenCalls("wx_classic"), 4);
    } finally {
      await closeAll(bs);
    }
  });

  test("a report that a working stable token is dead spends no force refresh", async () => {
    const bs = await cluster(2);
    try {
      const t = await bs[0]!.service.getToken("gh_stable");
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => bs[i % 2]!.service.invalidate("gh_stable", t.accessToken)));
      assert.ok(results.every((r) => r.token.accessToken === t.accessToken && !r.refreshed));
      assert.ok(results.some((r) => r.reason === "still_valid"));
      assert.equal(sim.admin.counters("wx_stable").forceRefreshes, 0);
      assert.equal(sim.admin.counters("wx_stable").calls.stable_token, 1, "the first fetch only: the probe answered the report");
      assert.equal(sim.admin.counters("wx_stable").calls.probe, 1, "one probe decided it still works");
    } finally {
      await closeAll(bs);
    }
  });

  test("a stable token that WeChat really killed is force-refreshed once for a storm of reports", async () => {
    sim.admin.patchApp("wx_stable", { forceMinIntervalSec: 0 });
    const bs = await cluster(4);
    try {
      const t = await bs[0]!.service.getToken("gh_stable");
      // Someone else force-refreshes twice: the broker's token is dead at once.
      for (let i = 0; i < 2; i++) {
        await fetch(`${sim.url}/cgi-bin/stable_token`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ grant_type: "client_credential", appid: "wx_stable", secret: "stable-secret-1", force_refresh: true }),
        });
      }
      assert.equal(sim.admin.checkToken(t.accessToken).valid, false);
      const forcedBefore = sim.admin.counters("wx_stable").forceRefreshes;
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => bs[i % 4]!.service.invalidate("gh_stable", t.accessToken)));
      const tokens = new Set(results.map((r) => r.token.accessToken));
      assert.equal(tokens.size, 1);
      const fresh = [...tokens][0]!;
      assert.notEqual(fresh, t.accessToken);
      assert.equal(sim.admin.checkToken(fresh).valid, true);
      // The normal fetch already returned the new current token (the external force rotated it), so no force.
      assert.equal(sim.admin.counters("wx_stable").forceRefreshes, forcedBefore);
    } finally {
      await closeAll(bs);
    }
  });

  test("a writer whose lock expired mid-fetch cannot overwrite the newer token: it is fenced out in Redis", async () => {
    const keyPrefix = `c${++prefixSeq}:`;
    let pauseFirst = true;
    // Broker A's process "pauses" for 1.5 s after WeChat answered, longer than its 800 ms lock.
    const pausing = (real: WeChatApi): WeChatApi => ({
      probe: (a, t) => real.probe(a, t),
      fetchToken: async (a, o) => {
        const r = await real.fetchToken(a, o);
        if (pauseFirst) {
          pauseFirst = false;
          await new Promise((res) => setTimeout(res, 1500));
        }
        return r;
      },
    });
    const opts = { lockTtlMs: 800, upstreamTimeoutMs: 300, waitForRefreshMs: 5000 };
    const a = await startBroker({
      accounts,
      redisUrl: redis.url,
      wechatApiBase: sim.url,
      keyPrefix,
      replicaId: "A",
      wrapWeChat: pausing,
      options: opts,
      upstreamTimeoutMs: 300,
    });
    const b = await startBroker({
      accounts,
      redisUrl: redis.url,
      wechatApiBase: sim.url,
      keyPrefix,
      replicaId: "B",
      options: opts,
      upstreamTimeoutMs: 300,
    });
    try {
      const pa = a.service.getToken("gh_classic");
      await new Promise((res) => setTimeout(res, 1000)); // A's lock has expired; A is still "paused"
      const tb = await b.service.getToken("gh_classic");
      const ta = await pa;
      assert.equal(a.events.get("fenced"), 1, "A's write was refused");
      const key = `${keyPrefix}{acct:gh_classic}:token`;
      assert.equal(redis.cli("HGET", key, "accessToken"), tb.accessToken, "Redis holds B's token");
      assert.equal(
        redis.cli("HGET", key, "gen"),
        redis.cli("GET", `${keyPrefix}{acct:gh_classic}:fence`),
        "Redis holds B's generation, the newest issued",
      );
      assert.equal(ta.accessToken, tb.accessToken, "A serves the newer token too");
      assert.equal(tokenCalls("wx_classic"), 2);
    } finally {
      await closeAll([a, b]);
    }
  });

  test("when a lock command fails (a timeout under load), the callers joined to that refresh look again instead of failing", async () => {
    const [a, b] = await cluster(2);
    try {
      // a's first lock attempt fails as a timed-out command does; the lock adapter is the real one otherwise.
      const real = a!.lock.tryAcquire.bind(a!.lock);
      let failures = 0;
      a!.lock.tryAcquire = (id, ttlMs) =>
        failures++ === 0
          ? Promise.reject(new LockUnavailableError("refresh lock unavailable (acquire): Command timed out"))
          : real(id, ttlMs);
      const results = await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a! : b!).service.getToken("gh_stable")),
      );
      const failed = results.filter((r) => r.status === "rejected");
      assert.deepEqual(failed, [], "no caller failed");
      const tokens = new Set(results.map((r) => (r as PromiseFulfilledResult<{ accessToken: string }>).value.accessToken));
      assert.equal(tokens.size, 1);
      assert.equal(sim.admin.checkToken([...tokens][0]!).valid, true);
      assert.equal(tokenCalls("wx_stable"), 1);
      assert.equal(a!.events.get("lock:error"), 1, "the failure happened");
    } finally {
      await closeAll([a!, b!]);
    }
  });

  test("when a broker dies holding the lock, another takes over after the lock's TTL and no lock is left behind", async () => {
    const [b] = await cluster(1);
    const keyPrefix = `c${prefixSeq}:`;
    const conn = createRedisClient(
      { url: redis.url, commandTimeoutMs: 2000, connectTimeoutMs: 1000, tls: false },
      pino({ level: "silent" }),
    );
    try {
      const dead = new RedisRefreshLock({ redis: conn, replicaId: "dead-broker", keyPrefix, logger: pino({ level: "silent" }) });
      const held = await dead.tryAcquire("gh_stable", 1500); // never released: its owner "died"
      assert.ok(held);
      const started = Date.now();
      const t = await b!.service.getToken("gh_stable");
      const waited = Date.now() - started;
      assert.ok(waited >= 1000, `waited ${waited} ms for the dead holder's lock to expire`);
      assert.equal(sim.admin.checkToken(t.accessToken).valid, true);
      assert.equal(tokenCalls("wx_stable"), 1);
      assert.equal(redis.cli("EXISTS", `${keyPrefix}{acct:gh_stable}:lock`), "0", "no stuck lock");
    } finally {
      conn.disconnect();
      await b!.close();
    }
  });

  test("when every fetch is refused with 40164, the brokers stop calling WeChat and every caller gets the classified error", async () => {
    sim.admin.patchApp("wx_stable", { ipWhitelist: ["10.9.9.9"], callerIp: "1.92.157.200" });
    const bs = await cluster(4);
    try {
      const outcomes: unknown[] = [];
      for (let round = 0; round < 10; round++) {
        const batch = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => bs[i % 4]!.service.getToken("gh_stable")));
        outcomes.push(...batch.map((r) => (r.status === "rejected" ? r.reason : r.value)));
        await new Promise((res) => setTimeout(res, 200));
      }
      assert.equal(outcomes.length, 100);
      for (const o of outcomes) {
        assert.ok(o instanceof UpstreamUnavailableError, "every caller gets the classified error");
        assert.equal(o.errcode, 40164);
        assert.equal(o.ip, "1.92.157.200");
        assert.match(o.hint?.en ?? "", /1\.92\.157\.200/);
        assert.match(o.hint?.zh ?? "", /白名单/);
      }
      assert.ok(tokenCalls("wx_stable") <= 2, `upstream calls: ${tokenCalls("wx_stable")}`);
    } finally {
      await closeAll(bs);
    }
  });

  test("with Redis stopped, callers still get the locally cached token; when Redis is back service resumes without a restart", async () => {
    const own = await startRedis();
    const bs = await Promise.all(
      [0, 1].map((i) =>
        startBroker({ accounts, redisUrl: own.url, wechatApiBase: sim.url, keyPrefix: "x:", replicaId: `r${i}`, commandTimeoutMs: 300 }),
      ),
    );
    try {
      const t = await bs[0]!.service.getToken("gh_stable");
      await bs[1]!.service.getToken("gh_stable");
      await own.stop();
      const during = await Promise.all(bs.map((b) => b.service.getToken("gh_stable")));
      assert.ok(during.every((d) => d.accessToken === t.accessToken));
      await own.start(); // empty: it keeps nothing on disk
      // The store is empty now; wait for the clients to reconnect, then a request refreshes through Redis.
      const deadline = Date.now() + 5000;
      while (!bs.every((b) => b.store.isReady()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(
        bs.every((b) => b.store.isReady()),
        "reconnected by themselves",
      );
      await bs[0]!.service.sync("gh_stable");
      assert.equal(own.cli("HGET", "x:{acct:gh_stable}:token", "accessToken"), t.accessToken, "the stable token is back in Redis");
    } finally {
      await closeAll(bs);
      await own.close();
    }
  });

  test("a copy another replica's refresh superseded is never a hit again, but serves while the store fails, only within WeChat's overlap", async () => {
    const own = await startRedis();
    // A 2 s fallback window (overlap minus the clock-skew margin), so the test can wait it out.
    const options = { overlapMs: 7000, stableRefreshAheadMs: 1000, clockSkewMs: 5000 };
    const bs = await Promise.all(
      [0, 1].map((i) =>
        startBroker({
          accounts,
          redisUrl: own.url,
          wechatApiBase: sim.url,
          keyPrefix: "s:",
          replicaId: `r${i}`,
          commandTimeoutMs: 300,
          options,
        }),
      ),
    );
    try {
      const old = await bs[1]!.service.getToken("gh_classic");
      // Another replica replaces the token; WeChat keeps the old one working for its overlap.
      const { token: replaced } = await bs[0]!.service.sync("gh_classic", { force: true });
      assert.notEqual(replaced.accessToken, old.accessToken);
      await new Promise((r) => setTimeout(r, 300)); // the refresh notice reaches replica 1
      await own.stop();
      const during = await bs[1]!.service.getToken("gh_classic");
      assert.equal(during.accessToken, old.accessToken, "the superseded copy is served while the store fails");
      assert.equal(sim.admin.checkToken(during.accessToken).valid, true, "and WeChat still accepts it");
      await new Promise((r) => setTimeout(r, 2200));
      await assert.rejects(bs[1]!.service.getToken("gh_classic"), StoreUnavailableError, "past the window it is not served");
    } finally {
      await closeAll(bs);
      await own.close();
    }
  });
});
