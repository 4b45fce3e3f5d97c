// Request ids and request logging. Replaces pino-http, which built a child logger for every request (serializer,
// redaction, a JSON string of the bindings) plus the finish line's objects even when that line was then dropped
// because token hits log at debug and production runs at info: about a quarter of a token hit's CPU
// (docs/benchmarks.md). Here nothing is built for a line that is not logged: the per-request child logger is made
// on first use, and the finish line only when its level is enabled.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Request, RequestHandler } from "express";
import type { Logger } from "../logger";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is a sane one, else a new UUID; echoed in the answer's X-Request-Id. */
export function requestId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers["x-request-id"];
  const id = typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader("X-Request-Id", id);
  return id;
}

/** What a request's log lines are bound to. */
export function requestBindings(id: string, req: IncomingMessage): { req: { id: string; method: string | undefined; path: string } } {
  const url = (req as Partial<Request>).originalUrl ?? req.url ?? "";
  const q = url.indexOf("?");
  return { req: { id, method: req.method, path: q === -1 ? url : url.slice(0, q) } };
}

/**
 * The line written when a request finishes: 4xx and 5xx as warnings (without a synthetic error or stack: a 503 for
 * an upstream problem is logged once, with its cause, by the broker), everything else at debug.
 */
export function logFinished(log: Logger, status: number, responseTimeMs: number): void {
  const level = status >= 400 ? "warn" : "debug";
  if (!log.isLevelEnabled(level)) return;
  log[level]({ res: { statusCode: status }, responseTime: responseTimeMs }, status >= 500 ? `request failed with status ${status}` : "request completed");
}

const STATE = Symbol("requestLog");

interface RequestLogState {
  id: string;
  base: Logger;
  child?: Logger;
}

/** The request's logger (bound to its id, method and path), made on first use; `fallback` for a request that never
 * reached the requestLog middleware (an error in an earlier one). */
export function logFor(req: Request, fallback?: Logger): Logger {
  const s = (req as Request & { [STATE]?: RequestLogState })[STATE];
  if (s === undefined) {
    if (fallback !== undefined) return fallback;
    throw new Error("logFor: the requestLog middleware is not mounted");
  }
  return (s.child ??= s.base.child(requestBindings(s.id, req)));
}

export function requestLog(o: { logger: Logger; quiet?: ReadonlySet<string> }): RequestHandler {
  return (req, res, next) => {
    const state: RequestLogState = { id: requestId(req, res), base: o.logger };
    (req as Request & { [STATE]?: RequestLogState })[STATE] = state;
    if (o.quiet?.has(req.path)) return next();
    const started = performance.now();
    res.once("close", () => {
      const status = res.statusCode;
      if (!o.logger.isLevelEnabled(status >= 400 ? "warn" : "debug")) return;
      logFinished(logFor(req), status, Math.round(performance.now() - started));
    });
    next();
  };
}
