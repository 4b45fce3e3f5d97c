// Probes (get_api_domain_ip, getcallbackip): how WeChat answers for missing, unknown, superseded, expired and valid tokens.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock, classic, getJson, mpErrmsg, probe, stable, stableBody, startSim, tokenOf } from "./simHelpers";

const APP = { appId: "wx_probe_app_0001", secret: "s3cret-probe-app-0001" };
const OTHER = { appId: "wx_probe_app_0002", secret: "s3cret-probe-app-0002" };

for (const path of ["get_api_domain_ip", "getcallbackip"]) {
  void test(`${path} answers 41001 without a token, 40014 for an unknown one and an ip_list for a valid one`, async (t) => {
    const sim = await startSim(t, [APP]);
    const missing = await probe(sim, undefined, path);
    assert.equal(missing.errcode, 41001);
    assert.match(String(missing.errmsg), mpErrmsg("access_token missing"));
    assert.equal((await probe(sim, "", path)).errcode, 41001, "an empty token is a missing one");
    const unknown = await probe(sim, "12_not-a-token-we-issued", path);
    assert.equal(unknown.errcode, 40014);
    assert.match(String(unknown.errmsg), mpErrmsg("invalid access_token"));
    const token = tokenOf(await classic(sim, APP.appId, APP.secret));
    const ok = await probe(sim, token, path);
    assert.deepEqual(Object.keys(ok), ["ip_list"]);
    assert.ok(Array.isArray(ok.ip_list) && ok.ip_list.length > 0);
  });
}

void test("a superseded token gets 40001 with WeChat's full errmsg and an expired one gets 42001", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [{ ...APP, tokenLifetimeSec: 1000 }], clock);
  const a = tokenOf(await classic(sim, APP.appId, APP.secret));
  tokenOf(await classic(sim, APP.appId, APP.secret));
  const c = tokenOf(await classic(sim, APP.appId, APP.secret));
  const superseded = await probe(sim, a);
  assert.equal(superseded.errcode, 40001);
  assert.match(
    String(superseded.errmsg),
    mpErrmsg(
      "invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r",
    ),
  );
  clock.advance(1000);
  const expired = await probe(sim, c);
  assert.equal(expired.errcode, 42001);
  assert.match(String(expired.errmsg), mpErrmsg("access_token expired"));
  assert.equal((await probe(sim, a)).errcode, 40001, "the cause of death that came first stays the reason");
});

void test("a stable token works on the probes like a classic one", async (t) => {
  const sim = await startSim(t, [APP]);
  const token = tokenOf(await stable(sim, stableBody(APP.appId, APP.secret)));
  assert.ok(Array.isArray((await probe(sim, token)).ip_list));
});

void test("a probe is counted under the app the token belongs to, and probes of unknown tokens under none", async (t) => {
  const sim = await startSim(t, [APP, OTHER]);
  const token = tokenOf(await classic(sim, OTHER.appId, OTHER.secret));
  await probe(sim, token);
  await probe(sim, token, "getcallbackip");
  await probe(sim, "nobody's token");
  await probe(sim, undefined);
  assert.equal(sim.admin.counters(OTHER.appId).calls.probe, 2);
  assert.equal(sim.admin.counters(APP.appId).calls.probe, 0);
});

void test("probes refuse methods other than GET with 43001", async (t) => {
  const sim = await startSim(t, [APP]);
  const token = tokenOf(await classic(sim, APP.appId, APP.secret));
  const res = await getJson(`${sim.url}/cgi-bin/get_api_domain_ip?access_token=${token}`, { method: "POST" });
  assert.equal(res.body.errcode, 43001);
});
