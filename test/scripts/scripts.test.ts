// Runs the bats suite of scripts/*.sh (test/scripts/*.bats) and shellcheck, so `npm test` covers the host
// tooling too. bats comes from the npm devDependency; shellcheck from the system (apt-get install shellcheck).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
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

/** One bats file's run: its exit status and everything it printed (TAP on stdout). */
function runBats(file: string): Promise<{ status: number | null; error?: Error; out: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", [BATS, "--tap", file], { cwd: ROOT, env: scriptEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (out += d.toString("utf8")));
    child.on("error", (error) => resolve({ status: null, error, out }));
    child.on("close", (status) => resolve({ status, out }));
  });
}

void test("bats: test/scripts/*.bats (diagnose.sh, monitor.sh)", { skip: batsMissing, timeout: 20 * 60_000 }, async (t) => {
  const files = readdirSync(join(ROOT, "test", "scripts"))
    .filter((f) => f.endsWith(".bats"))
    .map((f) => join("test", "scripts", f));
  assert.ok(files.length >= 2, `expected test/scripts/*.bats, found ${files.join(", ")}`);
  // The files share nothing (each test has its own temporary directory, stubs on free ports): side by side, they take
  // as long as the longer one, which is the longest single test of the run otherwise.
  const runs = await Promise.all(files.map(runBats));
  for (const [i, { status, error, out }] of runs.entries()) {
    const passed = out.split("\n").filter((l) => /^ok \d+/.test(l)).length;
    const failed = out.split("\n").filter((l) => /^not ok \d+/.test(l));
    const plan = /^1\.\.(\d+)$/m.exec(out);
    t.diagnostic(`${files[i]}: ${passed} passed, ${failed.length} failed, plan ${plan?.[1] ?? "?"}`);
    assert.equal(error, undefined, String(error));
    assert.ok(plan && Number(plan[1]) > 0, `${files[i]} ran no test:\n${out}`);
    assert.equal(status, 0, `${files[i]} failed (${failed.join("; ")}):\n${out}`);
    assert.equal(passed, Number(plan[1]), out);
  }
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
