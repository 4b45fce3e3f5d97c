// The store, the lock and the lock listing on a real Redis Cluster (three masters, one replica each): the same
// contracts as on one server, keys of one account in one slot, and listing/cleanup reaching every master.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Cluster } from "ioredis";
import { startRedisCluster, type TestRedisCluster } from "../helpers/redisCluster";
import { createRedisClient, duplicateRedisClient } from "../../src/store/redisClient";
import { RedisTokenStore } from "../../src/store/redisStore";
import { RedisRefreshLock } from "../../src/lock/redisLock";
import { KeySpace } from "../../src/store/keys";
import { LOCK_HOLDER } from "../../src/store/lua";
import { LockInspector } from "../../src/ops/locks";
import { silentLogger } from "../../src/logger";
import { describeTokenStoreContract, freshAccount, token } from "./contract";
import { describeRefreshLockContract } from "../lock/contract";

let cluster: TestRedisCluster;
before(async () => {
  cluster = await startRedisCluster();
});
after(async () => {
  await cluster.close();
});

const seeds = () => cluster.ports.slice(0, 2).map((port) => ({ host: "127.0.0.1", port }));

async function clusterClient(): Promise<Cluster> {
  const c = createRedisClient({ clusterNodes: seeds(), commandTimeoutMs: 2000, connectTimeoutMs: 1000, tls: false }, silentLogger());
  const deadline = Date.now() + 10_000;
  while (c.status !== "ready") {
    if (Date.now() > deadline) throw new Error(`cluster client not ready (status ${c.status})`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return c;
}

/** Store and lock instances, each on its own Cluster connections (another replica), closed together. */
function clusterBackend() {
  const clients: Cluster[] = [];
  const stores: RedisTokenStore[] = [];
  let replica = 0;
  return {
    async openStore(keyPrefix = "wtb:") {
      const redis = await clusterClient();
      const store = new RedisTokenStore({
        redis,
        subscriber: duplicateRedisClient(redis, silentLogger()),
        keyPrefix,
        logger: silentLogger(),
      });
      stores.push(store);
      await store.subscribed();
      return store;
    },
    async openLock(keyPrefix = "wtb:") {
      const redis = await clusterClient();
      clients.push(redis);
      return new RedisRefreshLock({ redis, replicaId: `cluster-replica-${++replica}`, keyPrefix, logger: silentLogger() });
    },
    async close() {
      await Promise.all(stores.map((s) => s.close()));
      for (const c of clients) c.disconnect();
    },
  };
}

describeTokenStoreContract("RedisTokenStore on Redis Cluster", async () => {
  const b = clusterBackend();
  return { open: () => b.openStore(), close: () => b.close() };
});

describeRefreshLockContract("RedisRefreshLock on Redis Cluster", async () => {
  const b = clusterBackend();
  return { open: () => b.openLock(), close: () => b.close() };
});

/** Accounts whose keys are served by every master: at least `perMaster` on each. */
function accountsOnEveryMaster(keys: KeySpace, perMaster: number): Map<number, string[]> {
  const byMaster = new Map<number, string[]>();
  for (let i = 0; i < 200 && !([...byMaster.values()].length === 3 && [...byMaster.values()].every((v) => v.length >= perMaster)); i++) {
    const id = `gh_spread_${i}`;
    const port = cluster.ownerOf(keys.account(id).lock).master.port;
    byMaster.set(port, [...(byMaster.get(port) ?? []), id]);
  }
  assert.equal(byMaster.size, 3, "accounts spread over the three masters");
  return byMaster;
}

describe("keys and scripts on Redis Cluster", () => {
  it("puts every key of an account in one slot, and different accounts on different masters", () => {
    const keys = new KeySpace("wtb:");
    const k = keys.account("gh_slot");
    const all = [k.token, k.fence, k.lock, k.lockinfo, k.status, k.forceLast, k.calls("2026-01-02"), k.force("2026-01-02")];
    const slots = new Set(all.map((key) => cluster.cli(cluster.ports[0]!, "CLUSTER", "KEYSLOT", key)));
    assert.equal(slots.size, 1, `one slot for ${all.join(", ")}`);
    accountsOnEveryMaster(keys, 1);
  });

  it("runs a script over several keys that share any hash tag, and refuses keys with different tags before Redis sees them", async () => {
    const redis = await clusterClient();
    try {
      // Tags other than {acct:…} work the same: what counts is that all keys of one script share one.
      const reply = (await LOCK_HOLDER.run(redis, ["wtb:{caller:billing}:reports", "wtb:{caller:billing}:reports:info"], [])) as unknown[];
      assert.equal(Number(reply[0]), -2);
      await assert.rejects(
        LOCK_HOLDER.run(redis, ["wtb:{acct:a}:lock", "wtb:{acct:b}:lockinfo"], []),
        (err: Error) => err instanceof TypeError && /one hash tag/.test(err.message),
      );
    } finally {
      redis.disconnect();
    }
  });

  it("delivers a refresh notice published through one node to stores subscribed through other connections", async () => {
    const b = clusterBackend();
    try {
      const stores = await Promise.all([0, 1, 2].map(() => b.openStore("notice:")));
      const got = stores.map(
        (s) =>
          new Promise<[string, number]>((resolve) => {
            const off = s.onRefreshed((id, gen) => {
              off();
              resolve([id, gen]);
            });
          }),
      );
      const id = freshAccount("notice");
      await stores[0]!.write(id, token(7));
      await stores[0]!.publishRefreshed(id, 7);
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("a store got no notice in 5 s")), 5000).unref());
      assert.deepEqual(await Promise.race([Promise.all(got), timeout]), [
        [id, 7],
        [id, 7],
        [id, 7],
      ]);
    } finally {
      await b.close();
    }
  });

  it("reports the cluster's state and its masters", async () => {
    const b = clusterBackend();
    try {
      const store = await b.openStore();
      assert.deepEqual(await store.clusterState(), { state: "ok", masters: 3, mastersReachable: 3 });
    } finally {
      await b.close();
    }
  });
});

