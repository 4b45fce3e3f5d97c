// The refresh policy's arithmetic and decisions, as pure functions: examples first, then properties over random
// tokens, clocks and jitter (fast-check, fixed seeds).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  alive,
  decide,
  expiresInSec,
  notBeforeAfterAnswer,
  plannedRefreshAt,
  refreshDueAt,
  safeUntil,
  servable,
  type PolicyOptions,
  type Trigger,
} from "../../src/broker/policy";
import { tokenServiceOptions } from "../../src/broker/tokenService";
import { defaultCoreOptions } from "../../src/config";
import type { AccountStatus, StoredToken } from "../../src/store/types";

const p: PolicyOptions = tokenServiceOptions(defaultCoreOptions().tokenService);
const T0 = 1_800_000_000_000;
const closed: AccountStatus = { openUntil: 0, failures: 0 };
const tok = (api: StoredToken["api"], lifeMs = 7_200_000, fetchedAt = T0, extra: Partial<StoredToken> = {}): StoredToken => ({
  accessToken: "t",
  expiresAt: fetchedAt + lifeMs,
  fetchedAt,
  api,
  gen: 1,
  checkedAt: fetchedAt,
  notBefore: 0,
  ...extra,
});

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
  assert.equal(expiresInSec(t, T0, p), 7200 - 900 + 300 - 60);
});

test("an overdue classic refresh still leaves the caller 300 s minus the margin, never more than the token's life", () => {
  const t = tok("classic");
  assert.equal(expiresInSec(t, t.expiresAt - 600_000, p), 300 - 60);
  assert.equal(expiresInSec(t, t.expiresAt - 90_000, p), 30);
});

test("expiresIn is never negative", () => {
  assert.equal(expiresInSec(tok("stable", 30_000), T0 + 29_000, p), 0);
});

test("inside the margin a token is served only while WeChat has said it has nothing newer, and then until it really dies", () => {
  const t = tok("wecom", 50_000);
  assert.equal(servable(t, T0 + 1000, p), false, "nothing said: inside the margin it is refreshed");
  const confirmed = { ...t, notBefore: t.expiresAt };
  assert.equal(servable(confirmed, T0 + 1000, p), true);
  assert.equal(
    servable(confirmed, t.expiresAt - p.clockSkewMs - 1, p),
    true,
    "served to the end of its life (less the replicas' clock allowance)",
  );
  assert.equal(servable(confirmed, t.expiresAt - p.clockSkewMs, p), false);
  assert.equal(servable(tok("stable"), T0, p), true);
  assert.equal(servable(null, T0, p), false);
});

test("a token is alive only while more than the allowed clock skew is left", () => {
  const t = tok("stable", 10_000);
  assert.equal(alive(t, T0 + 4_000, p), true);
  assert.equal(alive(t, T0 + 5_000, p), false);
});

test("an answer that brings nothing new pushes the next routine call to the token's renewal point, never sooner than the floor", () => {
  const now = T0 + 6_300_000;
  const wecom = tok("wecom");
  assert.equal(notBeforeAfterAnswer(wecom, now, true, p), wecom.expiresAt, "WeCom hands the same token back until it expires");
  const stable = tok("stable");
  assert.equal(notBeforeAfterAnswer(stable, T0, true, p), stable.expiresAt - 300_000, "stable rotates only in its last 300 s");
  assert.equal(
    notBeforeAfterAnswer(stable, stable.expiresAt - 200_000, true, p),
    stable.expiresAt - 200_000 + p.refetchFloorMs,
    "inside the window: the floor",
  );
  assert.equal(notBeforeAfterAnswer(tok("classic"), T0, true, p), T0 + p.refetchFloorMs);
  assert.equal(notBeforeAfterAnswer(tok("classic"), T0, false, p), 0, "a new classic token: the usual refresh-ahead point");
});

test("the refresh-ahead timer of a WeCom account whose token WeChat handed back waits for its expiry instead of firing again", () => {
  const now = T0 + 6_300_000;
  const t = tok("wecom", 7_200_000, T0, { checkedAt: now });
  t.notBefore = notBeforeAfterAnswer(t, now, true, p);
  assert.equal(decide({ trigger: "ahead", token: t, status: closed, now }, p).action, "serve");
  assert.equal(plannedRefreshAt(t, 0, p), t.expiresAt);
  assert.equal(
    decide({ trigger: "miss", token: t, status: closed, now: t.expiresAt - p.clockSkewMs - 1 }, p).action,
    "serve",
    "served while alive",
  );
  assert.deepEqual(
    decide({ trigger: "miss", token: t, status: closed, now: t.expiresAt - 2_000 }, p),
    { action: "wait", until: t.expiresAt, why: "spacing" },
    "no call before WeChat can have a new one",
  );
  assert.deepEqual(decide({ trigger: "miss", token: t, status: closed, now: t.expiresAt }, p), { action: "fetch", force: false });
});

