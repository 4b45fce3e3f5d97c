// The V8 flags `serve` is meant to run under (the Dockerfile's CMD, the Kubernetes Deployment's command and the
// benchmarks pass them). V8 reads them only from node's command line: they cannot be set from inside the process, and
// node refuses them in NODE_OPTIONS.
//
// --no-memory-reducer: a broker that idles after start-up (the usual case: deployed at night, traffic in the morning)
// otherwise has V8's memory reducer collect its heap in "reduce memory" mode before any traffic came. From then on
// every token hit cost 24–31 µs of CPU instead of 18–21 (wrk, 64 connections; measured by `npm run bench:hot`,
// docs/benchmarks.md "The idle start"); the profile shows node's per-request tick objects built through V8's slow
// path. The price is memory: ~20 MB more resident when idle (about 90 MB instead of 70).
//
// --min-semi-space-size=16: the young generation stays at its largest (16 MB semi-spaces, node 20's maximum) instead
// of shrinking while the broker idles. Grown back from small under load, it is collected every ~16 ms instead of
// ~67, so requests in flight survive two collections and are promoted: the old generation then fills within seconds
// of every busy spell and V8 marks it, which on one CPU stalls every answer for ~20 ms (docs/benchmarks.md, "Where
// the open-loop tail comes from", item 6). At ~22,000 requests/s on one CPU, open loop, 18 s idle between rounds: a
// major collection in 11 of 14 rounds without it, in none of 12 with it. The price: ~19 MB more resident when idle
// (101 MB instead of 82), ~6 MB under load; CPU per request 24 against 25 µs.
export const BROKER_NODE_FLAGS: readonly string[] = ["--no-memory-reducer", "--min-semi-space-size=16"];

/** The flags of BROKER_NODE_FLAGS that this process was started without. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return BROKER_NODE_FLAGS.filter((f) => !execArgv.includes(f));
}
