// Lock listing and stuck-lock cleanup against a real redis-server whose KEYS command is renamed away, so any use
// of KEYS fails the tests (SCAN only).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { startRedis, type TestRedis } from "../helpers/redis";
import { LockInspector } from "../../src/ops/locks";
import { parseLegacyLockValue } from "../../src/lock/legacyLocks";
import { LEGACY_UNLOCK_STUCK } from "../../src/store/lua";
import { createRedisClient } from "../../src/store/redisClient";
import { silentLogger } from "../../src/logger";
import { RedisRefreshLock } from "../../src/lock/redisLock";
import { accountsEnv, freshPrefix, opsBroker, SECRETS } from "./helpers";

let redis: TestRedis;

before(async () => {
  redis = await startRedis({ extraArgs: ["--rename-command", "KEYS", "KEYS_IS_NOT_USED_BY_THE_BROKER"] });
});
after(async () => {
  await redis.close();
});

const ACCOUNTS = accountsEnv([
  { id: "gh_a", appId: "wx_a", appSecret: SECRETS.appSecret },
  { id: "gh_b", appId: "wx_b", appSecret: SECRETS.otherAppSecret },
]);

function broker(patterns: string) {
  return opsBroker({
    ACCOUNTS,
    REDIS_URL: redis.url,
    WECHAT_API_BASE: "http://127.0.0.1:9",
    KEY_PREFIX: freshPrefix(),
    LOCK_CLEANUP_PATTERNS: patterns,
  });
}

const nowS = () => Math.floor(Date.now() / 1000);
const exists = (key: string) => redis.cli("EXISTS", key) === "1";

