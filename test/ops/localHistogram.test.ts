// LocalHistogram must expose exactly what prom-client's own Histogram exposes for the same observations: dashboards,
// alerts and recording rules read these series.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Histogram, Registry } from "prom-client";
import { LocalHistogram } from "../../src/ops/localHistogram";

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const LABEL_SETS = [
  { method: "GET", route: "/api/accounts/:accountId/token" },
  { method: "POST", route: "/api/accounts/:accountId/token/invalidate" },
  { method: "GET", route: 'a "quoted"\\route' },
];

function pair(): { reference: Registry; local: Registry; prom: Histogram<"method" | "route">; ours: LocalHistogram<"method" | "route"> } {
  const reference = new Registry();
  const local = new Registry();
  const config = { name: "wtb_test_seconds", help: "Test.", labelNames: ["method", "route"] as const, buckets: BUCKETS };
  return {
    reference,
    local,
    prom: new Histogram({ ...config, labelNames: [...config.labelNames], registers: [reference] }),
    ours: new LocalHistogram({ ...config, labelNames: [...config.labelNames], registers: [local] }),
  };
}

describe("LocalHistogram", () => {
  test("its exposition and JSON equal prom-client's Histogram's for any observations, bucket edges included", async () => {
    const edges = BUCKETS.flatMap((b) => [b, b * (1 - 1e-9), b * (1 + 1e-9)]);
    const value = fc.oneof(fc.constantFrom(...edges, 0, 7, 1e6), fc.double({ min: 0, max: 10, noNaN: true }));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat({ max: LABEL_SETS.length - 1 }), value), { minLength: 1, maxLength: 60 }), async (obs) => {
        const { reference, local, prom, ours } = pair();
        // Series in the order they were first observed, as prom-client creates them.
        const series = new Map<number, ReturnType<typeof ours.series>>();
        for (const [i, v] of obs) {
          prom.observe(LABEL_SETS[i]!, v);
          if (!series.has(i)) series.set(i, ours.series(LABEL_SETS[i]!));
          series.get(i)!.observe(v);
        }
        assert.equal(await local.metrics(), await reference.metrics());
        assert.equal(JSON.stringify(await local.getMetricsAsJSON()), JSON.stringify(await reference.getMetricsAsJSON()));
      }),
      { numRuns: 200 },
    );
  });

  test("a series is exposed with zero counts as soon as it exists, and reset clears it", async () => {
    const { local, ours } = pair();
    const s = ours.series(LABEL_SETS[0]!);
    const zero = await local.metrics();
    assert.match(zero, /^wtb_test_seconds_bucket\{le="\+Inf",method="GET",route="\/api\/accounts\/:accountId\/token"\} 0$/m);
    assert.match(zero, /^wtb_test_seconds_count\{method="GET",route="\/api\/accounts\/:accountId\/token"\} 0$/m);
    s.observe(0.002);
    s.observe(3);
    const two = await local.metrics();
    assert.match(two, /^wtb_test_seconds_bucket\{le="0\.001",method="GET",[^}]*\} 0$/m);
    assert.match(two, /^wtb_test_seconds_bucket\{le="0\.0025",method="GET",[^}]*\} 1$/m);
    assert.match(two, /^wtb_test_seconds_bucket\{le="5",method="GET",[^}]*\} 2$/m);
    assert.match(two, /^wtb_test_seconds_sum\{method="GET",[^}]*\} 3\.002$/m);
    ours.reset();
    assert.equal(await local.metrics(), zero);
  });

  test("observations through prom-client's own observe are still exposed beside the local series", async () => {
    const { local, ours } = pair();
    ours.series(LABEL_SETS[0]!).observe(0.01);
    ours.observe(LABEL_SETS[1]!, 0.2);
    const text = await local.metrics();
    assert.match(text, /^wtb_test_seconds_count\{method="GET",[^}]*\} 1$/m);
    assert.match(text, /^wtb_test_seconds_count\{method="POST",[^}]*\} 1$/m);
  });
});
