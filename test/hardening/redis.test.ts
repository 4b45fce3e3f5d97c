// Redis failing under real `serve` processes: restarted under load, frozen, password-protected (right and wrong),
// over TLS (trusted and untrusted certificate), and every broker restarted while Redis keeps the token.
// Upstream call counts come from the simulator.
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRedis } from "../helpers/redis";
import { silentLogger } from "../../src/logger";
import { createRedisClient, duplicateRedisClient } from "../../src/store/redisClient";
import { RedisTokenStore } from "../../src/store/redisStore";
import { useRedisAndSimulator } from "../helpers/fixtures";
import {
  assertNoSecret,
  keysWithTtl,
  launchRedis,
  runCommand,
  sleep,
  spawnServe,
  startLoad,
  readiness,
  startPolling,
  waitUntil,
  withRedis,
  type Sample,
  type ServeProcess,
} from "./harness";
import { scenario } from "./record";

const APPS = {
  gh_stable: { appId: "wx_hard_redis_s", secret: "AppSecret-redis-S-8d3f1b" },
  gh_classic: { appId: "wx_hard_redis_c", secret: "AppSecret-redis-C-2g6h9k" },
};
const REDIS_PASSWORD = "RedisPass-hard-7Tq2Wz9x";
const SECRETS = [...Object.values(APPS).map((a) => a.secret), REDIS_PASSWORD];
const COMMAND_TIMEOUT_MS = 300;
/** What a request may take beyond one Redis command timeout on this (loaded, 2-core) machine. */
const MARGIN_MS = 700;

const { sim } = useRedisAndSimulator(
  Object.values(APPS).map((a) => ({ appId: a.appId, secret: a.secret })),
  { redis: false },
);
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "wtb-hard-redis-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function brokerEnv(redisUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: redisUrl,
    REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
    REDIS_CONNECT_TIMEOUT_MS: "500",
    LOCAL_CACHE_TTL_MS: "1000",
    WECHAT_API_BASE: sim.url,
    ACCOUNTS: JSON.stringify([
      { id: "gh_stable", appId: APPS.gh_stable.appId, appSecret: APPS.gh_stable.secret },
      { id: "gh_classic", appId: APPS.gh_classic.appId, appSecret: APPS.gh_classic.secret, tokenApi: "classic" },
    ]),
    ...extra,
  };
}

const calls = (id: keyof typeof APPS) => {
  const c = sim.admin.counters(APPS[id].appId).calls;
  return c.stable_token + c.token;
};

async function tokenOf(b: ServeProcess, id: string): Promise<string> {
  const r = await fetch(`${b.url}/api/accounts/${id}/token`);
  const body = (await r.json()) as { accessToken?: string };
  assert.equal(r.status, 200, JSON.stringify(body));
  return body.accessToken!;
}

function summary(samples: Sample[]): string {
  const by = new Map<string, number>();
  for (const s of samples)
    by.set(`${s.phase}:${s.status}${s.code ? `/${s.code}` : ""}`, (by.get(`${s.phase}:${s.status}${s.code ? `/${s.code}` : ""}`) ?? 0) + 1);
  return [...by].map(([k, v]) => `${k}=${v}`).join(" ");
}

