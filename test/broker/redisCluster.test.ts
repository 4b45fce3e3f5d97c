// Several broker processes (the real `serve`) on a real Redis Cluster (three masters, one replica each), against the
// simulator over HTTP: one upstream call on a cold start, one refresh for an invalidation storm, fencing, and a
// master killed under load. Upstream counts come from the simulator.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRedisCluster, type TestRedisCluster } from "../helpers/redisCluster";
import { runCli, startBrokerProcess, type BrokerProcess } from "../helpers/processes";
import { account, startBroker } from "../helpers/brokers";
import { assertDocumented } from "../helpers/openapi";
import { sleep, waitUntil } from "../helpers/wait";
import { startSimulator } from "../../src/simulator/server";
import type { RunningSimulator, SimAppConfig } from "../../src/simulator/types";
import type { WeChatApi } from "../../src/wechat/types";
import { KeySpace } from "../../src/store/keys";
import { rogueClassicFetch } from "../helpers/rogue";

const ACCOUNTS = Array.from({ length: 6 }, (_, i) => ({
  id: `gh_rc${i}`,
  appId: `wx_rc${i}`,
  appSecret: `rc-secret-${i}-Hq2`,
  tokenApi: i % 2 === 0 ? ("stable" as const) : ("classic" as const),
}));
const APPS: SimAppConfig[] = ACCOUNTS.map((a) => ({ appId: a.appId, secret: a.appSecret, latencyMs: 30 }));
const keys = new KeySpace("wtb:");
const PASSWORD = "rc-cluster-pw-Zk81";

let cluster: TestRedisCluster;
let sim: RunningSimulator;
let brokers: BrokerProcess[] = [];
let env: Record<string, string> = {};

const tokenCalls = (appId: string) => {
  const c = sim.admin.counters(appId).calls;
  return c.stable_token + c.token;
};
const callsByApp = () => Object.fromEntries(ACCOUNTS.map((a) => [a.appId, tokenCalls(a.appId)]));

async function getToken(b: BrokerProcess, id: string): Promise<{ status: number; accessToken?: string }> {
  const r = await fetch(`${b.url}/api/accounts/${id}/token`);
  const body = (await r.json()) as { accessToken?: string };
  return { status: r.status, accessToken: body.accessToken };
}

async function invalidate(b: BrokerProcess, id: string, accessToken: string): Promise<{ status: number; accessToken?: string }> {
  const r = await fetch(`${b.url}/api/accounts/${id}/token/invalidate`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ accessToken, errcode: 40001 }),
  });
  const body = (await r.json()) as { accessToken?: string };
  return { status: r.status, accessToken: body.accessToken };
}

/** Subscribers of the refresh channel across the live nodes (PUBSUB NUMSUB is per node on a Cluster). */
function refreshSubscribers(): number {
  let n = 0;
  for (const port of cluster.ports) {
    const out = cluster.cli(port, "PUBSUB", "NUMSUB", keys.refreshedChannel).split("\n");
    n += Number(out[1] ?? 0) || 0;
  }
  return n;
}

before(async () => {
  cluster = await startRedisCluster({ password: PASSWORD });
  sim = await startSimulator({ apps: APPS });
  env = {
    REDIS_CLUSTER_NODES: cluster.ports
      .slice(0, 3)
      .map((p) => `127.0.0.1:${p}`)
      .join(","),
    REDIS_PASSWORD: PASSWORD,
    ACCOUNTS: JSON.stringify(ACCOUNTS),
    WECHAT_API_BASE: sim.url,
    // Short, so requests keep reading the cluster during the failover instead of a replica's memory.
    LOCAL_CACHE_TTL_MS: "300",
  };
  brokers = await Promise.all([0, 1, 2].map(() => startBrokerProcess(env, { readyTimeoutMs: 30_000 })));
});
after(async () => {
  await Promise.all(brokers.map((b) => b.stop()));
  await sim?.close();
  await cluster?.close();
});

