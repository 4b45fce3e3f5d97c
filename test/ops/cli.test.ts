// `wechat-token-broker diagnose` and `locks`, through their exported actions (main.ts registration and an
// end-to-end spawn are the lead's), against a real redis-server and the simulator.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Command } from "commander";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { freePort } from "../helpers/ports";
import { registerDiagnose, runDiagnose } from "../../src/cli/diagnose";
import type { CliIo } from "../../src/cli/common";
import { registerLocks, runLocks } from "../../src/cli/locks";
import type { DiagnosisReport } from "../../src/ops/diagnosisReport";
import type { CleanupResult, LockListing } from "../../src/ops/locks";
import { accountsEnv, assertNoSecret, freshPrefix, opsBroker, SECRETS } from "./helpers";

const { redis, sim } = useRedisAndSimulator(
  [
    { appId: "wx_ok", secret: SECRETS.otherAppSecret },
    { appId: "wx_wl", secret: SECRETS.appSecret, ipWhitelist: ["10.0.0.1"], callerIp: "1.92.157.200" },
  ],
  { redis: { password: SECRETS.redisPassword } },
);

const OK = { id: "gh_ok", appId: "wx_ok", appSecret: SECRETS.otherAppSecret };
const WL = { id: "gh_wl", appId: "wx_wl", appSecret: SECRETS.appSecret, tokenApi: "classic" as const };

function io(env: NodeJS.ProcessEnv): CliIo & { out: string; err: string } {
  const c = {
    out: "",
    err: "",
    env: { LOG_LEVEL: "warn", ...env },
    stdout: (t: string) => void (c.out += t),
    stderr: (t: string) => void (c.err += t),
  };
  return c;
}

function envFor(accounts: Array<typeof OK | typeof WL>, prefix: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ACCOUNTS: accountsEnv(accounts),
    REDIS_URL: redis.url,
    REDIS_COMMAND_TIMEOUT_MS: "2000",
    WECHAT_API_BASE: sim.url,
    KEY_PREFIX: prefix,
    ...extra,
  };
}

