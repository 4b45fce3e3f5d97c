// The RefreshLock conformance suite: the Redis lock and the in-process lock must behave the same.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import type { LockHandle, RefreshLock } from "../../src/lock/types";
import { freshAccount, sleep } from "../store/contract";

export interface LockBackend {
  /** A lock instance over the shared state: for Redis, a new instance on its own connection (another replica). */
  open(): Promise<RefreshLock>;
  close(): Promise<void>;
}

const TTL = 300;

export function describeRefreshLockContract(name: string, makeBackend: () => Promise<LockBackend>): void {
  void describe(`${name}: the RefreshLock contract`, () => {
    let backend: LockBackend;
    let lock: RefreshLock;

    before(async () => {
      backend = await makeBackend();
      lock = await backend.open();
    });
    after(async () => {
      await backend.close();
    });

    void it("gives the lock to exactly one of 10 concurrent acquirers on separate connections", async () => {
      const a = freshAccount();
      const locks = await Promise.all(Array.from({ length: 10 }, () => backend.open()));
      const handles = await Promise.all(locks.map((l) => l.tryAcquire(a, 2000)));
      const winners = handles.filter((h): h is LockHandle => h !== null);
      assert.equal(winners.length, 1);
      assert.equal(await winners[0]?.release(), "released");
    });

    void it("issues strictly increasing generations across acquisitions by different holders", async () => {
      const a = freshAccount();
      const locks = await Promise.all(Array.from({ length: 3 }, () => backend.open()));
      const gens: number[] = [];
      for (let i = 0; i < 9; i++) {
        const h = await (locks[i % 3] as RefreshLock).tryAcquire(a, 2000);
        assert.ok(h, `acquisition ${i + 1}`);
        gens.push(h.gen);
        assert.equal(await h.release(), "released");
      }
      for (let i = 1; i < gens.length; i++) assert.ok((gens[i] as number) > (gens[i - 1] as number), `gens ${gens.join(",")}`);
    });

    void it("keeps generations separate per account and does not make accounts contend", async () => {
      const a = freshAccount();
      const b = freshAccount();
      const ha = await lock.tryAcquire(a, 2000);
      const hb = await lock.tryAcquire(b, 2000);
      assert.ok(ha && hb);
      assert.notEqual(ha.key, hb.key);
      await ha.release();
      await hb.release();
    });

    void it("refuses a second acquirer while held, and frees the lock on release", async () => {
      const a = freshAccount();
      const other = await backend.open();
      const h = await lock.tryAcquire(a, 2000);
      assert.ok(h);
      assert.equal(await other.tryAcquire(a, 2000), null);
      assert.equal(await lock.tryAcquire(a, 2000), null, "not re-entrant either");
      assert.equal(await h.release(), "released");
      const h2 = await other.tryAcquire(a, 2000);
      assert.ok(h2);
      assert.ok(h2.gen > h.gen);
      await h2.release();
    });

    void it("makes release idempotent: a second release gives the same answer and does not throw", async () => {
      const a = freshAccount();
      const h = await lock.tryAcquire(a, 2000);
      assert.ok(h);
      assert.equal(await h.release(), "released");
      assert.equal(await h.release(), "released");
      assert.equal(h.isValid(), false, "a released handle is no longer valid");
    });

    void it("reports an expired lock as 'expired' on release, without throwing and without touching the new holder's lock", async () => {
      const a = freshAccount();
      const other = await backend.open();
      const old = await lock.tryAcquire(a, TTL);
      assert.ok(old);
      await sleep(TTL + 100);
      assert.equal(old.isValid(), false);
      const current = await other.tryAcquire(a, 2000);
      assert.ok(current, "the lapsed lock can be taken");
      assert.ok(current.gen > old.gen);
      const started = Date.now();
      assert.equal(await old.release(), "expired");
      assert.ok(Date.now() - started < 1000, "no retry loop on release");
      assert.equal(await lock.tryAcquire(a, 2000), null, "the new holder still has it");
      assert.equal((await lock.holder(a))?.owner, current.owner);
      assert.equal(await current.release(), "released");
    });

    void it("reports 'expired' when the lock ran out and nobody took it", async () => {
      const a = freshAccount();
      const h = await lock.tryAcquire(a, TTL);
      assert.ok(h);
      await sleep(TTL + 100);
      assert.equal(await h.release(), "expired");
    });

    void it("replaces a holder that dies without releasing once its TTL has passed", async () => {
      const a = freshAccount();
      const dead = await backend.open();
      const other = await backend.open();
      const h = await dead.tryAcquire(a, TTL);
      assert.ok(h);
      assert.equal(await other.tryAcquire(a, TTL), null);
      await sleep(TTL + 100);
      const next = await other.tryAcquire(a, 2000);
      assert.ok(next);
      assert.ok(next.gen > h.gen);
      await next.release();
    });

    void it("shows the holder's owner and remaining TTL, and nothing when free", async () => {
      const a = freshAccount();
      assert.equal(await lock.holder(a), null);
      const h = await lock.tryAcquire(a, 2000);
      assert.ok(h);
      const seen = await lock.holder(a);
      assert.ok(seen);
      assert.equal(seen.owner, h.owner);
      assert.ok(seen.ttlMs > 0 && seen.ttlMs <= 2000, `ttl ${seen.ttlMs}`);
      await h.release();
      assert.equal(await lock.holder(a), null);
    });

    void it("gives a handle an expiry no later than acquisition time plus TTL, and honours the validity margin", async () => {
      const a = freshAccount();
      const before = Date.now();
      const h = await lock.tryAcquire(a, 1000);
      assert.ok(h);
      assert.ok(h.expiresAt <= before + 1000 + 5, `expiresAt ${h.expiresAt - before} ms after the call`);
      assert.ok(h.expiresAt > Date.now() + 500);
      assert.equal(h.isValid(), true);
      assert.equal(h.isValid(900), h.expiresAt - Date.now() > 900);
      assert.equal(h.isValid(5000), false);
      assert.match(h.owner, /#[0-9a-f]{8}$/);
      assert.ok(Number.isSafeInteger(h.gen) && h.gen > 0);
      await h.release();
    });

    void it("refuses a TTL that is not a whole number of milliseconds", async () => {
      await assert.rejects(lock.tryAcquire(freshAccount(), 1.5), TypeError);
      await assert.rejects(lock.tryAcquire(freshAccount(), 0), TypeError);
    });
  });
}
