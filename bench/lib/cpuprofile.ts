// Summary of a V8 .cpuprofile (node --cpu-prof): where the CPU time went, by function (self and inclusive time)
// and by package or source file, so a profile can be read in a terminal and quoted in a report.
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { ROOT } from "./runtime";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  name: string;
  /** Share of busy (non-idle) time, 0–1. */
  share: number;
  ms: number;
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  totalMs: number;
  selfByFunction: ProfileEntry[];
  inclusiveByFunction: ProfileEntry[];
  selfByModule: ProfileEntry[];
}

/** "node_modules/<pkg>" (scoped packages included), a file of this repository, "node:internal", or "(V8/native)". */
function moduleOf(url: string): string {
  if (url === "") return "(V8 / native)";
  if (url.startsWith("node:")) return "node: internals";
  const path = url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("/node_modules/");
  if (nm !== -1) {
    const rest = path.slice(nm + "/node_modules/".length).split("/");
    return `npm: ${rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  return compactPath(path);
}

// Files of the private build (bench/results/run-<pid>/build/dist/x.js) read as src/x.
function compactPath(path: string): string {
  const m = /\/bench\/results\/run-\d+\/build\/dist\/(.*)$/.exec(path);
  if (m) return `src/${m[1]!.replace(/\.js$/, "")}`;
  const b = /\/bench\/results\/run-\d+\/build\/servers\/(.*)$/.exec(path);
  if (b) return `bench/servers/${b[1]!.replace(/\.js$/, "")}`;
  return relative(ROOT, path) || path;
}

function functionKey(f: CallFrame): string {
  const name = f.functionName || "(anonymous)";
  if (f.url === "") return name;
  const where = moduleOf(f.url);
  const file = f.url.includes("/node_modules/") ? compactPath(f.url.replace(/^file:\/\//, "")).replace(/^.*node_modules\//, "") : where;
  return `${name} (${file}:${f.lineNumber + 1})`;
}

const IDLE = new Set(["(idle)"]);

/**
 * `window`: only samples taken between these instants (µs of the monotonic clock, i.e. process.hrtime.bigint()/1000
 * in any process of this machine — V8 stamps samples with the same clock).
 */
export function summarizeProfile(file: string, opts: { top?: number; window?: [number, number] } = {}): ProfileSummary {
  const top = opts.top ?? 15;
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const modules = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  let at = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    at += p.timeDeltas[i] ?? 0;
    if (opts.window && (at < opts.window[0] || at > opts.window[1])) continue;
    const node = byId.get(p.samples[i]!);
    if (!node) continue;
    if (IDLE.has(node.callFrame.functionName)) {
      idle += dt;
      continue;
    }
    busy += dt;
    add(self, functionKey(node.callFrame), dt);
    add(modules, node.callFrame.functionName === "(garbage collector)" ? "(garbage collector)" : moduleOf(node.callFrame.url), dt);
    // Inclusive: each function once per sample, however often it recurs on the stack.
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (f.functionName === "(root)") continue;
      const k = functionKey(f);
      if (!seen.has(k)) {
        seen.add(k);
        add(inclusive, k, dt);
      }
    }
  }
  const rank = (m: Map<string, number>, n: number): ProfileEntry[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, v]) => ({ name, ms: v, share: busy > 0 ? v / busy : 0 }));
  return {
    busyMs: busy,
    idleMs: idle,
    totalMs: opts.window ? (opts.window[1] - opts.window[0]) / 1000 : (p.endTime - p.startTime) / 1000,
    selfByFunction: rank(self, top),
    inclusiveByFunction: rank(inclusive, top + 10),
    selfByModule: rank(modules, top),
  };
}
