// The quick diagnosis over HTTP, against a real redis-server (with a password) and the WeChat simulator.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import { startRedis } from "../helpers/redis";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { WeChatClient } from "../../src/wechat/client";
import type { DiagnosisCheck, DiagnosisReport } from "../../src/ops/diagnosisReport";
import { assertDocumented } from "../helpers/openapi";
import { waitUntil } from "../helpers/wait";
import { accountsEnv, apiKeysEnv, assertNoSecret, freshPrefix, opsBroker, SECRETS, type OpsBroker } from "./helpers";

const { redis, sim } = useRedisAndSimulator(
  [
    { appId: "wx_wl", secret: SECRETS.appSecret, ipWhitelist: ["10.0.0.1"], callerIp: "1.92.157.200" },
    { appId: "wx_ok", secret: SECRETS.otherAppSecret },
    { appId: "wx_cl", secret: SECRETS.appSecret, overlapSec: 0 },
  ],
  { redis: { password: SECRETS.redisPassword } },
);

const WL = { id: "gh_wl", appId: "wx_wl", appSecret: SECRETS.appSecret, tokenApi: "classic" as const };
const OK = { id: "gh_ok", appId: "wx_ok", appSecret: SECRETS.otherAppSecret };
const CL = { id: "gh_cl", appId: "wx_cl", appSecret: SECRETS.appSecret, tokenApi: "classic" as const };

function broker(accounts: Array<typeof WL | typeof OK | typeof CL>, extra: NodeJS.ProcessEnv = {}): OpsBroker {
  return opsBroker({
    ACCOUNTS: accountsEnv(accounts),
    REDIS_URL: redis.url,
    WECHAT_API_BASE: sim.url,
    KEY_PREFIX: freshPrefix(),
    ...extra,
  });
}

function check(r: DiagnosisReport, id: DiagnosisCheck["id"], accountId?: string): DiagnosisCheck {
  const c = r.checks.find((x) => x.id === id && x.accountId === accountId);
  assert.ok(c, `no ${id} check${accountId ? ` for ${accountId}` : ""}`);
  return c;
}

