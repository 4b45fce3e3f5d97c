// Files on a real file system (the default reader), and the `<NAME>_FILE` convention.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { loadConfig } from "../../src/config";
import { assertIssue, captureConfigError, fakeFs, KEY, load, loadError } from "./helpers";

let dir = "";
before(() => {
  dir = mkdtempSync(join(tmpdir(), "wtb-config-"));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

void test("accounts, API keys and secrets are read from real files, with paths relative to the document", () => {
  mkdirSync(join(dir, "secrets"), { recursive: true });
  write("secrets/shop", "fake-real-file-secret\n");
  write("secrets/orders-key", `${KEY}\n`);
  const accounts = write("accounts.yaml", "accounts:\n  - id: shop\n    appId: wx1\n    appSecretFile: secrets/shop\n");
  const keys = write("keys.json", JSON.stringify([{ name: "orders", keyFile: "secrets/orders-key", accounts: ["shop"] }]));
  const redisPw = write("redis-pw", "fake-redis-file-pw\n");

  const c = loadConfig({
    ACCOUNTS_FILE: accounts,
    API_KEYS_FILE: keys,
    REDIS_URL: "redis://redis.internal",
    REDIS_PASSWORD_FILE: redisPw,
  });
  assert.equal(c.accounts[0]?.appSecret, "fake-real-file-secret");
  assert.ok(c.auth.apiKeys[0]?.keySha256.equals(createHash("sha256").update(KEY).digest()));
  assert.equal(c.redis?.password, "fake-redis-file-pw");
});

void test("a missing file named by a _FILE variable is reported with the variable and the path", () => {
  const path = join(dir, "does-not-exist");
  const err = captureConfigError(() => loadConfig({ REDIS_URL: "redis://r", REDIS_PASSWORD_FILE: path }));
  assertIssue(err, "REDIS_PASSWORD_FILE", `cannot read ${path}: no such file`);
});

void test("a directory given as a file is reported as such", () => {
  assertIssue(
    captureConfigError(() => loadConfig({ ACCOUNTS_FILE: dir })),
    "ACCOUNTS_FILE",
    `cannot read ${dir}: is a directory`,
  );
});

void test("a UTF-8 byte-order mark at the start of a document is ignored", () => {
  const path = write("bom.yaml", "\ufeff- id: a\n  appId: wx1\n  appSecret: fake-bom-secret\n");
  assert.equal(loadConfig({ ACCOUNTS_FILE: path }).accounts[0]?.id, "a");
});

void test("an empty document file is refused, and an empty secret file too", () => {
  const err = loadError(
    { ACCOUNTS_FILE: "/a.yaml", API_KEYS_FILE: "/k.yaml", REDIS_URL: "redis://r", REDIS_PASSWORD_FILE: "/pw" },
    { "/a.yaml": "  \n", "/k.yaml": "", "/pw": "\n" },
  );
  assertIssue(err, "ACCOUNTS_FILE", "/a.yaml is empty");
  assertIssue(err, "API_KEYS_FILE", "/k.yaml is empty");
  assertIssue(err, "REDIS_PASSWORD_FILE", "/pw is empty");
});

void test("each variable that accepts a _FILE form refuses both forms at once", () => {
  const cases: [string, string, NodeJS.ProcessEnv][] = [
    ["REDIS_PASSWORD", "fake-pw-both", { REDIS_URL: "redis://r" }],
    ["ACCOUNTS", "[]", {}],
    ["API_KEYS", "[]", {}],
    ["TLS_PFX_PASSPHRASE", "fake-pass-both", { TLS_PFX_FILE: "/server.p12" }],
  ];
  for (const [name, value, extra] of cases) {
    const err = loadError({ ...extra, [name]: value, [`${name}_FILE`]: "/f" }, { "/f": value });
    assertIssue(err, `${name}_FILE`, `${name} and ${name}_FILE are both set: set only one`);
  }
});

void test("ACCOUNTS_FILE and API_KEYS_FILE read the file's content as the document", () => {
  const c = load(
    { ACCOUNTS_FILE: "/a.json", API_KEYS_FILE: "/k.yaml" },
    { "/a.json": '[{"id":"a","appId":"wx1","appSecret":"fake-s-json"}]', "/k.yaml": `- name: n\n  key: ${KEY}\n` },
  );
  assert.equal(c.accounts[0]?.appSecret, "fake-s-json");
  assert.equal(c.auth.apiKeys[0]?.name, "n");
});

void test("a file whose extension is not .json is parsed as YAML, which also accepts JSON", () => {
  const c = load({ ACCOUNTS_FILE: "/accounts.conf" }, { "/accounts.conf": '{"accounts":[{"id":"a","appId":"wx1","appSecret":"fake-s"}]}' });
  assert.equal(c.accounts.length, 1);
});

void test("a .json file is held to JSON, so YAML in it is refused", () => {
  const err = loadError({ ACCOUNTS_FILE: "/a.json" }, { "/a.json": "- id: a\n" });
  assertIssue(err, "ACCOUNTS_FILE /a.json", /^is not valid JSON/);
});

void test("duplicate keys in a YAML mapping are refused with their position", () => {
  const err = loadError({ ACCOUNTS_FILE: "/a.yaml" }, { "/a.yaml": "- id: a\n  appId: wx1\n  appId: wx2\n  appSecret: fake-s\n" });
  assertIssue(err, "ACCOUNTS_FILE /a.yaml", "is not valid YAML: map keys must be unique at line 3, column 3");
});

void test("a mis-indented accounts file is reported with the YAML parser's own reason and its line and column", () => {
  const secret = "fake-s-Q7M-not-in-any-message";
  const text = `accounts:\n  - id: a\n    appId: wx1\n    appSecret: ${secret}\n - id: b\n   appId: wx2\n`;
  const err = loadError({ ACCOUNTS_FILE: "/a.yaml" }, { "/a.yaml": `- id: a\n  appSecret: ${secret}\n appId: x\n` });
  assertIssue(err, "ACCOUNTS_FILE /a.yaml", "is not valid YAML: sequence item without - indicator at line 3, column 1");
  const other = loadError({ ACCOUNTS_FILE: "/b.yaml" }, { "/b.yaml": text });
  assert.ok(
    other.issues.every((i) => !i.message.includes("closing quote")),
    other.issues.map((i) => i.message).join("\n"),
  );
  assert.doesNotMatch(JSON.stringify([...err.issues, ...other.issues]), new RegExp(secret));
});

void test("files are read only when their variable is set", () => {
  const fs = fakeFs({});
  loadConfig({}, { readFile: fs.readFile });
  assert.deepEqual(fs.reads, []);
});

void test("YAML values are read as text, so unquoted digits keep their exact form", () => {
  const zeros = "0".repeat(64);
  const c = load(
    { ACCOUNTS_FILE: "/a.yaml", API_KEYS_FILE: "/k.yaml" },
    {
      "/a.yaml": "- id: 2024\n  appId: wx1\n  appSecret: 0123e4567\n",
      "/k.yaml": `- name: n\n  keySha256: ${zeros}\n`,
    },
  );
  assert.equal(c.accounts[0]?.id, "2024");
  assert.equal(c.accounts[0]?.appSecret, "0123e4567");
  assert.equal(c.auth.apiKeys[0]?.keySha256.toString("hex"), zeros);
});

void test("an accounts key with nothing after it in YAML means no accounts", () => {
  const c = load({ ACCOUNTS_FILE: "/a.yaml" }, { "/a.yaml": "accounts:\n" });
  assert.deepEqual(c.accounts, []);
});
