// WeChat failing under real `serve` processes sharing a real Redis: HTTP 5xx, HTML instead of JSON, errcode -1,
// no answer, reset connections and a configuration refusal (40164), and a broker paused past its lock's TTL while
// WeChat answers it. Counts come from the simulator; the brokers' /metrics must agree with them.
import { after } from "node:test";
import assert from "node:assert/strict";
import type { SimFault } from "../../src/simulator/types";
import { useRedisAndSimulator } from "../helpers/fixtures";
import {
  assertNoSecret,
  keysWithTtl,
  metric,
  sleep,
  spawnServe,
  startHoldingProxy,
  startLoad,
  waitUntil,
  withRedis,
  type Sample,
  type ServeProcess,
} from "./harness";
import { scenario } from "./record";
import { rogueClassicFetch } from "../helpers/rogue";

/** One account per way of failing, plus a healthy one. */
const FAILING: Record<string, { appId: string; secret: string; fault?: SimFault; errclass: string; errcode?: number }> = {
  gh_502: {
    appId: "wx_hard_up_502",
    secret: "AppSecret-up-502-h2k9",
    fault: { type: "http", status: 502, times: -1 },
    errclass: "transient",
  },
  gh_html: { appId: "wx_hard_up_html", secret: "AppSecret-up-html-p4z1", fault: { type: "non_json", times: -1 }, errclass: "transient" },
  gh_m1: {
    appId: "wx_hard_up_m1",
    secret: "AppSecret-up-m1-q8w3",
    fault: { type: "errcode", errcode: -1, times: -1 },
    errclass: "transient",
    errcode: -1,
  },
  gh_slow: { appId: "wx_hard_up_slow", secret: "AppSecret-up-slow-r5t7", fault: { type: "timeout", times: -1 }, errclass: "transient" },
  gh_reset: { appId: "wx_hard_up_reset", secret: "AppSecret-up-reset-y6u2", fault: { type: "reset", times: -1 }, errclass: "transient" },
  gh_ip: { appId: "wx_hard_up_ip", secret: "AppSecret-up-ip-i9o0", errclass: "config", errcode: 40164 },
};
const TRANSIENT = Object.keys(FAILING).filter((id) => FAILING[id]!.errclass === "transient");
const CALLER_IP = "1.92.157.200";
const LATE = { appId: "wx_hard_up_late", secret: "AppSecret-up-late-a1s2" };
const SECRETS = [...Object.values(FAILING).map((a) => a.secret), LATE.secret];

const { redis, sim } = useRedisAndSimulator([
  ...Object.values(FAILING).map((a) => ({
    appId: a.appId,
    secret: a.secret,
    ...(a.fault ? { faults: [a.fault] } : { ipWhitelist: ["198.51.100.7"], callerIp: CALLER_IP }),
  })),
  { appId: LATE.appId, secret: LATE.secret, latencyMs: 600 },
]);

const callsOf = (appId: string) => sim.admin.counters(appId).calls.stable_token + sim.admin.counters(appId).calls.token;

async function metricsOf(b: ServeProcess): Promise<string> {
  return (await fetch(`${b.url}/metrics`)).text();
}

/** Sum of every wtb_upstream_requests_total series matching the labels, over every broker. */
function upstreamSeries(texts: string[], match: RegExp): number {
  let n = 0;
  for (const t of texts)
    for (const m of t.matchAll(/^wtb_upstream_requests_total\{([^}]*)\} (\d+)$/gm)) if (match.test(m[1]!)) n += Number(m[2]);
  return n;
}

const failingEnv = () => ({
  REDIS_URL: redis.url,
  KEY_PREFIX: "up:",
  UPSTREAM_TIMEOUT_MS: "400",
  LOCAL_CACHE_TTL_MS: "1000",
  // These scenarios bound calls by the breaker's back-off; the per-minute ceiling would cut in first.
  UPSTREAM_CALLS_PER_MINUTE: "600",
  WECHAT_API_BASE: sim.url,
  ACCOUNTS: JSON.stringify(Object.entries(FAILING).map(([id, a]) => ({ id, appId: a.appId, appSecret: a.secret }))),
});
/** The two replicas of the failing-WeChat scenarios (started by the first, used by the next two). */
let replicas: ServeProcess[] = [];
after(async () => {
  const codes = await Promise.all(replicas.map((b) => b.stop()));
  for (const b of replicas) assertNoSecret(b.output(), SECRETS, "serve output");
  assert.deepEqual(
    codes,
    replicas.map(() => 0),
    "replicas exit 0",
  );
});

