// Bad input and abuse: fast-check throws generated requests at every route of a broker started exactly as `serve`
// starts it (src/server.ts startBroker), over a real socket with a raw HTTP client, so nothing is cleaned up on the way.
// Properties of every answer: never a 5xx for the caller's mistake, errors in the documented JSON shape, the
// answer documented in openapi.yaml when the route is, no stack trace, no secret, and a token only in a token
// endpoint's 200 for the account asked about and a key allowed for it.
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { startSimulator } from "../../src/simulator/server";
import type { RunningSimulator } from "../../src/simulator/types";
import { startRedis, type TestRedis } from "../helpers/redis";
import { assertSchema, responseProblems, spec } from "../helpers/openapi";
import { assertNoInternals } from "../http/support";
import { assertNoSecret, httpBytes, rawRequest, startFullBroker, type FullBroker, type RawResponse } from "./harness";
import { scenario } from "./record";

const SEED = 20261121;
const APPS = {
  gh_a: { appId: "wx_hard_in_a", secret: "AppSecret-in-A-9f3k2m7q" },
  gh_b: { appId: "wx_hard_in_b", secret: "AppSecret-in-B-4x8w1z6p" },
  gh_c: { appId: "wx_hard_in_c", secret: "AppSecret-in-C-2j5n8r0t" },
} as const;
type AccountId = keyof typeof APPS;
const ACCOUNT_IDS = Object.keys(APPS) as AccountId[];
const KEYS = {
  clientA: "client-A-key-4f9d0c7e2b1a5c3d",
  clientB: "client-B-key-8e1f3a6c9d2b7e4f",
  admin: "admin-key-hard-7b2e5d8f1c4a9e0b",
} as const;
const SECRETS = [...Object.values(APPS).map((a) => a.secret), ...Object.values(KEYS)];

/** Who a request claims to be, and what it may read. */
type Who = "none" | "clientA" | "clientB" | "admin" | "wrong" | "malformed";
const MAY_READ: Record<Who, readonly AccountId[]> = {
  none: [],
  wrong: [],
  malformed: [],
  clientA: ["gh_a"],
  clientB: ["gh_b"],
  admin: ACCOUNT_IDS,
};
const AUTH_HEADER: Record<Exclude<Who, "none">, string[]> = {
  clientA: [`Bearer ${KEYS.clientA}`],
  clientB: [`Bearer ${KEYS.clientB}`],
  admin: [`Bearer ${KEYS.admin}`],
  wrong: [`Bearer ${KEYS.admin}x`, "Bearer wtb-not-a-key-000000000000", `Bearer ${"k".repeat(600)}`],
  malformed: [
    "Bearer",
    "Bearer ",
    `Basic ${Buffer.from(`u:${KEYS.admin}`).toString("base64")}`,
    KEYS.admin,
    `bearer ${KEYS.admin}`,
    `Bearer ${KEYS.admin} extra`,
    "Bearer \u00e9\u00e9",
  ],
};

let redis: TestRedis;
let sim: RunningSimulator;
let broker: FullBroker;
/** Every token the broker ever stored, with its account. */
const known = new Map<string, AccountId>();

async function learnTokens(): Promise<void> {
  for (const id of ACCOUNT_IDS) {
    const t = await broker.core.store.get(id);
    if (t?.accessToken) known.set(t.accessToken, id);
  }
}

