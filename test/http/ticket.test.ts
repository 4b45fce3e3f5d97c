// The JS-SDK routes over HTTP against the simulator: /ticket and /jssdk-config, their signatures checked against
// the ticket the simulator issued, bad input, key scopes, and a ticket fetch that WeChat answers 40001.
import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import request from "supertest";
import type { SimAppConfig } from "../../src/simulator/types";
import { account } from "../helpers/brokers";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { rogueClassicFetch } from "../helpers/rogue";
import { assertError, documented, httpBroker, type HttpBroker, type TestKey } from "./support";

const MP: SimAppConfig = { appId: "wx_tkt_official", secret: "tkt-official-secret-71a" };
const CORP: SimAppConfig = { appId: "ww_tkt_corp", secret: "tkt-corp-secret-5d2", platform: "wecom" };
const accounts = [account("gh_mp", MP.appId, MP.secret, "classic"), account("corp", CORP.appId, CORP.secret, "classic", "wecom")];

const { redis, sim } = useRedisAndSimulator([MP, CORP], { resetEachTest: true });
const calls = (appId: string) => sim.admin.counters(appId).calls;

function sha1Signature(ticket: string, nonceStr: string, timestamp: number, url: string): string {
  return createHash("sha1").update(`jsapi_ticket=${ticket}&noncestr=${nonceStr}&timestamp=${timestamp}&url=${url}`).digest("hex");
}

const KEYS: TestKey[] = [
  { name: "all", key: "k-all-0123456789abcdef", role: "client", accounts: "*" },
  { name: "signer", key: "k-sign-0123456789abcdef", role: "client", accounts: "*", scopes: ["sign"] },
  { name: "tokens", key: "k-token-0123456789abcdef", role: "client", accounts: "*", scopes: ["token"] },
];
const bearer = (name: string) => `Bearer ${KEYS.find((k) => k.name === name)!.key}`;

