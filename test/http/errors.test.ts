// Callers' mistakes: each is a documented 4xx with `{error:{code,message}}`, never a 500 and never internals.
// Input checks do not depend on the store, so one embedded broker serves the whole file.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import request from "supertest";
import { startSimulator } from "../../src/simulator/server";
import type { RunningSimulator } from "../../src/simulator/types";
import { account } from "../helpers/brokers";
import { assertUndocumented } from "../helpers/openapi";
import { assertError, documented, httpBroker, type HttpBroker } from "./support";

let sim: RunningSimulator;
let hb: HttpBroker;

before(async () => {
  sim = await startSimulator({ apps: [{ appId: "wx_err", secret: "err-secret-77a" }] });
  hb = await httpBroker({ accounts: [account("gh_err", "wx_err", "err-secret-77a", "classic")], wechatApiBase: sim.url });
});
after(async () => {
  await hb.close();
  await sim.close();
});

const invalidateUrl = "/api/accounts/gh_err/token/invalidate";
const post = (body: string, type = "application/json") => request(hb.app).post(invalidateUrl).set("Content-Type", type).send(body);

void describe("account ids", () => {
  const bad = [
    ["a space", "a b"],
    ["a path traversal", "../etc"],
    ["65 characters", "a".repeat(65)],
    ["a dot", "gh.a"],
    ["non-ASCII letters", "公众号"],
  ] as const;

  for (const [what, id] of bad) {
    void test(`an account id with ${what} is a 400 invalid_account_id at both token URLs and at invalidate`, async () => {
      assertError(await request(hb.app).get(`/api/accounts/${encodeURIComponent(id)}/token`), 400, "invalid_account_id");
      assertError(await request(hb.app).get("/api/token").query({ accountId: id }), 400, "invalid_account_id");
      assertError(
        await request(hb.app)
          .post(`/api/accounts/${encodeURIComponent(id)}/token/invalidate`)
          .send({ accessToken: "x" }),
        400,
        "invalid_account_id",
      );
    });
  }

  void test("an unencoded ../ in the path never reaches another route: it is a 404", async () => {
    const res = await request(hb.app).get("/api/accounts/../etc/token");
    assertUndocumented("GET", "/api/accounts/../etc/token");
    assertError(res, 404, "not_found", { documentedRoute: false });
  });

  void test("a 64-character id is well-formed: an unknown one is a 404 unknown_account naming it", async () => {
    const id = "b".repeat(64);
    const res = await request(hb.app).get(`/api/accounts/${id}/token`);
    assertError(res, 404, "unknown_account");
    assert.equal(res.body.error.accountId, id);
    assert.equal(typeof res.body.error.hint, "string");
    assert.equal(typeof res.body.error.hintZh, "string");
  });

  void test("an unknown account is a 404 unknown_account at both token URLs and at invalidate", async () => {
    assertError(await request(hb.app).get("/api/accounts/gh_nobody/token"), 404, "unknown_account");
    assertError(await request(hb.app).get("/api/token?accountId=gh_nobody"), 404, "unknown_account");
    assertError(await request(hb.app).post("/api/accounts/gh_nobody/token/invalidate").send({ accessToken: "x" }), 404, "unknown_account");
  });

  void test("GET /api/token without accountId, or with an empty one, is a 400 missing_account_id", async () => {
    assertError(await request(hb.app).get("/api/token"), 400, "missing_account_id");
    assertError(await request(hb.app).get("/api/token?accountId="), 400, "missing_account_id");
    assertError(await request(hb.app).get("/api/token?other=gh_err"), 400, "missing_account_id");
  });

  void test("GET /api/token with accountId given twice is a 400, not a guess", async () => {
    assertError(
      await request(hb.app).get("/api/token?accountId=gh_err&accountId=gh_other"),
      400,
      /^(missing_account_id|invalid_account_id)$/,
    );
  });

  void test("a malformed percent-encoding in the account id is a 400, not a 500", async () => {
    const res = await request(hb.app).get("/api/accounts/%E0%A4%A/token");
    assertError(res, 400, /^(invalid_account_id|bad_request)$/);
  });
});

