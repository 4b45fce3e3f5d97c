// The lock endpoints over HTTP (createApp + the lock router), against a real redis-server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import { startRedis, type TestRedis } from "../helpers/redis";
import type { CleanupResult, LockListing } from "../../src/ops/locks";
import { sha256 } from "../../src/config";
import { assertDocumented } from "../helpers/openapi";
import { accountsEnv, apiKeysEnv, assertNoSecret, freshPrefix, opsBroker, SECRETS } from "./helpers";

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.close();
});

const ACCOUNTS = accountsEnv([{ id: "gh_a", appId: "wx_a", appSecret: SECRETS.appSecret }]);
const exists = (key: string) => redis.cli("EXISTS", key) === "1";

function broker(extra: NodeJS.ProcessEnv = {}) {
  return opsBroker({ ACCOUNTS, REDIS_URL: redis.url, WECHAT_API_BASE: "http://127.0.0.1:9", KEY_PREFIX: freshPrefix(), ...extra });
}

describe("the lock endpoints", () => {
  test("the runbook's plain GET of cleanup_expired_locks.php removes stuck locks, keeps live ones and answers in text", async () => {
    const b = broker();
    const p = b.config.keyPrefix;
    try {
      const live = await b.core.lock.tryAcquire("gh_a", 30_000);
      assert.ok(live);
      redis.cli("SET", `${p}{acct:gh_old}:lock`, "by-hand");
      const res = await request(b.app).get("/cleanup_expired_locks.php");
      assert.equal(res.status, 200);
      assert.match(String(res.headers["content-type"]), /^text\/plain/);
      assert.match(res.text, /已删除 removed: 1/);
      assert.match(res.text, new RegExp(`✗ ${p}\\{acct:gh_old\\}:lock — 无过期时间 no TTL`));
      assert.match(res.text, new RegExp(`✓ ${p}\\{acct:gh_a\\}:lock — 有过期时间 has a TTL`));
      assert.equal(exists(`${p}{acct:gh_old}:lock`), false);
      assert.equal(exists(`${p}{acct:gh_a}:lock`), true);
      assert.equal(await live.release(), "released");
    } finally {
      await b.close();
    }
  });

  test("POST /api/locks/cleanup with dryRun removes nothing, and so does ?dryRun=true on the runbook's URL", async () => {
    const b = broker();
    const key = `${b.config.keyPrefix}{acct:gh_a}:lock`;
    try {
      redis.cli("SET", key, "by-hand");
      const res = await request(b.app).post("/api/locks/cleanup").send({ dryRun: true });
      assert.equal(res.status, 200);
      const body = res.body as CleanupResult;
      assert.equal(body.dryRun, true);
      assert.deepEqual(body.removed, [
        { key, reason: "no_ttl", why: "a broker lock without TTL: the broker always sets one, so no refresh holds it" },
      ]);
      assert.equal(exists(key), true);

      const get = await request(b.app).get("/cleanup_expired_locks?dryRun=true&format=json");
      assert.equal((get.body as CleanupResult).dryRun, true);
      assert.equal(exists(key), true);

      const real = await request(b.app).post("/api/locks/cleanup");
      assert.equal(real.status, 200);
      assert.deepEqual((real.body as CleanupResult).removed, [
        { key, reason: "no_ttl", why: "a broker lock without TTL: the broker always sets one, so no refresh holds it" },
      ]);
      assert.equal(exists(key), false);

      const bad = await request(b.app).post("/api/locks/cleanup").send({ dryRun: "yes" });
      assert.equal(bad.status, 400);
    } finally {
      await b.close();
    }
  });

  test("GET /api/locks lists the broker's and legacy locks as JSON", async () => {
    const b = broker({ LOCK_CLEANUP_PATTERNS: "wechat:lock:*" });
    const legacy = `wechat:lock:${b.config.keyPrefix.replace(/\W/g, "")}`;
    try {
      redis.cli("SET", legacy, JSON.stringify({ owner: "php-1", expires_at: Math.floor(Date.now() / 1000) + 600 }));
      const h = await b.core.lock.tryAcquire("gh_a", 30_000);
      assert.ok(h);
      const res = await request(b.app).get("/api/locks");
      assert.equal(res.status, 200);
      const l = res.body as LockListing;
      assert.equal(l.mode, "redis");
      assert.deepEqual(l.patterns, ["wechat:lock:*"]);
      const own = l.locks.find((x) => x.accountId === "gh_a");
      assert.equal(own?.owner, h.owner);
      const old = l.locks.find((x) => x.key === legacy);
      assert.equal(old?.owner, "php-1");
      assert.equal(old?.stuck, false);
      await h.release();
    } finally {
      redis.cli("DEL", legacy);
      await b.close();
    }
  });

  test("cleanup is refused with 403 for a client key and 401 without a key, and then removes nothing", async () => {
    const b = broker({ API_KEYS: apiKeysEnv() });
    const key = `${b.config.keyPrefix}{acct:gh_a}:lock`;
    try {
      redis.cli("SET", key, "by-hand");
      const client = `Bearer ${SECRETS.clientKey}`;
      for (const res of [
        await request(b.app).post("/api/locks/cleanup").set("Authorization", client),
        await request(b.app).get("/cleanup_expired_locks.php").set("Authorization", client),
        await request(b.app).get("/api/locks").set("Authorization", client),
      ]) {
        assert.equal(res.status, 403);
        assert.equal(res.body.error.code, "forbidden");
      }
      assert.equal((await request(b.app).get("/cleanup_expired_locks.php")).status, 401);
      assert.equal(exists(key), true);
      const admin = await request(b.app).post("/api/locks/cleanup").set("Authorization", `Bearer ${SECRETS.adminKey}`);
      assert.equal(admin.status, 200);
      assert.equal(exists(key), false);
      assertNoSecret(admin.text);
    } finally {
      await b.close();
    }
  });

  test("a client key configured by its hash alone is refused cleanup too", async () => {
    const hash = sha256("client-key-for-a-hash-only-test-0123").toString("hex");
    const b = broker({ API_KEYS: JSON.stringify([{ name: "svc", keySha256: hash, role: "client", accounts: ["*"] }]) });
    try {
      const res = await request(b.app)
        .post("/api/locks/cleanup")
        .set("Authorization", "Bearer client-key-for-a-hash-only-test-0123")
        .send({ dryRun: false });
      assert.equal(res.status, 403);
    } finally {
      await b.close();
    }
  });

  test("when Redis is down the lock endpoints answer 503 with the store error", async () => {
    const own = await startRedis();
    const b = opsBroker({ ACCOUNTS, REDIS_URL: own.url, WECHAT_API_BASE: "http://127.0.0.1:9", KEY_PREFIX: freshPrefix() });
    try {
      await b.core.store.ping();
      await own.stop();
      const res = await request(b.app).post("/api/locks/cleanup");
      assert.equal(res.status, 503);
      assert.equal(res.body.error.code, "store_unavailable");
      assert.equal((await request(b.app).get("/api/locks")).status, 503);
    } finally {
      await b.close();
      await own.close();
    }
  });

  test("every answer of the lock endpoints is documented in openapi.yaml", async () => {
    const b = broker({ API_KEYS: apiKeysEnv(), LOCK_CLEANUP_PATTERNS: "wechat:lock:*" });
    const p = b.config.keyPrefix;
    const legacy = `wechat:lock:${p.replace(/\W/g, "")}:doc`;
    try {
      redis.cli("SET", `${p}{acct:gh_a}:lock`, "by-hand");
      redis.cli("SET", legacy, JSON.stringify({ expires_at: Math.floor(Date.now() / 1000) + 600, owner: "php" }));
      const admin = `Bearer ${SECRETS.adminKey}`;
      const answers = [
        await request(b.app).get("/api/locks").set("Authorization", admin),
        await request(b.app).get("/api/locks?format=text").set("Authorization", admin),
        await request(b.app).post("/api/locks/cleanup").set("Authorization", admin).send({ dryRun: true }),
        await request(b.app).get("/cleanup_expired_locks?dryRun=true").set("Authorization", admin),
        await request(b.app).post("/cleanup_expired_locks.php?format=json").set("Authorization", admin),
        await request(b.app).get("/cleanup_expired_locks.php").set("Authorization", admin),
        await request(b.app).post("/api/locks/cleanup").set("Authorization", admin).send({ dryRun: 1 }),
        await request(b.app).post("/api/locks/cleanup").set("Authorization", admin).set("Content-Type", "text/plain").send("dryRun"),
        await request(b.app).get("/api/locks"),
        await request(b.app).post("/api/locks/cleanup").set("Authorization", `Bearer ${SECRETS.clientKey}`),
      ];
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200, 200, 200, 200, 200, 400, 415, 401, 403],
      );
      for (const a of answers) assertDocumented(a);
    } finally {
      redis.cli("DEL", legacy);
      await b.close();
    }
  });
});