describe("stuck-lock cleanup", () => {
  test("removes broker lock keys without TTL and legacy locks whose named expiry passed, and keeps every lock that may be live", async () => {
    const b = broker("wechat:lock:*,legacy:*:mutex");
    const p = b.config.keyPrefix;
    const uniq = p.replace(/\W/g, "");
    const L = (s: string) => `wechat:lock:${uniq}:${s}`;
    try {
      const live = await b.core.lock.tryAcquire("gh_b", 30_000);
      assert.ok(live);
      redis.cli("SET", `${p}{acct:gh_a}:lock`, "by-hand");
      redis.cli("HSET", `${p}{acct:gh_a}:lockinfo`, "owner", "old-tool", "gen", "1", "acquiredAt", "1");
      redis.cli("SET", `${p}{acct:gh_gone}:lock`, "account-no-longer-configured");
      redis.cli("SET", L("plain"), "4f1c2a-random-lock-token");
      redis.cli("SET", L("expired-json"), JSON.stringify({ expires_at: nowS() - 60, owner: "php-1" }));
      redis.cli("SET", L("expired-ms"), JSON.stringify({ expiresAt: Date.now() - 1000 }));
      redis.cli("SET", L("bare-timestamp"), "1700000000");
      redis.cli("SET", L("future-json"), JSON.stringify({ expiresAt: Date.now() + 600_000, owner: "php-2" }));
      redis.cli("SET", L("future-s"), JSON.stringify({ expire: nowS() + 600 }));
      redis.cli("SET", L("ttl"), "v", "PX", "60000");
      redis.cli("SET", L("ttl-with-expired-value"), JSON.stringify({ expires_at: nowS() - 60 }), "PX", "60000");
      redis.cli("HSET", L("hash"), "owner", "x");
      redis.cli("SET", `legacy:${uniq}:mutex`, "1");
      redis.cli("SET", `wechat:token:${uniq}`, "not a lock");

      const result = await b.locks.cleanup();
      const mine = (k: string) => k.includes(uniq) || k.startsWith(p);
      const removed = result.removed.filter((r) => mine(r.key));
      const kept = result.kept.filter((r) => mine(r.key));
      assert.equal(result.dryRun, false);
      assert.equal(result.mode, "redis");
      assert.deepEqual(
        removed.map((r) => [r.key, r.reason]).sort(),
        [
          [`${p}{acct:gh_a}:lock`, "no_ttl"],
          [`${p}{acct:gh_gone}:lock`, "no_ttl"],
          [L("bare-timestamp"), "older_than_max_hold"],
          [L("expired-json"), "expired_value"],
          [L("expired-ms"), "expired_value"],
        ].sort(),
      );
      assert.deepEqual(
        kept.map((k) => [k.key, k.reason]).sort(),
        [
          [`${p}{acct:gh_b}:lock`, "has_ttl"],
          [L("future-json"), "expiry_in_future"],
          [L("future-s"), "expiry_in_future"],
          [L("hash"), "not_a_string"],
          [L("plain"), "age_unknown"],
          [`legacy:${uniq}:mutex`, "age_unknown"],
          [L("ttl"), "has_ttl"],
          [L("ttl-with-expired-value"), "has_ttl"],
        ].sort(),
      );
      assert.equal(kept.find((k) => k.key === L("future-json"))?.owner, "php-2");
      for (const r of removed) assert.equal(exists(r.key), false, `${r.key} should be gone`);
      for (const k of kept) assert.equal(exists(k.key), true, `${k.key} should remain`);
      assert.equal(exists(`${p}{acct:gh_a}:lockinfo`), false, "the stuck lock's info goes with it");
      assert.equal(exists(`wechat:token:${uniq}`), true);
      assert.equal(await live.release(), "released", "the live holder still owns its lock");
    } finally {
      await b.close();
    }
  });

  test("a dry run lists what would be removed and removes nothing", async () => {
    const b = broker("wechat:lock:*");
    const p = b.config.keyPrefix;
    const legacy = `wechat:lock:${p.replace(/\W/g, "")}:dry`;
    try {
      redis.cli("SET", `${p}{acct:gh_a}:lock`, "by-hand");
      redis.cli("SET", legacy, JSON.stringify({ expires_at: nowS() - 5 }));
      const result = await b.locks.cleanup({ dryRun: true });
      assert.equal(result.dryRun, true);
      const keys = result.removed.map((r) => r.key);
      assert.ok(keys.includes(`${p}{acct:gh_a}:lock`));
      assert.ok(keys.includes(legacy));
      assert.equal(exists(`${p}{acct:gh_a}:lock`), true);
      assert.equal(exists(legacy), true);
    } finally {
      redis.cli("DEL", legacy);
      await b.close();
    }
  });

  test("a broad legacy pattern never reaches the broker's own keys, such as the fence counter that has no TTL by design", async () => {
    const prefix = freshPrefix();
    const wide = opsBroker({
      ACCOUNTS,
      REDIS_URL: redis.url,
      WECHAT_API_BASE: "http://127.0.0.1:9",
      KEY_PREFIX: prefix,
      LOCK_CLEANUP_PATTERNS: `${prefix}*`,
    });
    try {
      const h = await wide.core.lock.tryAcquire("gh_a", 10_000);
      assert.ok(h);
      await h.release();
      const fence = `${prefix}{acct:gh_a}:fence`;
      assert.equal(redis.cli("PTTL", fence), "-1");
      const result = await wide.locks.cleanup();
      assert.deepEqual(result.removed, []);
      assert.equal(exists(fence), true);
    } finally {
      await wide.close();
    }
  });

  test("the listing shows the holder, TTL, generation and age of the broker's locks and what legacy values say", async () => {
    const b = broker("wechat:lock:*");
    const p = b.config.keyPrefix;
    const legacy = `wechat:lock:${p.replace(/\W/g, "")}:listed`;
    try {
      const h = await b.core.lock.tryAcquire("gh_a", 20_000);
      assert.ok(h);
      const expires = Date.now() + 300_000;
      redis.cli("SET", legacy, JSON.stringify({ expires_at: String(expires), holder: "php-fpm-7", created_at: nowS() - 30 }));
      const listing = await b.locks.list();
      const own = listing.locks.find((l) => l.key === `${p}{acct:gh_a}:lock`);
      assert.ok(own);
      assert.equal(own.kind, "broker");
      assert.equal(own.accountId, "gh_a");
      assert.equal(own.owner, h.owner);
      assert.equal(own.gen, h.gen);
      assert.ok(own.ttlMs > 0 && own.ttlMs <= 20_000);
      assert.ok(own.ageMs !== undefined && own.ageMs >= 0 && own.ageMs < 10_000);
      assert.equal(own.stuck, false);
      const old = listing.locks.find((l) => l.key === legacy);
      assert.ok(old);
      assert.equal(old.kind, "legacy");
      assert.equal(old.pattern, "wechat:lock:*");
      assert.equal(old.owner, "php-fpm-7");
      assert.equal(old.ttlMs, -1);
      assert.equal(old.expiresAt, new Date(expires).toISOString());
      assert.ok(old.ageMs !== undefined && old.ageMs >= 29_000 && old.ageMs < 40_000);
      assert.equal(old.stuck, false);
      assert.doesNotMatch(JSON.stringify(listing), /by-hand|random-lock-token/);
      await h.release();
    } finally {
      redis.cli("DEL", legacy);
      await b.close();
    }
  });

  test("a scan that reaches its key limit says so instead of running on", async () => {
    const client = createRedisClient({ url: redis.url, commandTimeoutMs: 2000, connectTimeoutMs: 1000, tls: false }, silentLogger());
    const base = `many:${freshPrefix().replace(/\W/g, "")}`;
    try {
      for (let i = 0; i < 30; i++) redis.cli("SET", `${base}:${i}`, "x", "PX", "60000");
      const lock = new RedisRefreshLock({ redis: client, replicaId: "test", keyPrefix: "wtb:", logger: silentLogger() });
      const inspector = new LockInspector({ patterns: [`${base}:*`], lock, accountIds: () => [], maxKeys: 10, scanCount: 5 });
      const listing = await inspector.list();
      assert.equal(listing.truncated, true);
      assert.ok(listing.locks.length <= 10);
    } finally {
      client.disconnect();
    }
  });

  test("in embedded mode the in-process locks are listed and nothing is removed", async () => {
    const b = opsBroker({ ACCOUNTS, WECHAT_API_BASE: "http://127.0.0.1:9" });
    try {
      const h = await b.core.lock.tryAcquire("gh_a", 5_000);
      assert.ok(h);
      const listing = await b.locks.list();
      assert.equal(listing.mode, "embedded");
      assert.match(listing.note ?? "", /embedded mode/);
      assert.equal(listing.locks.length, 1);
      assert.equal(listing.locks[0]!.accountId, "gh_a");
      assert.equal(listing.locks[0]!.owner, h.owner);
      const result = await b.locks.cleanup();
      assert.deepEqual(result.removed, []);
      assert.deepEqual(
        result.kept.map((k) => k.reason),
        ["has_ttl"],
      );
      assert.match(result.note ?? "", /cleanup removes nothing/);
      assert.equal(await h.release(), "released");
    } finally {
      await b.close();
    }
  });
});

