// The WeChat client over real HTTP against the simulator: every token API, the probe, and every failure path.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WeChatClient } from "../../src/wechat/client";
import { quotaDayEnd } from "../../src/clock";
import { freePort } from "../helpers/ports";
import { T0, mpAccount, rig, upstreamError, wecomAccount } from "./helpers";

const MP = { appId: "wx_client_app_0001", secret: "client-app-secret-0001" };
const CORP = { appId: "ww_client_corp_0001", secret: "client-corp-secret-0001", platform: "wecom" as const };

// ---------- successful fetches ----------

void test("a stable_token fetch returns a live token, and a second normal fetch returns the same one without issuing", async (t) => {
  const { sim, client, clock } = await rig(t, [MP]);
  const acct = mpAccount(MP.appId, MP.secret, "stable");
  const a = await client.fetchToken(acct);
  assert.equal(a.api, "stable");
  assert.equal(a.expiresIn, 7200);
  assert.equal(a.fetchedAt, clock.t);
  assert.equal(sim.admin.checkToken(a.accessToken).valid, true);
  clock.advance(60);
  const b = await client.fetchToken(acct);
  assert.equal(b.accessToken, a.accessToken);
  assert.equal(b.expiresIn, 7140);
  const c = sim.admin.counters(MP.appId);
  assert.equal(c.calls.stable_token, 2);
  assert.equal(c.calls.token, 0, "stable accounts never touch /cgi-bin/token");
  assert.equal(c.tokensIssued, 1);
});

void test("a classic account fetches through GET /cgi-bin/token, and every fetch issues a new token", async (t) => {
  const { sim, client } = await rig(t, [MP]);
  const acct = mpAccount(MP.appId, MP.secret, "classic");
  const a = await client.fetchToken(acct);
  const b = await client.fetchToken(acct, { forceRefresh: true }); // ignored: classic has no force mode
  assert.equal(a.api, "classic");
  assert.notEqual(a.accessToken, b.accessToken);
  const c = sim.admin.counters(MP.appId);
  assert.equal(c.calls.token, 2);
  assert.equal(c.calls.stable_token, 0);
  assert.equal(c.forceRefreshes, 0);
});

void test("a WeCom account fetches through gettoken and accepts WeCom's errcode 0 success body", async (t) => {
  const { sim, client } = await rig(t, [CORP]);
  const tok = await client.fetchToken(wecomAccount(CORP.appId, CORP.secret));
  assert.equal(tok.api, "wecom");
  assert.equal(tok.expiresIn, 7200);
  assert.equal(sim.admin.checkToken(tok.accessToken).valid, true);
  assert.equal(sim.admin.counters(CORP.appId).calls.gettoken, 1);
});

void test("forceRefresh on a stable account issues a new token through force_refresh", async (t) => {
  const { sim, client } = await rig(t, [MP]);
  const acct = mpAccount(MP.appId, MP.secret);
  const a = await client.fetchToken(acct);
  const b = await client.fetchToken(acct, { forceRefresh: true });
  assert.notEqual(b.accessToken, a.accessToken);
  assert.equal(sim.admin.counters(MP.appId).forceRefreshes, 1);
  assert.equal(sim.admin.checkToken(a.accessToken).valid, true, "the old token still has its overlap");
});

// ---------- probe ----------

void test("probing a live token says valid with the number of IPs WeChat listed", async (t) => {
  const { client } = await rig(t, [MP]);
  const acct = mpAccount(MP.appId, MP.secret);
  const tok = await client.fetchToken(acct);
  const r = await client.probe(acct, tok.accessToken);
  assert.deepEqual(r, { valid: true, ipCount: 4 });
});

