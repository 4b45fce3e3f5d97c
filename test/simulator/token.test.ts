// GET /cgi-bin/token: success shape, validation order, the 5-minute overlap and the Beijing-day quota.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock, T0, classic, getJson, mpErrmsg, probe, startSim, tokenOf, tokenUrl } from "./simHelpers";

const APP = { appId: "wx_token_app_0001", secret: "s3cret-token-app-0001" };

void test("a successful fetch returns only access_token and expires_in, with a fresh realistic token every time", async (t) => {
  const sim = await startSim(t, [APP]);
  const res = await getJson(tokenUrl(sim, { grant_type: "client_credential", appid: APP.appId, secret: APP.secret }));
  assert.equal(res.status, 200);
  assert.match(res.contentType ?? "", /^application\/json/);
  assert.deepEqual(Object.keys(res.body).sort(), ["access_token", "expires_in"]);
  assert.equal(res.body.expires_in, 7200);
  const first = tokenOf(res.body);
  assert.match(first, /^\d{2}_[A-Za-z0-9_-]+$/);
  assert.ok(first.length >= 130 && first.length <= 160, `length ${first.length}`);
  assert.ok(!first.includes(APP.appId) && !first.includes(APP.secret));
  const second = tokenOf(await classic(sim, APP.appId, APP.secret));
  assert.notEqual(second, first);
});

void test("errors come in WeChat's validation order: 41002, 41004, 40002, 40013, 61024, 40243, 40164, 8950x, 40125, 45009", async (t) => {
  const clock = new ManualClock();
  const broken = {
    appId: "wx_everything_wrong",
    secret: "right-secret-value",
    isComponent: true,
    secretFrozen: true,
    callerIp: "1.92.157.200",
    ipWhitelist: ["203.0.113.0/24"],
    adminConfirm: "rejected_twice" as const,
    dailyQuota: 0,
  };
  const sim = await startSim(t, [broken], clock);
  const call = async (params: Record<string, string | undefined>) => (await getJson(tokenUrl(sim, params))).body;
  const expect = (body: Record<string, unknown>, errcode: number, errmsg: string) => {
    assert.equal(body.errcode, errcode, JSON.stringify(body));
    assert.match(String(body.errmsg), mpErrmsg(errmsg));
  };

  expect(await call({ grant_type: "password" }), 41002, "appid missing");
  expect(await call({ grant_type: "password", appid: broken.appId }), 41004, "appsecret missing");
  expect(await call({ grant_type: "password", appid: broken.appId, secret: "wrong" }), 40002, "invalid grant_type");
  expect(await call({ grant_type: "client_credential", appid: "wx_nobody", secret: "wrong" }), 40013, "invalid appid");
  const wrong = { grant_type: "client_credential", appid: broken.appId, secret: "wrong" };
  expect(await call(wrong), 61024, "must use api(api_component_token) to get token for component acct");
  sim.admin.patchApp(broken.appId, { isComponent: false });
  assert.equal((await call(wrong)).errcode, 40243);
  sim.admin.patchApp(broken.appId, { secretFrozen: false });
  expect(await call(wrong), 40164, "invalid ip 1.92.157.200 ipv6 ::ffff:1.92.157.200, not in whitelist");
  sim.admin.patchApp(broken.appId, { ipWhitelist: ["1.92.157.0/24"] });
  assert.equal((await call(wrong)).errcode, 89506);
  sim.admin.patchApp(broken.appId, { adminConfirm: "rejected_once" });
  assert.equal((await call(wrong)).errcode, 89507);
  sim.admin.patchApp(broken.appId, { adminConfirm: "required" });
  assert.equal((await call(wrong)).errcode, 89503);
  assert.equal((await call(wrong)).errcode, 89501, "after 89503 the IP waits for the admin");
  sim.admin.patchApp(broken.appId, { adminConfirm: "none" });
  expect(await call(wrong), 40125, "invalid appsecret");
  const right = { ...wrong, secret: broken.secret };
  expect(await call(right), 45009, "reach max api daily quota limit");
  sim.admin.patchApp(broken.appId, { dailyQuota: 1 });
  assert.equal(typeof (await call(right)).access_token, "string");
});

void test("codes without a known English errmsg still carry a short text and a rid", async (t) => {
  const sim = await startSim(t, [{ ...APP, secretFrozen: true }]);
  const body = await classic(sim, APP.appId, APP.secret);
  assert.equal(body.errcode, 40243);
  assert.match(String(body.errmsg), /^[a-z][a-z ,.'-]+ rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/);
});

void test("the rid starts with the current unix time in hex, then two random groups", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [APP], clock);
  const a = String((await classic(sim, APP.appId, "wrong")).errmsg);
  clock.advance(1);
  const b = String((await classic(sim, APP.appId, "wrong")).errmsg);
  assert.equal(a.match(/rid: ([0-9a-f]{8})-/)?.[1], Math.floor(T0 / 1000).toString(16));
  assert.equal(b.match(/rid: ([0-9a-f]{8})-/)?.[1], Math.floor(T0 / 1000 + 1).toString(16));
  assert.notEqual(a.slice(-17), b.slice(-17), "the random groups differ");
});

