// The WeChat-compatible token endpoints (issue 13) of a served broker, against the simulator: WeChat's request
// and answer shapes, the secret or a scoped API key as proof, WeChat-shaped errors with the broker's hint, and
// force_refresh taken as a report (compare-and-refresh), never as a force refresh.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { serveBroker, sample, type ServedBroker } from "./support";
import { assertDocumented } from "../helpers/openapi";

const S = {
  stable: "cmp-stable-secret-7a1c5e90",
  classic: "cmp-classic-secret-3f8b2d14",
  ip: "cmp-ip-secret-9e4a7c21",
  corp: "cmp-corp-secret-2b6d8f03",
};
const KEY = "wtb-cmp-client-key-5c9e1a7b";
const OTHER_KEY = "wtb-cmp-other-key-8d2f4b6a";
const SIGN_KEY = "wtb-cmp-sign-only-key-1f3e5a";
const { redis, sim } = useRedisAndSimulator([
  { appId: "wx_cmp_stable", secret: S.stable },
  { appId: "wx_cmp_classic", secret: S.classic },
  { appId: "wx_cmp_ip", secret: S.ip, ipWhitelist: ["198.51.100.7"], callerIp: "1.92.157.201" },
  { appId: "ww_cmp_corp", secret: S.corp, platform: "wecom" },
]);

