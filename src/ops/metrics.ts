// Prometheus metrics (prefix wtb_). Labels are bounded: route templates, configured account ids, WeChat errcodes.
// One registry per broker instance (not prom-client's global), so tests can run several brokers in one process.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { BrokerEvents, ForeignVia, LockResult, RefreshReason, ReportOutcome, TokenRequestResult } from "../broker/events";
import type { Trigger } from "../broker/policy";
import type { ErrClass, UpstreamEndpoint } from "../wechat/types";
import type { TicketType } from "../accounts";
import { LocalHistogram, type HistogramSeries } from "./localHistogram";
import { PendingCounts, type PendingSeries } from "./pendingCounts";
import { ProxyMetrics } from "./proxyMetrics";

const PREFIX = "wtb_";

// prom-client's default metrics include three gauges named `nodejs_active_*_total`, which promtool rejects (a
// `_total` suffix promises a counter). They are sums of the per-type gauges `nodejs_active_{handles,requests,
// resources}{type}` that prom-client also exports, so dropping them loses nothing: sum() gives the total.
const MISNAMED_DEFAULTS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

/** Why a request was refused by authentication or authorisation (a label of wtb_auth_failures_total). */
export type AuthFailureReason = "missing" | "malformed" | "invalid" | "forbidden";

export class Metrics implements BrokerEvents {
  readonly registry = new Registry();
  /** The token-injecting proxy's own series (calls relayed by WeChat API and outcome). */
  readonly proxy = new ProxyMetrics(this.registry);
  private readonly httpRequests: Counter<"method" | "route" | "status_code">;
  private readonly httpDuration: LocalHistogram<"method" | "route">;
  private readonly tokenRequests: Counter<"result">;
  private readonly accountTokenRequests: Counter<"account" | "result">;
  private readonly accountTokenDuration: LocalHistogram<"account">;
  private readonly upstreamCalls: Counter<"endpoint" | "errcode" | "errclass">;
  private readonly upstreamDuration: Histogram<"endpoint">;
  private readonly refreshes: Counter<"reason" | "result">;
  private readonly locks: Counter<"result">;
  private readonly fenced: Counter<"account">;
  private readonly expiry: Gauge<"account">;
  private readonly breakerOpen: Gauge<"account">;
  private readonly authFailures: Counter<"reason">;
  private readonly ceilingHits: Counter<"account" | "trigger">;
  private readonly reports: Counter<"account" | "outcome">;
  private readonly processErrors: Counter<"kind">;
  private readonly foreignRotations: Counter<"account" | "via">;
  private readonly ticketRequests: Counter<"type" | "result">;