void test("legacyBadSecret makes a wrong secret answer 40001 instead of 40125", async (t) => {
  const sim = await startSim(t, [{ ...APP, legacyBadSecret: true }]);
  const body = await classic(sim, APP.appId, "wrong");
  assert.equal(body.errcode, 40001);
  assert.match(String(body.errmsg), mpErrmsg("invalid credential, access_token is invalid or not latest"));
});

void test("methods other than GET answer 43001", async (t) => {
  const sim = await startSim(t, [APP]);
  const url = tokenUrl(sim, { grant_type: "client_credential", appid: APP.appId, secret: APP.secret });
  const body = (await getJson(url, { method: "POST" })).body;
  assert.equal(body.errcode, 43001);
  assert.match(String(body.errmsg), mpErrmsg("require GET method"));
  assert.equal(sim.admin.counters(APP.appId).tokensIssued, 0);
});

void test("after a new fetch the previous token lives until t+300 s, then 40001; the current one stays valid", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [APP], clock);
  const a = tokenOf(await classic(sim, APP.appId, APP.secret));
  clock.advance(100);
  const b = tokenOf(await classic(sim, APP.appId, APP.secret));
  clock.advance(299);
  assert.deepEqual(sim.admin.checkToken(a), { valid: true, appId: APP.appId });
  assert.ok(Array.isArray((await probe(sim, a)).ip_list));
  clock.advance(1);
  assert.deepEqual(sim.admin.checkToken(a), { valid: false, reason: "superseded", appId: APP.appId });
  assert.equal((await probe(sim, a)).errcode, 40001);
  assert.equal(sim.admin.checkToken(b).valid, true);
});

void test("a third fetch kills the first token at once, however recent it is", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [APP], clock);
  const a = tokenOf(await classic(sim, APP.appId, APP.secret));
  const b = tokenOf(await classic(sim, APP.appId, APP.secret));
  assert.equal(sim.admin.checkToken(a).valid, true, "two fetches: both usable");
  const c = tokenOf(await classic(sim, APP.appId, APP.secret));
  assert.deepEqual(sim.admin.checkToken(a), { valid: false, reason: "superseded", appId: APP.appId });
  assert.equal(sim.admin.checkToken(b).valid, true);
  assert.equal(sim.admin.checkToken(c).valid, true);
});

void test("the previous token's overlap never outlives its own expiry", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [{ ...APP, tokenLifetimeSec: 200 }], clock);
  const a = tokenOf(await classic(sim, APP.appId, APP.secret));
  clock.advance(150);
  tokenOf(await classic(sim, APP.appId, APP.secret));
  clock.advance(49);
  assert.equal(sim.admin.checkToken(a).valid, true);
  clock.advance(1);
  assert.deepEqual(sim.admin.checkToken(a), { valid: false, reason: "expired", appId: APP.appId });
  assert.equal((await probe(sim, a)).errcode, 42001);
});

void test("the daily quota counts only successful issues", async (t) => {
  const sim = await startSim(t, [{ ...APP, dailyQuota: 2 }]);
  for (let i = 0; i < 5; i++) assert.equal((await classic(sim, APP.appId, "wrong")).errcode, 40125);
  tokenOf(await classic(sim, APP.appId, APP.secret));
  tokenOf(await classic(sim, APP.appId, APP.secret));
  const third = await classic(sim, APP.appId, APP.secret);
  assert.equal(third.errcode, 45009);
  assert.match(String(third.errmsg), mpErrmsg("reach max api daily quota limit"));
  assert.equal(sim.admin.counters(APP.appId).tokensIssued, 2);
});

void test("the daily quota resets at midnight Beijing time (16:00 UTC)", async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 2, 10, 15, 0, 0));
  const sim = await startSim(t, [{ ...APP, dailyQuota: 1 }], clock);
  tokenOf(await classic(sim, APP.appId, APP.secret));
  assert.equal((await classic(sim, APP.appId, APP.secret)).errcode, 45009);
  clock.set(Date.UTC(2026, 2, 10, 15, 59, 59));
  assert.equal((await classic(sim, APP.appId, APP.secret)).errcode, 45009);
  clock.set(Date.UTC(2026, 2, 10, 16, 0, 0));
  tokenOf(await classic(sim, APP.appId, APP.secret));
});

void test("the daily quota does not reset at midnight UTC, which is 08:00 in Beijing", async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 2, 10, 16, 30, 0));
  const sim = await startSim(t, [{ ...APP, dailyQuota: 1 }], clock);
  tokenOf(await classic(sim, APP.appId, APP.secret));
  clock.set(Date.UTC(2026, 2, 11, 0, 0, 1));
  assert.equal((await classic(sim, APP.appId, APP.secret)).errcode, 45009);
});