let b: ServedBroker;
void describe("the WeChat-compatible token endpoints", () => {
  before(async () => {
    b = await serveBroker({
      REDIS_URL: redis.url,
      KEY_PREFIX: `cmp-${process.pid}:`,
      WECHAT_API_BASE: sim.url,
      WECOM_API_BASE: sim.wecomUrl,
      FOREIGN_PROBE_INTERVAL_SEC: "0",
      ACCOUNTS: JSON.stringify([
        { id: "gh_stable", appId: "wx_cmp_stable", appSecret: S.stable },
        { id: "gh_classic", appId: "wx_cmp_classic", appSecret: S.classic, tokenApi: "classic" },
        { id: "gh_ip", appId: "wx_cmp_ip", appSecret: S.ip },
        { id: "corp", type: "wecom", appId: "ww_cmp_corp", appSecret: S.corp },
      ]),
      API_KEYS: JSON.stringify([
        { name: "svc", key: KEY, role: "client", accounts: ["gh_stable", "gh_classic", "corp"] },
        { name: "other", key: OTHER_KEY, role: "client", accounts: ["gh_ip"] },
        { name: "signer", key: SIGN_KEY, role: "client", accounts: ["*"], scopes: ["sign"] },
      ]),
    });
  });
  after(() => b.close());

  const tokenUrl = (appid: string, secret: string) =>
    `/cgi-bin/token?grant_type=client_credential&appid=${appid}&secret=${encodeURIComponent(secret)}`;
  const nativeToken = async (id: string) =>
    (await request(b.url).get(`/api/accounts/${id}/token`).set("Authorization", `Bearer ${KEY}`)).body.accessToken as string;

  void describe("GET /cgi-bin/token on the broker", () => {
    void test("answers the broker's current token in WeChat's shape, given the account's AppSecret", async () => {
      const res = await request(b.url).get(tokenUrl("wx_cmp_classic", S.classic));
      assertDocumented(res);
      assert.equal(res.status, 200);
      assert.deepEqual(Object.keys(res.body).sort(), ["access_token", "expires_in"]);
      assert.equal(res.body.access_token, await nativeToken("gh_classic"), "the same token as the broker's own API");
      assert.ok(res.body.expires_in > 6000 && res.body.expires_in <= 7200, `expires_in ${res.body.expires_in}`);
      const again = await request(b.url).get(tokenUrl("wx_cmp_classic", S.classic));
      assert.equal(again.body.access_token, res.body.access_token);
      assert.equal(sim.admin.counters("wx_cmp_classic").calls.token, 1, "one upstream fetch for all of them");
    });

    void test("takes an API key allowed for the account in place of the AppSecret, and refuses one that is not", async () => {
      const res = await request(b.url).get(tokenUrl("wx_cmp_stable", KEY));
      assert.equal(res.status, 200);
      assert.equal(res.body.access_token, await nativeToken("gh_stable"));
      const other = await request(b.url).get(tokenUrl("wx_cmp_stable", OTHER_KEY));
      assertDocumented(other);
      assert.equal(other.body.errcode, 40125);
      assert.match(other.body.errmsg, /^invalid appsecret \(broker: /);
    });

    void test("refuses a key without the token scope (a sign-only key never sees a token), and counts the refusal", async () => {
      const before = sample((await request(b.url).get("/metrics")).text, "wtb_auth_failures_total", { reason: "forbidden" });
      const res = await request(b.url).get(tokenUrl("wx_cmp_stable", SIGN_KEY));
      assertDocumented(res);
      assert.equal(res.body.errcode, 40125);
      assert.equal(res.body.access_token, undefined);
      const after = sample((await request(b.url).get("/metrics")).text, "wtb_auth_failures_total", { reason: "forbidden" });
      assert.equal(after, before + 1);
    });

    void test("refuses bad input with the errcodes WeChat uses, and never echoes the secret", async () => {
      const cases: Array<[string, number]> = [
        [tokenUrl("wx_cmp_classic", "wrong-secret-1234"), 40125],
        [tokenUrl("wx_unknown", S.classic), 40013],
        ["/cgi-bin/token?grant_type=client_credential&secret=x", 41002],
        ["/cgi-bin/token?grant_type=client_credential&appid=wx_cmp_classic", 41004],
        [`/cgi-bin/token?grant_type=password&appid=wx_cmp_classic&secret=${S.classic}`, 40002],
      ];
      for (const [url, errcode] of cases) {
        const res = await request(b.url).get(url);
        assertDocumented(res);
        assert.equal(res.status, 200, url);
        assert.equal(res.body.errcode, errcode, `${url}: ${res.text}`);
        assert.equal(typeof res.body.errmsg, "string");
        assert.ok(!res.text.includes(S.classic), "no secret in the answer");
      }
      const post = await request(b.url).post(tokenUrl("wx_cmp_classic", S.classic));
      assert.equal(post.body.errcode, 43001);
    });

    void test("passes WeChat's own refusal through with its errcode and errmsg, and appends the broker's hint", async () => {
      const res = await request(b.url).get(tokenUrl("wx_cmp_ip", S.ip));
      assertDocumented(res);
      assert.equal(res.body.errcode, 40164);
      assert.match(res.body.errmsg, /^invalid ip 1\.92\.157\.201 .*not in whitelist.*\(broker: .*IP.*\/ .*白名单/s);
    });
  });

  void describe("POST /cgi-bin/stable_token on the broker", () => {
    void test("answers the current token for {grant_type, appid, secret}", async () => {
      const res = await request(b.url)
        .post("/cgi-bin/stable_token")
        .send({ grant_type: "client_credential", appid: "wx_cmp_stable", secret: S.stable });
      assertDocumented(res);
      assert.equal(res.body.access_token, await nativeToken("gh_stable"));
      assert.ok(res.body.expires_in > 0);
    });

    void test("reads a body that is not a JSON object as WeChat does (appid missing), and a huge one as a format error", async () => {
      const text = await request(b.url).post("/cgi-bin/stable_token").set("Content-Type", "application/json").send("{not json");
      assert.equal(text.body.errcode, 41002);
      const arr = await request(b.url).post("/cgi-bin/stable_token").send([1, 2]);
      assert.equal(arr.body.errcode, 41002);
      const huge = await request(b.url)
        .post("/cgi-bin/stable_token")
        .set("Content-Type", "application/json")
        .send(`{"appid":"${"x".repeat(40_000)}"}`);
      assert.equal(huge.body.errcode, 47001);
      const force = await request(b.url)
        .post("/cgi-bin/stable_token")
        .send({ grant_type: "client_credential", appid: "wx_cmp_stable", secret: S.stable, force_refresh: "yes" });
      assert.equal(force.body.errcode, 47001);
      const get = await request(b.url).get("/cgi-bin/stable_token");
      assert.equal(get.body.errcode, 43002);
    });

    void test("takes force_refresh as a report: a token WeChat still accepts is kept, and no force refresh is spent", async () => {
      const before = sim.admin.counters("wx_cmp_stable");
      const current = await nativeToken("gh_stable");
      const res = await request(b.url)
        .post("/cgi-bin/stable_token")
        .send({ grant_type: "client_credential", appid: "wx_cmp_stable", secret: S.stable, force_refresh: true });
      assert.equal(res.body.access_token, current, `the same token: WeChat says it works (${res.text})`);
      const after = sim.admin.counters("wx_cmp_stable");
      assert.equal(after.forceRefreshes, before.forceRefreshes, "no force_refresh reached WeChat");
      assert.equal(after.tokensIssued, before.tokensIssued);
      assert.equal(after.calls.probe, before.calls.probe + 1, "the report was checked with one probe");
    });

    void test("replaces a token another system killed, counts it as a foreign rotation, and answers the new one", async () => {
      const current = await nativeToken("gh_stable");
      // A rogue client force-refreshes the AppID twice behind the broker's back: the broker's token dies at once (one
      // force refresh alone leaves it WeChat's grace period, during which a probe rightly finds it working).
      sim.admin.patchApp("wx_cmp_stable", { forceMinIntervalSec: 0 });
      let rogueToken = "";
      for (let i = 0; i < 2; i++) {
        const rogue = await fetch(`${sim.url}/cgi-bin/stable_token`, {
          method: "POST",
          body: JSON.stringify({ grant_type: "client_credential", appid: "wx_cmp_stable", secret: S.stable, force_refresh: true }),
        });
        rogueToken = ((await rogue.json()) as { access_token: string }).access_token;
      }
      assert.notEqual(rogueToken, current);
      const res = await request(b.url)
        .post("/cgi-bin/stable_token")
        .send({ grant_type: "client_credential", appid: "wx_cmp_stable", secret: KEY, force_refresh: true });
      assert.equal(res.status, 200);
      assert.notEqual(res.body.access_token, current, `a new token (${res.text.slice(0, 300)})`);
      assert.equal(sim.admin.checkToken(res.body.access_token as string).valid, true, "one WeChat accepts");
      const metrics = (await request(b.url).get("/metrics")).text;
      assert.equal(sample(metrics, "wtb_foreign_rotations_total", { account: "gh_stable", via: "report" }), 1);
    });
  });

  void describe("GET /wecom/cgi-bin/gettoken on the broker", () => {
    void test("answers WeCom's shape with the broker's token, and 40001 for a wrong corpsecret", async () => {
      const res = await request(b.url).get(`/wecom/cgi-bin/gettoken?corpid=ww_cmp_corp&corpsecret=${S.corp}`);
      assertDocumented(res);
      assert.equal(res.body.errcode, 0);
      assert.equal(res.body.errmsg, "ok");
      assert.equal(res.body.access_token, await nativeToken("corp"));
      const wrong = await request(b.url).get("/wecom/cgi-bin/gettoken?corpid=ww_cmp_corp&corpsecret=nope-nope-nope");
      assert.equal(wrong.body.errcode, 40001);
      const unknown = await request(b.url).get(`/wecom/cgi-bin/gettoken?corpid=ww_nobody&corpsecret=${S.corp}`);
      assert.equal(unknown.body.errcode, 40013);
      const mp = await request(b.url).get(`/wecom/cgi-bin/gettoken?corpid=wx_cmp_classic&corpsecret=${S.classic}`);
      assert.equal(mp.body.errcode, 40013, "an Official Account is no WeCom corp");
    });
  });

  void describe("secrets around the compatible endpoints", () => {
    void test("no log line carries an AppSecret, an API key or a token", async () => {
      const tokens = [await nativeToken("gh_stable"), await nativeToken("gh_classic"), await nativeToken("corp")];
      const all = b.logs.join("\n");
      for (const s of [...Object.values(S), KEY, OTHER_KEY, ...tokens]) assert.ok(!all.includes(s), `a log line carries ${s.slice(0, 6)}…`);
      assert.ok(b.logs.length > 10, "the broker logged at debug level");
    });
  });
});
