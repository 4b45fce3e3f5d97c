// The lock inventory's conformance suite: the Redis lock and the in-process lock list their locks and clean up
// stuck ones the same way, so the operator's view (src/ops/locks.ts) is the same in both modes. Each test reads only
// the entries of its own fresh accounts: a Redis backend's keyspace is shared by the other tests.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import type { LockCleanup, LockEntry } from "../../src/lock/inventory";
import type { RefreshLock } from "../../src/lock/types";
import { freshAccount, sleep } from "../store/contract";

export interface InventoryBackend {
  /** A lock instance over the shared state (for Redis, another replica on its own connection). */
  open(): Promise<RefreshLock>;
  /** Leave a lock no live holder can own, as old tooling or a hand-made SET does (where that can happen at all). */
  plantStuck?(accountId: string): Promise<void>;
  close(): Promise<void>;
}

/** Whether the backend can hold a stuck lock; where it cannot, the reason is shown as the skipped test's note. */
export type StuckLocks = { possible: true } | { possible: false; why: string };

const SHORT_TTL = 300;

export function describeLockInventoryContract(name: string, makeBackend: () => Promise<InventoryBackend>, stuck: StuckLocks): void {
  void describe(`${name}: the lock inventory contract`, () => {
    let backend: InventoryBackend;
    let lock: RefreshLock;

    before(async () => {
      backend = await makeBackend();
      lock = await backend.open();
    });
    after(async () => {
      await backend.close();
    });

    const entryOf = (locks: LockEntry[], key: string) => locks.find((e) => e.key === key);

    void it("lists another holder's lock with its owner, TTL, gen and age, and no longer once it is released", async () => {
      const a = freshAccount();
      const other = await backend.open();
      const started = Date.now();
      const h = await other.tryAcquire(a, 2000);
      assert.ok(h);
      const listed = await lock.inventory().list();
      assert.equal(listed.truncated, false);
      assert.ok(listed.scanned >= 1);
      const e = entryOf(listed.locks, h.key);
      assert.ok(e, `${h.key} is listed`);
      assert.equal(e.kind, "broker");
      assert.equal(e.accountId, a);
      assert.equal(e.owner, h.owner);
      assert.equal(e.gen, h.gen);
      assert.ok(e.ttlMs > 0 && e.ttlMs <= 2000, `ttl ${e.ttlMs}`);
      assert.ok(e.ageMs !== undefined && e.ageMs >= 0 && e.ageMs <= Date.now() - started + 50, `age ${e.ageMs}`);
      assert.ok(e.acquiredAt && e.expiresAt && Date.parse(e.expiresAt) > Date.parse(e.acquiredAt));
      assert.equal(e.stuck, false);
      assert.equal(e.keepReason, "has_ttl");
      assert.equal(await h.release(), "released");
      assert.equal(entryOf((await lock.inventory().list()).locks, h.key), undefined);
    });

    void it("never removes a live holder's lock, in a dry run or a real cleanup, and the holder still owns it", async () => {
      const a = freshAccount();
      const h = await lock.tryAcquire(a, 5000);
      assert.ok(h);
      for (const dryRun of [true, false]) {
        const result = await lock.inventory().cleanup({ dryRun });
        assert.equal(result.dryRun, dryRun);
        assert.equal(
          result.removed.find((r) => r.key === h.key),
          undefined,
          `dryRun ${dryRun}: not removed`,
        );
        const keptEntry: LockCleanup["kept"][number] | undefined = result.kept.find((k) => k.key === h.key);
        assert.ok(keptEntry, `dryRun ${dryRun}: kept`);
        assert.equal(keptEntry.reason, "has_ttl");
        assert.equal(keptEntry.owner, h.owner);
      }
      assert.equal(await (await backend.open()).tryAcquire(a, 2000), null, "still held");
      assert.equal(await h.release(), "released");
    });

    void it("forgets a holder that died without releasing once its TTL has passed: not listed, nothing to clean up, a higher gen next", async () => {
      const a = freshAccount();
      const dead = await backend.open();
      const h = await dead.tryAcquire(a, SHORT_TTL);
      assert.ok(h);
      assert.ok(entryOf((await lock.inventory().list()).locks, h.key));
      await sleep(SHORT_TTL + 100);
      assert.equal(entryOf((await lock.inventory().list()).locks, h.key), undefined);
      const result = await lock.inventory().cleanup();
      assert.equal(
        [...result.removed, ...result.kept].find((x) => x.key === h.key),
        undefined,
      );
      const next = await lock.tryAcquire(a, 2000);
      assert.ok(next);
      assert.ok(next.gen > h.gen);
      await next.release();
    });

    void it("keeps fencing generations growing across cleanups", async () => {
      const a = freshAccount();
      const gens: number[] = [];
      for (let i = 0; i < 3; i++) {
        const h = await lock.tryAcquire(a, 2000);
        assert.ok(h);
        gens.push(h.gen);
        await h.release();
        await lock.inventory().cleanup();
      }
      assert.ok(gens[0]! < gens[1]! && gens[1]! < gens[2]!, `gens ${gens.join(",")}`);
    });

    void it("sweeps the given accounts' locks exactly as the listing shows them", async () => {
      const a = freshAccount();
      const h = await lock.tryAcquire(a, 5000);
      assert.ok(h);
      const inventory = lock.inventory();
      const swept = await inventory.sweep([a]);
      const listed = entryOf((await inventory.list()).locks, h.key);
      const seen = entryOf(swept.locks, h.key);
      assert.ok(seen && listed);
      const stable = (e: LockEntry) => ({ ...e, ttlMs: 0, ageMs: 0, expiresAt: "" });
      assert.deepEqual(stable(seen), stable(listed));
      assert.equal(swept.complete, true, "a small keyspace is walked in one step");
      await h.release();
    });

    void it(
      "cleans up a stuck lock after listing it as stuck, leaves it on a dry run, and the next holder's gen is higher",
      { skip: stuck.possible ? false : stuck.why },
      async () => {
        const a = freshAccount();
        const before = await lock.tryAcquire(a, 2000);
        assert.ok(before);
        await before.release();
        await backend.plantStuck!(a);
        assert.equal(await lock.tryAcquire(a, 2000), null, "a stuck lock blocks every acquirer");
        const inventory = lock.inventory();
        const e = entryOf((await inventory.list()).locks, before.key);
        assert.ok(e);
        assert.equal(e.stuck, true);
        assert.equal(e.stuckReason, "no_ttl");
        assert.equal(e.ttlMs, -1);
        const dry = await inventory.cleanup({ dryRun: true });
        assert.deepEqual(dry.removed.find((r) => r.key === before.key)?.reason, "no_ttl");
        assert.equal(await lock.tryAcquire(a, 2000), null, "a dry run removes nothing");
        const real = await inventory.cleanup();
        assert.deepEqual(real.removed.find((r) => r.key === before.key)?.reason, "no_ttl");
        assert.equal(entryOf((await inventory.list()).locks, before.key), undefined);
        const next = await lock.tryAcquire(a, 2000);
        assert.ok(next, "acquirable again after the cleanup");
        assert.ok(next.gen > before.gen, `gen ${next.gen} after ${before.gen}`);
        await next.release();
      },
    );
  });
}
