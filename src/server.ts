// Binds a broker to the network: the core (src/core.ts) and the app's routes from the configuration, then listening,
// TLS, timeouts, client errors and graceful shutdown. Behaviour lives in the modules it wires.
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Config } from "./config";
import { describeConfig } from "./config";
import type { Logger } from "./logger";
import { createApp } from "./http/app";
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
  const { listener } = createApp(core, { version, startedAt: Date.now() });

  // Node enforces headersTimeout/requestTimeout only when it sweeps its connections (every 30 s by default): sweep
  // every second so a slow-loris client is cut off near the timeout, not up to 30 s later.
  const sweep = { connectionsCheckingInterval: 1_000 };
  const server: Server = config.tls
    ? createHttpsServer(
        {
          ...("pfx" in config.tls
            ? { pfx: config.tls.pfx, passphrase: config.tls.passphrase }
            : { cert: config.tls.cert, key: config.tls.key }),
          ...sweep,
        },
        listener,
      )
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
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
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

  core.scheduler.start();
  core.watch.start();

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
      core.scheduler.stop();
      await core.watch.stop();
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
