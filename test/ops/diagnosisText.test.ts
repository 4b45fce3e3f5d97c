// The text diagnosis for a terminal: one language per report (lang=zh|en, else Accept-Language, else Chinese on
// the runbook's .php path and English elsewhere), and no line wider than 80 columns (CJK characters count 2).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { assertDocumented } from "../helpers/openapi";
import { displayWidth } from "../../src/ops/textWrap";
import { accountsEnv, freshPrefix, opsBroker, SECRETS } from "./helpers";

const { redis, sim } = useRedisAndSimulator([
  { appId: "wx_wl", secret: SECRETS.appSecret, ipWhitelist: ["10.0.0.1"], callerIp: "1.92.157.200" },
  { appId: "wx_ok", secret: SECRETS.otherAppSecret },
]);

/** Display columns of a terminal, written independently of the code under test: East Asian wide and fullwidth
 * characters take 2 columns, everything else here 1. */
function columns(line: string): number {
  let n = 0;
  for (const ch of line) {
    const c = ch.codePointAt(0)!;
    const wide =
      (c >= 0x1100 && c <= 0x115f) ||
      (c >= 0x2e80 && c <= 0xa4cf) ||
      (c >= 0xac00 && c <= 0xd7a3) ||
      (c >= 0xf900 && c <= 0xfaff) ||
      (c >= 0xfe30 && c <= 0xfe4f) ||
      (c >= 0xff00 && c <= 0xff60) ||
      (c >= 0xffe0 && c <= 0xffe6) ||
      (c >= 0x20000 && c <= 0x3fffd);
    n += wide ? 2 : 1;
  }
  return n;
}

async function failingBroker() {
  const b = opsBroker({
    ACCOUNTS: accountsEnv([
      { id: "gh_whitelist_missing_account", appId: "wx_wl", appSecret: SECRETS.appSecret, tokenApi: "classic" },
      { id: "gh_ok", appId: "wx_ok", appSecret: SECRETS.otherAppSecret },
    ]),
    REDIS_URL: redis.url,
    WECHAT_API_BASE: sim.url,
    KEY_PREFIX: freshPrefix(),
    LOCK_CLEANUP_PATTERNS: "wechat:lock:*",
  });
  await b.core.service.getToken("gh_ok");
  await assert.rejects(b.core.service.getToken("gh_whitelist_missing_account"));
  redis.cli("SET", `${b.config.keyPrefix}{acct:gh_ok}:lock`, "left-by-hand");
  return b;
}

describe("the text diagnosis", () => {
  test("speaks one language per report: lang wins, then Accept-Language, then Chinese on .php paths and English elsewhere", async () => {
    const b = await failingBroker();
    try {
      const lang = async (path: string, acceptLanguage?: string) => {
        const req = request(b.app).get(path);
        if (acceptLanguage) req.set("Accept-Language", acceptLanguage);
        const res = await req;
        assert.equal(res.status, 503, res.text);
        const zh = /修复：/.test(res.text) && /结果：/.test(res.text);
        const en = /\bFix: /.test(res.text) && /Result: /.test(res.text);
        assert.ok(zh !== en, `${path} mixes or lacks languages:\n${res.text}`);
        assert.doesNotMatch(res.text, / \| /, "no line joins two languages");
        return zh ? "zh" : "en";
      };
      assert.equal(await lang("/quick_diagnosis.php"), "zh");
      assert.equal(await lang("/quick_diagnosis"), "en");
      assert.equal(await lang("/api/diagnosis?format=text"), "en");
      assert.equal(await lang("/quick_diagnosis.php?lang=en"), "en");
      assert.equal(await lang("/quick_diagnosis?lang=zh"), "zh");
      assert.equal(await lang("/quick_diagnosis", "zh-CN,zh;q=0.9,en;q=0.8"), "zh");
      assert.equal(await lang("/quick_diagnosis.php", "en-US,en;q=0.9"), "en");
      assert.equal(await lang("/quick_diagnosis.php", "fr-FR"), "zh", "a language we do not speak falls back to the path's default");
      assert.equal(await lang("/quick_diagnosis.php?lang=en", "zh-CN"), "en");
      const bad = await request(b.app).get("/quick_diagnosis.php?lang=fr");
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, "invalid_lang");
      assertDocumented(bad);
      assertDocumented(await request(b.app).get("/quick_diagnosis.php?lang=en"));
    } finally {
      await b.close();
    }
  });

  test("keeps every line within 80 columns, counting a CJK character as 2, in both languages", async () => {
    const b = await failingBroker();
    try {
      for (const l of ["zh", "en"]) {
        const res = await request(b.app).get(`/quick_diagnosis.php?lang=${l}`);
        const lines = res.text.split("\n");
        assert.ok(lines.length > 20, res.text);
        const wide = lines.filter((line) => columns(line) > 80);
        assert.deepEqual(wide, [], `${l}: ${wide.length} lines wider than 80 columns`);
        // The facts survive the wrapping: the IP to whitelist and the cleanup command.
        assert.match(res.text, /1\.92\.157\.200/);
        assert.match(res.text, /curl -X POST http:\/\/127\.0\.0\.1:8084\/api\/locks\/cleanup/);
      }
    } finally {
      await b.close();
    }
  });

  test("the width counter agrees with the terminal's rule", () => {
    for (const s of ["", "abc", "令牌存储", "✓ 令牌 Token — 有效", "ＡＢ", "→ · —"]) assert.equal(displayWidth(s), columns(s), s);
  });
});
