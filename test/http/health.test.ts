// Health probes and /metrics. Readiness follows the store, but a replica that still holds tokens when its
// redis-server stops stays ready (serving_cached) while one that holds none goes not-ready; both are ready again when
// Redis returns, and liveness stays 200 throughout (a restart would not fix Redis).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import { account } from "../helpers/brokers";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { startRedis, type TestRedis } from "../helpers/redis";
import { assertError, documented, httpBroker, type HttpBroker } from "./support";
import { waitUntil } from "../helpers/wait";

const accounts = [account("gh_health", "wx_health", "health-secret-31"), account("gh_cold", "wx_cold", "cold-secret-32")];

const { sim } = useRedisAndSimulator(
  [
    { appId: "wx_health", secret: "health-secret-31" },
    { appId: "wx_cold", secret: "cold-secret-32" },
  ],
  { redis: false },
);

void describe("with the embedded store", () => {
  let hb: HttpBroker;
  before(async () => {
    hb = await httpBroker({ accounts, wechatApiBase: sim.url });
  });
  after(() => hb.close());

  void test("liveness is 200 {status: ok} with Cache-Control: no-store", async () => {
    const res = documented(await request(hb.app).get("/api/health/live"));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: "ok" });
    assert.equal(res.headers["cache-control"], "no-store");
  });

  void test("readiness and the summary are 200 and name the embedded store", async () => {
    const ready = documented(await request(hb.app).get("/api/health/ready"));
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: "ready", store: { mode: "embedded", ok: true } });
    const health = documented(await request(hb.app).get("/api/health"));
    assert.equal(health.status, 200);
    assert.equal(health.body.status, "ok");
    assert.equal(health.body.accounts, 2);
    assert.equal(health.body.version, "0.0.0-test");
  });

  void test("a HEAD of a probe is answered like its GET, without a body", async () => {
    const res = documented(await request(hb.app).head("/api/health/live"));
    assert.equal(res.status, 200);
    assert.equal(res.text ?? "", "");
  });

  // The token counters themselves are fed by the broker's events: server.test.ts checks them with the real wiring.
  void test("/metrics is Prometheus text with wtb_token_requests_total, and counts HTTP requests by route template", async () => {
    const first = documented(await request(hb.app).get("/metrics"));
    assert.equal(first.status, 200);
    assert.match(first.headers["content-type"] ?? "", /^text\/plain; version=0\.0\.4/);
    assert.match(first.text, /^# TYPE wtb_token_requests_total counter$/m);
    assert.match(first.text, /^wtb_token_requests_total\{result="(hit|miss|stale|error)"\} \d+$/m);

    assert.equal(documented(await request(hb.app).get("/api/accounts/gh_health/token")).status, 200);
    const text = documented(await request(hb.app).get("/metrics")).text;
    assert.match(text, /wtb_http_requests_total\{method="GET",route="\/api\/accounts\/:accountId\/token",status_code="200"\} 1/);
    assert.doesNotMatch(text, /route="\/api\/accounts\/gh_health/, "never a raw path as a label");
    // Every line is a comment, blank, or `name{labels} value`.
    for (const line of text.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? ([-+0-9.eE]+|NaN|[+-]Inf)$/, line);
    }
  });
});

void describe("with its own redis-server", () => {
  let redis: TestRedis;
  let hb: HttpBroker;
  // A second replica on the same Redis that is never asked for a token: it holds nothing to serve from memory.
  let empty: HttpBroker;
  before(async () => {
    redis = await startRedis();
    hb = await httpBroker({ accounts, wechatApiBase: sim.url, redisUrl: redis.url });
    empty = await httpBroker({ accounts, wechatApiBase: sim.url, redisUrl: redis.url });
  });
  after(async () => {
    await hb.close();
    await empty.close();
    await redis.close();
  });

  void test("readiness is 200 with the Redis round trip while Redis runs", async () => {
    const res = documented(await request(hb.app).get("/api/health/ready"));
    assert.equal(res.status, 200);
    assert.equal(res.body.status, "ready");
    assert.equal(res.body.store.mode, "redis");
    assert.equal(res.body.store.ok, true);
    assert.equal(typeof res.body.store.latencyMs, "number");
    assert.equal(documented(await request(hb.app).get("/api/accounts/gh_health/token")).status, 200);
  });

  void test("when Redis stops: a replica holding a token stays ready as serving_cached and serves it, one holding none is 503 not_ready, the summary is 503, liveness stays 200, and a token nobody cached is a 503 store_unavailable", async () => {
    await redis.stop();
    try {
      await waitUntil("the store is reported down", async () => (await request(hb.app).get("/api/health/ready")).body.status !== "ready");
      const ready = documented(await request(hb.app).get("/api/health/ready"));
      assert.equal(ready.status, 200);
      assert.equal(ready.body.status, "serving_cached");
      assert.equal(ready.body.store.mode, "redis");
      assert.equal(ready.body.store.ok, false);
      assert.equal(typeof ready.body.store.error, "string");
      assert.deepEqual(ready.body.cached, { accounts: 1, of: 2 });
      assert.doesNotMatch(ready.text, /redis:\/\//, "no connection URL in the answer");
      const served = documented(await request(hb.app).get("/api/accounts/gh_health/token"));
      assert.equal(served.status, 200, "what readiness promises is served");

      await waitUntil("the empty replica reports 503", async () => (await request(empty.app).get("/api/health/ready")).status === 503);
      const notReady = documented(await request(empty.app).get("/api/health/ready"));
      assert.equal(notReady.body.status, "not_ready");
      assert.equal(notReady.body.store.ok, false);
      assert.deepEqual(notReady.body.cached, { accounts: 0, of: 2 });

      const health = documented(await request(hb.app).get("/api/health"));
      assert.equal(health.status, 503);
      assert.equal(health.body.status, "degraded");

      const live = documented(await request(hb.app).get("/api/health/live"));
      assert.equal(live.status, 200);

      const token = await request(hb.app).get("/api/accounts/gh_cold/token");
      assertError(token, 503, "store_unavailable");
      assert.equal(token.headers["retry-after"], "1");
      assert.equal(typeof token.body.error.hintZh, "string");
    } finally {
      await redis.start();
    }
    for (const b of [hb, empty]) {
      await waitUntil("readiness recovers", async () => (await request(b.app).get("/api/health/ready")).body.status === "ready");
      const res = documented(await request(b.app).get("/api/health/ready"));
      assert.equal(res.status, 200);
      assert.equal(res.body.cached, undefined, "nothing to say of the cache while the store answers");
    }
  });
});
