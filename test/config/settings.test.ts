import { test } from "node:test";
import assert from "node:assert/strict";
import { assertIssue, load, loadError } from "./helpers";

void test("PORT accepts integers from 1 to 65535 and surrounding spaces", () => {
  assert.equal(load({ PORT: "1" }).port, 1);
  assert.equal(load({ PORT: "65535" }).port, 65535);
  assert.equal(load({ PORT: " 9000 " }).port, 9000);
});

void test("PORT rejects zero, out-of-range, negative, fractional and non-numeric values", () => {
  for (const bad of ["0", "65536", "-1", "80.5", "80a", "1e3", "0x50"]) {
    assertIssue(loadError({ PORT: bad }), "PORT", "must be an integer from 1 to 65535");
  }
});

void test("KEY_PREFIX accepts letters, digits and :_-. up to 64 characters", () => {
  assert.equal(load({ KEY_PREFIX: "org-1.wtb_v2:" }).keyPrefix, "org-1.wtb_v2:");
  assert.equal(load({ KEY_PREFIX: "a".repeat(64) }).keyPrefix, "a".repeat(64));
  for (const bad of ["a b", "wtb{x}:", "a".repeat(65), "wtb*"]) {
    assertIssue(loadError({ KEY_PREFIX: bad }), "KEY_PREFIX", /1–64 letters, digits/);
  }
});

void test("LOG_LEVEL accepts the pino levels in any case and rejects others, listing the choices", () => {
  assert.equal(load({ LOG_LEVEL: "DEBUG" }).logLevel, "debug");
  assert.equal(load({ LOG_LEVEL: "silent" }).logLevel, "silent");
  assertIssue(loadError({ LOG_LEVEL: "verbose" }), "LOG_LEVEL", "must be one of fatal, error, warn, info, debug, trace, silent");
});

void test("API base URLs lose their trailing slash and keep a path prefix", () => {
  const c = load({ WECHAT_API_BASE: "https://proxy.example.test/wechat/", WECOM_API_BASE: "http://127.0.0.1:9100/" });
  assert.equal(c.wechatApiBase, "https://proxy.example.test/wechat");
  assert.equal(c.wecomApiBase, "http://127.0.0.1:9100");
});

void test("API base URLs must be http(s), without query, fragment or credentials", () => {
  assertIssue(loadError({ WECHAT_API_BASE: "ftp://api.example.test" }), "WECHAT_API_BASE", "must be an http:// or https:// URL");
  assertIssue(loadError({ WECHAT_API_BASE: "not a url" }), "WECHAT_API_BASE", "is not a valid URL");
  assertIssue(loadError({ WECOM_API_BASE: "https://q.example.test/?x=1" }), "WECOM_API_BASE", /query string/);
  assertIssue(loadError({ WECOM_API_BASE: "https://q.example.test/#top" }), "WECOM_API_BASE", /fragment/);
  const err = loadError({ WECHAT_API_BASE: "https://user:url-cred-Zq81@api.example.test" });
  assertIssue(err, "WECHAT_API_BASE", /must not contain credentials/);
  assert.ok(!err.message.includes("url-cred-Zq81"));
});

void test("every tunable is read from its variable", () => {
  const c = load({
    UPSTREAM_TIMEOUT_MS: "4000",
    LOCAL_CACHE_TTL_MS: "60000",
    TOKEN_SAFETY_MARGIN_SEC: "30",
    CLASSIC_REFRESH_AHEAD_SEC: "1200",
    STABLE_REFRESH_AHEAD_SEC: "299",
    FORCE_REFRESH_PER_DAY: "5",
    FORCE_REFRESH_MIN_INTERVAL_SEC: "60",
    LOCK_TTL_MS: "9000",
    SHUTDOWN_TIMEOUT_MS: "0",
  });
  assert.deepEqual(
    [
      c.upstreamTimeoutMs,
      c.localCacheTtlMs,
      c.tokenSafetyMarginSec,
      c.classicRefreshAheadSec,
      c.stableRefreshAheadSec,
      c.forceRefreshPerDay,
      c.forceRefreshMinIntervalSec,
      c.lockTtlMs,
      c.shutdownTimeoutMs,
    ],
    [4000, 60000, 30, 1200, 299, 5, 60, 9000, 0],
  );
});

void test("the local cache TTL may not exceed 60 seconds", () => {
  assertIssue(loadError({ LOCAL_CACHE_TTL_MS: "60001" }), "LOCAL_CACHE_TTL_MS", "must be an integer from 0 to 60000");
});

void test("the stable refresh-ahead must be under 300 s because stable tokens only rotate in their last 300 s", () => {
  assertIssue(
    loadError({ STABLE_REFRESH_AHEAD_SEC: "300" }),
    "STABLE_REFRESH_AHEAD_SEC",
    "must be an integer from 1 to 299: stable tokens only rotate in their last 300 s",
  );
});

void test("the force-refresh budget and spacing stay within WeChat's limits", () => {
  assertIssue(loadError({ FORCE_REFRESH_PER_DAY: "21" }), "FORCE_REFRESH_PER_DAY", /0 to 20: WeChat allows 20/);
  assertIssue(loadError({ FORCE_REFRESH_MIN_INTERVAL_SEC: "29" }), "FORCE_REFRESH_MIN_INTERVAL_SEC", /30 to 86400: WeChat ignores/);
  assert.equal(load({ FORCE_REFRESH_PER_DAY: "0" }).forceRefreshPerDay, 0);
});

void test("the lock TTL must be greater than the upstream timeout", () => {
  assertIssue(
    loadError({ UPSTREAM_TIMEOUT_MS: "5000", LOCK_TTL_MS: "5000" }),
    "LOCK_TTL_MS",
    /must be greater than UPSTREAM_TIMEOUT_MS \(5000\)/,
  );
  assert.equal(load({ UPSTREAM_TIMEOUT_MS: "5000", LOCK_TTL_MS: "5001" }).lockTtlMs, 5001);
});

void test("refresh must start before a token counts as expired: refresh-ahead must exceed the safety margin", () => {
  const err = loadError({ TOKEN_SAFETY_MARGIN_SEC: "300", STABLE_REFRESH_AHEAD_SEC: "240", CLASSIC_REFRESH_AHEAD_SEC: "300" });
  assertIssue(err, "STABLE_REFRESH_AHEAD_SEC", /must be greater than TOKEN_SAFETY_MARGIN_SEC \(300\)/);
  assertIssue(err, "CLASSIC_REFRESH_AHEAD_SEC", /must be greater than TOKEN_SAFETY_MARGIN_SEC \(300\)/);
});

void test("lock cleanup patterns are a trimmed comma-separated list", () => {
  assert.deepEqual(load({ LOCK_CLEANUP_PATTERNS: "lock:* , legacy:{acct:*}:lock" }).lockCleanupPatterns, [
    "lock:*",
    "legacy:{acct:*}:lock",
  ]);
});

void test("a lock cleanup pattern with no literal part, or an empty one, is refused", () => {
  const err = loadError({ LOCK_CLEANUP_PATTERNS: "*,lock:*,,[a-z]?" });
  const messages = err.issues.filter((i) => i.source === "LOCK_CLEANUP_PATTERNS").map((i) => i.message);
  assert.deepEqual(messages, [
    'pattern "*" has no literal part: it would match every key',
    "pattern 3 is empty",
    'pattern "[a-z]?" has no literal part: it would match every key',
  ]);
});