scenario(
  "Redis restarted under load (data lost): tokens are served from the local cache throughout, readiness stays 200 (serving_cached while Redis is down), no request outlasts the command timeout, one upstream call per account afterwards",
  {
    class: "Redis faults",
    outcome:
      "2 serve processes, 6 client loops: every request 200 with a valid token; readiness 200 throughout, ready→serving_cached→ready; max latency < REDIS_COMMAND_TIMEOUT_MS + 700 ms; exactly 1 upstream call per account after Redis returns empty",
    timeout: 60_000,
  },
  async (run) => {
    const redis = await startRedis();
    const brokers = await Promise.all([spawnServe(brokerEnv(redis.url)), spawnServe(brokerEnv(redis.url))]);
    try {
      for (const b of brokers) for (const id of Object.keys(APPS)) await tokenOf(b, id);
      let phase = "before";
      const urls = brokers.flatMap((b) => Object.keys(APPS).map((id) => `${b.url}/api/accounts/${id}/token`));
      const load = startLoad(urls, { workers: 6, timeoutMs: 5000, phase: () => phase, pauseMs: 5 });
      const ready = brokers.map((b) => startPolling(`${b.url}/api/health/ready`, 100, () => phase));
      await sleep(800);
      const before = { gh_stable: calls("gh_stable"), gh_classic: calls("gh_classic") };
      phase = "down";
      await redis.stop();
      await sleep(3000);
      phase = "back";
      await redis.start();
      for (const b of brokers) await waitUntil("readiness is back", async () => (await readiness(b.url)) === "ready", 10_000);
      // Past the local cache TTL, every broker has gone back to Redis (found it empty) and refreshed.
      await sleep(2500);
      phase = "settled";
      await sleep(500);
      const samples = await load.stop();
      const polled = await Promise.all(ready.map((r) => r.stop()));

      const failed = samples.filter((s) => s.status !== 200);
      assert.deepEqual(failed.slice(0, 5), [], `every request is answered with a token (${summary(samples)})`);
      const slowest = Math.max(...samples.map((s) => s.ms));
      run.t.diagnostic(`${samples.length} requests, slowest ${Math.round(slowest)} ms (${summary(samples)})`);
      assert.ok(slowest < COMMAND_TIMEOUT_MS + MARGIN_MS, `slowest request ${Math.round(slowest)} ms`);
      for (const s of samples) assert.equal(sim.admin.checkToken(s.token!).valid, true, `a served token is valid at WeChat (${s.phase})`);
      assert.ok(samples.filter((s) => s.phase === "down").length > 50, `load kept going while Redis was down (${summary(samples)})`);
      // A shared Redis down takes no replica out of the load balancer while it serves from memory.
      for (const r of polled) {
        const codes = new Set(r.map(([, code]) => code));
        const said = (p: string) => new Set(r.filter(([ph]) => ph === p).map(([, , st]) => st));
        assert.deepEqual(codes, new Set([200]), "readiness 200 throughout");
        assert.deepEqual(said("before"), new Set(["ready"]), "ready before");
        assert.ok(said("down").has("serving_cached"), `serving_cached while Redis is down: ${JSON.stringify([...said("down")])}`);
        assert.deepEqual(said("settled"), new Set(["ready"]), "ready again");
      }
      for (const id of Object.keys(APPS) as Array<keyof typeof APPS>) {
        assert.equal(calls(id) - before[id], 1, `${id}: one upstream call after Redis came back empty, across both brokers`);
      }
      // Both brokers now agree with Redis.
      await withRedis(redis.url, async (r) => {
        for (const id of Object.keys(APPS)) {
          const stored = await r.hget(`wtb:{acct:${id}}:token`, "accessToken");
          for (const b of brokers) assert.equal(await tokenOf(b, id), stored, `${id}: served = stored`);
        }
        assert.deepEqual(await keysWithTtl(r, "wtb:*:lock"), [], "no lock left");
      });
      run.cases(6);
    } finally {
      const codes = await Promise.all(brokers.map((b) => b.stop()));
      await redis.close();
      assert.deepEqual(codes, [0, 0]);
      for (const b of brokers) assertNoSecret(b.output(), SECRETS, "serve output");
    }
  },
);

scenario(
  "while Redis is down (connection refused), a token still cached is served at once: callers do not wait for the Redis command timeout",
  {
    class: "Redis faults",
    outcome:
      "2 client loops, the connection lost and the local cache past its TTL: every request 200 from the cached token, 90% of them within 100 ms (not REDIS_COMMAND_TIMEOUT_MS)",
    timeout: 40_000,
  },
  async (run) => {
    const redis = await startRedis();
    const b = await spawnServe(brokerEnv(redis.url, { REDIS_COMMAND_TIMEOUT_MS: "1000", LOCAL_CACHE_TTL_MS: "200" }));
    try {
      await tokenOf(b, "gh_stable");
      await redis.stop();
      await sleep(700);
      const load = startLoad([`${b.url}/api/accounts/gh_stable/token`], { workers: 2, timeoutMs: 5000, phase: () => "down", pauseMs: 20 });
      await sleep(2500);
      const samples = await load.stop();
      const ms = samples.map((s) => s.ms).sort((x, y) => x - y);
      const p90 = ms[Math.floor(ms.length * 0.9)]!;
      run.t.diagnostic(
        `${samples.length} requests while Redis was down, p90 ${Math.round(p90)} ms, slowest ${Math.round(ms[ms.length - 1]!)} ms`,
      );
      assert.deepEqual(samples.filter((s) => s.status !== 200).slice(0, 3), [], summary(samples));
      assert.ok(p90 < 100, `90% of the requests took up to ${Math.round(p90)} ms while a valid token was cached`);
      run.cases(2);
    } finally {
      assert.equal(await b.stop(), 0);
      await redis.close();
    }
  },
);

