// JS-SDK tickets over real HTTP: the WeChat client's fetchTicket against the simulator's getticket (official
// accounts) and get_jsapi_ticket / ticket/get (WeCom), their token checks, faults and counters.
import { test } from "node:test";
import assert from "node:assert/strict";
import { T0, mpAccount, rig, upstreamError, wecomAccount } from "./helpers";
import { SimulatorAdminClient } from "../../src/simulator/adminClient";

const MP = { appId: "wx_ticket_app_0001", secret: "ticket-app-secret-0001" };
const CORP = { appId: "ww_ticket_corp_0001", secret: "ticket-corp-secret-0001", platform: "wecom" as const };

void test("getticket hands back the same jsapi ticket until it expires, with the remaining lifetime, and a new one after", async (t) => {
  const { sim, client, clock } = await rig(t, [{ ...MP, tokenLifetimeSec: 7200 }]);
  const acct = mpAccount(MP.appId, MP.secret, "stable");
  const token = (await client.fetchToken(acct)).accessToken;
  const a = await client.fetchTicket(acct, "jsapi", token);
  assert.equal(a.api, "ticket");
  assert.equal(a.expiresIn, 7200);
  assert.equal(a.fetchedAt, T0);
  assert.equal(sim.admin.currentTicket(MP.appId, "jsapi"), a.accessToken);
  assert.deepEqual(sim.admin.checkTicket(a.accessToken), { valid: true, appId: MP.appId, type: "jsapi" });
  clock.advance(100);
  const b = await client.fetchTicket(acct, "jsapi", token);
  assert.equal(b.accessToken, a.accessToken);
  assert.equal(b.expiresIn, 7100);
  const card = await client.fetchTicket(acct, "wx_card", token);
  assert.notEqual(card.accessToken, a.accessToken, "each type has its own ticket");
  clock.advance(7100);
  const fresh = (await client.fetchToken(acct)).accessToken;
  const c = await client.fetchTicket(acct, "jsapi", fresh);
  assert.notEqual(c.accessToken, a.accessToken);
  assert.equal(sim.admin.checkTicket(a.accessToken).valid, false);
  assert.equal(sim.admin.counters(MP.appId).calls.getticket, 4);
});

void test("a ticket asked for with a dead token is refused as token_invalid (40001 superseded, 42001 expired), without the token in the message", async (t) => {
  const { sim, client, clock } = await rig(t, [{ ...MP, overlapSec: 0 }]);
  const acct = mpAccount(MP.appId, MP.secret, "classic");
  const old = (await client.fetchToken(acct)).accessToken;
  const cur = (await client.fetchToken(acct)).accessToken; // a new classic token kills the old one at once (overlap 0)
  const e1 = await upstreamError(() => client.fetchTicket(acct, "jsapi", old));
  assert.equal(e1.errcode, 40001);
  assert.equal(e1.errclass, "token_invalid");
  assert.equal(e1.endpoint, "getticket");
  assert.match(e1.message, /jsapi ticket request/);
  assert.ok(!JSON.stringify(e1.toJSON()).includes(old), "the token never appears in the error");
  clock.advance(7201);
  const e2 = await upstreamError(() => client.fetchTicket(acct, "jsapi", cur));
  assert.equal(e2.errcode, 42001);
  assert.equal(e2.errclass, "token_invalid");
  assert.equal(sim.admin.counters(MP.appId).calls.getticket, 2);
});

void test("WeCom serves the corp jsapi ticket and the app's agent_config ticket from their own endpoints", async (t) => {
  const { sim, client } = await rig(t, [CORP]);
  const acct = wecomAccount(CORP.appId, CORP.secret);
  const token = (await client.fetchToken(acct)).accessToken;
  const corp = await client.fetchTicket(acct, "jsapi", token);
  const agent = await client.fetchTicket(acct, "agent_config", token);
  assert.notEqual(corp.accessToken, agent.accessToken);
  assert.equal(sim.admin.currentTicket(CORP.appId, "jsapi"), corp.accessToken);
  assert.equal(sim.admin.currentTicket(CORP.appId, "agent_config"), agent.accessToken);
  assert.equal(sim.admin.counters(CORP.appId).calls.getticket, 2);
});

void test("a fault aimed at getticket fails the ticket call and leaves token calls alone", async (t) => {
  const { sim, client } = await rig(t, [MP]);
  const acct = mpAccount(MP.appId, MP.secret, "stable");
  sim.admin.addFault(MP.appId, { type: "errcode", errcode: -1, endpoints: ["getticket"] });
  const token = (await client.fetchToken(acct)).accessToken;
  const e = await upstreamError(() => client.fetchTicket(acct, "jsapi", token));
  assert.equal(e.errclass, "transient");
  const ok = await client.fetchTicket(acct, "jsapi", token);
  assert.ok(ok.accessToken.length > 20);
});

void test("the simulator's admin API over HTTP shows the current ticket and checks tickets", async (t) => {
  const { sim, client } = await rig(t, [MP]);
  const admin = new SimulatorAdminClient(sim.url);
  const acct = mpAccount(MP.appId, MP.secret, "stable");
  assert.equal(await admin.currentTicket(MP.appId, "jsapi"), undefined, "none before the first getticket");
  const token = (await client.fetchToken(acct)).accessToken;
  const a = await client.fetchTicket(acct, "jsapi", token);
  assert.equal(await admin.currentTicket(MP.appId, "jsapi"), a.accessToken);
  assert.deepEqual(await admin.checkTicket(a.accessToken), { valid: true, appId: MP.appId, type: "jsapi" });
  assert.deepEqual(await admin.checkTicket("never-issued"), { valid: false, reason: "unknown" });
  assert.equal((await admin.counters(MP.appId)).calls.getticket, 1);
});
