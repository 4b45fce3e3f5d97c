// Sync over HTTP at both URLs (the broker's own and the one the operators' runbook calls), validated against
// openapi.yaml: refresh when needed, force for admins only, the force budget, and the classified errors.
import { after, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import { account } from "../helpers/brokers";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { assertError, documented, httpBroker, type HttpBroker, type TestKey } from "./support";

const { redis, sim } = useRedisAndSimulator(
  [
    { appId: "wx_sync", secret: "sync-secret" },
    { appId: "wx_sync_wl", secret: "sync-wl", ipWhitelist: ["10.0.0.1"], callerIp: "1.92.157.200" },
  ],
  { resetEachTest: true },
);
let hb: HttpBroker;
const ADMIN: TestKey = { name: "ops", key: "admin-key-0123456789abcdef", role: "admin", accounts: "*" };
const CLIENT: TestKey = { name: "wechat-api", key: "client-key-0123456789abcdef", role: "client", accounts: ["gh_sync"] };
const bearer = (k: TestKey) => `Bearer ${k.key}`;

beforeEach(async () => {
  await hb?.close();
  hb = await httpBroker({
    accounts: [account("gh_sync", "wx_sync", "sync-secret"), account("gh_wl", "wx_sync_wl", "sync-wl")],
    wechatApiBase: sim.url,
    redisUrl: redis.url,
    keys: [ADMIN, CLIENT],
  });
});
after(async () => hb?.close());

test("the runbook's sync call refreshes a missing token, then reports it up to date without calling WeChat", async () => {
  const first = documented(
    await request(hb.app)
      .post("/official-api/wechat/sync")
      .set("Authorization", bearer(CLIENT))
      .set("Content-Type", "application/json")
      .send({ accountId: "gh_sync", force: false }),
  );
  assert.equal(first.status, 200);
  assert.equal(first.body.refreshed, true);
  assert.equal(first.body.accountId, "gh_sync");
  assert.equal(first.body.accessToken, undefined, "sync never returns the token");
  const second = documented(await request(hb.app).post("/api/accounts/gh_sync/sync").set("Authorization", bearer(CLIENT)).send({}));
  assert.equal(second.status, 200);
  assert.equal(second.body.refreshed, false);
  assert.equal(sim.admin.counters("wx_sync").calls.stable_token, 1);
});

test("force is refused for a client key, spends nothing, and works for an admin within the budget", async () => {
  await request(hb.app).post("/api/accounts/gh_sync/sync").set("Authorization", bearer(ADMIN)).send({});
  const refused = await request(hb.app).post("/api/accounts/gh_sync/sync").set("Authorization", bearer(CLIENT)).send({ force: true });
  assertError(refused, 403, "forbidden");
  assert.equal(sim.admin.counters("wx_sync").forceRefreshes, 0);

  const forced = documented(
    await request(hb.app).post("/official-api/wechat/sync").set("Authorization", bearer(ADMIN)).send({ accountId: "gh_sync", force: true }),
  );
  assert.equal(forced.status, 200);
  assert.equal(forced.body.refreshed, true);
  assert.equal(sim.admin.counters("wx_sync").forceRefreshes, 1, "counted against the budget");

  const tooSoon = await request(hb.app)
    .post("/official-api/wechat/sync")
    .set("Authorization", bearer(ADMIN))
    .send({ accountId: "gh_sync", force: true });
  assertError(tooSoon, 429, "force_budget_exhausted");
  assert.ok(Number(tooSoon.headers["retry-after"]) > 0);
  assert.equal(sim.admin.counters("wx_sync").forceRefreshes, 1);
});

test("a sync of a non-whitelisted account answers 503 with the errcode, the IP and both hints", async () => {
  const r = await request(hb.app).post("/official-api/wechat/sync").set("Authorization", bearer(ADMIN)).send({ accountId: "gh_wl" });
  assertError(r, 503, "upstream_error");
  assert.equal(r.body.error.errcode, 40164);
  assert.equal(r.body.error.ip, "1.92.157.200");
  assert.match(r.body.error.hintZh, /白名单/);
});

test("bad sync requests are the caller's mistake: 400 for a missing or invalid accountId or force, 401 without a key, 404 for an unknown account", async () => {
  assertError(
    await request(hb.app).post("/official-api/wechat/sync").set("Authorization", bearer(ADMIN)).send({}),
    400,
    "missing_account_id",
  );
  assertError(
    await request(hb.app).post("/official-api/wechat/sync").set("Authorization", bearer(ADMIN)).send({ accountId: "../x" }),
    400,
    "invalid_account_id",
  );
  assertError(
    await request(hb.app)
      .post("/official-api/wechat/sync")
      .set("Authorization", bearer(ADMIN))
      .send({ accountId: "gh_sync", force: "yes" }),
    400,
    "invalid_field",
  );
  assertError(await request(hb.app).post("/official-api/wechat/sync").send({ accountId: "gh_sync" }), 401, "unauthorized");
  assertError(
    await request(hb.app).post("/official-api/wechat/sync").set("Authorization", bearer(ADMIN)).send({ accountId: "gh_nope" }),
    404,
    "unknown_account",
  );
  assertError(
    await request(hb.app)
      .post("/official-api/wechat/sync")
      .set("Authorization", bearer(ADMIN))
      .set("Content-Type", "text/plain")
      .send("accountId=gh_sync"),
    415,
    "unsupported_media_type",
  );
});