scenario(
  "a frozen Redis (SIGSTOP, connections open but silent) under load: requests are still answered within the command timeout",
  {
    class: "Redis faults",
    outcome:
      "4 client loops: served from the local cache (stale) with 200; no request longer than REDIS_COMMAND_TIMEOUT_MS + 700 ms; readiness serving_cached while frozen, ready after SIGCONT",
    timeout: 40_000,
  },
  async (run) => {
    const redis = await launchRedis({ dir: mkdtempSync(join(dir, "frozen-")) });
    const url = `redis://127.0.0.1:${redis.port}`;
    const b = await spawnServe(brokerEnv(url));
    try {
      for (const id of Object.keys(APPS)) await tokenOf(b, id);
      let phase = "before";
      const load = startLoad(
        Object.keys(APPS).map((id) => `${b.url}/api/accounts/${id}/token`),
        { workers: 4, timeoutMs: 5000, phase: () => phase, pauseMs: 5 },
      );
      const ready = startPolling(`${b.url}/api/health/ready`, 100, () => phase);
      await sleep(500);
      phase = "frozen";
      redis.proc().kill("SIGSTOP");
      await sleep(2500);
      phase = "thawed";
      redis.proc().kill("SIGCONT");
      await waitUntil("readiness is back", async () => (await readiness(b.url)) === "ready", 10_000);
      await sleep(300);
      const samples = await load.stop();
      const polled = await ready.stop();
      assert.deepEqual(samples.filter((s) => s.status !== 200).slice(0, 5), [], summary(samples));
      const slowest = Math.max(...samples.map((s) => s.ms));
      run.t.diagnostic(`${samples.length} requests, slowest ${Math.round(slowest)} ms (${summary(samples)})`);
      assert.ok(slowest < COMMAND_TIMEOUT_MS + MARGIN_MS, `slowest request ${Math.round(slowest)} ms (${summary(samples)})`);
      assert.ok(samples.filter((s) => s.phase === "frozen").length > 20, summary(samples));
      assert.ok(
        polled.some(([p, code, said]) => p === "frozen" && code === 200 && said === "serving_cached"),
        `readiness while frozen: ${JSON.stringify(polled)}`,
      );
      const slowReady = polled.filter(([p, code]) => p === "frozen" && code === 200);
      assert.ok(slowReady.length > 3, "readiness kept answering while Redis was frozen");
      run.cases(4);
    } finally {
      assert.equal(await b.stop(), 0);
      await redis.close();
      assertNoSecret(b.output(), SECRETS, "serve output");
    }
  },
);

scenario(
  "after every broker is restarted, the token persisted in Redis is served without an upstream call",
  {
    class: "Redis faults",
    outcome: "2 serve processes stopped and 2 new ones started: same tokens, 0 upstream calls, no lock left",
    timeout: 40_000,
  },
  async (run) => {
    const redis = await startRedis();
    try {
      const first = await Promise.all([spawnServe(brokerEnv(redis.url)), spawnServe(brokerEnv(redis.url))]);
      const tokens: Record<string, string> = {};
      for (const id of Object.keys(APPS)) tokens[id] = await tokenOf(first[0]!, id);
      assert.deepEqual(await Promise.all(first.map((b) => b.stop())), [0, 0]);
      const before = { gh_stable: calls("gh_stable"), gh_classic: calls("gh_classic") };
      const second = await Promise.all([spawnServe(brokerEnv(redis.url)), spawnServe(brokerEnv(redis.url))]);
      try {
        for (const b of second)
          for (const id of Object.keys(APPS)) assert.equal(await tokenOf(b, id), tokens[id], `${id} survives the restart`);
        // The schedulers' first look at start-up happens within a second or two; give it time to (not) call.
        await sleep(2500);
        for (const id of Object.keys(APPS) as Array<keyof typeof APPS>) assert.equal(calls(id), before[id], `${id}: no upstream call`);
        await withRedis(redis.url, async (r) => assert.deepEqual(await keysWithTtl(r, "wtb:*:lock"), []));
      } finally {
        assert.deepEqual(await Promise.all(second.map((b) => b.stop())), [0, 0]);
      }
      run.cases(4);
    } finally {
      await redis.close();
    }
  },
);

