// POST /cgi-bin/stable_token: same token while valid, rotation in the last overlapSec, force refresh budget,
// per-minute and per-day limits, and independence from the classic chain.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock, classic, mpErrmsg, stable, stableBody, startSim, tokenOf } from "./simHelpers";

const APP = { appId: "wx_stable_app_0001", secret: "s3cret-stable-app-0001" };
const normal = stableBody(APP.appId, APP.secret);
const force = stableBody(APP.appId, APP.secret, true);

void test("normal mode returns the same token with a decreasing expires_in while more than 300 s remain", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [APP], clock);
  const first = await stable(sim, normal);
  assert.deepEqual(Object.keys(first).sort(), ["access_token", "expires_in"]);
  assert.equal(first.expires_in, 7200);
  clock.advance(1000);
  const again = await stable(sim, { ...normal, force_refresh: false });
  assert.equal(again.access_token, first.access_token);
  assert.equal(again.expires_in, 6200);
  clock.advance(5899);
  const last = await stable(sim, normal);
  assert.equal(last.access_token, first.access_token);
  assert.equal(last.expires_in, 301);
  assert.equal(sim.admin.counters(APP.appId).tokensIssued, 1, "returning the current token issues none");
});

void test("within the last 300 s a normal call issues a new token and the old one stays valid until its own expiry", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [APP], clock);
  const a = tokenOf(await stable(sim, normal));
  clock.advance(6900);
  const rotated = await stable(sim, normal);
  const b = tokenOf(rotated);
  assert.notEqual(b, a);
  assert.equal(rotated.expires_in, 7200);
  clock.advance(299);
  assert.equal(sim.admin.checkToken(a).valid, true, "the old token lives to its own expiry");
  assert.equal(tokenOf(await stable(sim, normal)), b);
  clock.advance(1);
  assert.deepEqual(sim.admin.checkToken(a), { valid: false, reason: "expired", appId: APP.appId });
  assert.equal(sim.admin.checkToken(b).valid, true);
});

void test("a normal call after the token expired issues a new one", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [{ ...APP, tokenLifetimeSec: 1000, overlapSec: 0 }], clock);
  const a = tokenOf(await stable(sim, normal));
  clock.advance(999);
  assert.equal(tokenOf(await stable(sim, normal)), a, "overlapSec 0: the same token to the last second");
  clock.advance(1);
  assert.notEqual(tokenOf(await stable(sim, normal)), a);
});

void test("force_refresh issues a new token, keeps the previous one 300 s, and a second one 30 s later kills the first at once", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [APP], clock);
  const a = tokenOf(await stable(sim, normal));
  clock.advance(10);
  const b = tokenOf(await stable(sim, force));
  assert.notEqual(b, a);
  assert.equal(sim.admin.checkToken(a).valid, true, "the previous token gets the overlap");
  clock.advance(30);
  const c = tokenOf(await stable(sim, force));
  assert.notEqual(c, b);
  assert.deepEqual(sim.admin.checkToken(a), { valid: false, reason: "superseded", appId: APP.appId });
  clock.advance(299);
  assert.equal(sim.admin.checkToken(b).valid, true);
  clock.advance(1);
  assert.deepEqual(sim.admin.checkToken(b), { valid: false, reason: "superseded", appId: APP.appId });
  assert.equal(sim.admin.counters(APP.appId).forceRefreshes, 2);
});

void test("force refreshes less than 30 s apart return the current token unchanged and are not counted", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [APP], clock);
  const b = tokenOf(await stable(sim, force));
  clock.advance(29);
  const tooSoon = await stable(sim, force);
  assert.equal(tooSoon.errcode, undefined);
  assert.equal(tooSoon.access_token, b);
  assert.equal(tooSoon.expires_in, 7171);
  assert.equal(sim.admin.counters(APP.appId).forceRefreshes, 1);
  clock.advance(1);
  assert.notEqual(tokenOf(await stable(sim, force)), b);
  assert.equal(sim.admin.counters(APP.appId).forceRefreshes, 2);
});

void test("the 21st force refresh of a Beijing day answers 45009, normal calls still work, and the budget returns the next day", async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 2, 10, 4, 0, 0));
  const sim = await startSim(t, [APP], clock);
  let current = "";
  for (let i = 0; i < 20; i++) {
    const next = tokenOf(await stable(sim, force));
    assert.notEqual(next, current);
    current = next;
    clock.advance(30);
  }
  const refused = await stable(sim, force);
  assert.equal(refused.errcode, 45009);
  assert.match(String(refused.errmsg), mpErrmsg("reach max api daily quota limit"));
  assert.equal(tokenOf(await stable(sim, normal)), current);
  clock.set(Date.UTC(2026, 2, 10, 16, 0, 0));
  assert.notEqual(tokenOf(await stable(sim, force)), current);
  assert.equal(sim.admin.counters(APP.appId).forceRefreshes, 21);
});

