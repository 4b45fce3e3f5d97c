// `sync`, `diagnose` and `locks` in embedded mode (no REDIS_URL), as real processes beside a running `serve`: the
// token lives only in that broker's memory, so the commands must act through it or refuse, never on a copy.
// Upstream call counts come from the simulator's counters.
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { freePort } from "../helpers/ports";
import { runCli, spawnServe, type ServeProcess } from "../helpers/processes";
import { SYNC_EXIT } from "../../src/cli/sync";
import { EXIT } from "../../src/cli/common";

const SECRET_CLASSIC = "AppSecret-emb-classic-NEVER-print-1";
const SECRET_STABLE = "AppSecret-emb-stable-NEVER-print-2";
const SECRET_WL = "AppSecret-emb-whitelist-NEVER-print-3";
const ADMIN_KEY = "admin-key-emb-NEVER-print-0123456789";
const CLIENT_KEY = "client-key-emb-NEVER-print-0123456789";
const WRONG_KEY = "wrong-key-emb-NEVER-print-0123456789";

const APPS = [
  { appId: "wx_emb_classic", secret: SECRET_CLASSIC },
  { appId: "wx_emb_stable", secret: SECRET_STABLE },
  { appId: "wx_emb_wl", secret: SECRET_WL, ipWhitelist: ["10.0.0.1"], callerIp: "1.92.157.200" },
];
const { sim } = useRedisAndSimulator(APPS, { redis: false });

const ACCOUNTS = JSON.stringify([
  { id: "gh_classic", appId: "wx_emb_classic", appSecret: SECRET_CLASSIC, tokenApi: "classic" },
  { id: "gh_stable", appId: "wx_emb_stable", appSecret: SECRET_STABLE, tokenApi: "stable" },
  { id: "gh_wl", appId: "wx_emb_wl", appSecret: SECRET_WL, tokenApi: "classic" },
]);
const API_KEYS = JSON.stringify([
  { name: "ops", key: ADMIN_KEY, role: "admin" },
  { name: "svc", key: CLIENT_KEY, role: "client" },
]);
const NEVER_PRINTED = [SECRET_CLASSIC, SECRET_STABLE, SECRET_WL, ADMIN_KEY, CLIENT_KEY, WRONG_KEY];

function assertNoSecret(text: string, extra: string[] = []): void {
  for (const s of [...NEVER_PRINTED, ...extra]) assert.ok(!text.includes(s), `output leaks ${s.slice(0, 12)}…:\n${text}`);
}

/** Token calls of every kind for an app, from the simulator. */
function tokenCalls(appId: string): number {
  const c = sim.admin.counters(appId).calls;
  return c.token + c.stable_token + c.gettoken;
}

function brokerEnv(): Record<string, string> {
  return { ACCOUNTS, API_KEYS, WECHAT_API_BASE: sim.url, WECOM_API_BASE: sim.wecomUrl };
}

