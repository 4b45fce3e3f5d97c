// Authentication and authorisation under attack: missing, malformed, wrong and revoked keys, keys used outside
// their accounts or role, what /metrics and the log say about refusals, and how keys are compared.
import { after, before } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, sha256 } from "../../src/config";
import { Authenticator, type ApiKeyEntry } from "../../src/http/auth";
import { startSimulator } from "../../src/simulator/server";
import type { RunningSimulator } from "../../src/simulator/types";
import { assertSchema } from "../helpers/openapi";
import { assertNoSecret, httpBytes, metric, rawRequest, spawnServe, startFullBroker, type FullBroker, type RawResponse } from "./harness";
import { scenario } from "./record";

const APPS = {
  gh_shop: { appId: "wx_hard_auth_shop", secret: "AppSecret-auth-shop-5v2c8x" },
  gh_hr: { appId: "wx_hard_auth_hr", secret: "AppSecret-auth-hr-1n7b4m" },
};
const KEYS = {
  shop: "shop-client-key-3c9e1a7f5b2d8c4e",
  hr: "hr-client-key-6a0d4f8b2e7c1a9d",
  admin: "auth-admin-key-9f1b3d5e7a2c4b6d",
};
const SENT_WRONG = ["shop-client-key-3c9e1a7f5b2d8c4x", "totally-wrong-key-000000000000000"];

let sim: RunningSimulator;
let broker: FullBroker;

const accountsEnv = JSON.stringify([
  { id: "gh_shop", appId: APPS.gh_shop.appId, appSecret: APPS.gh_shop.secret },
  { id: "gh_hr", appId: APPS.gh_hr.appId, appSecret: APPS.gh_hr.secret },
]);

before(async () => {
  sim = await startSimulator({ apps: Object.values(APPS).map((a) => ({ appId: a.appId, secret: a.secret })) });
  broker = await startFullBroker({
    WECHAT_API_BASE: sim.url,
    ACCOUNTS: accountsEnv,
    API_KEYS: JSON.stringify([
      { name: "shop-svc", key: KEYS.shop, accounts: ["gh_shop"] },
      { name: "hr-svc", key: KEYS.hr, accounts: ["gh_hr"] },
      { name: "ops", key: KEYS.admin, role: "admin" },
    ]),
  });
});
after(async () => {
  await broker.close();
  await sim.close();
});

interface Call {
  method: string;
  target: string;
  body?: string;
}

/** Every route that needs a key, for account gh_shop where it takes one. */
const AUTHENTICATED: Call[] = [
  { method: "GET", target: "/api/accounts/gh_shop/token" },
  { method: "GET", target: "/api/token?accountId=gh_shop" },
  { method: "POST", target: "/api/accounts/gh_shop/token/invalidate", body: '{"accessToken":"86_stale","errcode":40001}' },
  { method: "POST", target: "/api/accounts/gh_shop/sync", body: "{}" },
  { method: "POST", target: "/official-api/wechat/sync", body: '{"accountId":"gh_shop"}' },
  { method: "GET", target: "/api/diagnosis?probe=true" },
  { method: "GET", target: "/quick_diagnosis?probe=true" },
  { method: "GET", target: "/api/locks" },
  { method: "POST", target: "/api/locks/cleanup", body: '{"dryRun":true}' },
  { method: "GET", target: "/cleanup_expired_locks?dryRun=true" },
  { method: "POST", target: "/cleanup_expired_locks.php?dryRun=true" },
];

/** Routes only an admin may use. */
const ADMIN_ONLY: Call[] = [
  { method: "POST", target: "/api/accounts/gh_shop/sync", body: '{"force":true}' },
  { method: "POST", target: "/official-api/wechat/sync", body: '{"accountId":"gh_shop","force":true}' },
  { method: "GET", target: "/api/diagnosis?probe=true" },
  { method: "GET", target: "/quick_diagnosis.php?probe=1" },
  { method: "GET", target: "/api/locks" },
  { method: "POST", target: "/api/locks/cleanup", body: "{}" },
  { method: "GET", target: "/cleanup_expired_locks" },
  { method: "POST", target: "/cleanup_expired_locks" },
  { method: "GET", target: "/cleanup_expired_locks.php" },
  { method: "POST", target: "/cleanup_expired_locks.php" },
];

