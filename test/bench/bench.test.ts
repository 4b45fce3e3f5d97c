// Smoke test of the benchmark suite: `bench/run.ts` in quick mode with the smallest parameters completes and prints
// one table per benchmark with numbers in it. Throughput and latency are never asserted (they depend on the machine
// and on whatever else runs on it); the correctness figures the benchmarks report are: exactly one upstream call per
// storm, no invalid token served, one upstream call per rotation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { redisServerAvailable } from "../helpers/redis";
import { wrkAvailable } from "../../bench/lib/wrk";

const ROOT = join(__dirname, "..", "..");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBench(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "bench", "run.ts"), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The markdown tables under a `### <title>` heading: each as its data rows' cells. */
function tablesOf(stdout: string, title: string): string[][][] {
  const start = stdout.indexOf(`### ${title}`);
  assert.notEqual(start, -1, `no section "${title}" in the output:\n${stdout}`);
  const next = stdout.indexOf("\n### ", start + 1);
  const section = stdout.slice(start, next === -1 ? undefined : next);
  const tables: string[][][] = [];
  let current: string[][] | null = null;
  for (const line of section.split("\n")) {
    if (!line.startsWith("|")) {
      current = null;
      continue;
    }
    const cells = line
      .split("|")
      .slice(1, -1)
      .map((c) => c.trim());
    if (current === null) {
      current = [];
      tables.push(current);
      continue; // header row
    }
    if (cells.every((c) => /^-+$/.test(c))) continue; // separator row
    current.push(cells);
  }
  return tables;
}

const NUMBER = /^-?[\d,]+(\.\d+)?\b/;

// `npm test` installs wrk (scripts/ensure-test-tools.sh); a run without it still smoke-tests autocannon's half.
const WRK = wrkAvailable();

