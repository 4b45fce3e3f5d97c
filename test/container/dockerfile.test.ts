// Static checks of the container files: Dockerfile, .dockerignore, docker-compose.yml and .env.example.
// The image is not built here (no Docker engine in CI); these tests pin what the build and the compose
// deployment rely on.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { Command } from "commander";
import { BROKER_NODE_FLAGS } from "../../src/cli/nodeFlags";
import { registerHealthcheck } from "../../src/cli/healthcheck";

const ROOT = resolve(__dirname, "..", "..");
const read = (f: string): string => readFileSync(join(ROOT, f), "utf8");

// ---- Dockerfile ----------------------------------------------------------------------------------------

interface Instruction {
  cmd: string;
  args: string;
  stage: number;
}

/** Logical instructions: continuation lines joined, comments dropped, each tagged with its stage (0-based). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line) || (pending === "" && line.trim() === "")) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    if (!full) continue;
    const m = /^(\w+)\s*(.*)$/s.exec(full);
    if (!m) continue;
    const cmd = m[1]!.toUpperCase();
    if (cmd === "FROM") stage++;
    out.push({ cmd, args: m[2]!.replace(/\s+/g, " ").trim(), stage });
  }
  return out;
}

const dockerfile = parseDockerfile(read("Dockerfile"));
const lastStage = Math.max(...dockerfile.map((i) => i.stage));
const inStage = (stage: number, cmd: string): Instruction[] => dockerfile.filter((i) => i.stage === stage && i.cmd === cmd);

/** ENV a=b c=d (or the legacy ENV a b) → map */
function envOf(instructions: Instruction[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const i of instructions) {
    if (!i.args.includes("=")) {
      const [k, ...v] = i.args.split(" ");
      env.set(k!, v.join(" "));
      continue;
    }
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)) env.set(m[1]!, m[2]!.replace(/^"|"$/g, ""));
  }
  return env;
}

function execForm(args: string): string[] {
  assert.match(args, /^\[.*\]$/, `not exec form (JSON array): ${args}`);
  const parsed = JSON.parse(args) as unknown;
  assert.ok(Array.isArray(parsed) && parsed.every((x) => typeof x === "string"), args);
  return parsed as string[];
}

