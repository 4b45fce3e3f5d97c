// PROPOSAL for Metrics.httpMiddleware() in src/ops/metrics.ts; measured by `npm run bench:ablation`.
//
// The current middleware allocates per request a BigInt start time, two label objects (one spread) and makes
// prom-client hash those labels twice (sort + join) to find the series. Label sets here are few and bounded (route
// templates × methods × status codes), so the series handles can be looked up once and kept.
import type { RequestHandler } from "express";
import type { Counter, Histogram } from "prom-client";

export function httpMetricsMiddleware(requests: Counter<"method" | "route" | "status_code">, duration: Histogram<"method" | "route">): RequestHandler {
  // Bounded like the label sets themselves: Node's parser only accepts known methods, routes are templates.
  const series = new Map<string, { count: { inc(): void }; time: { observe(v: number): void } }>();
  return (req, res, next) => {
    const start = performance.now();
    res.once("finish", () => {
      const route = (req.route as { path?: string } | undefined)?.path;
      const r = typeof route === "string" ? route : "unmatched";
      const key = `${req.method} ${res.statusCode} ${r}`;
      let s = series.get(key);
      if (s === undefined) {
        s = { count: requests.labels(req.method, r, String(res.statusCode)), time: duration.labels(req.method, r) };
        series.set(key, s);
      }
      s.count.inc();
      s.time.observe((performance.now() - start) / 1000);
    });
    next();
  };
}
