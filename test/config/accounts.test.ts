import { test } from "node:test";
import assert from "node:assert/strict";
import { assertIssue, load, loadError, sources } from "./helpers";

const FILE = "/etc/wtb/accounts.yaml";
const AT = `ACCOUNTS_FILE ${FILE}`;

void test("a YAML accounts file with an accounts key gives typed accounts with defaults applied", () => {
  const yaml = [
    "accounts:",
    "  - id: shop",
    "    appId: wx0000000000000001",
    "    appSecret: fake-secret-shop-01",
    "  - id: mini",
    "    type: miniprogram",
    "    appId: wx0000000000000002",
    "    appSecret: fake-secret-mini-02",
    "    tokenApi: classic",
  ].join("\n");
  const c = load({ ACCOUNTS_FILE: FILE }, { [FILE]: yaml });
  assert.deepEqual(c.accounts, [
    { id: "shop", type: "official", appId: "wx0000000000000001", appSecret: "fake-secret-shop-01", tokenApi: "stable" },
    { id: "mini", type: "miniprogram", appId: "wx0000000000000002", appSecret: "fake-secret-mini-02", tokenApi: "classic" },
  ]);
  assert.deepEqual(c.warnings, []);
});

void test("an accounts file may also be a bare YAML list", () => {
  const c = load({ ACCOUNTS_FILE: FILE }, { [FILE]: "- id: shop\n  appId: wx1\n  appSecret: fake-secret-a\n" });
  assert.deepEqual(
    c.accounts.map((a) => a.id),
    ["shop"],
  );
});

void test("a .json accounts file is read as JSON, in either shape", () => {
  const list = [{ id: "shop", appId: "wx1", appSecret: "fake-secret-j" }];
  assert.equal(load({ ACCOUNTS_FILE: "/etc/wtb/a.json" }, { "/etc/wtb/a.json": JSON.stringify(list) }).accounts.length, 1);
  const wrapped = JSON.stringify({ accounts: list });
  assert.equal(load({ ACCOUNTS_FILE: "/etc/wtb/a.json" }, { "/etc/wtb/a.json": wrapped }).accounts.length, 1);
});

void test("ACCOUNTS holds the list inline as JSON", () => {
  const c = load({ ACCOUNTS: '[{"id":"shop","appId":"wx1","appSecret":"fake-secret-i"}]' });
  assert.equal(c.accounts[0]?.appSecret, "fake-secret-i");
});

void test("ACCOUNTS and ACCOUNTS_FILE together are refused", () => {
  const err = loadError({ ACCOUNTS: "[]", ACCOUNTS_FILE: FILE }, { [FILE]: "[]" });
  assertIssue(err, "ACCOUNTS_FILE", "ACCOUNTS and ACCOUNTS_FILE are both set: set only one");
});

void test("a missing appId is reported with the file, the position and the key", () => {
  const yaml = "accounts:\n  - id: a\n    appId: wx1\n    appSecret: fake-s-1\n  - id: b\n    appSecret: fake-s-2\n";
  const err = loadError({ ACCOUNTS_FILE: FILE }, { [FILE]: yaml });
  assertIssue(err, `${AT}: accounts[1].appId`, "required");
  assert.ok(err.message.includes("ACCOUNTS_FILE /etc/wtb/accounts.yaml: accounts[1].appId: required"));
});

void test("an account needs exactly one of appSecret and appSecretFile", () => {
  const none = loadError({ ACCOUNTS: '[{"id":"a","appId":"wx1"}]' });
  assertIssue(none, "ACCOUNTS: [0].appSecret", "required: set appSecret or appSecretFile");
  const both = loadError({ ACCOUNTS: '[{"id":"a","appId":"wx1","appSecret":"fake-s","appSecretFile":"/s"}]' });
  assertIssue(both, "ACCOUNTS: [0].appSecretFile", "set only one of appSecret, appSecretFile");
});

void test("ids must match the account id pattern", () => {
  for (const bad of ["has space", "a/b", "x".repeat(65), ""]) {
    const err = loadError({ ACCOUNTS: JSON.stringify([{ id: bad, appId: "wx1", appSecret: "fake-s" }]) });
    assertIssue(err, "ACCOUNTS: [0].id", "must be 1–64 letters, digits, _ or -");
  }
});

void test("a duplicate id is reported naming both positions", () => {
  const list = [
    { id: "shop", appId: "wx1", appSecret: "fake-s" },
    { id: "other", appId: "wx2", appSecret: "fake-s" },
    { id: "shop", appId: "wx3", appSecret: "fake-s" },
  ];
  const err = loadError({ ACCOUNTS_FILE: FILE }, { [FILE]: JSON.stringify({ accounts: list }) });
  assertIssue(err, `${AT}: accounts[2].id`, 'duplicate id "shop": also used by accounts[0]');
});

void test("an unknown type is refused, listing the types", () => {
  const err = loadError({ ACCOUNTS: '[{"id":"a","type":"channels","appId":"wx1","appSecret":"fake-s"}]' });
  assertIssue(err, "ACCOUNTS: [0].type", "must be one of official, miniprogram, wecom");
});

void test("an unknown tokenApi is refused", () => {
  const err = loadError({ ACCOUNTS: '[{"id":"a","appId":"wx1","appSecret":"fake-s","tokenApi":"fast"}]' });
  assertIssue(err, "ACCOUNTS: [0].tokenApi", "must be one of stable, classic");
});

