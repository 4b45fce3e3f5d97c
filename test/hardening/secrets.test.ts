// Secrets never leave. One run drives a `serve` process through a wide set of failures with known AppSecrets
// (including a wrong one WeChat refuses), API keys, a Redis password and an SMTP password, plus the one-shot CLI
// commands and one run of scripts/monitor.sh that mails an alert. It then reads everything that came out: every
// log line, every answer (headers and body), /metrics, the CLIs' output, the alert mail, Redis' keys and values,
// and every file written under the test's directories. None may hold a secret; a token may appear only in the
// body of a token answer and in its own field of the token hash in Redis.
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { startSimulator } from "../../src/simulator/server";
import type { RunningSimulator } from "../../src/simulator/types";
import { spec } from "../helpers/openapi";
import {
  assertNoSecret,
  httpBytes,
  launchRedis,
  rawRequest,
  readiness,
  runCli,
  sleep,
  spawnServe,
  waitUntil,
  withRedis,
  type OwnRedis,
  type RawResponse,
  type ServeProcess,
} from "./harness";
import { scenario } from "./record";

const ROOT = join(__dirname, "..", "..");
const S = {
  stable: "AppSecret-sec-STABLE-1q2w3e",
  classic: "AppSecret-sec-CLASSIC-4r5t6y",
  wecom: "CorpSecret-sec-WECOM-7u8i9o",
  ip: "AppSecret-sec-IP-0p1a2s",
  flaky: "AppSecret-sec-FLAKY-3d4f5g",
  wrongConfigured: "AppSecret-sec-WRONG-6h7j8k",
  wrongReal: "AppSecret-sec-REAL-9l0z1x",
  clientKey: "sec-client-key-2c3v4b5n6m7q8w9e",
  adminKey: "sec-admin-key-1r2t3y4u5i6o7p8a",
  redisPassword: "RedisPass-sec-5s6d7f8g",
  smtpPassword: 'SmtpPass-sec-"9h:0j\\1k',
};
const SECRETS = Object.values(S);
const SMTP_USER = "alerts@example.com";

let sim: RunningSimulator;
let redis: OwnRedis;
let inputs: string;
let work: string;
let broker: ServeProcess;
const answers: Array<{ what: string; op?: string; res: RawResponse }> = [];
const outputs: Array<{ what: string; text: string }> = [];

function write(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
}

