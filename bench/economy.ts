// Benchmark 5: call economy — upstream token calls per account per hour, with 1 and 4 replicas, for the situations
// the refresh policy must handle without wasting WeChat's calls (issue 11): a normal stable, classic and WeCom
// account, a client that reports its token as rejected (40001) once a second, and a Redis restart.
//
// Two kinds of runs per replica count, each on its own Redis, simulator and `serve` processes:
//
// - Rotations (scaled time). Tokens live `lifetimeSec` in the simulator instead of WeChat's 7200 s, and every timing
//   variable of the broker is scaled alike (shortLifetime: margin, refresh-ahead, WeChat's overlap; REFETCH_FLOOR_SEC
//   to its 1 s minimum). A run of `seconds` wall seconds stands for seconds × 7200 / lifetimeSec seconds of
//   production, so calls per hour = calls × 3600 / (seconds × 7200 / lifetimeSec). The per-minute ceiling
//   (UPSTREAM_CALLS_PER_MINUTE) is a wall-clock limit that time compression would trip, so it is set to its
//   maximum here. Calls that come as fast as round trips allow (a loop) do not scale with the lifetime: for those the
//   figure is a lower bound, and the row says so.
// - Wall-clock runs, production settings (7200 s tokens, every variable at its default): a client reporting the
//   token it holds once a second for `reportSeconds` (calls per hour = calls × 3600 / reportSeconds; the token never
//   needs a rotation in that time, so every call is the reports' doing), then Redis stopped and started again with
//   its data gone, and the calls of the next `restartSeconds` counted (the cost of one restart, added to the
//   account's normal hourly rate from the scaled run).
//
// Callers ask every replica for every account's token every `pollMs`. All counts come from the simulator.
//
// JS-SDK tickets (issue 16): in the scaled run one more stable account whose callers only ask for wx.config
// signatures (GET …/jssdk-config) instead of the token; its row counts getticket calls per hour beside the tokens'.
import { startRedis, type TestRedis } from "../test/helpers/redis";
import { startSimulator } from "../src/simulator/server";
import type { RunningSimulator, SimAppConfig, SimAppCounters } from "../src/simulator/types";
import {
  AUTH_HEADERS,
  benchAccount,
  brokerEnv,
  getToken,
  shortLifetime,
  shortLifetimeEnv,
  simApp,
  sleep,
  tokenCalls,
  type BenchAccount,
} from "./lib/fixtures";
import { fmt, load1, table, type Section } from "./lib/report";
import { spawnBroker, stopAll, type Proc, type Runtime } from "./lib/runtime";
import type { Settings } from "./lib/settings";

const WECHAT_LIFETIME_SEC = 7200;
/** LOCAL_CACHE_TTL_MS of the wall-clock run (production: 30 s). */
const WALL_CACHE_TTL_MS = 5000;

type Api = "stable" | "classic" | "wecom";

interface EconAccount extends BenchAccount {
  api: Api;
  /** Its callers ask for JS-SDK signatures, not the token. */
  signs?: boolean;
}

function account(id: string, api: Api, n: number): EconAccount {
  return { ...benchAccount(id, api === "classic" ? "classic" : "stable", n), api };
}

/** The account list as the broker reads it: WeCom accounts carry `type` and no `tokenApi`. */
function accountList(accounts: EconAccount[]): BenchAccount[] {
  const entries = accounts.map(({ api, signs: _signs, ...a }) =>
    api === "wecom" ? { id: a.id, appId: a.appId, appSecret: a.appSecret, type: "wecom" } : a,
  );
  // brokerEnv writes the entries as they are; its type only knows MP accounts.
  return entries as unknown as BenchAccount[];
}

function simAppOf(a: EconAccount, extra: Partial<SimAppConfig>): SimAppConfig {
  return simApp(a, { ...(a.api === "wecom" ? { platform: "wecom" as const } : {}), ...extra });
}

export type Scenario = "normal" | "reports 40001 once a second" | "Redis restart" | "JS-SDK signing: getticket calls";

