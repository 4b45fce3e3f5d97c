// The V8 flags `serve` is meant to run under (the Dockerfile's CMD, the Kubernetes Deployment's command and the
// benchmarks pass them). V8 reads them only from node's command line: they cannot be set from inside the process, and
// node refuses them in NODE_OPTIONS.
//
// --no-memory-reducer: a broker that idles after start-up (the usual case: deployed at night, traffic in the morning)
// otherwise has V8's memory reducer collect its heap in "reduce memory" mode before any traffic came. From then on
// every token hit cost 24–31 µs of CPU instead of 18–21 (wrk, 64 connections; measured by `npm run bench:hot`,
// docs/benchmarks.md "The idle start"); the profile shows node's per-request tick objects built through V8's slow
// path. The price is memory: ~20 MB more resident when idle (about 90 MB instead of 70).
export const BROKER_NODE_FLAGS: readonly string[] = ["--no-memory-reducer"];

/** The flags of BROKER_NODE_FLAGS that this process was started without. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return BROKER_NODE_FLAGS.filter((f) => !execArgv.includes(f));
}