void test("a token superseded by two force refreshes 30 s apart probes as 40001 token_invalid", async (t) => {
  const { client, clock } = await rig(t, [MP]);
  const acct = mpAccount(MP.appId, MP.secret);
  const old = await client.fetchToken(acct);
  await client.fetchToken(acct, { forceRefresh: true });
  assert.equal((await client.probe(acct, old.accessToken)).valid, true, "one force refresh leaves the overlap");
  clock.advance(30);
  await client.fetchToken(acct, { forceRefresh: true });
  const r = await client.probe(acct, old.accessToken);
  assert.equal(r.valid, false);
  assert.ok(!r.valid);
  assert.equal(r.error.errcode, 40001);
  assert.equal(r.error.errclass, "token_invalid");
  assert.equal(r.error.endpoint, "probe");
  assert.equal(r.error.retryable, true);
  assert.match(r.error.message, /^WeChat rejected the access_token of appid wx_client_app_0001 on get_api_domain_ip: 40001 /);
});

void test("a classic token past its overlap after a newer fetch probes as 40001", async (t) => {
  const { client, clock } = await rig(t, [MP]);
  const acct = mpAccount(MP.appId, MP.secret, "classic");
  const old = await client.fetchToken(acct);
  await client.fetchToken(acct);
  clock.advance(301);
  const r = await client.probe(acct, old.accessToken);
  assert.ok(!r.valid);
  assert.equal(r.error.errcode, 40001);
});

void test("a token past its lifetime probes as 42001 on WeChat and on WeCom", async (t) => {
  const { client, clock } = await rig(t, [
    { ...MP, tokenLifetimeSec: 60 },
    { ...CORP, tokenLifetimeSec: 60 },
  ]);
  const mp = mpAccount(MP.appId, MP.secret, "classic");
  const corp = wecomAccount(CORP.appId, CORP.secret);
  const a = await client.fetchToken(mp);
  const b = await client.fetchToken(corp);
  assert.equal(a.expiresIn, 60);
  clock.advance(61);
  for (const [acct, tok] of [
    [mp, a],
    [corp, b],
  ] as const) {
    const r = await client.probe(acct, tok.accessToken);
    assert.ok(!r.valid, acct.id);
    assert.equal(r.error.errcode, 42001);
    assert.equal(r.error.errclass, "token_invalid");
  }
});

void test("a token WeChat never issued probes as 40014 token_invalid, on both platforms", async (t) => {
  const { client } = await rig(t, [MP, CORP]);
  for (const acct of [mpAccount(MP.appId, MP.secret), wecomAccount(CORP.appId, CORP.secret)]) {
    const r = await client.probe(acct, "12_not-a-token-anyone-issued");
    assert.ok(!r.valid);
    assert.equal(r.error.errcode, 40014);
    assert.equal(r.error.errclass, "token_invalid");
  }
});

void test("a WeCom token probed from an untrusted IP throws 60020 with the IP and a 企业可信IP hint", async (t) => {
  const { client } = await rig(t, [{ ...CORP, callerIp: "1.2.3.4", ipWhitelist: ["10.0.0.0/8"] }]);
  const acct = wecomAccount(CORP.appId, CORP.secret);
  const tok = await client.fetchToken(acct); // gettoken itself does not enforce trusted IPs
  const err = await upstreamError(() => client.probe(acct, tok.accessToken));
  assert.equal(err.errcode, 60020);
  assert.equal(err.errclass, "config");
  assert.equal(err.ip, "1.2.3.4");
  assert.match(err.hint.zh, /企业可信IP/);
  assert.match(err.rid ?? "", /^\d{11,}$/);
});

void test("an empty token probes as 41001 and throws as a bug, because the answer says nothing about a token", async (t) => {
  const { client } = await rig(t, [MP]);
  const err = await upstreamError(() => client.probe(mpAccount(MP.appId, MP.secret), ""));
  assert.equal(err.errcode, 41001);
  assert.equal(err.errclass, "bug");
});

void test("a system error, an HTTP 5xx and a network failure during a probe throw rather than say invalid", async (t) => {
  const { sim, client } = await rig(t, [MP]);
  const acct = mpAccount(MP.appId, MP.secret);
  const tok = await client.fetchToken(acct);
  sim.admin.addFault(MP.appId, { type: "errcode", errcode: -1, endpoints: ["probe"] });
  sim.admin.addFault(MP.appId, { type: "http", status: 503, endpoints: ["probe"] });
  sim.admin.addFault(MP.appId, { type: "reset", endpoints: ["probe"] });
  const kinds = [];
  for (let i = 0; i < 3; i++) {
    const err = await upstreamError(() => client.probe(acct, tok.accessToken));
    assert.equal(err.errclass, "transient");
    kinds.push(err.kind);
  }
  assert.deepEqual(kinds, ["errcode", "http_status", "network"]);
  assert.deepEqual(await client.probe(acct, tok.accessToken), { valid: true, ipCount: 4 });
});