async function call(c: Call, authorization?: string, port = broker.port): Promise<RawResponse> {
  const headers: Array<[string, string]> = authorization === undefined ? [] : [["Authorization", authorization]];
  if (c.body !== undefined) headers.push(["Content-Type", "application/json"]);
  const res = await rawRequest(port, httpBytes(c.method, c.target, headers, c.body));
  assert.ok(res, `${c.method} ${c.target}: no answer`);
  return res;
}

function assertRefusal(res: RawResponse, status: number, code: string, where: string): void {
  assert.equal(res.status, status, `${where}: ${res.text}`);
  const body = JSON.parse(res.text) as { error: { code: string } };
  assertSchema("Error", body);
  assert.equal(body.error.code, code, where);
  if (status === 401) assert.equal(res.headers["www-authenticate"], "Bearer", `${where}: a 401 asks for a bearer key`);
  else assert.equal(res.headers["www-authenticate"], undefined, `${where}: a 403 does not ask for credentials`);
  assertNoSecret(res.wire, [...Object.values(KEYS), ...SENT_WRONG, ...Object.values(APPS).map((a) => a.secret)], where);
}

async function metricsText(): Promise<string> {
  const res = await rawRequest(broker.port, httpBytes("GET", "/metrics", []));
  assert.equal(res?.status, 200);
  return res!.text;
}
const failures = (text: string, reason: string) => metric(text, `wtb_auth_failures_total{reason="${reason}"}`);

scenario(
  "a missing, malformed or wrong key is a 401 with WWW-Authenticate at every route that needs a key, counted by reason in /metrics",
  {
    class: "Authentication",
    outcome: "401 unauthorized + WWW-Authenticate: Bearer; wtb_auth_failures_total grows by exactly the refusals",
  },
  async (run) => {
    const malformed = [
      "Bearer",
      "Bearer ",
      `Basic ${Buffer.from(`u:${KEYS.admin}`).toString("base64")}`,
      KEYS.admin,
      `bearer ${KEYS.admin}`,
      `Bearer ${KEYS.admin} x`,
      `Bearer ${"k".repeat(513)}`,
      "Bearer \u00e9t\u00e9",
    ];
    const before = await metricsText();
    let n = 0;
    const sent = { missing: 0, malformed: 0, invalid: 0 };
    for (const c of AUTHENTICATED) {
      assertRefusal(await call(c), 401, "unauthorized", `${c.method} ${c.target} without a key`);
      sent.missing++;
      for (const h of malformed) {
        assertRefusal(await call(c, h), 401, "unauthorized", `${c.method} ${c.target} with ${h.slice(0, 20)}`);
        sent.malformed++;
      }
      for (const k of SENT_WRONG) {
        assertRefusal(await call(c, `Bearer ${k}`), 401, "unauthorized", `${c.method} ${c.target} with a wrong key`);
        sent.invalid++;
      }
      n += 1 + malformed.length + SENT_WRONG.length;
    }
    const after = await metricsText();
    for (const reason of ["missing", "malformed", "invalid"] as const) {
      assert.equal(failures(after, reason) - failures(before, reason), sent[reason], `wtb_auth_failures_total{reason="${reason}"}`);
    }
    run.cases(n);
  },
);

scenario(
  "a client key is refused with 403 for another account's token, invalidation and sync, and never sees that account's token",
  { class: "Authentication", outcome: "403 forbidden naming the account; the other account's token never appears" },
  async (run) => {
    const hrToken = (await broker.core.service.getToken("gh_hr")).accessToken;
    const calls: Call[] = [
      { method: "GET", target: "/api/accounts/gh_hr/token" },
      { method: "GET", target: "/api/token?accountId=gh_hr" },
      { method: "POST", target: "/api/accounts/gh_hr/token/invalidate", body: JSON.stringify({ accessToken: hrToken, errcode: 40001 }) },
      { method: "POST", target: "/api/accounts/gh_hr/sync", body: "{}" },
      { method: "POST", target: "/official-api/wechat/sync", body: '{"accountId":"gh_hr"}' },
    ];
    const before = await metricsText();
    for (const c of calls) {
      const res = await call(c, `Bearer ${KEYS.shop}`);
      assertRefusal(res, 403, "forbidden", `${c.method} ${c.target} with the shop key`);
      assert.match(res.text, /gh_hr/, "the refusal names the account");
      assert.ok(!res.wire.includes(hrToken), "the other account's token never appears");
    }
    // The same calls with the right key work, so the 403s above are about the key, not the calls.
    for (const c of calls.slice(0, 2)) assert.equal((await call(c, `Bearer ${KEYS.hr}`)).status, 200);
    const after = await metricsText();
    assert.equal(failures(after, "forbidden") - failures(before, "forbidden"), calls.length);
    run.cases(calls.length + 2);
  },
);