describe("with a running embedded broker", () => {
  let broker: ServeProcess;

  /** The CLI as operators run it beside the broker: the same configuration, no REDIS_URL. */
  function cli(args: string[], env: Record<string, string> = {}) {
    return runCli(args, { ...brokerEnv(), PORT: String(broker.port), HOST: "127.0.0.1", ...env }, 30_000);
  }

  async function servedToken(accountId: string): Promise<string> {
    const r = await fetch(`${broker.url}/api/accounts/${accountId}/token`, { headers: { Authorization: `Bearer ${CLIENT_KEY}` } });
    assert.equal(r.status, 200);
    return ((await r.json()) as { accessToken: string }).accessToken;
  }

  before(async () => {
    broker = await spawnServe(brokerEnv());
  });
  after(async () => {
    await broker.stop();
  });
  // Counters only: resetting the apps would invalidate the tokens the broker holds.
  beforeEach(() => sim.admin.resetCounters());

  test("a plain sync of a classic account that does not need it makes no token call and says it is up to date", async () => {
    const token = await servedToken("gh_classic");
    sim.admin.resetCounters();
    for (const json of [false, true]) {
      const r = await cli(["sync", "gh_classic", ...(json ? ["--json"] : [])], { BROKER_API_KEY: CLIENT_KEY });
      assert.equal(r.code, 0, r.stderr);
      if (json) {
        const out = JSON.parse(r.stdout) as { accountId: string; refreshed: boolean; api: string; expiresIn: number };
        assert.equal(out.accountId, "gh_classic");
        assert.equal(out.refreshed, false);
        assert.equal(out.api, "classic");
        assert.ok(out.expiresIn > 0);
      } else {
        assert.match(r.stdout, /^✓ gh_classic: already up to date; valid for \d+ s \(classic\)/);
      }
      assertNoSecret(r.stdout + r.stderr, [token]);
    }
    assert.equal(tokenCalls("wx_emb_classic"), 0, "no cgi-bin/token call: the classic token was not rotated");
    assert.equal(await servedToken("gh_classic"), token, "the broker still serves the same token");
    assert.equal(sim.admin.checkToken(token).valid, true);
  });

  test("sync --force reaches the live broker: the token it serves changes and the old one is superseded", async () => {
    const before = await servedToken("gh_stable");
    sim.admin.resetCounters();
    const r = await cli(["sync", "gh_stable", "--force", "--json"], { BROKER_API_KEY: ADMIN_KEY });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { refreshed: boolean }).refreshed, true);
    assert.equal(sim.admin.counters("wx_emb_stable").forceRefreshes, 1, "one force_refresh reached WeChat");
    const after = await servedToken("gh_stable");
    assert.notEqual(after, before, "the running broker serves the new token");
    assert.equal(sim.admin.checkToken(after).valid, true);
    assertNoSecret(r.stdout + r.stderr, [before, after]);
  });

  test("a WeChat error through the broker ends with the exit code of its class, the IP and the fix, without secrets", async () => {
    const r = await cli(["sync", "gh_wl"], { BROKER_API_KEY: CLIENT_KEY });
    assert.equal(r.code, SYNC_EXIT.config, r.stderr);
    assert.match(r.stderr, /^✗ gh_wl: .*40164/m);
    assert.match(r.stderr, /1\.92\.157\.200/);
    assert.match(r.stderr, /处理：.*白名单/);
    const json = await cli(["sync", "gh_wl", "--json"], { BROKER_API_KEY: CLIENT_KEY });
    assert.equal(json.code, SYNC_EXIT.config);
    assert.equal((JSON.parse(json.stdout) as { error: { errclass: string } }).error.errclass, "config");
    const unknown = await cli(["sync", "gh_nope"], { BROKER_API_KEY: CLIENT_KEY });
    assert.equal(unknown.code, SYNC_EXIT.unknown_account, unknown.stderr);
    assertNoSecret(r.stdout + r.stderr + json.stdout + json.stderr + unknown.stderr);
  });

  test("a wrong key, no key, or a client key for --force is refused with the auth exit code and how to fix it", async () => {
    const wrong = await cli(["sync", "gh_stable"], { BROKER_API_KEY: WRONG_KEY });
    assert.equal(wrong.code, EXIT.auth, wrong.stderr);
    assert.match(wrong.stderr, /refused the request \(the API key from BROKER_API_KEY\(_FILE\) was refused\): The API key is not valid/);
    assert.match(wrong.stderr, /fix: Set BROKER_API_KEY or BROKER_API_KEY_FILE/);
    const none = await cli(["sync", "gh_stable"]);
    assert.equal(none.code, EXIT.auth);
    assert.match(none.stderr, /no API key was sent/);
    const client = await cli(["sync", "gh_stable", "--force", "--json"], { BROKER_API_KEY: CLIENT_KEY });
    assert.equal(client.code, EXIT.auth);
    assert.equal((JSON.parse(client.stdout) as { error: { code: string } }).error.code, "forbidden");
    assert.equal(sim.admin.counters("wx_emb_stable").forceRefreshes, 0);
    assertNoSecret(wrong.stdout + wrong.stderr + none.stdout + none.stderr + client.stdout + client.stderr);
  });

  test("the key can come from BROKER_API_KEY_FILE", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wtb-key-"));
    try {
      writeFileSync(join(dir, "key"), `${ADMIN_KEY}\n`, { mode: 0o600 });
      const r = await cli(["locks", "list", "--json"], { BROKER_API_KEY_FILE: join(dir, "key") });
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { mode: string }).mode, "embedded");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("diagnose shows the running broker's own report: its WeChat error, and exit 1", async () => {
    await cli(["sync", "gh_wl"], { BROKER_API_KEY: CLIENT_KEY });
    const r = await cli(["diagnose", "--account", "gh_wl"]);
    assert.equal(r.code, EXIT.failure, r.stderr);
    assert.match(r.stdout, /40164/);
    assert.match(r.stdout, /1\.92\.157\.200/);
    assert.doesNotMatch(r.stdout, /诊断范围 Scope/, "no 'cannot see the broker' caveat: this is the broker's view");
    const json = await cli(["diagnose", "--json"]);
    const report = JSON.parse(json.stdout) as { viewpoint: string; mode: string; accounts: Array<{ accountId: string }> };
    assert.equal(report.viewpoint, "server");
    assert.equal(report.mode, "embedded");
    const probeWithoutKey = await cli(["diagnose", "--probe"]);
    assert.equal(probeWithoutKey.code, EXIT.auth, "a probe calls WeChat: the broker wants an admin key");
    assertNoSecret(r.stdout + r.stderr + json.stdout + probeWithoutKey.stderr);
  });

  test("locks list and cleanup ask the broker with an admin key", async () => {
    const list = await cli(["locks", "list"], { BROKER_API_KEY: ADMIN_KEY });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /embedded/);
    const cleanup = await cli(["locks", "cleanup", "--dry-run", "--json"], { BROKER_API_KEY: ADMIN_KEY });
    assert.equal(cleanup.code, 0, cleanup.stderr);
    assert.equal((JSON.parse(cleanup.stdout) as { dryRun: boolean }).dryRun, true);
    const client = await cli(["locks", "list"], { BROKER_API_KEY: CLIENT_KEY });
    assert.equal(client.code, EXIT.auth);
    assertNoSecret(list.stdout + cleanup.stdout + client.stderr);
  });
});

