// The process-level handlers of `serve`, in real processes: a preloaded trigger (test/helpers/faultTrigger.cjs) makes
// an unhandled rejection or an uncaught exception happen on SIGUSR2, outside any handler of the broker's.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { spawn } from "node:child_process";
import { BIN, spawnServe, waitForHttp, type ServeProcess } from "../helpers/processes";
import { freePort } from "../helpers/ports";
import { sleep, waitUntil } from "../helpers/wait";
import { CRASH_EXIT_CODE } from "../../src/processGuard";

const TRIGGER = join(__dirname, "..", "helpers", "faultTrigger.cjs");
const APP_SECRET = "AppSecret-guard-NEVER-logged-5";
const FAULT_SECRET = "fault-secret-NEVER-logged-6789";

const APP = { appId: "wx_guard", secret: APP_SECRET };
const { sim } = useRedisAndSimulator([APP], { redis: false });

function serve(fault: string, env: Record<string, string> = {}): Promise<ServeProcess> {
  return spawnServe(
    {
      ACCOUNTS: JSON.stringify([{ id: "gh_guard", appId: "wx_guard", appSecret: APP_SECRET }]),
      WECHAT_API_BASE: sim.url,
      WTB_TEST_FAULT: fault,
      WTB_TEST_SECRET: FAULT_SECRET,
      ...env,
    },
    { nodeArgs: ["--require", TRIGGER] },
  );
}