scenario(
  "a client key on admin endpoints (forced sync, diagnosis probe, lock listing and cleanup) is a 403, and nothing is done",
  { class: "Authentication", outcome: "403 forbidden at all 10 admin-only routes; no force_refresh reaches WeChat" },
  async (run) => {
    const forcesBefore = sim.admin.counters(APPS.gh_shop.appId).forceRefreshes;
    const probesBefore = sim.admin.counters(APPS.gh_shop.appId).calls.probe;
    for (const c of ADMIN_ONLY) {
      assertRefusal(await call(c, `Bearer ${KEYS.shop}`), 403, "forbidden", `${c.method} ${c.target} with a client key`);
    }
    assert.equal(sim.admin.counters(APPS.gh_shop.appId).forceRefreshes, forcesBefore, "no forced refresh happened");
    assert.equal(sim.admin.counters(APPS.gh_shop.appId).calls.probe, probesBefore, "no probe reached WeChat");
    // The admin key is allowed at the same routes (a dry run where it would clean up for real is fine too).
    const res = await call({ method: "GET", target: "/api/locks" }, `Bearer ${KEYS.admin}`);
    assert.equal(res.status, 200, res.text);
    run.cases(ADMIN_ONLY.length + 1);
  },
);

scenario(
  "refused requests are logged without the key that was sent, right or wrong",
  {
    class: "Authentication",
    outcome: "401/403 request lines logged (status, path, request id); no key, no Authorization header in any line",
  },
  async (run) => {
    const marker = `authlog-${Date.now()}`;
    const sent = [`Bearer ${KEYS.shop}`, `Bearer ${SENT_WRONG[0]!}`, `Basic ${KEYS.admin}`];
    for (const h of sent) {
      const res = await rawRequest(
        broker.port,
        httpBytes("GET", "/api/accounts/gh_hr/token", [
          ["Authorization", h],
          ["X-Request-Id", marker],
        ]),
      );
      assert.ok(res && (res.status === 401 || res.status === 403));
    }
    const lines = broker.logs.filter((l) => l.includes(marker));
    assert.ok(lines.length >= sent.length, `each refusal is logged (found ${lines.length})`);
    for (const l of lines) assert.match(l, /"statusCode":40[13]/);
    for (const line of broker.logs) {
      assertNoSecret(line, [...Object.values(KEYS), ...SENT_WRONG], "a log line");
      assert.doesNotMatch(line, /authorization/i, "no Authorization header is logged");
    }
    run.cases(sent.length);
  },
);

scenario(
  "a key removed from the configuration (revoked) is refused after the restart, and the other keys keep working",
  {
    class: "Authentication",
    outcome: "serve process restarted without the key: 401 for it, 200 for the others; no key in the output",
    timeout: 60_000,
  },
  async (run) => {
    const keysWith = (names: Array<keyof typeof KEYS>) =>
      JSON.stringify(
        names.map((n) => ({
          name: n,
          key: KEYS[n],
          role: n === "admin" ? "admin" : "client",
          accounts: n === "admin" ? ["*"] : n === "shop" ? ["gh_shop"] : ["gh_hr"],
        })),
      );
    const env = { WECHAT_API_BASE: sim.url, ACCOUNTS: accountsEnv, HOST: "127.0.0.1" };
    const first = await spawnServe({ ...env, API_KEYS: keysWith(["shop", "hr", "admin"]) });
    const tokenCall: Call = { method: "GET", target: "/api/accounts/gh_shop/token" };
    try {
      assert.equal((await call(tokenCall, `Bearer ${KEYS.shop}`, first.port)).status, 200, "the key works before it is revoked");
    } finally {
      assert.equal(await first.stop(), 0);
    }
    const second = await spawnServe({ ...env, API_KEYS: keysWith(["hr", "admin"]) }, { port: first.port });
    try {
      assertRefusal(await call(tokenCall, `Bearer ${KEYS.shop}`, second.port), 401, "unauthorized", "the revoked key");
      assert.equal((await call(tokenCall, `Bearer ${KEYS.admin}`, second.port)).status, 200, "the admin key still works");
      assert.equal((await call({ method: "GET", target: "/api/accounts/gh_hr/token" }, `Bearer ${KEYS.hr}`, second.port)).status, 200);
    } finally {
      assert.equal(await second.stop(), 0);
    }
    for (const out of [first.output(), second.output()])
      assertNoSecret(out, [...Object.values(KEYS), ...Object.values(APPS).map((a) => a.secret)], "serve output");
    run.cases(4);
  },
);

