// `wechat-token-broker sync` as cron runs it: a real process against a real Redis and the simulator.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { runCli } from "../helpers/processes";
import { SYNC_EXIT, syncExitCode } from "../../src/cli/sync";
import { CallCeilingError, ForceBudgetError } from "../../src/broker/errors";

const SECRET_OK = "cli-sync-secret-Ok1";
const SECRET_WL = "cli-sync-secret-Wl2";

const { redis, sim } = useRedisAndSimulator([
  { appId: "wx_cli_ok", secret: SECRET_OK },
  { appId: "wx_cli_wl", secret: SECRET_WL, ipWhitelist: ["10.0.0.1"], callerIp: "1.92.157.200" },
]);

/** The CLI as a process, asynchronously: the simulator lives in this process, so a blocking spawn would starve it. */
function run(args: string[], env: Record<string, string> = {}) {
  return runCli(
    args,
    {
      REDIS_URL: redis.url,
      WECHAT_API_BASE: sim.url,
      ACCOUNTS: JSON.stringify([
        { id: "gh_ok", appId: "wx_cli_ok", appSecret: SECRET_OK },
        { id: "gh_wl", appId: "wx_cli_wl", appSecret: SECRET_WL },
      ]),
      ...env,
    },
    30_000,
  );
}

test("sync refreshes a missing token into Redis and exits 0 with JSON on stdout", async () => {
  const r = await run(["sync", "gh_ok", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { accountId: string; refreshed: boolean; expiresIn: number; api: string };
  assert.equal(out.accountId, "gh_ok");
  assert.equal(out.refreshed, true);
  assert.equal(out.api, "stable");
  const stored = redis.cli("HGET", "wtb:{acct:gh_ok}:token", "accessToken");
  assert.equal(sim.admin.checkToken(stored).valid, true);
  assert.ok(!r.stdout.includes(stored), "sync output never contains the token");

  const again = await run(["sync", "gh_ok", "--json"]);
  assert.equal(again.code, 0);
  assert.equal((JSON.parse(again.stdout) as { refreshed: boolean }).refreshed, false, "a second sync finds it up to date");
});

test("sync exits with the configuration code for a 40164 and prints the IP and the fix, without the secret", async () => {
  const r = await run(["sync", "gh_wl"]);
  assert.equal(r.code, SYNC_EXIT.config);
  assert.match(r.stderr, /40164/);
  assert.match(r.stderr, /1\.92\.157\.200/);
  assert.match(r.stderr, /白名单/);
  assert.ok(!(r.stdout + r.stderr).includes(SECRET_WL));
});

test("sync exits with distinct codes for an unknown account and for a broken configuration", async () => {
  assert.equal((await run(["sync", "gh_nope"])).code, SYNC_EXIT.unknown_account);
  const bad = await run(["sync", "gh_ok"], { PORT: "not-a-port" });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /PORT/);
});

test("sync --help documents the exit codes", async () => {
  const r = await run(["sync", "--help"]);
  assert.equal(r.code, 0);
  for (const code of Object.values(SYNC_EXIT)) assert.match(r.stdout, new RegExp(`\\b${code}\\b`));
});

test("the policy's refusals have exit codes of their own: the call ceiling 20, the force budget 19", () => {
  assert.equal(syncExitCode(new CallCeilingError("gh_x", 30_000, 6)), 20);
  assert.equal(syncExitCode(new ForceBudgetError("gh_x", "daily_limit", 1000)), 19);
});