describe("the legacy compare-and-delete script", () => {
  let client: Redis;
  before(() => {
    client = createRedisClient({ url: redis.url, commandTimeoutMs: 2000, connectTimeoutMs: 1000, tls: false }, silentLogger());
  });
  after(() => client.disconnect());

  test("leaves a key that was re-taken, given a TTL or turned into another type since it was judged stuck", async () => {
    const k = `cad:${freshPrefix()}`;
    redis.cli("SET", k, "new-holder");
    assert.equal(await LEGACY_UNLOCK_STUCK.run(client, [k], ["old-holder"]), 0);
    redis.cli("SET", k, "old-holder", "PX", "60000");
    assert.equal(await LEGACY_UNLOCK_STUCK.run(client, [k], ["old-holder"]), 0);
    redis.cli("DEL", k);
    redis.cli("HSET", k, "a", "b");
    assert.equal(await LEGACY_UNLOCK_STUCK.run(client, [k], ["old-holder"]), 0);
    assert.equal(exists(k), true);
    redis.cli("DEL", k);
    assert.equal(await LEGACY_UNLOCK_STUCK.run(client, [k], ["old-holder"]), 0);
    redis.cli("SET", k, "old-holder");
    assert.equal(await LEGACY_UNLOCK_STUCK.run(client, [k], ["old-holder"]), 1);
    assert.equal(exists(k), false);
  });
});

describe("legacy lock values", () => {
  test("named expiries are read in seconds or milliseconds, as numbers, numeric strings or ISO dates", () => {
    assert.deepEqual(parseLegacyLockValue('{"expires_at": 1700000000}'), { expiresAtMs: 1_700_000_000_000 });
    assert.deepEqual(parseLegacyLockValue('{"expire": "1700000000"}'), { expiresAtMs: 1_700_000_000_000 });
    assert.deepEqual(parseLegacyLockValue('{"expiresAt": 1700000000123}'), { expiresAtMs: 1_700_000_000_123 });
    assert.deepEqual(parseLegacyLockValue('{"expiresAt": "2023-11-14T22:13:20Z"}'), { expiresAtMs: 1_700_000_000_000 });
    assert.deepEqual(parseLegacyLockValue(" 1700000000.5 "), { bareTimeMs: 1_700_000_000_500 });
  });

  test("owners and acquisition times are read from the usual fields", () => {
    assert.deepEqual(parseLegacyLockValue('{"owner":"web-1","acquired_at":1700000000,"expires_at":1700000060}'), {
      owner: "web-1",
      acquiredAtMs: 1_700_000_000_000,
      expiresAtMs: 1_700_000_060_000,
    });
    assert.deepEqual(parseLegacyLockValue('{"hostname":"php-fpm-3","pid":4242}'), { owner: "php-fpm-3" });
    assert.equal(parseLegacyLockValue('{"owner":"evil\\u0007\\nname"}').owner, "evilname");
  });

  test("anything else says nothing: random tokens, small numbers, broken JSON, arrays", () => {
    for (const v of [
      "",
      "4f1c2a9e-lock-token",
      "4242",
      "0",
      "-1700000000",
      "{not json",
      "[1700000000]",
      '{"expires_at": 12}',
      '{"expires_at": true}',
      "null",
    ]) {
      assert.deepEqual(parseLegacyLockValue(v), {}, v);
    }
  });
});
