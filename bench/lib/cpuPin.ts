// CPU pinning for the hot path: the server under test on one CPU, the load generator on another, so neither takes
// the other's core (a load generator that shares the server's core measures itself). Uses `taskset` (util-linux)
// when it exists and the machine has at least two CPUs; otherwise nothing is pinned and the plan says so.
import { spawnSync } from "node:child_process";

export interface PinPlan {
  /** CPU list (taskset -c syntax) for the servers, and for the load generator; undefined: not pinned. */
  server?: string;
  generator?: string;
  /** What was pinned where, or why nothing was. */
  note: string;
}

function tasksetAvailable(): boolean {
  return spawnSync("taskset", ["--version"], { stdio: "ignore" }).error === undefined;
}

/** The last CPU this process may use for the servers, the first for the generator. BENCH_PIN=0 turns pinning off. */
export function pinPlan(env: NodeJS.ProcessEnv = process.env): PinPlan {
  if (env.BENCH_PIN === "0") return { note: "not pinned (BENCH_PIN=0)" };
  if (!tasksetAvailable()) return { note: "not pinned (no taskset on the PATH)" };
  // The CPUs this process may run on (a container's cpuset may be fewer than the machine has).
  let allowed: number[];
  try {
    allowed = expandCpuList(affinityOf(process.pid));
  } catch {
    return { note: "not pinned (taskset could not read this process's CPUs)" };
  }
  if (allowed.length < 2) return { note: `not pinned (${allowed.length} CPU available)` };
  return { server: String(allowed[allowed.length - 1]), generator: String(allowed[0]), note: "" };
}

/** "0-2,5" → [0, 1, 2, 5]. */
export function expandCpuList(list: string): number[] {
  return list.split(",").flatMap((part) => {
    const [from, to] = part.split("-").map(Number) as [number, number | undefined];
    return to === undefined ? [from] : Array.from({ length: to - from + 1 }, (_, i) => from + i);
  });
}

/** The CPU list a process may run on now (to restore it later). */
export function affinityOf(pid: number): string {
  const r = spawnSync("taskset", ["-pc", String(pid)], { encoding: "utf8" });
  const m = /:\s*([\d,-]+)\s*$/.exec(r.stdout ?? "");
  if (r.status !== 0 || !m) throw new Error(`taskset -pc ${pid} failed: ${r.stderr}`);
  return m[1]!;
}

/** Pins every thread of a running process (Node's libuv and GC threads included) to the CPU list. */
export function pin(pid: number, cpuList: string): void {
  const r = spawnSync("taskset", ["-a", "-pc", cpuList, String(pid)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`taskset -a -pc ${cpuList} ${pid} failed: ${r.stderr}`);
}
