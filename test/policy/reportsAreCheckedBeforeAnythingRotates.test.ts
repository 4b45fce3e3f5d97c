// Issue 11, case 2: a caller's report (POST …/token/invalidate) is checked with WeChat before anything is rotated,
// and the reports that reach WeChat are limited per API key and per account, shared by all replicas.
//
// Two `serve` processes on one Redis, reports alternating between them. UPSTREAM_CALLS_PER_MINUTE is at its
// maximum so the ceiling never decides what these tests look at; the report limits are their defaults (3 per key,
// 6 per account, per rolling minute). Each test uses its own account and its own keys, so the limits do not mix.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { report, startCluster, type Answer, type Cluster } from "./cluster";

const PER_KEY = 3;
const PER_ACCOUNT = 6;

const CLASSIC = { appId: "wx_policy_report_c", secret: "AppSecret-policy-report-c-K1" };
const CONFIRMED = { appId: "wx_policy_report_d", secret: "AppSecret-policy-report-d-K2" };
const STABLE = { appId: "wx_policy_report_s", secret: "AppSecret-policy-report-s-K3" };

const KEYS = ["loop-classic", "dead-1", "dead-2", "dead-3", "loop-stable"].map((name, i) => ({
  name,
  key: `policy-report-key-${i}-${name}-9f3Kq2`,
  role: "client" as const,
}));
const key = (name: string) => KEYS.find((k) => k.name === name)!.key;

const { redis, sim } = useRedisAndSimulator([CLASSIC, CONFIRMED, STABLE]);
let cluster: Cluster;
let starting: Promise<Cluster> | undefined;

// Started by the first test rather than in before(): Node 20 starts a file's root-level before hooks without waiting
// for the one before, so the fixture's redis-server is not there yet in a second root-level hook.
function ensureCluster(): Promise<Cluster> {
  starting ??= startCluster(2, {
    REDIS_URL: redis.url,
    KEY_PREFIX: "reports:",
    WECHAT_API_BASE: sim.url,
    ACCOUNTS: JSON.stringify([
      { id: "classic_loop", appId: CLASSIC.appId, appSecret: CLASSIC.secret, tokenApi: "classic" },
      { id: "classic_dead", appId: CONFIRMED.appId, appSecret: CONFIRMED.secret, tokenApi: "classic" },
      { id: "stable_loop", appId: STABLE.appId, appSecret: STABLE.secret, tokenApi: "stable" },
    ]),
    API_KEYS: JSON.stringify([...KEYS, { name: "ops", key: "policy-report-admin-key-7Hn2", role: "admin" }]),
    UPSTREAM_CALLS_PER_MINUTE: "600",
  }).then((c) => (cluster = c));
  return starting;
}
after(async () => {
  await (await starting?.catch(() => undefined))?.stop();
});

