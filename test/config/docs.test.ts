// The documentation and the examples against the code: they cannot drift apart unnoticed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, VARIABLES, type VariableName } from "../../src/config";
import { CONFIGURATION_DOC, extractReference, renderVariableReference } from "../../src/config/docs";
import { ConfigError } from "../../src/config";
import { KEY } from "./helpers";

const ROOT = join(__dirname, "..", "..");
const NAMES = Object.keys(VARIABLES) as VariableName[];

void test("the variable reference in docs/configuration.md is the one generated from the code", () => {
  const doc = readFileSync(CONFIGURATION_DOC, "utf8");
  const inDoc = extractReference(doc);
  assert.ok(inDoc !== undefined, "docs/configuration.md lacks the generated-reference markers");
  assert.equal(inDoc, renderVariableReference(), "regenerate with: npx tsx src/config/docs.ts --write");
});

void test("the reference has one row per variable", () => {
  const rows = renderVariableReference()
    .split("\n")
    .filter((l) => l.startsWith("| `"))
    .map((l) => /^\| `([A-Z0-9_]+)`/.exec(l)?.[1]);
  assert.deepEqual(rows, NAMES);
});

void test("the loader reads every documented variable and no other", () => {
  const read = new Set<string>();
  const env = new Proxy({} as NodeJS.ProcessEnv, {
    get(_target, name) {
      if (typeof name === "string") read.add(name);
      return undefined;
    },
  });
  loadConfig(env);
  assert.deepEqual([...read].sort(), [...NAMES].sort());
});

void test("each documented default is the value applied when the variable is unset", () => {
  const base = { REDIS_URL: "redis://redis.internal" };
  const defaults = loadConfig(base);
  for (const name of NAMES) {
    const documented = (VARIABLES[name] as { default?: string | number }).default;
    if (documented === undefined) continue;
    assert.deepEqual(loadConfig({ ...base, [name]: String(documented) }), defaults, `${name}=${documented}`);
  }
});

void test("each documented integer range is the range enforced", () => {
  // Cross-variable rules are kept out of the way so that only the range decides.
  const base = { UPSTREAM_TIMEOUT_MS: "100", TOKEN_SAFETY_MARGIN_SEC: "0", REDIS_URL: "redis://redis.internal" };
  const rangeIssue = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
    try {
      loadConfig(env);
      return undefined;
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.issues.find((i) => i.source === name && i.message.startsWith("must be an integer"))?.message;
    }
  };
  let checked = 0;
  for (const name of NAMES) {
    const range = (VARIABLES[name] as { range?: readonly [number, number] }).range;
    if (range === undefined) continue;
    const [min, max] = range;
    const env = name === "UPSTREAM_TIMEOUT_MS" || name === "TOKEN_SAFETY_MARGIN_SEC" ? { REDIS_URL: base.REDIS_URL } : base;
    assert.equal(rangeIssue({ ...env, [name]: String(min) }, name), undefined, `${name}=${min}`);
    assert.equal(rangeIssue({ ...env, [name]: String(max) }, name), undefined, `${name}=${max}`);
    assert.match(rangeIssue({ ...env, [name]: String(max + 1) }, name) ?? "", new RegExp(`^must be an integer from ${min} to ${max}`));
    if (min > 0) assert.match(rangeIssue({ ...env, [name]: String(min - 1) }, name) ?? "", new RegExp(`from ${min} to ${max}`));
    checked++;
  }
  assert.ok(checked >= 10, `only ${checked} ranged variables`);
});

void test("the example accounts and API-keys files are valid configuration", () => {
  const accountsFile = join(ROOT, "examples", "accounts.example.yaml");
  const keysFile = join(ROOT, "examples", "api-keys.example.yaml");
  const secrets: Record<string, string> = {
    "/run/secrets/shop-official-appsecret": "fake-appsecret-1\n",
    "/run/secrets/shop-miniprogram-appsecret": "fake-appsecret-2\n",
    "/run/secrets/hr-wecom-corpsecret": "fake-corpsecret-3\n",
    "/run/secrets/order-service-api-key": `${KEY}-orders\n`,
    "/run/secrets/ops-admin-api-key": `${KEY}-ops\n`,
  };
  const readFile = (path: string) => secrets[path] ?? readFileSync(path);
  const c = loadConfig({ ACCOUNTS_FILE: accountsFile, API_KEYS_FILE: keysFile }, { readFile });
  assert.deepEqual(
    c.accounts.map((a) => [a.id, a.type, a.tokenApi]),
    [
      ["shop-official", "official", "stable"],
      ["shop-miniprogram", "miniprogram", "classic"],
      ["hr-wecom", "wecom", "stable"],
    ],
  );
  assert.deepEqual(
    c.auth.apiKeys.map((k) => [k.name, k.role]),
    [
      ["order-service", "client"],
      ["hr-portal", "client"],
      ["ops-admin", "admin"],
    ],
  );
  assert.deepEqual(c.warnings, []);
});

void test("the example files say that secrets belong in files", () => {
  for (const name of ["accounts.example.yaml", "api-keys.example.yaml"]) {
    const text = readFileSync(join(ROOT, "examples", name), "utf8");
    assert.match(text, /^#.*fake/im, name);
    assert.match(text, /in its own file/i, name);
  }
});
