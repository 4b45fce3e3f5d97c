// The demo's banner is read by a person in a terminal, where the process's stdout and stderr meet: it must come out
// whole, before any log line, however early the broker logs (the no-API-key warning, the demo account's 40164).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { BIN, waitForHttp } from "../helpers/processes";
import { freePort } from "../helpers/ports";
import { sleep } from "../helpers/wait";

test("the demo prints its banner whole and first, and its log lines only after it, on one terminal", async () => {
  const [port, simPort] = [await freePort(), await freePort()];
  // One pipe for both streams, as a terminal shows them: the order of arrival is the order on screen.
  const proc = spawn("sh", ["-c", `exec "${process.execPath}" "${BIN}" demo --port ${port} --simulator-port ${simPort} 2>&1`], {
    env: { PATH: process.env.PATH ?? "" },
    stdio: ["ignore", "pipe", "ignore"],
  });
  let out = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
  try {
    await waitForHttp(`http://127.0.0.1:${port}/api/health/live`, 20_000);
    await fetch(`http://127.0.0.1:${port}/api/accounts/gh_demo_whitelist/token`);
    await sleep(2_500); // the refresh scheduler's first pass (spread over 2 s) logs the demo account's 40164
    const lines = out.split("\n");
    const start = lines.findIndex((l) => l === "wechat-token-broker demo");
    const end = lines.findIndex((l) => l === "Ctrl-C stops both.");
    assert.ok(start >= 0 && end > start, out);
    assert.deepEqual(
      lines.slice(0, start).filter((l) => l.trim() !== ""),
      [],
      "nothing before the banner",
    );
    assert.deepEqual(
      lines.slice(start, end).filter((l) => l.startsWith("{")),
      [],
      "no log line inside the banner",
    );
    assert.ok(
      lines.slice(end).some((l) => l.startsWith("{") && l.includes("NO API KEYS")),
      `the log lines come after it:\n${out}`,
    );
  } finally {
    await new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once("exit", () => resolve());
      proc.kill("SIGINT");
    });
  }
});
