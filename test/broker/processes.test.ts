// Replicas as separate OS processes (the real `serve` command) sharing one Redis.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startRedis, type TestRedis } from "../helpers/redis";
import { startBrokerProcess, type BrokerProcess } from "../helpers/processes";
import { startSimulator } from "../../src/simulator/server";
import type { RunningSimulator } from "../../src/simulator/types";

let redis: TestRedis;
let sim: RunningSimulator;
let brokers: BrokerProcess[] = [];
const SECRET = "proc-secret-Zq8w1";

before(async () => {
  redis = await startRedis();
  // A little upstream latency widens the race window between the processes.
  sim = await startSimulator({ apps: [{ appId: "wx_proc", secret: SECRET, latencyMs: 50 }] });
  const env = {
    REDIS_URL: redis.url,
    ACCOUNTS: JSON.stringify([{ id: "gh_proc", appId: "wx_proc", appSecret: SECRET }]),
    WECHAT_API_BASE: sim.url,
  };
  brokers = await Promise.all([0, 1, 2, 3].map(() => startBrokerProcess(env)));
});
after(async () => {
  await Promise.all(brokers.map((b) => b.stop()));
  await sim.close();
  await redis.close();
});

test("four broker processes sharing one Redis make one upstream call for 400 concurrent requests and hand out the same token", async () => {
  // Each process warms its account at start-up; whichever wins the lock fetches, the others read Redis.
  const results = await Promise.all(
    Array.from({ length: 400 }, async (_, i) => {
      const r = await fetch(`${brokers[i % 4]!.url}/api/accounts/gh_proc/token`);
      assert.equal(r.status, 200);
      return ((await r.json()) as { accessToken: string }).accessToken;
    }),
  );
  assert.equal(new Set(results).size, 1, "every caller got the same token");
  assert.equal(sim.admin.counters("wx_proc").calls.stable_token, 1, "exactly one upstream call across four processes");
  assert.equal(sim.admin.checkToken(results[0]!).valid, true);
});

test("a broker process stops cleanly on SIGTERM, and its logs never contain the AppSecret or the token", async () => {
  const token = ((await (await fetch(`${brokers[0]!.url}/api/accounts/gh_proc/token`)).json()) as { accessToken: string }).accessToken;
  const code = await brokers[3]!.stop("SIGTERM");
  assert.equal(code, 0);
  const out = brokers[3]!.output();
  assert.match(out, /shut down/);
  for (const b of brokers) {
    assert.ok(!b.output().includes(SECRET), "no AppSecret in logs");
    assert.ok(!b.output().includes(token), "no token in logs");
  }
});
