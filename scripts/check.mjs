#!/usr/bin/env node
// `npm test`'s static checks, side by side: the type check, eslint, prettier and the OpenAPI lint share nothing, and
// one after the other they took over a minute of CI's ten on a slow machine. Each one's output is printed whole when
// it ends (never interleaved), and the run fails when any of them does. The same checks one at a time:
// `npm run typecheck`, `npm run lint`.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** package.json scripts: the commands are written there once. */
const CHECKS = ["typecheck", "lint:eslint", "format:check", "lint:openapi"];

function run(name) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn("npm", ["run", "--silent", name], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    let reported = false;
    // A command that cannot start emits "error" and may still emit "close": reported once.
    const done = (ok, extra = "") => {
      if (reported) return;
      reported = true;
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(`\n== ${name}: ${ok ? "ok" : "FAILED"} (${seconds} s)\n${out}${extra}`);
      resolve(ok);
    };
    child.on("error", (err) => done(false, `npm run ${name}: ${err.message}\n`));
    child.on("close", (code) => done(code === 0));
  });
}

const results = await Promise.all(CHECKS.map(run));
const failed = CHECKS.filter((_, i) => !results[i]);
if (failed.length > 0) {
  console.error(`\nchecks failed: ${failed.join(", ")}`);
  process.exit(1);
}
