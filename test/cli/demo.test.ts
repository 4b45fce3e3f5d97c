// The README's run command: `wechat-token-broker demo` as a real process, started the way `npm start` starts it
// (the checkout's launcher, on the sources), every curl it prints, and the live /metrics through promtool.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { SOURCE_BIN, waitForHttp } from "../helpers/processes";
import { freePort } from "../helpers/ports";

test("the demo serves both demo accounts, answers every command it prints, exposes lint-clean metrics and stops on Ctrl-C", async () => {
  const [port, simPort] = [await freePort(), await freePort()];
  const proc = spawn(process.execPath, [SOURCE_BIN, "demo", "--port", String(port), "--simulator-port", String(simPort)], {
    env: { PATH: process.env.PATH ?? "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
  proc.stderr.on("data", (d: Buffer) => (out += d.toString("utf8")));
  const u = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${u}/api/health/live`, 20_000);
    for (const cmd of [
      "/api/accounts/gh_demo_healthy/token",
      "/official-api/wechat/sync",
      "/quick_diagnosis.php",
      "/api/locks",
      "/metrics",
    ]) {
      assert.ok(out.includes(`${u}${cmd}`), `the demo prints a command for ${cmd}`);
    }

    const token = (await (await fetch(`${u}/api/accounts/gh_demo_healthy/token`)).json()) as { accessToken: string; api: string };
    assert.equal(token.api, "stable");

    const inv = await fetch(`${u}/api/accounts/gh_demo_healthy/token/invalidate`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ accessToken: token.accessToken, errcode: 40001 }),
    });
    assert.equal(inv.status, 200);

    const sync = await fetch(`${u}/official-api/wechat/sync`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ accountId: "gh_demo_healthy", force: false }),
    });
    assert.equal(sync.status, 200);
    assert.equal(((await sync.json()) as { accountId: string }).accountId, "gh_demo_healthy");

    const wl = await fetch(`${u}/api/accounts/gh_demo_whitelist/token`);
    assert.equal(wl.status, 503);
    const err = ((await wl.json()) as { error: { errcode: number; ip: string } }).error;
    assert.deepEqual([err.errcode, err.ip], [40164, "1.92.157.200"]);

    const diag = await fetch(`${u}/quick_diagnosis.php`);
    assert.equal(diag.status, 503, "one demo account is broken on purpose");
    const text = await diag.text();
    assert.match(text, /1\.92\.157\.200/);
    assert.match(text, /IP白名单/);

    assert.equal((await fetch(`${u}/api/locks`)).status, 200);

    const signing = /curl "([^"]+\/jssdk-config\?url=[^"]+)"/.exec(out);
    assert.ok(signing, "the demo prints a signing curl");
    const signed = await fetch(signing[1]!);
    assert.equal(signed.status, 200);
    const config = (await signed.json()) as { appId: string; signature: string; nonceStr: string };
    assert.match(config.signature, /^[0-9a-f]{40}$/);

    const metrics = await (await fetch(`${u}/metrics`)).text();
    assert.match(metrics, /wtb_token_requests_total\{result="hit"\}/);
    assert.match(metrics, /wtb_upstream_requests_total\{endpoint="stable_token",errcode="40164",errclass="config"\}/);
    const lint = spawnSync("promtool", ["check", "metrics"], { input: metrics, encoding: "utf8" });
    assert.equal(lint.status, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);
    assert.ok(!metrics.includes(token.accessToken) && !metrics.includes("demo-secret"), "no token or secret in metrics");
  } finally {
    const code = await new Promise<number | null>((resolve) => {
      if (proc.exitCode !== null) return resolve(proc.exitCode);
      proc.once("exit", resolve);
      proc.kill("SIGINT");
    });
    assert.equal(code, 0, out);
  }
});
