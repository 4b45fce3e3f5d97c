// The token-injecting proxy (issue 13) of a served broker, against the simulator's business APIs: injection of the
// current token, refusal of tokens the broker did not issue (no open relay), the one retry after WeChat rejects the
// injected token, media streamed both ways, and bad input answered cleanly.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import request from "supertest";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { waitUntil } from "../helpers/wait";
import { rogueClassicFetch } from "../helpers/rogue";
import { assertDocumented } from "../helpers/openapi";
import { assertError } from "../http/support";
import { serveBroker, sample, type ServedBroker } from "./support";

const S = { stable: "px-stable-secret-4e7a9c12", classic: "px-classic-secret-8b3d5f60", corp: "px-corp-secret-1a9e6c47" };
const KEY = "wtb-px-client-key-3f7b1d9e";
const { sim } = useRedisAndSimulator(
  [
    { appId: "wx_px_stable", secret: S.stable },
    // WeChat keeps a replaced token 300 s; here it dies at once, so a call made with it succeeds only if replaced.
    { appId: "wx_px_classic", secret: S.classic, overlapSec: 0 },
    { appId: "ww_px_corp", secret: S.corp, platform: "wecom" },
  ],
  { redis: false },
);

const KEEP = 1024 * 1024;
const TIMEOUT_MS = 1500;
let b: ServedBroker;