describe("wechat-token-broker diagnose", () => {
  test("prints the JSON report from the shared Redis state and exits 0 when every check passes", async () => {
    const prefix = freshPrefix();
    const server = opsBroker(envFor([OK], prefix));
    let token: string;
    try {
      token = (await server.core.service.getToken("gh_ok")).accessToken;
    } finally {
      await server.close();
    }
    const c = io(envFor([OK], prefix));
    assert.equal(await runDiagnose({ json: true }, c), 0, c.err);
    const r = JSON.parse(c.out) as DiagnosisReport;
    assert.equal(r.status, "ok");
    assert.equal(r.viewpoint, "cli");
    assert.equal(r.accounts[0]!.token?.api, "stable");
    assertNoSecret(c.out + c.err, [token]);
  });

  test("exits 1 after a 40164 and prints the IP to whitelist with the fix, in Chinese or English as asked", async () => {
    const prefix = freshPrefix();
    const server = opsBroker(envFor([WL, OK], prefix));
    try {
      await assert.rejects(server.core.service.getToken("gh_wl"));
    } finally {
      await server.close();
    }
    const c = io(envFor([WL, OK], prefix));
    assert.equal(await runDiagnose({ account: "gh_wl", probe: true, lang: "zh" }, c), 1, c.err);
    // Wrapped lines: compare without whitespace.
    const squash = (t: string) => t.replace(/\s+/g, "");
    assert.match(c.out, /✗ 微信接口 — 40164/);
    assert.ok(
      squash(c.out).includes(
        squash("修复：请将 1.92.157.200 添加到 AppID wx_wl 的接口IP白名单：微信公众平台 → 设置与开发 → 基本配置 → IP白名单"),
      ),
      c.out,
    );
    assert.doesNotMatch(c.out, /Fix: /);
    assert.doesNotMatch(c.out, /gh_ok/);
    const en = io({ ...envFor([WL, OK], prefix), LANG: "en_US.UTF-8" });
    assert.equal(await runDiagnose({ account: "gh_wl" }, en), 1, en.err);
    assert.ok(squash(en.out).includes(squash("Fix: Add 1.92.157.200 to the API IP whitelist")), en.out);
    assert.doesNotMatch(en.out, /修复：/);
    const fromLocale = io({ ...envFor([WL, OK], prefix), LANG: "zh_CN.UTF-8" });
    assert.equal(await runDiagnose({ account: "gh_wl" }, fromLocale), 1);
    assert.match(fromLocale.out, /修复：/);
    assert.equal(await runDiagnose({ account: "gh_wl", lang: "fr" }, io(envFor([WL, OK], prefix))), 64);
    assertNoSecret(c.out + c.err + en.out);
  });

  test("exits 2 on an invalid configuration and 64 for an unknown or malformed account", async () => {
    const bad = io({ ACCOUNTS: "[not json" });
    assert.equal(await runDiagnose({}, bad), 2);
    assert.match(bad.err, /ACCOUNTS/);
    const unknown = io(envFor([OK], freshPrefix()));
    assert.equal(await runDiagnose({ account: "gh_nope" }, unknown), 64);
    assert.match(unknown.err, /gh_nope/);
    const malformed = io(envFor([OK], freshPrefix()));
    assert.equal(await runDiagnose({ account: "bad id" }, malformed), 64);
  });

  test("exits 1 when Redis cannot be reached, naming it without its password", async () => {
    const port = await freePort();
    const c = io({
      ...envFor([OK], freshPrefix()),
      REDIS_URL: `redis://:${SECRETS.redisPassword}@127.0.0.1:${port}`,
      REDIS_CONNECT_TIMEOUT_MS: "500",
    });
    assert.equal(await runDiagnose({ lang: "zh" }, c), 1);
    assert.match(c.out, new RegExp(`✗ 令牌存储 — Redis redis://127\\.0\\.0\\.1:${port} 不可达`));
    assertNoSecret(c.out + c.err);
  });

  test("logs to stderr only errors unless LOG_LEVEL asks for more, so stdout and cron mails carry just the report", async () => {
    const levels = (stderr: string) =>
      stderr
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => (JSON.parse(l) as { level: number }).level);
    const port = await freePort();
    const env = { ...envFor([OK], freshPrefix()), REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_CONNECT_TIMEOUT_MS: "500" };
    const chatty = io({ ...env, LOG_LEVEL: "debug" });
    assert.equal(await runDiagnose({ json: true }, chatty), 1);
    assert.ok(
      levels(chatty.err).some((l) => l < 50),
      `LOG_LEVEL=debug shows the broker's warnings and below: ${chatty.err}`,
    );
    const quiet = io({ ...env, LOG_LEVEL: undefined });
    assert.equal(await runDiagnose({ json: true }, quiet), 1);
    assert.deepEqual(
      levels(quiet.err).filter((l) => l < 50),
      [],
      quiet.err,
    );
    assert.equal((JSON.parse(quiet.out) as DiagnosisReport).status, "fail", "stdout is the JSON report alone");
  });

  test("in embedded mode with no broker answering it refuses with exit 69 instead of diagnosing its own empty copy", async () => {
    const port = await freePort();
    const c = io({ ACCOUNTS: accountsEnv([OK]), WECHAT_API_BASE: sim.url, PORT: String(port) });
    assert.equal(await runDiagnose({}, c), 69, c.err);
    assert.equal(c.out, "");
    assert.match(c.err, new RegExp(`^✗ diagnose: no broker answers at http://127\\.0\\.0\\.1:${port} \\(connection refused`, "m"));
    assert.match(c.err, /BROKER_URL/);
  });

  test("its help documents the options and the exit codes", async () => {
    let out = "";
    const program = new Command().exitOverride().configureOutput({ writeOut: (s) => void (out += s), writeErr: (s) => void (out += s) });
    registerDiagnose(program);
    registerLocks(program);
    await assert.rejects(program.parseAsync(["node", "wtb", "diagnose", "--help"]));
    assert.match(out, /--account <id>/);
    assert.match(out, /--probe/);
    assert.match(out, /--json/);
    assert.match(out, /Exit codes: 0 every check passed \(warnings allowed\), 1 a check failed/);
    out = "";
    await assert.rejects(program.parseAsync(["node", "wtb", "locks", "cleanup", "--help"]));
    assert.match(out, /--dry-run/);
    assert.match(out, /Exit codes: 0 done/);
  });
});