before(async () => {
  redis = await startRedis();
  sim = await startSimulator({
    apps: [
      { appId: APPS.gh_a.appId, secret: APPS.gh_a.secret },
      { appId: APPS.gh_b.appId, secret: APPS.gh_b.secret },
      { appId: APPS.gh_c.appId, secret: APPS.gh_c.secret },
    ],
  });
  broker = await startFullBroker(
    {
      LOG_LEVEL: "debug",
      REDIS_URL: redis.url,
      KEY_PREFIX: "hin:",
      WECHAT_API_BASE: sim.url,
      WECOM_API_BASE: sim.wecomUrl,
      ACCOUNTS: JSON.stringify([
        { id: "gh_a", appId: APPS.gh_a.appId, appSecret: APPS.gh_a.secret },
        { id: "gh_b", appId: APPS.gh_b.appId, appSecret: APPS.gh_b.secret },
        { id: "gh_c", appId: APPS.gh_c.appId, appSecret: APPS.gh_c.secret, tokenApi: "classic" },
      ]),
      API_KEYS: JSON.stringify([
        { name: "svc-a", key: KEYS.clientA, role: "client", accounts: ["gh_a"] },
        { name: "svc-b", key: KEYS.clientB, role: "client", accounts: ["gh_b"] },
        { name: "ops", key: KEYS.admin, role: "admin" },
      ]),
    },
    { logLevel: "debug" },
  );
  for (const id of ACCOUNT_IDS) await broker.core.service.getToken(id);
  await learnTokens();
  assert.equal(known.size, 3, "every account has a token before the attack starts");
});
after(async () => {
  await broker.close();
  await sim.close();
  await redis.close();
});

// ---- what a request is ------------------------------------------------------------------------------------

interface Req {
  method: string;
  /** The request target as sent (path and query), latin1. */
  target: string;
  who: Who;
  authorization?: string;
  headers: Array<[string, string]>;
  body?: Buffer;
  /** For messages. */
  label: string;
}

const ROUTES: ReadonlyArray<{ method: string; path: string; accountIn?: "path" | "query" | "body"; bodyRoute?: boolean }> = [
  { method: "GET", path: "/api/accounts/{id}/token", accountIn: "path" },
  { method: "GET", path: "/api/token", accountIn: "query" },
  { method: "POST", path: "/api/accounts/{id}/token/invalidate", accountIn: "path", bodyRoute: true },
  { method: "POST", path: "/api/accounts/{id}/sync", accountIn: "path", bodyRoute: true },
  { method: "POST", path: "/official-api/wechat/sync", accountIn: "body", bodyRoute: true },
  { method: "GET", path: "/api/health" },
  { method: "GET", path: "/api/health/live" },
  { method: "GET", path: "/api/health/ready" },
  { method: "GET", path: "/metrics" },
  { method: "GET", path: "/api/diagnosis", accountIn: "query" },
  { method: "GET", path: "/quick_diagnosis", accountIn: "query" },
  { method: "GET", path: "/quick_diagnosis.php", accountIn: "query" },
  { method: "GET", path: "/api/locks" },
  { method: "POST", path: "/api/locks/cleanup", bodyRoute: true },
  { method: "GET", path: "/cleanup_expired_locks" },
  { method: "POST", path: "/cleanup_expired_locks", bodyRoute: true },
  { method: "GET", path: "/cleanup_expired_locks.php" },
  { method: "POST", path: "/cleanup_expired_locks.php", bodyRoute: true },
];
const BODY_ROUTES = ROUTES.filter((r) => r.bodyRoute);
const ID_ROUTES = ROUTES.filter((r) => r.accountIn !== undefined);

/** Account ids that try to escape their segment, their key space or the id rules. */
const PATH_TRICKS = [
  "..",
  ".",
  "%2e%2e",
  "%2E%2E%2F..",
  "..%2F..%2Fetc%2Fpasswd",
  "%2F",
  "gh_a%2F..%2Fgh_b",
  "gh_a%2F",
  "%00",
  "gh_a%00",
  "gh_a%00gh_b",
  "%C0%AE%C0%AE",
  "%E5%85%AC%E4%BC%97%E5%8F%B7",
  "%E2%80%AE",
  "%EF%BC%8E%EF%BC%8E",
  "a".repeat(65),
  "b".repeat(64),
  "%",
  "%zz",
  "%E0%A4%A",
  "gh_a%20",
  "gh_a%09",
  "gh_a;gh_b",
  "gh_a,gh_b",
  "*",
  "%7Bacct%3Agh_a%7D",
  "gh_a%7D",
  "gh_a%3Alock",
  "%25",
  "%2525",
  "GH_A",
  "gh_a.",
  "-",
  "_",
  "gh_a%0D%0AX-Injected:%201",
  "gh_a\\..\\gh_b",
  "__proto__",
  "constructor",
  "gh_a%23",
  "gh_a%3F",
  "%u002e%u002e",
];