void describe("the token-injecting proxy", () => {
  before(async () => {
    b = await serveBroker({
      WECHAT_API_BASE: sim.url,
      WECOM_API_BASE: sim.wecomUrl,
      PROXY_BODY_KEEP_BYTES: String(KEEP),
      PROXY_TIMEOUT_MS: String(TIMEOUT_MS),
      FOREIGN_PROBE_INTERVAL_SEC: "0",
      ACCOUNTS: JSON.stringify([
        { id: "gh_stable", appId: "wx_px_stable", appSecret: S.stable },
        { id: "gh_classic", appId: "wx_px_classic", appSecret: S.classic, tokenApi: "classic" },
        { id: "corp", type: "wecom", appId: "ww_px_corp", appSecret: S.corp },
      ]),
      API_KEYS: JSON.stringify([{ name: "svc", key: KEY, role: "client", accounts: ["*"] }]),
    });
  });
  after(() => b.close());

  const compatToken = async (appid: string, secret: string) =>
    (await request(b.url).get(`/cgi-bin/token?grant_type=client_credential&appid=${appid}&secret=${secret}`)).body.access_token as string;
  const compatWeComToken = async () =>
    (await request(b.url).get(`/wecom/cgi-bin/gettoken?corpid=ww_px_corp&corpsecret=${S.corp}`)).body.access_token as string;
  const calls = (appId: string, path: string) => sim.admin.apiCalls(appId).calls[path] ?? 0;
  const metrics = async () => (await request(b.url).get("/metrics")).text;

  void test("answers JS-SDK ticket requests from the broker's cache in WeChat's shape: one getticket at WeChat for many callers, unknown types refused locally", async () => {
    const token = await compatToken("wx_px_stable", S.stable);
    const before = sim.admin.counters("wx_px_stable").calls.getticket;
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => request(b.url).get(`/cgi-bin/ticket/getticket?access_token=${encodeURIComponent(token)}&type=jsapi`)),
    );
    for (const res of answers) {
      assertDocumented(res);
      assert.equal(res.body.errcode, 0, res.text);
      assert.equal(res.body.ticket, sim.admin.currentTicket("wx_px_stable", "jsapi"), "the ticket WeChat issued");
      assert.ok(res.body.expires_in > 0 && res.body.expires_in <= 7200);
    }
    assert.equal(sim.admin.counters("wx_px_stable").calls.getticket, before + 1, "one getticket for every caller");
    const bogus = await request(b.url).get(`/cgi-bin/ticket/getticket?access_token=${encodeURIComponent(token)}&type=agent_config`);
    assert.equal(bogus.body.errcode, 40097, bogus.text);
    const corp = await compatWeComToken();
    const agent = await request(b.url).get(`/wecom/cgi-bin/ticket/get?access_token=${encodeURIComponent(corp)}&type=agent_config`);
    assert.equal(agent.body.errcode, 0, agent.text);
    assert.equal(agent.body.ticket, sim.admin.currentTicket("ww_px_corp", "agent_config"));
    assert.equal(sim.admin.counters("wx_px_stable").calls.getticket, before + 1, "refusals never reached WeChat");
    const foreign = await request(b.url).get(`/cgi-bin/ticket/getticket?access_token=made-up-token&type=jsapi`);
    assert.equal(foreign.body.errcode, 40001, "a token the broker did not issue gets no ticket");
  });

  void test("relays a call with the account's current token and answers WeChat's answer", async () => {
    const token = await compatToken("wx_px_stable", S.stable);
    const res = await request(b.url).get(`/cgi-bin/user/info?access_token=${encodeURIComponent(token)}&openid=o_123&lang=en`);
    assertDocumented(res);
    assert.equal(res.status, 200);
    assert.equal(res.body.openid, "o_123");
    assert.equal(res.body.language, "en", "the other query parameters travel unchanged");
    assert.equal(calls("wx_px_stable", "/cgi-bin/user/info"), 1);
    const m = await metrics();
    assert.equal(sample(m, "wtb_proxy_requests_total", { api: "/cgi-bin/user/info", outcome: "ok", errclass: "ok" }), 1);
  });

  void test("accepts the previous token during the overlap, and sends the current one to WeChat", async () => {
    const t1 = await compatToken("wx_px_classic", S.classic);
    // Another system kills the token at WeChat, then a caller reports it: the refresh policy replaces only a token
    // WeChat confirms dead.
    const rotate = async (t: string) => {
      await rogueClassicFetch(sim.url, "wx_px_classic", S.classic);
      return (
        await request(b.url)
          .post("/api/accounts/gh_classic/token/invalidate")
          .set("Authorization", `Bearer ${KEY}`)
          .send({ accessToken: t, errcode: 40001 })
      ).body.accessToken as string;
    };
    const t2 = await rotate(t1);
    assert.notEqual(t2, t1);
    assert.equal(sim.admin.checkToken(t1).valid, false, "WeChat no longer accepts the old token");
    const res = await request(b.url).get(`/cgi-bin/user/info?access_token=${encodeURIComponent(t1)}&openid=o_prev`);
    assert.equal(res.body.openid, "o_prev", `a call made with the previous token succeeds: ${res.text}`);
    // Two rotations later the first token is neither current nor previous: refused without reaching WeChat.
    await rotate(t2);
    const before = calls("wx_px_classic", "/cgi-bin/user/info");
    const refused = await request(b.url).get(`/cgi-bin/user/info?access_token=${encodeURIComponent(t1)}&openid=o_old`);
    assert.equal(refused.body.errcode, 40001);
    assert.equal(calls("wx_px_classic", "/cgi-bin/user/info"), before, "the refused call never left the broker");
  });

  void test("refuses tokens it did not issue, even ones WeChat accepts, in WeChat's shape and without calling WeChat", async () => {
    const rogue = (await (
      await fetch(`${sim.url}/cgi-bin/token?grant_type=client_credential&appid=wx_px_stable&secret=${S.stable}`)
    ).json()) as { access_token: string };
    assert.equal(sim.admin.checkToken(rogue.access_token).valid, true);
    const before = sim.admin.apiCalls("wx_px_stable").calls;
    for (const [query, errcode] of [
      [`access_token=${encodeURIComponent(rogue.access_token)}&openid=o1`, 40001],
      [`access_token=made-up-token-${"x".repeat(100)}&openid=o1`, 40001],
      ["openid=o1", 41001],
      ["access_token=&openid=o1", 41001],
      [`access_token=a&access_token=b`, 40001],
    ] as const) {
      const res = await request(b.url).get(`/cgi-bin/user/info?${query}`);
      assertDocumented(res);
      assert.equal(res.status, 200);
      assert.equal(res.body.errcode, errcode, `${query.slice(0, 40)}: ${res.text}`);
      assert.match(res.body.errmsg, /\(broker: /);
    }
    assert.deepEqual(sim.admin.apiCalls("wx_px_stable").calls, before, "nothing reached WeChat");
    const wecom = await compatToken("wx_px_stable", S.stable);
    const cross = await request(b.url).get(`/wecom/cgi-bin/user/get?access_token=${encodeURIComponent(wecom)}&userid=u1`);
    assert.equal(cross.body.errcode, 40014, "an Official Account's token is no WeCom token");
  });

  void test("after WeChat rejects the injected token, reports it and retries the call once (GET)", async () => {
    const token = await compatToken("wx_px_stable", S.stable);
    sim.admin.rejectToken(token, 40001, 1);
    const before = sim.admin.apiCalls("wx_px_stable");
    const res = await request(b.url).get(`/cgi-bin/user/info?access_token=${encodeURIComponent(token)}&openid=o_retry`);
    assert.equal(res.body.openid, "o_retry", res.text);
    const after = sim.admin.apiCalls("wx_px_stable");
    assert.equal(after.rejected, before.rejected + 1);
    assert.equal(after.calls["/cgi-bin/user/info"], (before.calls["/cgi-bin/user/info"] ?? 0) + 2, "one call and one retry");
    assert.equal(sample(await metrics(), "wtb_proxy_retries_total", { api: "/cgi-bin/user/info" }), 1);
  });

  void test("retries a kept POST body once after WeChat's 40001; a token the probe finds alive is kept, nothing rotated", async () => {
    const token = await compatToken("wx_px_classic", S.classic);
    const foreignBefore = sample(await metrics(), "wtb_foreign_rotations_total", { account: "gh_classic", via: "proxy" });
    sim.admin.rejectToken(token, 40001, 1);
    const menu = { button: [{ type: "click", name: "今日歌曲", key: "V1001_TODAY_MUSIC" }] };
    const res = await request(b.url)
      .post(`/cgi-bin/menu/create?access_token=${encodeURIComponent(token)}`)
      .send(menu);
    assert.equal(res.body.errcode, 0, res.text);
    assert.equal(await compatToken("wx_px_classic", S.classic), token, "WeChat still accepts the token: the report rotated nothing");
    const got = await request(b.url).get(`/cgi-bin/menu/get?access_token=${encodeURIComponent(token)}`);
    assert.deepEqual(got.body.menu, menu, "the retried body arrived whole");
    assert.equal(
      sample(await metrics(), "wtb_foreign_rotations_total", { account: "gh_classic", via: "proxy" }),
      foreignBefore,
      "no foreign rotation",
    );
  });

  void test("after another system killed the token, a proxied call's 40001 replaces it, the kept body is retried with the new token, and the foreign rotation is counted", async () => {
    const token = await compatToken("wx_px_classic", S.classic);
    const foreignBefore = sample(await metrics(), "wtb_foreign_rotations_total", { account: "gh_classic", via: "proxy" });
    await rogueClassicFetch(sim.url, "wx_px_classic", S.classic);
    const menu = { button: [{ type: "click", name: "明日歌曲", key: "V1001_TOMORROW_MUSIC" }] };
    const res = await request(b.url)
      .post(`/cgi-bin/menu/create?access_token=${encodeURIComponent(token)}`)
      .send(menu);
    assert.equal(res.body.errcode, 0, res.text);
    const now = await compatToken("wx_px_classic", S.classic);
    assert.notEqual(now, token, "the classic token was replaced after WeChat's 40001");
    const got = await request(b.url).get(`/cgi-bin/menu/get?access_token=${encodeURIComponent(now)}`);
    assert.deepEqual(got.body.menu, menu, "the retried body arrived whole");
    assert.equal(sample(await metrics(), "wtb_foreign_rotations_total", { account: "gh_classic", via: "proxy" }), foreignBefore + 1);
  });

  void test("returns WeChat's rejection as is when the body was too large to keep", async () => {
    const token = await compatToken("wx_px_stable", S.stable);
    sim.admin.rejectToken(token, 40001, 1);
    const retries = sample(await metrics(), "wtb_proxy_retries_total", { api: "/cgi-bin/message/custom/send" });
    const big = JSON.stringify({ touser: "o1", msgtype: "text", text: { content: "x".repeat(KEEP + 10) } });
    const res = await request(b.url)
      .post(`/cgi-bin/message/custom/send?access_token=${encodeURIComponent(token)}`)
      .set("Content-Type", "application/json")
      .send(big);
    assert.equal(res.body.errcode, 40001, `${res.text.slice(0, 200)} ${JSON.stringify(sim.admin.apiCalls("wx_px_stable"))}`);
    assert.ok(
      !(
        sample(await metrics(), "wtb_proxy_retries_total", { api: "/cgi-bin/message/custom/send" }) > (Number.isNaN(retries) ? 0 : retries)
      ),
      "no retry",
    );
  });

  void test("streams a multi-megabyte media upload to WeChat as it arrives, and the download back", async () => {
    const token = await compatToken("wx_px_stable", S.stable);
    const file = randomBytes(6 * 1024 * 1024);
    const boundary = "----wtbBoundary7MA4YWxkTrZu0gW";
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="media"; filename="clip.mp4"\r\nContent-Type: video/mp4\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const total = head.length + file.length + tail.length;
    const start = sim.admin.apiCalls("wx_px_stable").uploadBytes;
    const url = new URL(`${b.url}/cgi-bin/media/upload?access_token=${encodeURIComponent(token)}&type=video`);
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        url,
        { method: "POST", headers: { "Content-Type": `multipart/form-data; boundary=${boundary}`, "Content-Length": total } },
        (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString("utf8")));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      req.write(head);
      req.write(file.subarray(0, 3 * 1024 * 1024));
      // The second half is sent only once WeChat has received most of the first: a proxy that held the body until
      // it was complete would never get there.
      waitUntil(
        "the simulator received 2 MB while the caller still holds the rest",
        () => sim.admin.apiCalls("wx_px_stable").uploadBytes - start >= 2 * 1024 * 1024,
        5_000,
      ).then(
        () => {
          req.write(file.subarray(3 * 1024 * 1024));
          req.end(tail);
        },
        (err: unknown) => {
          req.destroy();
          reject(err as Error);
        },
      );
    });
    const up = await answer;
    assert.equal(up.status, 200, up.body);
    const mediaId = (JSON.parse(up.body) as { media_id: string }).media_id;
    assert.ok(mediaId);

    const down = await request(b.url)
      .get(`/cgi-bin/media/get?access_token=${encodeURIComponent(token)}&media_id=${mediaId}`)
      .buffer(true)
      .parse((res, cb) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => cb(null, Buffer.concat(chunks)));
      });
    assert.equal(down.status, 200);
    assert.equal(down.headers["content-type"], "video/mp4");
    assert.match(down.headers["content-disposition"] ?? "", /clip\.mp4/);
    const digest = (x: Buffer) => createHash("sha256").update(x).digest("hex");
    assert.equal(digest(down.body as Buffer), digest(file), "the same bytes came back");
  });

  void test("relays WeCom calls to the WeCom host with WeCom tokens", async () => {
    const token = (await request(b.url).get(`/wecom/cgi-bin/gettoken?corpid=ww_px_corp&corpsecret=${S.corp}`)).body.access_token as string;
    const res = await request(b.url).get(`/wecom/cgi-bin/user/get?access_token=${encodeURIComponent(token)}&userid=zhangsan`);
    assertDocumented(res);
    assert.equal(res.body.errcode, 0);
    assert.equal(res.body.userid, "zhangsan");
    assert.equal(calls("ww_px_corp", "/wecom/cgi-bin/user/get"), 1);
  });

  void test("answers broken input cleanly: bad encoding, dot segments, unknown prefixes, huge headers, slow bodies", async () => {
    const token = await compatToken("wx_px_stable", S.stable);
    assertError(await request(b.url).get("/cgi-bin/user/info?access_token=%E0%A4%A&openid=o"), 400, "bad_request");
    assertError(await request(b.url).get(`/cgi-bin/%2e%2e/api/health?access_token=${encodeURIComponent(token)}`), 400, "bad_request");
    assertError(await request(b.url).get(`/nothing/here?access_token=${encodeURIComponent(token)}`), 404, "not_found", {
      documentedRoute: false,
    });
    const huge = await fetch(`${b.url}/cgi-bin/user/info?access_token=x`, { headers: { "X-Filler": "y".repeat(64 * 1024) } }).catch(
      (e: unknown) => e as Error,
    );
    assert.ok(huge instanceof Response ? huge.status === 431 : true, "huge headers: 431 or the connection closed");

    // A caller that sends half its body and stalls: WeChat's side idles out after PROXY_TIMEOUT_MS and the caller
    // gets a WeChat-shaped 504, not a hang.
    const started = Date.now();
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(new URL(b.url).port), "127.0.0.1", () => {
        sock.write(
          `POST /cgi-bin/message/custom/send?access_token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"touser":`,
        );
      });
      let got = "";
      sock.on("data", (d: Buffer) => {
        got += d.toString("utf8");
        if (got.includes("\r\n\r\n") && /\}$/.test(got)) sock.destroy();
      });
      sock.on("close", () => resolve(got));
      sock.on("error", reject);
      setTimeout(() => sock.destroy(), 8_000).unref();
    });
    assert.match(reply, /^HTTP\/1\.1 504 /, reply.slice(0, 200));
    assert.match(reply, /"errcode":-1/);
    assert.ok(Date.now() - started < TIMEOUT_MS + 3_000, "answered within the timeout, not left hanging");
  });

  void test("no log line carries a token or a secret", async () => {
    const all = b.logs.join("\n");
    const tokens = [await compatToken("wx_px_stable", S.stable), await compatToken("wx_px_classic", S.classic)];
    for (const s of [...Object.values(S), KEY, ...tokens]) assert.ok(!all.includes(s), `a log line carries ${s.slice(0, 6)}…`);
    assert.ok(all.includes("proxy: WeChat rejected the injected token"), "the proxy logged its reports");
  });
});
