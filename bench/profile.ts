// On-demand: the hot-path load at 64 connections against a broker running under `node --cpu-prof`, and a summary of
// where its CPU time went during the measured window only (start-up and warm-up excluded), by function, by file and
// by concern of a token hit (auth, metrics, request id, node:http …) in µs per request. The load comes from wrk
// when it is installed (the broker and wrk pinned to different CPUs, as in the hot-path benchmark), else from
// autocannon. The raw profile is kept in bench/results/hot-broker.cpuprofile (Chrome DevTools → Performance, or VS Code).
// BENCH_PROFILE_VARIANT=<flags> profiles bench/servers/broker-variant.ts with those flags instead of `serve` (e.g.
// "no-fast-path", to see where a hit's time goes when it goes through express).
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { startHotBroker, TOKEN_PATH } from "./hotPath";
import { summarizeProfile, type ProfileEntry } from "./lib/cpuprofile";
import { AUTH_HEADERS, benchAccount, brokerEnv } from "./lib/fixtures";
import { pin, pinPlan } from "./lib/cpuPin";
import { load, type LoadResult } from "./lib/load";
import { wrk, wrkAvailable } from "./lib/wrk";
import { fmt, load1, ms, table, type Section } from "./lib/report";
import { RESULTS_DIR, spawnServer, stopAll, type Proc, type Runtime } from "./lib/runtime";
import type { Settings } from "./lib/settings";

function monoUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

function rows(entries: ProfileEntry[]): Array<Array<string | number>> {
  return entries.map((e) => [`${(e.share * 100).toFixed(1)} %`, e.name.replace(/\|/g, "\\|")]);
}

export async function runProfile(s: Settings, rt: Runtime): Promise<Section> {
  const loadBefore = load1();
  const dir = join(rt.workDir, "profiles");
  mkdirSync(dir, { recursive: true });
  const variant = process.env.BENCH_PROFILE_VARIANT;
  const name =
    variant === undefined ? "hot-broker.cpuprofile" : `hot-variant-${variant.replace(/[^a-z-]+/g, "+") || "as-served"}.cpuprofile`;
  const profArgs = ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}`];
  const started = await startHotBroker(s, rt, { name: "profile-broker", nodeArgs: variant === undefined ? profArgs : [] });
  let broker: Proc | undefined = started.broker;
  const extra: Proc[] = [];
  if (variant !== undefined) {
    const env = brokerEnv({
      redisUrl: started.redis.url,
      sim: started.sim,
      accounts: [benchAccount("bench", "stable", 1)],
      workDir: rt.workDir,
      name: "profile-variant",
      apiKeys: s.hot.apiKeys,
      extra: { LOG_LEVEL: "info", BENCH_SRC: rt.srcDir, BENCH_VARIANT: variant },
    });
    extra.push(broker);
    broker = await spawnServer({
      name: "profile-variant",
      args: rt.serverArgs("broker-variant"),
      nodeArgs: profArgs,
      env,
      readyPath: "/api/health/ready",
      logDir: rt.workDir,
    });
  }
  let window: [number, number];
  let result: LoadResult;
  const useWrk = wrkAvailable() && process.env.BENCH_HOT_WRK !== "0";
  const plan = useWrk ? pinPlan() : { note: "not pinned (autocannon runs in this process)" };
  let pinning = plan.note;
  try {
    const url = `${broker.url}${TOKEN_PATH}`;
    const connections = s.profile.connections;
    const target = broker;
    let wrkCpus: string | undefined;
    if (useWrk && plan.server !== undefined) {
      try {
        pin(target.pid, plan.server);
        wrkCpus = plan.generator;
        pinning = `broker (all threads) on CPU ${plan.server}, wrk on CPU ${plan.generator}`;
      } catch (err) {
        pinning = `not pinned (${err instanceof Error ? err.message.split("\n")[0] : String(err)})`;
      }
    }
    const drive = (seconds: number, cpuMs?: () => number) =>
      useWrk
        ? wrk({ url, connections, seconds, threads: s.hot.wrk.threads, headers: AUTH_HEADERS, cpus: wrkCpus, cpuMs })
        : load({ url, connections, seconds, headers: AUTH_HEADERS, cpuMs });
    await drive(2);
    const from = monoUs();
    result = await drive(s.profile.seconds, () => target.cpuMs());
    window = [from, monoUs()];
    await broker.stop(); // the profile is written as the process exits
    broker = undefined;
  } finally {
    await stopAll([broker, ...extra]);
    await started.sim.close();
    await started.redis.close();
  }
  const file = join(dir, name);
  if (!existsSync(file)) throw new Error(`no profile written at ${file}`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const kept = join(RESULTS_DIR, name);
  copyFileSync(file, kept);
  const p = summarizeProfile(file, { top: 20, window });
  const generator = useWrk
    ? `wrk -t${s.hot.wrk.threads} -c${s.profile.connections} -d${s.profile.seconds}s`
    : `autocannon, ${s.profile.connections} connections for ${s.profile.seconds} s`;
  // Main-thread (sampled) time per answered request; the process's CPU per request also counts GC helper threads.
  const usPerRequest = (e: ProfileEntry) => (result.requests > 0 ? (e.ms * 1000) / result.requests : NaN);
  return {
    id: "profile",
    title: "Profile of the broker's hot path",
    load: { before: loadBefore, after: load1() },
    data: { load: result, generator, pinning, profile: p },
    body: [
      `\`node --cpu-prof\` on ${variant === undefined ? "the broker" : `the ablation server with BENCH_VARIANT=${variant}`} (compiled build, same configuration as the hot-path benchmark), load from ${generator} after a 2 s warm-up (${pinning}); ` +
        `only samples from the measured window count. Under the profiler it answered ${fmt(result.rps)} requests/s (p99 ${ms(result.p99)} ms) using ${fmt(result.cpuUs)} µs of CPU per request. ` +
        `Busy (non-idle) ${fmt(p.busyMs)} ms of ${fmt(p.totalMs)} ms. Shares below are of busy time. Raw profile: \`bench/results/${name}\`.`,
      "Where a token hit's time goes, by concern: each sample is charged to the innermost broker part on its stack (so the setHeader of the request id counts as request id, the writev of the answer as node:http's write); samples with no broker frame are node:http's own work. µs per request: sampled main-thread time ÷ requests answered.",
      table(
        ["share", "µs per request", "concern"],
        p.byConcern.map((e) => [`${(e.share * 100).toFixed(1)} %`, usPerRequest(e).toFixed(1), e.name]),
      ),
      "Self time by package or source file:",
      table(["self", "where"], rows(p.selfByModule)),
      "Functions by self time:",
      table(["self", "function"], rows(p.selfByFunction)),
      "Functions by inclusive time (the function and everything it calls):",
      table(["inclusive", "function"], rows(p.inclusiveByFunction)),
    ],
  };
}
