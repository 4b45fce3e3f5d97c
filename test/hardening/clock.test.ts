// Clock skew: three brokers sharing one Redis, one whose clock runs ahead, one correct, one behind, against the
// simulator's real clock. Token lifetimes are seconds long so several rotations happen during the test. Whatever
// a broker's clock says, no caller may get a token WeChat no longer accepts, nor be told to keep one longer than
// WeChat will accept it. The brokers are built here (not with test/helpers/brokers.ts) because the clock must
// reach both TokenService and the WeChat client, which stamps fetchedAt.
import assert from "node:assert/strict";
import pino from "pino";
import type { Account } from "../../src/accounts";
import { RefreshScheduler } from "../../src/broker/scheduler";
import { TokenService, type TokenServiceOptions } from "../../src/broker/tokenService";
import { defaultCoreOptions } from "../../src/config";
import type { Clock } from "../../src/clock";
import { RedisRefreshLock } from "../../src/lock/redisLock";
import { createRedisClient, duplicateRedisClient } from "../../src/store/redisClient";
import { RedisTokenStore } from "../../src/store/redisStore";
import { WeChatClient } from "../../src/wechat/client";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { sleep } from "./harness";
import { scenario } from "./record";

const SKEW_MS = 1000;
const LIFETIME_SEC = 6;
const OVERLAP_SEC = 3;
/** Rounds of asking every broker for every account, 50 ms apart: about 15 s, several token lifetimes. */
const ROUNDS = 280;

/** Short-lifetime timing: every value keeps the relations the real ones have (margin > skew, ahead < overlap). */
const OPTIONS: Partial<TokenServiceOptions> = {
  overlapMs: OVERLAP_SEC * 1000,
  safetyMarginMs: 2500,
  stableRefreshAheadMs: 2800,
  classicRefreshAheadMs: 3500,
  refetchFloorMs: 2000,
  clockSkewMs: 2 * SKEW_MS,
  localCacheTtlMs: 1000,
  lockTtlMs: 3000,
  upstreamTimeoutMs: 1000,
  waitForRefreshMs: 4000,
};

const APPS = {
  gh_stable: { appId: "wx_hard_clk_s", secret: "AppSecret-clk-S-4e8r", tokenApi: "stable" as const, type: "official" as const },
  gh_classic: { appId: "wx_hard_clk_c", secret: "AppSecret-clk-C-7u1i", tokenApi: "classic" as const, type: "official" as const },
  gh_wecom: { appId: "ww_hard_clk_w", secret: "CorpSecret-clk-W-3o5p", tokenApi: "stable" as const, type: "wecom" as const },
};
const ACCOUNTS: Account[] = Object.entries(APPS).map(([id, a]) => ({
  id,
  type: a.type,
  appId: a.appId,
  appSecret: a.secret,
  tokenApi: a.tokenApi,
}));
/** The accounts of the randomised run; WeCom has its own, step-by-step scenario below. */
const RANDOM_RUN = ACCOUNTS.filter((a) => a.type !== "wecom");

let prefixSeq = 0;

const { redis, sim } = useRedisAndSimulator(
  Object.values(APPS).map((a) => ({
    appId: a.appId,
    secret: a.secret,
    platform: a.type === "wecom" ? ("wecom" as const) : ("wechat" as const),
    tokenLifetimeSec: LIFETIME_SEC,
    overlapSec: OVERLAP_SEC,
  })),
);

interface SkewedBroker {
  offsetMs: number;
  service: TokenService;
  close(): Promise<void>;
}