scenario(
  "Redis with requirepass: the right password (REDIS_PASSWORD) works, a wrong one is a clear failure that never prints the password",
  {
    class: "Redis faults",
    outcome:
      "right password: ready, token stored; wrong password: readiness 503, token 503 store_unavailable naming WRONGPASS, log says WRONGPASS, password never printed",
    timeout: 40_000,
  },
  async (run) => {
    const redis = await startRedis({ password: REDIS_PASSWORD });
    const plainUrl = `redis://127.0.0.1:${redis.port}`;
    try {
      const good = await spawnServe(brokerEnv(plainUrl, { REDIS_PASSWORD }));
      try {
        const token = await tokenOf(good, "gh_stable");
        await withRedis(redis.url, async (r) => assert.equal(await r.hget("wtb:{acct:gh_stable}:token", "accessToken"), token));
      } finally {
        assert.equal(await good.stop(), 0);
      }
      const bad = await spawnServe(brokerEnv(plainUrl, { REDIS_PASSWORD: `${REDIS_PASSWORD}-wrong`, LOCAL_CACHE_TTL_MS: "0" }), {
        wait: "up",
      });
      try {
        await waitUntil("the connection error is logged", () => /WRONGPASS/.test(bad.output()), 5000);
        const ready = await fetch(`${bad.url}/api/health/ready`);
        assert.equal(ready.status, 503);
        const res = await fetch(`${bad.url}/api/accounts/gh_stable/token`);
        const body = (await res.json()) as { error: { code: string; message: string } };
        assert.equal(res.status, 503);
        assert.equal(body.error.code, "store_unavailable");
        assert.match(body.error.message, /WRONGPASS/, "the answer names the problem");
      } finally {
        assert.equal(await bad.stop(), 0);
      }
      for (const out of [good.output(), bad.output()]) assertNoSecret(out, [...SECRETS, `${REDIS_PASSWORD}-wrong`], "serve output");
      run.cases(2);
    } finally {
      await redis.close();
    }
  },
);

scenario(
  "a store closed while its Redis TLS handshake is failing (untrusted certificate) leaves nothing behind: a late TLS alert would end the process, so a clean SIGTERM exited 1",
  {
    class: "Redis faults",
    outcome:
      "30 stores opened against a TLS Redis whose certificate they do not trust and closed 0–40 ms later, mid-handshake: no uncaught error",
    timeout: 40_000,
  },
  async (run) => {
    const at = mkdtempSync(join(dir, "tls-close-"));
    const certs = await makeCertificates(at);
    if (typeof certs === "string") run.skip(certs);
    let redis;
    try {
      redis = await launchRedis({ dir: at, tls: certs as { ca: string; cert: string; key: string } });
    } catch {
      run.skip("the installed redis-server does not start with --tls-port: built without TLS");
    }
    // With no listener, an 'error' on a socket ends the process; collect instead, and fail the test.
    const uncaught: string[] = [];
    const onUncaught = (err: Error) => void uncaught.push(`${err.name}: ${err.message}`);
    process.on("uncaughtException", onUncaught);
    try {
      for (let i = 0; i < 30; i++) {
        const logger = silentLogger();
        const client = createRedisClient(
          { url: `rediss://127.0.0.1:${redis!.port}`, commandTimeoutMs: 300, connectTimeoutMs: 1000, tls: true },
          logger,
        );
        const store = new RedisTokenStore({
          redis: client,
          subscriber: duplicateRedisClient(client, logger),
          keyPrefix: "tls-close:",
          logger,
        });
        await sleep(Math.floor(Math.random() * 40));
        await store.close();
      }
      await sleep(500);
      assert.deepEqual(uncaught, []);
      run.cases(30);
    } finally {
      process.off("uncaughtException", onUncaught);
      await redis!.close();
    }
  },
);