export interface EconomyRow {
  scenario: Scenario;
  api: Api;
  replicas: number;
  /** Wall seconds measured. */
  wallSec: number;
  /** Production seconds the run stands for. */
  simulatedSec: number;
  tokenCalls: number;
  tokensIssued: number;
  /** getticket calls (the JS-SDK signing row; 0 elsewhere). */
  ticketCalls: number;
  probes: number;
  forceRefreshes: number;
  /** Caller requests (token GETs) not answered 200. */
  failedRequests: number;
  requests: number;
  /** Report answers by status (reporter rows). */
  reportAnswers?: Record<string, number>;
  /** Upstream token calls per account per hour, extrapolated as `basis` says. */
  perHour: number;
  basis: string;
  /** More than 3 calls per token issued: calls came as fast as round trips allow, so perHour is a lower bound. */
  loop: boolean;
}

export interface EconomyResult {
  lifetimeSec: number;
  seconds: number;
  reportSeconds: number;
  restartSeconds: number;
  rows: EconomyRow[];
}

interface Tally {
  requests: number;
  failed: number;
}

/** Callers: one loop per (replica, account) asking for the token every pollMs. */
function startCallers(brokers: Proc[], accounts: EconAccount[], pollMs: number): { tallies: Map<string, Tally>; stop(): Promise<void> } {
  const tallies = new Map(accounts.map((a) => [a.id, { requests: 0, failed: 0 }]));
  let stopped = false;
  const loops = brokers.flatMap((b) =>
    accounts.map(async (a) => {
      const t = tallies.get(a.id)!;
      while (!stopped) {
        try {
          const path = a.signs ? `jssdk-config?url=${encodeURIComponent("https://shop.example.com/item?id=7")}` : "token";
          const r = await fetch(`${b.url}/api/accounts/${a.id}/${path}`, { headers: AUTH_HEADERS, signal: AbortSignal.timeout(10_000) });
          await r.arrayBuffer();
          t.requests++;
          if (r.status !== 200) t.failed++;
        } catch {
          t.requests++;
          t.failed++;
        }
        await sleep(pollMs);
      }
    }),
  );
  return {
    tallies,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

function snapshot(sim: RunningSimulator, accounts: EconAccount[]): Map<string, SimAppCounters> {
  return new Map(accounts.map((a) => [a.id, sim.admin.counters(a.appId)]));
}

function delta(sim: RunningSimulator, a: EconAccount, before: Map<string, SimAppCounters>) {
  const b = before.get(a.id)!;
  const c = sim.admin.counters(a.appId);
  return {
    tokenCalls: tokenCalls(c) - tokenCalls(b),
    tokensIssued: c.tokensIssued - b.tokensIssued,
    ticketCalls: c.calls.getticket - b.calls.getticket,
    probes: c.calls.probe - b.calls.probe,
    forceRefreshes: c.forceRefreshes - b.forceRefreshes,
  };
}

function resetTallies(tallies: Map<string, Tally>): void {
  for (const t of tallies.values()) {
    t.requests = 0;
    t.failed = 0;
  }
}

async function withStack<T>(apps: SimAppConfig[], fn: (redis: TestRedis, sim: RunningSimulator) => Promise<T>): Promise<T> {
  const redis = await startRedis();
  let sim: RunningSimulator | undefined;
  try {
    sim = await startSimulator({ apps });
    return await fn(redis, sim);
  } finally {
    await sim?.close();
    await redis.close();
  }
}

async function startBrokers(rt: Runtime, n: number, name: string, env: Record<string, string>): Promise<Proc[]> {
  const started = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => spawnBroker(rt, `${name}-${i}`, env, { readyTimeoutMs: 60_000 })),
  );
  const ok = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    await stopAll(ok);
    throw failed.reason;
  }
  return ok;
}

/** Waits until every broker served every account once (the first may wait for the start-up refresh). */
async function warm(brokers: Proc[], accounts: EconAccount[]): Promise<void> {
  for (const b of brokers) {
    for (const a of accounts) {
      for (let attempt = 0; ; attempt++) {
        try {
          await getToken(b.url, a.id);
          break;
        } catch (err) {
          if (attempt >= 50) throw err;
          await sleep(200);
        }
      }
    }
  }
}

