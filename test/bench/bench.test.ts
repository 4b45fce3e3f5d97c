// Smoke test of the benchmark suite: `bench/run.ts` in quick mode with the smallest parameters completes and prints
// one table per benchmark with numbers in it. Throughput and latency are never asserted (they depend on the machine
// and on whatever else runs on it); the correctness figures the benchmarks report are: exactly one upstream call per
// storm, no invalid token served, one upstream call per rotation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { redisServerAvailable } from "../helpers/redis";
import { wrkAvailable } from "../../bench/lib/wrk";
import { NUMBER, runQuickBench, tablesOf } from "./support";

// `npm test` installs wrk (scripts/ensure-test-tools.sh); a run without it still smoke-tests autocannon's half.
const WRK = wrkAvailable();

// 150 s: the hot path also runs wrk against the three servers and an open-loop run (~10 s more on a busy machine).
/** wrk's seconds, and the open loop's measured window. */
const WRK_SECONDS = "1";

test(
  "the benchmark suite runs in quick mode and reports numeric figures",
  { skip: !redisServerAvailable() && "redis-server is not installed", timeout: 150_000 },
  async () => {
    const run = await runQuickBench(["hot", "storm", "soak", "accounts"], {
      BENCH_HOT_SECONDS: "1",
      BENCH_HOT_CONNECTIONS: "1,64",
      BENCH_HOT_WARMUP_SECONDS: "0.2",
      BENCH_HOT_WRK: WRK ? "1" : "0",
      BENCH_HOT_WRK_SECONDS: WRK_SECONDS,
      // Not under the real-time scheduler: the test files running beside this one would wait while it sends.
      BENCH_HOT_OPEN_REALTIME: "0",
      BENCH_STORM_REQUESTS: "200",
      BENCH_SOAK_SECONDS: "10",
      BENCH_SOAK_LIFETIME_SEC: "8",
      BENCH_SOAK_RATE: "50",
      BENCH_ACCOUNTS: "1,10",
      BENCH_ACCOUNTS_HOT_SECONDS: "1",
      BENCH_ACCOUNTS_WINDOW_SECONDS: "4",
    });

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

    if (WRK) {
      assert.match(run.stdout, /open-loop generator under the ordinary scheduler \(BENCH_HOT_OPEN_REALTIME=0\)/);
      // wrk's rows: every server answered the key-carrying request with 200s, and the percentiles are ordered.
      const hotData = run.data("hot") as {
        wrkRows: Array<{ server: string; rps: number; errors: number; non2xx: number; p50: number; p99: number; p999: number }>;
        atShare: Array<{
          server: string;
          shareOf: string;
          rate: number;
          requests: number;
          errors: number;
          non2xx: number;
          stalls: Array<{ due: number; requests: number; worst: number }>;
          cpuShare: number;
          cpuUs: number;
          majorGcs?: number;
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
        // Every request due in the 1 s window was answered. (Not requests/s over the span to the last answer: one of the
        // host's ~100 ms stalls at the end of a 1 s run stretches that span by a tenth.)
        const due = r.rate * Number(WRK_SECONDS);
        assert.ok(Math.abs(r.requests - due) <= due * 0.01 + 1, `open loop: ${r.server} answered ${r.requests} requests of ${due} due`);
        // Stalls are the answers over the 2 ms target, grouped: each holds at least one, in the order they fell due.
        assert.ok(
          r.stalls.every((st, i) => st.requests >= 1 && st.worst >= 2 && (i === 0 || st.due > r.stalls[i - 1]!.due)),
          `open loop: ${r.server}'s stalls ${JSON.stringify(r.stalls)}`,
        );
        // The server's CPU over the round: busy some of the time, on the one CPU it is pinned to (all its threads).
        assert.ok(r.cpuShare > 0 && r.cpuShare < 1.5 && r.cpuUs > 0, `open loop: ${r.server}'s CPU ${r.cpuShare} (${r.cpuUs} µs/request)`);
        // The broker's major collections in the round come from its /metrics; node:http has none to read.
        if (r.server === "broker")
          assert.ok(Number.isInteger(r.majorGcs) && r.majorGcs! >= 0, `open loop: broker's major collections ${r.majorGcs}`);
        else assert.equal(r.majorGcs, undefined);
      }
      assert.match(run.stdout, /\| major collections \|/, "the open-loop tables have the column");
    }
    const storms = run.data("storm") as Array<{ kind: string; upstreamCalls: number; invalidTokens: number; requests: number }>;
    assert.equal(storms.length, 2);
    for (const s of storms) {
      assert.equal(s.requests, 200);
      assert.equal(s.upstreamCalls, 1, `${s.kind} storm: one upstream call for all callers`);
      assert.equal(s.invalidTokens, 0, `${s.kind} storm: no invalid token served`);
    }
    const soak = run.data("soak") as { accounts: Array<{ account: string; served: number; upstreamCalls: number; rotations: number }> };
    for (const a of soak.accounts) {
      assert.ok(a.served > 0, `${a.account}: tokens served`);
      assert.equal(a.upstreamCalls, a.rotations, `${a.account}: one upstream call per rotation`);
    }
    const accounts = run.data("accounts") as Array<{ accounts: number; window: { upstreamCalls: number; rotations: number } }>;
    assert.deepEqual(
      accounts.map((r) => r.accounts),
      [1, 10],
    );
    for (const r of accounts)
      assert.equal(r.window.upstreamCalls, r.window.rotations, `${r.accounts} accounts: one upstream call per rotation`);
  },
);