const encodedString = fc.string({ unit: "grapheme", maxLength: 80 }).map((s) => encodeURIComponent(s));
const printable = (max: number) => fc.stringMatching(new RegExp(`^[\\x21-\\x7e]{0,${max}}$`));
const accountIdArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<string>("gh_a", "gh_b", "gh_c", "gh_unknown") },
  { weight: 4, arbitrary: fc.constantFrom(...PATH_TRICKS) },
  { weight: 2, arbitrary: encodedString },
  { weight: 1, arbitrary: printable(70).filter((s) => !s.includes("#")) },
);

const queryKey = fc.oneof(
  fc.constantFrom("accountId", "format", "probe", "dryRun", "force", "__proto__", "constructor", "accountId[]", "format[x]"),
  encodedString,
);
const queryValue = fc.oneof(
  fc.constantFrom(
    "",
    "json",
    "text",
    "true",
    "false",
    "1",
    "0",
    "yes",
    "no",
    "TRUE",
    "gh_a",
    "gh_b",
    "gh_c",
    "gh_unknown",
    "%",
    "%zz",
    "x".repeat(4000),
  ),
  encodedString,
  fc.constantFrom(...PATH_TRICKS),
);
const queryArb = fc
  .array(fc.tuple(queryKey, queryValue), { maxLength: 6 })
  .map((pairs) => pairs.map(([k, v]) => (v === "" && k.length % 2 === 0 ? k : `${k}=${v}`)).join("&"));

const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "application/json; charset=latin1",
  "application/json; charset=utf-16",
  'application/json; charset="',
  "application/vnd.api+json",
  "application/jsonx",
  "text/plain",
  "text/json",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "*/*",
  ";;;",
  "",
];
const ENCODINGS = ["gzip", "deflate", "br", "identity", "x-compress", "gzip, gzip", "GZIP", ""];
const ACCEPTS = [
  "*/*",
  "text/plain",
  "application/json",
  "text/html",
  "image/png",
  "application/json;q=0, text/plain;q=0",
  ";;;,,",
  "text/*;q=abc",
  "",
];

const BOMB = gzipSync(Buffer.alloc(2 * 1024 * 1024)); // 2 MiB of zeros in ~2 kB

/** A body and the headers it needs, or none. `token:<id>` placeholders become that account's current token. */
const bodyArb: fc.Arbitrary<{ kind: string; body?: Buffer; type?: string; encoding?: string }> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: "none" }) },
  {
    weight: 3,
    arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => ({ kind: "json value", body: Buffer.from(JSON.stringify(v) ?? "null") })),
  },
  {
    weight: 5,
    arbitrary: fc
      .record(
        {
          accessToken: fc.oneof(
            fc.constantFrom("token:gh_a", "token:gh_b", "token:gh_c", "", "x".repeat(2049)),
            fc.jsonValue({ maxDepth: 2 }),
          ),
          errcode: fc.oneof(fc.constantFrom(40001, 42001, 40014, 40001.5, -1, 2 ** 53, "40001"), fc.jsonValue({ maxDepth: 1 })),
          force: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
          dryRun: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
          accountId: fc.oneof(accountIdArb, fc.jsonValue({ maxDepth: 1 })),
        },
        { requiredKeys: [] },
      )
      .chain((o) => fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }).map((proto) => ({ o, proto })))
      // A "__proto__" member is written into the text: in an object literal it would set the prototype instead.
      .map(({ o, proto }) => {
        const text = JSON.stringify(o);
        const body =
          proto === undefined ? text : `{"__proto__":${JSON.stringify(proto) ?? "null"}${text === "{}" ? "" : ","}${text.slice(1)}`;
        return { kind: "fields", body: Buffer.from(body) };
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 50, max: 9000 })
      .map((n) => ({ kind: `nested ${n}`, body: Buffer.from(`${"[".repeat(n)}${"]".repeat(n)}`) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 50, max: 3000 })
      .map((n) => ({ kind: `nested objects ${n}`, body: Buffer.from(`{"force":${'{"a":'.repeat(n)}1${"}".repeat(n)}}`) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 16 * 1024, max: 64 * 1024 })
      .map((n) => ({ kind: `huge ${n}`, body: Buffer.from(JSON.stringify({ accessToken: "x".repeat(n) })) })),
  },
  {
    weight: 2,
    arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => ({
      kind: "invalid utf-8",
      body: Buffer.concat([
        Buffer.from('{"accessToken":"'),
        Buffer.from(bytes.map((b) => b | 0x80)),
        Buffer.from('","force":true,"dryRun":true}'),
      ]),
    })),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((bytes) => ({ kind: "random bytes", body: Buffer.from(bytes) })) },
  {
    weight: 2,
    arbitrary: fc.uint8Array({ maxLength: 512 }).map((bytes) => ({
      kind: "gzip garbage",
      body: Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.from(bytes)]),
      encoding: "gzip",
      type: "application/json",
    })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "gzip bomb", body: BOMB, encoding: "gzip", type: "application/json" }) },
  {
    weight: 1,
    arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => ({
      kind: "gzip json",
      body: gzipSync(Buffer.from(JSON.stringify(v) ?? "null")),
      encoding: "gzip",
      type: "application/json",
    })),
  },
);

