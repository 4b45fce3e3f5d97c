// One broker's behaviour, run twice: embedded (memory store, in-process lock) and as a Redis cluster member.
// Both modes must behave the same for a single replica.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { account, startBroker, type BrokerOptions } from "../helpers/brokers";
import type { SimAppConfig } from "../../src/simulator/types";
import { ForceBudgetError, UnknownAccountError, UpstreamUnavailableError } from "../../src/broker/errors";
import { rogueClassicFetch } from "../helpers/rogue";

let seq = 0;

const STABLE: SimAppConfig = { appId: "wx_s1", secret: "s1-secret" };
const CLASSIC: SimAppConfig = { appId: "wx_c1", secret: "c1-secret" };
const WECOM: SimAppConfig = { appId: "ww_corp1", secret: "corp1-secret", platform: "wecom" };
const accounts = [
  account("stable", "wx_s1", "s1-secret", "stable"),
  account("classic", "wx_c1", "c1-secret", "classic"),
  account("corp", "ww_corp1", "corp1-secret", "stable", "wecom"),
];

const { redis, sim } = useRedisAndSimulator([STABLE, CLASSIC, WECOM], { resetEachTest: true });

const calls = (appId: string) => {
  const c = sim.admin.counters(appId).calls;
  return c.token + c.stable_token + c.gettoken;
};