async function makeCertificates(at: string): Promise<{ ca: string; cert: string; key: string } | string> {
  const ossl = (...args: string[]) => runCommand("openssl", args);
  const steps = [
    await ossl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      join(at, "ca.key"),
      "-out",
      join(at, "ca.pem"),
      "-days",
      "2",
      "-subj",
      "/CN=wtb hardening test CA",
    ),
    await ossl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      join(at, "server.key"),
      "-out",
      join(at, "server.csr"),
      "-subj",
      "/CN=127.0.0.1",
    ),
  ];
  writeFileSync(join(at, "ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  steps.push(
    await ossl(
      "x509",
      "-req",
      "-in",
      join(at, "server.csr"),
      "-CA",
      join(at, "ca.pem"),
      "-CAkey",
      join(at, "ca.key"),
      "-CAcreateserial",
      "-out",
      join(at, "server.pem"),
      "-days",
      "2",
      "-extfile",
      join(at, "ext.cnf"),
    ),
  );
  const failed = steps.find((s) => s.code !== 0);
  if (failed) return `openssl failed: ${failed.output.slice(0, 200)}`;
  return { ca: join(at, "ca.pem"), cert: join(at, "server.pem"), key: join(at, "server.key") };
}

scenario(
  "Redis over TLS (rediss://): a trusted certificate works; an untrusted one is a clear failure naming the certificate problem",
  {
    class: "Redis faults",
    outcome:
      "trusted CA (NODE_EXTRA_CA_CERTS): ready, token stored over TLS; untrusted: readiness 503, token 503 naming the certificate error",
    timeout: 40_000,
  },
  async (run) => {
    const version = await runCommand("redis-server", ["--version"]);
    if (version.code !== 0) run.skip("redis-server is not installed");
    const at = mkdtempSync(join(dir, "tls-"));
    const certs = await makeCertificates(at);
    if (typeof certs === "string") run.skip(certs);
    const c = certs as { ca: string; cert: string; key: string };
    let redis;
    try {
      redis = await launchRedis({ dir: at, tls: c });
    } catch {
      // A build without TLS rejects --tls-port ("Bad directive") and exits at once.
      run.skip(
        `the installed redis-server (${version.output.trim().split(" ").slice(0, 3).join(" ")}) does not start with --tls-port: built without TLS`,
      );
    }
    const url = `rediss://127.0.0.1:${redis!.port}`;
    try {
      const trusted = await spawnServe(brokerEnv(url, { NODE_EXTRA_CA_CERTS: c.ca }));
      try {
        const token = await tokenOf(trusted, "gh_stable");
        await withRedis(url, async (r) => assert.equal(await r.hget("wtb:{acct:gh_stable}:token", "accessToken"), token), {
          tls: { ca: readFileSync(c.ca) },
        });
      } finally {
        assert.equal(await trusted.stop(), 0);
      }
      const untrusted = await spawnServe(brokerEnv(url, { LOCAL_CACHE_TTL_MS: "0" }), { wait: "up" });
      try {
        await waitUntil("the certificate error is logged", () => /certificate/i.test(untrusted.output()), 5000);
        assert.equal((await fetch(`${untrusted.url}/api/health/ready`)).status, 503);
        const res = await fetch(`${untrusted.url}/api/accounts/gh_stable/token`);
        const body = (await res.json()) as { error: { code: string; message: string } };
        assert.equal(res.status, 503);
        assert.equal(body.error.code, "store_unavailable");
        assert.match(body.error.message, /certificate/i, `the answer names the certificate problem: ${body.error.message}`);
      } finally {
        const code = await untrusted.stop();
        assert.equal(code, 0, `serve exited ${code} on SIGTERM; its output ends:\n${untrusted.output().slice(-3000)}`);
      }
      run.cases(2);
    } finally {
      await redis!.close();
    }
  },
);
