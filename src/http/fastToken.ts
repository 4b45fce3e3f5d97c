// The two token requests that are nearly all of the broker's traffic, answered before express:
//   GET  /api/accounts/{id}/token             a cached hit at steady state; every caller at once when a token expires
//   POST /api/accounts/{id}/token/invalidate  every caller at once when a token dies (an invalidation storm)
//
// Express's routing and response machinery cost more CPU per request than everything the broker itself does for a
// token (docs/benchmarks.md, ablation), and in a storm every microsecond spent per waiting request delays the one
// refresh. So the canonical form of these two requests — authorised, for a configured account, a plain JSON body —
// is answered here with the routes' own parts: Authenticator, the same body parser (params.ts parseJson) and body
// checks, TokenService, tokenJson, and errors.ts's one mapping and writer; with the same metrics, request id and log
// lines. Anything else (no or bad key, a key not allowed for the account, an unknown account, a query string, HEAD,
// an encoded or differently cased path, another content type or encoding, no Content-Length, /api/token?accountId=)
// is handed to the express app untouched, which answers it exactly as before: nothing has been read or written at
// that point, and a refusal is counted there once.
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Request, Response } from "express";
import type { ReportResult, TokenService, TokenView } from "../broker/tokenService";
import type { Logger } from "../logger";
import type { Metrics } from "../ops/metrics";
import type { Authenticator } from "./auth";
import { writeError, writeJson } from "./errors";
import { jsonObject, parseJson } from "./params";
import { logFinished, requestBindings, requestId } from "./requestLog";
import { INVALIDATE_ROUTE, TOKEN_ROUTE, invalidationReport, reportJson, tokenJson } from "./routes/token";

const TOKEN_PATH = /^\/api\/accounts\/([A-Za-z0-9_-]{1,64})\/token(\/invalidate)?$/;
/** The bodies the fast path reads: plain UTF-8 JSON. Other types and charsets get express's answers (415 …). */
const PLAIN_JSON = /^application\/json(?:\s*;\s*charset="?utf-8"?)?$/i;

export interface FastTokenDeps {
  service: TokenService;
  auth: Authenticator;
  metrics: Pick<Metrics, "observeHttp"> & Partial<Pick<Metrics, "observeAccountToken">>;
  logger: Logger;
}

/** `app` behind the fast path: the request listener to give node:http / node:https (and supertest). */
export function withFastToken(app: RequestListener, d: FastTokenDeps): RequestListener {
  const configured = new Set(d.service.accountIds());
  return (req: IncomingMessage, res: ServerResponse) => {
    const m = req.method === "GET" || req.method === "POST" ? TOKEN_PATH.exec(req.url ?? "") : null;
    const accountId = m?.[1];
    const invalidate = m?.[2] !== undefined;
    const ours =
      accountId !== undefined &&
      (invalidate ? req.method === "POST" && plainJsonBody(req) : req.method === "GET") &&
      configured.has(accountId) &&
      // A key without the token scope (a sign-only key) is refused by the route, which counts it.
      d.auth.allows(req.headers.authorization, accountId, "token");
    if (!ours) return void app(req, res);

    const started = performance.now();
    const id = requestId(req, res);
    const route = invalidate ? INVALIDATE_ROUTE : TOKEN_ROUTE;
    const log = () => d.logger.child(requestBindings(id, req));
    const finish = (status: number) => {
      const ms = performance.now() - started;
      // Counted under the express route's template, as the route would have been.
      d.metrics.observeHttp(req.method!, route, status, ms / 1000);
      if (!invalidate) d.metrics.observeAccountToken?.(accountId, ms / 1000);
      if (d.logger.isLevelEnabled(status >= 400 ? "warn" : "debug")) logFinished(log(), status, Math.round(ms));
    };
    const send = (view: TokenView) => {
      writeJson(res, 200, tokenJson(view));
      finish(200);
    };
    const fail = (err: unknown) => {
      writeError(res, err, log());
      finish(res.statusCode);
    };

    if (!invalidate) {
      // The hit, synchronously: no promise, no Redis.
      const hit = d.service.cachedToken(accountId);
      if (hit !== undefined) return send(hit);
      return void d.service.getToken(accountId).then(send).catch(fail);
    }
    // body-parser is connect middleware: it reads the plain request as it reads express's, with the same limits.
    parseJson(req as Request, res as Response, (err?: unknown) => {
      if (err !== undefined) return fail(err);
      let report: ReturnType<typeof invalidationReport>;
      try {
        report = invalidationReport(jsonObject((req as { body?: unknown }).body));
      } catch (e) {
        return fail(e);
      }
      if (d.logger.isLevelEnabled("debug")) log().debug({ accountId, errcode: report.errcode }, "caller reported a token as rejected");
      d.service
        .invalidate(accountId, report.accessToken, { caller: d.auth.callerName(req.headers.authorization) })
        .then((r: ReportResult) => {
          writeJson(res, 200, reportJson(r));
          finish(200);
        })
        .catch(fail);
    });
  };
}

/** A body the fast path may read: plain JSON, not compressed, of a stated length. */
function plainJsonBody(req: IncomingMessage): boolean {
  const h = req.headers;
  return PLAIN_JSON.test(h["content-type"] ?? "") && h["content-encoding"] === undefined && h["transfer-encoding"] === undefined && Number(h["content-length"]) > 0;
}
