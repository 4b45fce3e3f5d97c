// Binds a broker to the network: the core (src/core.ts) and the app's routes from the configuration, then listening,
// TLS, timeouts, client errors and graceful shutdown. Behaviour lives in the modules it wires.
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Config } from "./config";
import { describeConfig } from "./config";
import type { Logger } from "./logger";
import { RefreshScheduler } from "./broker/scheduler";
import { createApp } from "./http/app";
import { withFastToken } from "./http/fastToken";
import { Authenticator } from "./http/auth";
import { metricsRoutes } from "./ops/metricsRoute";
import { syncRoutes } from "./http/routes/sync";
import { diagnosisRoutes } from "./http/routes/diagnosis";
import { lockRoutes } from "./http/routes/locks";
import { ticketRoutes } from "./http/routes/ticket";
import { diagnosisFromCore } from "./ops/diagnosis";
import { locksFromCore } from "./ops/locks";
import { registerOpsGauges } from "./ops/opsGauges";
import { ForeignFetchWatch } from "./broker/foreignWatch";
import { compatRoutes } from "./http/routes/compat";
import { proxyRoutes } from "./http/proxy";
import { ProxyMetrics } from "./ops/proxyMetrics";
import { version } from "./version";
import { buildCore, type Core } from "./core";

export interface RunningBroker {
  url: string;
  port: number;
  core: Core;
  /** Graceful: stop accepting, finish in-flight requests and refreshes (releasing their locks), close Redis. */
  close(): Promise<void>;
}

export async function startBroker(config: Config, logger: Logger, opts: { outageSummaryMs?: number } = {}): Promise<RunningBroker> {
  const core = buildCore(config, logger, { outageSummaryMs: opts.outageSummaryMs });
  const startedAt = Date.now();
  const auth = new Authenticator(config.auth.apiKeys, config.auth.required, core.metrics);
  // Created before the app so the diagnosis can show planned refresh times; started once listening.
  const scheduler = new RefreshScheduler(core.service, core.log);
  const locks = locksFromCore(core);
  const diagnosis = diagnosisFromCore(core, { version, locks, plannedAt: (id) => scheduler.plannedAt(id) });
  registerOpsGauges(core.metrics.registry, { store: core.store, locks, accounts: config.accounts, forcePerDay: config.forceRefreshPerDay });
  const app = createApp({
    service: core.service,
    store: core.store,
    auth,
    logger,
    version,
    startedAt,
    before: [core.metrics.httpMiddleware()],
    extraRouters: [
      syncRoutes(core.service, auth),
      ticketRoutes(core.service, auth),
      diagnosisRoutes({ diagnosis, auth }),
      lockRoutes({ locks, auth }),
      metricsRoutes(core.metrics),
      // Issue 13: WeChat-compatible token endpoints, then the token-injecting proxy for the other WeChat paths.
      compatRoutes({ service: core.service, auth, issued: core.issued }),
      proxyRoutes({
        service: core.service,
        issued: core.issued,
        wechatApiBase: config.wechatApiBase,
        wecomApiBase: config.wecomApiBase,
        prefixes: config.adoption.proxyPathPrefixes,
        bodyKeepBytes: config.adoption.proxyBodyKeepBytes,
        timeoutMs: config.adoption.proxyTimeoutMs,
        metrics: new ProxyMetrics(core.metrics.registry),
        logger,
      }),
    ],
  });
  const watch = new ForeignFetchWatch({
    service: core.service,
    store: core.store,
    wechat: core.wechat,
    records: core.records,
    logger,
    intervalMs: config.adoption.foreignProbeIntervalSec * 1000,
  });

  // Node enforces headersTimeout/requestTimeout only when it sweeps its connections (every 30 s by default): sweep
  // every second so a slow-loris client is cut off near the timeout, not up to 30 s later.
  const sweep = { connectionsCheckingInterval: 1_000 };
  const listener = withFastToken(app, { service: core.service, auth, metrics: core.metrics, logger });
  const server: Server = config.tls
    ? createHttpsServer({ ...("pfx" in config.tls ? { pfx: config.tls.pfx, passphrase: config.tls.passphrase } : { cert: config.tls.cert, key: config.tls.key }), ...sweep }, listener)
    : createHttpServer(sweep, listener);
  // Requests Node's own parser rejects (bad bytes in the path, oversized headers) never reach express: answer
  // them in the documented error shape instead of Node's bare "400 Bad Request".
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || err.code === "ECONNRESET") return socket.destroy();
    const tooLarge = err.code === "HPE_HEADER_OVERFLOW";
    const status = tooLarge ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const body = JSON.stringify({
      error: tooLarge
        ? { code: "headers_too_large", message: "The request headers are too large." }
        : { code: "bad_request", message: "The request could not be parsed as HTTP (malformed request line, path or headers)." },
    });
    const reason = tooLarge ? "Request Header Fields Too Large" : status === 408 ? "Request Timeout" : "Bad Request";
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  // Slow or stuck clients must not hold sockets forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = config.tls ? "https" : "http";
  const url = `${scheme}://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;

  scheduler.start();
  watch.start();

  logger.info({ config: describeConfig(config), url, version, replicaId: core.replicaId }, "wechat-token-broker listening");
  for (const w of config.warnings) logger.warn(w);
  if (!config.auth.required) {
    logger.warn(
      { host: config.host },
      "NO API KEYS CONFIGURED: tokens are served WITHOUT authentication, on a loopback address only. Configure API_KEYS or API_KEYS_FILE before exposing the broker.",
    );
  }

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      logger.info("shutting down: finishing in-flight requests");
      scheduler.stop();
      await watch.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs).unref());
      await Promise.race([closed, timeout]);
      server.closeAllConnections();
      await core.close();
      logger.info("shut down");
    })());

  return { url, port, core, close };
}
