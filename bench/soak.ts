// Benchmark 3: rotation soak. N broker processes, the simulator issuing tokens that live ≈ 30 s (so a 3-minute run
// sees ~7 rotations per account), and a steady request rate spread over the brokers and two accounts (one stable,
// one classic). Every token served is checked against the simulator at the moment it arrives: WeChat's own view of
// whether that token works. Upstream calls and rotations come from the simulator; requests that waited for WeChat
// from the brokers' wtb_token_requests_total{result="miss"} (read before and after the measured window).
import { Agent, request } from "node:http";
import { createHistogram } from "node:perf_hooks";
import { startRedis, type TestRedis } from "../test/helpers/redis";
import { startSimulator } from "../src/simulator/server";
import type { RunningSimulator } from "../src/simulator/types";
import { stablePeriodSec } from "./accounts";
import {
  AUTH_HEADERS,
  benchAccount,
  brokerEnv,
  getToken,
  metricValue,
  shortLifetime,
  shortLifetimeEnv,
  simApp,
  sleep,
  tokenCalls,
  type BenchAccount,
} from "./lib/fixtures";
import { fmt, load1, ms, table, verdict, type Section } from "./lib/report";
import { spawnBroker, stopAll, type Proc, type Runtime } from "./lib/runtime";
import type { Settings } from "./lib/settings";

export interface SoakAccountResult {
  account: string;
  api: "stable" | "classic";
  served: number;
  invalid: number;
  invalidReasons: Record<string, number>;
  failed: number;
  distinctTokens: number;
  upstreamCalls: number;
  rotations: number;
  expectedRotations: number;
}

