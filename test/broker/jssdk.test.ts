// The JS-SDK signature as pure functions: WeChat's published example, the fragment rule, and which page URLs are
// signed at all. The example is the one of the JS-SDK documentation's signature appendix (docs/wechat-api.md §11, source [14]).
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_SIGN_URL_LENGTH, newNonce, sign, signableUrl, signString } from "../../src/broker/jssdk";

test("the signature of WeChat's documented example is the documented one", () => {
  const ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
  const s = sign(ticket, "http://mp.weixin.qq.com?params=value", 1414587457_000, "Wm3WZYTPz0wzccnW");
  assert.deepEqual(s, { timestamp: 1414587457, nonceStr: "Wm3WZYTPz0wzccnW", signature: "0f9de62fce790f9a083d5c99e95740ceb90c27ed" });
  assert.equal(signString(ticket, "n", 1, "u"), `jsapi_ticket=${ticket}&noncestr=n&timestamp=1&url=u`);
});

test("the page URL is signed as given, without its fragment; only http(s) URLs up to the limit are signed", () => {
  assert.deepEqual(signableUrl("https://a.example/p?q=1&r=%20#frag#more"), { ok: true, url: "https://a.example/p?q=1&r=%20" });
  assert.deepEqual(signableUrl("http://a.example"), { ok: true, url: "http://a.example" });
  assert.deepEqual(signableUrl(undefined), { ok: false, why: "missing" });
  assert.deepEqual(signableUrl(""), { ok: false, why: "missing" });
  assert.deepEqual(signableUrl("ftp://a.example/"), { ok: false, why: "scheme" });
  assert.deepEqual(signableUrl("javascript:alert(1)"), { ok: false, why: "scheme" });
  assert.deepEqual(signableUrl("/relative/path"), { ok: false, why: "unparsable" });
  const long = `https://a.example/${"x".repeat(MAX_SIGN_URL_LENGTH)}`;
  assert.deepEqual(signableUrl(long), { ok: false, why: "too_long" });
});

test("nonces are fresh, URL-safe and within WeChat's 32 characters", () => {
  const seen = new Set(Array.from({ length: 1000 }, () => newNonce()));
  assert.equal(seen.size, 1000);
  for (const n of seen) assert.match(n, /^[A-Za-z0-9_-]{16}$/);
});
