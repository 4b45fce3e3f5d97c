import { test } from "node:test";
import assert from "node:assert/strict";
import { classify, classifyFailure, describeErrcode, listErrcodes } from "../../src/wechat/errcodes";
import { CONFIG_COOLDOWN_MS, type Platform } from "../../src/wechat/errcodeEntry";
import { quotaDayEnd } from "../../src/clock";
import type { ErrClass, UpstreamEndpoint } from "../../src/wechat/types";

const NOW = Date.UTC(2026, 10, 21, 3, 0, 0); // 11:00 Beijing time
const MIN = 60_000;
const HOUR = 60 * MIN;

function at(platform: Platform, endpoint: UpstreamEndpoint, errcode: number, errmsg?: string, now = NOW) {
  return classify({ platform, endpoint, errcode, errmsg, now, appId: "wx1234567890abcdef" });
}

const REQUIRED_WECHAT = [
  -1, 40001, 40002, 40013, 40014, 40125, 40164, 40243, 41001, 41002, 41004, 42001, 45009, 45011, 48001, 50002, 50004, 61004, 61024, 89501,
  89503, 89506, 89507,
];
const REQUIRED_WECOM = [-1, 40001, 40013, 40014, 40091, 41001, 41002, 41004, 42001, 45009, 60020, 301002];

void test("every errcode the broker must know is in the table for its platform", () => {
  for (const code of REQUIRED_WECHAT) assert.ok(describeErrcode(code, "wechat"), `wechat ${code}`);
  for (const code of REQUIRED_WECOM) assert.ok(describeErrcode(code, "wecom"), `wecom ${code}`);
  assert.equal(describeErrcode(60020, "wechat"), undefined, "60020 is WeCom's, not WeChat's");
  assert.equal(describeErrcode(12345, "wechat"), undefined);
});

void test("every entry has an English and a Chinese hint, and a cool-down wherever a human must act", () => {
  const all = listErrcodes();
  assert.ok(all.length >= REQUIRED_WECHAT.length + REQUIRED_WECOM.length);
  for (const d of all) {
    assert.ok(d.hint.en.length > 20, `${d.platform} ${d.code} en`);
    assert.ok(/[\u4e00-\u9fff]/.test(d.hint.zh), `${d.platform} ${d.code} zh has Chinese`);
    const b = d.atTokenEndpoint;
    if ((b.errclass === "config" || b.errclass === "admin") && d.code !== 301002) {
      assert.ok((b.retryAfterMs ?? 0) > 0, `${d.platform} ${d.code} has a cool-down`);
      assert.equal(b.retryable, false, `${d.platform} ${d.code} is not retryable`);
    }
  }
  assert.equal(
    listErrcodes("wecom").every((d) => d.platform === "wecom"),
    true,
  );
});

void test("the classes of the WeChat codes at a token endpoint are the documented ones", () => {
  const expected: Record<number, ErrClass> = {
    [-1]: "transient",
    40001: "config",
    40002: "bug",
    40013: "config",
    40125: "config",
    40164: "config",
    40243: "config",
    41001: "bug",
    41002: "bug",
    41004: "config",
    45009: "quota",
    45011: "quota",
    48001: "config",
    50002: "admin",
    50004: "admin",
    61004: "config",
    61024: "config",
    89501: "admin",
    89503: "admin",
    89506: "admin",
    89507: "admin",
  };
  for (const [code, cls] of Object.entries(expected)) {
    for (const ep of ["token", "stable_token"] as const) {
      assert.equal(at("wechat", ep, Number(code)).errclass, cls, `${code} at ${ep}`);
    }
  }
});

void test("40001 at a token endpoint is a bad secret, and at a business call a dead token", () => {
  const fetch = at("wechat", "token", 40001, "invalid credential, access_token is invalid or not latest rid: 1");
  assert.equal(fetch.errclass, "config");
  assert.equal(fetch.retryable, false);
  assert.equal(fetch.retryAfterMs, CONFIG_COOLDOWN_MS);
  const probe = at("wechat", "probe", 40001, "invalid credential, access_token is invalid or not latest rid: 1");
  assert.equal(probe.errclass, "token_invalid");
  assert.equal(probe.retryable, true);
  assert.equal(probe.retryAfterMs, undefined);
  assert.equal(at("wecom", "gettoken", 40001).errclass, "config");
  assert.equal(at("wecom", "probe", 40001).errclass, "token_invalid");
});

void test("40014 and 42001 on a business call mean the token is dead, on both platforms", () => {
  for (const platform of ["wechat", "wecom"] as const) {
    for (const code of [40014, 42001]) {
      const c = at(platform, "probe", code);
      assert.equal(c.errclass, "token_invalid", `${platform} ${code}`);
      assert.equal(c.retryable, true);
    }
  }
});

void test("40014 and 42001 from a token endpoint (which was sent no token) are treated as transient", () => {
  assert.equal(at("wechat", "stable_token", 42001).errclass, "transient");
  assert.equal(at("wecom", "gettoken", 40014).errclass, "transient");
});

