// Benchmark 4: cost as the work grows — 1, 100 and 1,000 configured accounts (one simulator app each), one broker.
//
// Phase A, WeChat's real lifetimes (7200 s): spawn → ready, time until every account has its first token, RSS idle
// and after load, and hot-path latency with the load spread over every account.
// Phase B, short lifetimes: background refreshes are counted over a window, per account, from the simulator. The
// refresh period is measured exactly (per account: time between the stored tokens' fetch times ÷ rotations in
// between), so the result does not depend on where the window falls in the refresh cycle, and calls per hour at
// WeChat's 7200 s lifetime are projected with the same schedule formula that the measurement verified.
import Redis from "ioredis";
import { startRedis, type TestRedis } from "../test/helpers/redis";
import { startSimulator } from "../src/simulator/server";
import type { RunningSimulator } from "../src/simulator/types";
import { KeySpace } from "../src/store/keys";
import {
  AUTH_HEADERS,
  benchAccount,
  brokerEnv,
  shortLifetime,
  shortLifetimeEnv,
  simApp,
  sleep,
  tokenCalls,
  waitUntil,
  type BenchAccount,
} from "./lib/fixtures";
import { load, type LoadResult } from "./lib/load";
import { fmt, load1, mb, median, ms, type Section, table } from "./lib/report";
import { spawnBroker, stopAll, type Proc, type Runtime } from "./lib/runtime";
import type { Settings } from "./lib/settings";

/** WeChat's lifetime and the broker's defaults (STABLE_REFRESH_AHEAD_SEC=240, jitter up to 20 % of it, later). */
const PROD = { lifetimeSec: 7200, aheadSec: 240 };

/**
 * Seconds between refreshes of one stable account, from the scheduler's rule (src/broker/scheduler.ts): due aheadSec
 * before the broker's view of expiry, plus a uniform 0–20 % of aheadSec later (10 % on average). The broker dates a
 * token from when the answer arrived, one upstream latency after WeChat issued it, so each period is that much longer.
 */
export function stablePeriodSec(lifetimeSec: number, aheadSec: number, latencySec: number): number {
  return lifetimeSec - aheadSec + 0.1 * aheadSec + latencySec;
}

export interface AccountsRow {
  accounts: number;
  readyMs: number;
  allTokensMs: number;
  rssIdle: number;
  rssAfterLoad: number;
  peakRss: number;
  hot: LoadResult;
  window: {
    seconds: number;
    lifetimeSec: number;
    upstreamCalls: number;
    rotations: number;
    measuredPeriodSec: number;
    expectedPeriodSec: number;
    callsPerHour: number;
  };
  projectedCallsPerHour: number;
}

function accountsOf(n: number): BenchAccount[] {
  return Array.from({ length: n }, (_, i) => benchAccount(`acct-${String(i).padStart(4, "0")}`, "stable", 100 + i));
}

function sumCounters(sim: RunningSimulator, accounts: BenchAccount[]): { calls: number; issued: number } {
  let calls = 0;
  let issued = 0;
  for (const a of accounts) {
    const c = sim.admin.counters(a.appId);
    calls += tokenCalls(c);
    issued += c.tokensIssued;
  }
  return { calls, issued };
}

async function withStack<T>(
  accounts: BenchAccount[],
  simExtra: Record<string, number>,
  fn: (redis: TestRedis, sim: RunningSimulator) => Promise<T>,
): Promise<T> {
  const redis = await startRedis();
  let sim: RunningSimulator | undefined;
  try {
    sim = await startSimulator({ apps: accounts.map((a) => simApp(a, simExtra)) });
    return await fn(redis, sim);
  } finally {
    await sim?.close();
    await redis.close();
  }
}

interface Started {
  accounts: BenchAccount[];
  redis: TestRedis;
  sim: RunningSimulator;
  broker: Proc;
  readyMs: number;
  allTokensMs: number;
}

/** Phase A, start-up: its own Redis, simulator and broker, started while nothing else runs. */
async function startPhaseA(s: Settings, rt: Runtime, accounts: BenchAccount[]): Promise<Started> {
  const redis = await startRedis();
  let sim: RunningSimulator | undefined;
  let broker: Proc | undefined;
  try {
    sim = await startSimulator({ apps: accounts.map((a) => simApp(a, { latencyMs: s.accounts.latencyMs })) });
    const env = brokerEnv({ redisUrl: redis.url, sim, accounts, workDir: rt.workDir, name: `accounts-${accounts.length}` });
    broker = await spawnBroker(rt, `accounts-${accounts.length}-broker`, env);
    const readyAt = performance.now();
    // Every account's first token: the scheduler's start-up pass, spread over ≤ 2 s.
    const live = sim;
    await waitUntil(`${accounts.length} first tokens`, () => sumCounters(live, accounts).issued >= accounts.length, 60_000);
    return { accounts, redis, sim, broker, readyMs: broker.readyMs, allTokensMs: broker.readyMs + (performance.now() - readyAt) };
  } catch (err) {
    await stopAll([broker]);
    await sim?.close();
    await redis.close();
    throw err;
  }
}

