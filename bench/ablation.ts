// On demand: what each part of the broker's HTTP stack costs on the hot path. Every variant is the real broker code in
// its own process (bench/servers/broker-variant.ts) with one part left out; the real `serve`, bare node:http (the
// floor) and the minimal express app (the yardstick) are measured alongside, under wrk when it is installed. Servers
// are loaded one at a time, round after round, so drifting background load spreads over all of them; the table shows
// the median of the rounds.
import { startHotBroker, TOKEN_PATH } from "./hotPath";
import { AUTH_HEADERS, benchAccount, brokerEnv } from "./lib/fixtures";
import { load, type LoadResult } from "./lib/load";
import { fmt, load1, median, ms, type Section, table } from "./lib/report";
import { affinityOf, pin, pinPlan } from "./lib/cpuPin";
import { brokerNodeFlags, spawnBroker, spawnServer, stopAll, type Proc, type Runtime } from "./lib/runtime";
import { wrk, wrkAvailable } from "./lib/wrk";
import type { Settings } from "./lib/settings";

const VARIANTS: Array<{ name: string; flags: string; what: string }> = [
  { name: "variant: as served", flags: "", what: "createApp(core) as src/server.ts serves it (checks the harness: ≈ broker)" },
  {
    name: "variant: no fast path",
    flags: "no-fast-path",
    what: "the express app alone (no fast path in front): every hit goes through express",
  },
  { name: "variant: no HTTP metrics", flags: "no-http-metrics", what: "the route pipeline's observeHttp a no-op" },
  { name: "variant: no API-key auth", flags: "no-auth", what: "keys not required (no key lookup at all)" },
  {
    name: "variant: bare listener",
    flags: "bare-listener",
    what: "the broker's process (core, Redis connections, timers, metrics) answering as node:http does: what the process costs",
  },
];

interface Contender {
  name: string;
  what: string;
  start(): Promise<Proc>;
  /** The broker started by startHotBroker stays up; the others run only for their turn. */
  keep?: boolean;
}

