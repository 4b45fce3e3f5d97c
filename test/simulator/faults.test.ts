// Injected faults: each type, how `times` and `endpoints` apply, latency, and that close() never hangs on a held request.
import { test } from "node:test";
import assert from "node:assert/strict";
import { classic, mpErrmsg, probe, stable, stableBody, startSim, tokenOf, tokenUrl, wecomErrmsg, wecomToken } from "./simHelpers";

const APP = { appId: "wx_fault_app_0001", secret: "s3cret-fault-app-0001" };

void test("an errcode fault answers 200 with that errcode and WeChat's errmsg, once by default", async (t) => {
  const sim = await startSim(t, [APP]);
  sim.admin.addFault(APP.appId, { type: "errcode", errcode: -1 });
  const res = await fetch(tokenUrl(sim, { grant_type: "client_credential", appid: APP.appId, secret: APP.secret }));
  assert.equal(res.status, 200);
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(body.errcode, -1);
  assert.match(String(body.errmsg), mpErrmsg("system error"));
  tokenOf(await classic(sim, APP.appId, APP.secret));
});

void test("an errcode fault fires before validation, and a custom errmsg is sent verbatim", async (t) => {
  const sim = await startSim(t, [APP]);
  sim.admin.addFault(APP.appId, { type: "errcode", errcode: 45011, errmsg: "custom words" });
  assert.deepEqual(await classic(sim, APP.appId, "wrong-secret"), { errcode: 45011, errmsg: "custom words" });
  const minute = await stable(sim, stableBody(APP.appId, APP.secret));
  assert.equal(minute.errcode, undefined, "consumed: the next call is normal");
  sim.admin.addFault(APP.appId, { type: "errcode", errcode: 45011 });
  const body = await classic(sim, APP.appId, APP.secret);
  assert.match(String(body.errmsg), mpErrmsg("api minute-quota reach limit mustslower retry next minute"));
});

void test("times counts the faulty answers and -1 keeps the fault until it is cleared", async (t) => {
  const sim = await startSim(t, [APP]);
  sim.admin.addFault(APP.appId, { type: "errcode", errcode: -1, times: 2 });
  assert.equal((await classic(sim, APP.appId, APP.secret)).errcode, -1);
  assert.equal((await classic(sim, APP.appId, APP.secret)).errcode, -1);
  tokenOf(await classic(sim, APP.appId, APP.secret));
  sim.admin.addFault(APP.appId, { type: "errcode", errcode: 50002, times: -1 });
  for (let i = 0; i < 5; i++) assert.equal((await classic(sim, APP.appId, APP.secret)).errcode, 50002);
  sim.admin.clearFaults(APP.appId);
  tokenOf(await classic(sim, APP.appId, APP.secret));
});

void test("faults apply only to their endpoints, and by default to the token endpoints but not to probes", async (t) => {
  const sim = await startSim(t, [APP]);
  const token = tokenOf(await classic(sim, APP.appId, APP.secret));
  sim.admin.addFault(APP.appId, { type: "errcode", errcode: -1, times: -1 });
  assert.ok(Array.isArray((await probe(sim, token)).ip_list), "default faults leave probes alone");
  assert.equal((await stable(sim, stableBody(APP.appId, APP.secret))).errcode, -1);
  sim.admin.clearFaults(APP.appId);
  sim.admin.addFault(APP.appId, { type: "errcode", errcode: 40001, endpoints: ["probe"] });
  tokenOf(await classic(sim, APP.appId, APP.secret));
  assert.equal((await probe(sim, token)).errcode, 40001);
  sim.admin.addFault(APP.appId, { type: "errcode", errcode: -1, endpoints: ["stable_token"] });
  tokenOf(await classic(sim, APP.appId, APP.secret));
  assert.equal((await stable(sim, stableBody(APP.appId, APP.secret))).errcode, -1);
});

void test("faulty calls are still counted as calls but issue no token", async (t) => {
  const sim = await startSim(t, [APP]);
  sim.admin.addFault(APP.appId, { type: "http", status: 503, times: 2 });
  await fetch(tokenUrl(sim, { grant_type: "client_credential", appid: APP.appId, secret: APP.secret }));
  await fetch(tokenUrl(sim, { grant_type: "client_credential", appid: APP.appId, secret: APP.secret }));
  const c = sim.admin.counters(APP.appId);
  assert.equal(c.calls.token, 2);
  assert.equal(c.tokensIssued, 0);
});