async function skewedBroker(
  offsetMs: number,
  keyPrefix: string,
  accounts: Account[],
  opts: { scheduler?: boolean } = {},
): Promise<SkewedBroker> {
  const clock: Clock = { now: () => Date.now() + offsetMs };
  const logger = pino({ level: "silent" });
  const wechat = new WeChatClient({ wechatApiBase: sim.url, wecomApiBase: sim.wecomUrl, timeoutMs: 1000, now: clock.now, logger });
  const client = createRedisClient({ url: redis.url, commandTimeoutMs: 1000, connectTimeoutMs: 1000, tls: false }, logger);
  const store = new RedisTokenStore({ redis: client, subscriber: duplicateRedisClient(client, logger), keyPrefix, logger });
  await store.subscribed();
  const lock = new RedisRefreshLock({ redis: client, replicaId: `skew${offsetMs}`, keyPrefix, logger });
  const service = new TokenService({
    accounts,
    store,
    lock,
    wechat,
    logger,
    clock,
    options: { ...defaultCoreOptions().tokenService, ...OPTIONS },
  });
  const scheduler = new RefreshScheduler(service, logger, { startupSpreadMs: 50 }, clock);
  if (opts.scheduler !== false) scheduler.start();
  return {
    offsetMs,
    service,
    close: async () => {
      scheduler.stop();
      await service.drain();
      service.close();
      await store.close();
      wechat.close();
    },
  };
}

interface Served {
  broker: number;
  token: string;
  at: number;
  /** Until when (real time) the caller was told it may use the token. */
  until: number;
}

interface AccountRun {
  /** Requests made (brokers × rounds). */
  asked: number;
  served: number;
  problems: string[];
}

/**
 * Asks every broker for every account's token every 50 ms for ROUNDS rounds, and checks each answer against WeChat's
 * real clock: valid when served, and still valid whenever an earlier answer said it would be.
 */
async function serveUnderSkew(): Promise<Map<string, AccountRun>> {
  const prefix = `clk${++prefixSeq}:`;
  const offsets = [-SKEW_MS, 0, SKEW_MS];
  const brokers = await Promise.all(offsets.map((o) => skewedBroker(o, prefix, RANDOM_RUN)));
  const runs = new Map<string, AccountRun & { log: Served[] }>(
    RANDOM_RUN.map((a) => [a.id, { asked: 0, served: 0, problems: [], log: [] }]),
  );
  const started = Date.now();
  const clockOf = (i: number) => `${offsets[i]! > 0 ? "+" : ""}${offsets[i]} ms`;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all(
        brokers.flatMap((b, i) =>
          RANDOM_RUN.map(async (a) => {
            const r = runs.get(a.id)!;
            r.asked++;
            try {
              const v = await b.service.getToken(a.id);
              const at = Date.now();
              r.served++;
              const check = sim.admin.checkToken(v.accessToken);
              if (!check.valid) {
                r.problems.push(
                  `the broker with clock ${clockOf(i)} served a token WeChat calls "${check.reason}" at +${at - started} ms (expiresIn ${v.expiresIn})`,
                );
                return;
              }
              if (v.expiresIn > 0) r.log.push({ broker: i, token: v.accessToken, at, until: at + v.expiresIn * 1000 });
            } catch {
              // Making a caller wait or refusing is allowed; serving a dead token is not.
            }
          }),
        ),
      );
      const now = Date.now();
      for (const r of runs.values()) {
        for (const s of r.log) {
          if (s.at === 0 || now > s.until) continue;
          const check = sim.admin.checkToken(s.token);
          if (!check.valid) {
            r.problems.push(
              `the broker with clock ${clockOf(s.broker)} served a token at +${s.at - started} ms, promised until +${s.until - started} ms; WeChat says "${check.reason}" at +${now - started} ms`,
            );
            s.at = 0;
          }
        }
        r.log = r.log.filter((s) => s.at !== 0 && now <= s.until);
      }
      await sleep(50);
    }
  } finally {
    await Promise.all(brokers.map((b) => b.close()));
  }
  return new Map([...runs].map(([id, r]) => [id, { asked: r.asked, served: r.served, problems: r.problems }]));
}

let results: Map<string, AccountRun> | undefined;
/** One run for both accounts (they do not interact), shared by the scenarios below. */
async function resultsFor(id: string): Promise<AccountRun> {
  results ??= await serveUnderSkew();
  return results.get(id)!;
}