describe("the quick diagnosis", () => {
  test("after a 40164 the text names the IP to whitelist and where in the WeChat console, and answers 503", async () => {
    const b = broker([WL]);
    try {
      await assert.rejects(b.core.service.getToken("gh_wl"));
      const res = await request(b.app).get("/quick_diagnosis.php").set("Accept", "*/*");
      assert.equal(res.status, 503);
      assert.match(String(res.headers["content-type"]), /^text\/plain; charset=utf-8/);
      const text = res.text;
      // Wrapped lines joined again (without whitespace, which a line break may have taken or added): each entry is
      // one line starting with its mark, its fix one starting with 修复/Fix.
      const entries = (t: string) =>
        t
          .replace(/\n {4,}(?![ ]*(修复：|Fix: ))/g, "")
          .split("\n")
          .map((l) => l.replace(/^( *)(.*)$/, (_m, i: string, r: string) => i + r.replace(/\s+/g, "")));
      const squash = (t: string) => t.replace(/\s+/g, "");
      const lines = entries(text);
      const upstream = lines.findIndex((l) => l.includes("✗微信接口—"));
      assert.ok(upstream > 0, text);
      assert.match(lines[upstream]!, /^ {2}✗.*40164.*1\.92\.157\.200/);
      assert.ok(
        lines[upstream + 1]!.startsWith(
          `      ${squash("修复：请将 1.92.157.200 添加到 AppID wx_wl 的接口IP白名单：微信公众平台 → 设置与开发 → 基本配置 → IP白名单")}`,
        ),
        lines[upstream + 1],
      );
      assert.match(lines[upstream + 1]!, /生效需等待几分钟/);
      assert.match(text, /^ {2}✗ 令牌 — /m);
      assert.match(text, /^ {2}! 熔断 — /m);
      assert.match(text, /结果：✗ 失败/);
      assertNoSecret(text);
      const en = entries((await request(b.app).get("/quick_diagnosis.php?lang=en")).text);
      const upEn = en.findIndex((l) => l.includes("✗WeChatanswers—"));
      assert.ok(upEn > 0, en.join("\n"));
      assert.ok(en[upEn + 1]!.startsWith(`      ${squash("Fix: Add 1.92.157.200 to the API IP whitelist of appid wx_wl:")}`), en[upEn + 1]);
      assert.ok(
        en[upEn + 1]!.includes(squash("设置与开发 → 基本配置 → IP白名单")) &&
          en[upEn + 1]!.includes(squash("takes effect after a few minutes")),
        en[upEn + 1],
      );

      const json = await request(b.app).get("/api/diagnosis");
      assert.equal(json.status, 503);
      const report = json.body as DiagnosisReport;
      assert.equal(report.status, "fail");
      const acct = report.accounts[0]!;
      assert.equal(acct.lastError?.errcode, 40164);
      assert.equal(acct.lastError?.errclass, "config");
      assert.equal(acct.lastError?.ip, "1.92.157.200");
      assert.equal(acct.lastError?.resolved, false);
      assert.equal(acct.breaker.open, true);
      assert.equal(acct.token, null);
      const up = check(report, "upstream", "gh_wl");
      assert.equal(up.status, "fail");
      assert.match(up.fix!.zh, /1\.92\.157\.200/);
      assert.match(up.fix!.en, /1\.92\.157\.200/);
    } finally {
      await b.close();
    }
  });

  test("a healthy account answers 200 with ✓ lines and its token facts, but never the token itself", async () => {
    const b = broker([OK]);
    try {
      const view = await b.core.service.getToken("gh_ok");
      const res = await request(b.app).get("/quick_diagnosis");
      assert.equal(res.status, 200, res.text);
      for (const title of ["Configuration", "Token store", "Locks", "Token", "WeChat answers", "Breaker", "Quota today"]) {
        assert.match(res.text, new RegExp(`^\\s*✓ ${title} — `, "m"), `${title} is not ✓:\n${res.text}`);
      }
      assert.doesNotMatch(res.text, /✗|^\s*! /m);
      assert.match(res.text.replace(/\n +/g, " "), /1 of 500000 cgi-bin\/stable_token calls/);
      assert.match(res.text.replace(/\n +/g, " "), /force refreshes 0 of 20/);
      assertNoSecret(res.text, [view.accessToken]);

      const json = await request(b.app).get("/api/diagnosis");
      assert.equal(json.status, 200);
      const r = json.body as DiagnosisReport;
      assert.equal(r.status, "ok");
      assert.deepEqual(r.summary, { ok: r.checks.length, warn: 0, fail: 0 });
      const a = r.accounts[0]!;
      assert.equal(a.token?.api, "stable");
      assert.ok(a.token!.expiresInSec > 7000 && a.token!.expiresInSec <= 7200);
      assert.equal(a.usage?.upstreamCalls, 1);
      assert.equal(a.usage?.dailyLimit, 500_000);
      assert.equal(a.usage?.forceLimit, 20);
      assert.equal(a.nextRefreshSource, "estimate");
      assertNoSecret(json.text, [view.accessToken]);
    } finally {
      await b.close();
    }
  });

  test("the next refresh comes from the refresh scheduler when one runs in the process", async () => {
    const b = opsBroker({ ACCOUNTS: accountsEnv([OK]), REDIS_URL: redis.url, WECHAT_API_BASE: sim.url, KEY_PREFIX: freshPrefix() });
    try {
      await b.core.service.getToken("gh_ok");
      b.core.scheduler.start();
      // Its first plan is the start-up check (within seconds); the refresh itself is planned after that check.
      await waitUntil("the scheduler planned the refresh", () => (b.core.scheduler.plannedAt("gh_ok") ?? 0) > Date.now() + 600_000);
      const planned = b.core.scheduler.plannedAt("gh_ok")!;
      const r = (await request(b.app).get("/api/diagnosis")).body as DiagnosisReport;
      assert.equal(r.accounts[0]!.nextRefreshSource, "scheduler");
      assert.equal(r.accounts[0]!.nextRefreshAt, new Date(planned).toISOString());
    } finally {
      await b.close();
    }
  });

  test("probe=true reports that WeChat accepts a valid token", async () => {
    const b = broker([OK]);
    try {
      await b.core.service.getToken("gh_ok");
      const res = await request(b.app).get("/api/diagnosis?probe=true");
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const r = res.body as DiagnosisReport;
      assert.equal(check(r, "probe", "gh_ok").status, "ok");
      assert.deepEqual(r.accounts[0]!.probe, { result: "valid" });
    } finally {
      await b.close();
    }
  });

  test("probe=true reports a token that another fetch has replaced as rejected, and answers 503", async () => {
    const b = broker([CL]);
    const rogue = new WeChatClient({ wechatApiBase: sim.url, wecomApiBase: sim.wecomUrl });
    try {
      const first = await b.core.service.getToken("gh_cl");
      // Another service fetching with the same AppSecret: with no overlap, the broker's token dies at once.
      const other = await rogue.fetchToken({
        id: "x",
        type: "official",
        appId: "wx_cl",
        appSecret: SECRETS.appSecret,
        tokenApi: "classic",
      });
      assert.notEqual(other.accessToken, first.accessToken);

      const res = await request(b.app).get("/quick_diagnosis.php?probe=1&format=json");
      assert.equal(res.status, 503);
      const r = res.body as DiagnosisReport;
      const p = check(r, "probe", "gh_cl");
      assert.equal(p.status, "fail");
      assert.equal(r.accounts[0]!.probe?.result, "invalid");
      assert.equal(typeof r.accounts[0]!.probe?.errcode, "number");
      assert.match(p.fix!.en, /token\/invalidate/);
      // The fix fits the endpoint that answered (a business call), not a token endpoint's AppSecret advice.
      assert.match(p.fix!.en, /^The token was replaced by a newer one/);
      assert.doesNotMatch(p.fix!.en + p.fix!.zh, /AppSecret is wrong|AppSecret 错误/);
      assertNoSecret(res.text, [first.accessToken, other.accessToken]);

      const text = await request(b.app).get("/quick_diagnosis.php?probe=true");
      assert.match(text.text, /^ {2}✗ 令牌实测 — 微信拒绝当前存储的 token/m);
      assertNoSecret(text.text, [first.accessToken, other.accessToken]);
    } finally {
      rogue.close();
      await b.close();
    }
  });

  test("when Redis is down the store check fails, the accounts are not checked, and the answer is 503", async () => {
    const own = await startRedis({ password: SECRETS.redisPassword });
    const b = opsBroker({ ACCOUNTS: accountsEnv([OK]), REDIS_URL: own.url, WECHAT_API_BASE: sim.url, KEY_PREFIX: freshPrefix() });
    try {
      await b.core.service.getToken("gh_ok");
      await own.stop();
      const res = await request(b.app).get("/api/diagnosis");
      assert.equal(res.status, 503);
      const r = res.body as DiagnosisReport;
      const store = check(r, "store");
      assert.equal(store.status, "fail");
      assert.match(store.detail!.en, new RegExp(`^Redis redis://127\\.0\\.0\\.1:${own.port} is not reachable`));
      assert.ok(store.fix);
      assert.equal(check(r, "token", "gh_ok").status, "warn");
      assert.equal(r.accounts[0]!.readError, "the token store is unavailable");
      assertNoSecret(res.text);

      const text = await request(b.app).get("/quick_diagnosis.php");
      assert.equal(text.status, 503);
      assert.match(text.text, /^✗ 令牌存储 — Redis .* 不可达/m);
      assert.match(text.text, /^ {4}修复：请检查 Redis/m);
      assertNoSecret(text.text);
    } finally {
      await b.close();
      await own.close();
    }
  });

  test("a lock key without TTL makes the locks check fail and tells how to clean it up", async () => {
    const b = broker([OK]);
    try {
      const key = `${b.config.keyPrefix}{acct:gh_ok}:lock`;
      redis.cli("SET", key, "left-by-hand");
      const res = await request(b.app).get("/quick_diagnosis.php");
      assert.equal(res.status, 503);
      const zh = res.text.replace(/\n {4}(?!修复)/g, "");
      assert.match(zh, new RegExp(`^✗ 分布式锁 — 1 个卡死的锁.*${key.replace(/[{}]/g, "\\$&")}`, "m"));
      assert.match(res.text, /· 锁 — 卡死（无过期时间）/);
      const en = (await request(b.app).get("/quick_diagnosis")).text.replace(/\n +/g, " ");
      assert.match(en, /Fix: Remove the stuck keys .*curl -X POST http:\/\/127\.0\.0\.1:8084\/api\/locks\/cleanup/);
      assert.match(en, /· Lock — stuck, no TTL/);
    } finally {
      await b.close();
    }
  });

  test("the diagnosis is readable without an API key, but probing WeChat needs the admin role", async () => {
    const b = broker([OK], { API_KEYS: apiKeysEnv() });
    try {
      await b.core.service.getToken("gh_ok");
      const open = await request(b.app).get("/quick_diagnosis.php");
      assert.equal(open.status, 200);
      assert.match(open.text, /需要 API key（2 个）/);
      assert.doesNotMatch(open.text, /"ops"|"svc"/);
      assert.equal((await request(b.app).get("/api/diagnosis?probe=true")).status, 401);
      assert.equal((await request(b.app).get("/api/diagnosis?probe=true").set("Authorization", `Bearer ${SECRETS.clientKey}`)).status, 403);
      const admin = await request(b.app).get("/api/diagnosis?probe=true").set("Authorization", `Bearer ${SECRETS.adminKey}`);
      assert.equal(admin.status, 200);
      const r = admin.body as DiagnosisReport;
      assert.deepEqual((check(r, "config").data as { summary: { auth: unknown } }).summary.auth, {
        required: true,
        keys: { admin: 1, client: 1 },
      });
      assertNoSecret(admin.text);
      assertNoSecret(open.text);
    } finally {
      await b.close();
    }
  });

  test("the format follows ?format, then an explicit Accept, then the path's default", async () => {
    const b = broker([OK]);
    try {
      const kind = async (path: string, accept?: string) => {
        const req = request(b.app).get(path);
        if (accept !== undefined) req.set("Accept", accept);
        const res = await req;
        return String(res.headers["content-type"]).split(";")[0];
      };
      assert.equal(await kind("/api/diagnosis"), "application/json");
      assert.equal(await kind("/api/diagnosis", "*/*"), "application/json");
      assert.equal(await kind("/api/diagnosis", "text/plain"), "text/plain");
      assert.equal(await kind("/api/diagnosis?format=text", "application/json"), "text/plain");
      assert.equal(await kind("/quick_diagnosis.php", "*/*"), "text/plain");
      assert.equal(await kind("/quick_diagnosis.php"), "text/plain");
      assert.equal(await kind("/quick_diagnosis.php", "application/json"), "application/json");
      assert.equal(await kind("/quick_diagnosis", "text/html,application/xhtml+xml,*/*;q=0.8"), "text/plain");
      assert.equal(await kind("/quick_diagnosis.php?format=json"), "application/json");
      const bad = await request(b.app).get("/api/diagnosis?format=xml");
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, "invalid_format");
    } finally {
      await b.close();
    }
  });

  test("accountId limits the report to that account, and an unknown account is a 404", async () => {
    const b = broker([OK, WL]);
    try {
      const r = (await request(b.app).get("/api/diagnosis?accountId=gh_ok")).body as DiagnosisReport;
      assert.deepEqual(
        r.accounts.map((a) => a.id),
        ["gh_ok"],
      );
      assert.ok(r.checks.every((c) => c.accountId === undefined || c.accountId === "gh_ok"));
      const unknown = await request(b.app).get("/quick_diagnosis.php?accountId=gh_nope");
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, "unknown_account");
      assert.equal((await request(b.app).get("/api/diagnosis?accountId=bad%20id")).status, 400);
    } finally {
      await b.close();
    }
  });

  test("no output ever holds a token, an AppSecret, an API key or the Redis password", async () => {
    const b = broker([OK, WL, CL], { API_KEYS: apiKeysEnv(), LOCK_CLEANUP_PATTERNS: "wechat:lock:*" });
    try {
      const tokens = [(await b.core.service.getToken("gh_ok")).accessToken, (await b.core.service.getToken("gh_cl")).accessToken];
      await assert.rejects(b.core.service.getToken("gh_wl"));
      redis.cli("SET", "wechat:lock:sync", JSON.stringify({ owner: "php-worker", expires_at: 1 }));
      const auth = `Bearer ${SECRETS.adminKey}`;
      const outputs = await Promise.all(
        [
          "/api/diagnosis",
          "/api/diagnosis?format=text",
          "/quick_diagnosis.php?probe=true",
          "/api/diagnosis?probe=true",
          "/api/locks",
          "/api/locks?format=text",
        ].map((p) => request(b.app).get(p).set("Authorization", auth)),
      );
      for (const o of outputs) {
        assert.ok([200, 503].includes(o.status), `${o.status} ${o.text}`);
        assertNoSecret(o.text, tokens);
        assert.doesNotMatch(o.text, /"?(accessToken|access_token|appSecret|password)"?\s*[:=]/i);
      }
    } finally {
      redis.cli("DEL", "wechat:lock:sync");
      await b.close();
    }
  });

  test("in embedded mode it reports the in-memory store and the in-process locks, and has no scope warning", async () => {
    const b = opsBroker({ ACCOUNTS: accountsEnv([OK]), WECHAT_API_BASE: sim.url });
    try {
      await b.core.service.getToken("gh_ok");
      const held = await b.core.lock.tryAcquire("gh_ok", 5_000);
      assert.ok(held);
      const res = await request(b.app).get("/quick_diagnosis.php");
      assert.equal(res.status, 200, res.text);
      assert.match(res.text, /^✓ 令牌存储 — 嵌入模式/m);
      assert.match(res.text, /^✓ 分布式锁 — 进程内锁：1 个被持有/m);
      assert.match(res.text.replace(/\n +/g, ""), new RegExp(`· 锁 — 被 ${held.owner.replace(/[.#]/g, "\\$&")} 持有`));
      assert.doesNotMatch(res.text, /诊断范围 Scope/);
      await held.release();
    } finally {
      await b.close();
    }
  });

  test("identical diagnoses that arrive together are built once, later ones afresh", async () => {
    const b = broker([OK]);
    try {
      const [a, c] = await Promise.all([b.diagnosis.run({ accountId: "gh_ok" }), b.diagnosis.run({ accountId: "gh_ok" })]);
      assert.equal(a, c);
      const other = b.diagnosis.run({ accountId: "gh_ok", probe: true });
      assert.notEqual(await other, a);
      assert.notEqual(await b.diagnosis.run({ accountId: "gh_ok" }), a);
    } finally {
      await b.close();
    }
  });

  test("with no accounts configured the config check's fix says how to configure them, not the warning again", async () => {
    const b = opsBroker({ REDIS_URL: redis.url, WECHAT_API_BASE: sim.url, KEY_PREFIX: freshPrefix() });
    try {
      const r = (await request(b.app).get("/api/diagnosis")).body as DiagnosisReport;
      const c = check(r, "config");
      assert.equal(c.status, "warn");
      assert.match(c.fix!.en, /ACCOUNTS_FILE=/);
      assert.match(c.fix!.en, /examples\/accounts\.example\.yaml/);
      assert.match(c.fix!.zh, /ACCOUNTS_FILE=/);
      assert.doesNotMatch(c.fix!.en, /serves no tokens/);
    } finally {
      await b.close();
    }
  });

  test("every answer, JSON or text, ok or failing, is documented in openapi.yaml", async () => {
    const b = broker([OK, WL], { API_KEYS: apiKeysEnv() });
    try {
      await b.core.service.getToken("gh_ok");
      await assert.rejects(b.core.service.getToken("gh_wl"));
      const admin = `Bearer ${SECRETS.adminKey}`;
      const answers = [
        await request(b.app).get("/api/diagnosis"),
        await request(b.app).get("/api/diagnosis?accountId=gh_ok"),
        await request(b.app).get("/api/diagnosis?accountId=gh_ok&probe=true").set("Authorization", admin),
        await request(b.app).get("/quick_diagnosis"),
        await request(b.app).get("/quick_diagnosis.php?format=json"),
        await request(b.app).get("/quick_diagnosis.php?accountId=gh_nope"),
        await request(b.app).get("/api/diagnosis?format=xml"),
        await request(b.app).get("/api/diagnosis?probe=true"),
        await request(b.app).get("/api/diagnosis?probe=true").set("Authorization", `Bearer ${SECRETS.clientKey}`),
      ];
      assert.deepEqual(
        answers.map((a) => a.status),
        [503, 200, 200, 503, 503, 404, 400, 401, 403],
      );
      for (const a of answers) assertDocumented(a);
    } finally {
      await b.close();
    }
  });
});