void describe("Dockerfile", () => {
  void test("is multi-stage: a build stage on a current Node LTS, then a runtime stage", () => {
    const froms = dockerfile.filter((i) => i.cmd === "FROM");
    assert.ok(froms.length >= 2, "at least two stages");
    const args = new Map(dockerfile.filter((i) => i.cmd === "ARG" && i.stage === -1).map((i) => i.args.split("=") as [string, string]));
    const resolveArgs = (s: string): string => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string, b: string) => args.get(a ?? b) ?? "");
    for (const f of froms) {
      const image = resolveArgs(f.args.split(" ")[0]!);
      assert.match(image, /^node:(22|24)-bookworm-slim$/, `stage image ${image}`);
    }
    assert.match(froms[0]!.args, / AS build$/i);
    const build = inStage(0, "RUN").map((i) => i.args);
    assert.ok(
      build.some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r)),
      "build stage installs all dependencies",
    );
    assert.ok(
      build.some((r) => /\bnpm run build\b/.test(r)),
      "build stage runs npm run build",
    );
  });

  void test("the runtime stage has production dependencies only and the compiled code", () => {
    const runs = inStage(lastStage, "RUN").map((i) => i.args);
    assert.ok(
      runs.some((r) => /\bnpm ci --omit=dev\b/.test(r)),
      "npm ci --omit=dev in the runtime stage",
    );
    assert.ok(!runs.some((r) => /npm run build|npm install(?! -g)/.test(r)), "no build in the runtime stage");
    const copies = inStage(lastStage, "COPY").map((i) => i.args);
    assert.ok(
      copies.some((c) => /^--from=build \/app\/dist \.\/dist$/.test(c)),
      "dist/ comes from the build stage",
    );
    assert.ok(!copies.some((c) => /--from=build .*node_modules/.test(c)), "dev dependencies never reach the runtime image");
    for (const needed of [/^bin \.\/bin$/, /package\.json/, /openapi\.yam\[l\]/]) {
      assert.ok(
        copies.some((c) => needed.test(c)),
        `runtime copies ${needed}`,
      );
    }
  });

  void test("runs as the non-root user 1001, created in the image", () => {
    const users = inStage(lastStage, "USER");
    assert.equal(users.length, 1);
    assert.match(users[0]!.args, /^1001(:1001)?$/);
    const runs = inStage(lastStage, "RUN")
      .map((i) => i.args)
      .join("\n");
    assert.match(runs, /useradd [^\n]*--uid 1001/);
    assert.match(runs, /groupadd [^\n]*--gid 1001/);
    // USER comes after every RUN of the stage: nothing of the app runs as root at run time
    const idx = dockerfile.indexOf(users[0]!);
    assert.ok(!dockerfile.slice(idx).some((i) => i.cmd === "RUN"));
  });

  void test("EXPOSE 8084 and the environment the service expects", () => {
    assert.deepEqual(
      inStage(lastStage, "EXPOSE").map((i) => i.args),
      ["8084"],
    );
    const env = envOf(inStage(lastStage, "ENV"));
    assert.equal(env.get("NODE_ENV"), "production");
    assert.equal(env.get("HOST"), "0.0.0.0");
    assert.equal(env.get("PORT"), "8084");
  });

  void test("HEALTHCHECK runs the healthcheck subcommand with node (no curl in the image)", () => {
    const hc = inStage(lastStage, "HEALTHCHECK");
    assert.equal(hc.length, 1);
    const m = /^(.*?)\s*CMD (\[.*\])$/.exec(hc[0]!.args);
    assert.ok(m, `HEALTHCHECK ... CMD [exec form]: ${hc[0]!.args}`);
    const cmd = execForm(m[2]!);
    assert.deepEqual(cmd.slice(0, 3), ["node", "bin/wechat-token-broker.js", "healthcheck"]);
    assert.match(m[1]!, /--interval=\d+s/);
    assert.match(m[1]!, /--timeout=\d+s/);
    assert.match(m[1]!, /--retries=\d+/);
    assert.ok(!dockerfile.some((i) => /\b(curl|wget)\b/.test(i.args) && i.cmd !== "LABEL"), "no curl/wget");
  });

  void test("exec-form CMD so SIGTERM reaches node; STOPSIGNAL SIGTERM", () => {
    const cmds = inStage(lastStage, "CMD");
    assert.equal(cmds.length, 1);
    // With the V8 flags `serve` is meant to run under (src/cli/nodeFlags.ts).
    assert.deepEqual(execForm(cmds[0]!.args), ["node", ...BROKER_NODE_FLAGS, "bin/wechat-token-broker.js", "serve"]);
    assert.deepEqual(
      inStage(lastStage, "STOPSIGNAL").map((i) => i.args),
      ["SIGTERM"],
    );
    for (const e of inStage(lastStage, "ENTRYPOINT")) execForm(e.args);
  });

  void test("everything COPY takes from the context exists and is not excluded by .dockerignore", () => {
    const ignore = read(".dockerignore")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    const toRegex = (p: string): RegExp =>
      new RegExp(
        `^${p
          .replace(/^\*\*\//, "(.*/)?")
          .replace(/[.+^${}()|]/g, "\\$&")
          .replace(/\*/g, "[^/]*")
          .replace(/\?/g, "[^/]")}(/.*)?$`,
      );
    const ignored = (path: string): boolean => ignore.some((p) => !p.startsWith("!") && toRegex(p).test(path));
    for (const c of dockerfile.filter((i) => i.cmd === "COPY" && !i.args.startsWith("--from"))) {
      const parts = c.args.split(" ").filter((p) => !p.startsWith("--"));
      for (const src of parts.slice(0, -1)) {
        if (/[[*?]/.test(src)) continue; // optional files (openapi.yam[l])
        assert.ok(existsSync(join(ROOT, src)), `COPY source ${src} exists`);
        assert.ok(!ignored(src), `COPY source ${src} is excluded by .dockerignore`);
      }
    }
    for (const must of ["node_modules", "dist", ".git", "test", "bench", ".env", "*.env", "config", "secrets", "*.pfx", "*.pem"]) {
      assert.ok(ignore.includes(must), `.dockerignore lists ${must}`);
    }
    assert.ok(ignored("config/accounts.yaml") && ignored(".env") && ignored("scripts/monitor-config.env"));
  });

  void test("the healthcheck subcommand the image calls exists", () => {
    const program = new Command();
    registerHealthcheck(program);
    const hc = program.commands.find((c) => c.name() === "healthcheck");
    assert.ok(hc, "healthcheck is registered");
    assert.ok(hc.options.some((o) => o.long === "--timeout"));
    assert.ok(hc.options.some((o) => o.long === "--url"));
  });
});