void describe("the JS-SDK ticket and signing routes", () => {
  let hb: HttpBroker;
  // A fresh broker (and key prefix) per test: the simulator is reset before each test too.
  beforeEach(async () => {
    hb = await httpBroker({ accounts, wechatApiBase: sim.url, redisUrl: redis.url, keys: KEYS });
  });
  afterEach(() => hb.close());
  const get = (path: string, key = "all") => request(hb.app).get(path).set("Authorization", bearer(key));

  void test("the ticket route answers the ticket the simulator issued, documented, and serves it again from the cache", async () => {
    const a = documented(await get("/api/accounts/gh_mp/ticket?type=jsapi").expect(200));
    assert.equal(a.body.accountId, "gh_mp");
    assert.equal(a.body.type, "jsapi");
    assert.equal(a.body.ticket, sim.admin.currentTicket(MP.appId, "jsapi"));
    assert.ok(a.body.expiresIn > 0 && a.body.expiresIn <= 7200 - 60);
    assert.equal(a.headers["cache-control"], "no-store");
    const b = documented(await get("/api/accounts/gh_mp/ticket?type=jsapi").expect(200));
    assert.equal(b.body.ticket, a.body.ticket);
    const card = documented(await get("/api/accounts/gh_mp/ticket?type=wx_card").expect(200));
    assert.notEqual(card.body.ticket, a.body.ticket);
    assert.equal(calls(MP.appId).getticket, 2, "one getticket per ticket type");
    assert.equal(calls(MP.appId).token, 1, "one token for both");
    assert.ok(!hb.logs.join("\n").includes(a.body.ticket as string), "the ticket never appears in a log line");
  });

  void test("jssdk-config signs the page URL without its fragment, with a fresh nonce each time, verifiably against the simulator's ticket", async () => {
    const page = "https://example.com/shop/item?id=7&from=share";
    const answers = [];
    for (let i = 0; i < 3; i++) {
      answers.push(
        documented(await get(`/api/accounts/gh_mp/jssdk-config?url=${encodeURIComponent(`${page}#section-2`)}`, "signer").expect(200)).body,
      );
    }
    const ticket = sim.admin.currentTicket(MP.appId, "jsapi")!;
    for (const a of answers) {
      assert.equal(a.appId, MP.appId);
      assert.ok(Math.abs(a.timestamp - Date.now() / 1000) < 30);
      assert.equal(a.signature, sha1Signature(ticket, a.nonceStr, a.timestamp, page));
      assert.equal(a.ticket, undefined, "the ticket is not handed out by the signing route");
    }
    assert.equal(new Set(answers.map((a) => a.nonceStr)).size, 3, "a fresh nonce per answer");
    assert.ok(calls(MP.appId).getticket <= 1);
  });

  void test("WeCom signs wx.config with the corp ticket and, asked with agent=true, wx.agentConfig with the app's", async () => {
    const page = "https://work.example.com/app/";
    const a = documented(await get(`/api/accounts/corp/jssdk-config?url=${encodeURIComponent(page)}&agent=true`).expect(200)).body;
    assert.equal(a.appId, CORP.appId);
    assert.equal(a.signature, sha1Signature(sim.admin.currentTicket(CORP.appId, "jsapi")!, a.nonceStr, a.timestamp, page));
    const agent = a.agentConfig;
    assert.equal(
      agent.signature,
      sha1Signature(sim.admin.currentTicket(CORP.appId, "agent_config")!, agent.nonceStr, agent.timestamp, page),
    );
    assert.equal(calls(CORP.appId).getticket, 2);
  });

  void test("bad page URLs are 400 invalid_url with a hint: missing, not http(s), unparsable, too long", async () => {
    for (const q of [
      "",
      "?url=",
      `?url=${encodeURIComponent("ftp://example.com/x")}`,
      `?url=${encodeURIComponent("javascript:alert(1)")}`,
      "?url=not%20a%20url",
      `?url=https://example.com/${"a".repeat(2100)}`,
    ]) {
      const res = await get(`/api/accounts/gh_mp/jssdk-config${q}`);
      assertError(res, 400, "invalid_url");
      assert.ok(typeof res.body.error.hint === "string" && res.body.error.hint.length > 0, `a hint for ${q.slice(0, 40)}`);
    }
    assertError(await get("/api/accounts/gh_mp/jssdk-config?url=https://a.example/&url=https://b.example/"), 400, "invalid_query");
    assert.equal(calls(MP.appId).getticket, 0, "nothing is fetched for a bad request");
  });

  void test("a ticket type the platform does not have, an unknown type, or agent=true on an official account is 400", async () => {
    assertError(await get("/api/accounts/corp/ticket?type=wx_card"), 400, "unsupported_ticket_type");
    assertError(await get("/api/accounts/gh_mp/ticket?type=agent_config"), 400, "unsupported_ticket_type");
    assertError(await get("/api/accounts/gh_mp/ticket?type=nope"), 400, "invalid_ticket_type");
    assertError(await get("/api/accounts/gh_mp/ticket"), 400, "missing_ticket_type");
    assertError(await get("/api/accounts/gh_mp/jssdk-config?url=https://a.example/&agent=true"), 400, "invalid_query");
    assertError(await get("/api/accounts/nobody/ticket?type=jsapi"), 404, "unknown_account");
    assert.equal(calls(MP.appId).getticket + calls(CORP.appId).getticket, 0);
  });

  void test("a sign-only key may sign but not read the ticket nor the token (fast path included); a token-only key may not sign", async () => {
    documented(await get(`/api/accounts/gh_mp/jssdk-config?url=${encodeURIComponent("https://example.com/")}`, "signer").expect(200));
    assertError(await get("/api/accounts/gh_mp/ticket?type=jsapi", "signer"), 403, "forbidden");
    assertError(await get("/api/accounts/gh_mp/token", "signer"), 403, "forbidden");
    assertError(
      await request(hb.app)
        .post("/api/accounts/gh_mp/token/invalidate")
        .set("Authorization", bearer("signer"))
        .send({ accessToken: "x".repeat(20) }),
      403,
      "forbidden",
    );
    assertError(
      await get(`/api/accounts/gh_mp/jssdk-config?url=${encodeURIComponent("https://example.com/")}`, "tokens"),
      403,
      "forbidden",
    );
    documented(await get("/api/accounts/gh_mp/token", "tokens").expect(200));
    documented(await get("/api/accounts/gh_mp/token", "all").expect(200));
  });

  void test("a ticket fetch answered 40001 reports the token, which is refreshed once, and is retried once with the new token", async () => {
    const before = documented(await get("/api/accounts/gh_mp/token").expect(200)).body.accessToken as string;
    await rogueClassicFetch(sim.url, MP.appId, MP.secret); // the broker's token dies at WeChat
    assert.equal(sim.admin.checkToken(before).valid, false);
    const c0 = calls(MP.appId);
    const res = documented(await get("/api/accounts/gh_mp/ticket?type=wx_card").expect(200));
    assert.equal(res.body.ticket, sim.admin.currentTicket(MP.appId, "wx_card"));
    const c1 = calls(MP.appId);
    assert.equal(c1.getticket - c0.getticket, 2, "the rejected call and one retry");
    assert.equal(c1.token - c0.token, 1, "one token refresh");
    assert.equal(c1.probe - c0.probe, 1, "the report was checked before anything rotated");
    const after = documented(await get("/api/accounts/gh_mp/token").expect(200)).body.accessToken as string;
    assert.notEqual(after, before);
    assert.equal(sim.admin.checkToken(after).valid, true);
  });
});
