// REDIS_CLUSTER_NODES: the seed nodes of a Redis Cluster, TLS by scheme, the password from REDIS_PASSWORD(_FILE).
import { test } from "node:test";
import assert from "node:assert/strict";
import { assertIssue, load, loadError } from "./helpers";
import { ConfigError, describeConfig } from "../../src/config";

void test("cluster nodes give a Cluster config; the port defaults to 6379 and IPv6 is bracketed", () => {
  assert.deepEqual(load({ REDIS_CLUSTER_NODES: "r0.internal:7000, [fd00::7]:7001,r2.internal", REDIS_PASSWORD: "cluster-pw-1" }).redis, {
    clusterNodes: [
      { host: "r0.internal", port: 7000 },
      { host: "fd00::7", port: 7001 },
      { host: "r2.internal", port: 6379 },
    ],
    password: "cluster-pw-1",
    commandTimeoutMs: 500,
    connectTimeoutMs: 2000,
    tls: false,
  });
});

void test("rediss:// in front of the node list turns TLS on, redis:// leaves it off", () => {
  assert.equal(load({ REDIS_CLUSTER_NODES: "rediss://r0:7000,r1:7000" }).redis?.tls, true);
  assert.equal(load({ REDIS_CLUSTER_NODES: "redis://r0:7000,r1:7000" }).redis?.tls, false);
  assert.deepEqual(load({ REDIS_CLUSTER_NODES: "rediss://r0:7000,r1:7000" }).redis?.clusterNodes, [
    { host: "r0", port: 7000 },
    { host: "r1", port: 7000 },
  ]);
});

void test("the cluster password is read from REDIS_PASSWORD_FILE", () => {
  const r = load(
    { REDIS_CLUSTER_NODES: "r0:7000", REDIS_PASSWORD_FILE: "/run/secrets/redis" },
    { "/run/secrets/redis": "file-cluster-pw\n" },
  ).redis;
  assert.equal(r?.password, "file-cluster-pw");
});

void test("credentials inside the node list are refused without being echoed", () => {
  let err: unknown;
  try {
    load({ REDIS_CLUSTER_NODES: "redis://:s3cret-in-list@r0:7000" });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assertIssue(err, "REDIS_CLUSTER_NODES", /must not contain credentials.*REDIS_PASSWORD/);
  assert.ok(!JSON.stringify(err.issues).includes("s3cret-in-list"), "the password is not in the report");
  assert.ok(!err.message.includes("s3cret-in-list"));
});

void test("a scheme per entry, a bad port or an empty entry is reported", () => {
  assertIssue(
    loadError({ REDIS_CLUSTER_NODES: "redis://r0:7000,redis://r1:7000" }),
    "REDIS_CLUSTER_NODES",
    /one scheme .* in front of the whole list/,
  );
  assertIssue(loadError({ REDIS_CLUSTER_NODES: "r0:99999" }), "REDIS_CLUSTER_NODES", /port from 1 to 65535/);
  assertIssue(loadError({ REDIS_CLUSTER_NODES: "r0:7000,,r1:7000" }), "REDIS_CLUSTER_NODES", /empty entry/);
  assertIssue(loadError({ REDIS_CLUSTER_NODES: "bad host:7000" }), "REDIS_CLUSTER_NODES", /valid host/);
});

void test("cluster nodes are exclusive with REDIS_URL and with Sentinel", () => {
  assertIssue(loadError({ REDIS_CLUSTER_NODES: "r0:7000", REDIS_URL: "redis://r" }), "REDIS_CLUSTER_NODES", /use one way to reach Redis/);
  assertIssue(
    loadError({ REDIS_CLUSTER_NODES: "r0:7000", REDIS_SENTINELS: "s:26379", REDIS_SENTINEL_NAME: "m" }),
    "REDIS_CLUSTER_NODES",
    /use one way to reach Redis/,
  );
});

void test("the configuration summary lists the cluster nodes and never the password", () => {
  const config = load({ REDIS_CLUSTER_NODES: "r0:7000,[fd00::1]:7001", REDIS_PASSWORD: "summary-pw-9" });
  const s = describeConfig(config);
  assert.deepEqual(s.redis?.clusterNodes, ["r0:7000", "[fd00::1]:7001"]);
  assert.equal(s.redis?.passwordSet, true);
  assert.ok(!JSON.stringify(s).includes("summary-pw-9"));
});
