// Health probes and /metrics. Readiness follows the store: a broker on its own redis-server goes not-ready when
// that server stops and ready again when it returns, while liveness stays 200 (a restart would not fix Redis).
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
  before(async () => {
    redis = await startRedis();
    hb = await httpBroker({ accounts, wechatApiBase: sim.url, redisUrl: redis.url });
  });
  after(async () => {
    await hb.close();
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

  void test("when Redis stops: readiness and the summary are 503, liveness stays 200, and a token nobody cached is a 503 store_unavailable", async () => {
    await redis.stop();
    try {
      await waitUntil("readiness reports 503", async () => (await request(hb.app).get("/api/health/ready")).status === 503);
      const ready = documented(await request(hb.app).get("/api/health/ready"));
      assert.equal(ready.body.status, "not_ready");
      assert.equal(ready.body.store.mode, "redis");
      assert.equal(ready.body.store.ok, false);
      assert.equal(typeof ready.body.store.error, "string");
      assert.doesNotMatch(ready.text, /redis:\/\//, "no connection URL in the answer");

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
    await waitUntil("readiness recovers", async () => (await request(hb.app).get("/api/health/ready")).status === 200);
    assert.equal(documented(await request(hb.app).get("/api/health/ready")).body.status, "ready");
  });
});