void test("45009 cools down until the next 00:00 Beijing time, computed from the injected now", () => {
  const c = at("wechat", "token", 45009, "reach max api daily quota limit rid: 64eed8de-4cdaca9b-1be8f193");
  assert.equal(c.errclass, "quota");
  assert.equal(c.retryable, true);
  assert.equal(c.retryAfterMs, quotaDayEnd(NOW) - NOW);
  assert.equal(c.retryAfterMs, 13 * HOUR, "11:00 Beijing → 13 h to midnight");
  // Five minutes before midnight Beijing (15:55 UTC) only five minutes remain.
  const late = Date.UTC(2026, 10, 21, 15, 55, 0);
  assert.equal(at("wechat", "stable_token", 45009, undefined, late).retryAfterMs, 5 * MIN);
  // Exactly at midnight a whole new day must be waited, never zero.
  const midnight = Date.UTC(2026, 10, 21, 16, 0, 0);
  assert.equal(at("wechat", "stable_token", 45009, undefined, midnight).retryAfterMs, 24 * HOUR);
});

void test("the fixed cool-downs are 60 s for 45011, 1 h for 89507, 24 h for 89506 and minutes for 89501/89503", () => {
  assert.equal(at("wechat", "stable_token", 45011).retryAfterMs, MIN);
  assert.equal(at("wechat", "token", 89507).retryAfterMs, HOUR);
  assert.equal(at("wechat", "token", 89506).retryAfterMs, 24 * HOUR);
  for (const code of [89501, 89503]) {
    const ms = at("wechat", "token", code).retryAfterMs ?? 0;
    assert.ok(ms >= 2 * MIN && ms <= 10 * MIN, `${code}: ${ms}`);
  }
  assert.equal(at("wechat", "token", 40164).retryAfterMs, CONFIG_COOLDOWN_MS);
  assert.equal(at("wechat", "token", 40125).retryAfterMs, CONFIG_COOLDOWN_MS);
  assert.equal(at("wecom", "gettoken", 45009).errclass, "quota");
  assert.equal(at("wecom", "gettoken", 45009).retryAfterMs, MIN);
  assert.equal(at("wechat", "token", -1).retryAfterMs, undefined, "transient: the broker's backoff decides");
});

void test("the 40164 hint names the extracted IP, the console path, and the wait, in English and Chinese", () => {
  const c = at(
    "wechat",
    "stable_token",
    40164,
    "invalid ip 1.92.157.200 ipv6 ::ffff:1.92.157.200, not in whitelist rid: 68231586-663e56da-1e04e5eb",
  );
  assert.equal(c.ip, "1.92.157.200");
  assert.equal(c.rid, "68231586-663e56da-1e04e5eb");
  assert.equal(c.summary, "IP 1.92.157.200 is not in the IP whitelist");
  assert.match(c.hint.en, /1\.92\.157\.200/);
  assert.match(c.hint.en, /IP白名单/);
  assert.match(c.hint.en, /few minutes/);
  assert.match(c.hint.en, /wx1234567890abcdef/);
  assert.match(c.hint.zh, /1\.92\.157\.200/);
  assert.match(c.hint.zh, /微信公众平台 → 设置与开发 → 基本配置 → IP白名单/);
  assert.match(c.hint.zh, /开发密钥 → API IP白名单/);
  assert.match(c.hint.zh, /生效需等待几分钟/);
});

void test("without an IP in the errmsg the 40164 hint still says what to whitelist", () => {
  const c = at("wechat", "token", 40164, "invalid ip not in whitelist");
  assert.equal(c.ip, undefined);
  assert.match(c.hint.en, /egress IP/);
  assert.match(c.hint.zh, /出口IP/);
});

void test("the 60020 hint points at the WeCom app's 企业可信IP with the IP", () => {
  const c = at(
    "wecom",
    "probe",
    60020,
    "not allow to access from your ip, hint: [1706848717432011565347844], from ip: 1.2.3.4, more info at https://open.work.weixin.qq.com/devtool/query?e=60020",
  );
  assert.equal(c.errclass, "config");
  assert.equal(c.ip, "1.2.3.4");
  assert.equal(c.rid, "1706848717432011565347844");
  assert.match(c.hint.zh, /企业可信IP/);
  assert.match(c.hint.zh, /1\.2\.3\.4/);
  assert.match(c.hint.en, /1\.2\.3\.4/);
});

void test("the 40125 hint says where to copy or reset the AppSecret and what to update", () => {
  const c = at("wechat", "token", 40125, "invalid appsecret rid: 671b9ddb-6ce940c8-7d5bcaf9");
  assert.match(c.hint.en, /AppSecret/);
  assert.match(c.hint.en, /ACCOUNTS \/ appSecretFile/);
  assert.match(c.hint.zh, /开发者密码\(AppSecret\)/);
  assert.equal(c.rid, "671b9ddb-6ce940c8-7d5bcaf9");
});