void test("a 301002 on a WeCom probe is a configuration error, not a dead token", async (t) => {
  const { sim, client } = await rig(t, [CORP]);
  const acct = wecomAccount(CORP.appId, CORP.secret);
  const tok = await client.fetchToken(acct);
  sim.admin.addFault(CORP.appId, { type: "errcode", errcode: 301002, endpoints: ["probe"] });
  const err = await upstreamError(() => client.probe(acct, tok.accessToken));
  assert.equal(err.errcode, 301002);
  assert.equal(err.errclass, "config");
});

// ---------- errcodes from token endpoints, as the simulator produces them ----------

interface Case {
  name: string;
  app: Partial<typeof MP> & Record<string, unknown>;
  account?: { appId?: string; secret?: string };
  errcode: number;
  errclass: string;
  retryAfterMs?: number;
  ip?: string;
}

const MP_CASES: Case[] = [
  { name: "an unknown appid", app: {}, account: { appId: "wx_nobody_knows_me" }, errcode: 40013, errclass: "config", retryAfterMs: 60_000 },
  { name: "a wrong secret", app: {}, account: { secret: "wrong-secret-0001" }, errcode: 40125, errclass: "config", retryAfterMs: 60_000 },
  {
    name: "a wrong secret on an old server",
    app: { legacyBadSecret: true },
    account: { secret: "wrong-secret-0001" },
    errcode: 40001,
    errclass: "config",
  },
  {
    name: "a caller outside the whitelist",
    app: { callerIp: "1.92.157.200", ipWhitelist: ["10.0.0.1"] },
    errcode: 40164,
    errclass: "config",
    ip: "1.92.157.200",
  },
  { name: "a frozen AppSecret", app: { secretFrozen: true }, errcode: 40243, errclass: "config" },
  { name: "a component appid", app: { isComponent: true }, errcode: 61024, errclass: "config" },
  {
    name: "an IP the admin rejected once",
    app: { adminConfirm: "rejected_once" },
    errcode: 89507,
    errclass: "admin",
    retryAfterMs: 3_600_000,
  },
  {
    name: "an IP the admin rejected twice",
    app: { adminConfirm: "rejected_twice" },
    errcode: 89506,
    errclass: "admin",
    retryAfterMs: 86_400_000,
  },
  { name: "an IP pending confirmation", app: { adminConfirm: "pending" }, errcode: 89501, errclass: "admin" },
  { name: "an empty secret", app: {}, account: { secret: "" }, errcode: 41004, errclass: "config" },
  { name: "an empty appid", app: {}, account: { appId: "" }, errcode: 41002, errclass: "bug" },
];

for (const tokenApi of ["stable", "classic"] as const) {
  for (const c of MP_CASES) {
    void test(`${c.name} makes the ${tokenApi} fetch throw ${c.errcode} (${c.errclass})`, async (t) => {
      const { client } = await rig(t, [{ ...MP, ...c.app } as typeof MP]);
      const acct = mpAccount(c.account?.appId ?? MP.appId, c.account?.secret ?? MP.secret, tokenApi);
      const err = await upstreamError(() => client.fetchToken(acct));
      assert.equal(err.kind, "errcode");
      assert.equal(err.errcode, c.errcode);
      assert.equal(err.errclass, c.errclass);
      assert.equal(err.endpoint, tokenApi === "stable" ? "stable_token" : "token");
      if (c.retryAfterMs !== undefined) assert.equal(err.retryAfterMs, c.retryAfterMs);
      if (c.errclass === "config" || c.errclass === "admin") assert.equal(err.retryable, false);
      assert.equal(err.ip, c.ip);
      assert.match(err.rid ?? "", /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/);
      assert.match(err.errmsg ?? "", /rid: /);
      assert.ok(err.hint.en.length > 0 && err.hint.zh.length > 0);
      assert.match(err.message, new RegExp(`^WeChat refused the token request for appid ${acct.appId}: ${c.errcode} `));
    });
  }
}

