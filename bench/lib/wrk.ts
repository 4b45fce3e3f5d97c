// Closed-loop HTTP load with wrk (C, event-driven): a generator far cheaper per request than autocannon, which runs
// in Node and on a 2-core machine can be the bottleneck instead of the server it measures. wrk's own summary is read
// through a Lua done() hook that prints one JSON line (wrk's latency histogram is in µs, so p99.9 comes for free);
// the request carries the same headers as the autocannon runs (the client API key).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { output } from "./command";
import type { LoadResult } from "./load";

export interface WrkResult extends LoadResult {
  threads: number;
  /** Latencies in ms. */
  p75: number;
  p90: number;
  p999: number;
  /** Socket errors: connect, read, write, timeout. */
  socketErrors: { connect: number; read: number; write: number; timeout: number };
}

export interface WrkOptions {
  url: string;
  connections: number;
  /** wrk takes whole seconds. */
  seconds: number;
  threads?: number;
  headers?: Record<string, string>;
  /** The server process's CPU time so far, ms (Proc.cpuMs), to report CPU per request. */
  cpuMs?: () => number;
  /** CPU list for `taskset -c` (see cpuPin.ts): where wrk runs. */
  cpus?: string;
}

const MARK = "WRK_SUMMARY ";

// Percentiles from wrk's own histogram (µs); summary.errors.status counts answers with a status above 399.
const DONE_SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  local p = function(q) return latency:percentile(q) end
  io.write(string.format('${MARK}{"requests":%d,"durationUs":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    p(50), p(75), p(90), p(99), p(99.9), latency.max, latency.mean))
end
`;

interface Summary {
  requests: number;
  durationUs: number;
  bytes: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50: number;
  p75: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

let available: boolean | undefined;

/** Whether a `wrk` binary is on the PATH (scripts/ensure-bench-tools.sh installs it). */
export function wrkAvailable(): boolean {
  available ??= spawnSync("wrk", ["--version"], { stdio: "ignore" }).error === undefined;
  return available;
}

/** The JSON line the done() hook printed, from wrk's whole stdout. */
export function parseWrkSummary(stdout: string): Summary {
  const line = stdout.split("\n").find((l) => l.startsWith(MARK));
  if (line === undefined) throw new Error(`wrk printed no summary line:\n${stdout.slice(-2000)}`);
  return JSON.parse(line.slice(MARK.length)) as Summary;
}

export async function wrk(o: WrkOptions): Promise<WrkResult> {
  if (!wrkAvailable())
    throw new Error("wrk is not installed: run scripts/ensure-bench-tools.sh (Debian package wrk), or set BENCH_HOT_WRK=0");
  const threads = o.threads ?? 1;
  const seconds = Math.max(1, Math.round(o.seconds));
  const dir = mkdtempSync(join(tmpdir(), "wtb-wrk-"));
  try {
    const script = join(dir, "done.lua");
    writeFileSync(script, DONE_SCRIPT);
    const args = [`-t${threads}`, `-c${o.connections}`, `-d${seconds}s`, "--timeout", "10s", "-s", script];
    for (const [k, v] of Object.entries(o.headers ?? {})) args.push("-H", `${k}: ${v}`);
    args.push(o.url);
    const [cmd, argv] = o.cpus === undefined ? ["wrk", args] : ["taskset", ["-c", o.cpus, "wrk", ...args]];
    const cpuBefore = o.cpuMs?.() ?? NaN;
    const stdout = await output(cmd, argv);
    const cpuAfter = o.cpuMs?.() ?? NaN;
    const s = parseWrkSummary(stdout);
    const durationS = s.durationUs / 1e6;
    const ms = (us: number) => us / 1000;
    return {
      connections: o.connections,
      threads,
      seconds: durationS,
      requests: s.requests,
      rps: s.requests / durationS,
      p50: ms(s.p50),
      p75: ms(s.p75),
      p90: ms(s.p90),
      p99: ms(s.p99),
      p999: ms(s.p999),
      max: ms(s.max),
      mean: ms(s.mean),
      errors: s.connect + s.read + s.write + s.timeout,
      socketErrors: { connect: s.connect, read: s.read, write: s.write, timeout: s.timeout },
      non2xx: s.status,
      bytesPerResponse: s.requests > 0 ? s.bytes / s.requests : 0,
      cpuUs: s.requests > 0 ? ((cpuAfter - cpuBefore) * 1000) / s.requests : NaN,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
