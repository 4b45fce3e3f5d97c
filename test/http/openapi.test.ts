// The spec itself and the validator the HTTP tests rely on. If the validator could not fail, every "validated
// against openapi.yaml" assertion elsewhere would be worthless, so each kind of mismatch is shown to fail here.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { OpenApiSpec, responseProblems, spec, type Exchange } from "../helpers/openapi";

const TOKEN = {
  accountId: "gh_a",
  accessToken: "86_abc",
  expiresIn: 7139,
  expiresAt: "2026-11-21T08:33:50.629Z",
  fetchedAt: "2026-11-21T06:34:51.628Z",
  api: "stable",
};

function answer(over: Partial<Exchange> & { body?: unknown } = {}): Exchange {
  const { body, ...rest } = over;
  return {
    method: "GET",
    path: "/api/accounts/gh_a/token",
    status: 200,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "x-request-id": "req-1" },
    text: JSON.stringify(body ?? TOKEN),
    ...rest,
  };
}

const errorBody = (extra: Record<string, unknown> = {}) => ({ error: { code: "upstream_error", message: "WeChat refused", ...extra } });

void describe("openapi.yaml", () => {
  void test("uses only schema keywords and formats the test validator implements", () => {
    spec().assertSupported();
  });

  void test("a schema anywhere in the document with an unimplemented keyword is reported, not skipped", () => {
    const doc = structuredClone(spec().doc) as { components: { schemas: Record<string, unknown> } };
    doc.components.schemas.Extra = { type: "object", properties: { a: { type: "string", nullable: true } } };
    assert.throws(() => new OpenApiSpec(doc).assertSupported(), /nullable/);
  });

  void test("gives every operation a unique operationId", () => {
    const ids = spec()
      .operations()
      .map((o) => o.operationId);
    assert.ok(ids.length >= 15, `found ${ids.length} operations`);
    assert.equal(new Set(ids).size, ids.length);
  });

  void test("documents 401 and 403 on every operation that can require a key, and never on public ones", () => {
    for (const op of spec().operations()) {
      const security = op.operation.security;
      assert.ok(Array.isArray(security), `${op.operationId} states its security explicitly`);
      const needsKey = security.some((req) => typeof req === "object" && req !== null && Object.keys(req).length > 0);
      const responses = Object.keys(op.operation.responses as object);
      assert.equal(responses.includes("401"), needsKey, `${op.operationId}: 401 documented iff a key can be required`);
      assert.equal(responses.includes("403"), needsKey, `${op.operationId}: 403 documented iff a key can be required`);
    }
  });

  void test("documents the token endpoints at both URLs, invalidation, health and metrics", () => {
    const find = (m: string, p: string) => spec().findOperation(m, p)?.operationId;
    assert.equal(find("GET", "/api/accounts/gh_a/token"), "getAccountToken");
    assert.equal(find("GET", "/api/token?accountId=gh_a"), "getToken");
    assert.equal(find("POST", "/api/accounts/gh_a/token/invalidate"), "invalidateToken");
    assert.equal(find("GET", "/api/health/ready"), "getReadiness");
    assert.equal(find("GET", "/metrics"), "getMetrics");
    assert.equal(find("HEAD", "/api/health/live"), "getLiveness", "HEAD is served by the GET route");
  });
});

