// How benchmark processes are started. Brokers run the COMPILED build, as in production: src/ is compiled with the
// project's build config into a private directory under bench/results/ (git-ignored), so dist/ — which the bin
// prefers, and which other people's tests would then run — is never created or touched.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import ts from "typescript";
import { BROKER_NODE_FLAGS } from "../../src/cli/nodeFlags";
import { freePort } from "../../test/helpers/ports";

export type ServerName = "bare-http" | "express-minimal" | "broker-variant";
const SERVERS: ServerName[] = ["bare-http", "express-minimal", "broker-variant"];

export const ROOT = resolve(__dirname, "..", "..");
export const RESULTS_DIR = join(ROOT, "bench", "results");
const BIN = join(ROOT, "bin", "wechat-token-broker.js");

export interface Runtime {
  kind: "compiled" | "source";
  /** Script that runs the CLI (node <script> serve …). */
  script: string;
  /** How to run one of bench/servers/*.ts: node arguments and script, compiled alike in compiled mode. */
  serverArgs(name: ServerName): string[];
  /** The broker's modules as this runtime runs them: the compiled dist/ or src/ (under tsx). */
  srcDir: string;
  /** Where logs and profiles of this run go (under bench/results/, git-ignored). */
  workDir: string;
  cleanup(): void;
}