void test("forcePerDay and forceMinIntervalSec are configurable", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [{ ...APP, forcePerDay: 1, forceMinIntervalSec: 0 }], clock);
  const a = tokenOf(await stable(sim, force));
  assert.equal((await stable(sim, force)).errcode, 45009);
  assert.equal(sim.admin.checkToken(a).valid, true);
});

void test("the stable chain and the classic chain never invalidate each other", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [APP], clock);
  const s = tokenOf(await stable(sim, normal));
  const c1 = tokenOf(await classic(sim, APP.appId, APP.secret));
  for (let i = 0; i < 3; i++) tokenOf(await classic(sim, APP.appId, APP.secret));
  assert.equal(sim.admin.checkToken(s).valid, true, "classic fetches leave the stable token alone");
  assert.equal(tokenOf(await stable(sim, normal)), s);
  assert.equal(sim.admin.checkToken(c1).valid, false, "the classic chain itself did rotate");
  const c = tokenOf(await classic(sim, APP.appId, APP.secret));
  tokenOf(await stable(sim, force));
  clock.advance(30);
  tokenOf(await stable(sim, force));
  assert.equal(sim.admin.checkToken(s).valid, false, "the stable chain did rotate");
  assert.equal(sim.admin.checkToken(c).valid, true, "stable force refreshes leave the classic token alone");
});

void test("more than stablePerMinute calls in one minute answer 45011 until the next minute", async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 2, 10, 2, 0, 10));
  const sim = await startSim(t, [{ ...APP, stablePerMinute: 3 }], clock);
  for (let i = 0; i < 3; i++) tokenOf(await stable(sim, normal));
  const limited = await stable(sim, normal);
  assert.equal(limited.errcode, 45011);
  assert.match(String(limited.errmsg), mpErrmsg("api minute-quota reach limit mustslower retry next minute"));
  clock.set(Date.UTC(2026, 2, 10, 2, 0, 59));
  assert.equal((await stable(sim, normal)).errcode, 45011);
  clock.set(Date.UTC(2026, 2, 10, 2, 1, 0));
  tokenOf(await stable(sim, normal));
});

void test("more than stablePerDay calls in a Beijing day answer 45009", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [{ ...APP, stablePerDay: 2 }], clock);
  tokenOf(await stable(sim, normal));
  tokenOf(await stable(sim, normal));
  assert.equal((await stable(sim, normal)).errcode, 45009);
  clock.set(Date.UTC(2026, 2, 10, 16, 0, 0));
  tokenOf(await stable(sim, normal));
});

void test("stable_token refuses other methods with 43002, and a non-JSON body or a missing appid with 41002", async (t) => {
  const sim = await startSim(t, [APP]);
  const get = await stable(sim, normal, "GET");
  assert.equal(get.errcode, 43002);
  assert.match(String(get.errmsg), mpErrmsg("require POST method"));
  const notJson = await stable(sim, `grant_type=client_credential&appid=${APP.appId}&secret=${APP.secret}`);
  assert.equal(notJson.errcode, 41002);
  assert.match(String(notJson.errmsg), mpErrmsg("appid missing"));
  assert.equal((await stable(sim, "[1,2]")).errcode, 41002);
  assert.equal((await stable(sim, { grant_type: "client_credential", secret: APP.secret })).errcode, 41002);
  assert.equal((await stable(sim, { grant_type: "client_credential", appid: 123, secret: APP.secret })).errcode, 41002);
});

void test("stable_token validates like /cgi-bin/token: 41004, 40002, 40013, 40164, 89503, 40125", async (t) => {
  const sim = await startSim(t, [
    APP,
    { appId: "wx_stable_walled", secret: "x-secret", callerIp: "198.51.100.7", ipWhitelist: ["203.0.113.10"] },
  ]);
  assert.equal((await stable(sim, { grant_type: "client_credential", appid: APP.appId })).errcode, 41004);
  assert.equal((await stable(sim, { grant_type: "authorization_code", appid: APP.appId, secret: APP.secret })).errcode, 40002);
  assert.equal((await stable(sim, stableBody("wx_nobody", APP.secret))).errcode, 40013);
  const walled = await stable(sim, stableBody("wx_stable_walled", "x-secret"));
  assert.equal(walled.errcode, 40164);
  assert.match(String(walled.errmsg), mpErrmsg("invalid ip 198.51.100.7 ipv6 ::ffff:198.51.100.7, not in whitelist"));
  sim.admin.patchApp(APP.appId, { adminConfirm: "required" });
  assert.equal((await stable(sim, normal)).errcode, 89503);
  sim.admin.patchApp(APP.appId, { adminConfirm: "none" });
  const bad = await stable(sim, stableBody(APP.appId, "wrong"));
  assert.equal(bad.errcode, 40125);
  assert.match(String(bad.errmsg), mpErrmsg("invalid appsecret"));
  assert.equal(sim.admin.counters(APP.appId).tokensIssued, 0);
});
