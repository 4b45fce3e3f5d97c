// createApp(core): the broker's HTTP surface built from its core. Every route comes from the one table
// (routes/table.ts); each is mounted on express and, when declared `fast`, also answered by the fast path in front
// of express (fastPath.ts), both through the same `serveRoute`. No listening here (src/server.ts does that).
import type { RequestListener } from "node:http";
import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler } from "express";
import type { Core } from "../core";
import { diagnosisFromCore, type Diagnosis } from "../ops/diagnosis";
import { version as packageVersion } from "../version";
import { Authenticator } from "./auth";
import { notFound, writeError } from "./errors";
import { withFastPath } from "./fastPath";
import { logFinished, requestBindings, requestId } from "./requestLog";
import { serveRoute, type RouteDef, type RouteServices, type ServeRoute } from "./route";
import { brokerRoutes } from "./routes/table";

export interface App {
  /** What node:http / node:https (and supertest) serve: the fast path, then express. */
  listener: RequestListener;
  /** The express app alone, without the fast path in front. */
  express: Express;
  /** Every route the app serves, as declared. */
  routes: RouteDef[];
  /** What serves them: the authenticator, the HTTP logger and metrics. */
  services: RouteServices;
  /** The report the diagnosis routes run. */
  diagnosis: Diagnosis;
}

export interface AppOptions {
  version?: string;
  startedAt?: number;
  /** false: every request goes through express (the tests compare both ways). */
  fastPath?: boolean;
}

export function createApp(core: Core, o: AppOptions = {}): App {
  const { config, metrics } = core;
  const auth = new Authenticator(config.auth.apiKeys, config.auth.required, metrics);
  const version = o.version ?? packageVersion;
  const diagnosis = diagnosisFromCore(core, { version, locks: core.locks, plannedAt: (id) => core.scheduler.plannedAt(id) });
  const routes = brokerRoutes(core, { auth, diagnosis, version, startedAt: o.startedAt ?? Date.now() });
  const services: RouteServices = { auth, logger: core.logger, metrics };
  const app = expressFromRoutes(routes, services);
  return { listener: o.fastPath === false ? app : withFastPath(app, routes, services), express: app, routes, services, diagnosis };
}

/** The express app serving `routes`; requests no route takes get the documented 404, logged and counted alike. */
export function expressFromRoutes(routes: readonly RouteDef[], s: RouteServices): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("query parser", "simple");
  // No body parser here: the routes that take a JSON body parse it themselves, after authentication (route.ts). A
  // parser for every request would answer 400/413 about bodies nobody reads and parse what unknown callers send.
  for (const def of routes) {
    if (def.prefix !== undefined) {
      const { matches, label } = def.prefix;
      // One server per label; the labels are the configured prefixes, so this stays small.
      const byLabel = new Map<string, ServeRoute>();
      const served = (req: Request) => {
        const l = label(req.path);
        let serve = byLabel.get(l);
        if (serve === undefined) byLabel.set(l, (serve = serveRoute(def, l, s)));
        serve(req, req.res!, {});
      };
      app.use((req, _res, next) => (matches(req.path) && (def.method === "ALL" || req.method === def.method) ? served(req) : next()));
      continue;
    }
    for (const path of def.paths) {
      const serve = serveRoute(def, path, s);
      const handler: RequestHandler = (req, res) => serve(req, res, req.params as Record<string, string>);
      if (def.method === "GET") app.get(path, handler);
      else if (def.method === "POST") app.post(path, handler);
      else app.all(path, handler);
    }
  }
  const fallback = unserved(s);
  app.use(fallback, notFound);
  const errors: ErrorRequestHandler = (err, req, res, _next) => {
    fallback(req, res, () => undefined);
    writeError(res, err, s.logger.child(requestBindings(String(res.getHeader("X-Request-Id")), req)));
  };
  app.use(errors);
  return app;
}

/** Request id, log line and count of a request no route served (a 404, a URL express could not decode). A route
 * that serves a request never hands it on, so only these reach here; the error handler may call it a second time. */
function unserved(s: RouteServices): RequestHandler {
  const seen = new WeakSet<object>();
  return (req, res, next) => {
    if (seen.has(req)) return next();
    seen.add(req);
    const started = performance.now();
    const id = requestId(req, res);
    res.once("close", () => {
      const seconds = (performance.now() - started) / 1000;
      s.metrics.observeHttp(req.method, "unmatched", res.statusCode, seconds);
      if (s.logger.isLevelEnabled(res.statusCode >= 400 ? "warn" : "debug"))
        logFinished(s.logger.child(requestBindings(id, req)), res.statusCode, Math.round(seconds * 1000));
    });
    next();
  };
}