// ---- docker-compose.yml ------------------------------------------------------------------------------------

type Service = {
  image?: string;
  restart?: string;
  healthcheck?: { test?: string | string[] };
  depends_on?: Record<string, { condition?: string }> | string[];
  environment?: Record<string, string | number | null> | string[];
  ports?: (string | { published?: string | number; host_ip?: string; target?: number })[];
  volumes?: (string | { type?: string; source?: string; target?: string; read_only?: boolean })[];
  secrets?: (string | { source: string; target?: string })[];
  entrypoint?: string | string[];
  command?: string | string[];
  container_name?: string;
};
type Compose = { services: Record<string, Service>; secrets?: Record<string, { file?: string }>; volumes?: Record<string, unknown> };

const composeText = read("docker-compose.yml");
const compose = parseYaml(composeText, { merge: true }) as Compose;
const services = Object.entries(compose.services);
const brokers = services.filter(([name]) => name.startsWith("broker"));

/** ${VAR:-default} → default, ${VAR} → "" (what compose does with an empty .env). */
const withDefaults = (s: string): string => s.replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_m, _v: string, d?: string) => d ?? "");

function envMap(s: Service): Record<string, string> {
  if (Array.isArray(s.environment)) {
    return Object.fromEntries(s.environment.map((e) => [e.split("=")[0]!, e.slice(e.indexOf("=") + 1)]));
  }
  return Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? "" : String(v)]));
}

