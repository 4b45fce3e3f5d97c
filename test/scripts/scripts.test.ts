// Runs the bats suite of scripts/*.sh (test/scripts/*.bats) and shellcheck, so `npm test` covers the host
// tooling too. bats comes from the npm devDependency; shellcheck from the system (apt-get install shellcheck).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";

const ROOT = resolve(__dirname, "..", "..");
const BATS = join(ROOT, "node_modules", "bats", "bin", "bats");

function which(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** The environment the scripts run in: this node first on PATH (the fake docker is a node script). */
function scriptEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: [dirname(process.execPath), process.env.PATH ?? ""].join(delimiter) };
  // variables of the machine that would steer the scripts (the bats helpers unset them too)
  for (const name of ["CONTAINER_NAME", "BROKER_URL", "REDIS_CONTAINER", "DOCKER", "STATE_DIR", "SMTP_PASS", "SMTP_USER"]) {
    delete env[name];
  }
  return env;
}

const batsMissing = existsSync(BATS) ? false : "bats is not installed (npm ci installs the bats devDependency)";

void test("bats: test/scripts/*.bats (diagnose.sh, monitor.sh)", { skip: batsMissing, timeout: 20 * 60_000 }, (t) => {
  const r = spawnSync("bash", [BATS, "--tap", "test/scripts"], {
    cwd: ROOT,
    env: scriptEnv(),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  const passed = out.split("\n").filter((l) => /^ok \d+/.test(l)).length;
  const failed = out.split("\n").filter((l) => /^not ok \d+/.test(l));
  const plan = /^1\.\.(\d+)$/m.exec(out);
  t.diagnostic(`bats: ${passed} passed, ${failed.length} failed, plan ${plan?.[1] ?? "?"}`);
  assert.equal(r.error, undefined, String(r.error));
  assert.ok(plan && Number(plan[1]) > 0, `bats ran no test:\n${out}`);
  assert.equal(r.status, 0, `bats failed (${failed.join("; ")}):\n${out}`);
  assert.equal(passed, Number(plan[1]), out);
});

const shellcheckMissing = which("shellcheck") ? false : "shellcheck is not installed (apt-get install -y shellcheck)";

void test("shellcheck -S warning scripts/*.sh reports nothing", { skip: shellcheckMissing }, () => {
  const scripts = readdirSync(join(ROOT, "scripts"))
    .filter((f) => f.endsWith(".sh"))
    .map((f) => join("scripts", f));
  assert.ok(scripts.length >= 2, `expected scripts/*.sh, found ${scripts.join(", ")}`);
  const r = spawnSync("shellcheck", ["-S", "warning", ...scripts], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, `shellcheck:\n${r.stdout}${r.stderr}`);
  assert.equal(r.stdout.trim(), "");
});

void test("shellcheck -S warning on the test helpers and fake commands", { skip: shellcheckMissing }, () => {
  const files = ["test/scripts/helpers.bash", "test/scripts/fixtures/bin/docker", "test/scripts/fixtures/bin/ss"];
  const r = spawnSync("shellcheck", ["-S", "warning", "-s", "bash", ...files], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, `shellcheck:\n${r.stdout}${r.stderr}`);
});
