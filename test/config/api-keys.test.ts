import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { assertIssue, containsString, KEY, load, loadError, ONE_ACCOUNT } from "./helpers";

const hash = (s: string) => createHash("sha256").update(s, "utf8").digest();

void test("a key is stored only as its SHA-256, with role client and every account by default", () => {
  const c = load({ API_KEYS: JSON.stringify([{ name: "orders", key: KEY }]) });
  assert.equal(c.auth.apiKeys.length, 1);
  const k = c.auth.apiKeys[0]!;
  assert.equal(k.name, "orders");
  assert.equal(k.role, "client");
  assert.equal(k.accounts, "*");
  assert.ok(Buffer.isBuffer(k.keySha256));
  assert.ok(k.keySha256.equals(hash(KEY)));
});

void test("the plaintext key is nowhere in the loaded config", () => {
  const fileKey = "fake-file-key-abcdefgh";
  const c = load(
    { API_KEYS_FILE: "/etc/wtb/keys.yaml" },
    { "/etc/wtb/keys.yaml": `- name: a\n  key: ${KEY}\n- name: b\n  keyFile: /run/secrets/b\n`, "/run/secrets/b": `${fileKey}\n` },
  );
  assert.equal(c.auth.apiKeys.length, 2);
  assert.equal(containsString(c, KEY), false);
  assert.equal(containsString(c, fileKey), false);
  assert.equal(containsString(c, Buffer.from(KEY).toString("hex")), false);
});

void test("keyFile is read without its trailing newline, then hashed", () => {
  const c = load({ API_KEYS: JSON.stringify([{ name: "a", keyFile: "/run/secrets/a" }]) }, { "/run/secrets/a": `${KEY}\n` });
  assert.ok(c.auth.apiKeys[0]!.keySha256.equals(hash(KEY)));
});

void test("keySha256 is taken as given, in either case of hex", () => {
  const hex = hash(KEY).toString("hex").toUpperCase();
  const c = load({ API_KEYS: JSON.stringify([{ name: "a", keySha256: hex }]) });
  assert.ok(c.auth.apiKeys[0]!.keySha256.equals(hash(KEY)));
});

void test("keySha256 must be 64 hex characters", () => {
  for (const bad of ["abc", "g".repeat(64), "a".repeat(65)]) {
    const err = loadError({ API_KEYS: JSON.stringify([{ name: "a", keySha256: bad }]) });
    assertIssue(err, "API_KEYS: [0].keySha256", "must be 64 hexadecimal characters (the SHA-256 of the key)");
  }
});

void test("a key must be at least 16 characters of printable ASCII without spaces", () => {
  assert.equal(load({ API_KEYS: JSON.stringify([{ name: "a", key: "k".repeat(16) }]) }).auth.apiKeys.length, 1);
  assertIssue(
    loadError({ API_KEYS: JSON.stringify([{ name: "a", key: "k".repeat(15) }]) }),
    "API_KEYS: [0].key",
    "must be at least 16 characters",
  );
  assertIssue(
    loadError({ API_KEYS: JSON.stringify([{ name: "a", key: "has a space in it!" }]) }),
    "API_KEYS: [0].key",
    /printable ASCII without spaces/,
  );
});

void test("a key read from a file must meet the same rules, and the report names the file", () => {
  const err = loadError({ API_KEYS: JSON.stringify([{ name: "a", keyFile: "/run/secrets/a" }]) }, { "/run/secrets/a": "short\n" });
  assertIssue(err, "API_KEYS: [0].keyFile", "the key in /run/secrets/a must be at least 16 characters");
});

void test("exactly one of key, keyFile and keySha256 is required", () => {
  assertIssue(loadError({ API_KEYS: '[{"name":"a"}]' }), "API_KEYS: [0].key", "required: set key, keyFile or keySha256");
  assertIssue(
    loadError({ API_KEYS: JSON.stringify([{ name: "a", key: KEY, keyFile: "/k" }]) }),
    "API_KEYS: [0].keyFile",
    "set only one of key, keyFile",
  );
});

void test("key names are unique", () => {
  const err = loadError({
    API_KEYS: JSON.stringify([
      { name: "a", key: KEY },
      { name: "a", key: `${KEY}-2` },
    ]),
  });
  assertIssue(err, "API_KEYS: [1].name", 'duplicate name "a": also used by [0]');
});

void test("the same key under two names is refused", () => {
  const err = loadError({
    API_KEYS: JSON.stringify([
      { name: "a", key: KEY },
      { name: "b", keySha256: hash(KEY).toString("hex") },
    ]),
  });
  assertIssue(err, "API_KEYS: [1].keySha256", 'is the same key as [0] ("a"): give each client its own key');
});

