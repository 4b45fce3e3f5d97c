// The report as a whole: every problem at once, in documentation order, and never a secret in it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import { ConfigError } from "../../src/config";
import { parseDocument } from "../../src/config/documents";
import { Problems } from "../../src/config/errors";
import { validate } from "../../src/config/zod-issues";
import { load, loadError, sources } from "./helpers";

void test("many problems are reported together in one error, in documentation order", () => {
  const accounts = "accounts:\n  - id: a\n    appSecret: fake-s-1\n  - id: a b\n    appId: wx2\n    appSecret: fake-s-2\n";
  const err = loadError(
    {
      PORT: "99999",
      HOST: "0.0.0.0",
      LOG_LEVEL: "loud",
      TLS_CERT_FILE: "/etc/tls/cert.pem",
      ACCOUNTS_FILE: "/etc/wtb/accounts.yaml",
      REDIS_SENTINELS: "s1:26379",
      KEY_PREFIX: "no spaces allowed",
      UPSTREAM_TIMEOUT_MS: "8000",
      LOCK_TTL_MS: "8000",
      STABLE_REFRESH_AHEAD_SEC: "600",
    },
    { "/etc/wtb/accounts.yaml": accounts },
  );
  assert.deepEqual(sources(err), [
    "PORT",
    "HOST",
    "LOG_LEVEL",
    "TLS_KEY_FILE",
    "ACCOUNTS_FILE /etc/wtb/accounts.yaml: accounts[0].appId",
    "ACCOUNTS_FILE /etc/wtb/accounts.yaml: accounts[1].id",
    "REDIS_SENTINEL_NAME",
    "KEY_PREFIX",
    "LOCK_TTL_MS",
    "STABLE_REFRESH_AHEAD_SEC",
  ]);
  const lines = err.message.split("\n");
  assert.equal(lines[0], "invalid configuration (10 problems):");
  assert.equal(lines.length, 11);
  for (const issue of err.issues) assert.ok(lines.includes(`  - ${issue.source}: ${issue.message}`), issue.source);
});

void test("a ConfigError is an Error named ConfigError, with one issue per line of its message", () => {
  const err = loadError({ PORT: "x" });
  assert.ok(err instanceof Error);
  assert.equal(err.name, "ConfigError");
  assert.equal(err.message, "invalid configuration (1 problem):\n  - PORT: must be an integer from 1 to 65535");
  assert.deepEqual(err.issues, [{ source: "PORT", message: "must be an integer from 1 to 65535" }]);
});

// Distinctive secrets: each must be absent from everything reported.
const S = {
  appSecretWithSpace: "Sx1-app secret-QWJ7",
  corpSecret: "Sx2-corp-secret-ZPL4",
  fileSecretWithSpace: "Sx3-file secret-MNB8",
  shortKey: "Sx4-key-RT5",
  keyWithSpace: "Sx5 key with spaces LKJ6",
  fileKeyShort: "Sx6-kf-PO9",
  redisUrlPassword: "Sx7-redis-url-HGF3",
  tlsPassphrase: "Sx8-tls-pass-DSA2",
  validKey: "Sx9-valid-api-key-XCV1",
  keyAsYamlKey: "Sx10-pasted-as-key-UYT5",
};

function assertNoSecret(err: ConfigError, secrets: Record<string, string>): void {
  const everything = `${err.message}\n${JSON.stringify(err.issues)}\n${err.stack ?? ""}`;
  for (const [what, secret] of Object.entries(secrets)) assert.ok(!everything.includes(secret), `${what} leaked:\n${err.message}`);
  // The scrubber would have replaced a leaked secret; its mark proves messages are built without values.
  assert.ok(!everything.includes("[REDACTED]"), `a message was built with a secret in it:\n${err.message}`);
}

void test("no secret value appears in any error message or issue, even when the secret is the invalid value", () => {
  const accounts = [
    "accounts:",
    "  - id: a",
    "    appId: wx1",
    `    appSecret: "${S.appSecretWithSpace}"`,
    "  - id: b",
    "    appId: wx2",
    `    corpSecret: ${S.corpSecret}`,
    "  - id: c",
    "    appId: wx3",
    "    appSecretFile: /run/secrets/c",
    "  - id: d",
    "    appId: wx4",
    "    appSecret: fake-secret-d",
    `    ${S.keyAsYamlKey}: x`,
  ].join("\n");
  const keys = JSON.stringify([
    { name: "short", key: S.shortKey },
    { name: "spaced", key: S.keyWithSpace },
    { name: "file", keyFile: "/run/secrets/k" },
    { name: "dup1", key: S.validKey },
    { name: "dup2", key: S.validKey },
  ]);
  const err = loadError(
    {
      ACCOUNTS_FILE: "/etc/wtb/accounts.yaml",
      API_KEYS: keys,
      REDIS_URL: `redis://broker:${S.redisUrlPassword}@redis.internal/0?tls=1`,
      TLS_PFX_PASSPHRASE: S.tlsPassphrase,
    },
    {
      "/etc/wtb/accounts.yaml": accounts,
      "/run/secrets/c": `${S.fileSecretWithSpace}\n`,
      "/run/secrets/k": `${S.fileKeyShort}\n`,
    },
  );
  // Every secret-bearing value produced its problem, so absence below is meaningful.
  assert.deepEqual(sources(err).sort(), [
    "ACCOUNTS_FILE /etc/wtb/accounts.yaml: accounts[0].appSecret",
    "ACCOUNTS_FILE /etc/wtb/accounts.yaml: accounts[1].corpSecret",
    "ACCOUNTS_FILE /etc/wtb/accounts.yaml: accounts[2].appSecretFile",
    "ACCOUNTS_FILE /etc/wtb/accounts.yaml: accounts[3]",
    "API_KEYS: [0].key",
    "API_KEYS: [1].key",
    "API_KEYS: [2].keyFile",
    "API_KEYS: [4].key",
    "REDIS_URL",
    "TLS_PFX_PASSPHRASE",
  ]);
  assertNoSecret(err, S);
});