export interface SoakResult {
  seconds: number;
  brokers: number;
  rate: number;
  lifetimeSec: number;
  accounts: SoakAccountResult[];
  missesDuringWindow: number;
  sent: number;
  skipped: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const STABLE = benchAccount("soak-stable", "stable", 11);
const CLASSIC = benchAccount("soak-classic", "classic", 12);

async function misses(brokers: Proc[]): Promise<number> {
  const values = await Promise.all(brokers.map((b) => metricValue(b.url, "wtb_token_requests_total", { result: "miss" })));
  return values.reduce((a, b) => a + b, 0);
}

export async function runSoak(s: Settings, rt: Runtime): Promise<Section> {
  const { seconds, brokers: brokerCount, rate, latencyMs } = s.soak;
  const timing = shortLifetime(s.soak.lifetimeSec);
  const loadBefore = load1();
  let redis: TestRedis | undefined;
  let sim: RunningSimulator | undefined;
  let brokers: Proc[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const accounts: BenchAccount[] = [STABLE, CLASSIC];
  const perAccount = new Map<
    string,
    { served: number; invalid: number; failed: number; reasons: Map<string, number>; tokens: Set<string> }
  >();
  for (const a of accounts) perAccount.set(a.id, { served: 0, invalid: 0, failed: 0, reasons: new Map(), tokens: new Set() });
  const hist = createHistogram();
  let sent = 0;
  let skipped = 0;
  let result: SoakResult;
  try {
    redis = await startRedis();
    sim = await startSimulator({
      apps: [
        simApp(STABLE, { tokenLifetimeSec: timing.lifetimeSec, overlapSec: timing.overlapSec, latencyMs }),
        // Classic tokens keep WeChat's real 300 s overlap: the previous token then lives to its own expiry.
        simApp(CLASSIC, { tokenLifetimeSec: timing.lifetimeSec, latencyMs }),
      ],
    });
    const env = brokerEnv({ redisUrl: redis.url, sim, accounts, workDir: rt.workDir, name: "soak", extra: shortLifetimeEnv(timing) });
    brokers = await Promise.all(Array.from({ length: brokerCount }, (_, i) => spawnBroker(rt, `soak-broker-${i}`, env)));
    // Warm: every broker has served both tokens once (the first may have waited for the start-up refresh).
    for (const b of brokers) for (const a of accounts) await getToken(b.url, a.id);
    await sleep(500);

    const missesBefore = await misses(brokers);
    const before = new Map(accounts.map((a) => [a.id, sim!.admin.counters(a.appId)]));
    const live = sim;
    const targets = brokers.flatMap((b) => accounts.map((a) => ({ broker: b, account: a })));
    let inFlight = 0;
    const maxInFlight = 256;
    const started = performance.now();
    const end = started + seconds * 1000;
    let due = 0;
    let next = 0;
    const done: Array<Promise<void>> = [];

    const one = (t: (typeof targets)[number]) =>
      new Promise<void>((resolve) => {
        const stats = perAccount.get(t.account.id)!;
        const t0 = performance.now();
        inFlight++;
        const req = request(`${t.broker.url}/api/accounts/${t.account.id}/token`, { agent, headers: AUTH_HEADERS }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            inFlight--;
            hist.record(Math.max(1, Math.round((performance.now() - t0) * 1000)));
            if (res.statusCode !== 200) {
              stats.failed++;
              return resolve();
            }
            const token = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { accessToken: string }).accessToken;
            stats.served++;
            stats.tokens.add(token);
            // Judged the moment it arrives, as a caller would use it.
            const check = live.admin.checkToken(token);
            if (!check.valid) {
              stats.invalid++;
              const why = check.reason ?? "unknown";
              stats.reasons.set(why, (stats.reasons.get(why) ?? 0) + 1);
            }
            resolve();
          });
        });
        req.on("error", () => {
          inFlight--;
          stats.failed++;
          resolve();
        });
        req.end();
      });

    // Open-loop pacing: every 10 ms, send what the rate says is due, round-robin over brokers × accounts.
    while (performance.now() < end) {
      const elapsed = performance.now() - started;
      const target = Math.floor((elapsed / 1000) * rate);
      for (; due < target; due++) {
        if (inFlight >= maxInFlight) {
          skipped++;
          continue;
        }
        sent++;
        done.push(one(targets[next++ % targets.length]!));
      }
      await sleep(10);
    }
    await Promise.all(done);
    const elapsedSec = (performance.now() - started) / 1000;

    const missesAfter = await misses(brokers);
    const results: SoakAccountResult[] = accounts.map((a) => {
      const b = before.get(a.id)!;
      const c = live.admin.counters(a.appId);
      const st = perAccount.get(a.id)!;
      // One rotation per refresh period (see stablePeriodSec); classic jitter is ±10 % of aheadSec, 0 on average.
      const period =
        a.tokenApi === "stable"
          ? stablePeriodSec(timing.lifetimeSec, timing.aheadSec, latencyMs / 1000)
          : timing.lifetimeSec - timing.aheadSec + latencyMs / 1000;
      return {
        account: a.id,
        api: a.tokenApi,
        served: st.served,
        invalid: st.invalid,
        invalidReasons: Object.fromEntries(st.reasons),
        failed: st.failed,
        distinctTokens: st.tokens.size,
        upstreamCalls: tokenCalls(c) - tokenCalls(b),
        rotations: c.tokensIssued - b.tokensIssued,
        expectedRotations: elapsedSec / period,
      };
    });
    result = {
      seconds: elapsedSec,
      brokers: brokerCount,
      rate,
      lifetimeSec: timing.lifetimeSec,
      accounts: results,
      missesDuringWindow: missesAfter - missesBefore,
      sent,
      skipped,
      p50Ms: hist.percentile(50) / 1000,
      p99Ms: hist.percentile(99) / 1000,
      maxMs: hist.max / 1000,
    };
  } finally {
    agent.destroy();
    await stopAll(brokers);
    await sim?.close();
    await redis?.close();
  }

  const r = result;
  const totalInvalid = r.accounts.reduce((n, a) => n + a.invalid, 0);
  const totalFailed = r.accounts.reduce((n, a) => n + a.failed, 0);
  const callsMatch = r.accounts.every((a) => a.upstreamCalls === a.rotations);
  return {
    id: "soak",
    title: "3. Rotation soak",
    load: { before: loadBefore, after: load1() },
    data: r,
    body: [
      `${r.brokers} broker processes, one Redis, the simulator (in the benchmark process, ${latencyMs} ms latency) issuing tokens that live ${timing.lifetimeSec} s; ` +
        `brokers with TOKEN_SAFETY_MARGIN_SEC=${timing.marginSec}, STABLE_REFRESH_AHEAD_SEC=CLASSIC_REFRESH_AHEAD_SEC=${timing.aheadSec} (stable tokens rotate in the simulator's last ${timing.overlapSec} s, WeChat's 300 s scaled down). ` +
        `Steady open-loop load of ${fmt(r.rate)} requests/s for ${fmt(r.seconds, 0)} s, round-robin over the brokers and both accounts, after every broker had served both tokens once. ` +
        `Each token is checked with the simulator's checkToken the moment its answer arrives.`,
      table(
        [
          "account",
          "tokens served",
          "invalid when served (target 0)",
          "failed requests",
          "distinct tokens",
          "upstream calls",
          "rotations",
          "calls = rotations",
          "rotations expected from the schedule",
        ],
        r.accounts.map((a) => [
          `${a.account} (${a.api})`,
          fmt(a.served),
          `${a.invalid}${
            a.invalid > 0
              ? ` (${Object.entries(a.invalidReasons)
                  .map(([k, v]) => `${v} ${k}`)
                  .join(", ")})`
              : ""
          }`,
          a.failed,
          a.distinctTokens,
          a.upstreamCalls,
          a.rotations,
          a.upstreamCalls === a.rotations ? "✅" : "❌",
          a.expectedRotations.toFixed(1),
        ]),
      ),
      table(
        [
          "requests that waited for WeChat (misses, target 0)",
          "requests sent",
          "not sent (client saturated)",
          "p50 ms",
          "p99 ms",
          "max ms",
        ],
        [
          [
            `${r.missesDuringWindow} ${r.missesDuringWindow === 0 ? "✅" : "❌"}`,
            fmt(r.sent),
            r.skipped,
            ms(r.p50Ms),
            ms(r.p99Ms),
            ms(r.maxMs),
          ],
        ],
      ),
      `Targets: invalid tokens ${verdict(totalInvalid === 0)}, upstream calls = rotations ${verdict(callsMatch)}, no caller waited for WeChat ${verdict(r.missesDuringWindow === 0)}; failed requests: ${totalFailed}.`,
    ],
  };
}
