// The broker's HTTP stack with one part changed at a time, for the ablation benchmark (and BENCH_PROFILE_VARIANT /
// BENCH_STORM_VARIANT): which part of the hot path costs what. Everything is the real code (configuration,
// TokenService, Redis store, createApp, withFastToken, routes, auth, metrics), loaded from BENCH_SRC (the compiled
// build, or src/ under tsx), wired as src/server.ts wires it minus TLS and the refresh scheduler, which the hot path
// never touches. BENCH_VARIANT is a comma-separated list of (none: as served):
//   no-fast-path     the express app alone, without withFastToken in front: what going through express costs
//   no-http-metrics  Metrics.httpMiddleware() left out, and the fast path's observeHttp a no-op
//   no-auth          API keys not required (loopback only; Authenticator([], false))
// There is no "no request logging" variant: createApp always mounts requestLog (the routes' logFor needs it) and the
// fast path always sets the request id, so leaving it out would mean patching src/ modules.
import { createServer, type RequestListener, type Server } from "node:http";
import { join } from "node:path";
import type { RequestHandler } from "express";

type AppModule = typeof import("../../src/http/app");
type FastTokenModule = typeof import("../../src/http/fastToken");
type CoreModule = typeof import("../../src/core");
type ConfigModule = typeof import("../../src/config");
type AuthModule = typeof import("../../src/http/auth");
type LoggerModule = typeof import("../../src/logger");
type VersionModule = typeof import("../../src/version");
type MetricsRouteModule = typeof import("../../src/ops/metricsRoute");
type SyncRouteModule = typeof import("../../src/http/routes/sync");
type DiagnosisRouteModule = typeof import("../../src/http/routes/diagnosis");
type LockRouteModule = typeof import("../../src/http/routes/locks");
type DiagnosisModule = typeof import("../../src/ops/diagnosis");
type LocksModule = typeof import("../../src/ops/locks");
type OpsGaugesModule = typeof import("../../src/ops/opsGauges");

const FLAGS = ["no-fast-path", "no-http-metrics", "no-auth"];

const src = process.env.BENCH_SRC;
if (!src) throw new Error("BENCH_SRC must name the compiled dist/ directory or src/");
const flags = new Set((process.env.BENCH_VARIANT ?? "").split(",").filter((f) => f !== ""));
// Fail loudly: a misspelt (or retired) flag would otherwise measure the as-served broker under another name.
for (const f of flags) if (!FLAGS.includes(f)) throw new Error(`BENCH_VARIANT: unknown flag "${f}" (known: ${FLAGS.join(", ")})`);
// The modules live where the runtime put them (compiled or source), known only at run time.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = <T>(rel: string): T => require(join(src, rel)) as T;

async function main(): Promise<void> {
  const { loadConfig } = load<ConfigModule>("config");
  const { buildCore } = load<CoreModule>("core");
  const { createApp } = load<AppModule>("http/app");
  const { withFastToken } = load<FastTokenModule>("http/fastToken");
  const { Authenticator } = load<AuthModule>("http/auth");
  const { createLogger } = load<LoggerModule>("logger");
  const { version } = load<VersionModule>("version");
  const { metricsRoutes } = load<MetricsRouteModule>("ops/metricsRoute");
  const { syncRoutes } = load<SyncRouteModule>("http/routes/sync");
  const { diagnosisRoutes } = load<DiagnosisRouteModule>("http/routes/diagnosis");
  const { lockRoutes } = load<LockRouteModule>("http/routes/locks");
  const { diagnosisFromCore } = load<DiagnosisModule>("ops/diagnosis");
  const { locksFromCore } = load<LocksModule>("ops/locks");
  const { registerOpsGauges } = load<OpsGaugesModule>("ops/opsGauges");

  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel });
  const core = buildCore(config, logger);
  const auth = flags.has("no-auth") ? new Authenticator([], false, core.metrics) : new Authenticator(config.auth.apiKeys, config.auth.required, core.metrics);
  // As startBroker, without a scheduler (so no planned refresh times in the diagnosis).
  const locks = locksFromCore(core);
  const diagnosis = diagnosisFromCore(core, { version, locks });
  registerOpsGauges(core.metrics.registry, { store: core.store, locks, accounts: config.accounts });
  const before: RequestHandler[] = flags.has("no-http-metrics") ? [] : [core.metrics.httpMiddleware()];
  const app = createApp({
    service: core.service,
    store: core.store,
    auth,
    logger,
    version,
    before,
    extraRouters: [syncRoutes(core.service, auth), diagnosisRoutes({ diagnosis, auth }), lockRoutes({ locks, auth }), metricsRoutes(core.metrics)],
  });
  const metrics = flags.has("no-http-metrics") ? { observeHttp: () => {} } : core.metrics;
  const listener: RequestListener = flags.has("no-fast-path") ? app : withFastToken(app, { service: core.service, auth, metrics, logger });

  // Same server settings as startBroker (the connection sweep is a timer that runs under load too).
  const server: Server = createServer({ connectionsCheckingInterval: 1_000 }, listener);
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
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
