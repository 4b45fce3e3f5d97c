// Issue 11, case 1: when WeChat answers with the token the broker already holds (WeCom's gettoken always does while
// the token is valid; stable_token does outside its rotation window), the broker must not ask again before the
// token's renewal point or REFETCH_FLOOR_SEC, and must keep serving it until it really dies.
//
// Scaled down: tokens live LIFETIME_SEC (WeChat: 7200 s), refresh-ahead opens AHEAD_SEC before expiry, the safety
// margin is 2 s. Three `serve` processes on one Redis, each polled every 100 ms, over one whole token lifetime and
// half the next. The ceiling UPSTREAM_CALLS_PER_MINUTE is set to its maximum so it cannot hide a loop.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { sleep, waitUntil } from "../helpers/wait";
import { accountsEnv, getToken, pollTokens, startCluster, statusSummary, type Answer } from "./cluster";

const LIFETIME_SEC = 24;
const AHEAD_SEC = 8;
const REPLICAS = 3;
/** Calls one token may need: the one that issues it, a same-token answer when refresh-ahead opens, one more near its
 * end (WeChat's whole-second expires_in), and one retry. */
const CALLS_PER_TOKEN = 4;

const WECOM = {
  appId: "ww_policy_loop",
  secret: "corpsecret-policy-loop-Q3v8",
  platform: "wecom" as const,
  tokenLifetimeSec: LIFETIME_SEC,
};
// The stable chain rotates only in its last 3 s, while the broker's refresh-ahead opens 8 s before expiry: between
// the two, stable_token hands back the held token.
const STABLE = { appId: "wx_policy_loop", secret: "AppSecret-policy-loop-W2m6", tokenLifetimeSec: LIFETIME_SEC, overlapSec: 3 };

const { redis, sim } = useRedisAndSimulator([WECOM, STABLE]);

function env(account: string, prefix: string): Record<string, string> {
  return {
    REDIS_URL: redis.url,
    KEY_PREFIX: prefix,
    WECHAT_API_BASE: sim.url,
    WECOM_API_BASE: sim.wecomUrl,
    ACCOUNTS: account,
    LOCAL_CACHE_TTL_MS: "1000",
    TOKEN_SAFETY_MARGIN_SEC: "2",
    CLASSIC_REFRESH_AHEAD_SEC: String(AHEAD_SEC),
    STABLE_REFRESH_AHEAD_SEC: String(AHEAD_SEC),
    WECHAT_OVERLAP_SEC: "10",
    REFETCH_FLOOR_SEC: "2",
    UPSTREAM_CALLS_PER_MINUTE: "600",
  };
}

/**
 * Polls every replica for 1.5 token lifetimes after the first token arrived. Returns the answers and every 503 (or
 * other non-200) that came while a token a caller had been given was still accepted by WeChat.
 */
async function watchOneLifetime(urls: string[], accountId: string): Promise<{ answers: Answer[]; wrongRefusals: string[] }> {
  await waitUntil("the first token is served", async () => (await getToken(urls[0]!, accountId)).status === 200, 20_000, 200);
  const seen = new Set<string>();
  const wrongRefusals: string[] = [];
  const poller = pollTokens(urls, accountId, 100, (a, url) => {
    if (a.token) seen.add(a.token);
    if (a.status !== 200) {
      const stillAccepted = [...seen].filter((t) => sim.admin.checkToken(t).valid);
      if (stillAccepted.length > 0)
        wrongRefusals.push(`${url} answered ${a.status} ${a.code ?? ""} while WeChat still accepted a token it had served`);
    }
  });
  await sleep(LIFETIME_SEC * 1500);
  return { answers: await poller.stop(), wrongRefusals };
}

/**
 * Starts the replicas for one account, watches them for 1.5 token lifetimes, and checks what both kinds of account
 * must hold: the run spans a rotation, `api` is called at most CALLS_PER_TOKEN times per token issued (plus 2), and
 * every poll is answered 200. Returns the simulator's counters for the account.
 */
async function watchReplicas(accounts: string, prefix: string, accountId: string, appId: string, api: "gettoken" | "stable_token") {
  const cluster = await startCluster(REPLICAS, env(accounts, prefix));
  try {
    const { answers, wrongRefusals } = await watchOneLifetime(cluster.urls, accountId);
    const c = sim.admin.counters(appId);
    const bound = CALLS_PER_TOKEN * c.tokensIssued + 2;
    assert.ok(c.tokensIssued >= 2, `the run spans a rotation (tokens issued: ${c.tokensIssued})`);
    const figures = `${api} calls: ${c.calls[api]} for ${c.tokensIssued} tokens issued (bound ${bound}); answers ${statusSummary(answers)}, ${wrongRefusals.length} of them refusals while WeChat accepted a served token`;
    assert.ok(c.calls[api] <= bound, figures);
    assert.deepEqual(wrongRefusals.slice(0, 3), [], figures);
    assert.ok(
      answers.every((a) => a.status === 200),
      figures,
    );
    return c;
  } finally {
    await cluster.stop();
  }
}

// The two accounts share only the simulator and Redis (their own apps and key prefixes): each takes 1.5 token
// lifetimes of waiting, so they are watched side by side.
describe("same-token answers on three replicas", { concurrency: true }, () => {
  test(
    "a WeCom account polled on three replicas over a whole token lifetime makes at most a few gettoken calls per token and never answers 503 while WeChat accepts the token",
    { timeout: 90_000 },
    async () => {
      const accounts = accountsEnv({ id: "wecom_loop", type: "wecom", appId: WECOM.appId, appSecret: WECOM.secret });
      await watchReplicas(accounts, "loopw:", "wecom_loop", WECOM.appId, "gettoken");
    },
  );

  test(
    "a stable account whose stable_token hands back the held token inside the refresh-ahead window makes at most a few calls per token on three replicas and never answers 503",
    { timeout: 90_000 },
    async () => {
      const accounts = accountsEnv({ id: "stable_loop", appId: STABLE.appId, appSecret: STABLE.secret });
      const c = await watchReplicas(accounts, "loops:", "stable_loop", STABLE.appId, "stable_token");
      assert.equal(c.forceRefreshes, 0, "no force refresh");
    },
  );
});
