// The simulator's business APIs (issue 13): they check the access_token as WeChat does, a token can be told to be
// rejected once over the admin API, and media uploaded come back byte for byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { SimulatorAdminClient, SimulatorAdminHttpError } from "../../src/simulator/adminClient";
import { ManualClock, classic, mpErrmsg, startSim, tokenOf, wecomToken } from "./simHelpers";

const APP = { appId: "wx_biz_app_0001", secret: "s3cret-biz-app-0001" };
const CORP = { appId: "ww_biz_corp", secret: "corp-biz-secret-01", platform: "wecom" as const };

const get = async (url: string) => (await (await fetch(url)).json()) as Record<string, unknown>;

void test("a business call answers with a valid token, and 41001 / 40014 / 40001 / 42001 as WeChat does otherwise", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [{ ...APP, tokenLifetimeSec: 100, overlapSec: 10 }, CORP], clock);
  const token = tokenOf(await classic(sim, APP.appId, APP.secret));
  const info = (tk: string) => get(`${sim.url}/cgi-bin/user/info?access_token=${encodeURIComponent(tk)}&openid=o1`);
  assert.equal((await info(token)).openid, "o1");
  assert.equal((await get(`${sim.url}/cgi-bin/user/info?openid=o1`)).errcode, 41001);
  assert.equal((await info("made-up")).errcode, 40014);
  const corpToken = (await wecomToken(sim, CORP.appId, CORP.secret)).access_token as string;
  assert.equal((await info(corpToken)).errcode, 40014, "a WeCom token is unknown to the MP host");
  tokenOf(await classic(sim, APP.appId, APP.secret));
  clock.advance(11_000);
  const superseded = await info(token);
  assert.equal(superseded.errcode, 40001);
  assert.match(
    String(superseded.errmsg),
    mpErrmsg(
      "invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r",
    ),
  );
  const fresh = tokenOf(await classic(sim, APP.appId, APP.secret));
  clock.advance(101_000);
  assert.equal((await info(fresh)).errcode, 42001);
  assert.deepEqual(sim.admin.apiCalls(APP.appId).calls, { "/cgi-bin/user/info": 3 }, "calls with a token of the app are counted");
});

void test("tokens/reject rejects the next calls made with a token, then lets them through; the admin API checks its input", async (t) => {
  const sim = await startSim(t, [APP]);
  const admin = new SimulatorAdminClient(sim.url);
  const token = tokenOf(await classic(sim, APP.appId, APP.secret));
  await admin.rejectToken(token, 42001, 2);
  const call = () => get(`${sim.url}/cgi-bin/user/info?access_token=${encodeURIComponent(token)}&openid=o2`);
  assert.equal((await call()).errcode, 42001);
  assert.equal((await call()).errcode, 42001);
  assert.equal((await call()).openid, "o2");
  assert.deepEqual(await admin.apiCalls(APP.appId), { calls: { "/cgi-bin/user/info": 3 }, rejected: 2, uploadBytes: 0 });
  await assert.rejects(admin.rejectToken("", 40001), (e: unknown) => e instanceof SimulatorAdminHttpError && e.status === 400);
  await assert.rejects(admin.rejectToken(token, 40001, 0), (e: unknown) => e instanceof SimulatorAdminHttpError && e.status === 400);
  await admin.resetCounters();
  assert.deepEqual(await admin.apiCalls(APP.appId), { calls: {}, rejected: 0, uploadBytes: 0 });
});

void test("a multipart media upload comes back byte for byte from media/get, with its type; WeCom's under /wecom", async (t) => {
  const sim = await startSim(t, [APP, CORP]);
  for (const [base, token] of [
    [`${sim.url}/cgi-bin`, tokenOf(await classic(sim, APP.appId, APP.secret))],
    [`${sim.url}/wecom/cgi-bin`, (await wecomToken(sim, CORP.appId, CORP.secret)).access_token as string],
  ] as const) {
    const file = randomBytes(3 * 1024 * 1024 + 17);
    const form = new FormData();
    form.append("media", new Blob([file], { type: "image/png" }), "pic.png");
    const up = (await (
      await fetch(`${base}/media/upload?access_token=${encodeURIComponent(token)}&type=image`, { method: "POST", body: form })
    ).json()) as { media_id: string; type: string };
    assert.equal(up.type, "image");
    const down = await fetch(`${base}/media/get?access_token=${encodeURIComponent(token)}&media_id=${up.media_id}`);
    assert.equal(down.headers.get("content-type"), "image/png");
    assert.ok(Buffer.from(await down.arrayBuffer()).equals(file));
    const missing = (await (await fetch(`${base}/media/get?access_token=${encodeURIComponent(token)}&media_id=nope`)).json()) as {
      errcode: number;
    };
    assert.equal(missing.errcode, 40007);
  }
  assert.ok(sim.admin.apiCalls(APP.appId).uploadBytes > 3 * 1024 * 1024);
});
