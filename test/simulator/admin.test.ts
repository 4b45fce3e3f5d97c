// The admin API over HTTP (through SimulatorAdminClient), counters, checkToken, and robustness against bad input.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { SimulatorAdminClient, SimulatorAdminHttpError } from "../../src/simulator/adminClient";
import { SimAdminError } from "../../src/simulator/adminInput";
import { startSimulator } from "../../src/simulator/server";
import { ManualClock, classic, getJson, probe, stable, stableBody, startSim, tokenOf, wecomToken } from "./simHelpers";

const APP = { appId: "wx_admin_app_0001", secret: "s3cret-admin-app-0001" };

async function rejectsWith(p: Promise<unknown>, status: number, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof SimulatorAdminHttpError, String(err));
    assert.equal(err.status, status);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

void test("apps set over HTTP answer the token APIs, and the listing shows their configuration without secrets", async (t) => {
  const sim = await startSim(t);
  const admin = new SimulatorAdminClient(`${sim.url}/`);
  await admin.setApp({ ...APP, dailyQuota: 5 });
  await admin.setApp({ appId: "ww_admin_corp", secret: "corp-admin-secret", platform: "wecom" });
  tokenOf(await classic(sim, APP.appId, APP.secret));
  assert.equal((await wecomToken(sim, "ww_admin_corp", "corp-admin-secret")).errcode, 0);
  const apps = await admin.listApps();
  assert.deepEqual(apps.map((a) => a.appId).sort(), ["ww_admin_corp", APP.appId]);
  const mine = apps.find((a) => a.appId === APP.appId);
  assert.equal(mine?.dailyQuota, 5);
  assert.equal(mine?.tokenLifetimeSec, 7200, "defaults are filled in");
  const raw = await (await fetch(`${sim.url}/__admin/apps`)).text();
  assert.ok(!raw.includes(APP.secret) && !raw.includes("corp-admin-secret") && !raw.includes('"secret"'));
});

void test("patchApp changes configuration and keeps tokens; setApp starts the app afresh", async (t) => {
  const sim = await startSim(t, [APP]);
  const admin = new SimulatorAdminClient(sim.url);
  const token = tokenOf(await classic(sim, APP.appId, APP.secret));
  await admin.patchApp(APP.appId, { secretFrozen: true });
  assert.equal((await classic(sim, APP.appId, APP.secret)).errcode, 40243);
  assert.deepEqual(await admin.checkToken(token), { valid: true, appId: APP.appId });
  assert.equal((await admin.counters(APP.appId)).tokensIssued, 1);
  await admin.setApp(APP);
  tokenOf(await classic(sim, APP.appId, APP.secret));
  assert.deepEqual(await admin.checkToken(token), { valid: false, reason: "unknown" });
  assert.equal((await admin.counters(APP.appId)).calls.token, 1);
});

void test("removeApp makes the appid unknown and its tokens unknown", async (t) => {
  const sim = await startSim(t, [APP]);
  const admin = new SimulatorAdminClient(sim.url);
  const token = tokenOf(await classic(sim, APP.appId, APP.secret));
  await admin.removeApp(APP.appId);
  await admin.removeApp(APP.appId); // idempotent
  assert.equal((await classic(sim, APP.appId, APP.secret)).errcode, 40013);
  assert.equal((await probe(sim, token)).errcode, 40014);
  assert.deepEqual(await admin.checkToken(token), { valid: false, reason: "unknown" });
  await rejectsWith(admin.counters(APP.appId), 404, "not_found");
});

void test("faults can be added and cleared over HTTP", async (t) => {
  const sim = await startSim(t, [APP]);
  const admin = new SimulatorAdminClient(sim.url);
  await admin.addFault(APP.appId, { type: "errcode", errcode: -1, times: -1 });
  assert.equal((await classic(sim, APP.appId, APP.secret)).errcode, -1);
  assert.deepEqual((await admin.listApps())[0]?.faults, [{ type: "errcode", errcode: -1, times: -1 }]);
  await admin.clearFaults(APP.appId);
  tokenOf(await classic(sim, APP.appId, APP.secret));
});

void test("counters count every call per endpoint, failed ones included, and tokens and force refreshes actually made", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [APP], clock);
  const admin = new SimulatorAdminClient(sim.url);
  await classic(sim, APP.appId, "wrong");
  const token = tokenOf(await classic(sim, APP.appId, APP.secret));
  await stable(sim, stableBody(APP.appId, APP.secret));
  await stable(sim, stableBody(APP.appId, APP.secret));
  await stable(sim, stableBody(APP.appId, APP.secret, true));
  await stable(sim, stableBody(APP.appId, APP.secret, true)); // < 30 s: no refresh
  await probe(sim, token);
  assert.deepEqual(await admin.counters(APP.appId), {
    calls: { token: 2, stable_token: 4, gettoken: 0, probe: 1, getticket: 0 },
    tokensIssued: 3,
    forceRefreshes: 1,
  });
  await admin.resetCounters();
  assert.deepEqual(await admin.counters(APP.appId), {
    calls: { token: 0, stable_token: 0, gettoken: 0, probe: 0, getticket: 0 },
    tokensIssued: 0,
    forceRefreshes: 0,
  });
  assert.deepEqual(await admin.checkToken(token), { valid: true, appId: APP.appId }, "resetting counters keeps tokens");
});

