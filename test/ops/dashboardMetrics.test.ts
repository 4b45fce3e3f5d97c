// The metrics the Grafana dashboard adds to the alert rules' ones: token requests per account and the force_refresh
// budget left, read from a real Redis store.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import request from "supertest";
import { account } from "../helpers/brokers";
import { httpBroker } from "../http/support";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { registerOpsGauges } from "../../src/ops/opsGauges";
import { quotaDay } from "../../src/clock";
import { accountsEnv, freshPrefix, opsBroker, SECRETS } from "./helpers";

const { redis, sim } = useRedisAndSimulator([
  { appId: "wx_ok", secret: SECRETS.otherAppSecret },
  { appId: "wx_cl", secret: SECRETS.appSecret },
]);

function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function broker() {
  return opsBroker({
    ACCOUNTS: accountsEnv([
      { id: "gh_ok", appId: "wx_ok", appSecret: SECRETS.otherAppSecret },
      { id: "gh_cl", appId: "wx_cl", appSecret: SECRETS.appSecret, tokenApi: "classic" },
    ]),
    REDIS_URL: redis.url,
    WECHAT_API_BASE: sim.url,
    KEY_PREFIX: freshPrefix(),
    FORCE_REFRESH_PER_DAY: "5",
  });
}

void test("token requests are counted per account and result, every configured account exported from the start", async () => {
  const b = broker();
  try {
    const before = await b.core.metrics.text();
    assert.equal(value(before, 'wtb_account_token_requests_total{account="gh_cl",result="hit"}'), 0);
    await b.core.service.getToken("gh_ok"); // miss: fetched
    for (let i = 0; i < 3; i++) await b.core.service.getToken("gh_ok"); // hits
    const text = await b.core.metrics.text();
    assert.equal(value(text, 'wtb_account_token_requests_total{account="gh_ok",result="miss"}'), 1);
    assert.equal(value(text, 'wtb_account_token_requests_total{account="gh_ok",result="hit"}'), 3);
    assert.equal(value(text, 'wtb_account_token_requests_total{account="gh_cl",result="hit"}'), 0);
    assert.equal(value(text, 'wtb_token_requests_total{result="hit"}'), 3, "the all-accounts counter is unchanged");
  } finally {
    await b.close();
  }
});

void test("the force_refresh budget left counts down from FORCE_REFRESH_PER_DAY as any replica takes one, for stable accounts only", async () => {
  const b = broker();
  const registry = new Registry();
  registerOpsGauges(registry, {
    store: b.core.store,
    locks: b.locks,
    accounts: b.config.accounts,
    forcePerDay: b.config.forceRefreshPerDay,
    snapshotTtlMs: 0,
    lockScanIntervalMs: 0,
  });
  try {
    assert.equal(value(await registry.metrics(), 'wtb_force_refresh_budget_left{account="gh_ok"}'), 5);
    const now = Date.now();
    for (let i = 0; i < 2; i++) {
      const r = await b.core.store.takeForceBudget("gh_ok", now + i, quotaDay(now), { perDay: 5, minIntervalMs: 0 });
      assert.equal(r.ok, true);
    }
    const text = await registry.metrics();
    assert.equal(value(text, 'wtb_force_refresh_budget_left{account="gh_ok"}'), 3);
    assert.doesNotMatch(text, /wtb_force_refresh_budget_left\{account="gh_cl"/, "classic tokens have no force refresh");
  } finally {
    await b.close();
  }
});

void test("the latency of token requests is recorded per account on the canonical route", async () => {
  const hb = await httpBroker({
    accounts: [account("gh_lat", "wx_ok", SECRETS.otherAppSecret), account("gh_idle", "wx_cl", SECRETS.appSecret, "classic")],
    wechatApiBase: sim.url,
  });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await request(hb.app).get("/api/accounts/gh_lat/token")).status, 200);
    const text = await hb.metrics.text();
    assert.equal(value(text, 'wtb_account_token_request_duration_seconds_count{account="gh_lat"}'), 3);
    assert.ok((value(text, 'wtb_account_token_request_duration_seconds_sum{account="gh_lat"}') ?? 0) > 0);
    assert.equal(
      value(text, 'wtb_account_token_request_duration_seconds_count{account="gh_idle"}'),
      0,
      "every configured account exported from the start",
    );
  } finally {
    await hb.close();
  }
});