void describe("the invalidate body", () => {
  void test("a well-formed report is accepted (the baseline for the cases below)", async () => {
    const res = documented(await request(hb.app).post(invalidateUrl).send({ accessToken: "86_not-current", errcode: 40001 }));
    assert.equal(res.status, 200);
  });

  void test("without a body, with {} and with an empty accessToken it is a 400 invalid_field naming accessToken", async () => {
    for (const res of [
      await request(hb.app).post(invalidateUrl),
      await post("{}"),
      await post(JSON.stringify({ accessToken: "" })),
      await post(JSON.stringify({ errcode: 40001 })),
    ]) {
      assertError(res, 400, "invalid_field");
      assert.match(res.body.error.message as string, /accessToken/);
    }
  });

  void test("an accessToken that is not a string, or longer than 2048 characters, is a 400 invalid_field", async () => {
    for (const accessToken of [123, null, true, ["86_a"], { t: "86_a" }, "x".repeat(2049)]) {
      assertError(await post(JSON.stringify({ accessToken })), 400, "invalid_field");
    }
  });

  void test("an errcode that is not an integer is a 400 invalid_field naming errcode", async () => {
    for (const errcode of ["40001", 40001.5, null, true, [40001]]) {
      const res = await post(JSON.stringify({ accessToken: "86_x", errcode }));
      assertError(res, 400, "invalid_field");
      assert.match(res.body.error.message as string, /errcode/);
    }
  });

  void test("invalid JSON is a 400 invalid_json", async () => {
    for (const body of ['{"accessToken": ', "{accessToken: 'x'}", '{"accessToken":"x"}}', '"just a string"']) {
      assertError(await post(body), 400, "invalid_json");
    }
  });

  void test("a JSON array is a 400 invalid_body", async () => {
    assertError(await post('[{"accessToken":"x"}]'), 400, "invalid_body");
  });

  void test("a body over 16 kB is a 413 payload_too_large", async () => {
    const body = JSON.stringify({ accessToken: "x".repeat(17 * 1024) });
    assertError(await post(body), 413, "payload_too_large");
  });

  void test("a text/plain body is a 415 unsupported_media_type", async () => {
    assertError(await post('{"accessToken":"86_x"}', "text/plain"), 415, "unsupported_media_type");
    assertError(await post("accessToken=86_x", "application/x-www-form-urlencoded"), 415, "unsupported_media_type");
  });

  void test("a JSON body in a charset other than UTF-8 is a 415 unsupported_charset", async () => {
    assertError(await post('{"accessToken":"86_x"}', "application/json; charset=latin1"), 415, "unsupported_charset");
  });

  void test("a body with an unknown content encoding is a 415 unsupported_encoding", async () => {
    const res = await request(hb.app)
      .post(invalidateUrl)
      .set("Content-Type", "application/json")
      .set("Content-Encoding", "compress-x")
      .send('{"accessToken":"86_x"}');
    assertError(res, 415, "unsupported_encoding");
  });

  void test("a gzip-encoded JSON body is read", async () => {
    const res = await request(hb.app)
      .post(invalidateUrl)
      .set("Content-Type", "application/json")
      .set("Content-Encoding", "gzip")
      // superagent would JSON-encode a Buffer sent as application/json; send the gzip bytes as they are
      .serialize((bytes: Buffer) => bytes as unknown as string)
      .send(gzipSync(Buffer.from('{"accessToken":"86_not-current"}')));
    assert.equal(documented(res).status, 200);
  });

  void test("a body that claims gzip but is not gzip is a 400, not a 500", async () => {
    const res = await request(hb.app)
      .post(invalidateUrl)
      .set("Content-Type", "application/json")
      .set("Content-Encoding", "gzip")
      .send('{"accessToken":"86_x"}');
    assertError(res, 400, /^(invalid_body|bad_request)$/);
  });
});

void describe("unknown routes", () => {
  for (const [method, path] of [
    ["get", "/api/nope"],
    ["get", "/api/accounts/gh_err/token/invalidate"],
    ["post", "/api/accounts/gh_err/token"],
    ["delete", "/api/accounts/gh_err/token"],
    ["get", "/api/accounts/gh_err"],
    ["get", "/"],
  ] as const) {
    void test(`${method.toUpperCase()} ${path} is a 404 not_found in the Error shape, and is not in openapi.yaml`, async () => {
      assertUndocumented(method, path);
      const res = await request(hb.app)[method](path);
      assertError(res, 404, "not_found", { documentedRoute: false });
      assert.ok(res.headers["x-request-id"], "every answer has a request id");
    });
  }
});

void describe("request ids", () => {
  void test("a valid X-Request-Id is echoed, an invalid one is replaced", async () => {
    const echoed = documented(await request(hb.app).get("/api/health/live").set("X-Request-Id", "caller-42.a:b"));
    assert.equal(echoed.headers["x-request-id"], "caller-42.a:b");
    const replaced = documented(await request(hb.app).get("/api/health/live").set("X-Request-Id", "has spaces <script>"));
    assert.match(replaced.headers["x-request-id"] ?? "", /^[0-9a-f-]{36}$/);
  });
});

void describe("a bug in the broker", () => {
  void test("answers 500 internal_error without internals, and logs one error line under the request id the answer names", async () => {
    const buggy = await httpBroker({
      accounts: [account("gh_bug", "wx_err", "err-secret-77a", "classic")],
      wechatApiBase: sim.url,
      // A WeChat client that breaks its contract (throws something other than UpstreamError): a bug, not WeChat.
      broker: {
        wrapWeChat: (real) => ({
          probe: (a, t) => real.probe(a, t),
          fetchToken: () => Promise.reject(new TypeError("cannot read properties of undefined")),
        }),
      },
    });
    try {
      const res = documented(await request(buggy.app).get("/api/accounts/gh_bug/token").set("X-Request-Id", "bug-report-1"));
      assertError(res, 500, "internal_error");
      assert.doesNotMatch(res.text, /cannot read properties/, "the cause stays in the log");
      const errors = buggy.logs
        .map((l) => JSON.parse(l) as { level: number; msg: string; req?: { id?: string }; err?: { message?: string } })
        .filter((l) => l.level >= 50);
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.equal(errors[0]!.msg, "unhandled error");
      assert.equal(errors[0]!.req?.id, "bug-report-1", "findable by the request id the caller was given");
      assert.match(errors[0]!.err?.message ?? "", /cannot read properties/);
    } finally {
      await buggy.close();
    }
  });
});
