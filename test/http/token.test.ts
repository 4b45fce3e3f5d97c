// The token endpoints over HTTP, with the embedded store and with a real Redis, against the simulator over HTTP.
// Upstream call counts come from the simulator; every answer is checked against openapi.yaml.
import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import type { SimAppConfig } from "../../src/simulator/types";
import { account } from "../helpers/brokers";
import { useRedisAndSimulator } from "../helpers/fixtures";
import type { tokenJson } from "../../src/http/routes/token";
import { documented, httpBroker, type HttpBroker } from "./support";
import { rogueClassicFetch } from "../helpers/rogue";

const LIFETIME_SEC = 7200;
const STABLE: SimAppConfig = { appId: "wx_tok_stable", secret: "tok-stable-secret-9f2", tokenLifetimeSec: LIFETIME_SEC };
const CLASSIC: SimAppConfig = { appId: "wx_tok_classic", secret: "tok-classic-secret-4c1", tokenLifetimeSec: LIFETIME_SEC };
const accounts = [
  account("gh_stable", STABLE.appId, STABLE.secret, "stable"),
  account("gh_classic", CLASSIC.appId, CLASSIC.secret, "classic"),
];

type TokenBody = ReturnType<typeof tokenJson>;

const { redis, sim } = useRedisAndSimulator([STABLE, CLASSIC], { resetEachTest: true });

const calls = (appId: string) => sim.admin.counters(appId).calls;

