// PROPOSAL for src/http/requestLog.ts (replacing pino-http in src/http/app.ts); measured by `npm run bench:ablation`.
//
// pino-http builds a child logger for every request (`logger.child({ req })`: the req serializer, redaction and a
// JSON string of the bindings), a request id, three listener closures and, when the response ends, the log object
// and message — even when the line is then discarded because token hits log at debug and production runs at info.
// This middleware keeps the same output (same bindings, levels, messages, X-Request-Id) but allocates nothing for a
// request that is not logged: the child logger behind `req.log` is created on first use, and the finish line is
// built only when its level is enabled.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestHandler } from "express";
import type { Logger } from "pino";

export interface RequestLogOptions {
  logger: Logger;
  /** Returns the request id and sets it on the response (X-Request-Id). */
  genReqId: (req: IncomingMessage, res: ServerResponse) => string;
  /** Requests not logged when they finish (health checks, metrics scrapes). */
  ignore?: (req: IncomingMessage) => boolean;
}

interface Logged {
  id?: string;
  log?: Logger;
}

const CHILD = Symbol("requestLogChild");
const BASE = Symbol("requestLogBase");

type WithLog = IncomingMessage & Logged & { [CHILD]?: Logger; [BASE]?: Logger; originalUrl?: string };

function pathOf(req: WithLog): string {
  const url = req.originalUrl ?? req.url ?? "";
  const q = url.indexOf("?");
  return q === -1 ? url : url.slice(0, q);
}

/** `req.log`, created on first use: one getter on the request prototype, no per-request closure. */
function installLazyLog(proto: object): void {
  if (Object.prototype.hasOwnProperty.call(proto, CHILD)) return;
  Object.defineProperty(proto, CHILD, { value: undefined, writable: true });
  Object.defineProperty(proto, "log", {
    configurable: true,
    get(this: WithLog): Logger | undefined {
      const base = this[BASE];
      if (base === undefined) return undefined;
      return (this[CHILD] ??= base.child({ req: { id: this.id, method: this.method, path: pathOf(this) } }));
    },
    set(this: WithLog, value: Logger) {
      this[CHILD] = value;
    },
  });
}

export function requestLog(o: RequestLogOptions): RequestHandler {
  return (request, res, next) => {
    const req = request as unknown as WithLog;
    installLazyLog(Object.getPrototypeOf(req) as object);
    req.id = o.genReqId(req, res);
    req[BASE] = o.logger;
    if (o.ignore?.(req)) return next();
    const start = Date.now();
    res.once("close", () => {
      const status = res.statusCode;
      const level = status >= 400 ? "warn" : "debug";
      if (!o.logger.isLevelEnabled(level)) return;
      const log = (req as { log?: Logger }).log ?? o.logger;
      const fields = { res: { statusCode: status }, responseTime: Date.now() - start };
      log[level](fields, status >= 500 ? `request failed with status ${status}` : "request completed");
    });
    next();
  };
}