describe("with no broker running", () => {
  beforeEach(() => sim.admin.resetCounters());

  test("sync refuses with exit 69 and says how (start the broker, BROKER_URL, REDIS_URL), never refreshing itself", async () => {
    const port = await freePort();
    const env = { ...brokerEnv(), PORT: String(port), BROKER_API_KEY: ADMIN_KEY };
    for (const args of [
      ["sync", "gh_classic"],
      ["sync", "gh_stable", "--force"],
    ]) {
      const r = await runCli(args, env, 30_000);
      assert.equal(r.code, EXIT.noBroker, r.stderr);
      assert.match(r.stderr, new RegExp(`✗ gh_\\w+: no broker answers at http://127\\.0\\.0\\.1:${port} \\(connection refused`));
      assert.match(r.stderr, /wechat-token-broker serve/);
      assert.match(r.stderr, /BROKER_URL/);
      assert.match(r.stderr, /REDIS_URL/);
      assert.equal(r.stdout, "");
      assertNoSecret(r.stdout + r.stderr);
    }
    const json = await runCli(["sync", "gh_classic", "--json"], env, 30_000);
    assert.equal(json.code, EXIT.noBroker);
    assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, "broker_unreachable");
    assert.equal(tokenCalls("wx_emb_classic") + tokenCalls("wx_emb_stable"), 0, "the CLI never called WeChat on its own");
  });

  test("BROKER_URL names where the broker is; diagnose and locks refuse alike", async () => {
    const port = await freePort();
    const env = { ...brokerEnv(), BROKER_URL: `http://127.0.0.1:${port}/` };
    const d = await runCli(["diagnose"], env, 30_000);
    assert.equal(d.code, EXIT.noBroker, d.stderr);
    assert.match(d.stderr, new RegExp(`no broker answers at http://127\\.0\\.0\\.1:${port} `));
    const l = await runCli(["locks", "cleanup"], env, 30_000);
    assert.equal(l.code, EXIT.noBroker, l.stderr);
    const bad = await runCli(["sync", "gh_classic"], { ...env, BROKER_URL: "ftp://x" }, 30_000);
    assert.equal(bad.code, EXIT.config);
    assert.match(bad.stderr, /BROKER_URL: must be an http:\/\/ or https:\/\/ URL/);
    assert.equal(tokenCalls("wx_emb_classic"), 0);
  });

  test("a service that is not the broker is not mistaken for one", async () => {
    // The simulator answers HTTP but is not a broker: a 404 without the broker's error shape.
    const r = await runCli(["sync", "gh_classic"], { ...brokerEnv(), BROKER_URL: sim.url }, 30_000);
    assert.equal(r.code, EXIT.noBroker, r.stderr);
    assert.match(r.stderr, /not like wechat-token-broker/);
  });
});
