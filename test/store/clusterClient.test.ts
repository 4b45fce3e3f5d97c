// The Cluster client's options and description, without a cluster (the behaviour on a real one is in
// test/store/redisCluster.test.ts and test/broker/redisCluster.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Cluster } from "ioredis";
import { buildClusterOptions, createRedisClient, describeRedisTarget, isCluster } from "../../src/store/redisClient";
import { silentLogger } from "../../src/logger";
import { RedisTokenStore } from "../../src/store/redisStore";
import { duplicateRedisClient } from "../../src/store/redisClient";
import { freePort } from "../helpers/ports";

const NODES = [
  { host: "10.0.0.1", port: 7000 },
  { host: "fd00::2", port: 7001 },
];

void test("the Cluster client bounds each node's commands like a single-server client, reads from masters only and reconnects forever", () => {
  const o = buildClusterOptions({
    clusterNodes: NODES,
    password: "cluster-pw-1",
    commandTimeoutMs: 400,
    connectTimeoutMs: 900,
    tls: false,
  });
  assert.equal(o.redisOptions?.commandTimeout, 400);
  assert.equal(o.redisOptions?.connectTimeout, 900);
  assert.equal(o.redisOptions?.password, "cluster-pw-1");
  assert.equal(o.redisOptions?.maxRetriesPerRequest, 1);
  assert.equal(o.redisOptions?.tls, undefined);
  assert.equal(o.scaleReads, "master");
  assert.equal(o.enableOfflineQueue, true);
  const retry = o.clusterRetryStrategy as (times: number) => number;
  for (let times = 1; times <= 500; times++) assert.ok(retry(times) >= 100 && retry(times) < 1250);
  assert.ok(!("sentinels" in (o.redisOptions ?? {})), "no Sentinel options leak into node connections");
});

void test("with TLS each node connection uses TLS and connects to the host name it was given", () => {
  const o = buildClusterOptions({ clusterNodes: NODES, commandTimeoutMs: 400, connectTimeoutMs: 900, tls: true });
  assert.deepEqual(o.redisOptions?.tls, {});
  let resolved: string | undefined;
  o.dnsLookup!("redis-0.redis.svc", (_err, address) => (resolved = address));
  assert.equal(resolved, "redis-0.redis.svc");
});

void test("createRedisClient gives a Cluster client for cluster nodes, and its description names the nodes without the password", () => {
  const c = createRedisClient(
    { clusterNodes: NODES, password: "never-shown-pw", commandTimeoutMs: 100, connectTimeoutMs: 100, tls: false, lazyConnect: true },
    silentLogger(),
  );
  try {
    assert.ok(c instanceof Cluster && isCluster(c));
  } finally {
    c.disconnect();
  }
  assert.equal(describeRedisTarget({ clusterNodes: NODES }), "redis-cluster://10.0.0.1:7000,[fd00::2]:7001");
  assert.equal(describeRedisTarget({ clusterNodes: NODES, tls: true }), "rediss-cluster://10.0.0.1:7000,[fd00::2]:7001");
});

void test("with no cluster node reachable, a store read fails with the command timeout instead of waiting for the cluster", async () => {
  const port = await freePort(); // nothing listens there
  const redis = createRedisClient(
    { clusterNodes: [{ host: "127.0.0.1", port }], commandTimeoutMs: 300, connectTimeoutMs: 300, tls: false },
    silentLogger(),
  );
  const store = new RedisTokenStore({
    redis,
    subscriber: duplicateRedisClient(redis, silentLogger()),
    keyPrefix: "down:",
    logger: silentLogger(),
  });
  try {
    const hung = new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 10_000).unref());
    const outcome = await Promise.race([
      store.get("gh_down").then(
        () => "answered",
        (err: Error) => err.message,
      ),
      hung,
    ]);
    assert.match(outcome, /token store unavailable \(get\): Command timed out/);
    assert.equal(store.isReady(), false);
  } finally {
    await store.close();
  }
});
