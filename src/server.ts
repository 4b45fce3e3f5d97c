// Wires the real parts from the configuration and listens. Everything here is assembly; behaviour lives in the
// modules it wires. Tests use createApp/TokenService directly, or run this through the CLI as a real process.
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { hostname } from "node:os";
import type { AddressInfo } from "node:net";
import type { Config } from "./config";
import { describeConfig } from "./config";
import type { Logger } from "./logger";
import { TokenService } from "./broker/tokenService";
import { RefreshScheduler } from "./broker/scheduler";
import { createApp } from "./http/app";
import { withFastToken } from "./http/fastToken";
import { Authenticator } from "./http/auth";
import { Metrics } from "./ops/metrics";
import { metricsRoutes } from "./ops/metricsRoute";
import { syncRoutes } from "./http/routes/sync";
import { diagnosisRoutes } from "./http/routes/diagnosis";
import { lockRoutes } from "./http/routes/locks";
import { ticketRoutes } from "./http/routes/ticket";
import { diagnosisFromCore } from "./ops/diagnosis";
import { locksFromCore } from "./ops/locks";
import { registerOpsGauges } from "./ops/opsGauges";
import { StoreOutageLog } from "./ops/storeOutageLog";
import { MemoryRefreshLock } from "./lock/memoryLock";
import { RedisRefreshLock } from "./lock/redisLock";
import type { RefreshLock } from "./lock/types";
import { MemoryTokenStore } from "./store/memoryStore";
import { RedisTokenStore } from "./store/redisStore";
import { createRedisClient, duplicateRedisClient, type RedisClient } from "./store/redisClient";
import type { TokenStore } from "./store/types";
import { WeChatClient } from "./wechat/client";
import { type AdoptionRecords, MemoryAdoptionRecords, RedisAdoptionRecords } from "./store/adoptionRecords";
import { trackPreviousTokens } from "./store/previousTokens";
import { recordingForeignRotations } from "./broker/foreignRecords";
import { IssuedTokens } from "./broker/issuedTokens";
import { ForeignFetchWatch } from "./broker/foreignWatch";
import { compatRoutes } from "./http/routes/compat";
import { proxyRoutes } from "./http/proxy";
import { ProxyMetrics } from "./ops/proxyMetrics";
import { version } from "./version";

/** The domain parts of one broker, without HTTP: what `serve`, `sync`, `diagnose` and `locks` share. */
export interface Core {
  config: Config;
  service: TokenService;
  store: TokenStore;
  lock: RefreshLock;
  wechat: WeChatClient;
  metrics: Metrics;
  /** The command connection in Redis mode, one server or a Cluster (lock listings and cleanup use it). */
  redis: RedisClient | null;
  replicaId: string;
  /** The logger of the parts that retry against the store: a Redis outage is one line, summaries, one line. */
  log: Logger;
  /** Issue 13: previous tokens, the token index, foreign rotations, probe slots. */
  records: AdoptionRecords;
  /** Which tokens the broker stands behind (the proxy's admission). */
  issued: IssuedTokens;
  close(): Promise<void>;
}

export function buildCore(config: Config, rootLogger: Logger, opts: { defaultMetrics?: boolean; outageSummaryMs?: number } = {}): Core {
  const replicaId = `${hostname().replace(/[^A-Za-z0-9_.:@-]/g, "-").slice(0, 60)}-${process.pid}`;
  const outage = config.redis ? new StoreOutageLog(rootLogger, { summaryEveryMs: opts.outageSummaryMs }) : null;
  const logger = outage?.logger ?? rootLogger;
  const wechat = new WeChatClient({ wechatApiBase: config.wechatApiBase, wecomApiBase: config.wecomApiBase, timeoutMs: config.upstreamTimeoutMs, logger });
  let store: TokenStore;
  let lock: RefreshLock;
  let redis: RedisClient | null = null;
  if (config.redis) {
    redis = createRedisClient(config.redis, logger);
    const subscriber = duplicateRedisClient(redis, logger);
    outage!.watch(redis);
    outage!.watch(subscriber);
    store = new RedisTokenStore({ redis, subscriber, keyPrefix: config.keyPrefix, logger });
    lock = new RedisRefreshLock({ redis, replicaId, keyPrefix: config.keyPrefix, logger });
  } else {
    store = new MemoryTokenStore();
    lock = new MemoryRefreshLock();
  }
  const metrics = new Metrics({ accounts: config.accounts.map((a) => a.id), defaultMetrics: opts.defaultMetrics });
  const records: AdoptionRecords = redis ? new RedisAdoptionRecords(redis, config.keyPrefix) : new MemoryAdoptionRecords();
  const service = new TokenService({
    accounts: config.accounts,
    // The token index and previous tokens are kept by a decorator; foreign rotations are recorded for the diagnosis.
    store: trackPreviousTokens(store, { records, overlapMs: config.wechatOverlapSec * 1000, logger }),
    lock,
    wechat,
    logger,
    events: recordingForeignRotations(metrics, records, logger),
    options: {
      safetyMarginMs: config.tokenSafetyMarginSec * 1000,
      classicRefreshAheadMs: config.classicRefreshAheadSec * 1000,
      stableRefreshAheadMs: config.stableRefreshAheadSec * 1000,
      localCacheTtlMs: config.localCacheTtlMs,
      lockTtlMs: config.lockTtlMs,
      upstreamTimeoutMs: config.upstreamTimeoutMs,
      waitForRefreshMs: config.lockTtlMs + config.upstreamTimeoutMs,
      forcePerDay: config.forceRefreshPerDay,
      forceMinIntervalMs: config.forceRefreshMinIntervalSec * 1000,
      upstreamCallsPerMinute: config.upstreamCallsPerMinute,
      reportChecksPerMinute: config.reportChecksPerMinute,
      reportChecksPerKeyPerMinute: config.reportChecksPerKeyPerMinute,
      refetchFloorMs: config.refetchFloorSec * 1000,
      overlapMs: config.wechatOverlapSec * 1000,
    },
  });
  return {
    config,
    service,
    store,
    lock,
    wechat,
    metrics,
    redis,
    replicaId,
    log: logger,
    records,
    issued: new IssuedTokens({ store, records, accountIds: () => service.accountIds() }),
    close: async () => {
      await service.drain();
      service.close();
      await store.close();
      wechat.close();
      outage?.close();
    },
  };
}

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