async function currentToken(accountId: string, apiKey: string): Promise<string> {
  await ensureCluster();
  const res = await fetch(`${cluster.urls[0]}/api/accounts/${accountId}/token`, { headers: { Authorization: `Bearer ${apiKey}` } });
  const body = (await res.json()) as { accessToken?: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.accessToken!;
}

/** A client that reports, `times` times in a row, the token the broker last handed it, on alternating replicas. */
async function reportInALoop(accountId: string, apiKey: string, times: number): Promise<Answer[]> {
  let token = await currentToken(accountId, apiKey);
  const answers: Answer[] = [];
  for (let i = 0; i < times; i++) {
    const a = await report(cluster.urls[i % cluster.urls.length]!, accountId, token, { apiKey });
    answers.push(a);
    if (a.token) token = a.token;
  }
  return answers;
}

/** The answers in order, runs of equal ones folded: "200 still_valid ×3, 429 report_rate_limited ×17". */
function describe(answers: readonly Answer[]): string {
  const runs: Array<[string, number]> = [];
  for (const a of answers) {
    const s =
      a.status === 200 ? `200 reason=${String(a.body.reason)} refreshed=${String(a.body.refreshed)}` : `${a.status} ${a.code ?? ""}`;
    const last = runs[runs.length - 1];
    if (last && last[0] === s) last[1]++;
    else runs.push([s, 1]);
  }
  return runs.map(([s, n]) => `${s} ×${n}`).join(", ");
}

/** Every answer is either the token with refreshed:false and `reason`, or 429 report_rate_limited with Retry-After. */
function assertNotRotated(answers: readonly Answer[], figures: string): void {
  for (const a of answers) {
    if (a.status === 200) {
      assert.equal(a.body.refreshed, false, figures);
      assert.equal(a.body.reason, "still_valid", figures);
    } else {
      assert.equal(a.status, 429, figures);
      assert.equal(a.code, "report_rate_limited", figures);
      assert.ok(Number(a.retryAfter) >= 1, `Retry-After: ${a.retryAfter}; ${figures}`);
    }
  }
}

test(
  "a client reporting the current classic token 20 times in a row costs no cgi-bin/token call while WeChat says the token works",
  { timeout: 60_000 },
  async () => {
    const apiKey = key("loop-classic");
    await currentToken("classic_loop", apiKey);
    const before = sim.admin.counters(CLASSIC.appId).calls;
    const answers = await reportInALoop("classic_loop", apiKey, 20);
    const after = sim.admin.counters(CLASSIC.appId).calls;
    const tokenCalls = after.token - before.token;
    const probes = after.probe - before.probe;
    const figures = `cgi-bin/token calls: ${tokenCalls}, probes: ${probes}; answers: ${describe(answers)}`;
    assert.equal(tokenCalls, 0, figures);
    assert.equal(answers[0]!.status, 200, figures);
    assertNotRotated(answers, figures);
    assert.ok(probes >= 1 && probes <= PER_KEY, `at most REPORT_CHECKS_PER_KEY_PER_MINUTE reports reach WeChat; ${figures}`);
  },
);

test(
  "reports that reach WeChat are limited per API key and per account: beyond the limit the broker answers 429 report_rate_limited with Retry-After",
  { timeout: 60_000 },
  async () => {
    // WeChat confirms every reported token dead (the probe answers 40001), so every report within the limits
    // costs a probe and a refresh.
    sim.admin.addFault(CONFIRMED.appId, { type: "errcode", errcode: 40001, endpoints: ["probe"], times: -1 });
    try {
      const before = sim.admin.counters(CONFIRMED.appId).calls;
      const first = await reportInALoop("classic_dead", key("dead-1"), PER_KEY + 2);
      const second = await reportInALoop("classic_dead", key("dead-2"), PER_KEY);
      const third = await reportInALoop("classic_dead", key("dead-3"), 2);
      const tokenCalls = sim.admin.counters(CONFIRMED.appId).calls.token - before.token;
      const figures = `cgi-bin/token calls: ${tokenCalls}; key 1: ${describe(first)}; key 2: ${describe(second)}; key 3: ${describe(third)}`;

      for (const a of [...first.slice(0, PER_KEY), ...second]) {
        assert.equal(a.status, 200, figures);
        assert.equal(a.body.refreshed, true, figures);
        assert.equal(a.body.reason, "refreshed", figures);
      }
      // Key 1 beyond its own limit; key 3 beyond the account's (keys 1 and 2 used all PER_ACCOUNT checks).
      for (const a of [...first.slice(PER_KEY), ...third]) {
        assert.equal(a.status, 429, figures);
        assert.equal(a.code, "report_rate_limited", figures);
        assert.ok(Number(a.retryAfter) >= 1 && Number(a.retryAfter) <= 60, `Retry-After: ${a.retryAfter}; ${figures}`);
      }
      assert.equal(tokenCalls, PER_ACCOUNT, figures);
      // The token callers get is the last one fetched, and WeChat accepts it.
      assert.equal(sim.admin.checkToken(await currentToken("classic_dead", key("dead-1"))).valid, true);
    } finally {
      sim.admin.clearFaults(CONFIRMED.appId);
    }
  },
);

test(
  "a client reporting the current stable token 30 times in a row spends no force refresh and no stable_token call while WeChat says it works",
  { timeout: 60_000 },
  async () => {
    const apiKey = key("loop-stable");
    await currentToken("stable_loop", apiKey);
    const before = sim.admin.counters(STABLE.appId);
    const answers = await reportInALoop("stable_loop", apiKey, 30);
    const after = sim.admin.counters(STABLE.appId);
    const stableCalls = after.calls.stable_token - before.calls.stable_token;
    const probes = after.calls.probe - before.calls.probe;
    const forces = after.forceRefreshes - before.forceRefreshes;
    const figures = `stable_token calls: ${stableCalls}, force refreshes: ${forces}, probes: ${probes}; answers: ${describe(answers)}`;
    assert.equal(forces, 0, figures);
    assert.equal(stableCalls, 0, figures);
    assert.equal(answers[0]!.status, 200, figures);
    assertNotRotated(answers, figures);
    assert.ok(probes >= 1 && probes <= PER_KEY, `at most REPORT_CHECKS_PER_KEY_PER_MINUTE reports reach WeChat; ${figures}`);
  },
);