async function processErrors(url: string, kind: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^wtb_process_errors_total\\{kind="${kind}"\\} (\\d+)`, "m").exec(text)?.[1] ?? NaN);
}

type LogLine = {
  level: number;
  msg: string;
  kind?: string;
  err?: { valueType?: string; name?: string; code?: string; message: string; stack?: string[] };
};

function logLines(output: string): LogLine[] {
  return output
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as LogLine);
}

function assertNoSecret(output: string): void {
  for (const s of [FAULT_SECRET, APP_SECRET]) assert.ok(!output.includes(s), `the log leaks ${s}:\n${output}`);
}

describe("the process-level handlers of serve and demo", () => {
  test("an unhandled rejection is logged with its stack and counted, secrets removed, and the broker keeps serving", async () => {
    const broker = await serve("rejection");
    try {
      assert.equal(await processErrors(broker.url, "unhandled_rejection"), 0, "the series exists from the start");
      // One signal at a time: two sent at once may be delivered as one.
      for (const n of [1, 2]) {
        broker.proc.kill("SIGUSR2");
        await waitUntil(`${n} rejection(s) counted`, async () => (await processErrors(broker.url, "unhandled_rejection")) === n);
      }
      const token = await fetch(`${broker.url}/api/accounts/gh_guard/token`);
      assert.equal(token.status, 200, "the broker still serves tokens");
      const { accessToken } = (await token.json()) as { accessToken: string };
      assert.equal(sim.admin.checkToken(accessToken).valid, true);

      // The counter can be read before the log line has come through the pipe: wait for the lines too.
      const rejections = (): LogLine[] => logLines(broker.output()).filter((l) => l.kind === "unhandled_rejection");
      await waitUntil("both rejections logged", () => rejections().length >= 2);
      const lines = rejections();
      assert.equal(lines.length, 2, broker.output());
      const err = lines[0]!.err!;
      assert.equal(lines[0]!.level, 50);
      assert.equal(err.name, "Error");
      assert.equal(err.code, "ETESTFAULT");
      assert.match(err.message, /access_token=\[REDACTED\]/);
      assert.match(err.message, /Bearer \[REDACTED\]/);
      assert.ok(
        err.stack!.some((f) => f.includes("faultTrigger.cjs")),
        `the stack names where it came from: ${err.stack!.join("\n")}`,
      );
      assertNoSecret(broker.output());
    } finally {
      assert.equal(await broker.stop(), 0, broker.output());
    }
  });

  test("a rejection with a non-Error value is counted without logging the value", async () => {
    const broker = await serve("rejection-object");
    try {
      broker.proc.kill("SIGUSR2");
      await waitUntil("the rejection counted", async () => (await processErrors(broker.url, "unhandled_rejection")) === 1);
      const logged = (): LogLine | undefined => logLines(broker.output()).find((l) => l.kind === "unhandled_rejection");
      await waitUntil("the rejection logged", () => logged() !== undefined);
      const line = logged();
      assert.equal(line?.err?.valueType, "object");
      assertNoSecret(broker.output());
    } finally {
      assert.equal(await broker.stop(), 0, broker.output());
    }
  });

  test("an uncaught exception is logged, the in-flight request finishes, and the process exits with code 70", async () => {
    const broker = await serve("exception", { UPSTREAM_TIMEOUT_MS: "10000" });
    try {
      await fetch(`${broker.url}/api/accounts/gh_guard/token`).then((r) => r.arrayBuffer());
      // A diagnosis with a probe that WeChat answers slowly is in flight when the exception happens.
      sim.admin.patchApp("wx_guard", { latencyMs: 1500 });
      const inFlight = fetch(`${broker.url}/api/diagnosis?accountId=gh_guard&probe=true`);
      await sleep(300);
      broker.proc.kill("SIGUSR2");
      const answer = await inFlight;
      assert.equal(answer.status, 200, "the graceful close let the request finish");
      assert.equal(await broker.exited, CRASH_EXIT_CODE, broker.output());
      const lines = logLines(broker.output());
      const fatal = lines.find((l) => l.kind === "uncaught_exception");
      assert.equal(fatal?.level, 60);
      assert.ok(
        fatal.err!.stack!.some((f) => f.includes("faultTrigger.cjs")),
        broker.output(),
      );
      assert.ok(
        lines.some((l) => l.msg === "shut down"),
        "it closed like on SIGTERM before exiting",
      );
      assertNoSecret(broker.output());
    } finally {
      sim.admin.setApp(APP);
      await broker.stop();
    }
  });

  test("after an uncaught exception a close that hangs is cut off at its bound", async () => {
    const broker = await serve("exception", { UPSTREAM_TIMEOUT_MS: "20000", SHUTDOWN_TIMEOUT_MS: "100" });
    try {
      await fetch(`${broker.url}/api/accounts/gh_guard/token`).then((r) => r.arrayBuffer());
      // A forced refresh waits 8 s for WeChat: the close would wait for it, beyond SHUTDOWN_TIMEOUT_MS + 2 s.
      sim.admin.patchApp("wx_guard", { latencyMs: 8000 });
      const refreshing = fetch(`${broker.url}/api/accounts/gh_guard/sync`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: '{"force":true}',
      }).catch(() => undefined);
      await waitUntil("the forced refresh reached WeChat", () => sim.admin.counters("wx_guard").calls.stable_token >= 2);
      broker.proc.kill("SIGUSR2");
      assert.equal(await broker.exited, CRASH_EXIT_CODE, broker.output());
      assert.ok(
        logLines(broker.output()).some((l) => l.msg === "graceful close did not finish in time; exiting anyway"),
        broker.output(),
      );
      await refreshing;
    } finally {
      sim.admin.setApp(APP);
      await broker.stop();
    }
  });

  test("demo installs the same handlers: a rejection is counted and the demo keeps serving", async () => {
    const [port, simPort] = [await freePort(), await freePort()];
    let out = "";
    const proc = spawn(process.execPath, ["--require", TRIGGER, BIN, "demo", "--port", String(port), "--simulator-port", String(simPort)], {
      env: { PATH: process.env.PATH ?? "", WTB_TEST_FAULT: "rejection", WTB_TEST_SECRET: FAULT_SECRET },
      stdio: ["ignore", "pipe", "pipe"],
    });
    proc.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    proc.stderr.on("data", (d: Buffer) => (out += d.toString("utf8")));
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForHttp(`${url}/api/health/ready`, 20_000);
      proc.kill("SIGUSR2");
      await waitUntil("the rejection counted", async () => (await processErrors(url, "unhandled_rejection")) === 1);
      assert.equal((await fetch(`${url}/api/accounts/gh_demo_healthy/token`)).status, 200);
      await waitUntil("the rejection logged", () => out.includes("unhandled promise rejection"));
      assertNoSecret(out);
    } finally {
      proc.kill("SIGTERM");
      assert.equal(await exited, 0, out);
    }
  });
});
