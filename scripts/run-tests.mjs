#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner through tsx. Node 20's --test takes no globs,
// so the files are listed here. Extra arguments are substrings that select test files; --list prints the files in
// the order they run, and runs nothing.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? find(p) : p.endsWith(".test.ts") ? [p] : [];
  });
}

const list = process.argv.includes("--list");
const filters = process.argv.slice(2).filter((a) => a !== "--list");
// The benchmark smoke tests (test/bench) take about a minute and print nothing meanwhile: run them last, so the
// run shows results from the start.
const slowLast = (f) => (f.startsWith(join("test", "bench")) ? 1 : 0);
const files = find("test")
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort()
  .sort((a, b) => slowLast(a) - slowLast(b));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(1);
}
if (list) {
  console.log(files.join("\n"));
  process.exit(0);
}
const concurrency = process.env.TEST_CONCURRENCY ?? "2";
const r = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", `--test-concurrency=${concurrency}`, "--test-reporter=spec", ...files],
  { stdio: "inherit", env: { ...process.env, NODE_ENV: "test" } },
);
process.exit(r.status ?? 1);
