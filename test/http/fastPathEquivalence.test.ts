// The fast path and express serve a route from the same declaration (src/http/route.ts), so every request the fast
// path takes must be answered exactly as express answers it: the same status, headers and body, the same counts in
// the metrics, the same log lines. A corpus of canonical requests — hits, refusals of every kind, bad bodies, stale
// and valid reports — is sent both ways and compared piece by piece.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { RequestListener } from "node:http";
import request from "supertest";
import { withFastPath } from "../../src/http/fastPath";
import type { SimAppConfig } from "../../src/simulator/types";
import { account } from "../helpers/brokers";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { documented, httpBroker } from "./support";

const APP: SimAppConfig = { appId: "wx_eq_a", secret: "eq-a-secret-3c9", tokenLifetimeSec: 7200 };
const APP_C: SimAppConfig = { appId: "wx_eq_c", secret: "eq-c-secret-5e1", tokenLifetimeSec: 7200 };
const accounts = [account("gh_eq_a", APP.appId, APP.secret, "stable"), account("gh_eq_c", APP_C.appId, APP_C.secret, "classic")];
const ADMIN = { name: "ops", key: "eq-admin-key-0a1b2c3d", role: "admin" as const, accounts: "*" as const };
const ONLY_C = { name: "svc-c", key: "eq-only-c-key-4e5f6a7b", role: "client" as const, accounts: ["gh_eq_c"] };
const SIGNER = {
  name: "signer",
  key: "eq-sign-only-key-8c9d0e",
  role: "client" as const,
  accounts: "*" as const,
  scopes: ["sign" as const],
};

const { redis, sim } = useRedisAndSimulator([APP, APP_C]);

interface Case {
  what: string;
  method: "GET" | "POST";
  path: string;
  key?: string;
  auth?: string;
  body?: string;
}

/** The parts of the metrics one request moves: HTTP counts and auth failures. */
function counted(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(
    /^(wtb_http_requests_total|wtb_auth_failures_total|wtb_account_token_request_duration_seconds_count)(\{[^}]*\}) (\d+)$/gm,
  )) {
    out.set(`${m[1]}${m[2]}`, Number(m[3]));
  }
  return out;
}

function delta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of after) if (v !== (before.get(k) ?? 0)) d[k] = v - (before.get(k) ?? 0);
  return d;
}

/** A token answer's fields that move with the clock (whole seconds left, and the instant they end). */
function steady(body: unknown): unknown {
  if (typeof body !== "object" || body === null || !("expiresIn" in body)) return body;
  const b = body as Record<string, unknown>;
  return { ...b, expiresIn: "·", expiresAt: "·" };
}