  constructor(opts: { accounts: string[]; defaultMetrics?: boolean }) {
    const r = this.registry;
    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: r, prefix: PREFIX });
      for (const name of MISNAMED_DEFAULTS) r.removeSingleMetric(PREFIX + name);
    }
    const httpPending = this.httpPending;
    this.httpRequests = new Counter({
      name: `${PREFIX}http_requests_total`,
      help: "HTTP requests answered, by route template and status code.",
      labelNames: ["method", "route", "status_code"],
      registers: [r],
      collect: () => httpPending.flush(),
    });
    this.httpDuration = new LocalHistogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: "Time to answer HTTP requests, by route template.",
      labelNames: ["method", "route"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [r],
    });
    const tokenPending = this.tokenPending;
    this.tokenRequests = new Counter({
      name: `${PREFIX}token_requests_total`,
      help: "Token requests by result: hit (cached), miss (waited for a refresh), stale (served the still-valid token while the store or WeChat failed), error.",
      labelNames: ["result"],
      registers: [r],
      collect: () => tokenPending.flush(),
    });
    const accountPending = this.accountPending;
    this.accountTokenRequests = new Counter({
      name: `${PREFIX}account_token_requests_total`,
      help: "Token requests per configured account, by result (as wtb_token_requests_total).",
      labelNames: ["account", "result"],
      registers: [r],
      collect: () => accountPending.flush(),
    });
    this.accountTokenDuration = new LocalHistogram({
      name: `${PREFIX}account_token_request_duration_seconds`,
      help: "Time to answer GET /api/accounts/{accountId}/token, per configured account.",
      labelNames: ["account"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [r],
    });
    this.upstreamCalls = new Counter({
      name: `${PREFIX}upstream_requests_total`,
      help: "Calls to WeChat by endpoint, errcode (0 = success, none = no errcode) and error class.",
      labelNames: ["endpoint", "errcode", "errclass"],
      registers: [r],
    });
    this.upstreamDuration = new Histogram({
      name: `${PREFIX}upstream_request_duration_seconds`,
      help: "Duration of calls to WeChat.",
      labelNames: ["endpoint"],
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers: [r],
    });
    this.refreshes = new Counter({
      name: `${PREFIX}token_refreshes_total`,
      help: "Token refreshes by reason (ahead, expired, invalidated, forced, sync) and result.",
      labelNames: ["reason", "result"],
      registers: [r],
    });
    this.locks = new Counter({
      name: `${PREFIX}lock_acquisitions_total`,
      help: "Refresh lock acquisition attempts by result (acquired, contended, error).",
      labelNames: ["result"],
      registers: [r],
    });
    this.fenced = new Counter({
      name: `${PREFIX}fenced_writes_total`,
      help: "Token writes refused because a newer lock holder had written (the writer's lock had expired).",
      labelNames: ["account"],
      registers: [r],
    });
    this.expiry = new Gauge({
      name: `${PREFIX}token_expiry_timestamp_seconds`,
      help: "When the account's current token expires at WeChat (unix seconds); 0 when unknown.",
      labelNames: ["account"],
      registers: [r],
    });
    this.breakerOpen = new Gauge({
      name: `${PREFIX}breaker_open`,
      help: "1 while upstream calls for the account are paused after an error.",
      labelNames: ["account"],
      registers: [r],
    });
    this.authFailures = new Counter({
      name: `${PREFIX}auth_failures_total`,
      help: "Requests refused by authentication or authorisation, by reason.",
      labelNames: ["reason"],
      registers: [r],
    });
    this.processErrors = new Counter({
      name: `${PREFIX}process_errors_total`,
      help: "Errors nothing handled, by kind: unhandled_rejection (logged; the broker keeps running) or uncaught_exception (logged; the process then exits). Any increase is a bug to report.",
      labelNames: ["kind"],
      registers: [r],
    });

    this.ceilingHits = new Counter({
      name: `${PREFIX}upstream_ceiling_hits_total`,
      help: "Upstream token calls refused by the per-account ceiling (UPSTREAM_CALLS_PER_MINUTE), by the trigger that wanted them (miss, ahead, report, sync, force).",
      labelNames: ["account", "trigger"],
      registers: [r],
    });
    this.reports = new Counter({
      name: `${PREFIX}report_outcomes_total`,
      help: "Callers' reports of rejected tokens by outcome: refreshed, already_replaced, still_valid (WeChat accepts it), unverified (could not check), rate_limited.",
      labelNames: ["account", "outcome"],
      registers: [r],
    });
    this.foreignRotations = new Counter({
      name: `${PREFIX}foreign_rotations_total`,
      help: "Tokens the broker held that died before any rotation of its own: another system fetched a token for the AppID. By account and how it was noticed (probe, report, proxy).",
      labelNames: ["account", "via"],
      registers: [r],
    });

    this.ticketRequests = new Counter({
      name: `${PREFIX}ticket_requests_total`,
      help: "JS-SDK ticket requests (the ticket and jssdk-config routes) by ticket type and result: hit, miss, stale, error.",
      labelNames: ["type", "result"],
      registers: [r],
    });

    // Export known series up front, so dashboards and alerts see 0 rather than nothing.
    for (const result of ["hit", "miss", "stale", "error"] as const) this.tokenRequests.inc({ result }, 0);
    for (const result of ["acquired", "contended", "error"] as const) this.locks.inc({ result }, 0);
    for (const reason of ["missing", "malformed", "invalid", "forbidden"] as const) this.authFailures.inc({ reason }, 0);
    for (const kind of ["unhandled_rejection", "uncaught_exception"] as const) this.processErrors.inc({ kind }, 0);
    for (const account of opts.accounts) {
      for (const result of ["hit", "miss", "stale", "error"] as const) this.accountTokenRequests.inc({ account, result }, 0);
      this.accountDurations.set(account, this.accountTokenDuration.series({ account }));
      this.breakerOpen.set({ account }, 0);
      this.fenced.inc({ account }, 0);
      this.ceilingHits.inc({ account, trigger: "report" }, 0);
      for (const via of ["probe", "report", "proxy"] as const) this.foreignRotations.inc({ account, via }, 0);
    }
  }

  // ---- BrokerEvents ----
  ticketRequest(_accountId: string, type: TicketType, result: TokenRequestResult): void {
    this.ticketRequests.inc({ type, result });
  }
  tokenRequest(accountId: string, result: TokenRequestResult): void {
    // Hot path: plain increments (pendingCounts.ts); each series is looked up once, by its parts (a key string built
    // per hit showed in profiles). Only ids the service accepted get here (bounded).
    let total = this.tokenSeries.get(result);
    if (total === undefined) this.tokenSeries.set(result, (total = this.tokenPending.series({ result })));
    total.n++;
    let account = this.accountSeries.get(accountId);
    if (account === undefined) this.accountSeries.set(accountId, (account = new Map()));
    let c = account.get(result);
    if (c === undefined) account.set(result, (c = this.accountPending.series({ account: accountId, result })));
    c.n++;
  }
  private readonly tokenPending = new PendingCounts(() => this.tokenRequests);
  private readonly accountPending = new PendingCounts(() => this.accountTokenRequests);
  private readonly tokenSeries = new Map<TokenRequestResult, PendingSeries>();
  private readonly accountSeries = new Map<string, Map<TokenRequestResult, PendingSeries>>();

  /** Latency of one answered token GET, for configured accounts only (the label set stays bounded). */
  observeAccountToken(accountId: string, seconds: number): void {
    this.accountDurations.get(accountId)?.observe(seconds);
  }
  private readonly accountDurations = new Map<string, HistogramSeries>();
  upstreamCall(endpoint: UpstreamEndpoint, o: { errcode?: number; errclass?: ErrClass; ok: boolean }, seconds: number): void {
    this.upstreamCalls.inc({
      endpoint,
      errcode: o.ok ? "0" : o.errcode !== undefined ? String(o.errcode) : "none",
      errclass: o.ok ? "ok" : (o.errclass ?? "unknown"),
    });
    this.upstreamDuration.observe({ endpoint }, seconds);
  }
  refresh(_accountId: string, reason: RefreshReason, ok: boolean): void {
    this.refreshes.inc({ reason, result: ok ? "ok" : "error" });
  }
  lockAcquire(result: LockResult): void {
    this.locks.inc({ result });
  }
  fencedWrite(accountId: string): void {
    this.fenced.inc({ account: accountId });
  }
  tokenExpiry(accountId: string, expiresAtMs: number | null): void {
    this.expiry.set({ account: accountId }, expiresAtMs === null ? 0 : Math.round(expiresAtMs / 1000));
  }
  breaker(accountId: string, open: boolean): void {
    this.breakerOpen.set({ account: accountId }, open ? 1 : 0);
  }

  ceilingHit(accountId: string, trigger: Trigger): void {
    this.ceilingHits.inc({ account: accountId, trigger });
  }
  report(accountId: string, outcome: ReportOutcome): void {
    this.reports.inc({ account: accountId, outcome });
  }
  foreignRotation(accountId: string, via: ForeignVia): void {
    this.foreignRotations.inc({ account: accountId, via });
  }

  // ---- authentication (http/auth.ts AuthEvents) ----
  authFailure(reason: AuthFailureReason): void {
    this.authFailures.inc({ reason });
  }

  /** An error that reached the process-level handlers (src/processGuard.ts). */
  processError(kind: "unhandled_rejection" | "uncaught_exception"): void {
    this.processErrors.inc({ kind });
  }

  /** Counts and times one answered HTTP request by its route template (never the raw URL: unbounded; "unmatched"
   * when no route took it). The label sets are few (methods × route templates × status codes), so each series is
   * looked up once and kept, by route, method and status in turn (strings the caller already holds, and a number):
   * no label objects, label hashing or key strings per request on the hot path. */
  observeHttp(method: string, route: string, status: number, seconds: number): void {
    let byMethod = this.httpSeries.get(route);
    if (byMethod === undefined) this.httpSeries.set(route, (byMethod = new Map()));
    let s = byMethod.get(method);
    if (s === undefined) byMethod.set(method, (s = { time: this.httpDuration.series({ method, route }), byStatus: new Map() }));
    let count = s.byStatus.get(status);
    if (count === undefined) s.byStatus.set(status, (count = this.httpPending.series({ method, route, status_code: String(status) })));
    count.n++;
    s.time.observe(seconds);
  }
  private readonly httpPending = new PendingCounts(() => this.httpRequests);
  private readonly httpSeries = new Map<string, Map<string, { time: HistogramSeries; byStatus: Map<number, PendingSeries> }>>();

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