/** Scaled run: normal stable, classic and WeCom accounts over several token lifetimes. */
async function rotations(s: Settings, rt: Runtime, replicas: number): Promise<EconomyRow[]> {
  const e = s.economy;
  const timing = shortLifetime(e.lifetimeSec);
  const scale = WECHAT_LIFETIME_SEC / timing.lifetimeSec;
  const accounts = [
    account("econ-stable", "stable", 51),
    account("econ-classic", "classic", 52),
    account("econ-wecom", "wecom", 53),
    { ...account("econ-jssdk", "stable", 54), signs: true },
  ];
  const apps = accounts.map((a) => simAppOf(a, { tokenLifetimeSec: timing.lifetimeSec, overlapSec: timing.overlapSec }));
  return withStack(apps, async (redis, sim) => {
    const env = brokerEnv({
      redisUrl: redis.url,
      sim,
      accounts: accountList(accounts),
      workDir: rt.workDir,
      name: `economy-scaled-${replicas}`,
      extra: {
        ...shortLifetimeEnv(timing),
        WECHAT_OVERLAP_SEC: String(timing.overlapSec),
        REFETCH_FLOOR_SEC: String(Math.max(1, Math.round(30 / scale))),
        UPSTREAM_CALLS_PER_MINUTE: "600",
      },
    });
    const brokers = await startBrokers(rt, replicas, `economy-scaled-${replicas}`, env);
    try {
      await warm(brokers, accounts);
      const callers = startCallers(brokers, accounts, e.pollMs);
      const before = snapshot(sim, accounts);
      const started = performance.now();
      await sleep(e.seconds * 1000);
      const wallSec = (performance.now() - started) / 1000;
      const after = new Map(accounts.map((a) => [a.id, delta(sim, a, before)]));
      await callers.stop();
      return accounts.map((a) => {
        const d = after.get(a.id)!;
        const t = callers.tallies.get(a.id)!;
        const simulatedSec = wallSec * scale;
        // A ticket lives as long as the token; tickets issued are not counted by the simulator, lifetimes elapsed are.
        const lifetimes = Math.max(1, Math.ceil(wallSec / timing.lifetimeSec));
        return {
          scenario: a.signs ? ("JS-SDK signing: getticket calls" as const) : ("normal" as const),
          api: a.api,
          replicas,
          wallSec,
          simulatedSec,
          ...d,
          failedRequests: t.failed,
          requests: t.requests,
          perHour: ((a.signs ? d.ticketCalls : d.tokenCalls) * 3600) / simulatedSec,
          basis: `scaled ×${fmt(scale)}`,
          loop: a.signs ? d.ticketCalls > 3 * (lifetimes + 1) : d.tokenCalls > 3 * Math.max(1, d.tokensIssued),
        };
      });
    } finally {
      await stopAll(brokers);
    }
  });
}