void test("the 40164 message names the appid and the IP to whitelist", async (t) => {
  const { client } = await rig(t, [{ ...MP, callerIp: "1.92.157.200", ipWhitelist: ["10.0.0.1"] }]);
  const err = await upstreamError(() => client.fetchToken(mpAccount(MP.appId, MP.secret)));
  assert.match(
    err.message,
    /^WeChat refused the token request for appid wx_client_app_0001: 40164 IP 1\.92\.157\.200 is not in the IP whitelist \(stable_token, rid [0-9a-f-]{26}\)$/,
  );
  assert.match(err.hint.zh, /将 1\.92\.157\.200 添加到/);
});

void test("the admin-confirmation flow answers 89503 first and then 89501, each with a minutes-long cool-down", async (t) => {
  const { client } = await rig(t, [{ ...MP, adminConfirm: "required" }]);
  const acct = mpAccount(MP.appId, MP.secret);
  const first = await upstreamError(() => client.fetchToken(acct));
  const second = await upstreamError(() => client.fetchToken(acct));
  assert.equal(first.errcode, 89503);
  assert.equal(second.errcode, 89501);
  for (const e of [first, second]) {
    assert.equal(e.errclass, "admin");
    assert.ok((e.retryAfterMs ?? 0) >= 60_000 && (e.retryAfterMs ?? 0) <= 600_000);
  }
});

void test("an exhausted daily quota answers 45009 with a cool-down until 00:00 Beijing time, on classic and stable", async (t) => {
  const { client, clock } = await rig(t, [{ ...MP, dailyQuota: 0, stablePerDay: 0 }]);
  for (const api of ["classic", "stable"] as const) {
    const err = await upstreamError(() => client.fetchToken(mpAccount(MP.appId, MP.secret, api)));
    assert.equal(err.errcode, 45009);
    assert.equal(err.errclass, "quota");
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, quotaDayEnd(clock.t) - clock.t);
    assert.equal(err.retryAfterMs, 14 * 3_600_000, "10:00 Beijing → 14 h");
  }
});

void test("the per-minute stable_token limit answers 45011 with a 60 s cool-down", async (t) => {
  const { client } = await rig(t, [{ ...MP, stablePerMinute: 1 }]);
  const acct = mpAccount(MP.appId, MP.secret);
  await client.fetchToken(acct);
  const err = await upstreamError(() => client.fetchToken(acct));
  assert.equal(err.errcode, 45011);
  assert.equal(err.errclass, "quota");
  assert.equal(err.retryAfterMs, 60_000);
});

void test("WeCom gettoken errors are classified with WeCom's meanings", async (t) => {
  const other = { appId: "ww_other_corp_0002", secret: "other-corp-secret-0002", platform: "wecom" as const };
  const { client } = await rig(t, [CORP, other]);
  const cases: Array<[string, string, number, string]> = [
    [CORP.appId, "wrong-corp-secret", 40001, "config"],
    [CORP.appId, other.secret, 40091, "config"],
    ["ww_unknown_corp", CORP.secret, 40013, "config"],
    ["", CORP.secret, 41002, "config"],
    [CORP.appId, "", 41004, "config"],
  ];
  for (const [corpId, secret, errcode, errclass] of cases) {
    const err = await upstreamError(() => client.fetchToken(wecomAccount(corpId, secret)));
    assert.equal(err.errcode, errcode, `${corpId}/${errcode}`);
    assert.equal(err.errclass, errclass);
    assert.equal(err.endpoint, "gettoken");
    assert.equal(err.ip, "203.0.113.10", "WeCom reports the caller IP in every errmsg");
    assert.match(err.rid ?? "", /^\d{11,}$/);
    assert.match(err.message, new RegExp(`^WeCom refused the token request for corpid ${corpId}: ${errcode} `));
  }
});