void test("roles are client or admin", () => {
  const c = load({ API_KEYS: JSON.stringify([{ name: "ops", key: KEY, role: "admin" }]) });
  assert.equal(c.auth.apiKeys[0]!.role, "admin");
  assertIssue(
    loadError({ API_KEYS: JSON.stringify([{ name: "a", key: KEY, role: "root" }]) }),
    "API_KEYS: [0].role",
    "must be one of client, admin",
  );
});

void test("a key may be limited to configured accounts", () => {
  const c = load({ ACCOUNTS: ONE_ACCOUNT, API_KEYS: JSON.stringify([{ name: "a", key: KEY, accounts: ["shop", "shop"] }]) });
  assert.deepEqual(c.auth.apiKeys[0]!.accounts, ["shop"]);
});

void test("a key naming an account that does not exist is refused", () => {
  const err = loadError({ ACCOUNTS: ONE_ACCOUNT, API_KEYS: JSON.stringify([{ name: "a", key: KEY, accounts: ["shop", "ghost"] }]) });
  assertIssue(err, "API_KEYS: [0].accounts[1]", 'no account has id "ghost"');
});

void test('"*" must stand alone and the account list must not be empty', () => {
  assertIssue(
    loadError({ ACCOUNTS: ONE_ACCOUNT, API_KEYS: JSON.stringify([{ name: "a", key: KEY, accounts: ["*", "shop"] }]) }),
    "API_KEYS: [0].accounts",
    '"*" means every account: it must be alone',
  );
  assertIssue(
    loadError({ API_KEYS: JSON.stringify([{ name: "a", key: KEY, accounts: [] }]) }),
    "API_KEYS: [0].accounts",
    'must list account ids, or ["*"] for every account',
  );
});

void test("an account with other problems still counts as existing for key references", () => {
  const err = loadError({
    ACCOUNTS: '[{"id":"shop","appId":"wx1"}]',
    API_KEYS: JSON.stringify([{ name: "a", key: KEY, accounts: ["shop"] }]),
  });
  assert.deepEqual(
    err.issues.map((i) => i.source),
    ["ACCOUNTS: [0].appSecret"],
  );
});

void test("API_KEYS and API_KEYS_FILE together are refused", () => {
  const err = loadError({ API_KEYS: "[]", API_KEYS_FILE: "/etc/wtb/keys.yaml" }, { "/etc/wtb/keys.yaml": "[]" });
  assertIssue(err, "API_KEYS_FILE", "API_KEYS and API_KEYS_FILE are both set: set only one");
});

void test("an API-keys file may be YAML and requires authentication", () => {
  const c = load(
    { API_KEYS_FILE: "/etc/wtb/keys.yml" },
    { "/etc/wtb/keys.yml": `# keys\n- name: orders\n  key: "${KEY}"\n  accounts: ["*"]\n` },
  );
  assert.equal(c.auth.required, true);
  assert.equal(c.auth.apiKeys[0]!.name, "orders");
});

void test("an empty key list leaves authentication off and says so", () => {
  const c = load({ API_KEYS: "[]" });
  assert.equal(c.auth.required, false);
  assert.deepEqual(
    c.warnings.filter((w) => w.startsWith("API_KEYS")),
    ["API_KEYS: the list is empty, so authentication is off"],
  );
});

void test("a key may be limited to scopes (token, ticket, sign); without scopes it has all three", () => {
  const c = load({
    API_KEYS: JSON.stringify([
      { name: "pages", key: KEY, scopes: ["sign"] },
      { name: "all", key: `${KEY}-2`, scopes: ["sign", "token", "ticket"] },
      { name: "old", key: `${KEY}-3` },
    ]),
  });
  assert.deepEqual(c.auth.apiKeys[0]!.scopes, ["sign"]);
  assert.equal(c.auth.apiKeys[1]!.scopes, undefined, "all three is the same as none given");
  assert.equal(c.auth.apiKeys[2]!.scopes, undefined);
  assertIssue(
    loadError({ API_KEYS: JSON.stringify([{ name: "a", key: KEY, scopes: ["sign", "admin"] }]) }),
    "API_KEYS: [0].scopes[1]",
    "must be one of token, ticket, sign",
  );
  assertIssue(
    loadError({ API_KEYS: JSON.stringify([{ name: "a", key: KEY, scopes: [] }]) }),
    "API_KEYS: [0].scopes",
    'must list what the key may read: "token", "ticket" and/or "sign" (leave it out for all three)',
  );
});