scenario(
  "keys are compared as SHA-256 digests with timingSafeEqual over every configured key, whichever matches (code and behaviour)",
  {
    class: "Authentication",
    outcome:
      "auth.ts: digest + timingSafeEqual, no exit inside the key loop; the same number of comparisons for first, last and no match; no raw key kept",
  },
  async (run) => {
    // By inspection: the loop over keys compares digests with timingSafeEqual and cannot leave early.
    const source = readFileSync(join(__dirname, "..", "..", "src", "http", "auth.ts"), "utf8");
    assert.match(source, /import\s*\{[^}]*\btimingSafeEqual\b[^}]*\}\s*from\s*"node:crypto"/);
    assert.match(source, /createHash\("sha256"\)/, "the presented key is hashed before comparing");
    const loop = /for \(const (\w+) of this\.keys\) \{([^}]*)\}/.exec(source);
    assert.ok(loop, "one loop over this.keys");
    assert.match(
      loop[2]!,
      new RegExp(`timingSafeEqual\\(\\w+, ${loop[1]!}\\.keySha256\\)`),
      "each key's digest goes through timingSafeEqual",
    );
    assert.doesNotMatch(loop[2]!, /\b(return|break|throw|continue)\b/, "no early exit inside the key loop");
    assert.doesNotMatch(source, /keySha256\.equals\(|===\s*\w+\.key\b|\.key\s*===|compare\(/, "no ordinary comparison of key material");

    // By behaviour: count timingSafeEqual calls for a match on the first key, the last key and no key.
    const entries: ApiKeyEntry[] = Array.from({ length: 8 }, (_, i) => ({
      name: `k${i}`,
      keySha256: sha256(`key-number-${i}-0123456789abcdef`),
      role: "client",
      accounts: "*",
    }));
    const auth = new Authenticator(entries, true);
    const real = crypto.timingSafeEqual;
    let calls = 0;
    const counted = (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      calls++;
      return real(a, b);
    };
    const comparisons = (key: string) => {
      calls = 0;
      try {
        auth.authenticate(`Bearer ${key}`);
      } catch {
        // an unknown key is refused; only the count matters here
      }
      return calls;
    };
    (crypto as { timingSafeEqual: typeof real }).timingSafeEqual = counted;
    let counts: number[];
    try {
      counts = [
        comparisons("key-number-0-0123456789abcdef"),
        comparisons("key-number-7-0123456789abcdef"),
        comparisons("not-a-configured-key-0000000"),
      ];
    } finally {
      (crypto as { timingSafeEqual: typeof real }).timingSafeEqual = real;
    }
    assert.deepEqual(counts, [8, 8, 8], "every key is compared, whichever matches");

    // The configuration keeps digests only.
    const config = loadConfig({ ACCOUNTS: accountsEnv, API_KEYS: JSON.stringify([{ name: "a", key: KEYS.shop }]) });
    const kept = JSON.stringify(config.auth.apiKeys, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString("hex") : v));
    assert.ok(!kept.includes(KEYS.shop), "the raw key is not kept in the configuration");
    assert.equal(config.auth.apiKeys[0]?.keySha256.toString("hex"), sha256(KEYS.shop).toString("hex"));
    run.cases(4);
  },
);