void test("a secret inside unparseable inline JSON is not quoted", () => {
  const secret = "Sx11-json-secret-BVC8";
  const err = loadError({ ACCOUNTS: `[{"id":"a","appId":"wx1","appSecret": ${secret}}]` });
  assert.deepEqual(sources(err), ["ACCOUNTS"]);
  assert.match(err.issues[0]!.message, /^is not valid JSON/);
  assertNoSecret(err, { secret });
});

void test("a secret on a line of unparseable YAML is not quoted", () => {
  const secret = "Sx12-yaml-secret-NMQ3";
  const err = loadError({ ACCOUNTS_FILE: "/a.yaml" }, { "/a.yaml": `- id: a\n  appId: wx1\n  appSecret: "${secret}\n  x: [\n` });
  assert.match(err.issues[0]!.message, /^is not valid YAML: .* at line \d+, column \d+$/);
  assertNoSecret(err, { secret });
});

void test("a Redis password given without Redis is not quoted", () => {
  const secret = "Sx13-redis-pw-LKP0";
  const err = loadError({ REDIS_PASSWORD: secret, REDIS_URL: "" });
  assert.deepEqual(sources(err), ["REDIS_PASSWORD"]);
  assertNoSecret(err, { secret });
});

void test("warnings carry no secrets either", () => {
  const secret = "Sx14-wecom-secret-TRE6";
  const c = load({ ACCOUNTS: JSON.stringify([{ id: "hr", type: "wecom", corpId: "ww1", corpSecret: secret, tokenApi: "classic" }]) });
  assert.equal(c.warnings.length, 1);
  assert.ok(!c.warnings.join("\n").includes(secret));
});

void test("zod messages describe the rule, never the input", () => {
  const secret = "Sx15-zod-input-WQA9";
  const problems = new Problems();
  const schema = z.strictObject({
    a: z.number(),
    b: z.enum(["x", "y"]),
    c: z.string().min(64),
    d: z.array(z.string()),
  });
  validate(schema, { a: secret, b: secret, c: secret, d: secret, [secret]: 1 }, problems, "ORIGIN");
  const issues = problems.issues();
  assert.equal(issues.length, 5);
  for (const i of issues) assert.ok(!`${i.source} ${i.message}`.includes(secret), `${i.source}: ${i.message}`);
  assert.deepEqual(
    issues.map((i) => i.message),
    [
      "must be a number, not a string",
      "must be one of x, y",
      "must be at least 64 characters",
      "must be a list, not a string",
      "unknown key 1 key that is not a valid name; allowed: a, b, c, d",
    ],
  );
});

void test("JSON and YAML parse errors give a position, never the text around it", () => {
  const secret = "Sx16-parse-EWQ2";
  const json = parseDocument(`{"a": "ok",\n "b": ${secret}}`, "json");
  const yaml = parseDocument(`a: ok\nb: "${secret}\n`, "yaml");
  assert.equal(json.ok, false);
  assert.equal(yaml.ok, false);
  for (const p of [...(json.ok ? [] : json.problems), ...(yaml.ok ? [] : yaml.problems)]) {
    assert.ok(!p.includes(secret), p);
    assert.ok(!p.includes("Sx16"), p);
  }
});

void test("the scrubber replaces any registered secret in what is reported", () => {
  const problems = new Problems();
  problems.secret("Sx17-registered-PLM4");
  problems.add("X Sx17-registered-PLM4", "leaked Sx17-registered-PLM4 twice Sx17-registered-PLM4");
  problems.warn("warned Sx17-registered-PLM4");
  assert.deepEqual(problems.issues(), [{ source: "X [REDACTED]", message: "leaked [REDACTED] twice [REDACTED]" }]);
  assert.deepEqual(problems.warnings(), ["warned [REDACTED]"]);
});
