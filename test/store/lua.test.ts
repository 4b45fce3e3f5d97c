// The Lua scripts on their own, against a real redis-server: the edges the store and lock tests cannot reach.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { startRedis, type TestRedis } from "../helpers/redis";
import { CAS_WRITE, LOCK_ATTACH, LOCKINFO_RELEASE, UNLOCK_STUCK, ALL_SCRIPTS, loadScripts } from "../../src/store/lua";
import { KeySpace } from "../../src/store/keys";
import { freshAccount } from "./contract";
import { testClient, waitReady } from "./redisFixtures";

void describe("the Redis Lua scripts", () => {
  let server: TestRedis;
  let redis: Redis;
  const ks = new KeySpace("wtb:");

  before(async () => {
    server = await startRedis();
    redis = testClient(server);
    await waitReady(redis);
  });
  after(async () => {
    redis.disconnect();
    await server.close();
  });

  void it("are still found after the server lost its script cache (EVALSHA falls back to EVAL)", async () => {
    await loadScripts(redis);
    assert.equal(server.cli("SCRIPT", "EXISTS", CAS_WRITE.sha), "1");
    server.cli("SCRIPT", "FLUSH");
    const k = ks.account(freshAccount());
    assert.deepEqual(await CAS_WRITE.run(redis, [k.token], ["1", "T", "1900000000000", "1899990000000", "stable", "1000"]), [1, 1]);
    assert.equal(server.cli("SCRIPT", "EXISTS", CAS_WRITE.sha), "1", "EVAL cached it again");
  });

  void it("report the stored generation when a CAS write is fenced", async () => {
    const k = ks.account(freshAccount());
    await CAS_WRITE.run(redis, [k.token], ["9", "T9", "1900000000000", "1899990000000", "stable", "1000"]);
    assert.deepEqual(await CAS_WRITE.run(redis, [k.token], ["4", "T4", "1900000000000", "1899990000000", "stable", "1000"]), [0, 9]);
  });

  void it("issue no generation and touch nothing when the lock does not hold the caller's value", async () => {
    const k = ks.account(freshAccount());
    server.cli("SET", k.lock, "someone-else", "PX", "5000");
    server.cli("SET", k.fence, "7");
    assert.deepEqual(await LOCK_ATTACH.run(redis, [k.lock, k.lockinfo, k.fence, k.token], ["my-value", "me#1", "123"]), [0, 0]);
    assert.equal(server.cli("GET", k.fence), "7", "the fence counter did not move");
    assert.equal(server.cli("EXISTS", k.lockinfo), "0");
    server.cli("DEL", k.lock);
    assert.deepEqual(
      await LOCK_ATTACH.run(redis, [k.lock, k.lockinfo, k.fence, k.token], ["my-value", "me#1", "123"]),
      [0, 0],
      "nor when there is no lock",
    );
  });

  void it("give lockinfo the lock's own remaining TTL so both expire together", async () => {
    const k = ks.account(freshAccount());
    server.cli("SET", k.lock, "v", "PX", "4000");
    const [gen, ttl] = (await LOCK_ATTACH.run(redis, [k.lock, k.lockinfo, k.fence, k.token], ["v", "me#1", "123"])) as number[];
    assert.ok((gen as number) >= Date.now() - 60_000, "a generation is never below Redis's clock in ms");
    assert.ok((ttl as number) > 3000 && (ttl as number) <= 4000);
    const infoTtl = Number(server.cli("PTTL", k.lockinfo));
    assert.ok(infoTtl <= (ttl as number) && infoTtl > (ttl as number) - 1000);
  });

  void it("delete lockinfo only for the same owner and generation", async () => {
    const k = ks.account(freshAccount());
    server.cli("HSET", k.lockinfo, "owner", "me#1", "gen", "5", "acquiredAt", "1");
    assert.equal(await LOCKINFO_RELEASE.run(redis, [k.lockinfo], ["me#1", "4"]), 0);
    assert.equal(await LOCKINFO_RELEASE.run(redis, [k.lockinfo], ["you#2", "5"]), 0);
    assert.equal(server.cli("EXISTS", k.lockinfo), "1");
    assert.equal(await LOCKINFO_RELEASE.run(redis, [k.lockinfo], ["me#1", "5"]), 1);
    assert.equal(server.cli("EXISTS", k.lockinfo), "0");
  });

  void it("clear a lock only when it has no TTL", async () => {
    const k = ks.account(freshAccount());
    server.cli("SET", k.lock, "live", "PX", "5000");
    assert.equal(await UNLOCK_STUCK.run(redis, [k.lock, k.lockinfo], []), 0);
    server.cli("PERSIST", k.lock);
    assert.equal(await UNLOCK_STUCK.run(redis, [k.lock, k.lockinfo], []), 1);
    assert.equal(server.cli("EXISTS", k.lock), "0");
  });

  void it("refuse to run with the wrong number of keys", async () => {
    await assert.rejects(CAS_WRITE.run(redis, [], []), /expected 1 keys/);
    assert.equal(new Set(ALL_SCRIPTS.map((s) => s.sha)).size, ALL_SCRIPTS.length);
  });
});