void describe("the response validator", () => {
  void test("accepts a documented answer that conforms", () => {
    assert.deepEqual(responseProblems(answer()), []);
  });

  void test("rejects a path openapi.yaml does not list", () => {
    assert.match(responseProblems(answer({ path: "/api/nope" })).join(), /no path .* matches \/api\/nope/);
    assert.match(responseProblems(answer({ path: "/api/accounts/gh_a/token/extra" })).join(), /no path/);
  });

  void test("rejects a method the path does not document", () => {
    assert.match(
      responseProblems(answer({ method: "DELETE" })).join(),
      /DELETE is not documented for \/api\/accounts\/\{accountId\}\/token/,
    );
  });

  void test("rejects a status the operation does not document", () => {
    const problems = responseProblems(answer({ status: 418, body: errorBody() }));
    assert.match(problems.join(), /status 418 is not documented/);
    assert.match(
      responseProblems(answer({ path: "/api/health/live", status: 503, body: { status: "ok" } })).join(),
      /status 503 is not documented/,
    );
  });

  void test("rejects an undocumented content type, and a missing one", () => {
    assert.match(
      responseProblems(answer({ headers: { "content-type": "text/html", "cache-control": "no-store", "x-request-id": "r" } })).join(),
      /Content-Type text\/html is not documented/,
    );
    assert.match(responseProblems(answer({ headers: { "cache-control": "no-store", "x-request-id": "r" } })).join(), /no Content-Type/);
  });

  void test("rejects a body that is not JSON where JSON is documented", () => {
    assert.match(responseProblems(answer({ text: "<html>" })).join(), /not JSON/);
  });

  void test("rejects a missing required property, an extra property, a wrong type, a bad enum value and a bad date-time", () => {
    const { expiresIn: _drop, ...missing } = TOKEN;
    assert.match(responseProblems(answer({ body: missing })).join(), /required property "expiresIn" is missing/);
    assert.match(responseProblems(answer({ body: { ...TOKEN, appSecret: "x" } })).join(), /property "appSecret" is not allowed/);
    assert.match(responseProblems(answer({ body: { ...TOKEN, expiresIn: "7139" } })).join(), /body\.expiresIn: expected integer/);
    assert.match(responseProblems(answer({ body: { ...TOKEN, expiresIn: 7139.5 } })).join(), /expected integer/);
    assert.match(responseProblems(answer({ body: { ...TOKEN, api: "magic" } })).join(), /"magic" is not one of/);
    assert.match(responseProblems(answer({ body: { ...TOKEN, expiresAt: "tomorrow" } })).join(), /not a valid date-time/);
    assert.match(responseProblems(answer({ body: { ...TOKEN, accountId: "a b" } })).join(), /does not match/);
    assert.match(responseProblems(answer({ body: { ...TOKEN, expiresIn: -1 } })).join(), /below the minimum/);
  });

  void test("checks error bodies against the one Error schema", () => {
    const e = (body: unknown, status = 503, extraHeaders: Record<string, string> = { "retry-after": "60" }) =>
      responseProblems(
        answer({
          status,
          body,
          headers: { "content-type": "application/json", "cache-control": "no-store", "x-request-id": "r", ...extraHeaders },
        }),
      );
    assert.deepEqual(e(errorBody({ errcode: 40164, ip: "1.92.157.200", retryAfter: 60, errclass: "config" })), []);
    assert.match(e({ error: { code: "x" } }).join(), /required property "message"/);
    assert.match(e({ error: { code: "x", message: "m", stack: "Error: at …" } }).join(), /property "stack" is not allowed/);
    assert.match(e(errorBody({ errclass: "weird" })).join(), /not one of/);
    assert.match(e({ message: "flat" }).join(), /required property "error"/);
  });

  void test("requires the documented headers and checks their values", () => {
    const unavailable = (headers: Record<string, string>) =>
      responseProblems(
        answer({
          status: 503,
          body: errorBody({ retryAfter: 60 }),
          headers: { "content-type": "application/json", "x-request-id": "r", "cache-control": "no-store", ...headers },
        }),
      );
    assert.deepEqual(unavailable({ "retry-after": "60" }), []);
    assert.match(unavailable({}).join(), /required header Retry-After is missing/);
    assert.match(unavailable({ "retry-after": "soon" }).join(), /header Retry-After: expected integer/);
    assert.match(unavailable({ "retry-after": "0" }).join(), /below the minimum 1/);
    assert.match(
      responseProblems(answer({ headers: { "content-type": "application/json", "x-request-id": "r" } })).join(),
      /required header Cache-Control is missing/,
    );
    assert.match(
      responseProblems(
        answer({ headers: { "content-type": "application/json", "x-request-id": "r", "cache-control": "max-age=60" } }),
      ).join(),
      /Cache-Control: must be "no-store"/,
    );
    assert.match(
      responseProblems(answer({ headers: { "content-type": "application/json", "cache-control": "no-store" } })).join(),
      /X-Request-Id is missing/,
    );
  });

  void test("reads header names whatever their case, for answers that did not come from supertest", () => {
    const headers = { "Content-Type": "application/json", "Cache-Control": "no-store", "X-Request-Id": "r" };
    assert.deepEqual(responseProblems(answer({ headers })), []);
  });

  void test("matches a concrete path before a templated one and percent-encoded parameters as one segment", () => {
    assert.equal(spec().findOperation("GET", "/api/accounts/..%2Fetc/token")?.operationId, "getAccountToken");
    assert.equal(spec().findOperation("GET", "/api/accounts/../etc/token"), undefined);
    assert.equal(spec().findOperation("POST", "/api/locks/cleanup")?.operationId, "cleanupLocks");
  });

  void test("throws, rather than passing, on a schema keyword it does not implement", () => {
    assert.throws(() => spec().schemaProblems({ type: "string", contentEncoding: "base64" }, "x"), /keyword "contentEncoding"/);
    assert.throws(() => spec().schemaProblems({ type: "string", nullable: true }, "x"), /type: \[<type>, "null"\]/);
    assert.throws(() => spec().schemaProblems({ type: "string", format: "hostname" }, "x"), /format "hostname"/);
  });

  void test("implements oneOf as exactly one, and type lists with null", () => {
    const s = { oneOf: [{ type: "integer" }, { type: "number" }] };
    assert.match(spec().schemaProblems(s, 3).join(), /matches 2 schemas of oneOf/);
    assert.deepEqual(spec().schemaProblems(s, 3.5), []);
    assert.deepEqual(spec().schemaProblems({ type: ["string", "null"] }, null), []);
    assert.match(
      spec()
        .schemaProblems({ type: ["string", "null"] }, 1)
        .join(),
      /expected string or null/,
    );
  });
});