async function stopPhaseA(st: Started | undefined): Promise<void> {
  if (!st) return;
  await stopAll([st.broker]);
  await st.sim.close();
  await st.redis.close();
}

/**
 * Phase A for every size: started one after the other (start-up is measured alone), then the hot path measured in
 * rounds that take the sizes in turn, so drifting background load spreads over all of them (medians reported).
 */
async function phaseA(s: Settings, rt: Runtime, sizes: number[]) {
  const started: Started[] = [];
  try {
    for (const n of sizes) started.push(await startPhaseA(s, rt, accountsOf(n)));
    await sleep(1000);
    const rssIdle = started.map((st) => st.broker.rss());
    const runs: LoadResult[][] = started.map(() => []);
    for (let round = 0; round < s.accounts.rounds; round++) {
      for (const [i, st] of started.entries()) {
        const paths = st.accounts.map((a) => `/api/accounts/${a.id}/token`);
        const url = `${st.broker.url}${paths[0]}`;
        await load({ url, paths, connections: s.accounts.connections, seconds: s.hot.warmupSeconds, headers: AUTH_HEADERS });
        runs[i]!.push(
          await load({
            url,
            paths,
            connections: s.accounts.connections,
            seconds: s.accounts.hotSeconds,
            headers: AUTH_HEADERS,
            cpuMs: () => st.broker.cpuMs(),
          }),
        );
      }
    }
    return started.map((st, i) => {
      const rs = runs[i]!;
      const hot: LoadResult = {
        ...rs[0]!,
        rps: median(rs.map((r) => r.rps)),
        cpuUs: median(rs.map((r) => r.cpuUs)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        max: Math.max(...rs.map((r) => r.max)),
        errors: rs.reduce((n, r) => n + r.errors, 0),
        non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
      };
      return {
        accounts: st.accounts.length,
        readyMs: st.readyMs,
        allTokensMs: st.allTokensMs,
        rssIdle: rssIdle[i]!,
        rssAfterLoad: st.broker.rss(),
        peakRss: st.broker.peakRss(),
        hot,
      };
    });
  } finally {
    for (const st of started) await stopPhaseA(st);
  }
}

async function phaseB(s: Settings, rt: Runtime, accounts: BenchAccount[]) {
  const timing = shortLifetime(s.accounts.lifetimeSec);
  return withStack(
    accounts,
    { latencyMs: s.accounts.latencyMs, tokenLifetimeSec: timing.lifetimeSec, overlapSec: timing.overlapSec },
    async (redis, sim) => {
      let broker: Proc | undefined;
      const r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      try {
        const env = brokerEnv({
          redisUrl: redis.url,
          sim,
          accounts,
          workDir: rt.workDir,
          name: `refresh-${accounts.length}`,
          extra: shortLifetimeEnv(timing),
        });
        broker = await spawnBroker(rt, `refresh-${accounts.length}-broker`, env);
        const keys = new KeySpace();
        const fetchedAt = async () => {
          const p = r.pipeline();
          for (const a of accounts) p.hget(keys.account(a.id).token, "fetchedAt");
          const replies = (await p.exec()) ?? [];
          return replies.map(([, v]) => (typeof v === "string" ? Number(v) : NaN));
        };
        // Every account's first token is in Redis (the simulator counts an issue before its 50 ms answer arrives).
        await waitUntil(`${accounts.length} first tokens in Redis`, async () => (await fetchedAt()).every(Number.isFinite), 60_000, 100);
        const perAccount = () => accounts.map((a) => sim.admin.counters(a.appId));
        const f0 = await fetchedAt();
        const c0 = perAccount();
        const t0 = performance.now();
        await sleep(s.accounts.windowSeconds * 1000);
        const f1 = await fetchedAt();
        const c1 = perAccount();
        const seconds = (performance.now() - t0) / 1000;
        let calls = 0;
        let rotations = 0;
        let spanMs = 0;
        let spanRotations = 0;
        accounts.forEach((_, i) => {
          const issued = c1[i]!.tokensIssued - c0[i]!.tokensIssued;
          calls += c1[i]!.calls.stable_token - c0[i]!.calls.stable_token;
          rotations += issued;
          // Between two stored tokens' fetch times lie exactly `issued` refresh periods of this account.
          if (issued > 0 && Number.isFinite(f0[i]!) && Number.isFinite(f1[i]!)) {
            spanMs += f1[i]! - f0[i]!;
            spanRotations += issued;
          }
        });
        const measuredPeriodSec = spanRotations > 0 ? spanMs / spanRotations / 1000 : NaN;
        return {
          seconds,
          lifetimeSec: timing.lifetimeSec,
          upstreamCalls: calls,
          rotations,
          measuredPeriodSec,
          expectedPeriodSec: stablePeriodSec(timing.lifetimeSec, timing.aheadSec, s.accounts.latencyMs / 1000),
          callsPerHour: ((accounts.length * 3600) / measuredPeriodSec) * (rotations > 0 ? calls / rotations : 1),
        };
      } finally {
        r.disconnect();
        await stopAll([broker]);
      }
    },
  );
}

export async function runAccounts(s: Settings, rt: Runtime): Promise<Section> {
  const loadBefore = load1();
  const rows: AccountsRow[] = [];
  const phaseARows = await phaseA(s, rt, s.accounts.sizes);
  for (const a of phaseARows) {
    const n = a.accounts;
    const b = await phaseB(s, rt, accountsOf(n));
    const callsPerRotation = b.rotations > 0 ? b.upstreamCalls / b.rotations : 1;
    rows.push({
      ...a,
      window: b,
      projectedCallsPerHour:
        ((n * 3600) / stablePeriodSec(PROD.lifetimeSec, PROD.aheadSec, s.accounts.latencyMs / 1000)) * callsPerRotation,
    });
    console.error(
      `bench accounts: ${n}: ready ${ms(a.readyMs)} ms, RSS ${mb(a.rssIdle)} MB, hot p99 ${ms(a.hot.p99)} ms, ${b.upstreamCalls} calls / ${b.rotations} rotations in ${b.seconds.toFixed(0)} s`,
    );
  }
  const base = rows[0]!;
  const perAccountKb = (r: AccountsRow) =>
    r.accounts === base.accounts ? "—" : fmt((r.rssIdle - base.rssIdle) / 1024 / (r.accounts - base.accounts), 1);
  const life = rows[0]?.window.lifetimeSec ?? s.accounts.lifetimeSec;
  return {
    id: "accounts",
    title: "4. Cost as the number of accounts grows",
    load: { before: loadBefore, after: load1() },
    data: rows,
    body: [
      `One broker process (compiled build, Redis mode, default tunables), one Redis, the simulator in the benchmark process (${s.accounts.latencyMs} ms latency), N stable-token accounts. ` +
        `Phase A uses WeChat's 7200 s lifetime: start-up is spawn → first 200 from /api/health/ready; "all tokens" is spawn → the simulator has issued every account's first token ` +
        `(the start-up refresh pass is spread over up to 2 s on purpose). The brokers of all sizes run side by side once started (each alone while it starts); the hot path is ${s.accounts.connections} connections for ${s.accounts.hotSeconds} s after ${s.hot.warmupSeconds} s warm-up, each connection cycling through every account's token URL, ` +
        `in ${s.accounts.rounds} round(s) that take the sizes in turn (medians; max over all rounds). RSS per extra account is the RSS difference to the smallest size divided by the extra accounts: a few MB of heap growth dominate it at 100 accounts.`,
      table(
        [
          "accounts",
          "start-up ms",
          "all tokens ms",
          "RSS idle MB",
          "RSS after load MB",
          "RSS per extra account KB",
          "hot CPU µs/request",
          "hot requests/s",
          "hot p50 ms",
          "hot p99 ms",
          "hot max ms",
          "errors",
        ],
        rows.map((r) => [
          fmt(r.accounts),
          ms(r.readyMs),
          ms(r.allTokensMs),
          mb(r.rssIdle),
          mb(r.rssAfterLoad),
          perAccountKb(r),
          fmt(r.hot.cpuUs),
          fmt(r.hot.rps),
          ms(r.hot.p50),
          ms(r.hot.p99),
          ms(r.hot.max),
          r.hot.errors + r.hot.non2xx,
        ]),
      ),
      `Phase B: background refreshes. The simulator's tokens live ${life} s (brokers refresh ${shortLifetime(life).aheadSec} s ahead) and upstream calls are counted over a ${s.accounts.windowSeconds} s window with no client load. ` +
        "The measured refresh period (per account: time between the stored tokens' fetch times at both ends of the window ÷ rotations in between) checks the scheduler's formula " +
        "period = lifetime − ahead + 10 % × ahead (mean jitter) + upstream latency (the broker dates a token from the answer); calls per hour at WeChat's lifetime apply that formula to 7200 s and 240 s (≈ 0.52 calls per account per hour), times the measured calls per rotation.",
      table(
        [
          "accounts",
          "upstream calls in window",
          "rotations",
          "calls per rotation",
          "refresh period measured s",
          "period by formula s",
          `calls/hour at ${life} s lifetime`,
          "projected calls/hour at 7200 s",
          "per account per hour",
        ],
        rows.map((r) => [
          fmt(r.accounts),
          fmt(r.window.upstreamCalls),
          fmt(r.window.rotations),
          r.window.rotations > 0 ? (r.window.upstreamCalls / r.window.rotations).toFixed(2) : "n/a",
          r.window.measuredPeriodSec.toFixed(2),
          r.window.expectedPeriodSec.toFixed(2),
          fmt(r.window.callsPerHour),
          fmt(r.projectedCallsPerHour, 1),
          (r.projectedCallsPerHour / r.accounts).toFixed(3),
        ]),
      ),
    ],
  };
}
