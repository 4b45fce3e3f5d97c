import { test } from "node:test";
import assert from "node:assert/strict";
import { afterFailure, afterSuccess, cooldownMs, defaultBreakerPolicy as p, isOpen } from "../../src/broker/breaker";
import { UpstreamError, type ErrClass } from "../../src/wechat/types";

const err = (errclass: ErrClass, errcode?: number, retryAfterMs?: number) =>
  new UpstreamError("x", {
    kind: "errcode",
    endpoint: "stable_token",
    errclass,
    errcode,
    retryable: errclass === "transient",
    retryAfterMs,
    hint: { en: "", zh: "" },
  });

test("a configuration error opens the breaker for a minute, doubling with each consecutive failure up to an hour", () => {
  assert.equal(cooldownMs(err("config", 40164), 1, p), 60_000);
  assert.equal(cooldownMs(err("config", 40164), 2, p), 120_000);
  assert.equal(cooldownMs(err("config", 40164), 30, p), 3_600_000);
});

test("WeChat's own windows win when longer: 89506 a day, 89507 an hour", () => {
  assert.equal(cooldownMs(err("admin", 89506, 86_400_000), 1, p), 86_400_000);
  assert.equal(cooldownMs(err("admin", 89507, 3_600_000), 1, p), 3_600_000);
});

test("quota errors wait for their window and at least a minute", () => {
  assert.equal(cooldownMs(err("quota", 45011, 60_000), 1, p), 60_000);
  assert.equal(cooldownMs(err("quota", 45009, 5 * 3_600_000), 1, p), 5 * 3_600_000);
  assert.equal(cooldownMs(err("quota", 45009), 1, p), 60_000);
});

test("a quota error without a window of its own (WeCom's 45009) waits longer on every repeat, up to a day", () => {
  assert.deepEqual(
    [1, 2, 5, 10].map((n) => cooldownMs(err("quota", 45009), n, p)),
    [60_000, 120_000, 960_000, 30_720_000],
  );
  assert.equal(cooldownMs(err("quota", 45009), 30, p), 86_400_000);
  // A window WeChat states still wins when it is longer than the grown one.
  assert.equal(cooldownMs(err("quota", 45009, 5 * 3_600_000), 3, p), 5 * 3_600_000);
});

test("transient failures pause briefly, growing to at most 30 s", () => {
  assert.equal(cooldownMs(err("transient", -1), 1, p), 1_000);
  assert.equal(cooldownMs(err("transient", -1), 10, p), 30_000);
});

test("a failure records the error and opens; a success closes and keeps the last error for diagnosis", () => {
  const now = 1_000_000;
  const s1 = afterFailure({ openUntil: 0, failures: 0 }, err("config", 40164), now, p);
  assert.equal(s1.failures, 1);
  assert.equal(isOpen(s1, now + 59_999), true);
  assert.equal(isOpen(s1, now + 60_000), false);
  assert.equal(s1.lastError?.errcode, 40164);
  assert.equal(s1.lastError?.at, now);
  const s2 = afterSuccess(s1, now + 70_000);
  assert.equal(s2.openUntil, 0);
  assert.equal(s2.failures, 0);
  assert.equal(s2.lastSuccessAt, now + 70_000);
  assert.equal(s2.lastError?.errcode, 40164);
});