void test("injected errcodes -1, 45009, 40002, 42001 and an unknown code are classified by the table", async (t) => {
  const { sim, client, clock } = await rig(t, [MP, CORP]);
  const mp = mpAccount(MP.appId, MP.secret);
  const corp = wecomAccount(CORP.appId, CORP.secret);
  const expect = async (appId: string, acct: typeof mp, errcode: number, errclass: string, retryAfterMs?: number) => {
    sim.admin.addFault(appId, { type: "errcode", errcode });
    const err = await upstreamError(() => client.fetchToken(acct));
    assert.equal(err.errcode, errcode);
    assert.equal(err.errclass, errclass, String(errcode));
    assert.equal(err.retryAfterMs, retryAfterMs, String(errcode));
  };
  await expect(MP.appId, mp, -1, "transient");
  await expect(MP.appId, mp, 40002, "bug", 60_000);
  await expect(MP.appId, mp, 42001, "transient");
  await expect(MP.appId, mp, 98765, "transient", 60_000);
  await expect(CORP.appId, corp, -1, "transient");
  await expect(CORP.appId, corp, 45009, "quota", 60_000);
  await expect(MP.appId, mp, 45009, "quota", quotaDayEnd(clock.t) - clock.t);
  // One call = one request: the client never retried any of them.
  assert.equal(sim.admin.counters(MP.appId).calls.stable_token, 5);
  assert.equal(sim.admin.counters(CORP.appId).calls.gettoken, 2);
});

void test("an errcode 0 answer without a token is a bad body, not a success", async (t) => {
  const { sim, client } = await rig(t, [MP]);
  sim.admin.addFault(MP.appId, { type: "errcode", errcode: 0, errmsg: "ok" });
  const err = await upstreamError(() => client.fetchToken(mpAccount(MP.appId, MP.secret)));
  assert.equal(err.kind, "bad_body");
  assert.equal(err.errclass, "transient");
  assert.match(err.message, /access_token is missing or empty; expires_in is not a positive number/);
});

// ---------- transport failures ----------

void test("HTTP 502 and 503 are transient http_status errors; a 404 or an unfollowed 302 is configuration", async (t) => {
  const { sim, client } = await rig(t, [MP]);
  const acct = mpAccount(MP.appId, MP.secret, "classic");
  for (const [status, errclass] of [
    [502, "transient"],
    [503, "transient"],
    [404, "config"],
    [302, "config"],
  ] as const) {
    sim.admin.addFault(MP.appId, { type: "http", status });
    const err = await upstreamError(() => client.fetchToken(acct));
    assert.equal(err.kind, "http_status");
    assert.equal(err.httpStatus, status);
    assert.equal(err.errclass, errclass, String(status));
    assert.equal(err.message, `WeChat answered HTTP ${status} for appid ${MP.appId} (GET ${sim.url}/cgi-bin/token)`);
  }
  assert.equal(sim.admin.counters(MP.appId).calls.token, 4);
});

void test("a server that never answers times out after timeoutMs as a transient timeout", async (t) => {
  const { sim, client } = await rig(t, [MP], { timeoutMs: 300 });
  sim.admin.addFault(MP.appId, { type: "timeout" });
  const err = await upstreamError(() => client.fetchToken(mpAccount(MP.appId, MP.secret)));
  assert.equal(err.kind, "timeout");
  assert.equal(err.errclass, "transient");
  assert.equal(err.retryable, true);
  assert.match(
    err.message,
    /^WeChat did not answer in time for appid wx_client_app_0001 \(POST http:\/\/127\.0\.0\.1:\d+\/cgi-bin\/stable_token\): no answer within 300 ms$/,
  );
  // The next call works: the held socket was abandoned, not reused.
  assert.equal(typeof (await client.fetchToken(mpAccount(MP.appId, MP.secret))).accessToken, "string");
});

