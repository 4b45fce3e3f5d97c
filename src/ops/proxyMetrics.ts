// Metrics of the token-injecting proxy (issue 13), in the broker's registry. Labels stay bounded: the API is the
// path with ids normalised (src/http/proxy.ts apiLabel), and past MAX_APIS distinct ones further APIs count as
// "other"; errcodes are folded into a few classes.
import { Counter, Histogram, type Registry } from "prom-client";

export type ProxyOutcome =
  "ok" | "cached" | "wechat_error" | "refused" | "no_token" | "bad_request" | "upstream_error" | "upstream_timeout" | "client_aborted";

/** WeChat has a few hundred APIs; a caller making up paths must not grow the series without bound. */
const MAX_APIS = 300;

export function errcodeClass(errcode: number | undefined): string {
  if (errcode === undefined || errcode === 0) return "ok";
  if (errcode === 40001 || errcode === 40014 || errcode === 42001 || errcode === 41001) return "token";
  if (errcode === 40164 || errcode === 60020) return "ip_whitelist";
  if (errcode === 45009 || errcode === 45011 || errcode === 45033 || errcode === 45047) return "quota";
  if (errcode === 48001 || errcode === 48002 || errcode === 48004 || errcode === 301002) return "unauthorized";
  if (errcode === -1) return "system";
  return "other";
}

export class ProxyMetrics {
  private readonly requests: Counter<"api" | "outcome" | "errclass">;
  private readonly retries: Counter<"api">;
  private readonly duration: Histogram<"api">;
  private readonly apis = new Set<string>();

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: "wtb_proxy_requests_total",
      help: "Calls relayed (or refused) by the token-injecting proxy, by WeChat API, outcome and errcode class of the answer.",
      labelNames: ["api", "outcome", "errclass"],
      registers: [registry],
    });
    this.retries = new Counter({
      name: "wtb_proxy_retries_total",
      help: "Relayed calls retried once with a new token after WeChat rejected the injected one (40001/40014/42001).",
      labelNames: ["api"],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: "wtb_proxy_request_duration_seconds",
      help: "Time from a relayed call's arrival to WeChat's answer headers (retries included), by WeChat API.",
      labelNames: ["api"],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
  }

  private bounded(api: string): string {
    if (this.apis.has(api)) return api;
    if (this.apis.size >= MAX_APIS) return "other";
    this.apis.add(api);
    return api;
  }

  request(api: string, outcome: ProxyOutcome, errcode: number | undefined, seconds: number): void {
    const label = this.bounded(api);
    this.requests.inc({ api: label, outcome, errclass: errcodeClass(errcode) });
    this.duration.observe({ api: label }, seconds);
  }

  retry(api: string): void {
    this.retries.inc({ api: this.bounded(api) });
  }
}
