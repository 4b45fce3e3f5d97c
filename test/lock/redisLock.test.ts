import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { startRedis, type TestRedis } from "../helpers/redis";
import { RedisRefreshLock, LockUnavailableError } from "../../src/lock/redisLock";
import { silentLogger } from "../../src/logger";
import { describeRefreshLockContract } from "./contract";
import { describeLockInventoryContract } from "./inventoryContract";
import { KeySpace } from "../../src/store/keys";
import { freshAccount, sleep, token } from "../store/contract";
import { SHORT_COMMAND_TIMEOUT_MS, openRedisStore, testClient, waitReady } from "../store/redisFixtures";

let replicaSeq = 0;

/** A redis-server plus lock instances, each on its own connection. */
async function redisLockBackend() {
  const server = await startRedis();
  const clients: Redis[] = [];
  const open = async (commandTimeoutMs?: number) => {
    const client = testClient(server, silentLogger(), commandTimeoutMs);
    clients.push(client);
    await waitReady(client);
    return new RedisRefreshLock({ redis: client, replicaId: `replica-${++replicaSeq}`, logger: silentLogger() });
  };
  return {
    server,
    open,
    async close() {
      for (const c of clients) c.disconnect();
      await server.close();
    },
  };
}

describeRefreshLockContract("RedisRefreshLock", async () => {
  const b = await redisLockBackend();
  return { open: () => b.open(), close: () => b.close() };
});

describeLockInventoryContract(
  "RedisRefreshLock",
  async () => {
    const b = await redisLockBackend();
    return {
      open: () => b.open(),
      // What old tooling or a hand-made SET leaves: the lock key without a TTL.
      plantStuck: async (accountId) => void b.server.cli("SET", new KeySpace().account(accountId).lock, "left-by-old-tooling"),
      close: () => b.close(),
    };
  },
  { possible: true },
);

function hgetall(server: TestRedis, key: string): Record<string, string> {
  const out = server.cli("HGETALL", key);
  const lines = out === "" ? [] : out.split("\n");
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) h[lines[i] as string] = lines[i + 1] as string;
  return h;
}

