// createApp(deps): the express app from injected parts. No listen here (src/server.ts does that), no domain logic
// (handlers call TokenService), and one error handler at the end.
import express, { type Express, type RequestHandler, type Router } from "express";
import { randomUUID } from "node:crypto";
import pinoHttp from "pino-http";
import type { TokenService } from "../broker/tokenService";
import type { Logger } from "../logger";
import type { TokenStore } from "../store/types";
import { Authenticator } from "./auth";
import { errorHandler, notFound } from "./errors";
import { healthRoutes } from "./routes/health";
import { tokenRoutes } from "./routes/token";

export interface AppDeps {
  service: TokenService;
  store: TokenStore;
  auth: Authenticator;
  logger: Logger;
  version: string;
  startedAt?: number;
  /** Routers added by the operations surface (diagnosis, locks, sync, metrics). */
  extraRouters?: Router[];
  /** Middleware that runs first for every request (e.g. HTTP metrics). */
  before?: RequestHandler[];
}

const QUIET_PATHS = new Set(["/api/health/live", "/api/health/ready", "/metrics"]);
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("query parser", "simple");

  for (const mw of deps.before ?? []) app.use(mw);

  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const given = req.headers["x-request-id"];
        const id = typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
        res.setHeader("X-Request-Id", id);
        return id;
      },
      autoLogging: { ignore: (req) => QUIET_PATHS.has((req.url ?? "").split("?")[0] ?? "") },
      // Token hits are the hot path: at the production level (info) only problems are logged per request.
      // 503s for upstream problems are logged once, with their cause, by the broker; unexpected errors by the
      // error handler. The request line itself stays a warning, with no synthetic error or stack.
      customLogLevel: (_req, res) => (res.statusCode >= 400 ? "warn" : "debug"),
      customErrorObject: (_req, _res, _err, val: Record<string, unknown>) => ({ res: val.res, responseTime: val.responseTime }),
      customErrorMessage: (_req, res) => `request failed with status ${res.statusCode}`,
      serializers: {
        req: (req: { id?: unknown; method?: string; url?: string }) => ({ id: req.id, method: req.method, path: (req.url ?? "").split("?")[0] }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      },
      wrapSerializers: false,
    }),
  );

  // No body parser here: the routes that take a JSON body parse it themselves, after authentication (params.ts
  // parseJson). A parser for every request would answer 400/413 about bodies nobody reads (a liveness probe, a GET)
  // and would parse and inflate what unauthenticated callers send.

  app.use(healthRoutes({ store: deps.store, version: deps.version, startedAt: deps.startedAt ?? Date.now(), accounts: deps.service.accountIds().length }));
  app.use(tokenRoutes(deps.service, deps.auth));
  for (const r of deps.extraRouters ?? []) app.use(r);

  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