/** Wall-clock run with production settings: a reporting client, then a Redis restart. */
async function wallClock(s: Settings, rt: Runtime, replicas: number, normalPerHour: (api: Api) => number): Promise<EconomyRow[]> {
  const e = s.economy;
  const reporters = [account("econ-report-classic", "classic", 61), account("econ-report-stable", "stable", 62)];
  const restarted = [
    account("econ-restart-stable", "stable", 63),
    account("econ-restart-classic", "classic", 64),
    account("econ-restart-wecom", "wecom", 65),
  ];
  const accounts = [...reporters, ...restarted];
  return withStack(
    accounts.map((a) => simAppOf(a, {})),
    async (redis, sim) => {
      // Production settings, except that replicas re-read Redis after 5 s instead of 30 s, so they meet the emptied
      // Redis inside the measured window (the restart's cost does not depend on when they do).
      const env = brokerEnv({
        redisUrl: redis.url,
        sim,
        accounts: accountList(accounts),
        workDir: rt.workDir,
        name: `economy-wall-${replicas}`,
        extra: { LOCAL_CACHE_TTL_MS: String(WALL_CACHE_TTL_MS) },
      });
      const brokers = await startBrokers(rt, replicas, `economy-wall-${replicas}`, env);
      try {
        await warm(brokers, accounts);
        const callers = startCallers(brokers, accounts, e.pollMs);
        const rows: EconomyRow[] = [];

        // A client that reports the token it holds as rejected, once a second, on the replicas in turn.
        let before = snapshot(sim, accounts);
        const answers = new Map(reporters.map((a) => [a.id, {} as Record<string, number>]));
        let started = performance.now();
        await Promise.all(
          reporters.map(async (a) => {
            let token = (await getToken(brokers[0]!.url, a.id)).body.accessToken;
            const tally = answers.get(a.id)!;
            for (let i = 0; i < e.reportSeconds; i++) {
              const due = started + i * 1000;
              if (due > performance.now()) await sleep(due - performance.now());
              try {
                const r = await fetch(`${brokers[i % brokers.length]!.url}/api/accounts/${a.id}/token/invalidate`, {
                  method: "POST",
                  headers: { ...AUTH_HEADERS, "content-type": "application/json" },
                  body: JSON.stringify({ accessToken: token, errcode: 40001 }),
                  signal: AbortSignal.timeout(10_000),
                });
                const body = (await r.json()) as { accessToken?: string; error?: { code?: string } };
                const key = r.status === 200 ? "200" : `${r.status} ${body.error?.code ?? ""}`.trim();
                tally[key] = (tally[key] ?? 0) + 1;
                if (body.accessToken) token = body.accessToken;
              } catch {
                tally["no answer"] = (tally["no answer"] ?? 0) + 1;
              }
            }
          }),
        );
        // What every wall-clock row of an account says: its calls (from the simulator) and its callers' tallies.
        const wallClockRow = (a: EconAccount, d: ReturnType<typeof delta>, wallSec: number) => {
          const t = callers.tallies.get(a.id)!;
          return { api: a.api, replicas, wallSec, simulatedSec: wallSec, ...d, failedRequests: t.failed, requests: t.requests };
        };
        let wallSec = (performance.now() - started) / 1000;
        for (const a of reporters) {
          const d = delta(sim, a, before);
          rows.push({
            scenario: "reports 40001 once a second",
            ...wallClockRow(a, d, wallSec),
            reportAnswers: answers.get(a.id),
            // One report a second: an hour holds 3600 of them.
            perHour: (d.tokenCalls * 3600) / e.reportSeconds,
            basis: "per report × 3600",
            loop: false,
          });
        }

        // Redis loses its data under the running replicas.
        resetTallies(callers.tallies);
        before = snapshot(sim, accounts);
        started = performance.now();
        await redis.stop();
        await redis.start();
        await sleep(e.restartSeconds * 1000);
        wallSec = (performance.now() - started) / 1000;
        await callers.stop();
        for (const a of restarted) {
          const d = delta(sim, a, before);
          rows.push({
            scenario: "Redis restart",
            ...wallClockRow(a, d, wallSec),
            perHour: normalPerHour(a.api) + d.tokenCalls,
            basis: "normal rate + the restart's calls",
            loop: d.tokenCalls > 3 * Math.max(1, d.tokensIssued),
          });
        }
        return rows;
      } finally {
        await stopAll(brokers);
      }
    },
  );
}

