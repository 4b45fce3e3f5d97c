import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { startRedis, type TestRedis } from "../helpers/redis";
import { createLogger } from "../../src/logger";
import { StoreError, StoreUnavailableError } from "../../src/store/errors";
import { RedisTokenStore } from "../../src/store/redisStore";
import { duplicateRedisClient } from "../../src/store/redisClient";
import { silentLogger } from "../../src/logger";
import { describeTokenStoreContract, freshAccount, sleep, token } from "./contract";
import { SHORT_COMMAND_TIMEOUT_MS, openRedisStore, redisStoreBackend, testClient, waitReady } from "./redisFixtures";
import { waitUntil } from "../helpers/wait";

describeTokenStoreContract("RedisTokenStore", redisStoreBackend);

function hgetall(server: TestRedis, key: string): Record<string, string> {
  const out = server.cli("HGETALL", key);
  const lines = out === "" ? [] : out.split("\n");
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) h[lines[i] as string] = lines[i + 1] as string;
  return h;
}

/** The part of a key Redis Cluster hashes: the first {...} with something inside, else the whole key. */
function hashTag(key: string): string {
  const open = key.indexOf("{");
  if (open === -1) return key;
  const close = key.indexOf("}", open + 1);
  if (close === -1 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

async function within<T>(ms: number, p: Promise<T>): Promise<{ elapsed: number; result: PromiseSettledResult<T> }> {
  const started = Date.now();
  const [result] = await Promise.allSettled([p]);
  const elapsed = Date.now() - started;
  assert.ok(elapsed < ms, `took ${elapsed} ms, expected under ${ms} ms`);
  return { elapsed, result: result as PromiseSettledResult<T> };
}

async function retryUnavailable<T>(op: () => Promise<T>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

void describe("RedisTokenStore against a real redis-server", () => {
  let server: TestRedis;
  const stores: RedisTokenStore[] = [];
  const open = async (opts: Parameters<typeof openRedisStore>[1] = {}) => {
    const s = openRedisStore(server, opts);
    stores.push(s);
    await s.subscribed();
    return s;
  };

  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await server.close();
  });

  void it("keeps the newer token in Redis when an older writer is fenced out (read back with redis-cli)", async () => {
    const store = await open();
    const a = freshAccount();
    const newer = token(5);
    const older = token(3);
    assert.equal(await store.write(a, newer), "written");
    assert.equal(await store.write(a, older), "fenced");
    const h = hgetall(server, `wtb:{acct:${a}}:token`);
    assert.deepEqual(h, {
      accessToken: newer.accessToken,
      expiresAt: String(newer.expiresAt),
      fetchedAt: String(newer.fetchedAt),
      api: "stable",
      gen: "5",
      checkedAt: String(newer.checkedAt),
      notBefore: String(newer.notBefore),
    });
  });

  void it("keeps the token hash 24 h past expiresAt, and invalidation removes the token but keeps gen and expiry", async () => {
    const store = await open();
    const a = freshAccount();
    const key = `wtb:{acct:${a}}:token`;
    const t = token(9, { expiresAt: Date.now() + 100 });
    await store.write(a, t);
    const pttl = Number(server.cli("PTTL", key));
    assert.ok(pttl > 24 * 3600_000 - 5000 && pttl <= 24 * 3600_000 + 100, `PTTL ${pttl}`);
    await sleep(200);
    assert.equal(hgetall(server, key).gen, "9", "gen outlives the token's expiry");
    assert.equal(await store.write(a, token(8)), "fenced");
    assert.equal(await store.invalidate(a, t.accessToken), true);
    assert.deepEqual(hgetall(server, key), { gen: "9" });
    assert.ok(Number(server.cli("PTTL", key)) > 23 * 3600_000, "the kept gen still has its expiry");
  });

  void it("sets an expiry 24 h from now when the token's expiresAt is already in the past", async () => {
    const store = await open();
    const a = freshAccount();
    await store.write(a, token(1, { expiresAt: Date.now() - 3600_000 }));
    const pttl = Number(server.cli("PTTL", `wtb:{acct:${a}}:token`));
    assert.ok(pttl > 24 * 3600_000 - 5000, `PTTL ${pttl}`);
  });

  void it("puts every key of an account under its {acct:<id>} hash tag, with TTLs, and no token outside the token hash", async () => {
    const store = await open();
    const a = freshAccount();
    const t = token(1);
    await store.write(a, t);
    await store.countUpstreamCall(a, "2026-11-21");
    await store.takeForceBudget(a, Date.now(), "2026-11-21", { perDay: 20, minIntervalMs: 30_000 });
    await store.setStatus(a, { openUntil: 0, failures: 0, lastSuccessAt: Date.now() });
    const keys = server.cli("KEYS", `*${a}*`).split("\n").sort();
    const base = `wtb:{acct:${a}}`;
    assert.deepEqual(keys, [
      `${base}:calls:2026-11-21`,
      `${base}:force:2026-11-21`,
      `${base}:forcelast`,
      `${base}:status`,
      `${base}:token`,
    ]);
    for (const k of keys) {
      assert.equal(hashTag(k), `acct:${a}`, k);
      assert.ok(!k.includes(t.accessToken));
      assert.ok(Number(server.cli("PTTL", k)) > 0, `${k} has a TTL`);
    }
    for (const k of keys.filter((x) => !x.endsWith(":token")))
      assert.ok(!server.cli("DUMP", k).includes(t.accessToken), `${k} holds no token`);
    const day = 24 * 3600_000;
    assert.ok(Number(server.cli("PTTL", `${base}:calls:2026-11-21`)) > 2 * day - 5000);
    assert.ok(Number(server.cli("PTTL", `${base}:force:2026-11-21`)) > 2 * day - 5000);
    assert.ok(Number(server.cli("PTTL", `${base}:status`)) > 29 * day);
  });

  void it("uses the configured key prefix, so two prefixes never see each other's tokens", async () => {
    const mine = await open({ keyPrefix: "teamA:" });
    const theirs = await open({ keyPrefix: "teamB:" });
    const a = freshAccount();
    await mine.write(a, token(1));
    assert.equal(await theirs.get(a), null);
    assert.equal(server.cli("EXISTS", `teamA:{acct:${a}}:token`), "1");
    assert.equal(server.cli("EXISTS", `teamB:{acct:${a}}:token`), "0");
  });

  void it("delivers a notice published by one store to a second store with its own connections, and to itself", async () => {
    const a = await open();
    const b = await open();
    const acct = freshAccount();
    const heardA: number[] = [];
    const heardB: number[] = [];
    a.onRefreshed((id, gen) => id === acct && heardA.push(gen));
    b.onRefreshed((id, gen) => id === acct && heardB.push(gen));
    await a.publishRefreshed(acct, 7);
    await waitUntil("both stores heard the notice", () => heardA.length === 1 && heardB.length === 1);
    assert.deepEqual([heardA, heardB], [[7], [7]]);
  });

  void it("ignores malformed notices on the channel and still delivers the next good one", async () => {
    const store = await open();
    const heard: Array<[string, number]> = [];
    store.onRefreshed((id, gen) => heard.push([id, gen]));
    for (const bad of [
      "garbage",
      "{}",
      '{"accountId":"a}b","gen":1}',
      '{"accountId":"ok","gen":"1"}',
      '{"accountId":"ok","gen":-1}',
      "null",
      "[1]",
    ]) {
      server.cli("PUBLISH", "wtb:refreshed", bad);
    }
    server.cli("PUBLISH", "wtb:refreshed", '{"accountId":"good_one","gen":3}');
    await waitUntil("the good notice arrived", () => heard.length > 0);
    await sleep(50);
    assert.deepEqual(heard, [["good_one", 3]]);
  });

  void it("reports a broken key as a StoreError whose message and log output carry no token", async () => {
    const store = await open();
    const a = freshAccount();
    server.cli("SET", `wtb:{acct:${a}}:token`, "not-a-hash");
    const t = token(1);
    const err = await store.write(a, t).then(
      () => assert.fail("write should fail on a wrong-type key"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StoreError);
    assert.ok(!(err instanceof StoreUnavailableError), "a WRONGTYPE reply is not an outage");
    let logged = "";
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logged += chunk.toString();
        cb();
      },
    });
    createLogger({ destination: sink, level: "info" }).error({ err }, "write failed");
    await sleep(10);
    assert.match(logged, /WRONGTYPE/);
    assert.ok(!logged.includes(t.accessToken), "the log line must not contain the token");
    assert.ok(!(err as Error).message.includes(t.accessToken));
    assert.ok(!JSON.stringify(err, Object.getOwnPropertyNames(err)).includes(t.accessToken));
  });

  void it("treats a hand-edited token hash with missing fields as no token", async () => {
    const store = await open();
    const a = freshAccount();
    server.cli("HSET", `wtb:{acct:${a}}:token`, "accessToken", "X", "gen", "2");
    assert.equal(await store.get(a), null);
    assert.equal(await store.write(a, token(2)), "fenced", "its gen still fences");
  });

  void it("closes both of its connections and rejects operations afterwards", async () => {
    const before = Number(server.cli("INFO", "clients").match(/connected_clients:(\d+)/)?.[1]);
    const store = openRedisStore(server);
    await store.subscribed();
    await waitUntil("two more clients", () => Number(server.cli("INFO", "clients").match(/connected_clients:(\d+)/)?.[1]) === before + 2);
    await store.close();
    await store.close();
    assert.equal(store.isReady(), false);
    await assert.rejects(store.get(freshAccount()), StoreError);
    await waitUntil("connections closed", () => Number(server.cli("INFO", "clients").match(/connected_clients:(\d+)/)?.[1]) === before);
  });
});