for (const mode of ["embedded", "redis"] as const) {
  void describe(`the token endpoints with the ${mode} store`, () => {
    let hb: HttpBroker;
    beforeEach(async () => {
      hb = await httpBroker({ accounts, wechatApiBase: sim.url, redisUrl: mode === "redis" ? redis.url : undefined });
    });
    afterEach(() => hb.close());

    const getToken = async (accountId: string): Promise<TokenBody> =>
      documented(await request(hb.app).get(`/api/accounts/${accountId}/token`).expect(200)).body as TokenBody;
    const invalidate = async (accountId: string, accessToken: string, errcode = 40001) =>
      documented(await request(hb.app).post(`/api/accounts/${accountId}/token/invalidate`).send({ accessToken, errcode }));

    void test("both URLs answer the same token WeChat accepts, with the documented shape and Cache-Control: no-store", async () => {
      const byPath = documented(await request(hb.app).get("/api/accounts/gh_stable/token"));
      const byQuery = documented(await request(hb.app).get("/api/token").query({ accountId: "gh_stable" }));
      for (const res of [byPath, byQuery]) {
        assert.equal(res.status, 200);
        assert.equal(res.headers["cache-control"], "no-store");
        assert.match(res.headers["content-type"] ?? "", /^application\/json/);
        assert.equal(res.body.accountId, "gh_stable");
        assert.equal(res.body.api, "stable");
      }
      assert.equal(byQuery.body.accessToken, byPath.body.accessToken);
      assert.equal(sim.admin.checkToken(byPath.body.accessToken as string).valid, true);
      assert.equal(calls(STABLE.appId).stable_token, 1, "the second URL was served from the cache");
    });

    void test("expiresIn of a stable token is at most the lifetime minus the safety margin, and expiresAt agrees with it", async () => {
      const started = Date.now();
      const t = await getToken("gh_stable");
      const marginSec = hb.broker.service.options.safetyMarginMs / 1000;
      assert.ok(t.expiresIn <= LIFETIME_SEC - marginSec, `expiresIn ${t.expiresIn} ≤ ${LIFETIME_SEC - marginSec}`);
      assert.ok(t.expiresIn >= LIFETIME_SEC - marginSec - 5, `a fresh token is good for nearly its whole lifetime (${t.expiresIn})`);
      const expiresAt = Date.parse(t.expiresAt);
      assert.ok(Math.abs(expiresAt - (Date.now() + t.expiresIn * 1000)) < 5000, "expiresAt = now + expiresIn");
      const fetchedAt = Date.parse(t.fetchedAt);
      assert.ok(fetchedAt >= started - 1000 && fetchedAt <= Date.now() + 1000, "fetchedAt is when the broker fetched it");
    });

    void test("expiresIn of a classic token also ends WeChat's overlap after the next planned refresh, minus the margin", async () => {
      const t = await getToken("gh_classic");
      const o = hb.broker.service.options;
      // A classic token dies 300 s after the next fetch, which is planned `classicRefreshAhead` before expiry.
      const bound = (LIFETIME_SEC * 1000 - o.classicRefreshAheadMs + o.overlapMs - o.safetyMarginMs) / 1000;
      assert.equal(t.api, "classic");
      assert.ok(t.expiresIn <= bound, `expiresIn ${t.expiresIn} ≤ ${bound}`);
      assert.ok(t.expiresIn <= LIFETIME_SEC - o.safetyMarginMs / 1000);
      assert.ok(t.expiresIn >= bound - 5, `close to the bound (${t.expiresIn})`);
    });

    void test("reporting the current classic token after another system killed it answers a new token after one probe and one upstream call", async () => {
      const first = await getToken("gh_classic");
      assert.equal(calls(CLASSIC.appId).token, 1);
      await rogueClassicFetch(sim.url, CLASSIC.appId, CLASSIC.secret);
      const res = await invalidate("gh_classic", first.accessToken, 40001);
      assert.equal(res.status, 200);
      assert.equal(res.headers["cache-control"], "no-store");
      const second = res.body as TokenBody & { refreshed: boolean; reason: string };
      assert.notEqual(second.accessToken, first.accessToken);
      assert.deepEqual([second.refreshed, second.reason], [true, "refreshed"]);
      assert.equal(sim.admin.checkToken(second.accessToken).valid, true);
      assert.equal(calls(CLASSIC.appId).token, 1 + 2 + 1);
      assert.equal(calls(CLASSIC.appId).probe, 1);
      // Every later caller gets the new token from the cache.
      assert.equal((await getToken("gh_classic")).accessToken, second.accessToken);
      assert.equal(calls(CLASSIC.appId).token, 4);
    });

    void test("reporting the current classic token while WeChat still accepts it rotates nothing: one probe, the same token, refreshed false", async () => {
      const first = await getToken("gh_classic");
      const res = await invalidate("gh_classic", first.accessToken, 40001);
      assert.equal(res.status, 200);
      assert.deepEqual([res.body.accessToken, res.body.refreshed, res.body.reason], [first.accessToken, false, "still_valid"]);
      assert.equal(calls(CLASSIC.appId).token, 1);
      assert.equal(calls(CLASSIC.appId).probe, 1);
    });

    void test("invalidating a stale token answers the current token without calling WeChat", async () => {
      const first = await getToken("gh_classic");
      await rogueClassicFetch(sim.url, CLASSIC.appId, CLASSIC.secret);
      const current = (await invalidate("gh_classic", first.accessToken)).body as TokenBody;
      assert.equal(calls(CLASSIC.appId).token, 4);
      assert.equal(calls(CLASSIC.appId).probe, 1);

      // A late report of the token already replaced, and a report of a token never issued, cost nothing.
      for (const stale of [first.accessToken, "86_never-issued-by-wechat"]) {
        const res = await invalidate("gh_classic", stale, 42001);
        assert.equal(res.status, 200);
        assert.equal(res.body.accessToken, current.accessToken);
      }
      assert.equal(calls(CLASSIC.appId).token, 4, "no upstream call for stale reports");
      assert.equal(calls(CLASSIC.appId).probe, 1);
    });

    void test("invalidating a stale stable token answers the current one without any upstream call", async () => {
      const current = await getToken("gh_stable");
      const res = await invalidate("gh_stable", "86_an-older-token", 40014);
      assert.equal(res.status, 200);
      assert.equal(res.body.accessToken, current.accessToken);
      const c = sim.admin.counters(STABLE.appId);
      assert.equal(c.calls.stable_token, 1);
      assert.equal(c.calls.probe, 0);
    });

    void test("a report of the current stable token that WeChat still accepts spends no force_refresh", async () => {
      const current = await getToken("gh_stable");
      const res = await invalidate("gh_stable", current.accessToken, 40001);
      assert.equal(res.status, 200);
      assert.equal(res.body.accessToken, current.accessToken, "WeChat still accepts it, so it stays");
      const c = sim.admin.counters(STABLE.appId);
      assert.equal(c.forceRefreshes, 0);
      assert.equal(c.calls.probe, 1, "the broker asked WeChat before spending the budget");
    });
  });
}
