// Markdown output: tables, number formats, the machine description, and the generated blocks of docs/benchmarks.md.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem, type as osType } from "node:os";
import { join } from "node:path";
import { ROOT } from "./runtime";

export type BenchId = "hot" | "storm" | "soak" | "accounts" | "profile" | "ablation" | "economy";

export interface Section {
  id: BenchId;
  title: string;
  /** Markdown paragraphs/tables, in order. */
  body: string[];
  /** Raw figures, for --json and the test. */
  data: unknown;
  /** Load average (1 min) when the benchmark started and ended: other work on the machine shows here. */
  load?: { before: number; after: number };
}

export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.map((c) => String(c)).join(" | ")} |`;
  return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Fixed decimals, thousands separated by a thin comma for readability of large counts. */
export function fmt(n: number, decimals = 0): string {
  if (!Number.isFinite(n)) return "n/a";
  return n.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

export function ms(n: number): string {
  if (!Number.isFinite(n)) return "n/a";
  return n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0);
}

export function mb(bytes: number): string {
  return Number.isFinite(bytes) ? (bytes / 1024 / 1024).toFixed(1) : "n/a";
}

export function verdict(ok: boolean): string {
  return ok ? "✅ met" : "❌ missed";
}

export function load1(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}

export function machine(): { cpu: string; cores: number; memoryGiB: number; node: string; os: string; commit: string } {
  const list = cpus();
  const model = list[0]?.model.trim() ?? "unknown CPU";
  const speed = list[0]?.speed ? ` @ ${list[0].speed} MHz` : "";
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: ROOT, encoding: "utf8" }).trim() !== "";
    if (dirty) commit += " + uncommitted changes in src/";
  } catch {
    // not a git checkout
  }
  return {
    cpu: `${model}${speed}`,
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    os: `${osType()} ${release()}`,
    commit,
  };
}

export function machineLine(m: ReturnType<typeof machine>): string {
  return `${m.cores} × ${m.cpu}, ${m.memoryGiB} GiB RAM, ${m.os}, Node ${m.node}, commit ${m.commit}`;
}

export function renderSection(s: Section, meta: { date: string; command: string; machine: string }): string {
  const load = s.load ? ` Load average (1 min) ${s.load.before} before, ${s.load.after} after.` : "";
  return [`### ${s.title}`, `_Measured ${meta.date} with \`${meta.command}\` on ${meta.machine}.${load}_`, ...s.body].join("\n\n");
}

export const DOC = join(ROOT, "docs", "benchmarks.md");

const begin = (id: string) => `<!-- BEGIN GENERATED bench:${id} (npm run bench -- --write) -->`;
const end = (id: string) => `<!-- END GENERATED bench:${id} -->`;

/** Replaces each section's generated block in docs/benchmarks.md (appending blocks that are missing). */
export function writeDoc(blocks: Array<{ id: string; markdown: string }>, file = DOC): void {
  let text = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n";
  for (const b of blocks) {
    const block = `${begin(b.id)}\n\n${b.markdown}\n\n${end(b.id)}`;
    const i = text.indexOf(begin(b.id));
    const j = text.indexOf(end(b.id));
    if (i !== -1 && j > i) text = text.slice(0, i) + block + text.slice(j + end(b.id).length);
    else text = `${text.trimEnd()}\n\n${block}\n`;
  }
  writeFileSync(file, text.endsWith("\n") ? text : `${text}\n`);
}

/** The middle value (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}