const whoArb = fc.constantFrom<Who>("none", "clientA", "clientB", "admin", "admin", "wrong", "malformed");
const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,200}$/).map((s) => s.trim());
const extraHeaders = fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/), headerValue), { maxLength: 3 });

async function materialise(body: Buffer | undefined): Promise<Buffer | undefined> {
  if (body === undefined) return undefined;
  let text = body.toString("latin1");
  if (!text.includes("token:gh_")) return body;
  for (const id of ACCOUNT_IDS) {
    const t = await broker.core.store.get(id);
    text = text.split(`token:${id}`).join(t?.accessToken ?? "none");
  }
  return Buffer.from(text, "latin1");
}

function buildReq(p: {
  method: string;
  path: string;
  query: string;
  who: Who;
  authPick: number;
  type?: string;
  encoding?: string;
  accept?: string;
  requestId?: string;
  extra: Array<[string, string]>;
  body: { kind: string; body?: Buffer; type?: string; encoding?: string };
}): Req {
  const headers: Array<[string, string]> = [];
  let authorization: string | undefined;
  if (p.who !== "none") {
    const options = AUTH_HEADER[p.who];
    authorization = options[p.authPick % options.length]!;
    headers.push(["Authorization", authorization]);
  }
  const type = p.body.type ?? p.type;
  if (type !== undefined) headers.push(["Content-Type", type]);
  const encoding = p.body.encoding ?? p.encoding;
  if (encoding !== undefined) headers.push(["Content-Encoding", encoding]);
  if (p.accept !== undefined) headers.push(["Accept", p.accept]);
  if (p.requestId !== undefined) headers.push(["X-Request-Id", p.requestId]);
  for (const [k, v] of p.extra)
    if (!/^(content-length|transfer-encoding|host|connection|expect|authorization|content-type|content-encoding)$/i.test(k))
      headers.push([k, v]);
  const target = p.query === "" ? p.path : `${p.path}${p.path.includes("?") ? "&" : "?"}${p.query}`;
  const label = `${p.method} ${target.slice(0, 160)} as ${p.who}, body ${p.body.kind}`;
  // fast-check prints counterexamples with this (a gzip bomb in full would bury the message).
  return {
    method: p.method,
    target,
    who: p.who,
    authorization,
    headers,
    body: p.body.body,
    label,
    [fc.toStringMethod]: () => `${label} (${p.body.body?.length ?? 0} bytes)`,
  } as Req;
}

function fill(path: string, id: string): string {
  return path.replace("{id}", id);
}

