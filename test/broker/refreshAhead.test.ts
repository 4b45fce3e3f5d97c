// Refresh-ahead over several rotations with short token lifetimes: callers never receive a token the simulator
// considers invalid, and once warm nobody waits for WeChat.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { account, startBroker, type TestBroker } from "../helpers/brokers";

// Scaled-down WeChat: 6 s tokens, 3 s overlap (stands for 7200 s / 300 s).
const LIFETIME_SEC = 6;
const OVERLAP_SEC = 3;
const timing = {
  overlapMs: OVERLAP_SEC * 1000,
  stableRefreshAheadMs: 2_500,
  classicRefreshAheadMs: 4_000,
  safetyMarginMs: 1_000,
  localCacheTtlMs: 1_000,
  refetchFloorMs: 500,
  clockSkewMs: 300,
};

const { redis, sim } = useRedisAndSimulator([
  { appId: "wx_ra_stable", secret: "ra-s", tokenLifetimeSec: LIFETIME_SEC, overlapSec: OVERLAP_SEC },
  { appId: "wx_ra_classic", secret: "ra-c", tokenLifetimeSec: LIFETIME_SEC, overlapSec: OVERLAP_SEC },
]);

const accounts = {
  ra_stable: account("ra_stable", "wx_ra_stable", "ra-s", "stable"),
  ra_classic: account("ra_classic", "wx_ra_classic", "ra-c", "classic"),
};

async function soak(bs: TestBroker[], accountId: string, appId: string, ms: number) {
  for (const b of bs) b.scheduler.start();
  // Warm-up: the schedulers fetch the first token by themselves.
  const warmDeadline = Date.now() + 3000;
  while (Date.now() < warmDeadline && sim.admin.counters(appId).tokensIssued === 0) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 200));
  const missesBefore = bs.reduce((n, b) => n + b.events.get("token:miss"), 0);
  const issuedBefore = sim.admin.counters(appId).tokensIssued;
  const callsOf = () => {
    const c = sim.admin.counters(appId).calls;
    return c.token + c.stable_token;
  };
  const callsBefore = callsOf();

  let served = 0;
  const invalid: string[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const views = await Promise.all(bs.map((b) => b.service.getToken(accountId)));
    for (const v of views) {
      served++;
      const check = sim.admin.checkToken(v.accessToken);
      if (!check.valid) invalid.push(check.reason ?? "?");
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const misses = bs.reduce((n, b) => n + b.events.get("token:miss"), 0) - missesBefore;
  return { served, invalid, misses, rotations: sim.admin.counters(appId).tokensIssued - issuedBefore, calls: callsOf() - callsBefore };
}

// Each test's brokers serve only its own account, so the two watch their rotations side by side.
describe("refresh-ahead", { concurrency: true }, () => {
  for (const [accountId, appId] of [
    ["ra_stable", "wx_ra_stable"],
    ["ra_classic", "wx_ra_classic"],
  ] as const) {
    test(`over several rotations of ${accountId.replace("ra_", "")} tokens, callers of two brokers only ever get valid tokens and never wait for WeChat`, async () => {
      const bs = await Promise.all(
        [0, 1].map((i) =>
          startBroker({
            accounts: [accounts[accountId]],
            redisUrl: redis.url,
            wechatApiBase: sim.url,
            keyPrefix: `ra-${accountId}:`,
            replicaId: `r${i}`,
            options: timing,
            scheduler: { startupSpreadMs: 10 },
          }),
        ),
      );
      try {
        const r = await soak(bs, accountId, appId, 14_000);
        assert.ok(r.served > 200, `served ${r.served}`);
        assert.deepEqual(r.invalid, [], "no invalid token was ever served");
        assert.equal(r.misses, 0, "no caller waited for an upstream call once warm");
        assert.ok(r.rotations >= 3, `the token rotated ${r.rotations} times`);
        // One upstream call per rotation, not one per broker (at most one extra for a refresh in flight at the end).
        assert.ok(r.calls <= r.rotations + 1, `${r.calls} upstream calls for ${r.rotations} rotations`);
      } finally {
        await Promise.all(bs.map((b) => b.close()));
      }
    });
  }
});
