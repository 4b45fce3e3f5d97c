// Benchmark 2: refresh storms. N broker processes share one Redis; the simulator (in this process) answers WeChat's
// token APIs after 50 ms. Then 2,000 requests arrive at once across the brokers:
//
//  - expiry storm: the current token is gone everywhere — WeChat forgot it (simulator app reset), Redis lost it (its
//    fields deleted, as a flush or failover would; the fencing generation stays) and every replica's local copy was
//    dropped through the refresh channel, as a refresh by another replica does. Nothing valid is left, so every
//    request has to wait for a refresh. (Letting a short-lived token run out instead does not work: each replica's
//    refresh-ahead timer refreshes before expiry, and STABLE_REFRESH_AHEAD_SEC cannot go below 1 s.)
//  - invalidation storm: another system kills the current token of a classic account at WeChat, then every caller
//    reports it as rejected (POST …/token/invalidate); one probe confirms it dead and exactly one refresh is right.
//
// Counts come from the simulator, never from the brokers: upstream token calls (target exactly 1), failed requests
// (target 0), and the time until the last answer (target ≤ upstream latency + 100 ms).
import Redis from "ioredis";
import { startRedis, type TestRedis } from "../test/helpers/redis";
import { rogueClassicFetch } from "../test/helpers/rogue";
import { startSimulator } from "../src/simulator/server";
import type { RunningSimulator } from "../src/simulator/types";
import { KeySpace } from "../src/store/keys";
import { BurstClient, rawRequest, type BurstResponse } from "./lib/burst";
import { AUTH_HEADERS, benchAccount, brokerEnv, getToken, metricValue, simApp, sleep, tokenCalls } from "./lib/fixtures";
import { fmt, load1, ms, table, verdict, type Section } from "./lib/report";
import { spawnBroker, spawnServer, stopAll, type Proc, type Runtime } from "./lib/runtime";
import type { Settings } from "./lib/settings";

export interface StormResult {
  kind: "expiry" | "invalidation";
  requests: number;
  brokers: number;
  upstreamCalls: number;
  tokensIssued: number;
  failed: number;
  failures: string[];
  distinctTokens: number;
  invalidTokens: number;
  allAnsweredMs: number;
  /** The storm's interval on the monotonic clock (µs), to cut broker CPU profiles (BENCH_CPU_PROF=1) to it. */
  windowUs: [number, number];
  /** Largest event-loop delay any broker saw during the storm (prom-client's wtb_nodejs_eventloop_lag_max_seconds,
   * which resets at each scrape: scraped just before and just after). */
  maxEventLoopLagMs: number;
  /** Requests of the warm-up burst before this storm that failed (the warm-up is itself a burst of local hits). */
  warmupFailed: number;
  /** When the (first) upstream token call reached the simulator, ms after the first request was written. */
  upstreamStartMs: number;
  p50Ms: number;
  p99Ms: number;
  targetMs: number;
}

const STABLE = benchAccount("storm-stable", "stable", 1);
const CLASSIC = benchAccount("storm-classic", "classic", 2);

