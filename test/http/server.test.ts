// The broker as `serve` runs it (config from the environment, src/server.ts wiring, a real listening socket, its
// own redis-server, the simulator over HTTP): /metrics counts what the broker does, and no answer or log line ever
// carries a secret, nor a token outside the token endpoints' bodies.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import request from "supertest";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/logger";
import { startBroker, type RunningBroker } from "../../src/server";
import { startSimulator } from "../../src/simulator/server";
import type { RunningSimulator } from "../../src/simulator/types";
import { freePort } from "../helpers/ports";
import { startRedis, type TestRedis } from "../helpers/redis";
import { spec } from "../helpers/openapi";
import { assertError, documented } from "./support";
import { rogueClassicFetch } from "../helpers/rogue";

const SECRETS = { ok: "srv-ok-secret-5d1e9a77", classic: "srv-classic-secret-0b3c44", ip: "srv-ip-secret-8f2a61" };
const CLIENT_KEY = "wtb-srv-client-key-6a9d2b7e";
const ADMIN_KEY = "wtb-srv-admin-key-1c4f8e0a";
const CALLER_IP = "1.92.157.200";

let redis: TestRedis;
let sim: RunningSimulator;
let broker: RunningBroker;
const logLines: string[] = [];

before(async () => {
  redis = await startRedis();
  sim = await startSimulator({
    apps: [
      { appId: "wx_srv_ok", secret: SECRETS.ok },
      { appId: "wx_srv_classic", secret: SECRETS.classic },
      { appId: "wx_srv_ip", secret: SECRETS.ip, ipWhitelist: ["198.51.100.7"], callerIp: CALLER_IP },
    ],
  });
  const env = {
    PORT: String(await freePort()),
    HOST: "127.0.0.1",
    LOG_LEVEL: "debug",
    REDIS_URL: redis.url,
    KEY_PREFIX: `srv-${process.pid}:`,
    WECHAT_API_BASE: sim.url,
    WECOM_API_BASE: sim.wecomUrl,
    ACCOUNTS: JSON.stringify([
      { id: "gh_ok", appId: "wx_srv_ok", appSecret: SECRETS.ok },
      { id: "gh_classic", appId: "wx_srv_classic", appSecret: SECRETS.classic, tokenApi: "classic" },
      { id: "gh_ip", appId: "wx_srv_ip", appSecret: SECRETS.ip },
    ]),
    API_KEYS: JSON.stringify([
      { name: "svc", key: CLIENT_KEY, role: "client", accounts: ["gh_ok", "gh_classic", "gh_ip"] },
      { name: "ops", key: ADMIN_KEY, role: "admin" },
    ]),
  };
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      cb();
    },
  });
  broker = await startBroker(loadConfig(env), createLogger({ level: "debug", destination }));
});
after(async () => {
  await broker.close();
  await sim.close();
  await redis.close();
});

const client = (t: request.Test) => t.set("Authorization", `Bearer ${CLIENT_KEY}`);
const admin = (t: request.Test) => t.set("Authorization", `Bearer ${ADMIN_KEY}`);

