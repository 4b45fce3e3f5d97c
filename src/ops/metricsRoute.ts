import { Router } from "express";
import type { Metrics } from "./metrics";

/** GET /metrics in Prometheus text format. Unauthenticated like most exporters: it holds no secret and no token. */
export function metricsRoutes(metrics: Metrics): Router {
  const r = Router();
  r.get("/metrics", async (_req, res) => {
    const body = await metrics.text();
    res.set("Content-Type", metrics.registry.contentType).set("Cache-Control", "no-store").send(body);
  });
  return r;
}