const requestArb: fc.Arbitrary<Req> = fc
  .record({
    route: fc.constantFrom(...ROUTES),
    method: fc.oneof(
      { weight: 4, arbitrary: fc.constant<string | null>(null) },
      { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE") },
    ),
    randomPath: fc.oneof(
      { weight: 4, arbitrary: fc.constant(null) },
      {
        weight: 1,
        arbitrary: fc.array(fc.oneof(accountIdArb, fc.constantFrom("api", "accounts", "token", "sync", "locks", "..", "", "metrics")), {
          minLength: 1,
          maxLength: 5,
        }),
      },
    ),
    id: accountIdArb,
    query: fc.oneof({ weight: 2, arbitrary: fc.constant("") }, { weight: 3, arbitrary: queryArb }),
    who: whoArb,
    authPick: fc.nat(),
    type: fc.option(fc.constantFrom(...CONTENT_TYPES), { nil: undefined }),
    encoding: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...ENCODINGS) }),
    accept: fc.option(fc.constantFrom(...ACCEPTS), { nil: undefined }),
    requestId: fc.option(headerValue, { nil: undefined }),
    extra: extraHeaders,
    body: bodyArb,
  })
  .map((r) => {
    let path = r.randomPath ? `/${r.randomPath.join("/")}` : fill(r.route.path, r.id);
    if (!r.randomPath && r.route.accountIn === "query") path = `${path}?accountId=${r.id}`;
    return buildReq({ ...r, method: r.method ?? r.route.method, path });
  });

// ---- what every answer must be ----------------------------------------------------------------------------

const TOKEN_OPERATIONS = new Set(["getAccountToken", "getToken", "invalidateToken"]);

function operationOf(method: string, target: string): string | undefined {
  return spec().findOperation(method, target)?.operationId;
}

async function send(req: Req): Promise<RawResponse> {
  const body = await materialise(req.body);
  const res = await rawRequest(broker.port, httpBytes(req.method, req.target, req.headers, body), 15_000);
  assert.ok(res !== null, `${req.label}: the connection closed without an answer`);
  await learnTokens();
  return res;
}

/** The properties every answer has, whatever was sent. */
function checkAnswer(req: Req, res: RawResponse): void {
  const where = `${req.label} → ${res.status} ${res.text.slice(0, 300)}`;
  assert.ok(res.status < 500, `a 5xx for the caller's mistake: ${where}`);
  assert.ok(res.headers["x-request-id"], `every answer has a request id: ${where}`);
  assertNoInternals(res.text);
  assertNoSecret(res.wire, SECRETS, where);

  const op = operationOf(req.method, req.target);
  const exchange = { method: req.method, path: req.target, status: res.status, headers: res.headers, text: res.text };
  if (op !== undefined) {
    const problems = responseProblems(exchange);
    assert.deepEqual(problems, [], `the answer is not what openapi.yaml documents: ${where}`);
  } else if (req.method === "OPTIONS" && res.status === 200) {
    // express answers OPTIONS for a known path with its methods: no body of ours, nothing secret.
    assert.match(res.headers.allow ?? "", /^[A-Z, ]+$/, where);
  } else {
    assert.equal(res.status, 404, `an undocumented method or path is a 404: ${where}`);
  }
  if (res.status >= 400 && req.method !== "HEAD") {
    assert.match(res.headers["content-type"] ?? "", /^application\/json/, `errors are JSON: ${where}`);
    assertSchema("Error", JSON.parse(res.text));
    assert.equal(res.headers["cache-control"], "no-store", where);
  }

  // Tokens: only in a token operation's 200, for the account asked about, to a key allowed for it.
  for (const [token, account] of known) {
    if (!res.wire.includes(token)) continue;
    assert.ok(op !== undefined && TOKEN_OPERATIONS.has(op) && res.status === 200, `a token outside a token answer: ${where}`);
    const body = JSON.parse(res.text) as { accountId?: string; accessToken?: string };
    assert.equal(body.accessToken, token, `the token is the answer's accessToken: ${where}`);
    assert.equal(body.accountId, account, `the token belongs to the account answered for: ${where}`);
    assert.ok(MAY_READ[req.who].includes(account), `${req.who} received the token of ${account}: ${where}`);
  }
}

