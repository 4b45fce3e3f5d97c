// On demand: what each part of the broker's HTTP stack costs on the hot path. Every variant is the real broker code in
// its own process (bench/servers/broker-variant.ts) with one part left out; the real `serve` and the minimal express
// app (the yardstick) are measured alongside. Variants are loaded in turn, round after round, so drifting background
// load spreads over all of them; the table shows the median of the rounds.
import { startHotBroker, TOKEN_PATH } from "./hotPath";
import { AUTH_HEADERS, benchAccount, brokerEnv } from "./lib/fixtures";
import { load, type LoadResult } from "./lib/load";
import { fmt, load1, ms, table, type Section } from "./lib/report";
import { spawnServer, stopAll, type Proc, type Runtime } from "./lib/runtime";
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
];

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export async function runAblation(s: Settings, rt: Runtime): Promise<Section> {
  const loadBefore = load1();
  const started = await startHotBroker(s, rt, { name: "ablation-broker" });
  const procs: Proc[] = [started.broker];
  const servers: Array<{ name: string; what: string; proc: Proc }> = [];
  const runs = new Map<string, LoadResult[]>();
  try {
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
    const express = await spawnServer({
      name: "ablation-express",
      args: rt.serverArgs("express-minimal"),
      env: { BENCH_BODY: started.body },
      readyPath: "/ready",
      logDir: rt.workDir,
    });
    procs.push(express);
    servers.push({ name: "express (yardstick)", what: "bench/servers/express-minimal.ts", proc: express });
    servers.push({ name: "broker (serve)", what: "the real `serve` process", proc: started.broker });
    for (const v of VARIANTS) {
      const p = await spawnServer({
        name: `ablation-${v.flags || "as-served"}`.replace(/,/g, "+"),
        args: rt.serverArgs("broker-variant"),
        env: { ...env, BENCH_VARIANT: v.flags },
        readyPath: "/api/health/ready",
        logDir: rt.workDir,
      });
      procs.push(p);
      servers.push({ name: v.name, what: v.what, proc: p });
    }
    for (let round = 0; round < s.ablation.rounds; round++) {
      for (const connections of s.ablation.connections) {
        for (const srv of servers) {
          const url = `${srv.proc.url}${TOKEN_PATH}`;
          await load({ url, connections, seconds: Math.min(2, s.ablation.seconds), headers: AUTH_HEADERS });
          const r = await load({ url, connections, seconds: s.ablation.seconds, headers: AUTH_HEADERS, cpuMs: () => srv.proc.cpuMs() });
          if (r.non2xx + r.errors > 0) throw new Error(`${srv.name}: ${r.non2xx} non-2xx, ${r.errors} errors (log ${srv.proc.logFile})`);
          const key = `${connections} ${srv.name}`;
          runs.set(key, [...(runs.get(key) ?? []), r]);
          console.error(`bench ablation: round ${round + 1} ${key}: ${fmt(r.rps)} req/s p99 ${ms(r.p99)} ms`);
        }
      }
    }
  } finally {
    await stopAll(procs);
    await started.sim.close();
    await started.redis.close();
  }

  const rows: Array<Array<string | number>> = [];
  const data: Array<{ connections: number; server: string; rps: number; cpuUs: number; p50: number; p99: number; rounds: number[] }> = [];
  for (const connections of s.ablation.connections) {
    const cpuOf = (name: string) => median((runs.get(`${connections} ${name}`) ?? []).map((r) => r.cpuUs));
    const express = cpuOf("express (yardstick)");
    const served = cpuOf("broker (serve)");
    for (const srv of servers) {
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
      `Same set-up as the hot-path benchmark (Redis mode, token cached, ${s.hot.apiKeys} API keys, LOG_LEVEL=info). ${s.ablation.rounds} round(s) of ${s.ablation.seconds} s per server after a warm-up, servers taken in turn within each round. ` +
        "The figure compared is the server's CPU time per answered request (utime + stime ÷ requests; medians over the rounds): on a shared machine it is far steadier than requests/s. " +
        '"express ÷ this" is the throughput ratio to the minimal express app that a dedicated core would show (target ≥ 0.90).',
      table(
        [
          "connections",
          "server",
          "what differs",
          "CPU µs/request (median)",
          "each round",
          "vs broker (serve)",
          "express ÷ this",
          "requests/s (median)",
          "p99 ms (median)",
        ],
        rows,
      ),
    ],
  };
}