scenario(
  "WeChat failing every way (HTTP 502, HTML, errcode -1, no answer, reset, 40164) under load: bounded retries, the breaker holds, /metrics agrees with WeChat's count, no lock is left",
  {
    class: "Upstream faults",
    outcome:
      "2 serve processes, 12 client loops: every answer a 503 (upstream_error with the right errclass, or refresh_timeout) with Retry-After; at most 1 + 2 calls per failed refresh, 40164: one call; upstream calls in /metrics = calls WeChat saw; breaker reported open; no lock key",
    timeout: 60_000,
  },
  async (run) => {
    const started = Date.now();
    replicas = await Promise.all([spawnServe(failingEnv()), spawnServe(failingEnv())]);
    const brokers = replicas;
    // The schedulers try every account at start-up.
    await waitUntil(
      "each account's first refresh failed",
      () => TRANSIENT.every((id) => callsOf(FAILING[id]!.appId) >= 3) && callsOf(FAILING.gh_ip!.appId) >= 1,
      10_000,
    );

    let phase = "failing";
    const urls = brokers.flatMap((b) => Object.keys(FAILING).map((id) => `${b.url}/api/accounts/${id}/token`));
    const load = startLoad(urls, { workers: 12, timeoutMs: 10_000, phase: () => phase, pauseMs: 10 });
    await sleep(2000);
    phase = "stopping";
    const samples = (await load.stop()).filter((s) => s.phase === "failing");

    // Quiet: no refresh in flight (every fetch holds the lock), metrics read on both sides of the count.
    let counts: Record<string, number> = {};
    let texts: string[] = [];
    await waitUntil(
      "no refresh in flight",
      async () => {
        const locks = await withRedis(redis.url, (r) => keysWithTtl(r, "up:*:lock"));
        const before = await Promise.all(brokers.map(metricsOf));
        counts = Object.fromEntries(Object.entries(FAILING).map(([id, a]) => [id, callsOf(a.appId)]));
        texts = await Promise.all(brokers.map(metricsOf));
        return locks.length === 0 && upstreamSeries(before, /./) === upstreamSeries(texts, /./);
      },
      10_000,
      100,
    );

    assert.ok(samples.length > 40, `load ran (${samples.length} requests)`);
    const byAccount = (id: string) => samples.filter((s: Sample) => s.url.endsWith(`/${id}/token`));
    for (const [id, a] of Object.entries(FAILING)) {
      const mine = byAccount(id);
      assert.ok(mine.length >= 3, `${id} was asked for (${mine.length})`);
      for (const s of mine) {
        assert.equal(s.status, 503, `${id}: ${JSON.stringify(s)}`);
        // A caller that waited on another replica's refresh past its deadline is told to retry (refresh_timeout).
        assert.ok(s.code === "upstream_error" || s.code === "refresh_timeout", `${id}: ${JSON.stringify(s)}`);
        if (s.code === "upstream_error") {
          assert.equal(s.errclass, a.errclass, id);
          if (a.errcode !== undefined) assert.equal(s.errcode, a.errcode, id);
        }
        assert.ok(Number(s.retryAfter) >= 1, `${id}: Retry-After ${String(s.retryAfter)}`);
        // Bounded by the wait for another replica's refresh: LOCK_TTL_MS + UPSTREAM_TIMEOUT_MS (3.2 s), plus slack.
        assert.ok(s.ms < 5200, `${id}: a caller waited ${Math.round(s.ms)} ms`);
      }
      assert.ok(mine.filter((s) => s.code === "upstream_error").length > mine.length / 2, `${id}: most callers get the classified error`);
      assert.ok(
        mine.some((s) => s.breakerOpen === true),
        `${id}: callers are told the breaker is open`,
      );
      if (id === "gh_ip")
        for (const s of mine) if (s.code === "upstream_error") assert.equal(s.ip, CALLER_IP, "the IP to whitelist is in the answer");
    }
    const refreshErrors = texts.reduce(
      (n, t) =>
        n + [...t.matchAll(/^wtb_token_refreshes_total\{reason="[a-z]+",result="error"\} (\d+)$/gm)].reduce((m, x) => m + Number(x[1]), 0),
      0,
    );
    const allCalls = Object.values(counts).reduce((n, c) => n + c, 0);
    assert.ok(
      allCalls <= 3 * refreshErrors,
      `${allCalls} upstream calls for ${refreshErrors} failed refreshes: more than 1 + 2 retries each`,
    );
    // The breaker pauses an account 1 s, then 2, 4, 8… after each failed refresh: in T seconds at most
    // log2(T + 1) + 1 refreshes (+1 for slack), of at most 3 calls each.
    const elapsedSec = (Date.now() - started) / 1000;
    const breakerBound = 3 * (Math.floor(Math.log2(elapsedSec + 1)) + 2);
    for (const id of TRANSIENT) {
      assert.ok(counts[id]! >= 2, `${id}: ${counts[id]} upstream calls: the transient failure was not retried`);
      assert.ok(counts[id]! <= breakerBound, `${id}: ${counts[id]} upstream calls in ${elapsedSec.toFixed(1)} s: the breaker did not hold`);
    }
    assert.equal(counts.gh_ip, 1, "a configuration refusal is not retried and pauses the account");

    const transientCalls = TRANSIENT.reduce((n, id) => n + counts[id]!, 0);
    assert.equal(upstreamSeries(texts, /errclass="transient"/), transientCalls, "transient failures in /metrics = calls WeChat saw");
    assert.equal(upstreamSeries(texts, /errcode="40164",errclass="config"/), counts.gh_ip, "40164 in /metrics = calls WeChat saw");
    assert.equal(upstreamSeries(texts, /errclass="ok"/), 0, "no success was counted");
    for (const id of Object.keys(FAILING)) {
      assert.ok(
        texts.some((t) => metric(t, `wtb_breaker_open{account="${id}"}`) === 1),
        `${id}: a broker reports its breaker open`,
      );
      // The shared view (from the store): every replica reports the same unresolved refusal.
      for (const t of texts)
        assert.equal(
          metric(
            t,
            `wtb_account_upstream_failing{account="${id}",errclass="${FAILING[id]!.errclass}",errcode="${FAILING[id]!.errcode ?? "none"}"}`,
          ),
          1,
          `${id}: failing gauge`,
        );
    }
    run.cases(12);
  },
);