for (const mode of ["embedded", "redis"] as const) {
  describe(`a single broker (${mode})`, () => {
    const make = (extra: Partial<BrokerOptions> = {}) =>
      startBroker({
        accounts,
        wechatApiBase: sim.url,
        redisUrl: mode === "redis" ? redis.url : undefined,
        keyPrefix: `s${++seq}:`,
        ...extra,
      });

    test("the first request fetches a token; the next ones are served from cache without calling WeChat", async () => {
      const b = await make();
      try {
        const t1 = await b.service.getToken("stable");
        const t2 = await b.service.getToken("stable");
        assert.equal(t1.accessToken, t2.accessToken);
        assert.equal(calls("wx_s1"), 1);
        assert.equal(t1.api, "stable");
        assert.ok(t1.expiresIn > 7000 && t1.expiresIn <= 7200 - 60, `expiresIn ${t1.expiresIn}`);
        assert.equal(b.events.get("token:miss"), 1);
        assert.equal(b.events.get("token:hit"), 1);
      } finally {
        await b.close();
      }
    });

    test("each API is used as configured: stable_token, cgi-bin/token and WeCom gettoken", async () => {
      const b = await make();
      try {
        assert.equal((await b.service.getToken("stable")).api, "stable");
        assert.equal((await b.service.getToken("classic")).api, "classic");
        assert.equal((await b.service.getToken("corp")).api, "wecom");
        assert.equal(sim.admin.counters("wx_s1").calls.stable_token, 1);
        assert.equal(sim.admin.counters("wx_c1").calls.token, 1);
        assert.equal(sim.admin.counters("ww_corp1").calls.gettoken, 1);
      } finally {
        await b.close();
      }
    });

    test("100 concurrent requests on a cold start make one upstream call", async () => {
      const b = await make();
      try {
        const rs = await Promise.all(Array.from({ length: 100 }, () => b.service.getToken("classic")));
        assert.equal(new Set(rs.map((r) => r.accessToken)).size, 1);
        assert.equal(calls("wx_c1"), 1);
      } finally {
        await b.close();
      }
    });

    test("an unknown account is refused without calling WeChat", async () => {
      const b = await make();
      try {
        await assert.rejects(b.service.getToken("nope"), UnknownAccountError);
      } finally {
        await b.close();
      }
    });

    test("a report of the current classic token that WeChat still accepts rotates nothing; once WeChat killed it, one new token; a report of an old one returns the current one", async () => {
      const b = await make();
      try {
        const t1 = await b.service.getToken("classic");
        const wrong = await b.service.invalidate("classic", t1.accessToken);
        assert.deepEqual([wrong.token.accessToken, wrong.refreshed, wrong.reason], [t1.accessToken, false, "still_valid"]);
        assert.equal(calls("wx_c1"), 1, "a probe, no token call");
        await rogueClassicFetch(sim.url, "wx_c1", "c1-secret");
        const t2 = await b.service.invalidate("classic", t1.accessToken);
        assert.notEqual(t2.token.accessToken, t1.accessToken);
        assert.deepEqual([t2.refreshed, t2.reason], [true, "refreshed"]);
        assert.equal(calls("wx_c1"), 1 + 2 + 1);
        const t3 = await b.service.invalidate("classic", t1.accessToken);
        assert.equal(t3.token.accessToken, t2.token.accessToken);
        assert.deepEqual([t3.refreshed, t3.reason], [false, "already_replaced"]);
        assert.equal(calls("wx_c1"), 4);
      } finally {
        await b.close();
      }
    });

    test("a forced sync spends the force budget and a second one within 30 s is refused", async () => {
      const b = await make();
      try {
        const t1 = await b.service.getToken("stable");
        const s = await b.service.sync("stable", { force: true });
        assert.equal(s.refreshed, true);
        assert.notEqual(s.token.accessToken, t1.accessToken);
        assert.equal(sim.admin.counters("wx_s1").forceRefreshes, 1);
        await assert.rejects(
          b.service.sync("stable", { force: true }),
          (e: unknown) => e instanceof ForceBudgetError && e.reason === "too_soon",
        );
        assert.equal(sim.admin.counters("wx_s1").forceRefreshes, 1);
      } finally {
        await b.close();
      }
    });

    test("a sync without force refreshes only when needed", async () => {
      const b = await make();
      try {
        const first = await b.service.sync("stable");
        assert.equal(first.refreshed, true);
        const second = await b.service.sync("stable");
        assert.equal(second.refreshed, false);
        assert.equal(calls("wx_s1"), 1);
      } finally {
        await b.close();
      }
    });

    test("a transient failure is retried inside the refresh and the caller gets a token", async () => {
      sim.admin.addFault("wx_s1", { type: "errcode", errcode: -1, times: 1 });
      sim.admin.addFault("wx_s1", { type: "http", status: 502, times: 1 });
      const b = await make({ options: { retryBaseMs: 20 } });
      try {
        const t = await b.service.getToken("stable");
        assert.equal(sim.admin.checkToken(t.accessToken).valid, true);
        assert.equal(calls("wx_s1"), 3);
      } finally {
        await b.close();
      }
    });

    test("a 40164 opens the breaker: later requests fail fast with the classified error and no upstream call", async () => {
      sim.admin.patchApp("wx_s1", { ipWhitelist: ["10.1.1.1"], callerIp: "1.92.157.200" });
      const b = await make();
      try {
        for (let i = 0; i < 20; i++) {
          await assert.rejects(
            b.service.getToken("stable"),
            (e: unknown) =>
              e instanceof UpstreamUnavailableError && e.errcode === 40164 && e.ip === "1.92.157.200" && e.retryAfterMs > 50_000,
          );
        }
        assert.equal(calls("wx_s1"), 1);
        const { status } = await b.service.inspect("stable");
        assert.equal(status.lastError?.errcode, 40164);
        assert.ok(status.openUntil > Date.now());
      } finally {
        await b.close();
      }
    });

    test("after the operator fixes the whitelist, a sync gets through the open breaker, but not more often than allowed", async () => {
      sim.admin.patchApp("wx_s1", { ipWhitelist: ["10.1.1.1"], callerIp: "1.92.157.200" });
      const b = await make({ options: { manualRetryMinMs: 300 } });
      try {
        await assert.rejects(b.service.getToken("stable"), UpstreamUnavailableError);
        sim.admin.patchApp("wx_s1", { ipWhitelist: [] }); // the operator whitelists the IP
        await assert.rejects(b.service.getToken("stable"), UpstreamUnavailableError, "callers still wait for the breaker");
        await assert.rejects(b.service.sync("stable"), UpstreamUnavailableError, "a sync right after the failure is not let through");
        assert.equal(calls("wx_s1"), 1);
        await new Promise((r) => setTimeout(r, 350));
        const s = await b.service.sync("stable");
        assert.equal(s.refreshed, true);
        assert.equal(calls("wx_s1"), 2);
        const t = await b.service.getToken("stable");
        assert.equal(t.accessToken, s.token.accessToken, "callers are served again: the success closed the breaker");
        assert.equal((await b.service.inspect("stable")).status.openUntil, 0);
      } finally {
        await b.close();
      }
    });

    test("with the breaker open the broker still serves the token it has while WeChat accepts it", async () => {
      const b = await make({ options: { safetyMarginMs: 1000, refetchFloorMs: 1 } });
      try {
        const t = await b.service.getToken("stable");
        sim.admin.addFault("wx_s1", { type: "errcode", errcode: 40164, times: -1 });
        // A forced sync fails at WeChat and opens the breaker; the current token keeps being served.
        await assert.rejects(b.service.sync("stable", { force: true }), UpstreamUnavailableError);
        const again = await b.service.getToken("stable");
        assert.equal(again.accessToken, t.accessToken);
      } finally {
        await b.close();
      }
    });
  });
}
