// The per-account ceiling of upstream calls and the report limits, with two brokers built like `serve` builds them
// (loadConfig → buildCore) on one real Redis, against the simulator. Counts come from the simulator.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { rogueClassicFetch } from "../helpers/rogue";
import { accountsEnv, freshPrefix, opsBroker, type OpsBroker } from "../ops/helpers";
import { CallCeilingError, ReportRateLimitedError } from "../../src/broker/errors";

const APP = { appId: "wx_ceiling_c", secret: "ceiling-secret-8f2" };
const { redis, sim } = useRedisAndSimulator([APP], { resetEachTest: true });

function pair(extra: Record<string, string>): OpsBroker[] {
  const env = {
    ACCOUNTS: accountsEnv([{ id: "gh_c", appId: APP.appId, appSecret: APP.secret, tokenApi: "classic" }]),
    REDIS_URL: redis.url,
    WECHAT_API_BASE: sim.url,
    KEY_PREFIX: freshPrefix(),
    ...extra,
  };
  return [opsBroker(env), opsBroker(env)];
}
const tokenCalls = () => sim.admin.counters(APP.appId).calls.token;

test("no trigger passes the ceiling of upstream calls per minute, whichever replica asks; the refusal is counted, logged by trigger and shown in the diagnosis", async () => {
  const [a, b] = pair({ UPSTREAM_CALLS_PER_MINUTE: "3", REPORT_CHECKS_PER_MINUTE: "100", REPORT_CHECKS_PER_KEY_PER_MINUTE: "100" });
  try {
    let token = (await a!.core.service.getToken("gh_c")).accessToken;
    const outcomes: string[] = [];
    // Another system keeps killing the token; callers of both replicas report it each time, truthfully.
    for (let i = 0; i < 4; i++) {
      await rogueClassicFetch(sim.url, APP.appId, APP.secret);
      try {
        const r = await [a, b][i % 2]!.core.service.invalidate("gh_c", token, { caller: "svc" });
        outcomes.push(r.reason);
        token = r.token.accessToken;
      } catch (err) {
        outcomes.push(err instanceof CallCeilingError ? "call_ceiling" : String(err));
      }
    }
    assert.deepEqual(outcomes, ["refreshed", "refreshed", "call_ceiling", "call_ceiling"]);
    assert.equal(tokenCalls() - 4 * 2, 3, "the broker's own calls: the first token and two refreshes, then the ceiling");
    const metrics = (await a!.core.metrics.text()) + (await b!.core.metrics.text());
    assert.match(metrics, /wtb_upstream_ceiling_hits_total\{account="gh_c",trigger="report"\} 1/);
    const report = await a!.diagnosis.run();
    const line = report.checks.find((c) => c.id === "ceiling" && c.accountId === "gh_c");
    assert.ok(line, "a ceiling line in the diagnosis");
    assert.equal(line.status, "fail");
    assert.match(line.detail!.en, /trigger: report/);
    assert.equal(report.status, "fail");
  } finally {
    await Promise.all([a!.close(), b!.close()]);
  }
});

test("reports that reach WeChat are limited per API key and per account across replicas; reports answered from the store are free", async () => {
  const [a, b] = pair({ REPORT_CHECKS_PER_MINUTE: "3", REPORT_CHECKS_PER_KEY_PER_MINUTE: "2" });
  try {
    const t = (await a!.core.service.getToken("gh_c")).accessToken;
    // A misbehaving client reports the working token again and again, through both replicas.
    const first = await a!.core.service.invalidate("gh_c", t, { caller: "loop" });
    const second = await b!.core.service.invalidate("gh_c", t, { caller: "loop" });
    assert.deepEqual([first.reason, second.reason], ["still_valid", "still_valid"]);
    await assert.rejects(
      a!.core.service.invalidate("gh_c", t, { caller: "loop" }),
      (e: unknown) => e instanceof ReportRateLimitedError && e.scope === "key" && e.retryAfterMs > 0,
    );
    // Another key still gets its check, until the account's limit.
    assert.equal((await b!.core.service.invalidate("gh_c", t, { caller: "other" })).reason, "still_valid");
    await assert.rejects(
      b!.core.service.invalidate("gh_c", t, { caller: "third" }),
      (e: unknown) => e instanceof ReportRateLimitedError && e.scope === "account",
    );
    // A report of a token that is not the current one never reaches WeChat, limit or not.
    assert.equal((await a!.core.service.invalidate("gh_c", "86_some-older-token", { caller: "loop" })).reason, "already_replaced");
    const c = sim.admin.counters(APP.appId).calls;
    assert.equal(c.token, 1, "no token call for any of these reports");
    assert.equal(c.probe, 3, "one probe per report that reached WeChat");
  } finally {
    await Promise.all([a!.close(), b!.close()]);
  }
});
