// WeCom under /wecom: gettoken shapes and errors in WeCom's errmsg format, and its probe with the trusted-IP check.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock, T0, classic, getJson, mpErrmsg, startSim, tokenOf, wecomErrmsg, wecomProbe, wecomToken } from "./simHelpers";

const CORP = { appId: "ww_corp_0001", secret: "corp-secret-0001-abcdef", platform: "wecom" as const, callerIp: "198.51.100.20" };
const OTHER_CORP = { appId: "ww_corp_0002", secret: "corp-secret-0002-abcdef", platform: "wecom" as const };

void test("gettoken answers errcode 0 with the same token and a decreasing expires_in while it is valid", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [CORP], clock);
  const first = await wecomToken(sim, CORP.appId, CORP.secret);
  assert.deepEqual(Object.keys(first).sort(), ["access_token", "errcode", "errmsg", "expires_in"]);
  assert.equal(first.errcode, 0);
  assert.equal(first.errmsg, "ok");
  assert.equal(first.expires_in, 7200);
  const token = tokenOf(first);
  assert.ok(token.length >= 128 && !token.includes(CORP.appId) && !token.includes(CORP.secret));
  clock.advance(7199);
  const again = await wecomToken(sim, CORP.appId, CORP.secret);
  assert.equal(again.access_token, token);
  assert.equal(again.expires_in, 1);
  clock.advance(1);
  const renewed = await wecomToken(sim, CORP.appId, CORP.secret);
  assert.notEqual(renewed.access_token, token);
  assert.equal(renewed.expires_in, 7200);
  assert.equal(sim.admin.counters(CORP.appId).tokensIssued, 2);
  assert.equal(sim.admin.counters(CORP.appId).calls.gettoken, 3);
});

void test("gettoken errors use WeCom's format: 41002, 41004, 40013, 40001, 40091", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [CORP, OTHER_CORP], clock);
  const defaultIp = "203.0.113.10";
  const cases: Array<[Record<string, unknown>, number, string, string]> = [
    [await wecomToken(sim, undefined, CORP.secret), 41002, "corpid missing", defaultIp],
    [await wecomToken(sim, CORP.appId, undefined), 41004, "corpsecret missing", CORP.callerIp],
    [await wecomToken(sim, "ww_nobody", CORP.secret), 40013, "invalid corpid", defaultIp],
    [await wecomToken(sim, CORP.appId, "not-the-secret"), 40001, "invalid credential", CORP.callerIp],
  ];
  for (const [body, code, text, ip] of cases) {
    assert.equal(body.errcode, code, JSON.stringify(body));
    assert.match(String(body.errmsg), wecomErrmsg(text, ip, code));
  }
  const foreign = await wecomToken(sim, CORP.appId, OTHER_CORP.secret);
  assert.equal(foreign.errcode, 40091);
  assert.match(String(foreign.errmsg), new RegExp(`, from ip: ${CORP.callerIp.replace(/\./g, "\\.")}, more info at .*\\?e=40091$`));
  const hint = String(foreign.errmsg).match(/hint: \[(\d+)\]/)?.[1] ?? "";
  assert.ok(hint.startsWith(String(Math.floor(T0 / 1000))), `hint ${hint} starts with unix seconds`);
});

void test("a WeChat appid is unknown to WeCom and a corpid is unknown to WeChat", async (t) => {
  const mp = { appId: "wx_mp_0001", secret: "mp-secret-0001" };
  const sim = await startSim(t, [mp, CORP]);
  assert.equal((await wecomToken(sim, mp.appId, mp.secret)).errcode, 40013);
  assert.equal((await classic(sim, CORP.appId, CORP.secret)).errcode, 40013);
  const mpToken = tokenOf(await classic(sim, mp.appId, mp.secret));
  assert.equal((await wecomProbe(sim, mpToken)).errcode, 40014, "WeCom does not know MP tokens");
});

void test("the WeCom probe answers 41001, 40014, 42001, then ip_list with errcode 0", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [{ ...CORP, tokenLifetimeSec: 60 }], clock);
  const missing = await wecomProbe(sim, undefined);
  assert.equal(missing.errcode, 41001);
  assert.match(String(missing.errmsg), wecomErrmsg("access_token missing", "203.0.113.10", 41001));
  assert.equal((await wecomProbe(sim, "garbage")).errcode, 40014);
  const token = tokenOf(await wecomToken(sim, CORP.appId, CORP.secret));
  const ok = await wecomProbe(sim, token);
  assert.equal(ok.errcode, 0);
  assert.equal(ok.errmsg, "ok");
  assert.ok(Array.isArray(ok.ip_list));
  clock.advance(60);
  const expired = await wecomProbe(sim, token);
  assert.equal(expired.errcode, 42001);
  assert.match(String(expired.errmsg), wecomErrmsg("access_token expired", CORP.callerIp, 42001));
});

void test("the WeCom probe answers 60020 when the caller IP is not a trusted IP, while gettoken still works", async (t) => {
  const sim = await startSim(t, [{ ...CORP, ipWhitelist: ["203.0.113.0/24"] }]);
  const token = tokenOf(await wecomToken(sim, CORP.appId, CORP.secret));
  const refused = await wecomProbe(sim, token);
  assert.equal(refused.errcode, 60020);
  assert.match(String(refused.errmsg), wecomErrmsg("not allow to access from your ip", CORP.callerIp, 60020));
  sim.admin.patchApp(CORP.appId, { ipWhitelist: [CORP.callerIp] });
  assert.equal((await wecomProbe(sim, token)).errcode, 0);
});

void test("WeCom answers are JSON and the MP probe keeps MP's format", async (t) => {
  const sim = await startSim(t, [CORP]);
  const res = await getJson(`${sim.wecomUrl}/cgi-bin/gettoken?corpid=${CORP.appId}&corpsecret=${CORP.secret}`);
  assert.match(res.contentType ?? "", /^application\/json/);
  const token = tokenOf(res.body);
  const mpProbe = await getJson(`${sim.url}/cgi-bin/get_api_domain_ip?access_token=${token}`);
  assert.equal(mpProbe.body.errcode, 40014);
  assert.match(String(mpProbe.body.errmsg), mpErrmsg("invalid access_token"));
});
