// Open-loop load at a fixed rate with bench/tools/openloop.c: requests due evenly spaced whatever the server does,
// each one's latency from when it was due (a request that waits for a free connection counts its wait). A C
// generator because the Node client used before measured its own pauses: bare node:http's p99 at the broker's
// half capacity read 17–34 ms through it, about 1 ms through this one (docs/benchmarks.md). The tool is compiled
// once per run with the machine's C compiler (scripts/ensure-bench-tools.sh installs one).
import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { rawRequest } from "./burst";
import { output } from "./command";
import type { LoadResult } from "./load";

const SOURCE = join(__dirname, "..", "tools", "openloop.c");

export interface OpenLoopResult extends LoadResult {
  /** Requests per second offered. */
  rate: number;
  /** Latencies in ms. */
  p90: number;
  p999: number;
  /** How late the generator sent the requests it could send at once (a connection was free), ms: its own share of
   * every latency. Large values mean the measurement, not the server, is off. */
  lagP99: number;
  lagMax: number;
  /** The generator's own pauses in the measured window (it lost the CPU for more than 0.3 ms): how many, and their
   * total in ms. In a pause it neither sends nor stamps answers, so every answer spanning one reads late. */
  pauses: number;
  pausedMs: number;
  /** Answers whose span from due to stamped overlaps a pause of the generator. */
  touched: number;
  /** p99 of each answer's latency less the generator's paused time within its span, ms: the tail without the
   * generator's own share. */
  lessPausesP99: number;
  /** With `stallMs`: the answers slower than it, grouped into stalls (slow answers due within 10 ms of each other). */
  stalls: Stall[];
  /** With `cpuMs`: the server's CPU time over the generator's run (warm-up included) ÷ that run's wall time. At a
   * fixed rate this is how busy the server's CPU was, which decides how long it takes to catch up after any pause. */
  cpuShare: number;
}

export interface Stall {
  /** When its first slow request was due: seconds of CLOCK_MONOTONIC, the clock of `perf record -k mono`. */
  due: number;
  requests: number;
  /** The slowest answer, ms. */
  worst: number;
}

export interface OpenLoopOptions {
  port: number;
  path: string;
  headers?: Record<string, string>;
  rate: number;
  seconds: number;
  connections: number;
  /** Answers slower than this (ms) are reported as stalls; none when absent. */
  stallMs?: number;
  /** Sent at the rate before the measured window, not counted. */
  warmupSeconds?: number;
  /** CPU list for `taskset -c` (see cpuPin.ts): where the generator runs. */
  cpus?: string;
  /** Where the compiled tool and the request file go. */
  dir: string;
  /** Handed the generator's process once it runs. */
  started?: (generator: ChildProcess) => void;
  /** The server process's CPU time so far, ms (Proc.cpuMs), to report its CPU per request and CPU share. */
  cpuMs?: () => number;
  /** Run the generator under the real-time scheduler (`chrt -f 1`; see `realtimeAllowed`), so the machine's ordinary
   * work on its CPU (kernel threads, agents) cannot pause it. */
  realtime?: boolean;
}

/** The prefix that starts a command under SCHED_FIFO at the lowest real-time priority. */
const REALTIME = ["chrt", "-f", "1"];
/** realtimeAllowed()'s answer, found once per process. */
let realtimeProbed: boolean | undefined;

/** Whether this process may start the generator under SCHED_FIFO (root, or CAP_SYS_NICE, and `chrt` installed). */
export function realtimeAllowed(): boolean {
  realtimeProbed ??= spawnSync(REALTIME[0]!, [...REALTIME.slice(1), "true"], { stdio: "ignore" }).status === 0;
  return realtimeProbed;
}

/** The binaries built by this process: compiled once per directory. */
const built = new Set<string>();

/** Compiles the generator into `dir` (once per directory); the path of the binary. */
export function openLoopTool(dir: string): string {
  const bin = join(dir, "openloop");
  if (built.has(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const r = spawnSync("cc", ["-O2", "-Wall", "-Wextra", "-Werror", "-o", bin, SOURCE], { encoding: "utf8" });
  if (r.error !== undefined)
    throw new Error("no C compiler (cc) for the open-loop generator: run scripts/ensure-bench-tools.sh (Debian package build-essential)");
  if (r.status !== 0) throw new Error(`cc failed to build ${SOURCE}:\n${r.stderr}`);
  built.add(bin);
  return bin;
}

interface Summary {
  requests: number;
  seconds: number;
  rate: number;
  errors: number;
  non2xx: number;
  bytes: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  lagP99: number;
  lagMax: number;
  pauses: number;
  pausedUs: number;
  touched: number;
  lessPausesP99: number;
  /** [due (s), requests, worst (µs)]. */
  stalls: Array<[number, number, number]>;
}

export async function openLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  const bin = openLoopTool(o.dir);
  const requestFile = join(o.dir, `request-${o.port}.http`);
  writeFileSync(requestFile, rawRequest({ method: "GET", port: o.port, path: o.path, headers: o.headers }));
  const args = ["-p", String(o.port), "-r", String(o.rate), "-d", String(o.seconds), "-c", String(o.connections)];
  args.push("-w", String(o.warmupSeconds ?? 0), "-f", requestFile);
  if (o.stallMs !== undefined) args.push("-s", String(o.stallMs));
  const cpuBefore = o.cpuMs?.() ?? NaN;
  const wallBefore = performance.now();
  const command = [...(o.cpus === undefined ? [] : ["taskset", "-c", o.cpus]), ...(o.realtime ? REALTIME : []), bin, ...args];
  const run = output(command[0]!, command.slice(1), o.started);
  const s = JSON.parse(await run) as Summary;
  const cpuMs = (o.cpuMs?.() ?? NaN) - cpuBefore;
  const wallMs = performance.now() - wallBefore;
  const ms = (us: number) => us / 1000;
  return {
    connections: o.connections,
    rate: s.rate,
    seconds: s.seconds,
    requests: s.requests,
    rps: s.requests / s.seconds,
    p50: ms(s.p50),
    p90: ms(s.p90),
    p99: ms(s.p99),
    p999: ms(s.p999),
    max: ms(s.max),
    mean: ms(s.mean),
    lagP99: ms(s.lagP99),
    lagMax: ms(s.lagMax),
    pauses: s.pauses,
    pausedMs: ms(s.pausedUs),
    touched: s.touched,
    lessPausesP99: ms(s.lessPausesP99),
    stalls: s.stalls.map(([due, requests, worst]) => ({ due, requests, worst: ms(worst) })),
    errors: s.errors,
    non2xx: s.non2xx,
    bytesPerResponse: s.requests > 0 ? s.bytes / s.requests : 0,
    // The requests of the warm-up are not counted by the tool; at a fixed rate they are the rate times its length.
    cpuUs: (cpuMs * 1000) / (s.requests + s.rate * (o.warmupSeconds ?? 0)),
    cpuShare: cpuMs / wallMs,
  };
}
