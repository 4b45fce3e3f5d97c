// REDIS_CLUSTER_NODES=rediss://…: a broker process on a Redis Cluster that speaks TLS only (clients, bus and
// replication), trusting the cluster's CA through NODE_EXTRA_CA_CERTS; without that trust it is not ready.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestCertificates, type TestCertificates } from "../helpers/certificates";
import { startRedisCluster, type TestRedisCluster } from "../helpers/redisCluster";
import { spawnServe, startBrokerProcess, type ServeProcess } from "../helpers/processes";
import { waitUntil } from "../helpers/wait";
import { startSimulator } from "../../src/simulator/server";
import type { RunningSimulator } from "../../src/simulator/types";
import { KeySpace } from "../../src/store/keys";

const PASSWORD = "tls-cluster-pw-Q7v2";
let dir: string;
let certs: TestCertificates;
let cluster: TestRedisCluster;
let sim: RunningSimulator;
const procs: ServeProcess[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "wtb-tlscluster-"));
  certs = makeTestCertificates(dir);
  cluster = await startRedisCluster({ tls: certs, password: PASSWORD });
  sim = await startSimulator({ apps: [{ appId: "wx_tls", secret: "tls-secret-1" }] });
});
after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await sim?.close();
  await cluster?.close();
  rmSync(dir, { recursive: true, force: true });
});

const env = () => ({
  REDIS_CLUSTER_NODES: `rediss://${cluster.ports
    .slice(0, 2)
    .map((p) => `127.0.0.1:${p}`)
    .join(",")}`,
  REDIS_PASSWORD: PASSWORD,
  ACCOUNTS: JSON.stringify([{ id: "gh_tls", appId: "wx_tls", appSecret: "tls-secret-1" }]),
  WECHAT_API_BASE: sim.url,
});

test("a broker trusting the cluster's CA stores its token over TLS on the master that owns the account's slot", async () => {
  const b = await startBrokerProcess({ ...env(), NODE_EXTRA_CA_CERTS: certs.ca }, { readyTimeoutMs: 30_000 });
  procs.push(b);
  const r = await fetch(`${b.url}/api/accounts/gh_tls/token`);
  assert.equal(r.status, 200);
  const { accessToken } = (await r.json()) as { accessToken: string };
  const key = new KeySpace("wtb:").account("gh_tls").token;
  assert.equal(cluster.cli(cluster.ownerOf(key).master.port, "HGET", key, "accessToken"), accessToken);
  const ready = (await (await fetch(`${b.url}/api/health/ready`)).json()) as { store: { cluster?: unknown } };
  assert.deepEqual(ready.store.cluster, { state: "ok", masters: 3, mastersReachable: 3 });
  assert.ok(!b.output().includes(PASSWORD));
});

test("a broker that does not trust the cluster's certificate is not ready, and logs the failure without flooding or the password", async () => {
  const b = await spawnServe(env(), { wait: "up", timeoutMs: 30_000 });
  procs.push(b);
  const r = await fetch(`${b.url}/api/health/ready`);
  assert.equal(r.status, 503);
  // ioredis' Cluster client reports a refused handshake only as "Connection is closed." / "Failed to refresh slots
  // cache." (the certificate error itself does not reach its events); the broker logs the store going away once,
  // then a summary a minute, and each connection message at most once per 10 s: not once per retry.
  await waitUntil(
    "the connection failures are logged",
    () => /token store unreachable|Failed to refresh slots cache/.test(b.output()),
    15_000,
    200,
  );
  await new Promise((r) => setTimeout(r, 3000));
  const lines = b
    .output()
    .split("\n")
    .filter((l) => l.includes('"redis connection error"'));
  const perMessage = new Map<string, number>();
  for (const l of lines) {
    const m = JSON.parse(l) as { error: string; role: string };
    perMessage.set(`${m.role} ${m.error}`, (perMessage.get(`${m.role} ${m.error}`) ?? 0) + 1);
  }
  assert.ok(
    [...perMessage.values()].every((n) => n <= 2),
    `throttled: ${JSON.stringify([...perMessage])}`,
  );
  assert.equal((await fetch(`${b.url}/api/health/ready`)).status, 503, "still not ready");
  assert.ok(!b.output().includes(PASSWORD), "no password in the log");
});
