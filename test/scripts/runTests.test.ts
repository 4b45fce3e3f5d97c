// `npm test`'s runner: the slow benchmark smoke test runs last, so the run prints results from the start instead of
// nothing for about a minute; the processes the tests start run from one build made for the run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

const ROOT = join(__dirname, "..", "..");

test("the benchmark smoke tests run after every other test file", () => {
  const r = spawnSync(process.execPath, ["scripts/run-tests.mjs", "--list"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const files = r.stdout.trim().split("\n");
  assert.ok(files.length > 50, r.stdout);
  const bench = files.map((f, i) => [f, i] as const).filter(([f]) => f.startsWith("test/bench/"));
  assert.ok(bench.length > 0, "the benchmark smoke test is listed");
  assert.ok(
    bench.every(([, i]) => i >= files.length - bench.length),
    `bench files are not last:\n${files.join("\n")}`,
  );
  assert.ok(files.indexOf("test/broker/breaker.test.ts") < files.indexOf("test/http/auth.test.ts"), "the others keep their order");
});

test("the unit tier keeps the files that start no redis-server and no process, directly or through their helpers", () => {
  const r = spawnSync(process.execPath, ["scripts/run-tests.mjs", "--unit", "--list"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const files = r.stdout.trim().split("\n");
  for (const f of [
    "test/broker/policy.test.ts",
    "test/broker/policyModel.test.ts",
    "test/wechat/errcodes.test.ts",
    "test/config/settings.test.ts",
  ])
    assert.ok(files.includes(f), `${f} is a unit test`);
  // Redis through the shared fixture, serve processes, Redis through a helper one import away, bats.
  for (const f of [
    "test/broker/cluster.test.ts",
    "test/policy/reportsAreCheckedBeforeAnythingRotates.test.ts",
    "test/broker/ceiling.test.ts",
    "test/scripts/scripts.test.ts",
  ]) {
    assert.ok(!files.includes(f), `${f} is not a unit test`);
  }
});

test("the run's build is the checkout's launcher beside a compiled dist/, and the tests are told where it is", () => {
  const bin = process.env.WTB_TEST_BIN;
  if (bin === undefined) {
    assert.equal(process.env.NODE_ENV, undefined, "scripts/run-tests.mjs sets WTB_TEST_BIN whenever it sets NODE_ENV");
    return;
  }
  const build = dirname(dirname(bin));
  assert.equal(readFileSync(bin, "utf8"), readFileSync(join(ROOT, "bin", "wechat-token-broker.js"), "utf8"));
  assert.ok(existsSync(join(build, "dist", "cli", "main.js")), "the launcher finds the compiled CLI, not the sources");
  const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  const r = spawnSync(process.execPath, [bin, "--version"], { encoding: "utf8" });
  assert.equal(r.stdout.trim(), version, r.stderr);
});
