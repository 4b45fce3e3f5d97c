import type { Metrics } from "../../ops/metrics";
import type { RouteDef } from "../route";

/** GET /metrics in Prometheus text format. Unauthenticated like most exporters: it holds no secret and no token. */
export function metricsRoutes(metrics: Metrics): RouteDef[] {
  return [
    {
      method: "GET",
      paths: ["/metrics"],
      access: "open",
      quiet: true,
      handle: async () => ({ text: await metrics.text(), contentType: metrics.registry.contentType }),
    },
  ];
}