const SKEW_OUTCOME = `3 brokers (clocks ${-SKEW_MS} ms, 0, +${SKEW_MS} ms; pairwise skew ${2 * SKEW_MS} ms = clockSkewMs < margin 2.5 s), ${LIFETIME_SEC} s tokens: every served token valid at WeChat when served and for the whole expiresIn`;

scenario(
  "brokers whose clocks run 1 s behind and ahead never serve a stable token past WeChat's expiry, nor promise it longer than WeChat keeps it",
  { class: "Clock skew", outcome: SKEW_OUTCOME, timeout: 40_000 },
  async (run) => {
    const r = await resultsFor("gh_stable");
    assert.deepEqual(r.problems.slice(0, 5), [], `${r.problems.length} problems`);
    assert.ok(r.served > r.asked * 0.9, `served ${r.served} of ${r.asked}`);
    run.t.diagnostic(`${r.served} of ${r.asked} requests served`);
    run.cases(r.asked);
  },
);

scenario(
  "brokers whose clocks run 1 s behind and ahead never serve a classic token past WeChat's expiry or its replacement's overlap",
  { class: "Clock skew", outcome: SKEW_OUTCOME, timeout: 40_000 },
  async (run) => {
    const r = await resultsFor("gh_classic");
    assert.deepEqual(r.problems.slice(0, 5), [], `${r.problems.length} problems`);
    assert.ok(r.served > r.asked * 0.9, `served ${r.served} of ${r.asked}`);
    run.t.diagnostic(`${r.served} of ${r.asked} requests served`);
    run.cases(r.asked);
  },
);

scenario(
  "a broker whose clock runs 1 s behind never serves a WeCom token that has died, even when a broker whose clock runs 1 s ahead re-fetched it just before",
  {
    class: "Clock skew",
    outcome:
      "fast broker (+1 s) is asked 1.5 s before the WeCom token dies: it waits for the token's end instead of fetching the same token again, then serves a valid one; 0.3 s after it died the slow broker (−1 s) fetches the new token or refuses, never serves the dead one",
    timeout: 30_000,
  },
  async (run) => {
    const prefix = `clkw${++prefixSeq}:`;
    const wecom = ACCOUNTS.filter((a) => a.type === "wecom");
    const [fast, slow] = await Promise.all([
      skewedBroker(SKEW_MS, prefix, wecom, { scheduler: false }),
      skewedBroker(-SKEW_MS, prefix, wecom, { scheduler: false }),
    ]);
    try {
      const first = await fast!.service.getToken("gh_wecom");
      const issuedAt = Date.now();
      assert.equal(sim.admin.checkToken(first.accessToken).valid, true);
      // 1.5 s before it dies (inside the fast broker's margin and its clock allowance): WeCom has nothing newer until
      // the token's end, so the broker waits for it rather than spending a call on the same token, and serves a valid one.
      await sleep(LIFETIME_SEC * 1000 - 1500 - (Date.now() - issuedAt));
      const again = await fast!.service.getToken("gh_wecom");
      assert.equal(sim.admin.checkToken(again.accessToken).valid, true, "the fast broker served a valid token");
      assert.equal(
        sim.admin.counters(APPS.gh_wecom.appId).calls.gettoken,
        2,
        "one call for the first token, one at its end: none wasted on the same token",
      );
      // It dies; 0.3 s later a caller asks the slow broker.
      for (let i = 0; i < 60 && sim.admin.checkToken(first.accessToken).valid; i++) await sleep(50);
      assert.equal(sim.admin.checkToken(first.accessToken).valid, false, "the first token died at WeChat");
      await sleep(300);
      let served: string | undefined;
      try {
        served = (await slow!.service.getToken("gh_wecom")).accessToken;
      } catch {
        // refusing is allowed
      }
      if (served !== undefined) {
        const check = sim.admin.checkToken(served);
        assert.equal(check.valid, true, `the slow broker served a token WeChat calls "${check.reason}"`);
      }
      run.cases(3);
    } finally {
      await Promise.all([fast!.close(), slow!.close()]);
    }
  },
);