export async function runAblation(s: Settings, rt: Runtime): Promise<Section> {
  const loadBefore = load1();
  const started = await startHotBroker(s, rt, { name: "ablation-broker" });
  const runs = new Map<string, LoadResult[]>();
  const plan = pinPlan();
  const useWrk = s.hot.wrk.enabled && wrkAvailable();
  let pinned = false;
  let restore: string | undefined;
  const contenders: Contender[] = [];
  try {
    if (plan.server !== undefined && plan.generator !== undefined) {
      restore = affinityOf(process.pid);
      pin(process.pid, plan.generator);
      pinned = true;
    }
    const account = benchAccount("bench", "stable", 1);
    const env = brokerEnv({
      redisUrl: started.redis.url,
      sim: started.sim,
      accounts: [account],
      workDir: rt.workDir,
      name: "ablation",
      apiKeys: s.hot.apiKeys,
      extra: { LOG_LEVEL: "info", BENCH_SRC: rt.srcDir },
    });
    const server =
      (name: string, args: string[], extra: Record<string, string>, readyPath: string, nodeArgs: readonly string[] = []) =>
      () =>
        spawnServer({ name, args, env: extra, readyPath, logDir: rt.workDir, nodeArgs: [...nodeArgs] });
    contenders.push(
      {
        name: "node:http (floor)",
        what: "bench/servers/bare-http.ts",
        start: server("ablation-bare", rt.serverArgs("bare-http"), { BENCH_BODY: started.body }, "/"),
      },
      {
        name: "express (yardstick)",
        what: "bench/servers/express-minimal.ts",
        start: server("ablation-express", rt.serverArgs("express-minimal"), { BENCH_BODY: started.body }, "/ready"),
      },
      {
        name: "broker (serve)",
        what: "the real `serve` process, up since the start (its start-up refresh called WeChat)",
        start: () => Promise.resolve(started.broker),
        keep: true,
      },
      {
        name: "broker (serve, fresh)",
        what: "the same `serve`, started for its turn: it read the token from Redis and has made no WeChat call",
        start: () => spawnBroker(rt, "ablation-fresh", env),
      },
      ...VARIANTS.map((v) => ({
        name: v.name,
        what: v.what,
        start: server(
          `ablation-${v.flags || "as-served"}`,
          rt.serverArgs("broker-variant"),
          { ...env, BENCH_BODY: started.body, BENCH_VARIANT: v.flags },
          "/api/health/ready",
          // Broker processes all: under the flags `serve` gets (spawnBroker), so the rows differ by the variant alone.
          brokerNodeFlags(),
        ),
      })),
    );
    // One server at a time on the server CPU (a server left idle beside it still wakes: an idle broker about 100 times
    // a second); rounds repeat the order, so drifting background load spreads over all of them.
    for (let round = 0; round < s.ablation.rounds; round++) {
      for (const connections of s.ablation.connections) {
        for (const c of contenders) {
          const proc = await c.start();
          try {
            if (pinned) pin(proc.pid, plan.server!);
            const url = `${proc.url}${TOKEN_PATH}`;
            const measure = (seconds: number, cpuMs?: () => number) =>
              useWrk
                ? wrk({ url, connections, seconds, headers: AUTH_HEADERS, cpus: pinned ? plan.generator : undefined, cpuMs })
                : load({ url, connections, seconds, headers: AUTH_HEADERS, cpuMs });
            await measure(Math.min(2, s.ablation.seconds));
            const r = await measure(s.ablation.seconds, () => proc.cpuMs());
            if (r.non2xx + r.errors > 0) throw new Error(`${c.name}: ${r.non2xx} non-2xx, ${r.errors} errors (log ${proc.logFile})`);
            const key = `${connections} ${c.name}`;
            runs.set(key, [...(runs.get(key) ?? []), r]);
            console.error(
              `bench ablation: round ${round + 1} ${key}: ${fmt(r.rps)} req/s, ${fmt(r.cpuUs)} µs CPU/request, p99 ${ms(r.p99)} ms`,
            );
          } finally {
            if (!c.keep) await stopAll([proc]);
          }
        }
      }
    }
  } finally {
    if (restore !== undefined) pin(process.pid, restore);
    await stopAll([started.broker]);
    await started.sim.close();
    await started.redis.close();
  }
  const rows: Array<Array<string | number>> = [];
  const data: Array<{ connections: number; server: string; rps: number; cpuUs: number; p50: number; p99: number; rounds: number[] }> = [];
  for (const connections of s.ablation.connections) {
    const cpuOf = (name: string) => median((runs.get(`${connections} ${name}`) ?? []).map((r) => r.cpuUs));
    const express = cpuOf("express (yardstick)");
    const floor = cpuOf("node:http (floor)");
    const served = cpuOf("broker (serve)");
    for (const srv of contenders) {
      const rs = runs.get(`${connections} ${srv.name}`) ?? [];
      const rps = median(rs.map((r) => r.rps));
      const cpuUs = median(rs.map((r) => r.cpuUs));
      const p50 = median(rs.map((r) => r.p50));
      const p99 = median(rs.map((r) => r.p99));
      data.push({ connections, server: srv.name, rps, cpuUs, p50, p99, rounds: rs.map((r) => r.cpuUs) });
      rows.push([
        connections,
        srv.name,
        srv.what,
        fmt(cpuUs),
        rs.map((r) => fmt(r.cpuUs)).join(" / "),
        `${cpuUs <= served ? "−" : "+"}${fmt(Math.abs(served - cpuUs))} µs (${(((cpuUs - served) / served) * 100).toFixed(0)} %)`,
        (express / cpuUs).toFixed(2),
        (floor / cpuUs).toFixed(2),
        fmt(rps),
        ms(p99),
      ]);
    }
  }
  return {
    id: "ablation",
    title: "Ablation: what each part of the hot path costs",
    load: { before: loadBefore, after: load1() },
    data,
    body: [
      `Same set-up as the hot-path benchmark (Redis mode, token cached, ${s.hot.apiKeys} API keys, LOG_LEVEL=info), load from ${useWrk ? `wrk -t1 (C)` : "autocannon (wrk not available)"}${pinned ? `, the server on CPU ${plan.server} and the load generator on CPU ${plan.generator}` : ", not pinned"}. ` +
        `${s.ablation.rounds} round(s) of ${s.ablation.seconds} s per server after a warm-up, servers taken in turn within each round, each one alone on its CPU (started for its turn and stopped after it; the broker itself stays up). ` +
        "The figure compared is the server's CPU time per answered request (utime + stime ÷ requests; medians over the rounds): on a shared machine it is far steadier than requests/s. " +
        '"express ÷ this" and "node:http ÷ this" are the throughput ratios a dedicated core would show (targets ≥ 0.90 and ≥ 0.60).',
      table(
        [
          "connections",
          "server",
          "what differs",
          "CPU µs/request (median)",
          "each round",
          "vs broker (serve)",
          "express ÷ this",
          "node:http ÷ this",
          "requests/s (median)",
          "p99 ms (median)",
        ],
        rows,
      ),
    ],
  };
}