test("a report of a young current token is probed; of a replaced one, answered from the store; of one due anyway, refreshed", () => {
  const t = tok("classic", 7_200_000, T0, { accessToken: "cur" });
  const at = (now: number, reported: string, since = now) =>
    decide({ trigger: "report", token: t, status: closed, now, reported, since }, p);
  assert.deepEqual(at(T0 + 60_000, "cur"), { action: "probe" });
  assert.deepEqual(at(T0 + 60_000, "old"), { action: "serve", why: "already_replaced" });
  assert.deepEqual(at(refreshDueAt(t, p), "cur"), { action: "fetch", force: false });
  const rechecked = { ...t, checkedAt: T0 + 70_000 };
  assert.deepEqual(
    decide({ trigger: "report", token: rechecked, status: closed, now: T0 + 71_000, reported: "cur", since: T0 + 69_000 }, p),
    { action: "serve", why: "rechecked" },
  );
  assert.deepEqual(
    decide({ trigger: "report", token: t, status: closed, now: T0 + 60_000, reported: "cur", since: T0, confirmedDead: true }, p),
    { action: "fetch", force: false },
  );
});

test("an open breaker holds every trigger but lets an operator's sync through at most once per interval", () => {
  const t = tok("stable", 10_000);
  const status: AccountStatus = {
    openUntil: T0 + 600_000,
    failures: 3,
    lastError: {
      message: "x",
      kind: "errcode",
      endpoint: "stable_token",
      errclass: "config",
      retryable: false,
      hint: { en: "", zh: "" },
      at: T0,
    },
  };
  for (const trigger of ["miss", "ahead"] as Trigger[])
    assert.equal(decide({ trigger, token: t, status, now: T0 + 20_000 }, p).action, "wait");
  assert.equal(decide({ trigger: "sync", token: t, status, now: T0 + 5_000 }, p).action, "wait");
  assert.equal(decide({ trigger: "sync", token: t, status, now: T0 + 20_000 }, p).action, "fetch");
});

test("a dead token that WeChat just handed back is asked for again after a second, not once per round trip", () => {
  const t = tok("stable", 1_000, T0, { checkedAt: T0 });
  assert.deepEqual(decide({ trigger: "miss", token: t, status: closed, now: T0 + 500 }, p), {
    action: "wait",
    until: T0 + 1_000,
    why: "spacing",
  });
  assert.equal(decide({ trigger: "miss", token: t, status: closed, now: T0 + 1_000 }, p).action, "fetch");
});

test("a forced sync forces only stable tokens; a plain sync of a token that is not due calls nothing", () => {
  assert.deepEqual(decide({ trigger: "force", token: tok("stable"), status: closed, now: T0 }, p), { action: "fetch", force: true });
  assert.deepEqual(decide({ trigger: "force", token: tok("classic"), status: closed, now: T0 }, p), { action: "fetch", force: false });
  assert.equal(decide({ trigger: "sync", token: tok("classic"), status: closed, now: T0 + 60_000 }, p).action, "serve");
});

test("a ticket is due and promised like a classic token: refreshed 900 s ahead, cached only until 300 s after that", () => {
  const t = tok("ticket");
  assert.equal(refreshDueAt(t, p), t.expiresAt - p.classicRefreshAheadMs);
  assert.equal(expiresInSec(t, T0, p), 7200 - 900 + 300 - 60);
  assert.equal(plannedRefreshAt(t, 0, p), refreshDueAt(t, p));
});

test("a ticket endpoint that hands back the ticket already held pushes the next routine call to that ticket's expiry", () => {
  const now = T0 + 6_400_000;
  const t = tok("ticket", 7_200_000, T0, { checkedAt: now });
  assert.equal(notBeforeAfterAnswer(t, now, true, p), t.expiresAt, "the same ticket: nothing newer before it expires");
  assert.equal(notBeforeAfterAnswer(t, T0, false, p), 0, "a new ticket: the usual refresh-ahead point");
  t.notBefore = notBeforeAfterAnswer(t, now, true, p);
  assert.equal(decide({ trigger: "ahead", token: t, status: closed, now: now + 1 }, p).action, "serve");
  assert.equal(decide({ trigger: "sync", token: t, status: closed, now: now + 1 }, p).action, "serve");
  assert.equal(plannedRefreshAt(t, 0.5, p), t.expiresAt, "the refresh-ahead timer waits for the expiry instead of looping");
});

