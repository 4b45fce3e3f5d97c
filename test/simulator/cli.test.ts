// The `simulator` subcommand: loading --apps files, and a real process that serves, then stops cleanly on SIGTERM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAppsFile } from "../../src/cli/simulator";
import { SimulatorAdminClient } from "../../src/simulator/adminClient";
import { BIN } from "../helpers/processes";

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "sim-cli-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function runCli(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  return { child, output: () => out, exited };
}

async function waitFor(output: () => string, pattern: RegExp, exited: Promise<unknown>): Promise<RegExpMatchArray> {
  let done = false;
  void exited.then(() => (done = true));
  for (;;) {
    const m = output().match(pattern);
    if (m) return m;
    if (done) throw new Error(`process exited before printing ${String(pattern)}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

void test("an --apps YAML list, a JSON list and a JSON object with an apps key all load", (t) => {
  const dir = tempDir(t);
  const yaml = join(dir, "apps.yaml");
  writeFileSync(
    yaml,
    "- appId: wx_yaml_1\n  secret: yaml-secret-1\n  dailyQuota: 3\n- appId: ww_yaml_2\n  secret: yaml-secret-2\n  platform: wecom\n",
  );
  assert.deepEqual(loadAppsFile(yaml), [
    { appId: "wx_yaml_1", secret: "yaml-secret-1", dailyQuota: 3 },
    { appId: "ww_yaml_2", secret: "yaml-secret-2", platform: "wecom" },
  ]);
  const json = join(dir, "apps.json");
  writeFileSync(json, JSON.stringify([{ appId: "wx_json_1", secret: "json-secret-1" }]));
  assert.deepEqual(loadAppsFile(json), [{ appId: "wx_json_1", secret: "json-secret-1" }]);
  writeFileSync(json, JSON.stringify({ apps: [{ appId: "wx_json_2", secret: "json-secret-2" }] }));
  assert.deepEqual(loadAppsFile(json), [{ appId: "wx_json_2", secret: "json-secret-2" }]);
});

void test("a bad --apps file is refused with every problem named by entry and field", (t) => {
  const dir = tempDir(t);
  const file = join(dir, "bad.yaml");
  writeFileSync(file, "- appId: wx_a\n  secret: ''\n- appId: wx_b\n  secret: s\n  overlapSec: -3\n- appId: wx_a\n  secret: s\n");
  assert.throws(
    () => loadAppsFile(file),
    (err: Error) => {
      assert.match(err.message, /apps\[0\]\.secret/);
      assert.match(err.message, /apps\[1\]\.overlapSec/);
      assert.match(err.message, /apps\[2\]\.appId: "wx_a" appears more than once/);
      return true;
    },
  );
  writeFileSync(file, "appId: wx_not_a_list\n");
  assert.throws(() => loadAppsFile(file), /expected a list of apps/);
  writeFileSync(join(dir, "broken.json"), "[{");
  assert.throws(() => loadAppsFile(join(dir, "broken.json")), /not valid JSON/);
  assert.throws(() => loadAppsFile(join(dir, "missing.yaml")), /cannot read the file \(ENOENT\)/);
});

void test("the simulator command serves --apps and --demo apps, prints its URL and stops cleanly on SIGTERM", async (t) => {
  const dir = tempDir(t);
  const file = join(dir, "apps.yaml");
  writeFileSync(file, "- appId: wx_cli_app\n  secret: cli-secret-value\n");
  const run = runCli(["simulator", "--port", "0", "--host", "127.0.0.1", "--apps", file, "--demo"]);
  t.after(() => {
    if (run.child.exitCode === null) run.child.kill("SIGKILL");
  });
  const url = (await waitFor(run.output, /listening on (http:\/\/127\.0\.0\.1:\d+)/, run.exited))[1] ?? "";
  const admin = new SimulatorAdminClient(url);
  assert.deepEqual(
    (await admin.listApps()).map((a) => a.appId),
    ["wx_cli_app", "wx_demo_healthy", "wx_demo_whitelist"],
  );
  const ok = (await (
    await fetch(`${url}/cgi-bin/token?grant_type=client_credential&appid=wx_demo_healthy&secret=demo-secret-healthy`)
  ).json()) as Record<string, unknown>;
  assert.equal(typeof ok.access_token, "string");
  const walled = (await (
    await fetch(`${url}/cgi-bin/token?grant_type=client_credential&appid=wx_demo_whitelist&secret=demo-secret-whitelist`)
  ).json()) as Record<string, unknown>;
  assert.equal(walled.errcode, 40164);
  assert.match(String(walled.errmsg), /^invalid ip 1\.92\.157\.200 ipv6 ::ffff:1\.92\.157\.200, not in whitelist rid: /);
  const mine = (await (
    await fetch(`${url}/cgi-bin/token?grant_type=client_credential&appid=wx_cli_app&secret=cli-secret-value`)
  ).json()) as Record<string, unknown>;
  assert.equal(typeof mine.access_token, "string");
  assert.ok(!run.output().includes("cli-secret-value") && !run.output().includes("demo-secret"), "no secret is printed");
  run.child.kill("SIGTERM");
  assert.equal(await run.exited, 0);
  assert.match(run.output(), /simulator stopped \(SIGTERM\)/);
});

void test("the simulator command exits 1 with the problem when --apps is invalid", async () => {
  const run = runCli(["simulator", "--port", "0", "--apps", "/nonexistent/apps.yaml"]);
  assert.equal(await run.exited, 1);
  assert.match(run.output(), /--apps \/nonexistent\/apps\.yaml: cannot read the file/);
});

void test("simulator --help describes the options and exits 0", async () => {
  const run = runCli(["simulator", "--help"]);
  assert.equal(await run.exited, 0);
  for (const opt of ["--port <port>", "--host <host>", "--apps <file>", "--demo", "default: 8085", "127.0.0.1"]) {
    assert.ok(run.output().includes(opt), `help mentions ${opt}`);
  }
});

void test("an invalid --port is refused", async () => {
  const run = runCli(["simulator", "--port", "http"]);
  assert.notEqual(await run.exited, 0);
  assert.match(run.output(), /port number/);
});