before(async () => {
  inputs = mkdtempSync(join(tmpdir(), "wtb-hard-sec-in-"));
  work = mkdtempSync(join(tmpdir(), "wtb-hard-sec-work-"));
  sim = await startSimulator({
    apps: [
      { appId: "wx_sec_s", secret: S.stable },
      { appId: "wx_sec_c", secret: S.classic },
      { appId: "ww_sec_w", secret: S.wecom, platform: "wecom" },
      { appId: "wx_sec_ip", secret: S.ip, ipWhitelist: ["198.51.100.7"], callerIp: "1.92.157.200" },
      { appId: "wx_sec_f", secret: S.flaky },
      { appId: "wx_sec_bad", secret: S.wrongReal },
    ],
  });
  mkdirSync(join(work, "redis"));
  redis = await launchRedis({ dir: join(work, "redis"), extraArgs: ["--requirepass", S.redisPassword] });
});
after(async () => {
  await broker?.stop();
  await redis.close();
  await sim.close();
  rmSync(inputs, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

function brokerEnv(): Record<string, string> {
  const secretFile = (name: string, value: string) => write(inputs, name, `${value}\n`);
  const accounts = write(
    inputs,
    "accounts.yaml",
    [
      "accounts:",
      `  - { id: gh_s, appId: wx_sec_s, appSecretFile: ${secretFile("s.secret", S.stable)} }`,
      `  - { id: gh_c, appId: wx_sec_c, appSecretFile: ${secretFile("c.secret", S.classic)}, tokenApi: classic }`,
      `  - { id: gh_w, type: wecom, corpId: ww_sec_w, corpSecretFile: ${secretFile("w.secret", S.wecom)} }`,
      `  - { id: gh_ip, appId: wx_sec_ip, appSecret: "${S.ip}" }`,
      `  - { id: gh_f, appId: wx_sec_f, appSecret: "${S.flaky}" }`,
      `  - { id: gh_bad, appId: wx_sec_bad, appSecret: "${S.wrongConfigured}" }`,
      "",
    ].join("\n"),
  );
  const keys = write(
    inputs,
    "api-keys.yaml",
    [
      `- { name: svc, keyFile: ${secretFile("client.key", S.clientKey)}, accounts: [gh_s, gh_c, gh_w] }`,
      `- { name: ops, key: "${S.adminKey}", role: admin }`,
      "",
    ].join("\n"),
  );
  return {
    HOST: "127.0.0.1",
    LOG_LEVEL: "trace",
    ACCOUNTS_FILE: accounts,
    API_KEYS_FILE: keys,
    REDIS_URL: `redis://127.0.0.1:${redis.port}`,
    REDIS_PASSWORD_FILE: secretFile("redis.password", S.redisPassword),
    REDIS_COMMAND_TIMEOUT_MS: "300",
    LOCAL_CACHE_TTL_MS: "500",
    UPSTREAM_TIMEOUT_MS: "400",
    LOCK_CLEANUP_PATTERNS: "legacy:lock:*",
    WECHAT_API_BASE: sim.url,
    WECOM_API_BASE: sim.wecomUrl,
  };
}

const admin = `Bearer ${S.adminKey}`;
const client = `Bearer ${S.clientKey}`;

async function send(
  what: string,
  method: string,
  target: string,
  authorization?: string,
  body?: unknown,
  raw?: string,
): Promise<RawResponse> {
  const headers: Array<[string, string]> = [];
  if (authorization) headers.push(["Authorization", authorization]);
  const text = raw ?? (body === undefined ? undefined : JSON.stringify(body));
  if (text !== undefined) headers.push(["Content-Type", "application/json"]);
  const res = await rawRequest(broker.port, httpBytes(method, target, headers, text));
  assert.ok(res, `${what}: no answer`);
  answers.push({ what: `${what}: ${method} ${target} → ${res.status}`, op: spec().findOperation(method, target)?.operationId, res });
  return res;
}

function tokenOf(res: RawResponse): string | undefined {
  try {
    return (JSON.parse(res.text) as { accessToken?: string }).accessToken;
  } catch {
    return undefined;
  }
}

function startSmtp(dir: string): Promise<{ port: number; proc: ChildProcess }> {
  mkdirSync(dir, { recursive: true });
  const proc = spawn(process.execPath, [join(ROOT, "test", "scripts", "smtp-server.mjs"), dir, "none"], {
    env: { PATH: process.env.PATH ?? "", SMTP_TEST_USER: SMTP_USER, SMTP_TEST_PASS: S.smtpPassword },
    stdio: "ignore",
  });
  return waitUntil("the SMTP server is up", () => existsSync(join(dir, "port")), 10_000).then(() => ({
    port: Number(readFileSync(join(dir, "port"), "utf8")),
    proc,
  }));
}

function runMonitor(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const p = spawn("bash", [join(ROOT, "scripts", "monitor.sh")], { env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    p.stdout.on("data", (d: Buffer) => (output += d.toString("utf8")));
    p.stderr.on("data", (d: Buffer) => (output += d.toString("utf8")));
    p.once("close", (code) => resolve({ code, output }));
  });
}

/** Every file under `dir` (recursively) with its text. */
function filesUnder(dir: string): Array<{ path: string; text: string }> {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [{ path: p, text: readFileSync(p).toString("latin1") }];
  });
}

scenario(
  "across a wide set of failures, no log line, answer, metric, CLI output, alert mail, Redis key or value, or file written holds a secret, and tokens appear only in token answers",
  {
    class: "Secrets",
    outcome:
      "AppSecrets (incl. a wrong one WeChat refused), API keys, the Redis and SMTP passwords: found nowhere; tokens only in token answers' bodies and the token hash's accessToken field",
    timeout: 120_000,
  },
  async (run) => {
    broker = await spawnServe(brokerEnv());

    // Tokens, and WeChat refusing in every way.
    for (const id of ["gh_s", "gh_c", "gh_w"]) {
      await send("token", "GET", `/api/accounts/${id}/token`, client);
      await send("token (query)", "GET", `/api/token?accountId=${id}`, admin);
    }
    sim.admin.addFault("wx_sec_f", { type: "http", status: 502, times: 1 });
    sim.admin.addFault("wx_sec_f", { type: "non_json", times: 1 });
    sim.admin.addFault("wx_sec_f", { type: "errcode", errcode: -1, times: 1 });
    for (const id of ["gh_ip", "gh_bad", "gh_f"]) await send("refused upstream", "GET", `/api/accounts/${id}/token`, admin);
    sim.admin.addFault("wx_sec_f", { type: "timeout", times: 3 });
    await sleep(1200);
    await send("timeout upstream", "POST", "/api/accounts/gh_f/sync", admin, {});
    sim.admin.addFault("wx_sec_f", { type: "reset", times: 3 });
    await sleep(2500);
    await send("reset upstream", "GET", "/api/accounts/gh_f/token", admin);

    // Invalidation (classic: a new token; stable: probed first), forced syncs, and the budget's refusal.
    const classic = tokenOf(await send("token", "GET", "/api/accounts/gh_c/token", admin))!;
    await send("invalidate", "POST", "/api/accounts/gh_c/token/invalidate", admin, { accessToken: classic, errcode: 40001 });
    const stable = tokenOf(await send("token", "GET", "/api/accounts/gh_s/token", admin))!;
    await send("invalidate stable", "POST", "/api/accounts/gh_s/token/invalidate", client, { accessToken: stable, errcode: 40001 });
    await send("forced sync", "POST", "/api/accounts/gh_s/sync", admin, { force: true });
    await send("forced sync again", "POST", "/official-api/wechat/sync", admin, { accountId: "gh_s", force: true });
    await send("sync", "POST", "/api/accounts/gh_w/sync", client, {});

    // Operations: diagnosis (with probes sending tokens to WeChat), locks with a stuck legacy lock.
    await withRedis(`redis://:${encodeURIComponent(S.redisPassword)}@127.0.0.1:${redis.port}`, (r) => r.set("legacy:lock:old-job", "held"));
    await send("diagnosis", "GET", "/api/diagnosis?probe=true", admin);
    await send("quick diagnosis", "GET", "/quick_diagnosis.php?probe=1", admin);
    await send("diagnosis", "GET", "/api/diagnosis?format=text&accountId=gh_ip");
    await send("locks", "GET", "/api/locks", admin);
    await send("cleanup", "POST", "/api/locks/cleanup", admin, { dryRun: false });
    await send("cleanup", "GET", "/cleanup_expired_locks?dryRun=true", admin);

    // Refusals of callers.
    await send("no key", "GET", "/api/accounts/gh_s/token");
    await send("wrong key", "GET", "/api/accounts/gh_s/token", `Bearer ${S.clientKey}0`);
    await send("key as basic", "GET", "/api/accounts/gh_s/token", `Basic ${S.adminKey}`);
    await send("other account", "GET", "/api/accounts/gh_ip/token", client);
    await send("client on admin", "POST", "/api/accounts/gh_s/sync", client, { force: true });
    await send("client on locks", "GET", "/api/locks", client);
    await send("bad json holding a key", "POST", "/api/accounts/gh_s/token/invalidate", admin, undefined, `{"accessToken":"${S.adminKey}"`);
    await send("bad field holding a secret", "POST", "/api/accounts/gh_s/token/invalidate", admin, { accessToken: { secret: S.stable } });
    await send("too large", "POST", "/api/accounts/gh_s/token/invalidate", admin, { accessToken: S.stable.repeat(2000) });
    await send("unknown account", "GET", "/api/accounts/gh_nobody/token", admin);
    for (const path of ["/api/health", "/api/health/live", "/api/health/ready", "/metrics"]) await send("ops", "GET", path);

    // The one-shot commands, with the same configuration.
    const env = brokerEnv();
    for (const args of [
      ["sync", "gh_c", "--json"],
      ["sync", "gh_bad"],
      ["diagnose", "--probe"],
      ["diagnose", "--json"],
      ["locks", "list"],
      ["locks", "cleanup"],
      ["healthcheck"],
    ]) {
      const r = await runCli(args, { ...env, PORT: String(broker.port), LOG_LEVEL: "trace" });
      outputs.push({ what: `wechat-token-broker ${args.join(" ")} (exit ${r.code})`, text: r.stdout + r.stderr });
    }

    // Redis frozen: errors everywhere, and monitor.sh mails an alert about the broker serving cached tokens only.
    redis.proc().kill("SIGSTOP");
    try {
      await sleep(800);
      for (const id of ["gh_s", "gh_c", "gh_f"]) await send("redis frozen", "GET", `/api/accounts/${id}/token`, admin);
      await send("redis frozen", "POST", "/api/accounts/gh_s/sync", admin, { force: true });
      await send("redis frozen", "GET", "/api/diagnosis", admin);
      await send("redis frozen", "GET", "/api/health/ready");
      const smtp = await startSmtp(join(work, "mail"));
      try {
        const docker = join(work, "docker");
        mkdirSync(docker);
        mkdirSync(join(work, "mnt"));
        cpSync(join(ROOT, "test", "scripts", "fixtures", "containers", "healthy"), docker, { recursive: true });
        const mon = await runMonitor({
          PATH: `${join(ROOT, "test", "scripts", "fixtures", "bin")}:${process.env.PATH ?? ""}`,
          HOME: work,
          FAKE_DOCKER_DIR: docker,
          FAKE_DOCKER_MOUNT_ROOT: join(work, "mnt"),
          STATE_DIR: join(work, "monitor-state"),
          BROKER_URL: broker.url,
          FAILURE_THRESHOLD: "1",
          ALERT_EMAIL_ENABLED: "true",
          SMTP_SERVER: "127.0.0.1",
          SMTP_PORT: String(smtp.port),
          SMTP_TLS: "none",
          SMTP_USER,
          SMTP_PASS: S.smtpPassword,
          ALERT_EMAIL_TO: "ops@example.com",
        });
        outputs.push({ what: `monitor.sh (exit ${mon.code})`, text: mon.output });
        assert.match(mon.output, /alert mail sent/, `monitor.sh mailed the alert: ${mon.output}`);
        await waitUntil("the alert mail arrived", () => existsSync(join(work, "mail", "mail-1.json")), 10_000);
      } finally {
        smtp.proc.kill("SIGTERM");
      }
    } finally {
      redis.proc().kill("SIGCONT");
    }
    await waitUntil("ready again", async () => (await readiness(broker.url)) === "ready", 10_000);
    await send("metrics", "GET", "/metrics");
    await send("token after", "GET", "/api/accounts/gh_c/token", admin);

    // Redis: every key and value, read before the broker stops.
    const redisDump: string[] = [];
    const tokenFields: string[] = [];
    await withRedis(`redis://:${encodeURIComponent(S.redisPassword)}@127.0.0.1:${redis.port}`, async (r) => {
      for (const key of (await r.keys("*")).sort()) {
        const type = await r.type(key);
        redisDump.push(`key ${key}`);
        if (type === "string") redisDump.push(`${key} = ${await r.get(key)}`);
        else if (type === "hash") {
          for (const [f, v] of Object.entries(await r.hgetall(key))) {
            if (/:token$/.test(key) && f === "accessToken") tokenFields.push(v);
            else redisDump.push(`${key}.${f} = ${v}`);
          }
        } else redisDump.push(`${key} (${type})`);
      }
    });
    assert.equal(await broker.stop(), 0);
    outputs.push({ what: "serve's log (stdout and stderr)", text: broker.output() });

    // What the secrets could have leaked into.
    const tokens = new Set<string>(tokenFields);
    for (const a of answers) {
      const t = tokenOf(a.res);
      if (t) tokens.add(t);
    }
    assert.ok(tokens.size >= 4, `tokens were handed out (${tokens.size})`);
    assert.ok(
      answers.some((a) => a.res.status === 503),
      "failures happened",
    );
    assert.ok(
      broker.output().split("\n").length > 50,
      `the broker logged at trace level (${broker.output().split("\n").length} lines):\n${broker.output().slice(0, 3000)}`,
    );
    const written = filesUnder(work);
    assert.ok(
      written.some((f) => f.path.includes("mail-1.json")),
      "the alert mail is among the files checked",
    );

    for (const a of answers) {
      assertNoSecret(a.res.wire, SECRETS, a.what);
      const tokenAnswer = a.op !== undefined && ["getAccountToken", "getToken", "invalidateToken"].includes(a.op) && a.res.status === 200;
      for (const t of tokens) {
        assert.ok(!JSON.stringify(a.res.headers).includes(t), `${a.what}: a token in a header`);
        if (!tokenAnswer) assert.ok(!a.res.text.includes(t), `${a.what}: a token outside a token answer`);
      }
    }
    const places = [
      ...outputs,
      { what: "Redis keys and values (token fields aside)", text: redisDump.join("\n") },
      ...written.map((f) => ({ what: `file ${relative(work, f.path)}`, text: f.text })),
    ];
    for (const p of places) {
      assertNoSecret(p.text, SECRETS, p.what);
      for (const t of tokens) assert.ok(!p.text.includes(t), `${p.what} holds a token`);
    }
    for (const o of outputs) run.t.diagnostic(`${o.what}: ${o.text.length} bytes`);
    run.cases(answers.length + places.length);
  },
);
