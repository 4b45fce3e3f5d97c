#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner through tsx's CommonJS hook (the sources are CommonJS;
// `--import tsx` would also start an ES module loader thread in every test process, ~0.3 s of CPU each). Node 20's
// --test takes no globs, so the files are listed here. Extra arguments are substrings that select test files;
// --list prints the files in the order they run, and runs nothing; --unit keeps the fast tier only (see isUnit).
// The broker and CLI processes the tests start run from a build made once per run (scripts/test-build.mjs);
// WTB_TEST_BIN tells the tests where its launcher is.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { buildForTests } from "./test-build.mjs";

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? find(p) : p.endsWith(".test.ts") ? [p] : [];
  });
}

/** What makes a test file slow: a redis-server, a Redis Cluster, broker or CLI processes, a Prometheus, bats. */
const SLOW =
  /helpers\/(fixtures|redis|redisCluster|processes)["']|hardening\/harness|ops\/helpers|policy\/cluster|\.\/support["']|child_process|spawn\(|promtool|prometheus/;

/**
 * The unit tier (`npm run test:unit`): files that start no redis-server and no process, neither themselves nor
 * through the local helpers they import (followed one level, which is how the helpers are used).
 */
function isUnit(file) {
  const text = readFileSync(file, "utf8");
  if (SLOW.test(text)) return false;
  for (const m of text.matchAll(/from "(\.{1,2}\/[^"]+)"/g)) {
    const target = resolve(dirname(file), m[1]);
    if (!target.startsWith(resolve("test"))) continue;
    for (const candidate of [target, `${target}.ts`]) {
      try {
        if (SLOW.test(readFileSync(candidate, "utf8"))) return false;
        break;
      } catch {
        // not that spelling
      }
    }
  }
  return true;
}

const list = process.argv.includes("--list");
const unit = process.argv.includes("--unit");
const filters = process.argv.slice(2).filter((a) => a !== "--list" && a !== "--unit");
// The benchmark smoke tests (test/bench) take about a minute and print nothing meanwhile: run them last, so the
// run shows results from the start.
const slowLast = (f) => (f.startsWith(join("test", "bench")) ? 1 : 0);
const files = find("test")
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .filter((f) => !unit || isUnit(f))
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
const bin = await buildForTests();
const r = spawnSync(
  process.execPath,
  ["--require", "tsx/cjs", "--test", `--test-concurrency=${concurrency}`, "--test-reporter=spec", ...files],
  { stdio: "inherit", env: { ...process.env, NODE_ENV: "test", WTB_TEST_BIN: bin } },
);
process.exit(r.status ?? 1);
