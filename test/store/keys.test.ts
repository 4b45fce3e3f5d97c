import { describe, it, test } from "node:test";
import assert from "node:assert/strict";
import { KeySpace } from "../../src/store/keys";

void describe("Redis key naming", () => {
  void it("puts every key of an account under the {acct:<id>} hash tag after the prefix", () => {
    const k = new KeySpace("wtb:").account("gh_e4b07b2a992e6669");
    const base = "wtb:{acct:gh_e4b07b2a992e6669}";
    assert.deepEqual(
      [k.token, k.fence, k.lock, k.lockinfo, k.status, k.forceLast, k.calls("2026-11-21"), k.force("2026-11-21")],
      [
        `${base}:token`,
        `${base}:fence`,
        `${base}:lock`,
        `${base}:lockinfo`,
        `${base}:status`,
        `${base}:forcelast`,
        `${base}:calls:2026-11-21`,
        `${base}:force:2026-11-21`,
      ],
    );
    assert.equal(new KeySpace("wtb:").refreshedChannel, "wtb:refreshed");
    assert.equal(new KeySpace().prefix, "wtb:");
  });

  void it("parses its own keys back and rejects anything else", () => {
    const ks = new KeySpace("x:");
    const k = ks.account("a-1");
    assert.deepEqual(ks.parse(k.lock), { accountId: "a-1", kind: "lock" });
    assert.deepEqual(ks.parse(k.calls("2026-01-02")), { accountId: "a-1", kind: "calls", day: "2026-01-02" });
    assert.equal(ks.parse("y:{acct:a-1}:lock"), null);
    assert.equal(ks.parse("x:{acct:a-1}:lock:2026-01-02"), null);
    assert.equal(ks.parse("x:{acct:a-1}:calls"), null);
    assert.equal(ks.parse("x:{acct:a-1}:other"), null);
  });

  void it("keys a ticket under its credential id <account>.<type>, apart from the account's token, and parses it back", () => {
    const ks = new KeySpace("x:");
    const k = ks.account("a-1.jsapi");
    assert.equal(k.token, "x:{acct:a-1.jsapi}:token");
    assert.notEqual(k.token, ks.account("a-1").token);
    assert.deepEqual(ks.parse(k.lock), { accountId: "a-1.jsapi", kind: "lock" });
    assert.deepEqual(ks.parse(ks.account("a-1.agent_config").calls("2026-01-02")), {
      accountId: "a-1.agent_config",
      kind: "calls",
      day: "2026-01-02",
    });
    for (const bad of ["a-1.", "a-1.other", ".jsapi", "a.b.jsapi", "a-1.jsapi.jsapi"]) assert.throws(() => ks.account(bad), TypeError, bad);
    assert.equal(ks.parse("x:{acct:a-1.other}:lock"), null);
  });

  void it("refuses account ids, days and prefixes that would break the hash tag or the layout", () => {
    const ks = new KeySpace("wtb:");
    for (const bad of ["a}b", "a{b", "a:b", "", "é", "x".repeat(65)]) assert.throws(() => ks.account(bad), TypeError, bad);
    assert.throws(() => ks.account("a").calls("2026-1-2"), TypeError);
    assert.throws(() => ks.account("a").force("today"), TypeError);
    for (const bad of ["{x}:", "a b", "a*"]) assert.throws(() => new KeySpace(bad), TypeError, bad);
  });

  void it("offers SCAN patterns for lock listings and cleanup", () => {
    assert.equal(new KeySpace("wtb:").lockPattern(), "wtb:{acct:*}:lock");
    assert.equal(new KeySpace("wtb:").allPattern(), "wtb:{acct:*}:*");
  });
});

test("a caller's report limit has a key of its own whatever its name: API key names as they are, others by a digest", () => {
  const ks = new KeySpace("wtb:");
  assert.equal(ks.callerReports("svc-orders"), "wtb:{caller:svc-orders}:reports");
  const odd = ks.callerReports("secret:gh_stable");
  assert.match(odd, /^wtb:\{caller:h-[0-9a-f]{24}\}:reports$/);
  assert.notEqual(odd, ks.callerReports("secret:gh_other"));
  assert.equal(odd, ks.callerReports("secret:gh_stable"), "the same name, the same key");
});
