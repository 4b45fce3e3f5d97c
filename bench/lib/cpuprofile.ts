// Summary of a V8 .cpuprofile (node --cpu-prof): where the CPU time went, by function (self and inclusive time)
// and by package or source file, so a profile can be read in a terminal and quoted in a report.
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { ROOT } from "./runtime";

export interface CallFrame {
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
  /** Every busy sample charged to one concern of a token hit (see concernOf), largest first. */
  byConcern: ProfileEntry[];
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

// The broker's own parts, by the file a frame is in: a sample is charged to the innermost of them on its stack, so
// what node:http does on their behalf (setHeader for the request id, the writev of writeJson's answer) counts with
// the part that asked for it.
const OWN_PARTS: Array<[RegExp, string]> = [
  [/^src\/http\/auth$/, "auth: SHA-256 of the key, a remembered digest, else timingSafeEqual against every key (Authenticator)"],
  [
    /^(src\/ops\/(metrics|localHistogram|pendingCounts)|npm: prom-client)$/,
    "metrics: counts and histogram buckets in plain numbers (observeHttp, observeAccountToken, tokenRequest)",
  ],
  [/^src\/http\/requestLog$/, "request id: randomUUID (requestIdOf)"],
  [/^(src\/logger|npm: pino.*)$/, "logging (pino)"],
  [/^src\/http\/routes\/token$/, "token answer: the body, serialised when the token or the millisecond changed (tokenJson)"],
  [/^src\/(broker|clock|store)\b/, "token cache lookup (TokenService.cachedToken, view, clock)"],
  [/^src\/http\/(fastPath|route)$/, "route pipeline: fast-path match, RouteCall (timing, account check, authorisation, metrics call)"],
  [/^npm: (express|router|body-parser|finalhandler|send|on-finished|path-to-regexp)$/, "express"],
];

const WRITE_FILES = /^node:(_http_outgoing|net|internal\/stream_base_commons|internal\/streams\/writable|buffer)$/;
const PARSE_FILES = /^node:(_http_server|_http_incoming|_http_common|internal\/streams\/readable|events)$/;

/** The concern a sample's CPU time belongs to; `stack` runs from the sampled (leaf) frame to the root. */
export function concernOf(stack: CallFrame[]): string {
  const leaf = stack[0];
  if (leaf === undefined) return "other";
  if (leaf.functionName === "(garbage collector)") return "garbage collector";
  for (const f of stack) {
    if (f.url === "" || f.url.startsWith("node:")) continue;
    // Compiled (src/x) or through tsx (src/x.ts): the same part.
    const where = moduleOf(f.url).replace(/\.[cm]?[jt]s$/, "");
    if (where === "src/http/errors") {
      // writeJson's own time is JSON.stringify and the header object; below it, node:http writes the answer.
      return f === leaf
        ? "writeJson: JSON.stringify + header object (writeText: the header object)"
        : "node:http: writeHead, headers, end, writev system call (the answer)";
    }
    for (const [re, name] of OWN_PARTS) if (re.test(where)) return name;
    return `other: ${where}`;
  }
  // No broker frame on the stack: node:http's own work before and after the handler.
  for (const f of stack) {
    if (f.functionName === "writev" || f.functionName === "writeUtf8String" || f.functionName === "writeBuffer")
      return "node:http: writeHead, headers, end, writev system call (the answer)";
    if (WRITE_FILES.test(f.url)) return "node:http: writeHead, headers, end, writev system call (the answer)";
    if (PARSE_FILES.test(f.url)) return "node:http: socket read, request parse, req/res objects";
    if (f.url === "node:internal/timers" || f.url === "node:timers") return "timers (keep-alive and connection checks)";
  }
  if (leaf.functionName === "(program)") return "V8 / native, unattributed ((program))";
  return "other node internals / event loop";
}

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
  const concerns = new Map<string, number>();
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
    const stack: CallFrame[] = [];
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (f.functionName === "(root)") continue;
      stack.push(f);
      const k = functionKey(f);
      if (!seen.has(k)) {
        seen.add(k);
        add(inclusive, k, dt);
      }
    }
    add(concerns, concernOf(stack), dt);
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
    byConcern: rank(concerns, concerns.size),
  };
}
