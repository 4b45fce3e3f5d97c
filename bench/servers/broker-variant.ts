// The broker's HTTP app with one part changed at a time, for the ablation benchmark: which part of the hot path costs
// what. Everything is the real code (configuration, TokenService, Redis store, createApp, routes, auth, metrics),
// loaded from BENCH_SRC (the compiled build, or src/ under tsx), wired as src/server.ts wires it (minus TLS and the
// refresh scheduler, which the hot path never touches). BENCH_VARIANT is a comma-separated list of:
//   no-request-log   pino-http replaced by a pass-through (what request logging costs in all)
//   lean-request-log pino-http replaced by bench/proposals/requestLog.ts
//   no-http-metrics  Metrics.httpMiddleware() left out
//   no-auth          API keys not required (loopback only; the Authenticator returns the loopback operator)
//   token-first      lean request logging and the token routes mounted first (before the health routes), as
//                    createApp could mount them; pino-http's place is then a pass-through
//   fast-path        GET /api/accounts/{id}/token answered before express when authorised and cached locally
//                    (bench/proposals/fastToken.ts); everything else goes to the app as before
//   lock-error-waits a failed lock acquisition (e.g. a command timeout) is treated like a contended lock — wait for
//                    the other replicas' refresh and look again — instead of failing every caller joined to the refresh
import { createServer, type RequestListener } from "node:http";
import { join } from "node:path";
import type { RequestHandler } from "express";
import type { Counter, Histogram } from "prom-client";
import { requestLog, type RequestLogOptions } from "../proposals/requestLog";
import { fastToken } from "../proposals/fastToken";

type AppModule = typeof import("../../src/http/app");
type ServerModule = typeof import("../../src/server");
type ConfigModule = typeof import("../../src/config");
type AuthModule = typeof import("../../src/http/auth");
type LoggerModule = typeof import("../../src/logger");
type MetricsRouteModule = typeof import("../../src/ops/metricsRoute");
type SyncRouteModule = typeof import("../../src/http/routes/sync");
type TokenRouteModule = typeof import("../../src/http/routes/token");
type TimingModule = typeof import("../../src/broker/timing");
type StoredToken = import("../../src/store/types").StoredToken;

const src = process.env.BENCH_SRC;
if (!src) throw new Error("BENCH_SRC must name the compiled dist/ directory or src/");
const flags = new Set((process.env.BENCH_VARIANT ?? "").split(",").filter((f) => f !== ""));
// The modules live where the runtime put them (compiled or source), known only at run time.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = <T>(rel: string): T => require(join(src, rel)) as T;

type PinoHttpOptions = RequestLogOptions & { autoLogging?: { ignore?: RequestLogOptions["ignore"] } };
/** The options createApp passes to pino-http, kept for the token-first variant's own logger. */
let captured: PinoHttpOptions | undefined;

// createApp imports pino-http by name; replacing the module in the require cache swaps it without touching src/.
if (flags.has("no-request-log") || flags.has("lean-request-log") || flags.has("token-first")) {
  const key = require.resolve("pino-http", { paths: [join(src, "http")] });
  const factory = (opts: PinoHttpOptions): RequestHandler => {
    captured = opts;
    if (flags.has("no-request-log") || flags.has("token-first")) return (_req, _res, next) => next();
    return requestLog({ logger: opts.logger, genReqId: opts.genReqId, ignore: opts.autoLogging?.ignore });
  };
  require.cache[key] = { id: key, filename: key, loaded: true, exports: factory } as unknown as NodeModule;
}

async function main(): Promise<void> {
  const { loadConfig } = load<ConfigModule>("config");
  const { buildCore } = load<ServerModule>("server");
  const { createApp } = load<AppModule>("http/app");
  const { Authenticator } = load<AuthModule>("http/auth");
  const { createLogger } = load<LoggerModule>("logger");
  const { metricsRoutes } = load<MetricsRouteModule>("ops/metricsRoute");
  const { syncRoutes } = load<SyncRouteModule>("http/routes/sync");
  const { tokenRoutes, tokenJson } = load<TokenRouteModule>("http/routes/token");

  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel });
  const core = buildCore(config, logger);
  if (flags.has("lock-error-waits")) {
    const lock = core.lock;
    const tryAcquire = lock.tryAcquire.bind(lock);
    lock.tryAcquire = (id, ttlMs) => tryAcquire(id, ttlMs).catch(() => null);
  }
  const auth = flags.has("no-auth") ? new Authenticator([], false, core.metrics) : new Authenticator(config.auth.apiKeys, config.auth.required, core.metrics);
  let before: RequestHandler[] = [core.metrics.httpMiddleware()];
  if (flags.has("no-http-metrics")) before = [];
  if (flags.has("token-first")) {
    // Built lazily: createApp hands its pino-http options over below, before any request arrives.
    let log: RequestHandler | undefined;
    const lazyLog: RequestHandler = (req, res, next) => {
      log ??= requestLog({ logger: captured!.logger, genReqId: captured!.genReqId, ignore: captured!.autoLogging?.ignore });
      log(req, res, next);
    };
    before = [...before, lazyLog, tokenRoutes(core.service, auth)];
  }
  const app = createApp({ service: core.service, store: core.store, auth, logger, version: "bench", before, extraRouters: [syncRoutes(core.service, auth), metricsRoutes(core.metrics)] });
  let handler: RequestListener = app;
  if (flags.has("fast-path")) {
    const r = core.metrics.registry;
    const service = core.service;
    // Stand-in for the proposed TokenService.cachedToken(): a local-cache hit, read from the service's private map
    // with the same test getToken applies first (not expired locally, servable).
    const { servable } = load<TimingModule>("broker/timing");
    const local = (service as unknown as { local: Map<string, { token: StoredToken; cachedAt: number }> }).local;
    const events = core.metrics;
    const fast = fastToken({
      service,
      auth,
      logger,
      tokenJson,
      httpRequests: r.getSingleMetric("wtb_http_requests_total") as Counter<"method" | "route" | "status_code">,
      httpDuration: r.getSingleMetric("wtb_http_request_duration_seconds") as Histogram<"method" | "route">,
      cachedToken: (accountId) => {
        const cached = local.get(accountId);
        const now = Date.now();
        if (!cached || now - cached.cachedAt >= service.options.localCacheTtlMs || !servable(cached.token, now, service.options)) return undefined;
        events.tokenRequest(accountId, "hit");
        return service.view(accountId, cached.token, now);
      },
    });
    handler = (req, res) => fast(req, res, () => app(req, res));
  }
  const server = createServer(handler);
  server.keepAliveTimeout = 5_000;
  server.listen(config.port, config.host);
  process.once("SIGTERM", () => {
    server.close();
    server.closeAllConnections();
    void core.close().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