void describe("RedisTokenStore when redis-server goes away", () => {
  void it("fails every operation within about commandTimeout while Redis is down, then works again after a restart without a new store", async () => {
    const server = await startRedis();
    const a = openRedisStore(server, { commandTimeoutMs: SHORT_COMMAND_TIMEOUT_MS });
    const b = openRedisStore(server);
    try {
      await Promise.all([a.subscribed(), b.subscribed()]);
      const acct = freshAccount();
      await a.write(acct, token(1));
      assert.equal(a.isReady(), true);

      await server.stop();
      await waitUntil("the store notices", () => !a.isReady());
      const bound = SHORT_COMMAND_TIMEOUT_MS + 1500; // not ioredis 6's ~73 s default
      const ops: Array<[string, () => Promise<unknown>]> = [
        ["get", () => a.get(acct)],
        ["write", () => a.write(acct, token(2))],
        ["invalidate", () => a.invalidate(acct, "X")],
        ["ping", () => a.ping()],
        ["countUpstreamCall", () => a.countUpstreamCall(acct, "2026-11-21")],
        ["takeForceBudget", () => a.takeForceBudget(acct, Date.now(), "2026-11-21", { perDay: 20, minIntervalMs: 30_000 })],
        ["getStatus", () => a.getStatus(acct)],
        ["publishRefreshed", () => a.publishRefreshed(acct, 2)],
      ];
      for (const [name, op] of ops) {
        const { result } = await within(bound, op());
        assert.equal(result.status, "rejected", name);
        assert.ok(
          result.status === "rejected" && result.reason instanceof StoreUnavailableError,
          `${name} rejects with StoreUnavailableError`,
        );
      }

      await server.start();
      await waitUntil("the store is ready again", () => a.isReady(), 5000);
      // The restarted server has no data and no cached scripts: the EVALSHA → EVAL fallback must kick in.
      // (Retried while it reports unavailable: on a loaded machine a 300 ms command timeout can fire spuriously.)
      assert.equal(await retryUnavailable(() => a.get(acct)), null);
      assert.equal(await retryUnavailable(() => a.write(acct, token(3))), "written");
      assert.equal((await b.get(acct))?.gen, 3);
      assert.ok((await a.ping()) >= 0);

      // ioredis re-subscribes after the reconnect: notices flow again between the two stores.
      const heard: number[] = [];
      b.onRefreshed((id, gen) => id === acct && heard.push(gen));
      await waitUntil("notices flow again", async () => {
        await a.publishRefreshed(acct, 3);
        await sleep(50);
        return heard.length > 0;
      });
    } finally {
      await Promise.all([a.close(), b.close()]);
      await server.close();
    }
  });

  void it("subscribes to notices once Redis comes up when it was down at construction", async () => {
    const server = await startRedis();
    await server.stop();
    const late = openRedisStore(server, { commandTimeoutMs: SHORT_COMMAND_TIMEOUT_MS });
    let publisher: RedisTokenStore | undefined;
    try {
      await sleep(SHORT_COMMAND_TIMEOUT_MS + 200); // long enough for the first SUBSCRIBE to fail
      assert.equal(late.isReady(), false);
      await server.start();
      await Promise.race([late.subscribed(), sleep(5000).then(() => assert.fail("never subscribed"))]);
      publisher = openRedisStore(server);
      const acct = freshAccount();
      const heard: number[] = [];
      late.onRefreshed((id, gen) => id === acct && heard.push(gen));
      await publisher.publishRefreshed(acct, 11);
      await waitUntil("the late store heard it", () => heard.length === 1);
    } finally {
      await late.close();
      await publisher?.close();
      await server.close();
    }
  });
});

