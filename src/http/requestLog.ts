// Request ids and request log lines. Nothing is built for a line that is not logged (token hits log at debug and
// production runs at info): the per-request child logger is made on first use (route.ts), and the finish line only
// when its level is enabled — pino-http's per-request serialisation was a quarter of a token hit's CPU
// (docs/benchmarks.md).
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Request } from "express";
import type { Logger } from "../logger";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is a sane one, else a new UUID; echoed in the answer's X-Request-Id. */
export function requestId(req: IncomingMessage, res: ServerResponse): string {
  const id = requestIdOf(req);
  res.setHeader("X-Request-Id", id);
  return id;
}

/** The request's id, for a writer that puts it in the answer's head itself (no setHeader: node then writes the
 * head in one pass, which the token hits notice). */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
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
  log[level](
    { res: { statusCode: status }, responseTime: responseTimeMs },
    status >= 500 ? `request failed with status ${status}` : "request completed",
  );
}
