// The Grafana dashboard (ops/grafana/wechat-token-broker.json) against the real thing: a `serve` process on Redis and
// the simulator, scraped by a real Prometheus server, and every panel's PromQL run through Prometheus' query API.
// A query error fails; so does an empty answer from a main panel. The Prometheus server comes from the apt package
// `prometheus` (beside promtool; scripts/ensure-test-tools.sh installs it).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRedis, type TestRedis } from "../helpers/redis";
import { spawnServe, waitForHttp, type ServeProcess } from "../helpers/processes";
import { freePort } from "../helpers/ports";
import { sleep, waitUntil } from "../helpers/wait";
import { rogueClassicFetch } from "../helpers/rogue";
import { startSimulator } from "../../src/simulator/server";
import type { RunningSimulator } from "../../src/simulator/types";

const DASHBOARD = "ops/grafana/wechat-token-broker.json";
const JOB = "wtb";
/** Panels that may be empty on a healthy broker: metrics other branches add, and errors that need a failure. */
const MAY_BE_EMPTY = new Set(["Upstream call ceiling hits", "Foreign rotations", "Foreign rotations (24 h)", "HTTP 5xx answers"]);
/** Metrics the dashboard shows before the broker exports them (being added elsewhere); all others must be exported. */

interface Target {
  expr: string;
  refId: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: string | { query: string }; allValue?: string }> };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as Dashboard;
const panels = dashboard.panels.filter((p) => p.type !== "row");

/** The expression as Grafana would send it: variables replaced by what this test scrapes. */
function expand(expr: string): string {
  return expr.replaceAll("$__rate_interval", "20s").replaceAll("$job", JOB).replaceAll("$account", ".*");
}