void test("the 45009 hint says stop, find the other fetcher, clear_quota, and 00:00 Beijing time", () => {
  const { hint } = at("wechat", "token", 45009);
  assert.match(hint.en, /00:00 Beijing time/);
  assert.match(hint.en, /clear_quota/);
  assert.match(hint.en, /who is fetching|Find who/i);
  assert.match(hint.zh, /北京时间 00:00/);
  assert.match(hint.zh, /clear_quota/);
});

void test("61004's hint uses the requestIP and points at the third-party platform whitelist", () => {
  const c = at("wechat", "token", 61004, "access clientip is not registered requestIP: 27.18.103.5 rid: 62a9a3ac-204f22d9-196a7580");
  assert.equal(c.ip, "27.18.103.5");
  assert.match(c.hint.zh, /第三方平台/);
  assert.match(c.hint.en, /27\.18\.103\.5/);
});

void test("an unknown errcode is slow transient with a hint to look it up, and is flagged unknown", () => {
  const c = at("wechat", "token", 99999, "something new rid: 11111111-22222222-33333333");
  assert.equal(c.known, false);
  assert.equal(c.errclass, "transient");
  assert.equal(c.retryable, true);
  assert.equal(c.retryAfterMs, MIN);
  assert.equal(c.rid, "11111111-22222222-33333333");
  assert.match(c.hint.en, /99999/);
  assert.match(c.hint.zh, /99999/);
  assert.equal(at("wechat", "token", 40164).known, true);
  // A WeChat-only code asked about WeCom is unknown there.
  assert.equal(at("wecom", "gettoken", 40125).known, false);
});

void test("network failures, timeouts, 5xx and non-JSON bodies are transient; other HTTP statuses are configuration", () => {
  for (const failure of ["network", "timeout", "non_json", "bad_shape", "aborted"] as const) {
    const c = classifyFailure({ platform: "wechat", failure, now: NOW });
    assert.equal(c.errclass, "transient", failure);
    assert.equal(c.retryable, true, failure);
    assert.ok(c.hint.en && /[\u4e00-\u9fff]/.test(c.hint.zh), failure);
  }
  assert.equal(classifyFailure({ platform: "wechat", failure: "non_json", now: NOW }).kind, "bad_body");
  assert.equal(classifyFailure({ platform: "wechat", failure: "bad_shape", now: NOW }).kind, "bad_body");
  assert.equal(classifyFailure({ platform: "wechat", failure: "timeout", now: NOW }).kind, "timeout");
  for (const status of [500, 502, 503, 504, 408, 429]) {
    const c = classifyFailure({ platform: "wechat", failure: "http_status", httpStatus: status, now: NOW });
    assert.equal(c.kind, "http_status");
    assert.equal(c.errclass, "transient", String(status));
  }
  for (const status of [301, 403, 404]) {
    const c = classifyFailure({ platform: "wecom", failure: "http_status", httpStatus: status, now: NOW });
    assert.equal(c.errclass, "config", String(status));
    assert.equal(c.retryable, false);
    assert.match(c.hint.en, /WECOM_API_BASE/);
  }
});

void test("describeErrcode gives both contexts of 40001 and the quota-day cool-down of 45009", () => {
  const d = describeErrcode(40001, "wechat");
  assert.equal(d?.atTokenEndpoint.errclass, "config");
  assert.equal(d?.atProbe.errclass, "token_invalid");
  const q = describeErrcode(45009);
  assert.equal(q?.atTokenEndpoint.retryAfterUntil, "quota_day_end");
  assert.equal(q?.atTokenEndpoint.retryAfterMs, undefined);
  const ip = describeErrcode(40164, "wechat", { ip: "9.9.9.9" });
  assert.match(ip?.hint.en ?? "", /9\.9\.9\.9/);
});

void test("a 40001 gets the fix of the endpoint that answered: the AppSecret at a token endpoint, the other fetcher on a business call", () => {
  for (const platform of ["wechat", "wecom"] as const) {
    const token = at(platform, platform === "wecom" ? "gettoken" : "token", 40001);
    const probe = at(platform, "probe", 40001);
    assert.match(token.hint.en, /secret/i, `${platform} token`);
    assert.doesNotMatch(token.hint.en, /business call/i, `${platform} token`);
    assert.doesNotMatch(
      probe.hint.en,
      /secret is wrong|AppSecret is wrong|corpsecret .* is wrong|At a token endpoint|At gettoken/i,
      `${platform} probe: ${probe.hint.en}`,
    );
    assert.doesNotMatch(probe.hint.zh, /获取 token 时返回|gettoken 返回/, `${platform} probe: ${probe.hint.zh}`);
    assert.match(probe.hint.en, /no longer valid|replaced/i);
    const d = describeErrcode(40001, platform, { endpoint: "probe", appId: "wx1234567890abcdef" });
    assert.equal(d?.hint.en, probe.hint.en, "the table's description follows the endpoint too");
  }
});
