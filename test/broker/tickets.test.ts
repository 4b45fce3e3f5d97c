// Tickets through TokenService and the scheduler, with a real Redis and the simulator: refreshed ahead once asked
// for (never before), independent of token rotations, and failing on their own breaker, not the token's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { account, startBroker } from "../helpers/brokers";
import { UpstreamUnavailableError } from "../../src/broker/errors";

// Scaled down: 6 s tokens and tickets.
const LIFETIME_SEC = 6;
const timing = {
  overlapMs: 3_000,
  stableRefreshAheadMs: 2_500,
  classicRefreshAheadMs: 4_000,
  safetyMarginMs: 1_000,
  localCacheTtlMs: 1_000,
  refetchFloorMs: 500,
  clockSkewMs: 300,
};
const AHEAD = { appId: "wx_tk_ahead", secret: "tk-ahead-secret-1", tokenLifetimeSec: LIFETIME_SEC, overlapSec: 3 };
const ROTATE = { appId: "wx_tk_rotate", secret: "tk-rotate-secret-2" };
const BREAK = { appId: "wx_tk_break", secret: "tk-break-secret-3" };
const { redis, sim } = useRedisAndSimulator([AHEAD, ROTATE, BREAK], { resetEachTest: true });
const accounts = [
  account("ahead", AHEAD.appId, AHEAD.secret, "stable"),
  account("rotate", ROTATE.appId, ROTATE.secret, "classic"),
  account("brk", BREAK.appId, BREAK.secret, "stable"),
];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("the scheduler fetches no ticket nobody asked for, and keeps a requested one fresh across its expiry", async () => {
  const b = await startBroker({
    accounts,
    redisUrl: redis.url,
    wechatApiBase: sim.url,
    keyPrefix: `tk-ahead-${process.pid}:`,
    options: timing,
    scheduler: { startupSpreadMs: 10 },
  });
  try {
    b.scheduler.start();
    await sleep(1_500);
    assert.equal(sim.admin.counters(AHEAD.appId).calls.getticket, 0, "no ticket before a caller asks");
    const first = await b.service.getTicket("ahead", "jsapi");
    assert.equal(first.ticket, sim.admin.currentTicket(AHEAD.appId, "jsapi"));
    // Nobody asks again; after the first ticket's lifetime, a new one is in the store, fetched by the scheduler.
    const deadline = Date.now() + 12_000;
    let stored = (await b.service.inspect("ahead.jsapi")).token;
    while (Date.now() < deadline && (stored === null || stored.accessToken === first.ticket)) {
      await sleep(200);
      stored = (await b.service.inspect("ahead.jsapi")).token;
    }
    assert.ok(stored && stored.accessToken !== first.ticket, "the scheduler replaced the ticket by itself");
    assert.equal(sim.admin.checkTicket(stored.accessToken).valid, true);
    assert.equal((await b.service.inspect("ahead.wx_card")).token, null, "the card ticket was never asked for, never fetched");
    assert.ok(b.service.ticketIds().includes("ahead.jsapi"));
  } finally {
    await b.close();
  }
});

test("a token rotation by itself does not invalidate the ticket: the cached ticket is served with no getticket call", async () => {
  const b = await startBroker({ accounts, redisUrl: redis.url, wechatApiBase: sim.url, keyPrefix: `tk-rot-${process.pid}:` });
  try {
    const t1 = await b.service.getTicket("rotate", "jsapi");
    const token1 = (await b.service.getToken("rotate")).accessToken;
    const synced = await b.service.sync("rotate", { force: true });
    assert.notEqual(synced.token.accessToken, token1, "the token rotated");
    const t2 = await b.service.getTicket("rotate", "jsapi");
    assert.equal(t2.ticket, t1.ticket);
    assert.equal(sim.admin.counters(ROTATE.appId).calls.getticket, 1);
  } finally {
    await b.close();
  }
});

test("a failing ticket endpoint opens the ticket's own breaker with a classified error, and the account's token is untouched", async () => {
  const b = await startBroker({
    accounts,
    redisUrl: redis.url,
    wechatApiBase: sim.url,
    keyPrefix: `tk-brk-${process.pid}:`,
    options: { transientRetries: 0 },
  });
  try {
    sim.admin.addFault(BREAK.appId, { type: "errcode", errcode: 40164, times: -1, endpoints: ["getticket"] });
    const err = await b.service.getTicket("brk", "jsapi").then(
      () => assert.fail("expected the ticket fetch to fail"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof UpstreamUnavailableError, String(err));
    assert.equal(err.errcode, 40164);
    assert.ok(err.upstream.hint.en.length > 0 && err.upstream.hint.zh.length > 0, "a hint in English and Chinese");
    const ticketState = await b.service.inspect("brk.jsapi");
    assert.ok(ticketState.status.openUntil > Date.now(), "the ticket's breaker is open");
    assert.equal(ticketState.status.lastError?.endpoint, "getticket");
    const tokenState = await b.service.inspect("brk");
    assert.equal(tokenState.status.openUntil, 0, "the token's breaker is not");
    assert.equal((await b.service.getToken("brk")).accountId, "brk");
    // While open, callers get the classified error at once, without another call.
    const before = sim.admin.counters(BREAK.appId).calls.getticket;
    await assert.rejects(b.service.getTicket("brk", "jsapi"), UpstreamUnavailableError);
    assert.equal(sim.admin.counters(BREAK.appId).calls.getticket, before);
  } finally {
    await b.close();
  }
});
