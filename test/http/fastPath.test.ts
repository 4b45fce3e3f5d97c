// The fast path (src/http/fastPath.ts): the token routes' requests in their canonical form are answered before
// express, through the same route declaration express serves, exactly as express answers them (hits, misses,
// refusals and errors); every other form reaches express untouched. The express app is wrapped in a counter, so
// each test sees which of the two answered, and the same request sent to the express app alone gives the answer to
// compare with.
import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { RequestListener } from "node:http";
import { gzipSync } from "node:zlib";
import request from "supertest";
import { withFastPath } from "../../src/http/fastPath";
import type { SimAppConfig } from "../../src/simulator/types";
import { account, captureLogger, startBroker } from "../helpers/brokers";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { waitUntil } from "../helpers/wait";
import { rogueClassicFetch } from "../helpers/rogue";
import { documented, httpBroker, type HttpBroker } from "./support";

const APP_A: SimAppConfig = { appId: "wx_fast_a", secret: "fast-a-secret-61f", tokenLifetimeSec: 7200 };
const APP_B: SimAppConfig = { appId: "wx_fast_b", secret: "fast-b-secret-0d2", tokenLifetimeSec: 7200 };
const accounts = [account("gh_fast_a", APP_A.appId, APP_A.secret, "stable"), account("gh_fast_b", APP_B.appId, APP_B.secret, "classic")];
const ADMIN = { name: "ops", key: "fast-admin-key-7c1e", role: "admin" as const, accounts: "*" as const };
const ONLY_B = { name: "svc-b", key: "fast-b-only-key-92aa", role: "client" as const, accounts: ["gh_fast_b"] };
const bearer = (k: { key: string }) => `Bearer ${k.key}`;

const { redis, sim } = useRedisAndSimulator([APP_A, APP_B], { resetEachTest: true });

