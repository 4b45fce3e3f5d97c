// Issue 11, case 4: the force budget is taken at the moment of the force call, only when the refresh lock has time
// left for it. With WeChat answering in 3.6 s, a report that needs a probe, a normal stable_token call and then a
// force call runs out of lock (LOCK_TTL_MS 12 s by default, UPSTREAM_TIMEOUT_MS 5 s): whatever the broker then does,
// the force refreshes it counts must be the ones WeChat received.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { waitUntil } from "../helpers/wait";
import { accountsEnv, diagnosisOf, getToken, report, startCluster } from "./cluster";

const APP = { appId: "wx_policy_slow", secret: "AppSecret-policy-slow-L8c3", latencyMs: 3600 };

const { redis, sim } = useRedisAndSimulator([APP]);

test(
  "with WeChat answering in 3.6 s, the force refreshes the broker counts equal the force refreshes WeChat received",
  { timeout: 90_000 },
  async () => {
    const cluster = await startCluster(2, {
      REDIS_URL: redis.url,
      KEY_PREFIX: "slow:",
      WECHAT_API_BASE: sim.url,
      ACCOUNTS: accountsEnv({ id: "stable_slow", appId: APP.appId, appSecret: APP.secret }),
      UPSTREAM_CALLS_PER_MINUTE: "600",
    });
    try {
      await waitUntil(
        "the first token is served",
        async () => (await getToken(cluster.urls[0]!, "stable_slow", 15_000)).status === 200,
        30_000,
        200,
      );
      const token = (await getToken(cluster.urls[0]!, "stable_slow")).token!;

      // WeChat confirms the reported token dead (the probe answers 40001): the broker needs a force refresh.
      sim.admin.addFault(APP.appId, { type: "errcode", errcode: 40001, endpoints: ["probe"], times: 1 });
      const reported = await report(cluster.urls[0]!, "stable_slow", token, { timeoutMs: 60_000 });

      const atWeChat = sim.admin.counters(APP.appId).forceRefreshes;
      const counted = await Promise.all(cluster.urls.map(async (url) => (await diagnosisOf(url, "stable_slow")).usage?.forceRefreshes));
      const figures = `report → ${reported.status} ${reported.code ?? String(reported.body.reason)}; force refreshes counted by the brokers: ${counted.join(", ")}; received by WeChat: ${atWeChat}`;
      for (const n of counted) assert.equal(n, atWeChat, figures);
    } finally {
      await cluster.stop();
    }
  },
);
