import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryTokenStore } from "../../src/store/memoryStore";
import { StoreUnavailableError } from "../../src/store/errors";
import { describeTokenStoreContract, freshAccount, token } from "./contract";

describeTokenStoreContract("MemoryTokenStore", async () => {
  const store = new MemoryTokenStore();
  return { open: async () => store, close: () => store.close() };
});

void describe("MemoryTokenStore beyond the contract", () => {
  void it("hands out copies, so a caller mutating a token cannot change the stored one", async () => {
    const store = new MemoryTokenStore();
    const a = freshAccount();
    const t = token(1);
    await store.write(a, t);
    t.accessToken = "MUTATED";
    const read = await store.get(a);
    assert.notEqual(read?.accessToken, "MUTATED");
    if (read) read.gen = 99;
    assert.equal((await store.get(a))?.gen, 1);
  });

  void it("is not ready after close, rejects operations and delivers no more notices", async () => {
    const store = new MemoryTokenStore();
    const a = freshAccount();
    let heard = 0;
    store.onRefreshed(() => heard++);
    await store.publishRefreshed(a, 1);
    await store.close();
    await new Promise((r) => setImmediate(r));
    assert.equal(heard, 0, "a notice published just before close is not delivered after it");
    assert.equal(store.isReady(), false);
    await assert.rejects(store.get(a), StoreUnavailableError);
    await assert.rejects(store.ping(), StoreUnavailableError);
  });

  void it("keeps per-day counters for the last three quota days only", async () => {
    const store = new MemoryTokenStore();
    const a = freshAccount();
    for (const d of ["2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"]) await store.countUpstreamCall(a, d);
    assert.equal(await store.upstreamCalls(a, "2026-11-18"), 0);
    assert.equal(await store.upstreamCalls(a, "2026-11-21"), 1);
    assert.equal(await store.upstreamCalls(a, "2026-11-19"), 1);
  });
});
