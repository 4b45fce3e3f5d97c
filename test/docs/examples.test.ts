// The examples an operator copies from the documentation run as written: the configuration examples load, every
// shell block parses, URLs with a query string are quoted (zsh would glob an unquoted `?`), and the command line
// is invoked one way everywhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { loadConfig } from "../../src/config";

const ROOT = join(__dirname, "..", "..");
const DOCS = [
  "README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
const read = (f: string) => readFileSync(join(ROOT, f), "utf8");

interface Block {
  file: string;
  line: number;
  lang: string;
  text: string;
}

function blocks(file: string): Block[] {
  const out: Block[] = [];
  const lines = read(file).split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j++) body.push(lines[j]!.slice(indent));
    out.push({ file, line: i + 1, lang: open[2]!, text: body.join("\n") });
    i = j;
  }
  return out;
}

/** Shell text an operator may paste: shell code blocks, and inline code spans that start with a command. */
function shellSnippets(file: string): Array<{ where: string; text: string }> {
  const out = blocks(file)
    .filter((b) => ["sh", "bash", "cron", ""].includes(b.lang))
    .map((b) => ({ where: `${b.file}:${b.line}`, text: b.text }));
  read(file)
    .split("\n")
    .forEach((l, i) => {
      for (const m of l.matchAll(/`((?:curl|docker|node|npx|bash|redis-cli|wechat-token-broker)\b[^`]*)`/g))
        out.push({ where: `${file}:${i + 1}`, text: m[1]! });
    });
  return out;
}

test("every URL with a query string in a shell command of the docs is quoted", () => {
  const bad: string[] = [];
  for (const f of [...DOCS, "ops/prometheus/alerts.yml"]) {
    const snippets = f.endsWith(".yml") ? [{ where: f, text: read(f) }] : shellSnippets(f);
    for (const s of snippets) {
      for (const m of s.text.matchAll(/(^|[\s(=])(https?:\/\/[^\s'"`]*[?&][^\s'"`]*)/g)) bad.push(`${s.where}: ${m[2]}`);
    }
  }
  assert.deepEqual(bad, [], "quote these URLs: zsh treats an unquoted ? as a glob, and every shell treats & as 'run in background'");
});

test("a script's printed hint quotes a URL with a query string", () => {
  const bad = read("scripts/monitor.sh")
    .split("\n")
    .filter((l) => /printf .*curl [^'"]*%s[^ '"]*\?/.test(l));
  assert.deepEqual(bad, []);
});

test("every shell block of the docs parses as written", () => {
  const bad: string[] = [];
  for (const f of DOCS) {
    for (const b of blocks(f).filter((x) => x.lang === "sh" || x.lang === "bash")) {
      const r = spawnSync("bash", ["-n"], { input: b.text, encoding: "utf8" });
      if (r.status !== 0) bad.push(`${b.file}:${b.line}: ${r.stderr.trim()}`);
    }
  }
  assert.deepEqual(bad, []);
});

test("the configuration examples of docs/configuration.md load as written", () => {
  const doc = blocks("docs/configuration.md");
  const dir = mkdtempSync(join(tmpdir(), "wtb-docs-"));
  try {
    // Inline variables (a `sh` block of assignments): exported as a shell would, then loaded on their own.
    const assignments = doc.filter((b) => b.lang === "sh" && /^[A-Z_]+=/.test(b.text.trim()));
    assert.ok(assignments.length > 0, "no variable example found");
    for (const b of assignments) {
      const r = spawnSync("bash", ["-c", `set -a\n${b.text}\nenv -0`], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
      assert.equal(r.status, 0, r.stderr);
      const env = Object.fromEntries(
        r.stdout
          .split("\0")
          .filter((kv) => /^[A-Z_]+=/.test(kv) && !["PATH", "PWD", "SHLVL", "_", "OLDPWD"].includes(kv.split("=")[0]!))
          .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
      );
      assert.ok(Object.keys(env).length > 0, `${b.file}:${b.line} sets nothing`);
      assert.doesNotThrow(() => loadConfig(env), `${b.file}:${b.line} does not load as written`);
    }

    // The YAML files: written as shown; the secret files they name are the reader's to create, so they are given
    // fake content here (and must be absolute paths under /run/secrets, as the text says).
    const yamls = doc.filter((b) => b.lang === "yaml");
    const accounts = yamls.find((b) => b.text.includes("accounts.yaml"));
    const keys = yamls.find((b) => b.text.includes("api-keys.yaml"));
    assert.ok(accounts && keys);
    writeFileSync(join(dir, "accounts.yaml"), accounts.text);
    writeFileSync(join(dir, "api-keys.yaml"), keys.text);
    const named = [...`${accounts.text}\n${keys.text}`.matchAll(/File: (\S+)/g)].map((m) => m[1]!);
    assert.ok(named.length >= 3 && named.every((p) => p.startsWith("/run/secrets/")), named.join(", "));
    const readFile = (path: string) =>
      named.includes(path) ? `fake-secret-of-${path.length}-characters-${path.split("/").at(-1)}\n` : readFileSync(path);
    const c = loadConfig({ ACCOUNTS_FILE: join(dir, "accounts.yaml"), API_KEYS_FILE: join(dir, "api-keys.yaml") }, { readFile });
    assert.deepEqual(
      c.accounts.map((a) => a.id),
      (parse(accounts.text) as { accounts: Array<{ id: string }> }).accounts.map((a) => a.id),
    );
    assert.equal(c.auth.apiKeys.length, (parse(keys.text) as unknown[]).length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("operators are told one way to run the command line, and it is the one used everywhere", () => {
  const readme = read("README.md");
  assert.match(readme, /node bin\/wechat-token-broker\.js <command>/, "the README says how to run the CLI");
  assert.match(readme, /not on the PATH/);
  const bare: string[] = [];
  for (const f of [...DOCS, "ops/prometheus/alerts.yml", "src/cli/simulator.ts"]) {
    read(f)
      .split("\n")
      .forEach((l, i) => {
        const stripped = l.replace(/node bin\/wechat-token-broker\.js/g, "").replace(/npx wechat-token-broker/g, "");
        if (
          /(^|[\s`'"(:])wechat-token-broker (serve|demo|sync|diagnose|locks|healthcheck|simulator)\b/.test(stripped) &&
          !/^\s*\/\//.test(l)
        )
          bare.push(`${f}:${i + 1}: ${l.trim()}`);
      });
  }
  assert.deepEqual(bare, [], "write `node bin/wechat-token-broker.js <command>`: the bare name is not on the PATH after npm ci");
});
