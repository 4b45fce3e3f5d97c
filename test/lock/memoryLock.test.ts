import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryRefreshLock } from "../../src/lock/memoryLock";
import type { Clock } from "../../src/clock";
import { describeRefreshLockContract } from "./contract";
import { describeLockInventoryContract } from "./inventoryContract";

describeRefreshLockContract("MemoryRefreshLock", async () => {
  // One process, one lock: every "replica" is the same instance.
  const lock = new MemoryRefreshLock({ replicaId: "test" });
  return { open: async () => lock, close: async () => {} };
});

describeLockInventoryContract(
  "MemoryRefreshLock",
  async () => {
    const lock = new MemoryRefreshLock({ replicaId: "test" });
    return { open: async () => lock, close: async () => {} };
  },
  { possible: false, why: "an in-process lock always has its expiry: nothing outside the process can leave one without" },
);

class FakeClock implements Clock {
  constructor(public t = 1_800_000_000_000) {}
  now(): number {
    return this.t;
  }
}

void describe("MemoryRefreshLock with an injected clock", () => {
  void it("holds the lock until exactly its TTL has passed on the injected clock", async () => {
    const clock = new FakeClock();
    const lock = new MemoryRefreshLock({ clock, replicaId: "r1" });
    const h = await lock.tryAcquire("acct", 1000);
    assert.ok(h);
    assert.equal(h.expiresAt, clock.t + 1000);
    clock.t += 999;
    assert.equal(h.isValid(), true);
    assert.equal(h.isValid(1), false, "a margin of 1 ms leaves no time at 999 ms");
    assert.equal(await lock.tryAcquire("acct", 1000), null);
    assert.deepEqual(await lock.holder("acct"), { owner: h.owner, ttlMs: 1, gen: 1, acquiredAt: clock.t - 999 });
    clock.t += 1;
    assert.equal(h.isValid(), false);
    assert.equal(await lock.holder("acct"), null);
    const next = await lock.tryAcquire("acct", 1000);
    assert.ok(next);
    assert.equal(next.gen, 2);
    assert.equal(await h.release(), "expired");
    assert.equal((await lock.holder("acct"))?.gen, 2, "the old holder's release left the new holder alone");
    assert.equal(await next.release(), "released");
  });

  void it("reports 'expired' for a holder released after its TTL even when nobody took the lock", async () => {
    const clock = new FakeClock();
    const lock = new MemoryRefreshLock({ clock });
    const h = await lock.tryAcquire("acct", 100);
    assert.ok(h);
    clock.t += 100;
    assert.equal(await h.release(), "expired");
    assert.equal(await h.release(), "expired");
    assert.equal((await lock.tryAcquire("acct", 100))?.gen, 2);
  });

  void it("names owners after the replica id with a random suffix", async () => {
    const lock = new MemoryRefreshLock({ replicaId: "pod-7" });
    assert.match(lock.owner, /^pod-7#[0-9a-f]{8}$/);
    assert.notEqual(lock.owner, new MemoryRefreshLock({ replicaId: "pod-7" }).owner);
  });
});
