// The benchmark's readers of other programs' output: wrk's summary line (printed by the Lua done() hook in
// bench/lib/wrk.ts), taskset's CPU lists (bench/lib/cpuPin.ts) and the grouping of a CPU profile's samples into the concerns of a token hit
// (bench/lib/cpuprofile.ts concernOf), which docs/benchmarks.md quotes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { expandCpuList } from "../../bench/lib/cpuPin";
import { concernOf, type CallFrame } from "../../bench/lib/cpuprofile";
import { ROOT } from "../../bench/lib/runtime";
import { parseWrkSummary } from "../../bench/lib/wrk";

test("parseWrkSummary reads the done() hook's JSON line among wrk's own output", () => {
  const stdout = [
    "Running 1s test @ http://127.0.0.1:4000/api/accounts/bench/token",
    "  1 threads and 64 connections",
    'WRK_SUMMARY {"requests":1200,"durationUs":1000500,"bytes":642000,"connect":0,"read":1,"write":0,"status":3,"timeout":2,"p50":850,"p75":1100,"p90":1400,"p99":4000,"p999":9000,"max":12000,"mean":905.5}',
    "Requests/sec:   1199.40",
  ].join("\n");
  const s = parseWrkSummary(stdout);
  assert.equal(s.requests, 1200);
  assert.equal(s.durationUs, 1000500);
  assert.deepEqual([s.p50, s.p75, s.p90, s.p99, s.p999, s.max], [850, 1100, 1400, 4000, 9000, 12000]);
  assert.deepEqual([s.read, s.status, s.timeout], [1, 3, 2]);
  assert.throws(() => parseWrkSummary("Requests/sec: 10\n"), /no summary line/);
});

const BUILD = "file:///repo/bench/results/run-42/build/dist";
const frame = (functionName: string, url: string): CallFrame => ({ functionName, url, lineNumber: 0, columnNumber: 0 });
const fast = frame("start", `${BUILD}/http/route.js`);
const parse = frame("parserOnHeadersComplete", "node:_http_common");

test("concernOf charges a sample to the innermost broker part on its stack", () => {
  const writeJson = frame("writeJson", `${BUILD}/http/errors.js`);
  // Leaf first.
  assert.match(concernOf([writeJson, fast, parse]), /^writeJson: JSON.stringify/);
  assert.match(concernOf([frame("writev", ""), frame("end", "node:_http_outgoing"), writeJson, fast, parse]), /^node:http: writeHead/);
  assert.match(concernOf([frame("digest", "node:internal/crypto/hash"), frame("find", `${BUILD}/http/auth.js`), fast, parse]), /^auth:/);
  assert.match(
    concernOf([frame("setHeader", "node:_http_outgoing"), frame("requestId", `${BUILD}/http/requestLog.js`), fast, parse]),
    /^request id:/,
  );
  assert.match(
    concernOf([
      frame("observe", "file:///repo/node_modules/prom-client/lib/histogram.js"),
      frame("observeHttp", `${BUILD}/ops/metrics.js`),
      fast,
    ]),
    /^metrics:/,
  );
  assert.match(concernOf([frame("toISOString", ""), frame("tokenJson", `${BUILD}/http/routes/token.js`), fast]), /^token answer:/);
  // The sources through tsx name the same parts.
  assert.match(concernOf([frame("find", `file://${ROOT}/src/http/auth.ts`), fast]), /^auth:/);
});

test("concernOf names node:http's own work when no broker frame is on the stack", () => {
  assert.match(concernOf([parse]), /^node:http: socket read, request parse/);
  assert.match(concernOf([frame("writev", ""), frame("writevGeneric", "node:internal/stream_base_commons")]), /^node:http: writeHead/);
  assert.equal(concernOf([frame("(garbage collector)", "")]), "garbage collector");
  assert.match(concernOf([frame("(program)", "")]), /^V8 \/ native/);
});

test("expandCpuList reads taskset's CPU lists", () => {
  assert.deepEqual(expandCpuList("0,1"), [0, 1]);
  assert.deepEqual(expandCpuList("0-2,5"), [0, 1, 2, 5]);
  assert.deepEqual(expandCpuList("3"), [3]);
});
