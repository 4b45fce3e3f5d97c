// WeChat refusing: the caller gets a documented 503 that tells a person exactly what to do (40164: which IP to
// whitelist), with Retry-After, and the broker stops calling WeChat for the cool-down. Both stores.
import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import type { SimAppConfig } from "../../src/simulator/types";
import { account } from "../helpers/brokers";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { assertError, httpBroker, type HttpBroker } from "./support";

const CALLER_IP = "1.92.157.200";
const WHITELISTED: SimAppConfig = {
  appId: "wx_ip_stable",
  secret: "ip-stable-secret-55",
  ipWhitelist: ["198.51.100.7"],
  callerIp: CALLER_IP,
};
const WHITELISTED_CLASSIC: SimAppConfig = {
  appId: "wx_ip_classic",
  secret: "ip-classic-secret-66",
  ipWhitelist: ["198.51.100.0/24"],
  callerIp: CALLER_IP,
};
const accounts = [
  account("gh_ip", WHITELISTED.appId, WHITELISTED.secret, "stable"),
  account("gh_ip_classic", WHITELISTED_CLASSIC.appId, WHITELISTED_CLASSIC.secret, "classic"),
];

const { redis, sim } = useRedisAndSimulator([WHITELISTED, WHITELISTED_CLASSIC], { resetEachTest: true });

const tokenCalls = (appId: string) => {
  const c = sim.admin.counters(appId).calls;
  return c.token + c.stable_token;
};

for (const mode of ["embedded", "redis"] as const) {
  void describe(`an egress IP outside the account's whitelist, with the ${mode} store`, () => {
    let hb: HttpBroker;
    beforeEach(async () => {
      hb = await httpBroker({ accounts, wechatApiBase: sim.url, redisUrl: mode === "redis" ? redis.url : undefined });
    });
    afterEach(() => hb.close());

    for (const [accountId, appId] of [
      ["gh_ip", WHITELISTED.appId],
      ["gh_ip_classic", WHITELISTED_CLASSIC.appId],
    ] as const) {
      void test(`${accountId}: the token request is a 503 upstream_error with errcode 40164, the IP to whitelist and bilingual hints`, async () => {
        const res = await request(hb.app).get(`/api/accounts/${accountId}/token`);
        assertError(res, 503, "upstream_error");
        const e = res.body.error as Record<string, unknown>;
        assert.equal(e.errcode, 40164);
        assert.equal(e.errclass, "config");
        assert.equal(e.ip, CALLER_IP);
        assert.equal(e.accountId, accountId);
        assert.equal(e.breakerOpen, false);
        assert.match(String(e.hint), new RegExp(CALLER_IP.replace(/\./g, "\\.")), "the English hint names the IP");
        assert.match(String(e.hint), /whitelist/i);
        assert.match(String(e.hintZh), new RegExp(CALLER_IP.replace(/\./g, "\\.")), "the Chinese hint names the IP");
        assert.match(String(e.hintZh), /白名单/);
        assert.match(String(e.message), new RegExp(appId), "the message names the AppID");
        assert.equal(typeof e.rid, "string");
        assert.ok(Number.isInteger(e.retryAfter) && (e.retryAfter as number) >= 1);
        assert.equal(res.headers["retry-after"], String(e.retryAfter), "Retry-After header equals error.retryAfter");
        assert.equal(tokenCalls(appId), 1, "a configuration error is not retried");
      });
    }

    void test("while the cool-down lasts, callers get the same answer with breakerOpen and WeChat is not called again", async () => {
      const first = await request(hb.app).get("/api/accounts/gh_ip/token");
      assertError(first, 503, "upstream_error");
      for (const res of [await request(hb.app).get("/api/accounts/gh_ip/token"), await request(hb.app).get("/api/token?accountId=gh_ip")]) {
        assertError(res, 503, "upstream_error");
        assert.equal(res.body.error.errcode, 40164);
        assert.equal(res.body.error.ip, CALLER_IP);
        assert.equal(res.body.error.breakerOpen, true);
        assert.ok(Number(res.headers["retry-after"]) >= 1);
        assert.ok(Number(res.headers["retry-after"]) <= Number(first.headers["retry-after"]), "the wait only shrinks");
      }
      assert.equal(tokenCalls(WHITELISTED.appId), 1);
    });

    void test("invalidate during the cool-down is the same documented 503, not a 500", async () => {
      await request(hb.app).get("/api/accounts/gh_ip/token");
      const res = await request(hb.app).post("/api/accounts/gh_ip/token/invalidate").send({ accessToken: "86_old", errcode: 40001 });
      assertError(res, 503, "upstream_error");
      assert.equal(res.body.error.errcode, 40164);
      assert.equal(tokenCalls(WHITELISTED.appId), 1);
    });
  });
}
