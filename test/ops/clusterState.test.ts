// What readiness and the diagnosis make of a Redis Cluster's state. The store here is a stand-in whose only job is
// to report a state (the real readings on a real cluster are in test/store/redisCluster.test.ts and
// test/broker/redisCluster.test.ts, including a killed master).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import pino from "pino";
import { expressFromRoutes } from "../../src/http/app";
import { Authenticator } from "../../src/http/auth";
import { healthRoutes } from "../../src/http/routes/health";
import { Metrics } from "../../src/ops/metrics";
import { clusterCheck } from "../../src/ops/clusterCheck";
import type { ClusterState } from "../../src/store/clusterState";
import type { TokenStore } from "../../src/store/types";
import { assertSchema } from "../helpers/openapi";

function storeReporting(state: ClusterState | null | Error): TokenStore {
  return {
    mode: "redis",
    isReady: () => true,
    ping: async () => 0.4,
    clusterState: async () => {
      if (state instanceof Error) throw state;
      return state;
    },
  } as unknown as TokenStore;
}

/** The answer's body as openapi.yaml's Readiness schema allows (headers such as X-Request-Id come from createApp). */
function documented<T extends { body: unknown }>(res: T): T {
  assertSchema("Readiness", res.body);
  return res;
}

function app(store: TokenStore) {
  const routes = healthRoutes({ store, version: "0.0.0-test", startedAt: Date.now(), accounts: 1 });
  return expressFromRoutes(routes, {
    auth: new Authenticator([], false),
    logger: pino({ level: "silent" }),
    metrics: new Metrics({ accounts: [], defaultMetrics: false }),
  });
}

const TITLE = { en: "Token store", zh: "令牌存储" };

describe("readiness on Redis Cluster", () => {
  test("is ready while cluster_state is ok, reporting the masters that answer", async () => {
    const res = documented(await request(app(storeReporting({ state: "ok", masters: 3, mastersReachable: 2 }))).get("/api/health/ready"));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.store, {
      mode: "redis",
      ok: true,
      latencyMs: 0.4,
      cluster: { state: "ok", masters: 3, mastersReachable: 2 },
    });
  });

  test("is not ready while the cluster reports fail: it refuses commands", async () => {
    const res = documented(await request(app(storeReporting({ state: "fail", masters: 3, mastersReachable: 2 }))).get("/api/health/ready"));
    assert.equal(res.status, 503);
    assert.equal(res.body.store.error, "cluster_state is fail");
  });

  test("is not ready when the cluster state cannot be read, and unchanged on a single Redis", async () => {
    const unread = documented(await request(app(storeReporting(new Error("CLUSTERDOWN")))).get("/api/health/ready"));
    assert.equal(unread.status, 503);
    assert.equal(unread.body.store.error, "cluster state unreadable");
    const single = documented(await request(app(storeReporting(null))).get("/api/health/ready"));
    assert.equal(single.status, 200);
    assert.deepEqual(single.body.store, { mode: "redis", ok: true, latencyMs: 0.4 });
  });
});

describe("the diagnosis' store check on Redis Cluster", () => {
  test("is ok with every master answering, warn when one does not, fail when the cluster is not ok, each in both languages", async () => {
    const ok = await clusterCheck(storeReporting({ state: "ok", masters: 3, mastersReachable: 3 }), "redis-cluster://a:1", 0.4, TITLE);
    assert.equal(ok?.status, "ok");
    assert.match(ok?.detail?.en ?? "", /cluster_state ok, 3\/3 masters answer/);
    const warn = await clusterCheck(storeReporting({ state: "ok", masters: 3, mastersReachable: 2 }), "redis-cluster://a:1", 0.4, TITLE);
    assert.equal(warn?.status, "warn");
    assert.match(warn?.fix?.en ?? "", /failover/);
    assert.match(warn?.fix?.zh ?? "", /故障转移/);
    const fail = await clusterCheck(storeReporting({ state: "fail", masters: 3, mastersReachable: 2 }), "redis-cluster://a:1", 0.4, TITLE);
    assert.equal(fail?.status, "fail");
    assert.match(fail?.fix?.en ?? "", /redis-cli --cluster check/);
    assert.deepEqual(fail?.data?.cluster, { state: "fail", masters: 3, mastersReachable: 2 });
    assert.equal(await clusterCheck(storeReporting(null), "redis://a:1", 0.4, TITLE), null, "not a cluster: the usual check applies");
  });
});