scenario(
  "when WeChat recovers, every replica serves valid tokens again after the cool-down, the shared failure gauge clears and no lock is left",
  {
    class: "Upstream faults",
    outcome:
      "faults cleared: 200 with a valid token from both replicas for the 5 accounts; wtb_account_upstream_failing cleared; 40164 account still refused",
    timeout: 60_000,
  },
  async (run) => {
    assert.equal(replicas.length, 2, "the replicas of the previous scenario");
    for (const id of TRANSIENT) sim.admin.clearFaults(FAILING[id]!.appId);
    for (const b of replicas) {
      for (const id of TRANSIENT) {
        await waitUntil(
          `${id} is served again`,
          async () => (await fetch(`${b.url}/api/accounts/${id}/token`)).status === 200,
          20_000,
          200,
        );
        const body = (await (await fetch(`${b.url}/api/accounts/${id}/token`)).json()) as { accessToken: string };
        assert.equal(sim.admin.checkToken(body.accessToken).valid, true);
      }
    }
    assert.equal((await fetch(`${replicas[0]!.url}/api/accounts/gh_ip/token`)).status, 503, "the 40164 account is still refused");
    await withRedis(redis.url, async (r) => assert.deepEqual(await keysWithTtl(r, "up:*:lock"), [], "no lock left"));
    for (const t of await Promise.all(replicas.map(metricsOf))) {
      for (const id of TRANSIENT)
        assert.ok(!new RegExp(`^wtb_account_upstream_failing\\{account="${id}"[^}]*\\} 1$`, "m").test(t), `${id}: no longer failing`);
    }
    run.cases(TRANSIENT.length * 2);
  },
);