void describe("the served broker's /metrics", () => {
  void test("is Prometheus text with wtb_token_requests_total, and counts token requests by result", async () => {
    const count = (text: string, result: string) =>
      Number(new RegExp(`^wtb_token_requests_total\\{result="${result}"\\} (\\d+)$`, "m").exec(text)?.[1]);
    const first = documented(await request(broker.url).get("/metrics"));
    assert.equal(first.status, 200);
    assert.match(first.headers["content-type"] ?? "", /^text\/plain; version=0\.0\.4/);
    assert.match(first.text, /^# TYPE wtb_token_requests_total counter$/m);
    const served = (t: string) => count(t, "hit") + count(t, "miss") + count(t, "stale");
    const before = served(first.text);
    assert.ok(Number.isFinite(before), "hit, miss and stale are exported from the start");

    assert.equal(documented(await client(request(broker.url).get("/api/accounts/gh_ok/token"))).status, 200);
    assert.equal(documented(await client(request(broker.url).get("/api/token?accountId=gh_ok"))).status, 200);
    const text = documented(await request(broker.url).get("/metrics")).text;
    assert.equal(served(text), before + 2);
    assert.match(text, /^wtb_upstream_requests_total\{endpoint="stable_token",errcode="0",errclass="ok"\} \d+$/m);
  });
});

void describe("secrets in the served broker's answers and logs", () => {
  void test("no answer but the token endpoints' carries a token, and nothing anywhere carries an AppSecret or API key", async () => {
    const answers: request.Response[] = [];
    const send = async (t: request.Test) => {
      const res = await t;
      answers.push(res);
      return res;
    };

    // Tokens, including one replaced by an invalidation, so both the old and the new one are known.
    const ok = await send(client(request(broker.url).get("/api/accounts/gh_ok/token")));
    const classic1 = await send(client(request(broker.url).get("/api/token?accountId=gh_classic")));
    await rogueClassicFetch(sim.url, "wx_srv_classic", SECRETS.classic);
    const classic2 = await send(
      client(
        request(broker.url)
          .post("/api/accounts/gh_classic/token/invalidate")
          .send({ accessToken: classic1.body.accessToken, errcode: 40001 }),
      ),
    );
    await send(
      client(
        request(broker.url)
          .post("/api/accounts/gh_classic/token/invalidate")
          .send({ accessToken: classic1.body.accessToken, errcode: 40001 }),
      ),
    );
    const tokens = [ok, classic1, classic2].map((r) => {
      assert.equal(r.status, 200, r.text);
      return r.body.accessToken as string;
    });
    assert.equal(new Set(tokens).size, 3, "the invalidation replaced the classic token");

    // Every kind of refusal and every other endpoint, some more than once.
    const ip = await send(client(request(broker.url).get("/api/accounts/gh_ip/token")));
    assertError(ip, 503, "upstream_error");
    await send(client(request(broker.url).post("/api/accounts/gh_ip/token/invalidate").send({ accessToken: tokens[0] })));
    await send(request(broker.url).get("/api/accounts/gh_ok/token"));
    await send(request(broker.url).get("/api/accounts/gh_ok/token").set("Authorization", `Bearer ${CLIENT_KEY}x`));
    await send(request(broker.url).get("/api/accounts/gh_ok/token").set("Authorization", `Basic ${CLIENT_KEY}`));
    await send(client(request(broker.url).get("/api/accounts/gh_nobody/token")));
    await send(client(request(broker.url).get("/api/accounts/a%20b/token")));
    await send(client(request(broker.url).post("/api/accounts/gh_ok/token/invalidate").send({ accessToken: 5 })));
    await send(
      client(request(broker.url).post("/api/accounts/gh_ok/token/invalidate").set("Content-Type", "application/json").send("{bad")),
    );
    await send(client(request(broker.url).post("/api/accounts/gh_ok/token/invalidate").set("Content-Type", "text/plain").send(tokens[0]!)));
    await send(
      client(
        request(broker.url)
          .post("/api/accounts/gh_ok/token/invalidate")
          .send({ accessToken: "x".repeat(20_000) }),
      ),
    );
    await send(request(broker.url).get("/api/nope"));
    for (const path of ["/api/health", "/api/health/live", "/api/health/ready", "/metrics"]) await send(request(broker.url).get(path));
    // Operations endpoints, whatever this build mounts of them: their answers must not leak either.
    await send(admin(request(broker.url).post("/api/accounts/gh_ok/sync").send({})));
    await send(admin(request(broker.url).post("/official-api/wechat/sync").send({ accountId: "gh_classic" })));
    await send(admin(request(broker.url).get("/api/diagnosis?probe=true&format=json")));
    await send(admin(request(broker.url).get("/quick_diagnosis?probe=true")));
    await send(admin(request(broker.url).get("/api/locks")));
    await send(admin(request(broker.url).post("/api/locks/cleanup").send({ dryRun: true })));

    const tokenOperations = new Set(["getAccountToken", "getToken", "invalidateToken"]);
    const never = [...Object.values(SECRETS), CLIENT_KEY, ADMIN_KEY];
    for (const res of answers) {
      const where = `${res.request.method} ${res.request.url} → ${res.status}`;
      const everything = `${JSON.stringify(res.headers)}\n${res.text ?? ""}`;
      for (const secret of never) assert.ok(!everything.includes(secret), `${where} carries a secret or key`);
      const op = spec().findOperation(res.request.method, new URL(res.request.url).pathname)?.operationId;
      const tokenBody = op !== undefined && tokenOperations.has(op) && res.status === 200;
      for (const token of tokens) {
        assert.ok(!JSON.stringify(res.headers).includes(token), `${where} carries a token in a header`);
        if (!tokenBody) assert.ok(!(res.text ?? "").includes(token), `${where} carries a token in its body`);
      }
    }

    assert.ok(logLines.length > 10, "the broker logged at debug level");
    for (const line of logLines) {
      for (const secret of never) assert.ok(!line.includes(secret), `a log line carries a secret or key: ${line.slice(0, 300)}`);
      for (const token of tokens) assert.ok(!line.includes(token), `a log line carries a token: ${line.slice(0, 300)}`);
    }
  });
});