describe("broker processes on a Redis Cluster", () => {
  test("three processes make one upstream call per account for 300 concurrent requests, and agree on each token", async () => {
    const results = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const a = ACCOUNTS[i % ACCOUNTS.length]!;
        const r = await getToken(brokers[i % 3]!, a.id);
        assert.equal(r.status, 200);
        return [a.id, r.accessToken!] as const;
      }),
    );
    for (const a of ACCOUNTS) {
      const tokens = new Set(results.filter(([id]) => id === a.id).map(([, t]) => t));
      assert.equal(tokens.size, 1, `${a.id}: one token`);
      assert.equal(sim.admin.checkToken([...tokens][0]!).valid, true);
      assert.equal(tokenCalls(a.appId), 1, `${a.appId}: one upstream call across three processes`);
    }
    // The accounts' keys are spread over the masters, so all three took part.
    assert.equal(new Set(ACCOUNTS.map((a) => cluster.ownerOf(keys.account(a.id).token).master.port)).size, 3);
  });

  test("readiness and the diagnosis report cluster_state ok with every master answering", async () => {
    const r = await fetch(`${brokers[0]!.url}/api/health/ready`);
    const text = await r.text();
    assertDocumented({ method: "get", path: "/api/health/ready", status: r.status, headers: Object.fromEntries(r.headers), text });
    assert.deepEqual(JSON.parse(text).store.cluster, { state: "ok", masters: 3, mastersReachable: 3 });
    const d = (await (await fetch(`${brokers[1]!.url}/api/diagnosis`)).json()) as {
      checks: Array<{ id: string; status: string; data?: { cluster?: unknown } }>;
    };
    const store = d.checks.find((c) => c.id === "store");
    assert.equal(store?.status, "ok");
    assert.deepEqual(store?.data?.cluster, { state: "ok", masters: 3, mastersReachable: 3 });
  });

  test("an invalidation storm of 150 reports from three processes causes exactly one refresh", async () => {
    const a = ACCOUNTS[1]!; // classic
    const first = await getToken(brokers[0]!, a.id);
    // Another system kills the token at WeChat, so the reports are true (a report of a working token rotates nothing).
    await rogueClassicFetch(sim.url, a.appId, a.appSecret);
    const before = tokenCalls(a.appId);
    const results = await Promise.all(Array.from({ length: 150 }, (_, i) => invalidate(brokers[i % 3]!, a.id, first.accessToken!)));
    assert.ok(
      results.every((r) => r.status === 200),
      `statuses ${[...new Set(results.map((r) => r.status))].join(",")}`,
    );
    const tokens = new Set(results.map((r) => r.accessToken));
    assert.equal(tokens.size, 1);
    assert.notEqual([...tokens][0], first.accessToken);
    assert.equal(tokenCalls(a.appId), before + 1, "one refresh for the whole storm");
    assert.equal(sim.admin.checkToken([...tokens][0]!).valid, true);
  });

  test("a writer whose lock expired mid-fetch is fenced out on the cluster too", async () => {
    const nodes = cluster.ports.map((port) => ({ host: "127.0.0.1", port }));
    const acct = [account("gh_fence", "wx_fence", "fence-secret-1", "classic")];
    sim.admin.setApp({ appId: "wx_fence", secret: "fence-secret-1" });
    let pauseFirst = true;
    const pausing = (real: WeChatApi): WeChatApi => ({
      probe: (x, t) => real.probe(x, t),
      fetchToken: async (x, o) => {
        const r = await real.fetchToken(x, o);
        if (pauseFirst) {
          pauseFirst = false;
          await sleep(1500); // longer than the 800 ms lock
        }
        return r;
      },
    });
    const opts = { lockTtlMs: 800, upstreamTimeoutMs: 300, waitForRefreshMs: 5000 };
    const common = {
      accounts: acct,
      clusterNodes: nodes,
      redisPassword: PASSWORD,
      wechatApiBase: sim.url,
      keyPrefix: "fence:",
      options: opts,
      upstreamTimeoutMs: 300,
      commandTimeoutMs: 2000,
    };
    const a = await startBroker({ ...common, replicaId: "A", wrapWeChat: pausing });
    const b = await startBroker({ ...common, replicaId: "B" });
    try {
      const pa = a.service.getToken("gh_fence");
      await sleep(1000); // A's lock has expired; A is still "paused"
      const tb = await b.service.getToken("gh_fence");
      const ta = await pa;
      assert.equal(a.events.get("fenced"), 1, "A's write was refused");
      const key = new KeySpace("fence:").account("gh_fence").token;
      const owner = cluster.ownerOf(key).master.port;
      assert.equal(cluster.cli(owner, "HGET", key, "accessToken"), tb.accessToken, "the cluster holds B's token");
      assert.equal(ta.accessToken, tb.accessToken, "A serves the newer token too");
      assert.equal(tokenCalls("wx_fence"), 2);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test("when a master is killed under load, callers keep getting valid tokens, nothing refreshes twice and no lock is left", async () => {
    const victim = ACCOUNTS[3]!; // classic, to be invalidated after the failover
    const { master, replica } = cluster.ownerOf(keys.account(victim.id).token);
    const callsBefore = callsByApp();
    assert.equal(refreshSubscribers(), 3, "each process subscribed once");

    // Load: 6 workers, round-robin over processes and accounts, for a bounded time.
    const served = new Map<string, Set<string>>(ACCOUNTS.map((a) => [a.id, new Set<string>()]));
    const failures: string[] = [];
    let requests = 0;
    let stop = false;
    const worker = async (w: number) => {
      for (let i = w; !stop && requests < 20_000; i += 6) {
        const a = ACCOUNTS[i % ACCOUNTS.length]!;
        const r = await getToken(brokers[i % 3]!, a.id).catch((e: unknown) => ({ status: 0, accessToken: String(e) }));
        requests++;
        if (r.status !== 200 || !r.accessToken) failures.push(`${a.id}: ${r.status}`);
        else served.get(a.id)!.add(r.accessToken);
        await sleep(5);
      }
    };
    const load = Promise.all([0, 1, 2, 3, 4, 5].map(worker));
    await sleep(1000);
    const killedAt = Date.now();
    await cluster.kill(master.port);
    await waitUntil(
      "the replica is promoted and the cluster is ok",
      () => {
        const promoted = cluster.nodes().find((n) => n.id === replica.id);
        return promoted?.role === "master" && cluster.states().every((s) => s === "ok");
      },
      20_000,
      100,
    );
    const failoverMs = Date.now() - killedAt;
    // The clients find the new master by themselves; give the load a moment on the new topology.
    await waitUntil(
      "every broker sees the new topology",
      async () => {
        const ready = await Promise.all(
          brokers.map(
            async (b) =>
              (await (await fetch(`${b.url}/api/health/ready`)).json()) as {
                store: { cluster?: { mastersReachable: number; masters: number } };
              },
          ),
        );
        return ready.every((r) => r.store.cluster?.masters === 3 && r.store.cluster.mastersReachable === 3);
      },
      20_000,
      200,
    );
    await sleep(1000);

    stop = true;
    await load;
    assert.deepEqual(failures, [], `every request during the failover got a token (${requests} requests, failover ${failoverMs} ms)`);
    assert.ok(requests > 100, `the load ran (${requests} requests)`);
    for (const [id, tokens] of served) {
      for (const t of tokens) assert.equal(sim.admin.checkToken(t).valid, true, `${id}: every token served is valid`);
    }
    // An invalidation storm on the account whose master was killed: one refresh, through the promoted replica. The
    // token is killed at WeChat first (two rogue fetches), so the reports are true.
    const current = await getToken(brokers[0]!, victim.id);
    await rogueClassicFetch(sim.url, victim.appId, victim.appSecret);
    const storm = await Promise.all(Array.from({ length: 30 }, (_, i) => invalidate(brokers[i % 3]!, victim.id, current.accessToken!)));

    assert.ok(storm.every((r) => r.status === 200) && new Set(storm.map((r) => r.accessToken)).size === 1, "the storm got one new token");
    const callsAfter = callsByApp();
    for (const a of ACCOUNTS) {
      const expected = callsBefore[a.appId]! + (a.id === victim.id ? 2 + 1 : 0);
      assert.equal(callsAfter[a.appId], expected, `${a.appId}: no second refresh`);
    }
    assert.equal(
      cluster.cli(replica.port, "HGET", keys.account(victim.id).token, "accessToken"),
      storm[0]!.accessToken,
      "the promoted replica holds the new token",
    );

    // No lock left behind on any master, as the broker's own listing (which walks every master) and Redis say.
    const listing = (await (await fetch(`${brokers[2]!.url}/api/locks`)).json()) as { locks: unknown[] };
    assert.deepEqual(listing.locks, []);
    for (const n of cluster.nodes().filter((x) => x.role === "master" && !x.failed)) {
      assert.equal(cluster.cli(n.port, "--scan", "--pattern", "wtb:*:lock"), "", `no lock key on master ${n.port}`);
    }
    await waitUntil("every process is subscribed again", () => refreshSubscribers() === 3, 10_000, 200);
  });

  test("the diagnose and locks commands read the cluster from outside the servers, walking every master", async () => {
    const stuckId = ACCOUNTS[5]!.id;
    const stuckKey = keys.account(stuckId).lock;
    const owner = cluster.ownerOf(stuckKey).master.port;
    cluster.cli(owner, "SET", stuckKey, "left-by-hand"); // no TTL: stuck
    const diagnose = await runCli(["diagnose", "--json"], { ...env, LOG_LEVEL: "silent" }, 30_000);
    const report = JSON.parse(diagnose.stdout) as {
      checks: Array<{ id: string; status: string; data?: { cluster?: unknown; stuck?: number } }>;
    };
    assert.deepEqual(report.checks.find((c) => c.id === "store")?.data?.cluster, { state: "ok", masters: 3, mastersReachable: 3 });
    assert.equal(report.checks.find((c) => c.id === "locks")?.data?.stuck, 1, diagnose.stderr);
    const cleanup = await runCli(["locks", "cleanup", "--json"], { ...env, LOG_LEVEL: "silent" }, 30_000);
    assert.equal(cleanup.code, 0, cleanup.stderr);
    assert.deepEqual(
      (JSON.parse(cleanup.stdout) as { removed: Array<{ key: string }> }).removed.map((r) => r.key),
      [stuckKey],
    );
    assert.equal(cluster.cli(owner, "EXISTS", stuckKey), "0");
    assert.ok(!`${diagnose.stdout}${diagnose.stderr}${cleanup.stdout}${cleanup.stderr}`.includes(PASSWORD));
  });

  test("no process logged the cluster password, an AppSecret or a token, the failover included", async () => {
    const token = (await getToken(brokers[0]!, ACCOUNTS[0]!.id)).accessToken!;
    for (const b of brokers) {
      const out = b.output();
      assert.match(out, /redis connection error|wechat-token-broker listening/, "the logs were captured");
      assert.ok(!out.includes(PASSWORD), "no Redis password in the logs");
      for (const a of ACCOUNTS) assert.ok(!out.includes(a.appSecret), "no AppSecret in the logs");
      assert.ok(!out.includes(token), "no token in the logs");
    }
  });
});