// 150 s: the hot path also runs wrk against the three servers and an open-loop run (~10 s more on a busy machine).
test(
  "the benchmark suite runs in quick mode and reports numeric figures",
  { skip: !redisServerAvailable() && "redis-server is not installed", timeout: 150_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "wtb-bench-test-"));
    try {
      const json = join(dir, "results.json");
      const run = await runBench(["hot", "storm", "soak", "accounts", "--json", json], {
        BENCH_QUICK: "1",
        // The sources through tsx, as the other tests run them: saves compiling src/ for a smoke run.
        BENCH_RUNTIME: "source",
        BENCH_HOT_SECONDS: "1",
        BENCH_HOT_CONNECTIONS: "1,64",
        BENCH_HOT_WARMUP_SECONDS: "0.2",
        BENCH_HOT_WRK: WRK ? "1" : "0",
        BENCH_HOT_WRK_SECONDS: "1",
        BENCH_STORM_REQUESTS: "200",
        BENCH_SOAK_SECONDS: "10",
        BENCH_SOAK_LIFETIME_SEC: "8",
        BENCH_SOAK_RATE: "50",
        BENCH_ACCOUNTS: "1,10",
        BENCH_ACCOUNTS_HOT_SECONDS: "1",
        BENCH_ACCOUNTS_WINDOW_SECONDS: "4",
      });
      assert.equal(run.code, 0, `bench/run.ts failed (${run.code}):\n${run.stderr.slice(-4000)}`);

      for (const title of ["1. Hot path", "2. Refresh storm", "3. Rotation soak", "4. Cost as the number of accounts grows"]) {
        const tables = tablesOf(run.stdout, title);
        assert.ok(tables.length > 0, `no table under "${title}"`);
        for (const rows of tables) {
          assert.ok(rows.length > 0, `an empty table under "${title}"`);
          for (const row of rows)
            assert.ok(
              row.some((cell) => NUMBER.test(cell)),
              `a row without figures under "${title}": ${row.join(" | ")}`,
            );
        }
      }
      const hot = tablesOf(run.stdout, "1. Hot path")[0]!;
      assert.deepEqual(new Set(hot.map((r) => r[1])), new Set(["node:http", "express", "broker"]));
      assert.ok(
        hot.every((r) => Number(r[2]!.replace(/,/g, "")) > 0),
        "every server answered requests",
      );

      const results = JSON.parse(readFileSync(json, "utf8")) as { sections: Array<{ id: string; data: unknown }> };
      const data = (id: string) => results.sections.find((s) => s.id === id)?.data;
      if (WRK) {
        // wrk's rows: every server answered the key-carrying request with 200s, and the percentiles are ordered.
        const hotData = data("hot") as {
          wrkRows: Array<{ server: string; rps: number; errors: number; non2xx: number; p50: number; p99: number; p999: number }>;
          atShare: Array<{
            server: string;
            shareOf: string;
            rate: number;
            rps: number;
            errors: number;
            non2xx: number;
            stalls: Array<{ due: number; requests: number; worst: number }>;
          }>;
        };
        assert.deepEqual(new Set(hotData.wrkRows.map((r) => r.server)), new Set(["node:http", "express", "broker"]));
        for (const r of hotData.wrkRows) {
          assert.ok(r.rps > 0, `wrk: ${r.server} answered requests`);
          assert.equal(r.errors + r.non2xx, 0, `wrk: ${r.server} answered every request with a 2xx`);
          assert.ok(r.p50 <= r.p99 && r.p99 <= r.p999, `wrk: ${r.server} percentiles in order`);
        }
        // The open-loop generator at half the broker's wrk throughput (node:http and the broker), and node:http at half
        // its own: every request answered with a 2xx, at the offered rate.
        const wrkRps = (server: string) => hotData.wrkRows.find((r) => r.server === server)!.rps;
        assert.deepEqual(
          hotData.atShare.map((r) => `${r.server} at half of ${r.shareOf}`),
          ["node:http at half of broker", "broker at half of broker", "node:http at half of node:http"],
        );
        for (const r of hotData.atShare) {
          assert.ok(Math.abs(r.rate - wrkRps(r.shareOf) / 2) <= 1, `open loop: ${r.server} offered half of ${r.shareOf}'s wrk throughput`);
          assert.equal(r.errors + r.non2xx, 0, `open loop: ${r.server} answered every request with a 2xx`);
          assert.ok(r.rps > r.rate * 0.9 && r.rps < r.rate * 1.1, `open loop: ${r.server} answered ${r.rps} requests/s for ${r.rate}`);
          // Stalls are the answers over the 2 ms target, grouped: each holds at least one, in the order they fell due.
          assert.ok(
            r.stalls.every((st, i) => st.requests >= 1 && st.worst >= 2 && (i === 0 || st.due > r.stalls[i - 1]!.due)),
            `open loop: ${r.server}'s stalls ${JSON.stringify(r.stalls)}`,
          );
        }
      }
      const storms = data("storm") as Array<{ kind: string; upstreamCalls: number; invalidTokens: number; requests: number }>;
      assert.equal(storms.length, 2);
      for (const s of storms) {
        assert.equal(s.requests, 200);
        assert.equal(s.upstreamCalls, 1, `${s.kind} storm: one upstream call for all callers`);
        assert.equal(s.invalidTokens, 0, `${s.kind} storm: no invalid token served`);
      }
      const soak = data("soak") as { accounts: Array<{ account: string; served: number; upstreamCalls: number; rotations: number }> };
      for (const a of soak.accounts) {
        assert.ok(a.served > 0, `${a.account}: tokens served`);
        assert.equal(a.upstreamCalls, a.rotations, `${a.account}: one upstream call per rotation`);
      }
      const accounts = data("accounts") as Array<{ accounts: number; window: { upstreamCalls: number; rotations: number } }>;
      assert.deepEqual(
        accounts.map((r) => r.accounts),
        [1, 10],
      );
      for (const r of accounts)
        assert.equal(r.window.upstreamCalls, r.window.rotations, `${r.accounts} accounts: one upstream call per rotation`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "the call-economy benchmark runs in quick mode and reports calls per account per hour for every scenario and replica count",
  { skip: !redisServerAvailable() && "redis-server is not installed", timeout: 150_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "wtb-bench-economy-"));
    try {
      const json = join(dir, "results.json");
      const run = await runBench(["economy", "--json", json], {
        BENCH_QUICK: "1",
        BENCH_RUNTIME: "source",
        BENCH_ECONOMY_REPLICAS: "1,2",
        BENCH_ECONOMY_SECONDS: "10",
        BENCH_ECONOMY_LIFETIME_SEC: "8",
        BENCH_ECONOMY_REPORT_SECONDS: "3",
        BENCH_ECONOMY_RESTART_SECONDS: "7",
      });
      assert.equal(run.code, 0, `bench/run.ts economy failed (${run.code}):\n${run.stderr.slice(-4000)}`);
      const [perHour, raw] = tablesOf(run.stdout, "5. Call economy");
      assert.ok(perHour && raw, "two tables: calls per hour, and the raw counts");
      assert.equal(perHour.length, 9, "one row per scenario and token API (the JS-SDK signing row included)");
      for (const row of perHour)
        assert.ok(
          row.slice(2).every((cell) => NUMBER.test(cell)),
          `a figure for every replica count: ${row.join(" | ")}`,
        );

      const results = JSON.parse(readFileSync(json, "utf8")) as { sections: Array<{ id: string; data: unknown }> };
      const economy = results.sections.find((s) => s.id === "economy")?.data as {
        rows: Array<{
          scenario: string;
          api: string;
          replicas: number;
          tokenCalls: number;
          tokensIssued: number;
          ticketCalls: number;
          requests: number;
          reportAnswers?: Record<string, number>;
        }>;
      };
      assert.equal(economy.rows.length, 18, "9 rows for each of the 2 replica counts");
      for (const r of economy.rows) {
        assert.ok(r.requests > 0, `${r.scenario} ${r.api} ×${r.replicas}: callers were answered`);
        if (r.scenario === "normal")
          assert.ok(
            r.tokensIssued >= 1 && r.tokenCalls >= r.tokensIssued,
            `${r.api} ×${r.replicas}: the run spans a rotation, each needed a call`,
          );
        if (r.scenario === "JS-SDK signing: getticket calls")
          assert.ok(
            r.ticketCalls >= 1 && r.ticketCalls <= 4,
            `×${r.replicas}: about one getticket call per ticket lifetime (${r.ticketCalls} in 10 s of 8 s tickets)`,
          );
        if (r.reportAnswers)
          assert.equal(
            Object.values(r.reportAnswers).reduce((a, b) => a + b, 0),
            3,
            "one report a second for 3 s",
          );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