void describe("RedisRefreshLock against a real redis-server", () => {
  let backend: Awaited<ReturnType<typeof redisLockBackend>>;
  let server: TestRedis;

  before(async () => {
    backend = await redisLockBackend();
    server = backend.server;
  });
  after(async () => {
    await backend.close();
  });

  void it("always gives the lock key and its lockinfo a TTL, and removes both on release", async () => {
    const lock = await backend.open();
    const a = freshAccount();
    const h = await lock.tryAcquire(a, 2000);
    assert.ok(h);
    const base = `wtb:{acct:${a}}`;
    assert.equal(h.key, `${base}:lock`);
    const lockTtl = Number(server.cli("PTTL", `${base}:lock`));
    const infoTtl = Number(server.cli("PTTL", `${base}:lockinfo`));
    assert.ok(lockTtl > 0 && lockTtl <= 2000, `lock PTTL ${lockTtl}`);
    assert.ok(infoTtl > 0 && infoTtl <= lockTtl, `lockinfo PTTL ${infoTtl} expires with the lock (${lockTtl})`);
    const info = hgetall(server, `${base}:lockinfo`);
    assert.equal(info.owner, h.owner);
    assert.equal(info.gen, String(h.gen));
    assert.ok(Math.abs(Number(info.acquiredAt) - Date.now()) < 5000);
    assert.equal(server.cli("GET", `${base}:fence`), String(h.gen));
    assert.equal(await h.release(), "released");
    assert.equal(server.cli("EXISTS", `${base}:lock`, `${base}:lockinfo`), "0");
  });

  void it("leaves no lock key without a TTL after many acquisitions by many holders", async () => {
    const locks = await Promise.all(Array.from({ length: 4 }, () => backend.open()));
    const accounts = Array.from({ length: 5 }, () => freshAccount("ttl"));
    // Every account is contended by 4 holders; the winners of the first two accounts release, the others keep it.
    await Promise.all(
      locks.flatMap((l) =>
        accounts.map(async (a, i) => {
          const h = await l.tryAcquire(a, 5000);
          if (h && i < 2) await h.release();
        }),
      ),
    );
    const keys = server.cli("KEYS", "wtb:{acct:ttl_*}:lock*").split("\n").filter(Boolean).sort();
    assert.deepEqual(
      keys,
      accounts
        .slice(2)
        .flatMap((a) => [`wtb:{acct:${a}}:lock`, `wtb:{acct:${a}}:lockinfo`])
        .sort(),
    );
    for (const k of keys) assert.ok(Number(server.cli("PTTL", k)) > 0, `${k} has a TTL`);
  });

  void it("keeps the new holder's lock and lockinfo when an expired holder releases", async () => {
    const oldLock = await backend.open();
    const newLock = await backend.open();
    const a = freshAccount();
    const old = await oldLock.tryAcquire(a, 200);
    assert.ok(old);
    await sleep(300);
    const current = await newLock.tryAcquire(a, 5000);
    assert.ok(current);
    assert.equal(await old.release(), "expired");
    assert.equal(hgetall(server, `wtb:{acct:${a}}:lockinfo`).owner, current.owner);
    assert.ok(Number(server.cli("PTTL", `wtb:{acct:${a}}:lock`)) > 0);
    const seen = await oldLock.holder(a);
    assert.equal(seen?.owner, current.owner);
    assert.equal(seen?.gen, current.gen);
    assert.equal(await current.release(), "released");
  });

  void it("fences out the token write of a holder whose lock lapsed during a pause", async () => {
    const store = openRedisStore(server);
    try {
      const lockA = await backend.open();
      const lockB = await backend.open();
      const a = freshAccount();
      const holderA = await lockA.tryAcquire(a, 200);
      assert.ok(holderA);
      await sleep(300); // A "pauses" past its TTL
      const holderB = await lockB.tryAcquire(a, 5000);
      assert.ok(holderB);
      const tokenB = token(holderB.gen);
      assert.equal(await store.write(a, tokenB), "written");
      assert.equal(await store.write(a, token(holderA.gen)), "fenced", "A wakes up and tries to write");
      assert.equal(server.cli("HGET", `wtb:{acct:${a}}:token`, "accessToken"), tokenB.accessToken);
      assert.equal(await holderA.release(), "expired");
      assert.equal(await holderB.release(), "released");
    } finally {
      await store.close();
    }
  });

  void it("issues a gen above the stored token's when the fence counter was lost, so new writes are not fenced forever", async () => {
    const store = openRedisStore(server);
    try {
      const lock = await backend.open();
      const a = freshAccount();
      await store.write(a, token(41));
      assert.equal(server.cli("EXISTS", `wtb:{acct:${a}}:fence`), "0");
      const h = await lock.tryAcquire(a, 2000);
      assert.ok(h);
      assert.ok(h.gen > 41);
      assert.equal(await store.write(a, token(h.gen)), "written");
      await h.release();
      const h2 = await lock.tryAcquire(a, 2000);
      assert.ok(h2 && h2.gen > h.gen);
      await h2?.release();
    } finally {
      await store.close();
    }
  });

  void it("treats a lock key without TTL as held, shows it with ttl -1, and clears only such stuck locks", async () => {
    const lock = await backend.open();
    const a = freshAccount();
    server.cli("SET", `wtb:{acct:${a}}:lock`, "left-by-hand");
    assert.equal(await lock.tryAcquire(a, 2000), null);
    assert.deepEqual(await lock.holder(a), { owner: "unknown", ttlMs: -1 });
    assert.equal(await lock.clearStuck(a), true);
    const h = await lock.tryAcquire(a, 2000);
    assert.ok(h);
    assert.equal(await lock.clearStuck(a), false, "a live lock with a TTL is never cleared");
    assert.equal((await lock.holder(a))?.owner, h.owner);
    await h.release();
  });

  void it("refuses account ids that could break the key layout", async () => {
    const lock = await backend.open();
    await assert.rejects(lock.tryAcquire("a}b", 1000), TypeError);
    await assert.rejects(lock.holder("a:b"), TypeError);
  });
});

void describe("RedisRefreshLock when Redis is unavailable", () => {
  void it("throws LockUnavailableError (not null) while redis-server is stopped, and works again after it restarts", async () => {
    const backend = await redisLockBackend();
    const { server } = backend;
    try {
      const lock = await backend.open(SHORT_COMMAND_TIMEOUT_MS);
      const a = freshAccount();
      const held = await lock.tryAcquire(a, 5000);
      assert.ok(held);
      await server.stop();
      await sleep(50);
      const started = Date.now();
      await assert.rejects(lock.tryAcquire(freshAccount(), 2000), LockUnavailableError);
      assert.ok(Date.now() - started < SHORT_COMMAND_TIMEOUT_MS * 2 + 1500, "fails fast");
      await assert.rejects(lock.holder(a), LockUnavailableError);
      assert.equal(await held.release(), "expired", "a release that cannot reach Redis does not throw");
      await server.start();
      const deadline = Date.now() + 5000;
      let h = null;
      while (!h && Date.now() < deadline) {
        h = await lock.tryAcquire(a, 2000).catch((err: unknown) => {
          if (!(err instanceof LockUnavailableError)) throw err;
          return null;
        });
        if (!h) await sleep(50);
      }
      assert.ok(h, "the same lock instance acquires again after the restart");
      assert.equal(await h.release(), "released");
    } finally {
      await backend.close();
    }
  });

  void it("throws LockUnavailableError (not null) when a connected Redis stops answering", async () => {
    const backend = await redisLockBackend();
    try {
      const lock = await backend.open(SHORT_COMMAND_TIMEOUT_MS);
      backend.server.cli("CLIENT", "PAUSE", "1500", "ALL");
      await assert.rejects(lock.tryAcquire(freshAccount(), 2000), LockUnavailableError);
      await sleep(1600);
    } finally {
      await backend.close();
    }
  });
});