void test("an HTML body with status 200 is a non-JSON bad_body error", async (t) => {
  const { sim, client } = await rig(t, [CORP]);
  sim.admin.addFault(CORP.appId, { type: "non_json" });
  const err = await upstreamError(() => client.fetchToken(wecomAccount(CORP.appId, CORP.secret)));
  assert.equal(err.kind, "bad_body");
  assert.equal(err.errclass, "transient");
  assert.match(
    err.message,
    /^WeCom answered with a body that is not JSON for corpid ww_client_corp_0001 \(GET .*\/wecom\/cgi-bin\/gettoken\): text\/html, \d+ bytes$/,
  );
});

void test("a socket reset is a transient network error naming ECONNRESET", async (t) => {
  const { sim, client } = await rig(t, [MP]);
  sim.admin.addFault(MP.appId, { type: "reset" });
  const err = await upstreamError(() => client.fetchToken(mpAccount(MP.appId, MP.secret)));
  assert.equal(err.kind, "network");
  assert.equal(err.errclass, "transient");
  assert.match(err.message, /ECONNRESET/);
});

void test("a closed port is a transient network error naming ECONNREFUSED", async (t) => {
  const port = await freePort();
  const client = new WeChatClient({ wechatApiBase: `http://127.0.0.1:${port}`, wecomApiBase: `http://127.0.0.1:${port}/wecom` });
  t.after(() => client.close());
  const err = await upstreamError(() => client.fetchToken(mpAccount(MP.appId, MP.secret, "classic")));
  assert.equal(err.kind, "network");
  assert.equal(err.errclass, "transient");
  assert.equal(err.endpoint, "token");
  assert.equal(
    err.message,
    `Could not reach WeChat for appid ${MP.appId} (GET http://127.0.0.1:${port}/cgi-bin/token): connection refused (ECONNREFUSED)`,
  );
  const perr = await upstreamError(() => client.probe(mpAccount(MP.appId, MP.secret), "12_some-token"));
  assert.equal(perr.endpoint, "probe");
  assert.equal(perr.kind, "network");
});

void test("an already aborted signal fails at once without sending anything", async (t) => {
  const { sim, client } = await rig(t, [MP]);
  const ac = new AbortController();
  ac.abort();
  const err = await upstreamError(() => client.fetchToken(mpAccount(MP.appId, MP.secret), { signal: ac.signal }));
  assert.equal(err.kind, "network");
  assert.match(err.message, /was aborted/);
  assert.equal(sim.admin.counters(MP.appId).calls.stable_token, 0);
});

void test("aborting a request in flight fails it as aborted, not as a timeout", async (t) => {
  const { sim, client } = await rig(t, [MP], { timeoutMs: 10_000 });
  sim.admin.addFault(MP.appId, { type: "timeout" });
  const ac = new AbortController();
  const pending = upstreamError(() => client.fetchToken(mpAccount(MP.appId, MP.secret), { signal: ac.signal }));
  setTimeout(() => ac.abort(), 50);
  const err = await pending;
  assert.equal(err.kind, "network");
  assert.equal(err.errclass, "transient");
  assert.match(err.message, /^The request to WeChat for appid wx_client_app_0001 was aborted/);
});

void test("a base URL with a query string or credentials is refused at construction", () => {
  assert.throws(
    () => new WeChatClient({ wechatApiBase: "http://127.0.0.1:1/?x=1", wecomApiBase: "http://127.0.0.1:1" }),
    /query or credentials/,
  );
  assert.throws(
    () => new WeChatClient({ wechatApiBase: "http://u:p@127.0.0.1:1", wecomApiBase: "http://127.0.0.1:1" }),
    /query or credentials/,
  );
  assert.throws(() => new WeChatClient({ wechatApiBase: "ftp://127.0.0.1:1", wecomApiBase: "http://127.0.0.1:1" }), /http/);
  assert.throws(() => new WeChatClient({ wechatApiBase: "not a url", wecomApiBase: "http://127.0.0.1:1" }));
});

void test("the fixed clock of the tests is the one the client reports", () => {
  // Guards the helpers: every expectation above that mentions 14 h relies on T0 being 10:00 Beijing time.
  assert.equal(new Date(T0 + 8 * 3_600_000).toISOString(), "2026-03-10T10:00:00.000Z");
});
