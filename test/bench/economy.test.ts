// Smoke test of the call-economy benchmark (bench/economy.ts) in quick mode: every scenario and replica count
// reports its calls per account per hour, and the calls it counted make sense for a run this short. Its own file, so
// the test runner runs it beside the other benchmark smoke test instead of after it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { redisServerAvailable } from "../helpers/redis";
import { NUMBER, runQuickBench, tablesOf } from "./support";

test(
  "the call-economy benchmark runs in quick mode and reports calls per account per hour for every scenario and replica count",
  { skip: !redisServerAvailable() && "redis-server is not installed", timeout: 150_000 },
  async () => {
    const run = await runQuickBench(["economy"], {
      BENCH_ECONOMY_REPLICAS: "1,2",
      BENCH_ECONOMY_SECONDS: "10",
      BENCH_ECONOMY_LIFETIME_SEC: "8",
      BENCH_ECONOMY_REPORT_SECONDS: "3",
      BENCH_ECONOMY_RESTART_SECONDS: "7",
    });
    const [perHour, raw] = tablesOf(run.stdout, "5. Call economy");
    assert.ok(perHour && raw, "two tables: calls per hour, and the raw counts");
    assert.equal(perHour.length, 9, "one row per scenario and token API (the JS-SDK signing row included)");
    for (const row of perHour)
      assert.ok(
        row.slice(2).every((cell) => NUMBER.test(cell)),
        `a figure for every replica count: ${row.join(" | ")}`,
      );

    const economy = run.data("economy") as {
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
  },
);