export async function runEconomy(s: Settings, rt: Runtime): Promise<Section> {
  const e = s.economy;
  const loadBefore = load1();
  const rows: EconomyRow[] = [];
  for (const replicas of e.replicas) {
    const scaled = await rotations(s, rt, replicas);
    rows.push(...scaled);
    const normal = (api: Api) => scaled.find((r) => r.scenario === "normal" && r.api === api)?.perHour ?? 0;
    rows.push(...(await wallClock(s, rt, replicas, normal)));
  }
  const result: EconomyResult = {
    lifetimeSec: e.lifetimeSec,
    seconds: e.seconds,
    reportSeconds: e.reportSeconds,
    restartSeconds: e.restartSeconds,
    rows,
  };
  const timing = shortLifetime(e.lifetimeSec);
  const scale = WECHAT_LIFETIME_SEC / timing.lifetimeSec;

  const order: Array<[Scenario, Api]> = [
    ["normal", "stable"],
    ["normal", "classic"],
    ["normal", "wecom"],
    ["JS-SDK signing: getticket calls", "stable"],
    ["reports 40001 once a second", "classic"],
    ["reports 40001 once a second", "stable"],
    ["Redis restart", "stable"],
    ["Redis restart", "classic"],
    ["Redis restart", "wecom"],
  ];
  const cell = (r: EconomyRow | undefined) =>
    r === undefined ? "n/a" : `${fmt(r.perHour, r.perHour < 10 ? 2 : 0)}${r.loop ? " (loop: lower bound)" : ""}`;
  const find = (sc: Scenario, api: Api, n: number) => rows.find((r) => r.scenario === sc && r.api === api && r.replicas === n);
  const answersText = (a: Record<string, number> | undefined) =>
    a === undefined
      ? ""
      : Object.entries(a)
          .map(([k, v]) => `${v}× ${k}`)
          .join(", ");
  return {
    id: "economy",
    title: "5. Call economy",
    load: { before: loadBefore, after: load1() },
    data: result,
    body: [
      `Upstream token calls (token, stable_token, gettoken; failed ones included) per account per hour, counted by the simulator, with ${e.replicas.join(" and ")} \`serve\` processes on one Redis; callers ask every replica for every account's token every ${e.pollMs} ms. ` +
        `*Normal*: tokens live ${timing.lifetimeSec} s instead of 7200 s and the broker's timing is scaled alike (TOKEN_SAFETY_MARGIN_SEC=${timing.marginSec}, refresh-ahead ${timing.aheadSec} s, WECHAT_OVERLAP_SEC=${timing.overlapSec}, REFETCH_FLOOR_SEC=1, UPSTREAM_CALLS_PER_MINUTE=600), so ${fmt(e.seconds)} s of wall time stand for ${fmt((e.seconds * scale) / 3600, 1)} h (×${fmt(scale)}). ` +
        `One call in that run counts ${fmt(3600 / (e.seconds * scale), 2)} per hour. ` +
        `*Reports*: production settings (LOCAL_CACHE_TTL_MS=${WALL_CACHE_TTL_MS} instead of 30000) and 7200 s tokens; a client reports the token it holds (errcode 40001) ${fmt(e.reportSeconds)} times, once a second, on the replicas in turn, while WeChat still accepts it; calls per report × 3600. ` +
        `*Redis restart*: then Redis is stopped and started without its data under the running replicas; the calls of the next ${fmt(e.restartSeconds)} s are added to the account's normal hourly rate (one restart in the hour). ` +
        `*JS-SDK signing*: one more stable account in the scaled run whose callers ask only for wx.config signatures (\`GET …/jssdk-config\`); its row counts \`getticket\` calls (tickets live as long as the tokens), its token calls are in the second table. ` +
        `For scale: a token that rotates once per lifetime needs about 0.5–0.6 calls an hour. "Loop" marks rows with more than 3 calls per token issued: such calls come as fast as round trips allow, not once per lifetime, so in production they would be far more than the scaled figure.`,
      table(
        ["scenario", "token API", ...e.replicas.map((n) => `${n} ${n === 1 ? "replica" : "replicas"}: calls per account per hour`)],
        order.map(([sc, api]) => [sc, api, ...e.replicas.map((n) => cell(find(sc, api, n)))]),
      ),
      table(
        [
          "scenario",
          "token API",
          "replicas",
          "wall s",
          "token calls",
          "tokens issued",
          "getticket calls",
          "probes",
          "force refreshes",
          "caller requests not answered 200",
          "report answers",
        ],
        order.flatMap(([sc, api]) =>
          e.replicas.flatMap((n) => {
            const r = find(sc, api, n);
            return r === undefined
              ? []
              : [
                  [
                    sc,
                    api,
                    n,
                    fmt(r.wallSec, 1),
                    fmt(r.tokenCalls),
                    fmt(r.tokensIssued),
                    fmt(r.ticketCalls),
                    fmt(r.probes),
                    fmt(r.forceRefreshes),
                    `${fmt(r.failedRequests)} of ${fmt(r.requests)}`,
                    answersText(r.reportAnswers),
                  ],
                ];
          }),
        ),
      ),
    ],
  };
}
