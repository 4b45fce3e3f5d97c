// API keys over HTTP: 401 with WWW-Authenticate for a missing, malformed or unknown key, 403 for a key used outside
// its accounts, and no key asked for when none is configured (the loopback-only mode).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import { account } from "../helpers/brokers";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { assertError, documented, httpBroker, type HttpBroker, type TestKey } from "./support";

const ORDERS_KEY = "wtb-test-orders-3b8f1c2d9e";
const ADMIN_KEY = "wtb-test-admin-7c1d0a5f42";
const KEYS: TestKey[] = [
  { name: "order-service", key: ORDERS_KEY, role: "client", accounts: ["gh_shop"] },
  { name: "ops-admin", key: ADMIN_KEY, role: "admin", accounts: "*" },
];
const accounts = [account("gh_shop", "wx_auth_shop", "auth-shop-secret-1"), account("gh_hr", "wx_auth_hr", "auth-hr-secret-2")];

const { sim } = useRedisAndSimulator(
  [
    { appId: "wx_auth_shop", secret: "auth-shop-secret-1" },
    { appId: "wx_auth_hr", secret: "auth-hr-secret-2" },
  ],
  { redis: false },
);

/** The three token operations of one account, with an optional Authorization header. */
function tokenRequests(app: HttpBroker["app"], accountId: string, authorization?: string): Array<() => request.Test> {
  const withAuth = (t: request.Test) => (authorization === undefined ? t : t.set("Authorization", authorization));
  return [
    () => withAuth(request(app).get(`/api/accounts/${accountId}/token`)),
    () => withAuth(request(app).get("/api/token").query({ accountId })),
    () => withAuth(request(app).post(`/api/accounts/${accountId}/token/invalidate`).send({ accessToken: "86_stale", errcode: 40001 })),
  ];
}

void describe("with API keys configured", () => {
  let hb: HttpBroker;
  before(async () => {
    hb = await httpBroker({ accounts, wechatApiBase: sim.url, keys: KEYS });
  });
  after(() => hb.close());

  const unauthorized = async (authorization: string | undefined, message: RegExp) => {
    for (const send of tokenRequests(hb.app, "gh_shop", authorization)) {
      const res = await send();
      assertError(res, 401, "unauthorized");
      assert.equal(res.headers["www-authenticate"], "Bearer");
      assert.match(res.body.error.message as string, message);
      assert.equal(typeof res.body.error.hint, "string", "the 401 says how to send a key");
    }
  };

  void test("a request without a key is a 401 with WWW-Authenticate: Bearer at every token operation", async () => {
    await unauthorized(undefined, /required/);
  });

  void test("a malformed Authorization header is a 401 with WWW-Authenticate", async () => {
    for (const header of [
      `Basic ${Buffer.from(`u:${ORDERS_KEY}`).toString("base64")}`,
      "Bearer",
      "Bearer ",
      `Bearer ${ORDERS_KEY} extra`,
      ORDERS_KEY,
      `bearer${ORDERS_KEY}`,
    ]) {
      await unauthorized(header, /malformed/);
    }
  });

  void test("an unknown key is a 401 with WWW-Authenticate, and the key is not echoed", async () => {
    for (const key of ["wtb-test-wrong-key", `${ORDERS_KEY}x`, ORDERS_KEY.slice(0, -1)]) {
      for (const send of tokenRequests(hb.app, "gh_shop", `Bearer ${key}`)) {
        const res = await send();
        assertError(res, 401, "unauthorized");
        assert.equal(res.headers["www-authenticate"], "Bearer");
        assert.ok(!res.text.includes(key), "the body does not repeat the key");
      }
    }
  });

  void test("the authentication check comes before the account lookup: an unknown account without a key is a 401", async () => {
    assertError(await request(hb.app).get("/api/accounts/gh_nobody/token"), 401, "unauthorized");
  });

  void test("a client key used for an account it does not list is a 403 forbidden at every token operation", async () => {
    for (const accountId of ["gh_hr", "gh_nobody"]) {
      for (const send of tokenRequests(hb.app, accountId, `Bearer ${ORDERS_KEY}`)) {
        const res = await send();
        assertError(res, 403, "forbidden");
        assert.equal(res.headers["www-authenticate"], undefined, "a 403 is not a request for credentials");
        assert.match(res.body.error.message as string, new RegExp(accountId));
        assert.ok(!res.text.includes(ORDERS_KEY));
      }
    }
  });

  void test("a client key gets the tokens of its own account at every token operation", async () => {
    for (const send of tokenRequests(hb.app, "gh_shop", `Bearer ${ORDERS_KEY}`)) {
      const res = documented(await send());
      assert.equal(res.status, 200);
      assert.equal(res.body.accountId, "gh_shop");
    }
  });

  void test("an admin key for every account gets any account's token; an unknown account is then a 404", async () => {
    const hr = documented(await request(hb.app).get("/api/accounts/gh_hr/token").set("Authorization", `Bearer ${ADMIN_KEY}`));
    assert.equal(hr.status, 200);
    assertError(
      await request(hb.app).get("/api/accounts/gh_nobody/token").set("Authorization", `Bearer ${ADMIN_KEY}`),
      404,
      "unknown_account",
    );
  });

  void test("health and metrics need no key", async () => {
    for (const path of ["/api/health", "/api/health/live", "/api/health/ready", "/metrics"]) {
      assert.equal(documented(await request(hb.app).get(path)).status, 200, path);
    }
  });

  void test("refused requests are counted by reason in the metrics", async () => {
    await request(hb.app).get("/api/accounts/gh_shop/token");
    await request(hb.app).get("/api/accounts/gh_hr/token").set("Authorization", `Bearer ${ORDERS_KEY}`);
    const text = documented(await request(hb.app).get("/metrics")).text;
    const count = (reason: string) =>
      Number(new RegExp(`^wtb_auth_failures_total\\{reason="${reason}"\\} (\\d+)`, "m").exec(text)?.[1] ?? NaN);
    assert.ok(count("missing") >= 1, "missing counted");
    assert.ok(count("forbidden") >= 1, "forbidden counted");
  });
});

void describe("without API keys (the broker then listens on loopback only)", () => {
  let hb: HttpBroker;
  before(async () => {
    hb = await httpBroker({ accounts, wechatApiBase: sim.url });
  });
  after(() => hb.close());

  void test("every token operation answers without a key, for every account", async () => {
    for (const accountId of ["gh_shop", "gh_hr"]) {
      for (const send of tokenRequests(hb.app, accountId)) assert.equal(documented(await send()).status, 200);
    }
  });

  void test("an Authorization header is ignored rather than refused", async () => {
    for (const send of tokenRequests(hb.app, "gh_shop", "Bearer whatever")) assert.equal(documented(await send()).status, 200);
  });
});
