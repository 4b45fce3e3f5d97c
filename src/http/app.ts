// createApp(deps): the express app from injected parts. No listen here (src/server.ts does that), no domain logic
// (handlers call TokenService), and one error handler at the end.
import express, { type Express, type RequestHandler, type Router } from "express";
import type { TokenService } from "../broker/tokenService";
import type { Logger } from "../logger";
import type { TokenStore } from "../store/types";
import { Authenticator } from "./auth";
import { errorHandler, notFound } from "./errors";
import { requestLog } from "./requestLog";
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

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("query parser", "simple");

  for (const mw of deps.before ?? []) app.use(mw);

  // Per-request lines only for problems at the production level (info); see requestLog.ts.
  app.use(requestLog({ logger: deps.logger, quiet: QUIET_PATHS }));

  // No body parser here: the routes that take a JSON body parse it themselves, after authentication (params.ts
  // parseJson). A parser for every request would answer 400/413 about bodies nobody reads (a liveness probe, a GET)
  // and would parse and inflate what unauthenticated callers send.

  app.use(healthRoutes({ store: deps.store, version: deps.version, startedAt: deps.startedAt ?? Date.now(), accounts: deps.service.accountIds().length, accountIds: () => deps.service.accountIds() }));
  app.use(tokenRoutes(deps.service, deps.auth));
  for (const r of deps.extraRouters ?? []) app.use(r);

  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
