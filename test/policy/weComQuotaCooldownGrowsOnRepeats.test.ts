// Issue 11, case 7: WeCom answers 45009 for several limits (a minute, an hour, the rest of the day) without saying
// which; the broker starts with the shortest cool-down and must grow it when the refusal repeats.
//
// Two `serve` processes on one Redis. WeCom refuses every gettoken with 45009. The first refusal comes from the
// start-up fetch; the next ones from an operator's sync, which may pass an open breaker once per 10 s. The cool-down
// is read from the diagnosis JSON (breaker.openUntil − lastError.at), shared by both replicas.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { sleep, waitUntil } from "../helpers/wait";
import { accountsEnv, diagnosisOf, startCluster, sync, type AccountFacts } from "./cluster";

const APP = { appId: "ww_policy_quota", secret: "corpsecret-policy-quota-M7x2", platform: "wecom" as const };
/** A sync passes an open breaker at most this often (TokenServiceOptions.manualRetryMinMs). */
const MANUAL_RETRY_MS = 10_000;

const { redis, sim } = useRedisAndSimulator([{ ...APP, faults: [{ type: "errcode", errcode: 45009, times: -1 }] }]);

function cooldownSec(a: AccountFacts): number {
  return Math.round((Date.parse(a.breaker.openUntil ?? "") - Date.parse(a.lastError?.at ?? "")) / 1000);
}

test("a WeCom account refused with 45009 again and again gets a longer cool-down each time", { timeout: 90_000 }, async () => {
  const cluster = await startCluster(2, {
    REDIS_URL: redis.url,
    KEY_PREFIX: "quota:",
    WECOM_API_BASE: sim.wecomUrl,
    ACCOUNTS: accountsEnv({ id: "wecom_quota", type: "wecom", appId: APP.appId, appSecret: APP.secret }),
  });
  try {
    const cooldowns: number[] = [];
    let facts = await diagnosisOf(cluster.urls[0]!, "wecom_quota");
    await waitUntil(
      "the start-up fetch was refused",
      async () => (facts = await diagnosisOf(cluster.urls[0]!, "wecom_quota")).breaker.failures >= 1,
      20_000,
      200,
    );
    cooldowns.push(cooldownSec(facts));
    for (let i = 2; i <= 3; i++) {
      const wait = Date.parse(facts.lastError!.at) + MANUAL_RETRY_MS + 500 - Date.now();
      if (wait > 0) await sleep(wait);
      const r = await sync(cluster.urls[i % 2]!, "wecom_quota");
      facts = await diagnosisOf(cluster.urls[(i + 1) % 2]!, "wecom_quota");
      assert.equal(
        facts.breaker.failures,
        i,
        `sync ${i - 1} reached WeChat and was refused (${r.status} ${r.code ?? ""}); breaker ${JSON.stringify(facts.breaker)}`,
      );
      cooldowns.push(cooldownSec(facts));
    }
    const calls = sim.admin.counters(APP.appId).calls.gettoken;
    const figures = `cool-downs after 1, 2, 3 refusals: ${cooldowns.join(" s, ")} s; gettoken calls: ${calls}`;
    assert.equal(calls, 3, `one call per refusal, none while the breaker was open; ${figures}`);
    assert.ok(cooldowns[1]! > cooldowns[0]! && cooldowns[2]! > cooldowns[1]!, `the cool-down grows; ${figures}`);
  } finally {
    await cluster.stop();
  }
});