void describe("docker-compose.yml", () => {
  void test("Redis and two brokers, with fixed container names the scripts use", () => {
    assert.ok(compose.services.redis, "redis service");
    assert.deepEqual(
      brokers.map(([n]) => n),
      ["broker-1", "broker-2"],
    );
    assert.equal(compose.services["broker-1"]!.container_name, "wechat-token-broker");
    assert.equal(compose.services["broker-2"]!.container_name, "wechat-token-broker-2");
  });

  void test("every service restarts unless stopped and has a healthcheck", () => {
    for (const [name, s] of services) {
      assert.equal(s.restart, "unless-stopped", `${name}.restart`);
      const t = s.healthcheck?.test;
      assert.ok(Array.isArray(t) ? t.length > 1 : typeof t === "string" && t.length > 0, `${name}.healthcheck.test`);
    }
  });

  void test("brokers: healthcheck subcommand, depend on a healthy Redis, API keys configured, loopback ports", () => {
    const hostPorts: string[] = [];
    for (const [name, s] of brokers) {
      assert.deepEqual((s.healthcheck!.test as string[]).slice(0, 4), ["CMD", "node", "bin/wechat-token-broker.js", "healthcheck"]);
      const deps = s.depends_on as Record<string, { condition?: string }>;
      assert.equal(deps.redis?.condition, "service_healthy", `${name} waits for redis`);
      const env = envMap(s);
      assert.match(env.REDIS_URL ?? "", /^redis:\/\/redis:6379$/);
      // HOST=0.0.0.0 is refused without API keys: they must be configured
      assert.ok(env.API_KEYS_FILE || env.API_KEYS, `${name} has API keys`);
      assert.ok(env.ACCOUNTS_FILE || env.ACCOUNTS, `${name} has accounts`);
      assert.equal(s.ports?.length, 1);
      const port = withDefaults(String(s.ports![0]));
      const m = /^(127\.0\.0\.1):(\d+):8084$/.exec(port);
      assert.ok(m, `${name} publishes 127.0.0.1:<port>:8084 by default, got ${port}`);
      hostPorts.push(m[2]!);
    }
    assert.deepEqual(hostPorts, ["8084", "8086"]);
  });

  void test("Redis 7 with AOF persistence on a volume, not published on the host", () => {
    const r = compose.services.redis!;
    assert.match(withDefaults(r.image ?? ""), /^redis:7[.\-a-z0-9]*$/);
    const startup = [r.entrypoint, r.command].flat().filter(Boolean).join(" ");
    assert.match(startup, /--appendonly yes/);
    assert.ok((r.volumes ?? []).some((v) => (typeof v === "string" ? v : `${v.source}:${v.target}`).endsWith(":/data")));
    assert.equal(r.ports, undefined, "redis is not published");
    assert.ok(!/(^|[^0-9])6379:/.test(composeText.replace(/redis:\/\/redis:6379/g, "")), "no host port 6379");
    assert.match(JSON.stringify(r.healthcheck?.test), /redis-cli ping/);
  });

  void test("accounts and API keys come from ./config, mounted read-only", () => {
    for (const [name, s] of brokers) {
      const env = envMap(s);
      assert.equal(env.ACCOUNTS_FILE, "/run/config/accounts.yaml");
      assert.equal(env.API_KEYS_FILE, "/run/config/api-keys.yaml");
      const mounts = (s.volumes ?? []).map((v) =>
        typeof v === "string"
          ? { source: v.split(":")[0]!, target: v.split(":")[1]!, ro: /:ro$/.test(v) }
          : { source: v.source ?? "", target: v.target ?? "", ro: v.read_only === true },
      );
      const config = mounts.find((m) => m.target === "/run/config");
      assert.ok(config, `${name} mounts /run/config`);
      assert.equal(withDefaults(config.source), "./config");
      for (const m of mounts) assert.ok(m.ro, `${name} mounts ${m.source} read-only`);
      for (const x of s.secrets ?? []) assert.fail(`${name}: unexpected secret ${JSON.stringify(x)}`);
    }
  });

  void test("no literal secret in the file: secret-looking settings are interpolated from .env or are files", () => {
    const secretName = /pass|secret|token|credential|auth|pfx|private|api_?key/i;
    const okValue = (v: string): boolean => v === "" || /^\$\{\w+(:?-)?\}$/.test(v);
    for (const [name, s] of services) {
      for (const [k, v] of Object.entries(envMap(s))) {
        // a *_FILE variable names a file, mounted read-only; its value is a path, not a secret
        if (k.endsWith("_FILE")) assert.match(v, /^\/run\/(config|secrets)\//, `${name}.environment.${k}`);
        else if (secretName.test(k)) assert.ok(okValue(v), `${name}.environment.${k} must come from .env, got "${v}"`);
      }
    }
    // and nowhere in the text: password/secret/token followed by a literal value
    for (const line of composeText.split("\n")) {
      if (/^\s*#/.test(line)) continue;
      const bare = line.replace(/\$\$?\{[^}]*\}/g, "");
      const m = /(password|passwd|secret|token|requirepass)["']?\s*[:=]\s*["']?([^\s"'$]+)/i.exec(bare);
      assert.ok(!m, `literal secret on: ${line.trim()}`);
    }
    assert.ok(!/requirepass\s+[^"$\s]/.test(composeText), "requirepass only from the environment");
  });

  void test("every ${VARIABLE} of the compose file is documented in .env.example", () => {
    const example = read(".env.example");
    const used = new Set([...composeText.matchAll(/(?<!\$)\$\{(\w+)/g)].map((m) => m[1]!));
    assert.ok(used.size > 5);
    for (const v of used) assert.match(example, new RegExp(`^${v}=`, "m"), `.env.example documents ${v}`);
    // each documented variable has a comment above it (one comment may cover adjacent variables)
    const lines = example.split("\n");
    const isVar = (l: string | undefined): boolean => /^[A-Z_0-9]+=/.test(l ?? "");
    lines.forEach((l, i) => {
      if (!isVar(l)) return;
      let j = i - 1;
      while (isVar(lines[j])) j--;
      assert.match(lines[j] ?? "", /^#/, `comment above ${l}`);
    });
  });
});
