// Closed-loop HTTP load with autocannon, latencies kept at microsecond resolution: autocannon's own histogram
// records whole milliseconds, which would show every sub-millisecond answer as 0 ms.
import autocannon from "autocannon";
import { createHistogram } from "node:perf_hooks";

export interface LoadResult {
  connections: number;
  seconds: number;
  requests: number;
  rps: number;
  /** Latencies in ms. */
  p50: number;
  p99: number;
  max: number;
  mean: number;
  errors: number;
  non2xx: number;
  /** Whole HTTP response (status line, headers, body) per request, bytes. */
  bytesPerResponse: number;
  /** The server's CPU time per answered request, µs (NaN when the server's CPU was not sampled). */
  cpuUs: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  headers?: Record<string, string>;
  /** Paths to cycle through (each connection walks the list); default: the url's path. */
  paths?: string[];
  /** The server process's CPU time so far, ms (Proc.cpuMs), to report CPU per request. */
  cpuMs?: () => number;
}

export async function load(o: LoadOptions): Promise<LoadResult> {
  const hist = createHistogram();
  let count = 0;
  const u = new URL(o.url);
  const instance = autocannon({
    url: `${u.protocol}//${u.host}`,
    connections: o.connections,
    duration: o.seconds,
    headers: o.headers,
    timeout: 10,
    requests: (o.paths ?? [u.pathname + u.search]).map((path) => ({ method: "GET", path })),
  });
  const cpuBefore = o.cpuMs?.() ?? NaN;
  instance.on("response", (_client, _status, _bytes, responseTimeMs) => {
    count++;
    hist.record(Math.max(1, Math.round(responseTimeMs * 1000)));
  });
  const r = await instance;
  const cpuAfter = o.cpuMs?.() ?? NaN;
  const us = (v: number) => v / 1000;
  return {
    connections: o.connections,
    seconds: r.duration,
    requests: count,
    rps: count / r.duration,
    p50: us(hist.percentile(50)),
    p99: us(hist.percentile(99)),
    max: us(hist.max),
    mean: us(hist.mean),
    errors: r.errors,
    non2xx: r.non2xx,
    bytesPerResponse: count > 0 ? r.throughput.total / count : 0,
    cpuUs: count > 0 ? ((cpuAfter - cpuBefore) * 1000) / count : NaN,
  };
}
