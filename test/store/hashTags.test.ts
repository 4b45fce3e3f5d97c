// The hash-tag rule LuaScript.run enforces: a script's keys must hash alike so they share a Redis Cluster slot.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ALL_SCRIPTS, LOCK_ATTACH, hashTagOf, sameSlotTag } from "../../src/store/lua";
import type { RedisClient } from "../../src/store/redisClient";
import { KeySpace } from "../../src/store/keys";

void test("the hashed part of a key is its first non-empty {…}, else the whole key, as Redis Cluster computes it", () => {
  assert.equal(hashTagOf("wtb:{acct:gh_a}:token"), "acct:gh_a");
  assert.equal(hashTagOf("wtb:{caller:billing}:reports"), "caller:billing");
  assert.equal(hashTagOf("wechat:lock:gh_a"), "wechat:lock:gh_a");
  assert.equal(hashTagOf("a{}b{c}"), "a{}b{c}", "an empty first tag means the whole key");
  assert.equal(hashTagOf("a{b"), "a{b");
  assert.equal(hashTagOf("{x}{y}"), "x");
});

void test("keys of one account, or of any one tag, share a slot; keys of two accounts do not", () => {
  const k = new KeySpace("wtb:").account("gh_a");
  assert.ok(sameSlotTag([k.lock, k.lockinfo, k.fence, k.token]));
  assert.ok(sameSlotTag([k.force("2026-01-01"), k.forceLast]));
  assert.ok(sameSlotTag(["p{caller:x}:reports", "p{caller:x}:calls"]));
  assert.ok(sameSlotTag(["anything"]));
  assert.ok(!sameSlotTag([k.lock, new KeySpace("wtb:").account("gh_b").lockinfo]));
  assert.ok(!sameSlotTag(["no-tag-1", "no-tag-2"]));
});

void test("a script given keys of different tags is refused before any command is sent", async () => {
  const sent: string[] = [];
  const spy = new Proxy({}, { get: (_t, name) => () => sent.push(String(name)) }) as unknown as RedisClient;
  const a = new KeySpace("wtb:").account("gh_a");
  const b = new KeySpace("wtb:").account("gh_b");
  await assert.rejects(
    LOCK_ATTACH.run(spy, [a.lock, a.lockinfo, b.fence, a.token], ["v", "o", "1"]),
    /lockAttach: its keys must share one hash tag/,
  );
  assert.deepEqual(sent, []);
  assert.ok(ALL_SCRIPTS.length >= 8);
});
