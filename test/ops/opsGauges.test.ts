// The on-scrape gauges behind the alert rules, from a real Redis store, and their exposition through promtool.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { Registry } from "prom-client";
import { startRedis } from "../helpers/redis";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { registerOpsGauges } from "../../src/ops/opsGauges";
import { accountsEnv, freshPrefix, opsBroker, SECRETS } from "./helpers";

const { sim } = useRedisAndSimulator(
  [
    { appId: "wx_ok", secret: SECRETS.otherAppSecret },
    { appId: "wx_wl", secret: SECRETS.appSecret, ipWhitelist: ["10.0.0.1"], callerIp: "1.92.157.200" },
  ],
  { redis: false },
);

function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("the on-scrape ops gauges", () => {
  test("report store health, stuck locks, today's calls against the limit and the unresolved refusal of each account", async () => {
    const own = await startRedis();
    const b = opsBroker({
      ACCOUNTS: accountsEnv([
        { id: "gh_ok", appId: "wx_ok", appSecret: SECRETS.otherAppSecret },
        { id: "gh_wl", appId: "wx_wl", appSecret: SECRETS.appSecret, tokenApi: "classic" },
      ]),
      REDIS_URL: own.url,
      WECHAT_API_BASE: sim.url,
      KEY_PREFIX: freshPrefix(),
    });
    const registry = new Registry();
    registerOpsGauges(registry, {
      store: b.core.store,
      locks: b.locks,
      accounts: b.config.accounts,
      snapshotTtlMs: 0,
      lockScanIntervalMs: 0,
    });
    try {
      await b.core.service.getToken("gh_ok");
      await assert.rejects(b.core.service.getToken("gh_wl"));
      own.cli("SET", `${b.config.keyPrefix}{acct:gh_ok}:lock`, "by-hand");

      const text = await registry.metrics();
      assert.equal(value(text, "wtb_store_up"), 1);
      assert.equal(value(text, "wtb_stuck_locks"), 1);
      assert.equal(value(text, 'wtb_upstream_token_calls_today{account="gh_ok"}'), 1);
      assert.equal(value(text, 'wtb_upstream_token_calls_today{account="gh_wl"}'), 1);
      assert.equal(value(text, 'wtb_upstream_token_daily_limit{account="gh_ok"}'), 500000);
      assert.equal(value(text, 'wtb_upstream_token_daily_limit{account="gh_wl"}'), 2000);
      assert.equal(value(text, 'wtb_account_upstream_failing{account="gh_wl",errclass="config",errcode="40164"}'), 1);
      assert.doesNotMatch(text, /wtb_account_upstream_failing\{account="gh_ok"/);

      const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
      assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);

      await own.stop();
      const down = await registry.metrics();
      assert.equal(value(down, "wtb_store_up"), 0, "a scrape still succeeds and says the store is down");
      assert.equal(value(down, "wtb_stuck_locks"), 1, "the last reading is kept");
    } finally {
      await b.close();
      await own.close();
    }
  });
});