describe("lock listing and cleanup on Redis Cluster", () => {
  it("lists the locks held on every master and cleanup removes the stuck ones on all of them, leaving held locks", async () => {
    const prefix = "locks:";
    const keys = new KeySpace(prefix);
    const byMaster = accountsOnEveryMaster(keys, 2);
    const b = clusterBackend();
    const redis = await clusterClient();
    try {
      const stuck: string[] = [];
      const held: string[] = [];
      const lock = await b.openLock(prefix);
      for (const [, ids] of byMaster) {
        const [stuckId, heldId] = ids as [string, string];
        await redis.set(keys.account(stuckId).lock, "left-by-old-tooling"); // no TTL: stuck
        stuck.push(keys.account(stuckId).lock);
        assert.ok(await lock.tryAcquire(heldId, 60_000), `acquired ${heldId}`);
        held.push(keys.account(heldId).lock);
      }
      const inspector = new LockInspector({ patterns: [], lock, accountIds: () => [] });
      const listing = await inspector.list();
      assert.deepEqual(
        listing.locks
          .filter((l) => l.stuck)
          .map((l) => l.key)
          .sort(),
        [...stuck].sort(),
      );
      assert.deepEqual(
        listing.locks
          .filter((l) => !l.stuck)
          .map((l) => l.key)
          .sort(),
        [...held].sort(),
      );
      assert.ok(
        listing.locks.filter((l) => !l.stuck).every((l) => l.owner === lock.owner && l.ttlMs > 0),
        "held locks show their holder",
      );

      const result = await inspector.cleanup();
      assert.deepEqual(result.removed.map((r) => r.key).sort(), [...stuck].sort());
      for (const k of stuck) assert.equal(await redis.exists(k), 0, `${k} removed`);
      for (const k of held) assert.equal(await redis.exists(k), 1, `${k} kept`);
    } finally {
      redis.disconnect();
      await b.close();
    }
  });
});
