// Issue 11, case 3: a force refresh that WeChat refuses with 45009 (the day's 20 force refreshes spent elsewhere)
// must leave the current token served to every caller and close force refreshes for the day — not the account.
//
// Scaled down: stable tokens live 24 s and rotate in their last 10 s (WECHAT_OVERLAP_SEC=10 at both ends),
// refresh-ahead opens 8 s before expiry. Three `serve` processes on one Redis. The simulator answers 45009 to every
// force refresh (forcePerDay 0) while normal stable_token calls work.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { sleep, waitUntil } from "../helpers/wait";
import { accountsEnv, getToken, pollTokens, report, startCluster, statusSummary } from "./cluster";

const LIFETIME_SEC = 24;
const APP = {
  appId: "wx_policy_force45009",
  secret: "AppSecret-policy-force-P5t1",
  tokenLifetimeSec: LIFETIME_SEC,
  overlapSec: 10,
  forcePerDay: 0,
};

const { redis, sim } = useRedisAndSimulator([APP]);

test(
  "a force refresh refused with 45009 leaves the current token served by every replica, normal refreshes still work, and no other force refresh is tried that day",
  { timeout: 90_000 },
  async () => {
    const cluster = await startCluster(3, {
      REDIS_URL: redis.url,
      KEY_PREFIX: "force45009:",
      WECHAT_API_BASE: sim.url,
      ACCOUNTS: accountsEnv({ id: "stable_force", appId: APP.appId, appSecret: APP.secret }),
      LOCAL_CACHE_TTL_MS: "1000",
      TOKEN_SAFETY_MARGIN_SEC: "2",
      CLASSIC_REFRESH_AHEAD_SEC: "8",
      STABLE_REFRESH_AHEAD_SEC: "8",
      WECHAT_OVERLAP_SEC: "10",
      REFETCH_FLOOR_SEC: "2",
      UPSTREAM_CALLS_PER_MINUTE: "600",
    });
    try {
      await waitUntil(
        "the first token is served",
        async () => (await getToken(cluster.urls[0]!, "stable_force")).status === 200,
        20_000,
        200,
      );
      const first = (await getToken(cluster.urls[0]!, "stable_force")).token!;

      // WeChat confirms the reported token dead once (the probe answers 40001), so the broker wants a force refresh,
      // and the force call is refused with 45009.
      sim.admin.addFault(APP.appId, { type: "errcode", errcode: 40001, endpoints: ["probe"], times: 1 });
      const reported = await report(cluster.urls[0]!, "stable_force", first);
      // From now on a force call would succeed at WeChat and show in its counter: none may come today.
      sim.admin.patchApp(APP.appId, { forcePerDay: 20 });

      const served = new Set<string>();
      const poller = pollTokens(cluster.urls, "stable_force", 100, (a) => {
        if (a.token) served.add(a.token);
      });
      // Past the token's refresh-ahead point, so a normal stable_token call rotates it.
      await waitUntil(
        "a new token replaced the reported one",
        () => [...served].some((t) => t !== first),
        LIFETIME_SEC * 1000 + 5_000,
        200,
      ).catch(() => undefined);
      await sleep(2_000);

      // A second confirmed report, of the token now current: force refreshes are closed for the day.
      const current = (await getToken(cluster.urls[1]!, "stable_force")).token ?? first;
      sim.admin.addFault(APP.appId, { type: "errcode", errcode: 40001, endpoints: ["probe"], times: 1 });
      const second = await report(cluster.urls[1]!, "stable_force", current);
      await sleep(2_000);
      const answers = await poller.stop();

      const c = sim.admin.counters(APP.appId);
      const figures =
        `report → ${reported.status} ${reported.code ?? String(reported.body.reason)}; second report → ${second.status} ${second.code ?? String(second.body.reason)}; ` +
        `answers ${statusSummary(answers)}; tokens served: ${served.size}; tokens issued: ${c.tokensIssued}; force refreshes at WeChat after the 45009: ${c.forceRefreshes}`;
      assert.ok(
        answers.every((a) => a.status === 200),
        `every caller got a token (no 503 after a failed force refresh); ${figures}`,
      );
      assert.ok(served.has(first), `the reported token kept being served; ${figures}`);
      assert.ok(served.size >= 2 && c.tokensIssued >= 2, `a normal refresh replaced the token at its renewal point; ${figures}`);
      for (const t of served) assert.notEqual(sim.admin.checkToken(t).reason, "superseded", figures);
      assert.equal(c.forceRefreshes, 0, `no force refresh tried again the same day; ${figures}`);
    } finally {
      await cluster.stop();
    }
  },
);
