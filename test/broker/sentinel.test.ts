// REDIS_SENTINELS + REDIS_SENTINEL_NAME: the broker finds the master through a real Sentinel process.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRedis, type TestRedis } from "../helpers/redis";
import { freePort } from "../helpers/ports";
import { startBrokerProcess, type BrokerProcess } from "../helpers/processes";
import { startSimulator } from "../../src/simulator/server";
import type { RunningSimulator } from "../../src/simulator/types";

let master: TestRedis;
let sentinel: ChildProcess;
let sentinelPort: number;
let dir: string;
let sim: RunningSimulator;
let broker: BrokerProcess | undefined;

before(async () => {
  master = await startRedis();
  sentinelPort = await freePort();
  dir = mkdtempSync(join(tmpdir(), "wtb-sentinel-"));
  const conf = join(dir, "sentinel.conf");
  writeFileSync(
    conf,
    [`port ${sentinelPort}`, "bind 127.0.0.1", `dir ${dir}`, `sentinel monitor wtbmaster 127.0.0.1 ${master.port} 1`, ""].join("\n"),
  );
  sentinel = spawn("redis-server", [conf, "--sentinel"], { stdio: "ignore" });
  sim = await startSimulator({ apps: [{ appId: "wx_sent", secret: "sentinel-secret" }] });
});
after(async () => {
  await broker?.stop();
  sentinel.kill("SIGTERM");
  await sim.close();
  await master.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a broker configured with Sentinel finds the master and stores its token there", async () => {
  broker = await startBrokerProcess({
    REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
    REDIS_SENTINEL_NAME: "wtbmaster",
    ACCOUNTS: JSON.stringify([{ id: "gh_sent", appId: "wx_sent", appSecret: "sentinel-secret" }]),
    WECHAT_API_BASE: sim.url,
  });
  const r = await fetch(`${broker.url}/api/accounts/gh_sent/token`);
  assert.equal(r.status, 200);
  const { accessToken } = (await r.json()) as { accessToken: string };
  assert.equal(master.cli("HGET", "wtb:{acct:gh_sent}:token", "accessToken"), accessToken, "the token is in the master Sentinel named");
  const health = (await (await fetch(`${broker.url}/api/health`)).json()) as { store: { mode: string; ok: boolean } };
  assert.deepEqual([health.store.mode, health.store.ok], ["redis", true]);
});
