import { test } from "node:test";
import assert from "node:assert/strict";
import { expiresInSec, refreshDueAt, safeUntil, servable, alive } from "../../src/broker/timing";
import type { StoredToken } from "../../src/store/types";

const p = { safetyMarginMs: 60_000, classicRefreshAheadMs: 900_000, stableRefreshAheadMs: 240_000, overlapMs: 300_000, minRefetchIntervalMs: 10_000, clockSkewMs: 5_000 };
const T0 = 1_800_000_000_000;
const tok = (api: StoredToken["api"], lifeMs = 7_200_000, fetchedAt = T0): StoredToken => ({ accessToken: "t", expiresAt: fetchedAt + lifeMs, fetchedAt, api, gen: 1 });

test("a stable token is due for refresh inside its last 300 seconds, never earlier", () => {
  const t = tok("stable");
  assert.equal(refreshDueAt(t, p), t.expiresAt - 240_000);
  assert.ok(t.expiresAt - refreshDueAt(t, p) < p.overlapMs);
});

test("a classic token is due well before expiry", () => {
  const t = tok("classic");
  assert.equal(refreshDueAt(t, p), t.expiresAt - 900_000);
});

test("a caller may cache a stable token until its expiry minus the margin", () => {
  const t = tok("stable");
  assert.equal(expiresInSec(t, T0, p), 7200 - 60);
  assert.equal(safeUntil(t, T0, p), t.expiresAt - 60_000);
});

test("a caller may cache a classic token only until 300 s after its planned refresh, because the refresh kills it then", () => {
  const t = tok("classic");
  // planned refresh at expiry-900 s; old token dies 300 s later; minus 60 s margin
  assert.equal(expiresInSec(t, T0, p), 7200 - 900 + 300 - 60);
});

test("an overdue classic refresh still leaves the caller 300 s minus the margin, never more than the token's life", () => {
  const t = tok("classic");
  const late = t.expiresAt - 600_000; // refresh was due 300 s ago
  assert.equal(expiresInSec(t, late, p), 300 - 60);
  const veryLate = t.expiresAt - 90_000;
  assert.equal(expiresInSec(t, veryLate, p), 30);
});

test("expiresIn is never negative", () => {
  const t = tok("stable", 30_000);
  assert.equal(expiresInSec(t, T0 + 29_000, p), 0);
});

test("a token inside the margin is servable only if it was fetched moments ago", () => {
  const t = tok("wecom", 50_000);
  assert.equal(servable(t, T0 + 1000, p), true, "fetched 1 s ago, still alive");
  assert.equal(servable(t, T0 + 20_000, p), false, "fetched 20 s ago and inside the margin");
  assert.equal(servable(tok("stable"), T0, p), true);
  assert.equal(servable(null, T0, p), false);
});

test("a token is alive only while more than the allowed clock skew is left", () => {
  const t = tok("stable", 10_000);
  assert.equal(alive(t, T0 + 4_000, p), true);
  assert.equal(alive(t, T0 + 5_000, p), false);
});

test("a just-fetched token inside the margin is not served once less than the clock skew is left", () => {
  const t = tok("wecom", 8_000);
  assert.equal(servable(t, T0 + 2_000, p), true);
  assert.equal(servable(t, T0 + 3_500, p), false, "4.5 s left: a replica 5 s behind would serve it dead");
});
