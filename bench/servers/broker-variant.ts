// The broker's HTTP stack with one part changed at a time, for the ablation benchmark (and BENCH_PROFILE_VARIANT /
// BENCH_STORM_VARIANT): which part of the hot path costs what. Everything is the real code, loaded from BENCH_SRC
// (the compiled build, or src/ under tsx) and built by the composition root as src/server.ts builds it
// (loadConfig → buildCore → createApp), minus TLS and the refresh scheduler, which the hot path never touches. A
// variant serves the same route table with one of the route services changed. BENCH_VARIANT is a comma-separated
// list of (none: as served):
//   no-fast-path     the express app alone, without the fast path in front: what going through express costs
//   no-http-metrics  the routes' observeHttp a no-op
//   no-auth          API keys not required (loopback only; Authenticator([], false))
//   bare-listener    the core built and running (Redis connections, timers, metrics) but requests answered as
//                    bench/servers/bare-http.ts answers them: what the broker's process, not its code, costs a hit
import { createServer, type RequestListener, type Server } from "node:http";
import { join } from "node:path";

type AppModule = typeof import("../../src/http/app");
type FastPathModule = typeof import("../../src/http/fastPath");
type CoreModule = typeof import("../../src/core");
type ConfigModule = typeof import("../../src/config");
type AuthModule = typeof import("../../src/http/auth");
type LoggerModule = typeof import("../../src/logger");
type VersionModule = typeof import("../../src/version");

const FLAGS = ["no-fast-path", "no-http-metrics", "no-auth", "bare-listener"];

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
  const { createApp, expressFromRoutes } = load<AppModule>("http/app");
  const { withFastPath } = load<FastPathModule>("http/fastPath");
  const { Authenticator } = load<AuthModule>("http/auth");
  const { createLogger } = load<LoggerModule>("logger");
  const { version } = load<VersionModule>("version");

  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel });
  const core = buildCore(config, logger);
  const app = createApp(core, { version });
  let listener: RequestListener = app.listener;
  if (flags.has("bare-listener")) listener = bareListener(Buffer.from(process.env.BENCH_BODY ?? "{}", "utf8"));
  else if (flags.size > 0) {
    const services = {
      ...app.services,
      ...(flags.has("no-auth") ? { auth: new Authenticator([], false, core.metrics) } : {}),
      ...(flags.has("no-http-metrics") ? { metrics: { observeHttp: () => {} } } : {}),
    };
    const express = expressFromRoutes(app.routes, services);
    listener = flags.has("no-fast-path") ? express : withFastPath(express, app.routes, services);
  }

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

/** bench/servers/bare-http.ts's answer to every request. */
function bareListener(body: Buffer): RequestListener {
  const headers = { "Content-Type": "application/json; charset=utf-8", "Content-Length": String(body.length), "Cache-Control": "no-store" };
  return (_req, res) => {
    res.writeHead(200, headers);
    res.end(body);
  };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