async function property(arb: fc.Arbitrary<Req>, numRuns: number, extra?: (req: Req, res: RawResponse) => void): Promise<number> {
  await fc.assert(
    fc.asyncProperty(arb, async (req) => {
      const res = await send(req);
      checkAnswer(req, res);
      extra?.(req, res);
    }),
    { seed: SEED, numRuns, endOnFailure: true },
  );
  return numRuns;
}

// ---- the properties ---------------------------------------------------------------------------------------

scenario(
  "any request to any route (method, path, query, headers, body, key) gets a documented answer, never a 5xx, a secret or another account's token",
  {
    class: "Bad input and abuse",
    outcome: "every answer < 500, JSON error shape, documented status, no stack, no secret, tokens only to allowed keys",
    timeout: 120_000,
  },
  async (run) => {
    run.cases(await property(requestArb, 400));
  },
);

scenario(
  "account ids with path tricks (.., %2e%2e, %00, unicode, 65+ characters, key-space characters) are refused at every route that takes one",
  {
    class: "Bad input and abuse",
    outcome: "400 invalid_account_id / bad_request, 404 unknown_account or 401/403; never another account's data",
    timeout: 60_000,
  },
  async (run) => {
    const arb = fc
      .record({
        route: fc.constantFrom(...ID_ROUTES),
        id: fc.constantFrom(...PATH_TRICKS),
        who: fc.constantFrom<Who>("admin", "clientA", "none"),
      })
      .map(({ route, id, who }) => {
        const path =
          route.accountIn === "path" ? fill(route.path, id) : route.accountIn === "query" ? `${route.path}?accountId=${id}` : route.path;
        const body = route.accountIn === "body" ? Buffer.from(JSON.stringify({ accountId: decodeSafe(id) })) : undefined;
        return buildReq({
          method: route.method,
          path,
          query: "",
          who,
          authPick: 0,
          type: "application/json",
          extra: [],
          body: { kind: "id", body },
        });
      });
    run.cases(
      await property(arb, 250, (req, res) => {
        // No trick names a configured account: none of them may be answered with a token or a report about one.
        assert.ok(res.status >= 400, `${req.label} → ${res.status}: a tricked id was accepted`);
      }),
    );
  },
);

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

scenario(
  "bodies of every kind (wrong types, huge, deeply nested, invalid UTF-8, wrong content type, gzip garbage and bombs) at every route that takes one are 4xx",
  {
    class: "Bad input and abuse",
    outcome: "400 / 401 / 403 / 413 / 415 / 429 JSON errors; a 16 kB+ JSON body is 413, a non-JSON body 415",
    timeout: 90_000,
  },
  async (run) => {
    const arb = fc
      .record({
        route: fc.constantFrom(...BODY_ROUTES),
        who: fc.constantFrom<Who>("admin", "admin", "clientA", "none", "wrong"),
        body: bodyArb,
        type: fc.option(fc.constantFrom(...CONTENT_TYPES), { nil: undefined }),
      })
      .map(({ route, who, body, type }) => {
        const path = route.accountIn === "path" ? fill(route.path, "gh_a") : route.path;
        return buildReq({ method: route.method, path, query: "", who, authPick: 0, type: type ?? "application/json", extra: [], body });
      });
    run.cases(
      await property(arb, 300, (req, res) => {
        if (req.who === "none" || req.who === "wrong")
          assert.equal(res.status, 401, `${req.label}: an unauthenticated body is refused first`);
      }),
    );
  },
);

// ---- specific limits, each route by name ------------------------------------------------------------------

scenario(
  "a JSON body over 16 kB is a 413 at every route that takes a body, and a 2 MiB gzip bomb is refused without being inflated",
  { class: "Bad input and abuse", outcome: "413 payload_too_large at all 6 body routes, for plain and gzip-bomb bodies" },
  async (run) => {
    let n = 0;
    for (const route of BODY_ROUTES) {
      const path = route.accountIn === "path" ? fill(route.path, "gh_a") : route.path;
      for (const [body, encoding] of [
        [Buffer.from(JSON.stringify({ accountId: "gh_a", accessToken: "x".repeat(17 * 1024) })), undefined],
        [BOMB, "gzip"],
      ] as const) {
        const req = buildReq({
          method: route.method,
          path,
          query: "",
          who: "admin",
          authPick: 0,
          type: "application/json",
          encoding,
          extra: [],
          body: { kind: "big", body },
        });
        const res = await send(req);
        checkAnswer(req, res);
        assert.equal(res.status, 413, req.label);
        assert.equal((JSON.parse(res.text) as { error: { code: string } }).error.code, "payload_too_large");
        n++;
      }
    }
    run.cases(n);
  },
);