test("every canonical token request is answered identically by the fast path and by express: status, headers, body, metrics and log", async () => {
  const hb = await httpBroker({ accounts, wechatApiBase: sim.url, redisUrl: redis.url, keys: [ADMIN, ONLY_C, SIGNER] });
  let toExpress = 0;
  const fast: RequestListener = withFastPath(
    (req, res) => {
      toExpress++;
      hb.express(req, res);
    },
    hb.routes,
    hb.services,
  );
  try {
    const bearer = (k: { key: string }) => `Bearer ${k.key}`;
    const warm = documented(await request(hb.express).get("/api/accounts/gh_eq_c/token").set("Authorization", bearer(ADMIN)));
    documented(await request(hb.express).get("/api/accounts/gh_eq_a/token").set("Authorization", bearer(ADMIN)));
    const current = (warm.body as { accessToken: string }).accessToken;
    const calls = () => sim.admin.counters(APP.appId).calls.token + sim.admin.counters(APP_C.appId).calls.token;
    const callsBefore = calls();

    const token = (id: string) => `/api/accounts/${id}/token`;
    const report = (id: string) => `/api/accounts/${id}/token/invalidate`;
    const cases: Case[] = [
      { what: "a hit", method: "GET", path: token("gh_eq_a"), auth: bearer(ADMIN) },
      { what: "a hit with a key for that account only", method: "GET", path: token("gh_eq_c"), auth: bearer(ONLY_C) },
      { what: "no key", method: "GET", path: token("gh_eq_a") },
      { what: "a key that is not configured", method: "GET", path: token("gh_eq_a"), auth: "Bearer not-a-configured-key-123" },
      { what: "a malformed Authorization header", method: "GET", path: token("gh_eq_a"), auth: "Basic YTpi" },
      { what: "a key not allowed for the account", method: "GET", path: token("gh_eq_a"), auth: bearer(ONLY_C) },
      { what: "a sign-only key", method: "GET", path: token("gh_eq_a"), auth: bearer(SIGNER) },
      { what: "an unknown account", method: "GET", path: token("gh_nobody"), auth: bearer(ADMIN) },
      { what: "an account id with a dot", method: "GET", path: token("gh.eq"), auth: bearer(ADMIN) },
      { what: "an account id too long", method: "GET", path: token("a".repeat(65)), auth: bearer(ADMIN) },
      {
        what: "a stale report",
        method: "POST",
        path: report("gh_eq_c"),
        auth: bearer(ADMIN),
        body: JSON.stringify({ accessToken: "an-older-token", errcode: 40001 }),
      },
      {
        what: "a report of the current token, re-checked since",
        method: "POST",
        path: report("gh_eq_c"),
        auth: bearer(ADMIN),
        body: JSON.stringify({ accessToken: current }),
      },
      { what: "a report without a key", method: "POST", path: report("gh_eq_c"), body: JSON.stringify({ accessToken: current }) },
      {
        what: "a report by a key not allowed for the account",
        method: "POST",
        path: report("gh_eq_a"),
        auth: bearer(ONLY_C),
        body: JSON.stringify({ accessToken: current }),
      },
      {
        what: "a report for an unknown account",
        method: "POST",
        path: report("gh_nobody"),
        auth: bearer(ADMIN),
        body: JSON.stringify({ accessToken: current }),
      },
      { what: "invalid JSON", method: "POST", path: report("gh_eq_c"), auth: bearer(ADMIN), body: "{not json" },
      { what: "a JSON array", method: "POST", path: report("gh_eq_c"), auth: bearer(ADMIN), body: "[1,2]" },
      { what: "no accessToken", method: "POST", path: report("gh_eq_c"), auth: bearer(ADMIN), body: JSON.stringify({ errcode: 40001 }) },
      {
        what: "a string errcode",
        method: "POST",
        path: report("gh_eq_c"),
        auth: bearer(ADMIN),
        body: JSON.stringify({ accessToken: "x", errcode: "40001" }),
      },
      {
        what: "a body over 16 kB",
        method: "POST",
        path: report("gh_eq_c"),
        auth: bearer(ADMIN),
        body: JSON.stringify({ accessToken: "x".repeat(17_000) }),
      },
    ];

    let seq = 0;
    for (const c of cases) {
      const answers = [];
      for (const [way, target] of [
        ["fast", fast],
        ["express", hb.express],
      ] as const) {
        const id = `eq-${++seq}`;
        const before = counted(await hb.metrics.text());
        const linesBefore = hb.logs.length;
        let r = (c.method === "GET" ? request(target).get(c.path) : request(target).post(c.path)).set("X-Request-Id", id);
        if (c.auth !== undefined) r = r.set("Authorization", c.auth);
        if (c.body !== undefined) r = r.set("Content-Type", "application/json").send(c.body);
        const res = documented(await r);
        const lines = hb.logs
          .slice(linesBefore)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .filter((l) => (l.req as { id?: string } | undefined)?.id === id)
          .map(({ time: _t, pid: _p, hostname: _h, responseTime, req, ...rest }) => ({
            ...rest,
            req: { ...(req as object), id: "·" },
            timed: typeof responseTime === "number",
          }));
        answers.push({ way, res, metrics: delta(before, counted(await hb.metrics.text())), lines });
      }
      const [f, e] = answers as [(typeof answers)[0], (typeof answers)[0]];
      assert.equal(toExpress, 0, `${c.what}: the fast path answered it`);
      assert.equal(f.res.status, e.res.status, `${c.what}: status`);
      for (const h of ["content-type", "cache-control", "www-authenticate", "retry-after", "x-request-id"]) {
        if (h === "x-request-id") assert.match(String(f.res.headers[h]), /^eq-\d+$/, `${c.what}: the caller's request id is echoed`);
        else assert.equal(f.res.headers[h], e.res.headers[h], `${c.what}: ${h}`);
      }
      assert.equal(f.res.headers["content-length"], String(Buffer.byteLength(f.res.text)), `${c.what}: content-length`);
      assert.deepEqual(steady(f.res.body), steady(e.res.body), `${c.what}: body`);
      assert.deepEqual(f.metrics, e.metrics, `${c.what}: the same series counted`);
      assert.ok(
        Object.keys(f.metrics).some((k) => k.startsWith("wtb_http_requests_total")),
        `${c.what}: counted at all`,
      );
      assert.deepEqual(f.lines, e.lines, `${c.what}: the same log lines`);
    }
    assert.equal(calls(), callsBefore, "no request of the corpus reached WeChat's token endpoint");
  } finally {
    await hb.close();
  }
});
