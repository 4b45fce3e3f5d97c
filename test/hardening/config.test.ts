// Broken configurations at start-up, through the real CLI: `serve` must exit 2 with one clear report naming each
// problem (the variable, or the file and key), print no stack trace and no secret, and never start listening.
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../helpers/ports";
import { assertNoSecret, runCli } from "./harness";
import { scenario } from "./record";

const SECRETS = {
  app: "AppSecret-cfg-Q7v2L9x4",
  app2: "AppSecret-cfg-W3k8P1z6",
  redis: "RedisPass-cfg-H5j2N8c1",
  key: "cfg-api-key-M4t7R2w9e6y1u3i5",
  passphrase: "Passphrase-cfg-B6n1V4c8",
};
const ALL_SECRETS = Object.values(SECRETS);

let dir: string;
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

interface Case {
  name: string;
  env: () => Record<string, string>;
  /** One pattern per expected problem line (`  - SOURCE: message`), in order. */
  problems: RegExp[];
}

const account = (extra: Record<string, unknown> = {}) => ({ id: "gh_cfg", appId: "wx_cfg", appSecret: SECRETS.app, ...extra });

const CASES: Case[] = [
  {
    name: "a missing secret file",
    env: () => ({
      ACCOUNTS_FILE: file(
        "accounts-missing.yaml",
        `accounts:\n  - id: gh_cfg\n    appId: wx_cfg\n    appSecretFile: ${join(dir, "nope", "appsecret")}\n`,
      ),
    }),
    problems: [/^ACCOUNTS_FILE \S+accounts-missing\.yaml: accounts\[0\]\.appSecretFile: cannot read \S+appsecret: no such file$/],
  },
  {
    name: "a duplicate account id",
    env: () => ({ ACCOUNTS: JSON.stringify([account(), account({ appId: "wx_cfg2", appSecret: SECRETS.app2 })]) }),
    problems: [/^ACCOUNTS: \[1\]\.id: duplicate id "gh_cfg"/],
  },
  {
    name: "a bad Redis URL carrying a password",
    env: () => ({ ACCOUNTS: JSON.stringify([account()]), REDIS_URL: `redis://:${SECRETS.redis}@bad host:6379/0` }),
    problems: [/^REDIS_URL: is not a valid URL/],
  },
  {
    name: "a Redis URL with a query string and a path that is not a database",
    env: () => ({ ACCOUNTS: JSON.stringify([account()]), REDIS_URL: `redis://:${SECRETS.redis}@127.0.0.1:1/x?password=${SECRETS.redis}` }),
    problems: [/^REDIS_URL: path must be a database number/, /^REDIS_URL: must not have a query string/],
  },
  {
    name: "a WeChat API base that is not http(s)",
    env: () => ({ ACCOUNTS: JSON.stringify([account()]), WECHAT_API_BASE: `ftp://api.example/?secret=${SECRETS.app}` }),
    problems: [/^WECHAT_API_BASE: must be an http:\/\/ or https:\/\/ URL/],
  },
  {
    name: "bad YAML next to an AppSecret",
    env: () => ({
      ACCOUNTS_FILE: file("accounts-bad.yaml", `accounts:\n  - id: gh_cfg\n    appId: wx_cfg\n    appSecret: "${SECRETS.app}\n  - [ : \n`),
    }),
    problems: [/^ACCOUNTS_FILE \S+accounts-bad\.yaml: is not valid YAML: .* at line \d+, column \d+$/],
  },
  {
    name: "bad JSON in ACCOUNTS right after an AppSecret",
    env: () => ({ ACCOUNTS: `[{"id":"gh_cfg","appId":"wx_cfg","appSecret":"${SECRETS.app}"}}` }),
    problems: [/^ACCOUNTS: is not valid JSON/],
  },
  {
    name: "an API key that is too short, and one given twice",
    env: () => ({
      ACCOUNTS: JSON.stringify([account()]),
      API_KEYS: JSON.stringify([
        { name: "a", key: SECRETS.key },
        { name: "b", key: SECRETS.key },
        { name: "c", key: "short-key" },
      ]),
    }),
    problems: [/^API_KEYS: \[1\]\.key: is the same key as \[0\]/, /^API_KEYS: \[2\]\.key: must be at least 16 characters$/],
  },
  {
    name: "a missing Redis password file and a missing TLS certificate, reported together",
    env: () => ({
      ACCOUNTS: JSON.stringify([account()]),
      REDIS_URL: "redis://127.0.0.1:1",
      REDIS_PASSWORD_FILE: join(dir, "nope", "redis-password"),
      TLS_PFX_FILE: join(dir, "nope", "server.pfx"),
      TLS_PFX_PASSPHRASE: SECRETS.passphrase,
    }),
    problems: [/REDIS_PASSWORD_FILE.*redis-password/, /TLS_PFX_FILE.*server\.pfx/],
  },
  {
    name: "a lock TTL that would not outlive the WeChat call it guards",
    env: () => ({ ACCOUNTS: JSON.stringify([account()]), UPSTREAM_TIMEOUT_MS: "5000", LOCK_TTL_MS: "4000" }),
    problems: [/^LOCK_TTL_MS: must be greater than UPSTREAM_TIMEOUT_MS \(5000\)/],
  },
  {
    name: "no API keys on a public address",
    env: () => ({ ACCOUNTS: JSON.stringify([account()]), HOST: "0.0.0.0" }),
    problems: [/^HOST: refusing to serve tokens unauthenticated on 0\.0\.0\.0/],
  },
];

const results = new Map<string, { code: number | null; stdout: string; stderr: string; port: number }>();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "wtb-hard-cfg-"));
  // Two at a time: each is a Node process with tsx.
  const queue = [...CASES];
  await Promise.all(
    [0, 1].map(async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const port = await freePort();
        const r = await runCli(["serve"], { PORT: String(port), LOG_LEVEL: "debug", ...c.env() }, 20_000);
        results.set(c.name, { ...r, port });
      }
    }),
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

for (const c of CASES) {
  scenario(
    `serve refuses to start with ${c.name}: exit 2, one report naming ${c.problems.length === 1 ? "the problem" : "every problem"}, no secret`,
    {
      class: "Configuration at start-up",
      outcome: `exit 2; stderr = "invalid configuration (${c.problems.length} problem${c.problems.length === 1 ? "" : "s"}):" + one line per problem; nothing on stdout`,
    },
    async (run) => {
      const r = results.get(c.name);
      assert.ok(r, "the process ran");
      assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
      assert.equal(r.stdout, "", "nothing on stdout: no log line, no listening message");
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines[0], `invalid configuration (${c.problems.length} problem${c.problems.length === 1 ? "" : "s"}):`, r.stderr);
      const items = lines.slice(1);
      assert.equal(items.length, c.problems.length, `one line per problem:\n${r.stderr}`);
      for (const item of items) assert.match(item, /^ {2}- \S/, "each problem is a list item");
      for (const pattern of c.problems) {
        assert.ok(
          items.some((i) => pattern.test(i.slice(4))),
          `a line matching ${pattern}:\n${r.stderr}`,
        );
      }
      assert.doesNotMatch(r.stderr, /\n\s+at |Error:|node_modules/, "no stack trace");
      assertNoSecret(r.stdout + r.stderr, ALL_SECRETS, "serve's output");
      // It never listened.
      const probe = await fetch(`http://127.0.0.1:${r.port}/api/health/live`).then(
        () => "answered",
        () => "refused",
      );
      assert.equal(probe, "refused");
      run.cases(1);
    },
  );
}
