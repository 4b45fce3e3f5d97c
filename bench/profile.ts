// On-demand: the hot-path load at 64 connections against a broker running under `node --cpu-prof`, and a summary of
// where its CPU time went during the measured window only (start-up and warm-up excluded). The raw profile is kept
// in bench/results/hot-broker.cpuprofile (open it in Chrome DevTools → Performance, or VS Code).
// BENCH_PROFILE_VARIANT=<flags> profiles bench/servers/broker-variant.ts with those flags instead of `serve` (e.g.
// "no-fast-path", to see where a hit's time goes when it goes through express).
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { startHotBroker, TOKEN_PATH } from "./hotPath";
import { summarizeProfile, type ProfileEntry } from "./lib/cpuprofile";
import { AUTH_HEADERS, benchAccount, brokerEnv } from "./lib/fixtures";
import { load } from "./lib/load";
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
  const name = variant === undefined ? "hot-broker.cpuprofile" : `hot-variant-${variant.replace(/[^a-z-]+/g, "+") || "as-served"}.cpuprofile`;
  const profArgs = ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}`];
  const started = await startHotBroker(s, rt, { name: "profile-broker", nodeArgs: variant === undefined ? profArgs : [] });
  let broker: Proc | undefined = started.broker;
  const extra: Proc[] = [];
  if (variant !== undefined) {
    const env = brokerEnv({ redisUrl: started.redis.url, sim: started.sim, accounts: [benchAccount("bench", "stable", 1)], workDir: rt.workDir, name: "profile-variant", apiKeys: s.hot.apiKeys, extra: { LOG_LEVEL: "info", BENCH_SRC: rt.srcDir, BENCH_VARIANT: variant } });
    extra.push(broker);
    broker = await spawnServer({ name: "profile-variant", args: rt.serverArgs("broker-variant"), nodeArgs: profArgs, env, readyPath: "/api/health/ready", logDir: rt.workDir });
  }
  let window: [number, number];
  let result;
  try {
    const url = `${broker.url}${TOKEN_PATH}`;
    await load({ url, connections: s.profile.connections, seconds: 2, headers: AUTH_HEADERS });
    const from = monoUs();
    const target = broker;
    result = await load({ url, connections: s.profile.connections, seconds: s.profile.seconds, headers: AUTH_HEADERS, cpuMs: () => target.cpuMs() });
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
  return {
    id: "profile",
    title: "Profile of the broker's hot path",
    load: { before: loadBefore, after: load1() },
    data: { load: result, profile: p },
    body: [
      `\`node --cpu-prof\` on ${variant === undefined ? "the broker" : `the ablation server with BENCH_VARIANT=${variant}`} (compiled build, same configuration as the hot-path benchmark), ${s.profile.connections} connections for ${s.profile.seconds} s after a 2 s warm-up; ` +
        `only samples from the measured window count. Under the profiler it answered ${fmt(result.rps)} requests/s (p99 ${ms(result.p99)} ms) using ${fmt(result.cpuUs)} µs of CPU per request. ` +
        `Busy (non-idle) ${fmt(p.busyMs)} ms of ${fmt(p.totalMs)} ms. Shares below are of busy time. Raw profile: \`bench/results/${name}\`.`,
      "Self time by package or source file:",
      table(["self", "where"], rows(p.selfByModule)),
      "Functions by self time:",
      table(["self", "function"], rows(p.selfByFunction)),
      "Functions by inclusive time (the function and everything it calls):",
      table(["inclusive", "function"], rows(p.inclusiveByFunction)),
    ],
  };
}
