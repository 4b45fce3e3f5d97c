// The route table (src/http/routes/table.ts) and openapi.yaml describe the same API: every declared route is a
// documented operation with the same method and the same authentication, and every documented operation is served
// by a declared route. The express app and the fast path are built from the table, so this is the one check that
// code and documentation agree on what exists.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { parse } from "yaml";
import { loadConfig } from "../../src/config";
import { buildCore } from "../../src/core";
import { createApp } from "../../src/http/app";
import type { RouteDef } from "../../src/http/route";

type Operation = { security?: Array<Record<string, string[]>> };
const spec = parse(readFileSync(join(__dirname, "../../openapi.yaml"), "utf8")) as { paths: Record<string, Record<string, Operation>> };
const METHODS = ["get", "post", "put", "patch", "delete", "head", "options"];

function documented(): Map<string, Operation> {
  const out = new Map<string, Operation>();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const m of METHODS) if (item[m] !== undefined) out.set(`${m.toUpperCase()} ${path}`, item[m]);
  }
  return out;
}

/** A route's operations as openapi.yaml names them: `:param` → `{param}`; the proxy's prefixes by their label. */
function operations(def: RouteDef, docs: Map<string, Operation>): string[] {
  const paths =
    def.prefix !== undefined
      ? [def.prefix.label("/cgi-bin/x"), def.prefix.label("/wecom/cgi-bin/x")]
      : def.paths.map((p) => p.replace(/:(\w+)/g, "{$1}"));
  return paths.flatMap((p) => {
    if (def.method !== "ALL") return [`${def.method} ${p}`];
    // A route taking every method (WeChat's endpoints answer the others in WeChat's shape) documents the ones meant.
    const meant = METHODS.map((m) => `${m.toUpperCase()} ${p}`).filter((k) => docs.has(k));
    assert.ok(meant.length > 0, `${p}: openapi.yaml documents no method of it`);
    return meant;
  });
}

/** "key" when the operation requires a bearer key, "open" when it may be called without one. */
function accessOf(op: Operation): "key" | "open" {
  const security = op.security ?? [];
  return security.length > 0 && security.every((s) => Object.keys(s).includes("bearerAuth")) ? "key" : "open";
}

function adminOnly(op: Operation): boolean {
  return (op.security ?? []).length > 0 && (op.security ?? []).every((s) => s.bearerAuth?.includes("admin"));
}

function table(): RouteDef[] {
  const config = loadConfig({
    ACCOUNTS: JSON.stringify([{ id: "gh_rt", appId: "wx_rt", appSecret: "rt-secret-0123456789" }]),
    WECHAT_API_BASE: "http://127.0.0.1:9",
    LOG_LEVEL: "silent",
  });
  const core = buildCore(config, pino({ level: "silent" }), { defaultMetrics: false });
  const { routes } = createApp(core);
  void core.close();
  return routes;
}

test("every route in the table is an operation of openapi.yaml, with the same method, authentication and role", () => {
  const docs = documented();
  for (const def of table()) {
    for (const op of operations(def, docs)) {
      const doc = docs.get(op);
      assert.ok(doc !== undefined, `${op} is served but not documented in openapi.yaml`);
      assert.equal(accessOf(doc), def.access, `${op}: openapi.yaml's security and the route's access agree`);
      assert.equal(adminOnly(doc), def.role === "admin", `${op}: the admin role is required in both or in neither`);
    }
  }
});

test("every operation of openapi.yaml is served by a route in the table", () => {
  const docs = documented();
  const served = new Set(table().flatMap((def) => operations(def, docs)));
  const missing = [...docs.keys()].filter((k) => !served.has(k));
  assert.deepEqual(missing, [], "documented operations no route serves");
});

test("the fast routes are token routes with one method and literal paths", () => {
  const fast = table().filter((d) => d.fast);
  assert.deepEqual(
    fast.map((d) => `${d.method} ${d.paths.join(",")}`),
    ["GET /api/accounts/:accountId/token", "POST /api/accounts/:accountId/token/invalidate"],
  );
  for (const d of fast) assert.equal(d.scope, "token");
});