test("a ticket is fetched on a miss only when there is none or it is not servable, and is never forced", () => {
  assert.deepEqual(decide({ trigger: "miss", token: null, status: closed, now: T0 }, p), { action: "fetch", force: false });
  assert.deepEqual(decide({ trigger: "miss", token: tok("ticket"), status: closed, now: T0 + 60_000 }, p), {
    action: "serve",
    why: "fresh",
  });
  assert.deepEqual(decide({ trigger: "ahead", token: tok("ticket"), status: closed, now: T0 + 7_200_000 - 900_000 }, p), {
    action: "fetch",
    force: false,
  });
  assert.deepEqual(decide({ trigger: "force", token: tok("ticket"), status: closed, now: T0 }, p), { action: "fetch", force: false });
});

// ---- properties ---------------------------------------------------------------------------------------------

const api = fc.constantFrom<StoredToken["api"]>("stable", "classic", "wecom", "ticket");
const lifetimeMs = fc.integer({ min: 1_000, max: 7_200_000 });

test("property: no replica's planned refresh falls before the due time that the caching promise accounts for, nor after the margin", () => {
  fc.assert(
    fc.property(
      api,
      lifetimeMs,
      fc.double({ min: 0, max: 0.999999, noNaN: true }),
      fc.integer({ min: 0, max: 7_200_000 }),
      (a, life, u, nb) => {
        const t = tok(a, life, T0, { notBefore: T0 + nb });
        const planned = plannedRefreshAt(t, u, p);
        assert.ok(planned >= refreshDueAt(t, p));
        assert.ok(planned <= Math.max(refreshDueAt(t, p), t.expiresAt - p.safetyMarginMs));
      },
    ),
    { seed: 11, numRuns: 2000 },
  );
});

test("property: whenever any replica refreshes a classic token or a ticket (never before it is due), every expiresIn promised earlier ends before the old one may die", () => {
  fc.assert(
    fc.property(
      fc.constantFrom<StoredToken["api"]>("classic", "ticket"),
      lifetimeMs,
      fc.integer({ min: 0, max: 7_200_000 }),
      fc.double({ min: 0, max: 0.999999, noNaN: true }),
      (a, life, promisedAfter, u) => {
        const t = tok(a, life);
        const promisedAt = T0 + promisedAfter;
        const refreshAt = Math.max(plannedRefreshAt(t, u, p), promisedAt); // a refresh after the promise was given
        const diesAt = Math.min(t.expiresAt, refreshAt + p.overlapMs);
        const promisedUntil = promisedAt + expiresInSec(t, promisedAt, p) * 1000;
        assert.ok(
          promisedUntil <= diesAt - p.safetyMarginMs || expiresInSec(t, promisedAt, p) === 0,
          `promised ${promisedUntil - T0}, dies ${diesAt - T0}`,
        );
      },
    ),
    { seed: 12, numRuns: 3000 },
  );
});

test("property: while the token lives, no routine trigger asks for a call before WeChat can have anything newer", () => {
  fc.assert(
    fc.property(api, lifetimeMs, fc.integer({ min: 0, max: 7_200_000 }), (a, life, answeredAfter) => {
      const answeredAt = T0 + Math.min(answeredAfter, life);
      const t = tok(a, life, T0, { checkedAt: answeredAt });
      t.notBefore = notBeforeAfterAnswer(t, answeredAt, true, p);
      for (const now of [answeredAt, answeredAt + 1, t.notBefore - 1]) {
        if (now >= t.notBefore || now >= t.expiresAt) continue;
        for (const trigger of ["ahead", "miss", "sync"] as Trigger[]) {
          const d = decide({ trigger, token: t, status: closed, now }, p);
          assert.notEqual(d.action, "fetch", `${a} answered at +${answeredAt - T0} asked again by ${trigger} at +${now - T0}`);
        }
      }
    }),
    { seed: 13, numRuns: 2000 },
  );
});

test("property: a report of a token other than the current one never reaches WeChat while the current one is servable", () => {
  fc.assert(
    fc.property(api, lifetimeMs, fc.integer({ min: 0, max: 7_200_000 }), (a, life, after) => {
      const t = tok(a, life, T0, { accessToken: "current" });
      const now = T0 + after;
      const d = decide({ trigger: "report", token: t, status: closed, now, reported: "older", since: now }, p);
      if (servable(t, now, p)) assert.deepEqual(d, { action: "serve", why: "already_replaced" });
    }),
    { seed: 14, numRuns: 2000 },
  );
});