/** performance.now() → µs of the monotonic clock (what V8 stamps profile samples with). */
function monoUs(perfNow: number): number {
  return Number(process.hrtime.bigint() / 1000n) - Math.round((performance.now() - perfNow) * 1000);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * Records when token calls reach the simulator. The simulator's HTTP layer calls these methods of its state object
 * (the same object as `sim.admin`) for every token request, so wrapping them on the instance is enough.
 */
function watchUpstream(sim: RunningSimulator): { first: () => number; reset: () => void } {
  const state = sim.admin as unknown as Record<"token" | "stableToken", (...args: unknown[]) => unknown>;
  let first = NaN;
  for (const name of ["token", "stableToken"] as const) {
    const original = state[name].bind(state);
    state[name] = (...args: unknown[]) => {
      if (Number.isNaN(first)) first = performance.now();
      return original(...args);
    };
  }
  return { first: () => first, reset: () => (first = NaN) };
}

async function maxLagMs(brokers: Proc[]): Promise<number> {
  const values = await Promise.all(brokers.map((b) => metricValue(b.url, "wtb_nodejs_eventloop_lag_max_seconds", {})));
  return Math.max(...values) * 1000;
}

interface Judged {
  kind: StormResult["kind"];
  t0: number;
  responses: BurstResponse[];
  appId: string;
  upstreamAt: number;
  maxEventLoopLagMs: number;
  warmupFailed: number;
  deadToken?: string;
}

function judge(j: Judged, sim: RunningSimulator, latencyMs: number, brokers: number): StormResult {
  const { kind, t0, responses, appId, upstreamAt, deadToken } = j;
  const c = sim.admin.counters(appId);
  const failures = new Map<string, number>();
  const tokens = new Set<string>();
  let failed = 0;
  for (const r of responses) {
    let why: string | undefined = r.error ?? (r.status !== 200 ? `HTTP ${r.status} ${r.body.slice(0, 120)}` : undefined);
    if (why === undefined) {
      try {
        const token = (JSON.parse(r.body) as { accessToken?: unknown }).accessToken;
        if (typeof token !== "string") why = "no accessToken in the answer";
        else if (token === deadToken) why = "answered with the reported (dead) token";
        else tokens.add(token);
      } catch {
        why = "answer is not JSON";
      }
    }
    if (why !== undefined) {
      failed++;
      failures.set(why, (failures.get(why) ?? 0) + 1);
    }
  }
  const invalid = [...tokens].filter((t) => !sim.admin.checkToken(t).valid).length;
  const latencies = responses.map((r) => r.at - t0).sort((a, b) => a - b);
  return {
    kind,
    requests: responses.length,
    brokers,
    upstreamCalls: tokenCalls(c),
    tokensIssued: c.tokensIssued,
    failed,
    failures: [...failures].map(([why, n]) => `${n} × ${why}`),
    distinctTokens: tokens.size,
    invalidTokens: invalid,
    allAnsweredMs: latencies[latencies.length - 1] ?? NaN,
    upstreamStartMs: upstreamAt - t0,
    maxEventLoopLagMs: j.maxEventLoopLagMs,
    warmupFailed: j.warmupFailed,
    windowUs: [monoUs(t0), monoUs(t0 + (latencies[latencies.length - 1] ?? 0))],
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    targetMs: latencyMs + 100,
  };
}

/** One GET per connection: opens the brokers' keep-alive state and their local copies. It is a burst too, so a few
 * answers may fail on a loaded machine; it only has to leave every connection open and usable. */
async function warm(client: BurstClient, brokers: Proc[], accountId: string): Promise<{ tokens: Set<string>; failed: number }> {
  const reqs = client.conns.map((c) =>
    rawRequest({ method: "GET", port: c.port, path: `/api/accounts/${accountId}/token`, headers: AUTH_HEADERS }),
  );
  const { responses } = await client.fire(reqs);
  const ok = responses.filter((r) => r.status === 200);
  const lost = responses.filter((r) => r.status === 0);
  if (ok.length === 0 || lost.length > 0) {
    const bad = responses.find((r) => r.status !== 200)!;
    throw new Error(
      `warm-up: ${responses.length - ok.length} of ${responses.length} requests failed (${lost.length} connections lost), e.g. ${bad.error ?? bad.status} ${bad.body.slice(0, 200)} (brokers: ${brokers.map((b) => b.logFile).join(", ")})`,
    );
  }
  return {
    tokens: new Set(ok.map((r) => (JSON.parse(r.body) as { accessToken: string }).accessToken)),
    failed: responses.length - ok.length,
  };
}

export async function runStorm(s: Settings, rt: Runtime): Promise<Section> {
  // After the two storms, a floor row: the same burst against bare node:http servers (bench/servers/bare-http.ts).
  const { requests, brokers: brokerCount, latencyMs } = s.storm;
  const loadBefore = load1();
  let redis: TestRedis | undefined;
  let sim: RunningSimulator | undefined;
  let brokers: Proc[] = [];
  let client: BurstClient | undefined;
  let redisCmd: Redis | undefined;
  let bare: Proc[] = [];
  let floor: { allAnsweredMs: number; p50Ms: number; p99Ms: number; failed: number } | undefined;
  const results: StormResult[] = [];
  try {
    redis = await startRedis();
    sim = await startSimulator({ apps: [simApp(STABLE, { latencyMs }), simApp(CLASSIC, { latencyMs })] });
    const env = brokerEnv({ redisUrl: redis.url, sim, accounts: [STABLE, CLASSIC], workDir: rt.workDir, name: "storm" });
    // BENCH_STORM_VARIANT=<flags>: the brokers are bench/servers/broker-variant.ts with those flags (to see what one
    // part of the HTTP stack does to a storm), not `serve`.
    const variant = process.env.BENCH_STORM_VARIANT;
    brokers = await Promise.all(
      Array.from({ length: brokerCount }, (_, i) =>
        variant === undefined
          ? spawnBroker(rt, `storm-broker-${i}`, env)
          : spawnServer({
              name: `storm-variant-${i}`,
              args: rt.serverArgs("broker-variant"),
              env: { LOG_LEVEL: "info", ...env, BENCH_SRC: rt.srcDir, BENCH_VARIANT: variant },
              readyPath: "/api/health/ready",
              logDir: rt.workDir,
            }),
      ),
    );
    for (const b of brokers) for (const a of [STABLE, CLASSIC]) await getToken(b.url, a.id);
    redisCmd = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
    const keys = new KeySpace();

    client = await BurstClient.open(
      brokers.map((b) => b.port),
      requests,
    );
    const burst = client;
    const conns = client.conns;

    // --- expiry storm ---
    const warmExpiry = await warm(burst, brokers, STABLE.id);
    const tokenKey = keys.account(STABLE.id).token;
    const gen = Number(await redisCmd.hget(tokenKey, "gen"));
    sim.admin.setApp(simApp(STABLE, { latencyMs })); // WeChat forgets the token; counters start at 0
    await redisCmd.hdel(tokenKey, "accessToken", "expiresAt", "fetchedAt", "api");
    await redisCmd.publish(keys.refreshedChannel, JSON.stringify({ accountId: STABLE.id, gen: gen + 1 }));
    await sleep(200); // let every replica take the notice
    await maxLagMs(brokers); // resets the brokers' lag maximum
    const upstream = watchUpstream(sim);
    upstream.reset();
    const getReqs = conns.map((c) =>
      rawRequest({ method: "GET", port: c.port, path: `/api/accounts/${STABLE.id}/token`, headers: AUTH_HEADERS }),
    );
    const expiry = await burst.fire(getReqs);
    const expiryUpstream = upstream.first();
    results.push(
      judge(
        {
          kind: "expiry",
          ...expiry,
          appId: STABLE.appId,
          upstreamAt: expiryUpstream,
          maxEventLoopLagMs: await maxLagMs(brokers),
          warmupFailed: warmExpiry.failed,
        },
        sim,
        latencyMs,
        brokerCount,
      ),
    );

    // --- invalidation storm ---
    const warmInv = await warm(burst, brokers, CLASSIC.id);
    if (warmInv.tokens.size !== 1)
      throw new Error(`before the invalidation storm the brokers serve ${warmInv.tokens.size} different classic tokens`);
    const dead = [...warmInv.tokens][0]!;
    // The reports must be true: a report of a token WeChat still accepts is answered "still_valid" and rotates nothing.
    await rogueClassicFetch(sim.url, CLASSIC.appId, CLASSIC.appSecret);
    sim.admin.resetCounters();
    await maxLagMs(brokers);
    upstream.reset();
    const body = JSON.stringify({ accessToken: dead, errcode: 40001 });
    const postReqs = conns.map((c) =>
      rawRequest({ method: "POST", port: c.port, path: `/api/accounts/${CLASSIC.id}/token/invalidate`, headers: AUTH_HEADERS, body }),
    );
    const inv = await burst.fire(postReqs);
    const invUpstream = upstream.first();
    results.push(
      judge(
        {
          kind: "invalidation",
          ...inv,
          appId: CLASSIC.appId,
          upstreamAt: invUpstream,
          maxEventLoopLagMs: await maxLagMs(brokers),
          warmupFailed: warmInv.failed,
          deadToken: dead,
        },
        sim,
        latencyMs,
        brokerCount,
      ),
    );

    // --- the floor: the same burst against bare node:http servers answering at once ---
    client.close();
    await stopAll(brokers);
    brokers = [];
    const tokenBody = [...warmInv.tokens][0]!;
    bare = await Promise.all(
      Array.from({ length: brokerCount }, (_, i) =>
        spawnServer({
          name: `storm-floor-${i}`,
          args: rt.serverArgs("bare-http"),
          env: { BENCH_BODY: JSON.stringify({ accessToken: tokenBody }) },
          readyPath: "/",
          logDir: rt.workDir,
        }),
      ),
    );
    client = await BurstClient.open(
      bare.map((b) => b.port),
      requests,
    );
    const floorReqs = client.conns.map((c) =>
      rawRequest({ method: "GET", port: c.port, path: `/api/accounts/${STABLE.id}/token`, headers: AUTH_HEADERS }),
    );
    await client.fire(floorReqs); // warm, as before the storms
    const f = await client.fire(floorReqs);
    const at = f.responses.map((r) => r.at - f.t0).sort((a, b) => a - b);
    floor = {
      allAnsweredMs: at[at.length - 1] ?? NaN,
      p50Ms: percentile(at, 50),
      p99Ms: percentile(at, 99),
      failed: f.responses.filter((r) => r.status !== 200).length,
    };
  } finally {
    client?.close();
    redisCmd?.disconnect();
    await stopAll([...brokers, ...bare]);
    await sim?.close();
    await redis?.close();
  }

  const rows = results.map((r) => [
    r.kind === "expiry" ? "expiry (stable token, GET)" : "invalidation (classic token, POST …/invalidate)",
    fmt(r.requests),
    r.brokers,
    `${r.upstreamCalls} ${r.upstreamCalls === 1 ? "✅" : "❌"}`,
    `${r.failed} ${r.failed === 0 ? "✅" : "❌"}`,
    r.distinctTokens,
    r.invalidTokens,
    ms(r.upstreamStartMs),
    ms(r.maxEventLoopLagMs),
    ms(r.p50Ms),
    ms(r.p99Ms),
    `${ms(r.allAnsweredMs)} ${r.allAnsweredMs <= r.targetMs ? "✅" : "❌"}`,
    r.targetMs,
  ]);
  const failures = results.flatMap((r) => r.failures.map((f) => `- ${r.kind}: ${f}`));
  return {
    id: "storm",
    title: "2. Refresh storm",
    load: { before: loadBefore, after: load1() },
    data: results,
    body: [
      `${brokerCount} broker processes (${process.env.BENCH_STORM_VARIANT === undefined ? "" : `ablation server with BENCH_VARIANT=${process.env.BENCH_STORM_VARIANT}, `}compiled build, Redis mode, default tunables), one Redis, the simulator in the benchmark process answering after ${latencyMs} ms. ` +
        `${fmt(requests)} keep-alive connections (${Math.ceil(requests / brokerCount)} per broker) are opened and warmed first; then one request is written on each in a single pass. ` +
        "Upstream calls and token validity come from the simulator. Times are from the first request written to each answer received.",
      table(
        [
          "storm",
          "requests",
          "brokers",
          "upstream token calls (target 1)",
          "failed (target 0)",
          "distinct tokens served",
          "invalid tokens served",
          "upstream call began at ms",
          "max event-loop lag ms",
          "p50 ms",
          "p99 ms",
          "all answered ms",
          "target ms",
        ],
        rows,
      ),
      floor === undefined
        ? ""
        : `The floor, for scale: the same ${fmt(requests)}-request burst against ${brokerCount} bare \`node:http\` servers that answer at once with a fixed body (no Redis, no WeChat, no broker) is answered in ${ms(floor.allAnsweredMs)} ms (p50 ${ms(floor.p50Ms)}, p99 ${ms(floor.p99Ms)}, ${floor.failed} failed): what writing and reading ${fmt(requests)} requests costs on this machine before any broker work. The target allows 100 ms beyond the upstream latency for all of it.`,
      failures.length > 0 ? `Failures:\n\n${failures.join("\n")}` : "",
      results.some((r) => r.warmupFailed > 0)
        ? `Warm-up bursts (local-cache hits just before each storm): ${results.map((r) => `${r.warmupFailed} failed before the ${r.kind} storm`).join(", ")}.`
        : "",
      `Targets: upstream calls ${verdict(results.every((r) => r.upstreamCalls === 1))}, failed requests ${verdict(results.every((r) => r.failed === 0))}, time ${verdict(results.every((r) => r.allAnsweredMs <= r.targetMs))}.`,
    ].filter((x) => x !== ""),
  };
}
