// `diagnose` and `locks` through the real bin, against a real Redis the running brokers would share.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { runCli } from "../helpers/processes";

const SECRET = "ops-cli-secret-Kp3";

const { redis, sim } = useRedisAndSimulator([{ appId: "wx_ops", secret: SECRET, ipWhitelist: ["10.0.0.9"], callerIp: "1.92.157.200" }]);

function run(args: string[]) {
  return runCli(args, {
    REDIS_URL: redis.url,
    WECHAT_API_BASE: sim.url,
    ACCOUNTS: JSON.stringify([{ id: "gh_ops", appId: "wx_ops", appSecret: SECRET }]),
  });
}

test("diagnose through the bin reports the 40164 with its IP and exits 1; a sync first records the error in Redis", async () => {
  const sync = await run(["sync", "gh_ops"]);
  assert.notEqual(sync.code, 0);
  const r = await run(["diagnose"]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /40164/);
  assert.match(r.stdout, /1\.92\.157\.200/);
  assert.ok(!(r.stdout + r.stderr).includes(SECRET));
  const json = await run(["diagnose", "--json"]);
  assert.equal((JSON.parse(json.stdout) as { status: string }).status, "fail");
});

test("locks cleanup through the bin removes a stuck lock and keeps a live one", async () => {
  redis.cli("SET", "wtb:{acct:gh_ops}:lock", "dead-owner");
  redis.cli("SET", "wtb:{acct:other}:lock", "live-owner", "PX", "60000");
  const dry = await run(["locks", "cleanup", "--dry-run", "--json"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(redis.cli("EXISTS", "wtb:{acct:gh_ops}:lock"), "1", "a dry run removes nothing");
  const real = await run(["locks", "cleanup", "--json"]);
  assert.equal(real.code, 0, real.stderr);
  const result = JSON.parse(real.stdout) as { removed: Array<{ key: string }> };
  assert.deepEqual(
    result.removed.map((x) => x.key),
    ["wtb:{acct:gh_ops}:lock"],
  );
  assert.equal(redis.cli("EXISTS", "wtb:{acct:gh_ops}:lock"), "0");
  assert.equal(redis.cli("EXISTS", "wtb:{acct:other}:lock"), "1", "a live lock with a TTL survives");
  const list = await run(["locks", "list"]);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /acct:other/);
});