void describe("the token fast path", () => {
  let hb: HttpBroker;
  /** Requests that reached the express app. */
  let toExpress: number;
  let listener: RequestListener;

  beforeEach(async () => {
    hb = await httpBroker({ accounts, wechatApiBase: sim.url, redisUrl: redis.url, keys: [ADMIN, ONLY_B] });
    toExpress = 0;
    listener = withFastPath(
      (req, res) => {
        toExpress++;
        hb.express(req, res);
      },
      hb.routes,
      hb.services,
    );
  });
  afterEach(() => hb.close());

  const get = (path: string, key: { key: string } | null = ADMIN) => {
    const r = request(listener).get(path);
    return key === null ? r : r.set("Authorization", bearer(key));
  };

  /** Same fields; expiresIn (whole seconds from now) and expiresAt (now + expiresIn) may move with the clock. */
  const assertSameTokenAnswer = (viaFast: request.Response, viaExpress: request.Response) => {
    assert.equal(viaFast.status, viaExpress.status);
    for (const h of ["content-type", "cache-control"]) assert.equal(viaFast.headers[h], viaExpress.headers[h], h);
    assert.equal(viaFast.headers["content-length"], String(Buffer.byteLength(viaFast.text)));
    const a = viaExpress.body as Record<string, unknown>;
    const b = viaFast.body as Record<string, unknown>;
    assert.deepEqual(Object.keys(b), Object.keys(a), "same fields in the same order");
    assert.deepEqual({ ...b, expiresIn: 0, expiresAt: "" }, { ...a, expiresIn: 0, expiresAt: "" });
    assert.ok(Math.abs(Number(b.expiresIn) - Number(a.expiresIn)) <= 1, "expiresIn counts down from the same expiry");
    assert.ok(Math.abs(Date.parse(String(b.expiresAt)) - Date.parse(String(a.expiresAt))) <= 1000, "the same expiresAt, to the second");
  };

  void test("a miss and then a hit are answered without express, with the express route's status, headers and body", async () => {
    const miss = documented(await get("/api/accounts/gh_fast_a/token"));
    const hit = documented(await get("/api/accounts/gh_fast_a/token"));
    assert.equal(toExpress, 0, "neither reached express");
    assert.equal(hb.broker.events.get("token:miss"), 1);
    assert.equal(hb.broker.events.get("token:hit"), 1);
    const viaExpress = documented(await request(hb.express).get("/api/accounts/gh_fast_a/token").set("Authorization", bearer(ADMIN)));
    assertSameTokenAnswer(miss, viaExpress);
    assertSameTokenAnswer(hit, viaExpress);
    assert.equal(
      sim.admin.checkToken(String((hit.body as { accessToken: string }).accessToken)).valid,
      true,
      "WeChat accepts the token served",
    );
  });

  void test("a refusal by WeChat is answered without express with the documented error express gives for it", async () => {
    sim.admin.patchApp(APP_A.appId, { ipWhitelist: ["10.9.9.9"], callerIp: "1.92.157.200" });
    // The first refusal opens the breaker; compare two answers given while it is open.
    const first = documented(await get("/api/accounts/gh_fast_a/token"));
    assert.equal((first.body as { error: { breakerOpen: boolean } }).error.breakerOpen, false);
    const viaExpress = documented(await request(hb.express).get("/api/accounts/gh_fast_a/token").set("Authorization", bearer(ADMIN)));
    const viaFast = documented(await get("/api/accounts/gh_fast_a/token"));
    assert.equal(toExpress, 0);
    assert.equal(sim.admin.counters(APP_A.appId).calls.stable_token, 1, "one call to WeChat; then the breaker answers");
    assert.equal(viaFast.status, 503);
    assert.equal(viaExpress.status, 503);
    for (const h of ["content-type", "cache-control", "retry-after"]) assert.equal(viaFast.headers[h], viaExpress.headers[h], h);
    const e = (r: request.Response) => (r.body as { error: Record<string, unknown> }).error;
    assert.deepEqual({ ...e(viaFast), message: "" }, { ...e(viaExpress), message: "" }, "same code, errcode, ip, hints, retryAfter");
    assert.equal(e(viaFast).errcode, 40164);
    assert.equal(e(viaFast).ip, "1.92.157.200");
    const warnings = hb.logs
      .map((l) => JSON.parse(l) as { level: number; msg: string; res?: { statusCode?: number } })
      .filter((l) => l.msg === "request completed" || l.msg.startsWith("request failed"));
    assert.deepEqual(
      warnings.map((l) => [l.level, l.res?.statusCode, l.msg]),
      Array(3).fill([40, 503, "request failed with status 503"]),
      "one warning line per refused request, on either path",
    );
  });

  void test("the caller's X-Request-Id is echoed and a bad one replaced, as express does", async () => {
    await get("/api/accounts/gh_fast_a/token");
    const echoed = await get("/api/accounts/gh_fast_a/token").set("X-Request-Id", "caller-7.x:y");
    const replaced = await get("/api/accounts/gh_fast_a/token").set("X-Request-Id", "no spaces allowed");
    assert.equal(toExpress, 0);
    assert.equal(echoed.headers["x-request-id"], "caller-7.x:y");
    assert.match(replaced.headers["x-request-id"] ?? "", /^[0-9a-f-]{36}$/);
  });

  void test("refusals are answered on the fast path as express answers them, and counted once", async () => {
    await get("/api/accounts/gh_fast_a/token");
    const cases: Array<[string, (target: RequestListener) => request.Test, number]> = [
      ["no key", (t) => request(t).get("/api/accounts/gh_fast_a/token"), 401],
      ["a wrong key", (t) => request(t).get("/api/accounts/gh_fast_a/token").set("Authorization", "Bearer not-a-key"), 401],
      ["a malformed header", (t) => request(t).get("/api/accounts/gh_fast_a/token").set("Authorization", "Basic abc"), 401],
      [
        "a key not allowed for the account",
        (t) => request(t).get("/api/accounts/gh_fast_a/token").set("Authorization", bearer(ONLY_B)),
        403,
      ],
      ["an unknown account", (t) => request(t).get("/api/accounts/gh_nobody/token").set("Authorization", bearer(ADMIN)), 404],
    ];
    for (const [what, send, status] of cases) {
      const viaFast = documented(await send(listener));
      const viaExpress = documented(await send(hb.express));
      assert.equal(toExpress, 0, `${what}: not handed to express`);
      assert.equal(viaFast.status, status, what);
      assert.equal(viaExpress.status, status, what);
      assert.deepEqual(viaFast.body, viaExpress.body, what);
      assert.equal(viaFast.headers["www-authenticate"], viaExpress.headers["www-authenticate"], what);
    }
    const failures = await hb.metrics.text();
    assert.match(failures, /wtb_auth_failures_total\{reason="invalid"\} 2\n/, "each refusal counted once, whichever answered it");
    assert.match(failures, /wtb_http_requests_total\{method="GET",route="\/api\/accounts\/:accountId\/token",status_code="401"\} 6\n/);
  });

  void test("every request it does not recognise goes to express untouched, which answers it as before", async () => {
    await get("/api/accounts/gh_fast_a/token");
    await get("/api/accounts/gh_fast_b/token");
    assert.equal(toExpress, 0);
    const cases: Array<[string, () => request.Test, number]> = [
      ["a query string", () => get("/api/accounts/gh_fast_a/token?x=1"), 200],
      ["an encoded path", () => get("/api/accounts/gh%5Ffast%5Fa/token"), 200],
      ["HEAD", () => request(listener).head("/api/accounts/gh_fast_a/token").set("Authorization", bearer(ADMIN)), 200],
      ["the query form", () => get("/api/token?accountId=gh_fast_a"), 200],
    ];
    for (const [what, send, status] of cases) {
      const seen: number = toExpress;
      const res = documented(await send());
      assert.equal(res.status, status, what);
      assert.equal(toExpress, seen + 1, `${what}: answered by express`);
    }
    const allowed = documented(await get("/api/accounts/gh_fast_b/token", ONLY_B));
    assert.equal(allowed.status, 200);
    assert.equal(toExpress, cases.length, "a key allowed for the account takes the fast path");
  });

  void test("a token another replica replaced is not served from memory: the next answer is the new one, from the store", async () => {
    // A classic account: WeChat answers an invalidation with a new token.
    const first = documented(await get("/api/accounts/gh_fast_b/token")).body as { accessToken: string };
    // Another replica's refresh reaches this one as a "refreshed" notice carrying a newer generation, which drops the
    // local copy.
    const other = await startBroker({ accounts, wechatApiBase: sim.url, redisUrl: redis.url, keyPrefix: hb.keyPrefix });
    try {
      await rogueClassicFetch(sim.url, APP_B.appId, APP_B.secret);
      const replaced = (await other.service.invalidate("gh_fast_b", first.accessToken)).token;
      assert.notEqual(replaced.accessToken, first.accessToken);
      await waitUntil("the notice dropped the local copy", () => hb.broker.service.cachedToken("gh_fast_b") === undefined);
      const afterwards = documented(await get("/api/accounts/gh_fast_b/token")).body as { accessToken: string };
      assert.equal(afterwards.accessToken, replaced.accessToken, "the other replica's token, read from the store");
      assert.equal(sim.admin.checkToken(afterwards.accessToken).valid, true);
      assert.equal(sim.admin.counters(APP_B.appId).calls.token, 1 + 2 + 1, "no refresh of its own");
      assert.equal(toExpress, 0);
    } finally {
      await other.close();
    }
  });

  void test("fast answers are counted as express would count them: under the route template and as token hits", async () => {
    for (let i = 0; i < 5; i++) documented(await get("/api/accounts/gh_fast_a/token"));
    assert.equal(toExpress, 0);
    const text = await hb.metrics.text();
    assert.match(text, /wtb_http_requests_total\{method="GET",route="\/api\/accounts\/:accountId\/token",status_code="200"\} 5\n/);
    assert.match(text, /wtb_http_request_duration_seconds_count\{method="GET",route="\/api\/accounts\/:accountId\/token"\} 5\n/);
    assert.equal(hb.broker.events.get("token:hit"), 4, "4 answered from memory");
    assert.equal(hb.broker.events.get("token:miss"), 1, "the first waited for WeChat");
  });

  void test("at debug level a fast answer logs the request line express logs; at info level it logs nothing", async () => {
    documented(await get("/api/accounts/gh_fast_a/token?via=express").set("X-Request-Id", "req-express"));
    documented(await get("/api/accounts/gh_fast_a/token").set("X-Request-Id", "req-fast"));
    const line = (id: string) => {
      const found = hb.logs
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => (l.req as { id?: string } | undefined)?.id === id);
      assert.equal(found.length, 1, `one line for ${id}: ${JSON.stringify(found)}`);
      return found[0]!;
    };
    const viaExpress = line("req-express");
    const viaFast = line("req-fast");
    assert.deepEqual(viaFast.req, { id: "req-fast", method: "GET", path: "/api/accounts/gh_fast_a/token" });
    assert.deepEqual(viaExpress.req, { id: "req-express", method: "GET", path: "/api/accounts/gh_fast_a/token" });
    for (const l of [viaExpress, viaFast]) {
      assert.equal(l.level, 20);
      assert.equal(l.msg, "request completed");
      assert.deepEqual(l.res, { statusCode: 200 });
      assert.equal(typeof l.responseTime, "number");
    }

    const { logger, lines } = captureLogger("info");
    const quiet = withFastPath(hb.express, hb.routes, { ...hb.services, logger });
    for (let i = 0; i < 3; i++)
      documented(await request(quiet).get("/api/accounts/gh_fast_a/token").set("Authorization", bearer(ADMIN)).expect(200));
    assert.deepEqual(lines, []);
  });

  const post = (
    target: RequestListener | typeof hb.express,
    body: string | Buffer,
    headers: Record<string, string> = { "Content-Type": "application/json" },
  ) => {
    let r = request(target).post("/api/accounts/gh_fast_b/token/invalidate").set("Authorization", bearer(ADMIN));
    for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
    // superagent would JSON-encode a Buffer sent as application/json; send the bytes as they are
    return typeof body === "string" ? r.send(body) : r.serialize((bytes: Buffer) => bytes as unknown as string).send(body);
  };

  void test("an invalidation with a plain JSON body is answered without express, as the express route answers it", async () => {
    const first = (documented(await get("/api/accounts/gh_fast_b/token")).body as { accessToken: string }).accessToken;
    await rogueClassicFetch(sim.url, APP_B.appId, APP_B.secret);
    const viaFast = documented(await post(listener, JSON.stringify({ accessToken: first, errcode: 40001 })));
    assert.equal(toExpress, 0);
    assert.equal(viaFast.status, 200);
    const second = (viaFast.body as { accessToken: string }).accessToken;
    assert.notEqual(second, first, "a classic account gets a new token");
    assert.equal(sim.admin.checkToken(second).valid, true);
    await rogueClassicFetch(sim.url, APP_B.appId, APP_B.secret);
    const viaExpress = documented(await post(hb.express, JSON.stringify({ accessToken: second, errcode: 40001 })));
    assert.equal(viaExpress.status, 200);
    for (const h of ["content-type", "cache-control"]) assert.equal(viaFast.headers[h], viaExpress.headers[h], h);
    assert.deepEqual(Object.keys(viaFast.body as object), Object.keys(viaExpress.body as object));
    // A stale report (the token was already replaced) is answered with the current token, without a refresh.
    const stale = documented(await post(listener, JSON.stringify({ accessToken: first })));
    assert.equal((stale.body as { accessToken: string }).accessToken, (viaExpress.body as { accessToken: string }).accessToken);
    assert.equal(
      sim.admin.counters(APP_B.appId).calls.token,
      1 + 2 + 1 + 2 + 1,
      "one call for the first token and one per real invalidation (beside the rogue's)",
    );
    assert.match(
      await hb.metrics.text(),
      /wtb_http_requests_total\{method="POST",route="\/api\/accounts\/:accountId\/token\/invalidate",status_code="200"\} 3\n/,
    );
  });

  void test("a bad body is refused on the fast path with the status and code express gives it", async () => {
    await get("/api/accounts/gh_fast_b/token");
    const cases: Array<[string, string, number, string]> = [
      ["invalid JSON", "{not json", 400, "invalid_json"],
      ["a JSON array", "[1,2]", 400, "invalid_body"],
      ["no accessToken", JSON.stringify({ errcode: 40001 }), 400, "invalid_field"],
      ["a non-integer errcode", JSON.stringify({ accessToken: "x", errcode: "40001" }), 400, "invalid_field"],
      ["a body over 16 kB", JSON.stringify({ accessToken: "x".repeat(17_000) }), 413, "payload_too_large"],
    ];
    for (const [what, body, status, code] of cases) {
      const viaFast = documented(await post(listener, body));
      const viaExpress = documented(await post(hb.express, body));
      assert.equal(toExpress, 0, `${what}: not handed to express`);
      for (const r of [viaFast, viaExpress]) {
        assert.equal(r.status, status, what);
        assert.equal((r.body as { error: { code: string } }).error.code, code, what);
      }
      assert.deepEqual(viaFast.body, viaExpress.body, what);
    }
    assert.equal(sim.admin.counters(APP_B.appId).calls.token, 1, "no refresh for a refused report");
  });

  void test("bodies the fast path does not read go to express untouched: other types, charsets, encodings, no length", async () => {
    const body = JSON.stringify({ accessToken: "a-dead-token" });
    const cases: Array<[string, () => request.Test, number]> = [
      ["text/plain", () => post(listener, body, { "Content-Type": "text/plain" }), 415],
      ["a latin1 charset", () => post(listener, body, { "Content-Type": "application/json; charset=latin1" }), 415],
      ["gzip", () => post(listener, gzipSync(body), { "Content-Type": "application/json", "Content-Encoding": "gzip" }), 200],
      ["application/merge+json", () => post(listener, body, { "Content-Type": "application/merge+json" }), 415],
      ["no body", () => request(listener).post("/api/accounts/gh_fast_b/token/invalidate").set("Authorization", bearer(ADMIN)), 400],
    ];
    for (const [what, send, status] of cases) {
      const seen: number = toExpress;
      const res = documented(await send());
      assert.equal(res.status, status, `${what}: ${res.text}`);
      assert.equal(toExpress, seen + 1, `${what}: answered by express`);
    }
  });
});