void test("checkToken tells valid, unknown, superseded and expired apart", async (t) => {
  const clock = new ManualClock();
  const sim = await startSim(t, [{ ...APP, tokenLifetimeSec: 600 }], clock);
  const admin = new SimulatorAdminClient(sim.url);
  const a = tokenOf(await classic(sim, APP.appId, APP.secret));
  const b = tokenOf(await classic(sim, APP.appId, APP.secret));
  const c = tokenOf(await classic(sim, APP.appId, APP.secret));
  assert.deepEqual(await admin.checkToken(c), { valid: true, appId: APP.appId });
  assert.deepEqual(await admin.checkToken(a), { valid: false, reason: "superseded", appId: APP.appId });
  assert.deepEqual(await admin.checkToken("nope"), { valid: false, reason: "unknown" });
  clock.advance(600);
  assert.deepEqual(await admin.checkToken(c), { valid: false, reason: "expired", appId: APP.appId });
  assert.deepEqual(await admin.checkToken(b), { valid: false, reason: "superseded", appId: APP.appId });
});

void test("bad admin input is refused with 400 and a message naming the field", async (t) => {
  const sim = await startSim(t, [APP]);
  const admin = new SimulatorAdminClient(sim.url);
  await rejectsWith(admin.setApp({ appId: "wx_bad", secret: "" }), 400, "bad_request", /secret/);
  await rejectsWith(admin.setApp({ ...APP, tokenLifetimeSec: -5 }), 400, "bad_request", /tokenLifetimeSec/);
  await rejectsWith(admin.setApp({ ...APP, callerIp: "not-an-ip" }), 400, "bad_request", /callerIp/);
  await rejectsWith(admin.setApp({ ...APP, ipWhitelist: ["1.2.3.4/40"] }), 400, "bad_request", /ipWhitelist/);
  await rejectsWith(admin.setApp({ ...APP, bogus: 1 } as never), 400, "bad_request", /bogus/);
  await rejectsWith(admin.patchApp(APP.appId, { dailyQuota: "many" } as never), 400, "bad_request", /dailyQuota/);
  await rejectsWith(admin.addFault(APP.appId, { type: "errcode" }), 400, "bad_request", /errcode/);
  await rejectsWith(admin.addFault(APP.appId, { type: "explode" } as never), 400, "bad_request", /type/);
  await rejectsWith(admin.addFault(APP.appId, { type: "http", times: 0 }), 400, "bad_request", /times/);
  await rejectsWith(admin.patchApp("wx_missing", { dailyQuota: 1 }), 404, "not_found");
  await rejectsWith(admin.addFault("wx_missing", { type: "reset" }), 404, "not_found");

  const put = await getJson(`${sim.url}/__admin/apps/wx_other`, { method: "PUT", body: JSON.stringify(APP) });
  assert.equal(put.status, 400, "appId in the body must match the path");
  assert.deepEqual(Object.keys(put.body), ["error"]);
  const notJson = await getJson(`${sim.url}/__admin/apps/${APP.appId}`, { method: "PATCH", body: "{oops" });
  assert.equal(notJson.status, 400);
  assert.equal((notJson.body.error as { code: string }).code, "bad_json");
  const check = await getJson(`${sim.url}/__admin/tokens/check`, { method: "POST", body: "{}" });
  assert.equal(check.status, 400);
  const badPath = await getJson(`${sim.url}/__admin/apps/%E0%A4%A/counters`);
  assert.equal(badPath.status, 400);
  assert.equal((await getJson(`${sim.url}/__admin/nothing-here`)).status, 404);
  assert.equal((await getJson(`${sim.url}/__admin/apps`, { method: "POST" })).status, 405);
  assert.deepEqual(
    (await admin.listApps()).map((a) => a.dailyQuota),
    [2000],
    "nothing changed",
  );
});

void test("the in-process admin refuses bad input with SimAdminError", async (t) => {
  const sim = await startSim(t, [APP]);
  assert.throws(
    () => sim.admin.setApp({ appId: "", secret: "x" }),
    (e: unknown) => e instanceof SimAdminError && e.code === "bad_request",
  );
  assert.throws(
    () => sim.admin.counters("wx_missing"),
    (e: unknown) => e instanceof SimAdminError && e.code === "not_found",
  );
  assert.throws(() => sim.admin.patchApp(APP.appId, { appId: "wx_renamed" }), /appId/);
});

void test("startSimulator refuses invalid or duplicate apps", async () => {
  await assert.rejects(startSimulator({ apps: [{ appId: "a1", secret: "s", overlapSec: -1 }] }), /apps\[0\]\.overlapSec/);
  await assert.rejects(startSimulator({ apps: [APP, APP] }), /apps\[1\]\.appId/);
});

void test("malformed requests never crash the simulator", async (t) => {
  const sim = await startSim(t, [APP]);
  const garbage = await new Promise<string>((resolve) => {
    const socket = connect(sim.port, "127.0.0.1", () => socket.write("THIS IS NOT HTTP\r\n\r\n"));
    let data = "";
    socket.on("data", (d: Buffer) => (data += d.toString()));
    socket.on("close", () => resolve(data));
    socket.on("error", () => resolve(data));
  });
  assert.match(garbage, /^HTTP\/1\.1 400/);
  const unknown = await getJson(`${sim.url}/cgi-bin/nope?x=%ZZ`);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.errcode, -1);
  const huge = await getJson(`${sim.url}/cgi-bin/stable_token`, { method: "POST", body: "x".repeat(2 * 1024 * 1024) });
  assert.equal(huge.body.errcode, 41002, "an oversized body is refused like any non-JSON body");
  assert.equal((await getJson(`${sim.url}/cgi-bin/token?appid=%ZZ&secret=${APP.secret}&grant_type=client_credential`)).body.errcode, 40013);
  tokenOf(await classic(sim, APP.appId, APP.secret));
});