void test("an unknown key is refused with a suggestion for a wrongly-cased one", () => {
  const err = loadError({ ACCOUNTS: '[{"id":"a","appId":"wx1","appsecret":"fake-s"}]' });
  assertIssue(err, "ACCOUNTS: [0]", /^unknown key "appsecret" \(did you mean "appSecret"\?\)/);
  assertIssue(err, "ACCOUNTS: [0].appSecret", /required/);
});

void test("a WeCom account may use corpId, corpSecret and corpSecretFile, and tokenApi is ignored with a warning", () => {
  const c = load(
    {
      ACCOUNTS_FILE: FILE,
    },
    {
      [FILE]: [
        "- id: hr",
        "  type: wecom",
        "  corpId: ww0000000000000003",
        "  corpSecret: fake-corp-secret-1",
        "- id: it",
        "  type: wecom",
        "  corpId: ww0000000000000004",
        "  corpSecretFile: /run/secrets/it",
        "  tokenApi: classic",
      ].join("\n"),
      "/run/secrets/it": "fake-corp-secret-2\n",
    },
  );
  assert.deepEqual(c.accounts, [
    { id: "hr", type: "wecom", appId: "ww0000000000000003", appSecret: "fake-corp-secret-1", tokenApi: "stable" },
    { id: "it", type: "wecom", appId: "ww0000000000000004", appSecret: "fake-corp-secret-2", tokenApi: "stable" },
  ]);
  assert.deepEqual(c.warnings, [`${AT}: [1].tokenApi: ignored for wecom accounts (WeCom has a single token API)`]);
});

void test("a WeCom account may also use appId and appSecret", () => {
  const c = load({ ACCOUNTS: '[{"id":"hr","type":"wecom","appId":"ww1","appSecret":"fake-s"}]' });
  assert.equal(c.accounts[0]?.appId, "ww1");
});

void test("corp* keys on a non-WeCom account are refused", () => {
  const err = loadError({ ACCOUNTS: '[{"id":"a","corpId":"wx1","corpSecret":"fake-s"}]' });
  assertIssue(err, "ACCOUNTS: [0].corpId", "is only for wecom accounts: use appId");
  assertIssue(err, "ACCOUNTS: [0].corpSecret", "is only for wecom accounts: use appSecret");
});

void test("appId and corpId together are refused", () => {
  const err = loadError({ ACCOUNTS: '[{"id":"a","type":"wecom","appId":"ww1","corpId":"ww1","appSecret":"fake-s"}]' });
  assertIssue(err, "ACCOUNTS: [0].corpId", "appId and corpId are the same setting: set only one");
});

void test("appSecretFile is read, loses its trailing newline, and a relative path is resolved beside the accounts file", () => {
  const c = load(
    { ACCOUNTS_FILE: FILE },
    { [FILE]: "- id: a\n  appId: wx1\n  appSecretFile: secrets/a\n", "/etc/wtb/secrets/a": "fake-file-secret\r\n" },
  );
  assert.equal(c.accounts[0]?.appSecret, "fake-file-secret");
});

void test("a missing secret file is an error naming the key and the path", () => {
  const err = loadError({ ACCOUNTS_FILE: FILE }, { [FILE]: "- id: a\n  appId: wx1\n  appSecretFile: /run/secrets/nope\n" });
  assertIssue(err, `${AT}: [0].appSecretFile`, "cannot read /run/secrets/nope: no such file");
});

void test("an empty secret file is an error naming the key and the path", () => {
  const err = loadError(
    { ACCOUNTS_FILE: FILE },
    { [FILE]: "- id: a\n  appId: wx1\n  appSecretFile: /run/secrets/a\n", "/run/secrets/a": "\n" },
  );
  assertIssue(err, `${AT}: [0].appSecretFile`, "/run/secrets/a is empty");
});

void test("an empty or blank inline appSecret is refused", () => {
  assertIssue(loadError({ ACCOUNTS: '[{"id":"a","appId":"wx1","appSecret":""}]' }), "ACCOUNTS: [0].appSecret", "must not be empty");
  assertIssue(
    loadError({ ACCOUNTS: '[{"id":"a","appId":"wx1","appSecret":"fake secret"}]' }),
    "ACCOUNTS: [0].appSecret",
    "must not contain whitespace or control characters",
  );
});

void test("an entry that is not a mapping, and a document that is not a list, are refused", () => {
  assertIssue(loadError({ ACCOUNTS: '["shop"]' }), "ACCOUNTS: [0]", /must be a mapping/);
  assertIssue(loadError({ ACCOUNTS: '{"id":"shop"}' }), "ACCOUNTS", 'must be a list, or a mapping with an "accounts" list');
  assertIssue(loadError({ ACCOUNTS_FILE: FILE }, { [FILE]: "accounts: shop\n" }), `${AT}: accounts`, "must be a list");
});

void test("every problem of one entry is reported, not just the first", () => {
  const err = loadError({ ACCOUNTS: '[{"id":"bad id","type":"nope","tokenApi":"x","colour":"red"}]' });
  assert.deepEqual(sources(err).sort(), [
    "ACCOUNTS: [0]",
    "ACCOUNTS: [0].appId",
    "ACCOUNTS: [0].appSecret",
    "ACCOUNTS: [0].id",
    "ACCOUNTS: [0].tokenApi",
    "ACCOUNTS: [0].type",
  ]);
});

void test("an empty account list is allowed, with a warning", () => {
  const c = load({ ACCOUNTS_FILE: FILE }, { [FILE]: "accounts: []\n" });
  assert.deepEqual(c.accounts, []);
  assert.deepEqual(c.warnings, ["the account list is empty: the broker serves no tokens, only diagnosis"]);
});
