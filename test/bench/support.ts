// What the benchmark smoke tests share: running bench/run.ts as a child process, and reading the markdown tables it
// prints.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runBench(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "bench", "run.ts"), ...args], {
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
