import { test } from "node:test";
import assert from "node:assert/strict";
import { load } from "./helpers";

void test("an empty environment gives the documented defaults", () => {
  const c = load({});
  assert.equal(c.port, 8084);
  assert.equal(c.host, "127.0.0.1");
  assert.deepEqual(c.auth, { required: false, apiKeys: [] });
  assert.equal(c.redis, null);
  assert.equal(c.keyPrefix, "wtb:");
  assert.deepEqual(c.accounts, []);
  assert.equal(c.wechatApiBase, "https://api.weixin.qq.com");
  assert.equal(c.wecomApiBase, "https://qyapi.weixin.qq.com");
  assert.equal(c.logLevel, "info");
  assert.equal(c.upstreamTimeoutMs, 5000);
  assert.equal(c.localCacheTtlMs, 30000);
  assert.equal(c.tokenSafetyMarginSec, 60);
  assert.equal(c.classicRefreshAheadSec, 900);
  assert.equal(c.stableRefreshAheadSec, 240);
  assert.equal(c.forceRefreshPerDay, 20);
  assert.equal(c.forceRefreshMinIntervalSec, 30);
  assert.equal(c.lockTtlMs, 5000 * 2 + 2000);
  assert.deepEqual(c.lockCleanupPatterns, []);
  assert.equal(c.shutdownTimeoutMs, 10000);
  assert.equal(c.tls, null);
});

void test("with no accounts the broker still loads and warns that it serves nothing but diagnosis", () => {
  const c = load({});
  assert.equal(c.warnings.length, 1);
  assert.match(c.warnings[0]!, /no accounts configured.*only diagnosis/);
});

void test("a variable set to an empty or blank string counts as unset", () => {
  const c = load({ PORT: "", KEY_PREFIX: "   ", LOG_LEVEL: "", REDIS_URL: "", ACCOUNTS: "" });
  assert.equal(c.port, 8084);
  assert.equal(c.keyPrefix, "wtb:");
  assert.equal(c.logLevel, "info");
  assert.equal(c.redis, null);
});

void test("the lock TTL defaults to twice the upstream timeout plus two seconds", () => {
  assert.equal(load({ UPSTREAM_TIMEOUT_MS: "3000" }).lockTtlMs, 8000);
});

void test("variables outside the schema are ignored", () => {
  const c = load({ PATH: "/usr/bin", HOME: "/root", NODE_ENV: "production" });
  assert.equal(c.port, 8084);
});
