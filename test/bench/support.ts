// What the benchmark smoke tests share: running bench/run.ts as a child process, and reading the markdown tables it
// prints.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBench(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--require", "tsx/cjs", join(ROOT, "bench", "run.ts"), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The markdown tables under a `### <title>` heading: each as its data rows' cells. */
export function tablesOf(stdout: string, title: string): string[][][] {
  const start = stdout.indexOf(`### ${title}`);
  assert.notEqual(start, -1, `no section "${title}" in the output:\n${stdout}`);
  const next = stdout.indexOf("\n### ", start + 1);
  const section = stdout.slice(start, next === -1 ? undefined : next);
  const tables: string[][][] = [];
  let current: string[][] | null = null;
  for (const line of section.split("\n")) {
    if (!line.startsWith("|")) {
      current = null;
      continue;
    }
    const cells = line
      .split("|")
      .slice(1, -1)
      .map((c) => c.trim());
    if (current === null) {
      current = [];
      tables.push(current);
      continue; // header row
    }
    if (cells.every((c) => /^-+$/.test(c))) continue; // separator row
    current.push(cells);
  }
  return tables;
}

export const NUMBER = /^-?[\d,]+(\.\d+)?\b/;

/** What a quick run printed, and each benchmark's data from its --json results by section id. */
export interface QuickRun {
  stdout: string;
  data(id: string): unknown;
}

/** Runs `sections` of bench/run.ts in quick mode on the sources (through tsx, as the other tests run them: no
 * compiling src/ for a smoke run), in a temporary directory removed afterwards; asserts it exited with 0. */
export async function runQuickBench(sections: string[], env: Record<string, string>): Promise<QuickRun> {
  const dir = mkdtempSync(join(tmpdir(), "wtb-bench-test-"));
  try {
    const json = join(dir, "results.json");
    const run = await runBench([...sections, "--json", json], { BENCH_QUICK: "1", BENCH_RUNTIME: "source", ...env });
    assert.equal(run.code, 0, `bench/run.ts ${sections.join(" ")} failed (${run.code}):\n${run.stderr.slice(-4000)}`);
    const results = JSON.parse(readFileSync(json, "utf8")) as { sections: Array<{ id: string; data: unknown }> };
    return { stdout: run.stdout, data: (id) => results.sections.find((s) => s.id === id)?.data };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