void test("an http fault answers its status with a small HTML body; 502 by default", async (t) => {
  const sim = await startSim(t, [APP]);
  sim.admin.addFault(APP.appId, { type: "http", status: 503 });
  sim.admin.addFault(APP.appId, { type: "http" });
  const url = tokenUrl(sim, { grant_type: "client_credential", appid: APP.appId, secret: APP.secret });
  const first = await fetch(url);
  assert.equal(first.status, 503);
  assert.match(first.headers.get("content-type") ?? "", /^text\/html/);
  assert.match(await first.text(), /<html>[\s\S]*503 Service Unavailable/);
  assert.equal((await fetch(url)).status, 502);
  assert.equal((await fetch(url)).status, 200);
});

void test("a non_json fault answers 200 with an HTML body that is not JSON", async (t) => {
  const sim = await startSim(t, [APP]);
  sim.admin.addFault(APP.appId, { type: "non_json" });
  const res = await fetch(tokenUrl(sim, { grant_type: "client_credential", appid: APP.appId, secret: APP.secret }));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  const text = await res.text();
  assert.throws(() => JSON.parse(text) as unknown);
});

void test("a reset fault destroys the connection and the next call is normal", async (t) => {
  const sim = await startSim(t, [APP]);
  sim.admin.addFault(APP.appId, { type: "reset" });
  const url = tokenUrl(sim, { grant_type: "client_credential", appid: APP.appId, secret: APP.secret });
  await assert.rejects(fetch(url));
  tokenOf(await classic(sim, APP.appId, APP.secret));
});

void test("a timeout fault never answers: the client gives up, and the simulator keeps serving", async (t) => {
  const sim = await startSim(t, [APP]);
  sim.admin.addFault(APP.appId, { type: "timeout" });
  const url = tokenUrl(sim, { grant_type: "client_credential", appid: APP.appId, secret: APP.secret });
  await assert.rejects(fetch(url, { signal: AbortSignal.timeout(150) }), { name: "TimeoutError" });
  tokenOf(await classic(sim, APP.appId, APP.secret));
});

void test("close() ends held requests instead of waiting for them", async (t) => {
  // Registered first so it runs first: if close() ever hangs, aborting the client lets the test end and fail.
  const client = new AbortController();
  t.after(() => client.abort());
  const sim = await startSim(t, [APP]);
  sim.admin.addFault(APP.appId, { type: "timeout", times: -1 });
  const held = fetch(tokenUrl(sim, { grant_type: "client_credential", appid: APP.appId, secret: APP.secret }), { signal: client.signal });
  const outcome = held.then(
    () => "answered",
    () => "failed",
  );
  // Let the request reach the simulator before closing (bounded, so a broken counter fails instead of hanging).
  for (let i = 0; i < 400 && sim.admin.counters(APP.appId).calls.token === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(sim.admin.counters(APP.appId).calls.token, 1, "the held request reached the simulator");
  const closed = await Promise.race([sim.close().then(() => "closed"), new Promise((r) => setTimeout(() => r("still open"), 3000))]);
  assert.equal(closed, "closed");
  assert.equal(await outcome, "failed");
  await assert.rejects(fetch(`${sim.url}/cgi-bin/token`), "the port no longer answers");
});

void test("latencyMs delays every answer of the app, errors included", async (t) => {
  const sim = await startSim(t, [{ ...APP, latencyMs: 300 }]);
  let started = performance.now();
  tokenOf(await classic(sim, APP.appId, APP.secret));
  assert.ok(performance.now() - started >= 290, "a success waits");
  started = performance.now();
  assert.equal((await classic(sim, APP.appId, "wrong")).errcode, 40125);
  assert.ok(performance.now() - started >= 290, "an error waits too");
  sim.admin.patchApp(APP.appId, { latencyMs: 0 });
  started = performance.now();
  tokenOf(await classic(sim, APP.appId, APP.secret));
  assert.ok(performance.now() - started < 290, "back to no delay");
});

void test("errcode faults on WeCom endpoints use WeCom's errmsg format", async (t) => {
  const corp = { appId: "ww_fault_corp", secret: "corp-fault-secret", platform: "wecom" as const };
  const sim = await startSim(t, [corp]);
  sim.admin.addFault(corp.appId, { type: "errcode", errcode: 45009, endpoints: ["gettoken"] });
  const body = await wecomToken(sim, corp.appId, corp.secret);
  assert.equal(body.errcode, 45009);
  assert.match(String(body.errmsg), wecomErrmsg("api freq out of limit", "203.0.113.10", 45009));
  assert.equal((await wecomToken(sim, corp.appId, corp.secret)).errcode, 0);
});