void describe("RedisTokenStore when a read's command timeout fires", () => {
  let server: TestRedis;
  before(async () => {
    server = await startRedis();
  });
  after(() => server.close());

  /** Blocks this process's event loop, as a burst of hundreds of requests at once does. */
  const busy = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  };

  const open = async () => {
    const client = testClient(server, silentLogger(), SHORT_COMMAND_TIMEOUT_MS);
    const store = new RedisTokenStore({
      redis: client,
      subscriber: duplicateRedisClient(client, silentLogger()),
      keyPrefix: "busy:",
      logger: silentLogger(),
    });
    await waitReady(client);
    return { client, store };
  };

  void it("a read that timed out while this process was too busy to read the reply is asked again and answers", async () => {
    const { client, store } = await open();
    try {
      const acct = freshAccount();
      const t = token(1);
      assert.equal(await store.write(acct, t), "written");

      // Whether ioredis's timer or the reply is seen first after the loop was blocked depends on the loop phase the
      // read was issued in, so each is tried several times, each time from a fresh reply (the poll phase).
      const attempt = async <T>(op: () => Promise<T>): Promise<string> => {
        await client.ping();
        const p = op();
        busy(SHORT_COMMAND_TIMEOUT_MS * 2);
        return p.then(
          () => "ok",
          (err: Error) => err.message,
        );
      };
      const raw: string[] = [];
      const viaStore: string[] = [];
      for (let i = 0; i < 2; i++) {
        raw.push(await attempt(() => client.hgetall(store.keys.account(acct).token)));
        viaStore.push(await attempt(() => store.get(acct).then((got) => assert.deepEqual(got, t))));
        viaStore.push(await attempt(() => store.getStatus(acct).then((st) => assert.equal(st.failures, 0))));
      }
      // The control: straight through ioredis, the same reads are failed by their own timer although Redis answered.
      assert.ok(raw.includes("Command timed out"), `raw reads: ${raw.join(", ")}`);
      assert.deepEqual(viaStore, Array(4).fill("ok"));
    } finally {
      await store.close();
    }
  });

  void it("a read against a Redis that does not answer, while this process is idle, fails after one command timeout", async () => {
    const { client, store } = await open();
    const pauser = testClient(server);
    try {
      await waitReady(pauser);
      const acct = freshAccount();
      await pauser.call("CLIENT", "PAUSE", String(SHORT_COMMAND_TIMEOUT_MS * 4), "ALL");
      const { elapsed, result } = await within(SHORT_COMMAND_TIMEOUT_MS * 2, store.get(acct));
      assert.equal(result.status, "rejected");
      assert.ok(
        result.status === "rejected" && result.reason instanceof StoreUnavailableError,
        String(result.status === "rejected" ? result.reason : ""),
      );
      assert.ok(elapsed >= SHORT_COMMAND_TIMEOUT_MS - 20, `failed after ${elapsed} ms: by the command timeout`);
      assert.equal(client.status, "ready", "the connection itself stayed up");
    } finally {
      await pauser.call("CLIENT", "UNPAUSE").catch(() => undefined);
      pauser.disconnect();
      await store.close();
    }
  });

  void it("a read against a Redis that does not answer, while this process stays busy, fails after at most three timeouts", async () => {
    const { store } = await open();
    const pauser = testClient(server);
    // Keeps the event loop ~80 % busy, as a long burst of requests does.
    const load = setInterval(() => busy(20), 25);
    try {
      await waitReady(pauser);
      await pauser.call("CLIENT", "PAUSE", String(SHORT_COMMAND_TIMEOUT_MS * 6), "ALL");
      const started = performance.now();
      await assert.rejects(store.get(freshAccount()), StoreUnavailableError);
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= SHORT_COMMAND_TIMEOUT_MS * 3 - 20, `asked three times: ${Math.round(elapsed)} ms`);
      assert.ok(elapsed < SHORT_COMMAND_TIMEOUT_MS * 4 + 300, `and no more: ${Math.round(elapsed)} ms`);
    } finally {
      clearInterval(load);
      await pauser.call("CLIENT", "UNPAUSE").catch(() => undefined);
      pauser.disconnect();
      await store.close();
    }
  });
});