export function prepareRuntime(kind: "compiled" | "source"): Runtime {
  const workDir = join(RESULTS_DIR, `run-${process.pid}`);
  mkdirSync(workDir, { recursive: true });
  const cleanupWork = () => rmSync(workDir, { recursive: true, force: true });
  const serverSource = (name: string) => join(ROOT, "bench", "servers", `${name}.ts`);
  if (kind === "source") {
    return {
      kind,
      script: BIN,
      workDir,
      cleanup: cleanupWork,
      srcDir: join(ROOT, "src"),
      serverArgs: (name) => ["--import", "tsx", serverSource(name)],
    };
  }

  const buildDir = join(workDir, "build");
  const started = Date.now();
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.build.json"), "--outDir", join(buildDir, "dist")], {
    cwd: ROOT,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`tsc build failed (${r.status}):\n${r.stdout}${r.stderr}`);
  // src/version.ts reads ../package.json relative to the compiled file; give the build its own copy.
  copyFileSync(join(ROOT, "package.json"), join(buildDir, "package.json"));
  // Same shape as bin/wechat-token-broker.js when dist/ exists. Modules resolve from the repository's node_modules.
  const script = join(buildDir, "launch.js");
  writeFileSync(script, `"use strict";\nrequire("./dist/cli/main.js").main(process.argv);\n`);
  // The comparison servers get the same treatment: plain CommonJS produced by the TypeScript compiler, laid out as in
  // bench/ so their relative imports resolve.
  const transpile = (from: string, to: string) => {
    const out = ts.transpileModule(readFileSync(from, "utf8"), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    writeFileSync(to, out.outputText);
  };
  mkdirSync(join(buildDir, "servers"), { recursive: true });
  for (const name of SERVERS) transpile(serverSource(name), join(buildDir, "servers", `${name}.js`));
  console.error(`bench: compiled src/ into ${buildDir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return {
    kind,
    script,
    workDir,
    cleanup: cleanupWork,
    srcDir: join(buildDir, "dist"),
    serverArgs: (name) => [join(buildDir, "servers", `${name}.js`)],
  };
}

export interface Proc {
  name: string;
  url: string;
  port: number;
  pid: number;
  proc: ChildProcess;
  /** spawn() → first successful readiness answer, ms. */
  readyMs: number;
  logFile: string;
  /** Resident set size now, bytes (from /proc). */
  rss(): number;
  /** Peak resident set size so far, bytes. */
  peakRss(): number;
  /** CPU time used so far (user + system, all threads), ms — 10 ms resolution. */
  cpuMs(): number;
  log(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

let clockTicks: number | undefined;

/** utime + stime of a process, ms. On a shared machine, CPU time per request is far steadier than throughput. */
export function processCpuMs(pid: number): number {
  clockTicks ??= Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return NaN;
  }
}

function procStatus(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function waitReady(url: string, proc: ChildProcess, deadlineMs: number, logFile: string): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`process exited early (${proc.exitCode ?? proc.signalCode}); log ${logFile}:\n${safeRead(logFile).slice(-4000)}`);
    }
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`${url} not ready after ${deadlineMs} ms; log ${logFile}:\n${safeRead(logFile).slice(-4000)}`);
    // Fine-grained polling: start-up time is one of the figures.
    await new Promise((r) => setTimeout(r, 10));
  }
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

export interface SpawnOptions {
  name: string;
  /** Arguments after `node`: the script and its arguments. */
  args: string[];
  env: Record<string, string>;
  nodeArgs?: string[];
  readyPath: string;
  logDir: string;
  readyTimeoutMs?: number;
  port?: number;
}

/** Starts a server process with stdout/stderr going to a log file, and waits until readyPath answers 200. */
export async function spawnServer(o: SpawnOptions): Promise<Proc> {
  const port = o.port ?? (await freePort());
  mkdirSync(o.logDir, { recursive: true });
  const logFile = join(o.logDir, `${o.name}.log`);
  const fd = openSync(logFile, "w");
  const spawnedAt = performance.now();
  const proc = spawn(process.execPath, [...(o.nodeArgs ?? []), ...o.args], {
    env: { PATH: process.env.PATH ?? "", NODE_ENV: "production", HOST: "127.0.0.1", PORT: String(port), ...o.env },
    stdio: ["ignore", fd, fd],
    cwd: ROOT,
  });
  closeSync(fd);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(`${url}${o.readyPath}`, proc, o.readyTimeoutMs ?? 30_000, logFile);
  } catch (err) {
    proc.kill("SIGKILL");
    throw err;
  }
  const readyMs = performance.now() - spawnedAt;
  const pid = proc.pid!;
  return {
    name: o.name,
    url,
    port,
    pid,
    proc,
    readyMs,
    logFile,
    rss: () => procStatus(pid, "VmRSS"),
    peakRss: () => procStatus(pid, "VmHWM"),
    cpuMs: () => processCpuMs(pid),
    log: () => safeRead(logFile),
    stop: (signal = "SIGTERM") =>
      new Promise((resolveStop) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolveStop(proc.exitCode);
        const killer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
        proc.once("exit", (code) => {
          clearTimeout(killer);
          resolveStop(code);
        });
        proc.kill(signal);
      }),
  };
}

/** Where BENCH_CPU_PROF=1 puts every broker's profile. */
export function profileDir(rt: Runtime): string {
  return join(rt.workDir, "profiles");
}

/**
 * Starts `wechat-token-broker serve` from the runtime with the given configuration, under the V8 flags production
 * passes (src/cli/nodeFlags.ts; BENCH_NODE_FLAGS=0 leaves them out). BENCH_CPU_PROF=1 profiles every
 * broker (--cpu-prof; the profile is written when it stops), for looking into any benchmark's figures.
 */
export function spawnBroker(
  rt: Runtime,
  name: string,
  env: Record<string, string>,
  opts: { nodeArgs?: string[]; readyTimeoutMs?: number } = {},
): Promise<Proc> {
  const nodeArgs = [...brokerNodeFlags(), ...(opts.nodeArgs ?? [])];
  if (process.env.BENCH_CPU_PROF === "1" && !nodeArgs.includes("--cpu-prof")) {
    nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${profileDir(rt)}`, `--cpu-prof-name=${name}.cpuprofile`);
  }
  return spawnServer({
    name,
    args: [rt.script, "serve"],
    env: { LOG_LEVEL: "info", ...env },
    nodeArgs,
    readyPath: "/api/health/ready",
    logDir: rt.workDir,
    readyTimeoutMs: opts.readyTimeoutMs,
  });
}

/** The V8 flags broker processes run under: production's (the container's CMD), or none with BENCH_NODE_FLAGS=0 (to
 * measure what they change). */
export function brokerNodeFlags(): string[] {
  return process.env.BENCH_NODE_FLAGS === "0" ? [] : [...BROKER_NODE_FLAGS];
}

/** Stops every process, in parallel; never throws. */
export async function stopAll(procs: Array<Proc | undefined>): Promise<void> {
  await Promise.all(procs.filter((p): p is Proc => p !== undefined).map((p) => p.stop().catch(() => null)));
}
