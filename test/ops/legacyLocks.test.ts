// Legacy lock cleanup never removes a lock that may be live: a bare number may be the time a PHP `SETNX key time()`
// lock was taken, so it is removed only once older than LEGACY_LOCK_MAX_HOLD_SEC; the report says per key why.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import { startRedis, type TestRedis } from "../helpers/redis";
import { parseLegacyLockValue } from "../../src/lock/legacyLocks";
import { assertDocumented } from "../helpers/openapi";
import { accountsEnv, freshPrefix, opsBroker, SECRETS } from "./helpers";

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.close();
});

const ACCOUNTS = accountsEnv([{ id: "gh_a", appId: "wx_a", appSecret: SECRETS.appSecret }]);
const nowS = () => Math.floor(Date.now() / 1000);
const exists = (key: string) => redis.cli("EXISTS", key) === "1";

describe("legacy lock cleanup", () => {
  test("a PHP SETNX lock that holds its acquire time is kept while younger than the maximum hold and removed after it, each with its reason", async () => {
    const prefix = freshPrefix();
    const uniq = prefix.replace(/\W/g, "");
    const L = (s: string) => `php:lock:${uniq}:${s}`;
    const b = opsBroker({
      ACCOUNTS,
      REDIS_URL: redis.url,
      WECHAT_API_BASE: "http://127.0.0.1:9",
      KEY_PREFIX: prefix,
      LOCK_CLEANUP_PATTERNS: `php:lock:${uniq}:*`,
      LEGACY_LOCK_MAX_HOLD_SEC: "600",
    });
    try {
      redis.cli("SET", L("just-taken"), String(nowS()));
      redis.cli("SET", L("just-taken-ms"), String(Date.now() - 5_000));
      redis.cli("SET", L("taken-2h-ago"), String(nowS() - 7200));
      redis.cli("SET", L("expiry-ahead"), String(nowS() + 300));
      redis.cli("SET", L("random-token"), "4f1c2a-random-lock-token");
      redis.cli("SET", L("json-old"), JSON.stringify({ owner: "php-1", acquired_at: nowS() - 3600 }));
      redis.cli("SET", L("json-young"), JSON.stringify({ owner: "php-2", locked_at: nowS() - 10 }));
      redis.cli("SET", L("json-expired"), JSON.stringify({ owner: "php-3", expires_at: nowS() - 1 }));

      const listing = await b.locks.list();
      const listed = (k: string) => listing.locks.find((l) => l.key === k);
      assert.equal(listed(L("just-taken"))?.stuck, false, "a lock taken this second is not stuck");
      assert.equal(listed(L("taken-2h-ago"))?.stuck, true);

      const result = await b.locks.cleanup();
      assert.deepEqual(
        result.removed.map((r) => [r.key, r.reason]).sort(),
        [
          [L("taken-2h-ago"), "older_than_max_hold"],
          [L("json-old"), "older_than_max_hold"],
          [L("json-expired"), "expired_value"],
        ].sort(),
      );
      assert.deepEqual(
        result.kept.map((k) => [k.key, k.reason]).sort(),
        [
          [L("just-taken"), "within_max_hold"],
          [L("just-taken-ms"), "within_max_hold"],
          [L("expiry-ahead"), "expiry_in_future"],
          [L("random-token"), "age_unknown"],
          [L("json-young"), "within_max_hold"],
        ].sort(),
      );
      for (const x of [...result.removed, ...result.kept]) assert.ok(x.why.length > 20, `${x.key} has no reason: ${x.why}`);
      const why = (k: string) => [...result.removed, ...result.kept].find((x) => x.key === k)!.why;
      assert.match(why(L("taken-2h-ago")), /LEGACY_LOCK_MAX_HOLD_SEC \(600 s\)/);
      assert.match(why(L("just-taken")), /may be the time it was taken/);
      assert.match(why(L("random-token")), /redis-cli DEL/);
      assert.doesNotMatch(JSON.stringify(result), /random-lock-token/);
      for (const k of result.removed) assert.equal(exists(k.key), false, k.key);
      for (const k of result.kept) assert.equal(exists(k.key), true, k.key);
    } finally {
      await b.close();
    }
  });

  test("the cleanup report says why for each key over HTTP, in JSON and in text, and the JSON is documented", async () => {
    const prefix = freshPrefix();
    const uniq = prefix.replace(/\W/g, "");
    const b = opsBroker({
      ACCOUNTS,
      REDIS_URL: redis.url,
      WECHAT_API_BASE: "http://127.0.0.1:9",
      KEY_PREFIX: prefix,
      LOCK_CLEANUP_PATTERNS: `php:lock:${uniq}:*`,
    });
    try {
      redis.cli("SET", `php:lock:${uniq}:fresh`, String(nowS()));
      const json = await request(b.app).get("/cleanup_expired_locks.php?dryRun=true&format=json");
      assert.equal(json.status, 200);
      assertDocumented(json);
      const kept = json.body.kept.find((k: { key: string }) => k.key === `php:lock:${uniq}:fresh`);
      assert.equal(kept.reason, "within_max_hold");
      assert.match(kept.why, /LEGACY_LOCK_MAX_HOLD_SEC \(3600 s\)/);
      const text = await request(b.app).get("/cleanup_expired_locks.php?dryRun=true");
      assert.match(text.text, new RegExp(`php:lock:${uniq}:fresh[^\\n]*\\n\\s+.*LEGACY_LOCK_MAX_HOLD_SEC`));
    } finally {
      await b.close();
    }
  });
});

describe("legacy lock values", () => {
  test("a bare number is a time that may be an acquisition or an expiry, never read as an expiry alone", () => {
    assert.deepEqual(parseLegacyLockValue("1700000000"), { bareTimeMs: 1_700_000_000_000 });
    assert.equal(parseLegacyLockValue("1700000000").expiresAtMs, undefined);
  });
});
