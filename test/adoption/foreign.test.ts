// Foreign-fetch detection (issue 13): a "rogue" client that fetches tokens for the AppID straight from WeChat kills
// the broker's token. Within one probe interval the broker notices, replaces its token, counts it
// (wtb_foreign_rotations_total), names the problem in the diagnosis with a bilingual fix, and a real Prometheus
// loaded with ops/prometheus/alerts.yml fires WtbForeignTokenFetcher.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import request from "supertest";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { freePort } from "../helpers/ports";
import { waitUntil } from "../helpers/wait";
import { serveBroker, sample, type ServedBroker } from "./support";

const SECRET = "fr-classic-secret-6e1b8d27";
const PROBE_SEC = 2;
// WeChat keeps a replaced classic token 300 s; 1 s here, so the rogue's fetch kills the broker's token at once.
const { redis, sim } = useRedisAndSimulator([{ appId: "wx_fr_classic", secret: SECRET, overlapSec: 1 }]);

let b: ServedBroker;
let prom: ChildProcess | undefined;
let promUrl = "";
let promDir = "";

void describe("detection of services that fetch their own tokens", () => {
  before(async () => {
    b = await serveBroker({
      REDIS_URL: redis.url,
      KEY_PREFIX: `fr-${process.pid}:`,
      WECHAT_API_BASE: sim.url,
      WECOM_API_BASE: sim.wecomUrl,
      FOREIGN_PROBE_INTERVAL_SEC: String(PROBE_SEC),
      ACCOUNTS: JSON.stringify([{ id: "gh_shop", appId: "wx_fr_classic", appSecret: SECRET, tokenApi: "classic" }]),
    });
    // A real Prometheus scraping the broker every second with the project's alert rules.
    promDir = mkdtempSync(join(tmpdir(), "wtb-prom-"));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    writeFileSync(
      join(promDir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "rule_files:",
        `  - ${resolve("ops/prometheus/alerts.yml")}`,
        "scrape_configs:",
        "  - job_name: wechat-token-broker",
        "    static_configs:",
        `      - targets: ["${new URL(b.url).host}"]`,
        "",
      ].join("\n"),
    );
    prom = spawn(
      "prometheus",
      [
        `--config.file=${join(promDir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(promDir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: "ignore" },
    );
    prom.on("error", () => undefined);
  });
  after(async () => {
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom!.once("exit", r));
      prom.kill("SIGTERM");
      await exited;
    }
    if (promDir) rmSync(promDir, { recursive: true, force: true });
    await b.close();
  });

  const promQuery = async (q: string) => {
    const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => null);
    if (!r?.ok) return [];
    return ((await r.json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }).data.result;
  };

  void test("a rogue direct fetch is noticed by the probe, replaced, counted, diagnosed and alerted on", { timeout: 90_000 }, async (t) => {
    const held = (await request(b.url).get("/api/accounts/gh_shop/token")).body.accessToken as string;
    assert.ok(held);
    const quiet = (await request(b.url).get("/api/diagnosis?format=text")).text;
    assert.doesNotMatch(quiet, /Other token fetchers/, "no ✗ line before anything happened");
    await waitUntil(
      "Prometheus has scraped the broker's zero foreign rotations",
      async () => (await promQuery('wtb_foreign_rotations_total{account="gh_shop",via="probe"}')).length === 1,
      30_000,
      250,
    );

    // The rogue: a service that still has the AppSecret and calls WeChat itself.
    const rogue = await fetch(`${sim.url}/cgi-bin/token?grant_type=client_credential&appid=wx_fr_classic&secret=${SECRET}`);
    assert.ok(((await rogue.json()) as { access_token?: string }).access_token);
    const t0 = Date.now();
    await waitUntil(
      "the broker's token test notices the dead token",
      async () =>
        sample((await request(b.url).get("/metrics")).text, "wtb_foreign_rotations_total", { account: "gh_shop", via: "probe" }) === 1,
      (PROBE_SEC + 1) * 1000 + 5_000,
      100,
    );
    // One probe interval after the token died (WeChat's 1 s overlap here), plus slack for a loaded machine.
    const noticedMs = Date.now() - t0;
    assert.ok(noticedMs <= (PROBE_SEC + 1) * 1000 + 4_000, `noticed within one probe interval and the overlap (${noticedMs} ms)`);
    t.diagnostic(`the rogue fetch was noticed after ${noticedMs} ms (probe interval ${PROBE_SEC} s, overlap 1 s)`);

    // The rotation is counted when the probe finds the token dead, before the new one is fetched and written.
    const current = async () => (await request(b.url).get("/api/accounts/gh_shop/token")).body.accessToken as string;
    await waitUntil("the broker replaced its token", async () => (await current()) !== held, 5_000, 50);
    const now = await current();
    assert.notEqual(now, held, "the broker replaced its token");
    assert.equal(sim.admin.checkToken(now).valid, true);

    const diag = await request(b.url).get("/api/diagnosis?format=text");
    assert.equal(diag.status, 503, "a foreign fetcher makes the diagnosis fail");
    assert.match(diag.text, /✗ .*Other token fetchers/);
    assert.match(diag.text, /another system fetches tokens for this AppID/);
    // One language per report: the same line in Chinese on request.
    const zh = await request(b.url).get("/api/diagnosis?format=text&lang=zh");
    assert.match(zh.text.replace(/\s+/g, ""), /另有系统在为该AppID获取token/);
    assert.match(diag.text, /Adopting the broker without code changes/);
    const json = (await request(b.url).get("/api/diagnosis")).body as {
      checks: Array<{ id: string; status: string; accountId?: string; data?: { via?: string } }>;
    };
    const line = json.checks.find((c) => c.id === "foreign");
    assert.deepEqual([line?.accountId, line?.status, line?.data?.via], ["gh_shop", "fail", "probe"]);

    await waitUntil(
      "Prometheus fires WtbForeignTokenFetcher",
      async () => {
        const r = await fetch(`${promUrl}/api/v1/alerts`).catch(() => null);
        if (!r?.ok) return false;
        const alerts = ((await r.json()) as { data: { alerts: Array<{ labels: Record<string, string>; state: string }> } }).data.alerts;
        return alerts.some(
          (a) => a.labels.alertname === "WtbForeignTokenFetcher" && a.labels.account === "gh_shop" && a.state === "firing",
        );
      },
      30_000,
      250,
    );
    t.diagnostic(`WtbForeignTokenFetcher firing ${Date.now() - t0} ms after the rogue fetch`);
  });

  void test("the broker's own rotations are not taken for foreign ones", async () => {
    const before = sample((await request(b.url).get("/metrics")).text, "wtb_foreign_rotations_total", {
      account: "gh_shop",
      via: "report",
    });
    const t = (await request(b.url).get("/api/accounts/gh_shop/token")).body.accessToken as string;
    // A caller's report (no WeChat answer attached) makes a classic refresh: the broker's own rotation.
    await request(b.url).post("/api/accounts/gh_shop/token/invalidate").send({ accessToken: t });
    const m = (await request(b.url).get("/metrics")).text;
    assert.equal(sample(m, "wtb_foreign_rotations_total", { account: "gh_shop", via: "report" }), before);
  });
});