/** Metric names an expression reads (identifiers followed by a selector or range, not functions or labels). */
function metricsOf(expr: string): string[] {
  return [...expr.matchAll(/\b((?:wtb_|up\b)\w*)\s*(?=[{[)]|$|\s)/g)].map((m) => m[1]!);
}

describe("the Grafana dashboard's structure", () => {
  test("is a dashboard whose panels have unique ids, a title, a description, the datasource variable and fit the 24-column grid", () => {
    assert.equal(dashboard.uid, "wechat-token-broker");
    assert.ok(panels.length >= 20, `${panels.length} panels`);
    assert.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, "unique ids");
    for (const p of panels) {
      assert.ok(p.title && p.description, `panel ${p.id} has a title and a description`);
      assert.equal(p.datasource?.uid, "${datasource}", p.title);
      assert.ok(p.gridPos.x >= 0 && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the grid`);
      assert.ok((p.targets ?? []).length > 0 && p.targets!.every((t) => t.expr.trim() !== ""), `${p.title} has queries`);
    }
    assert.deepEqual(
      dashboard.templating.list.map((v) => v.name),
      ["datasource", "job", "account"],
    );
  });

  test("covers what the people on call look at", () => {
    const exprs = panels.flatMap((p) => p.targets!.map((t) => t.expr)).join("\n");
    for (const metric of [
      "wtb_account_token_requests_total",
      "wtb_account_token_request_duration_seconds_bucket",
      "wtb_http_request_duration_seconds_bucket",
      "wtb_upstream_token_calls_today",
      "wtb_upstream_token_daily_limit",
      "wtb_breaker_open",
      "wtb_account_upstream_failing",
      "wtb_force_refresh_budget_left",
      "wtb_lock_acquisitions_total",
      "wtb_store_up",
      "wtb_foreign_rotations_total",
      "wtb_upstream_ceiling_hits_total",
    ]) {
      assert.ok(exprs.includes(metric), `a panel shows ${metric}`);
    }
    assert.match(exprs, /errclass/);
    assert.match(exprs, /sum by \(account, trigger\) \(increase\(wtb_upstream_ceiling_hits_total/);
  });
});

describe("the Grafana dashboard against Prometheus scraping a running broker", () => {
  let redis: TestRedis;
  let sim: RunningSimulator;
  let broker: ServeProcess;
  let prom: ChildProcess | undefined;
  let promUrl = "";
  let dir = "";
  let promLog = "";
  let exported = new Set<string>();

  async function query(expr: string): Promise<{ status: string; error?: string; data?: { resultType: string; result: unknown[] } }> {
    const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown[] } };
  }

  before(async () => {
    if (spawnSync("prometheus", ["--version"]).error)
      throw new Error("the prometheus server is not installed: apt-get install -y prometheus");
    redis = await startRedis();
    sim = await startSimulator({
      apps: [
        { appId: "wx_g_stable", secret: "graf-secret-1" },
        { appId: "wx_g_classic", secret: "graf-secret-2" },
        { appId: "wx_g_ip", secret: "graf-secret-3", ipWhitelist: ["10.1.1.1"], callerIp: "1.92.157.200" },
      ],
    });
    broker = await spawnServe({
      REDIS_URL: redis.url,
      WECHAT_API_BASE: sim.url,
      ACCOUNTS: JSON.stringify([
        { id: "gh_g_stable", appId: "wx_g_stable", appSecret: "graf-secret-1" },
        { id: "gh_g_classic", appId: "wx_g_classic", appSecret: "graf-secret-2", tokenApi: "classic" },
        { id: "gh_g_ip", appId: "wx_g_ip", appSecret: "graf-secret-3", tokenApi: "classic" },
      ]),
      LOG_LEVEL: "warn",
    });
    dir = mkdtempSync(join(tmpdir(), "wtb-prom-"));
    const port = await freePort();
    const target = broker.url.replace(/^http:\/\//, "");
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: ${JOB}\n    static_configs:\n      - targets: ["${target}"]\n`,
    );
    prom = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    prom.stderr!.on("data", (d: Buffer) => (promLog += d.toString("utf8")));
    promUrl = `http://127.0.0.1:${port}`;
    await waitForHttp(`${promUrl}/-/ready`, 20_000);

    // Traffic while Prometheus scrapes: tokens, an invalidation, a refused account, for a bounded ~8 s.
    const classic = (await (await fetch(`${broker.url}/api/accounts/gh_g_classic/token`)).json()) as { accessToken: string };
    // Another system kills the token at WeChat, so the report below is true and the broker fetches a second token.
    await rogueClassicFetch(sim.url, "wx_g_classic", "graf-secret-2");
    await fetch(`${broker.url}/api/accounts/gh_g_classic/token/invalidate`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ accessToken: classic.accessToken, errcode: 40001 }),
    });
    for (let round = 0; round < 40; round++) {
      await Promise.all(
        ["gh_g_stable", "gh_g_classic", "gh_g_ip"].map((id) =>
          fetch(`${broker.url}/api/accounts/${id}/token`).then((r) => r.arrayBuffer()),
        ),
      );
      await sleep(200);
    }
    await waitUntil(
      "Prometheus has scraped the broker several times",
      async () => {
        const r = await query(`count_over_time(up{job="${JOB}"}[1m])`);
        return Number((r.data?.result[0] as { value?: [number, string] } | undefined)?.value?.[1] ?? 0) >= 6;
      },
      20_000,
      250,
    );
    const text = await (await fetch(`${broker.url}/metrics`)).text();
    exported = new Set(
      [...text.matchAll(/^# TYPE (\w+) (\w+)/gm)].flatMap((m) =>
        m[2] === "histogram" ? [`${m[1]}_bucket`, `${m[1]}_sum`, `${m[1]}_count`, m[1]!] : [m[1]!],
      ),
    );
  });

  after(async () => {
    if (prom && prom.exitCode === null) {
      const p = prom;
      await new Promise<void>((resolve) => {
        p.once("exit", () => resolve());
        p.kill("SIGTERM");
      });
    }
    await broker?.stop();
    await sim?.close();
    await redis?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("reads only metrics the broker exports", () => {
    for (const p of panels) {
      for (const t of p.targets!) {
        for (const m of metricsOf(t.expr)) {
          if (m === "up") continue;
          assert.ok(exported.has(m), `${p.title}: ${m} is not exported by the broker`);
        }
      }
    }
  });

  test("the template variables find the job and the accounts", async () => {
    const jobs = (await (await fetch(`${promUrl}/api/v1/label/job/values?match[]=wtb_store_up`)).json()) as { data: string[] };
    assert.deepEqual(jobs.data, [JOB]);
    const accounts = (await (
      await fetch(`${promUrl}/api/v1/label/account/values?match[]=${encodeURIComponent(`wtb_breaker_open{job="${JOB}"}`)}`)
    ).json()) as { data: string[] };
    assert.deepEqual(accounts.data.sort(), ["gh_g_classic", "gh_g_ip", "gh_g_stable"]);
  });

  test("every panel's query runs without error, and every main panel shows data", async () => {
    const empty: string[] = [];
    for (const p of panels) {
      for (const t of p.targets!) {
        const r = await query(expand(t.expr));
        assert.equal(r.status, "success", `${p.title} [${t.refId}]: ${r.error ?? "error"}\n${expand(t.expr)}\n${promLog.slice(-500)}`);
        if (!MAY_BE_EMPTY.has(p.title) && (r.data?.result.length ?? 0) === 0) empty.push(`${p.title} [${t.refId}]: ${expand(t.expr)}`);
      }
    }
    assert.deepEqual(empty, [], "main panels without data");
  });

  test("the panels show what happened: one account failing with its errclass and errcode, its breaker open, the quota used", async () => {
    const failing = await query(expand(panels.find((p) => p.title === "Failing accounts (errclass, errcode)")!.targets![0]!.expr));
    const rows = (failing.data?.result ?? []) as Array<{ metric: Record<string, string> }>;
    assert.deepEqual(
      rows.map((r) => [r.metric.account, r.metric.errclass, r.metric.errcode]),
      [["gh_g_ip", "config", "40164"]],
    );
    const quota = await query(expand(panels.find((p) => p.title === "Upstream token calls today vs daily quota")!.targets![0]!.expr));
    const share = Object.fromEntries(
      (quota.data?.result as Array<{ metric: { account: string }; value: [number, string] }>).map((r) => [
        r.metric.account,
        Number(r.value[1]),
      ]),
    );
    assert.equal(share.gh_g_classic, 2 / 2000, "two classic fetches of 2000");
    const breakers = await query(expand(panels.find((p) => p.title === "Breakers open")!.targets![0]!.expr));
    assert.equal(Number((breakers.data?.result[0] as { value: [number, string] }).value[1]), 1);
  });
});
