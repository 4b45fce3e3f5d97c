import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describeConfig } from "../../src/config";
import { containsString, load } from "./helpers";

const APP_SECRET = "Sx30-app-secret-GHJ2";
const CORP_SECRET = "Sx31-corp-secret-RTY5";
const API_KEY = "Sx32-api-key-value-QAZ7";
const REDIS_PW = "Sx33-redis-pw-WSX8";

const ACCOUNTS = JSON.stringify([
  { id: "shop", appId: "wx0000000000000001", appSecret: APP_SECRET, tokenApi: "classic" },
  { id: "hr", type: "wecom", corpId: "ww0000000000000002", corpSecret: CORP_SECRET },
]);
const KEYS = JSON.stringify([
  { name: "orders", key: API_KEY, accounts: ["shop"] },
  { name: "ops", keySha256: "ab".repeat(32), role: "admin" },
]);

void test("the summary of an embedded broker shows the mode, listener, auth and defaults", () => {
  const s = describeConfig(load({}));
  assert.equal(s.mode, "embedded");
  assert.equal(s.redis, null);
  assert.deepEqual(s.listen, { host: "127.0.0.1", port: 8084, tls: "off" });
  assert.deepEqual(s.auth, { required: false, keys: [] });
  assert.equal(s.timing.lockTtlMs, 12000);
  assert.equal(s.warnings.length, 1);
});

void test("the summary's timing lists every top-level tunable, with the value in its field's unit", () => {
  const s = describeConfig(load({ LEGACY_LOCK_MAX_HOLD_SEC: "7200" }));
  assert.deepEqual(s.timing, {
    shutdownTimeoutMs: 10000,
    lockTtlMs: 12000,
    legacyLockMaxHoldSec: 7200,
    upstreamTimeoutMs: 5000,
    localCacheTtlMs: 30000,
    tokenSafetyMarginSec: 60,
    classicRefreshAheadSec: 900,
    stableRefreshAheadSec: 240,
    forceRefreshPerDay: 20,
    forceRefreshMinIntervalSec: 30,
    upstreamCallsPerMinute: 6,
    reportChecksPerMinute: 6,
    reportChecksPerKeyPerMinute: 3,
    refetchFloorSec: 30,
    wechatOverlapSec: 300,
  });
});

void test("the summary lists accounts with the token API they really use, and keys with their roles", () => {
  const s = describeConfig(load({ ACCOUNTS, API_KEYS: KEYS }));
  assert.deepEqual(s.accounts, [
    { id: "shop", type: "official", appId: "wx0000000000000001", tokenApi: "classic" },
    { id: "hr", type: "wecom", appId: "ww0000000000000002", tokenApi: "wecom" },
  ]);
  assert.deepEqual(s.auth, {
    required: true,
    keys: [
      { name: "orders", role: "client", accounts: ["shop"] },
      { name: "ops", role: "admin", accounts: "*" },
    ],
  });
  assert.deepEqual(s.listen, { host: "0.0.0.0", port: 8084, tls: "off" });
});

void test("the summary masks the Redis password in the URL", () => {
  const s = describeConfig(load({ REDIS_URL: `rediss://broker:${REDIS_PW}@redis.internal:6380/1` }));
  assert.equal(s.mode, "redis");
  assert.equal(s.redis?.url, "rediss://broker:****@redis.internal:6380/1");
  assert.equal(s.redis?.passwordSet, true);
  assert.equal(s.redis?.tls, true);
});

void test("the summary masks a password given by REDIS_PASSWORD too, and shows none when there is none", () => {
  assert.equal(describeConfig(load({ REDIS_URL: "redis://r:6379", REDIS_PASSWORD: REDIS_PW })).redis?.url, "redis://:****@r:6379");
  const plain = describeConfig(load({ REDIS_URL: "redis://r:6379" })).redis;
  assert.equal(plain?.url, "redis://r:6379");
  assert.equal(plain?.passwordSet, false);
});

void test("the summary of a Sentinel setup lists the sentinels", () => {
  const s = describeConfig(load({ REDIS_SENTINELS: "s1:26379,[fd00::2]:26380", REDIS_SENTINEL_NAME: "mymaster" }));
  assert.deepEqual(s.redis?.sentinels, ["s1:26379", "[fd00::2]:26380"]);
  assert.equal(s.redis?.sentinelName, "mymaster");
  assert.equal(s.redis?.url, undefined);
});

void test("the summary holds no secret, no key hash and no password", () => {
  const config = load({
    ACCOUNTS,
    API_KEYS: KEYS,
    REDIS_URL: `redis://broker:${REDIS_PW}@redis.internal`,
  });
  const summary = describeConfig(config);
  const keyHash = createHash("sha256").update(API_KEY).digest("hex");
  for (const secret of [APP_SECRET, CORP_SECRET, API_KEY, REDIS_PW, keyHash, "ab".repeat(32)]) {
    assert.equal(containsString(summary, secret), false, secret);
    assert.ok(!JSON.stringify(summary).includes(secret), secret);
  }
  // The config itself does hold the secrets it needs; the summary is what drops them.
  assert.equal(containsString(config, APP_SECRET), true);
  assert.equal(containsString(config, REDIS_PW), true);
});