scenario(
  "once any replica's refresh succeeds, every replica's wtb_breaker_open for the account returns to 0",
  {
    class: "Upstream faults",
    outcome: "both replicas report wtb_breaker_open 0 for the recovered accounts",
  },
  async (run) => {
    assert.equal(replicas.length, 2, "the replicas of the previous scenarios");
    const texts = await Promise.all(replicas.map(metricsOf));
    for (const id of TRANSIENT) {
      for (const [i, t] of texts.entries())
        assert.equal(metric(t, `wtb_breaker_open{account="${id}"}`), 0, `replica ${i}: ${id}'s breaker is reported closed`);
    }
    run.cases(TRANSIENT.length * 2);
  },
);

scenario(
  "a token write delivered late (the broker's Redis traffic held past its lock's TTL) cannot overwrite the newer token another broker wrote meanwhile",
  {
    class: "Upstream faults",
    outcome:
      "the late CAS write reaches Redis after the newer one and is fenced (wtb_fenced_writes_total 1, logged); Redis keeps the newer token and the late broker's caller gets it; one token call per broker (beside the first and a rogue's two); no lock left",
    timeout: 40_000,
  },
  async (run) => {
    const proxy = await startHoldingProxy(redis.port);
    const env = {
      KEY_PREFIX: "late:",
      UPSTREAM_TIMEOUT_MS: "1500",
      // Room for the probe (600 ms here) that precedes a refresh on a report, and the fetch after it.
      LOCK_TTL_MS: "3500",
      WECHAT_API_BASE: sim.url,
      ACCOUNTS: JSON.stringify([{ id: "gh_late", appId: LATE.appId, appSecret: LATE.secret, tokenApi: "classic" }]),
    };
    // A talks to Redis through the proxy, with a command timeout long enough to see its late write's reply.
    const [a, b] = await Promise.all([
      spawnServe({ ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_COMMAND_TIMEOUT_MS: "15000" }),
      spawnServe({ ...env, REDIS_URL: redis.url }),
    ]);
    try {
      const t0 = ((await (await fetch(`${b.url}/api/accounts/gh_late/token`)).json()) as { accessToken: string }).accessToken;
      await waitUntil("the start-up refreshes are done", () => callsOf(LATE.appId) === 1, 5000);
      // Another system kills t0 at WeChat, so the reports below are true (a report of a working token rotates nothing).
      await rogueClassicFetch(sim.url, LATE.appId, LATE.secret);
      const report = (url: string) =>
        fetch(`${url}/api/accounts/gh_late/token/invalidate`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ accessToken: t0, errcode: 40001 }),
        });

      // A takes the lock and calls WeChat (600 ms); everything it sends to Redis from now on is held back.
      const fromA = report(a.url);
      await waitUntil("A is calling WeChat", () => callsOf(LATE.appId) === 4, 5000, 5);
      proxy.hold();
      // B gets the same report: it waits for A's lock to lapse, then fetches and writes a newer token.
      const resB = await report(b.url);
      const bodyB = (await resB.json()) as { accessToken: string };
      assert.equal(resB.status, 200, JSON.stringify(bodyB));
      assert.equal(callsOf(LATE.appId), 5, "B fetched once A's lock had lapsed");
      // Now A's write (and the rest of its traffic) reaches Redis, late.
      proxy.release();
      const resA = await fromA;
      const bodyA = (await resA.json()) as { accessToken: string };
      assert.equal(resA.status, 200, JSON.stringify(bodyA));

      const stored = await withRedis(redis.url, (r) => r.hget("late:{acct:gh_late}:token", "accessToken"));
      assert.equal(stored, bodyB.accessToken, "Redis keeps the newer token");
      assert.notEqual(stored, t0);
      assert.equal(bodyA.accessToken, bodyB.accessToken, "the late broker's caller gets the newer token, not its own late one");
      assert.equal(sim.admin.checkToken(stored!).valid, true);
      await waitUntil("A logged the fenced write", () => /fenced out/.test(a.output()), 3000);
      assert.equal(metric(await metricsOf(a), `wtb_fenced_writes_total{account="gh_late"}`), 1);
      assert.equal(callsOf(LATE.appId), 5, "no further upstream call");
      await withRedis(redis.url, async (r) => assert.deepEqual(await keysWithTtl(r, "late:*:lock"), [], "no lock left"));
      run.cases(3);
    } finally {
      proxy.release();
      const codes = await Promise.all([a.stop(), b.stop()]);
      await proxy.close();
      for (const p of [a, b]) assertNoSecret(p.output(), SECRETS, "serve output");
      assert.deepEqual(codes, [0, 0]);
    }
  },
);