scenario(
  "a body that is not JSON is a 415 at every route that takes a body (JSON only where JSON is documented)",
  { class: "Bad input and abuse", outcome: "415 unsupported_media_type for text/plain, form and multipart bodies at all 6 body routes" },
  async (run) => {
    let n = 0;
    for (const route of BODY_ROUTES) {
      const path = route.accountIn === "path" ? fill(route.path, "gh_a") : route.path;
      for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
        const req = buildReq({
          method: route.method,
          path,
          query: "",
          who: "admin",
          authPick: 0,
          type,
          extra: [],
          body: { kind: type, body: Buffer.from("accountId=gh_a&force=true") },
        });
        const res = await send(req);
        checkAnswer(req, res);
        assert.equal(res.status, 415, req.label);
        n++;
      }
    }
    run.cases(n);
  },
);

scenario(
  "routes that take no body ignore one: health, metrics, tokens, diagnosis and the GET lock routes answer as without it",
  {
    class: "Bad input and abuse",
    outcome: "a malformed or oversized JSON body on a GET changes nothing (no 400/413 from a body nobody reads)",
  },
  async (run) => {
    let n = 0;
    for (const route of ROUTES.filter((r) => r.method === "GET")) {
      const path =
        route.accountIn === "path" ? fill(route.path, "gh_a") : route.accountIn === "query" ? `${route.path}?accountId=gh_a` : route.path;
      const plain = await send(buildReq({ method: "GET", path, query: "", who: "admin", authPick: 0, extra: [], body: { kind: "none" } }));
      for (const body of [Buffer.from("{"), Buffer.from(JSON.stringify({ x: "y".repeat(20_000) }))]) {
        const req = buildReq({
          method: "GET",
          path,
          query: "",
          who: "admin",
          authPick: 0,
          type: "application/json",
          extra: [],
          body: { kind: "junk", body },
        });
        const res = await send(req);
        checkAnswer(req, res);
        assert.equal(res.status, plain.status, `${req.label}: ${res.text.slice(0, 200)}`);
        n++;
      }
    }
    run.cases(n);
  },
);

scenario(
  "a request Node's HTTP parser rejects (raw UTF-8 or a space in the path, an unknown method, 20 kB of headers) still gets the JSON error shape",
  {
    class: "Bad input and abuse",
    outcome: "400/431 with an Error body and Cache-Control: no-store, then the connection closes",
  },
  async (run) => {
    const cases: Array<[string, Buffer]> = [
      ["raw UTF-8 in the path", httpBytes("GET", Buffer.from("/api/accounts/公众号/token", "utf8"), [])],
      ["a space in the path", httpBytes("GET", "/api/accounts/gh a/token", [])],
      ["an unknown method", httpBytes("BREW", "/api/health", [])],
      ["20 kB of headers", httpBytes("GET", "/api/health", [["X-Padding", "p".repeat(20_000)]])],
    ];
    for (const [what, bytes] of cases) {
      const res = await rawRequest(broker.port, bytes);
      assert.ok(res, `${what}: an answer`);
      assert.ok(res.status >= 400 && res.status < 500, `${what}: ${res.status}`);
      assert.match(
        res.headers["content-type"] ?? "",
        /^application\/json/,
        `${what}: a JSON error (got ${res.status} with ${JSON.stringify(res.headers)})`,
      );
      assertSchema("Error", JSON.parse(res.text));
      assert.equal(res.headers["cache-control"], "no-store", what);
    }
    run.cases(cases.length);
  },
);