describe("wechat-token-broker locks", () => {
  test("list shows a stuck key, cleanup --dry-run keeps it, cleanup removes it, and all exit 0", async () => {
    const prefix = freshPrefix();
    const key = `${prefix}{acct:gh_ok}:lock`;
    redis.cli("SET", key, "by-hand");
    const env = envFor([OK], prefix);

    const list = io(env);
    assert.equal(await runLocks("list", { json: true }, list), 0, list.err);
    const listing = JSON.parse(list.out) as LockListing;
    assert.deepEqual(
      listing.locks.map((l) => [l.key, l.stuck]),
      [[key, true]],
    );

    const dry = io(env);
    assert.equal(await runLocks("cleanup", { dryRun: true }, dry), 0, dry.err);
    assert.match(dry.out, /预览 dry run/);
    assert.match(dry.out, /将删除 would remove: 1/);
    assert.match(dry.out, /\n {6}a broker lock without TTL: the broker always sets one/, "the text says why");
    assert.equal(redis.cli("EXISTS", key), "1");

    const real = io(env);
    assert.equal(await runLocks("cleanup", { json: true }, real), 0, real.err);
    assert.deepEqual((JSON.parse(real.out) as CleanupResult).removed, [
      { key, reason: "no_ttl", why: "a broker lock without TTL: the broker always sets one, so no refresh holds it" },
    ]);
    assert.equal(redis.cli("EXISTS", key), "0");
    assertNoSecret(list.out + dry.out + real.out + list.err + dry.err + real.err);
  });

  test("exit 1 when Redis cannot be reached, 2 on an invalid configuration", async () => {
    const port = await freePort();
    const down = io({ ...envFor([OK], freshPrefix()), REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_CONNECT_TIMEOUT_MS: "500" });
    assert.equal(await runLocks("cleanup", {}, down), 1);
    assert.match(down.err, /unavailable/);
    // Like sync and diagnose: which Redis, why (the connection error), and what to do, in both languages.
    const list = io({
      ...envFor([OK], freshPrefix()),
      REDIS_URL: `redis://:${SECRETS.redisPassword}@127.0.0.1:${port}`,
      REDIS_CONNECT_TIMEOUT_MS: "500",
    });
    assert.equal(await runLocks("list", {}, list), 1);
    assert.match(list.err, new RegExp(`redis://127\\.0\\.0\\.1:${port}`), list.err);
    assert.match(list.err, /ECONNREFUSED/, list.err);
    assert.match(list.err, /^ {2}fix: .*REDIS_URL/m, list.err);
    assert.match(list.err, /^ {2}处理：/m, list.err);
    assertNoSecret(list.err + list.out);
    assert.equal(await runLocks("list", {}, io({ KEY_PREFIX: "{bad}" })), 2);
  });

  test("in embedded mode with no broker answering it refuses with exit 69", async () => {
    const port = await freePort();
    const c = io({ ACCOUNTS: accountsEnv([OK]), WECHAT_API_BASE: sim.url, PORT: String(port) });
    assert.equal(await runLocks("list", {}, c), 69, c.err);
    assert.match(c.err, /no broker answers/);
  });
});
