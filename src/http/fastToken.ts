// The token hit, answered before express.
//
// Express's routing and response machinery cost about as much CPU per request as everything the broker itself does
// on a token hit (docs/benchmarks.md, ablation). The one request that matters for throughput — GET
// /api/accounts/{id}/token, authorised, the token in this replica's memory — is therefore answered here, with the
// same body, headers, metrics, request id and log line as the express route. Anything else (no or bad key, a key not
// allowed for the account, an unknown account, a token that needs the store or WeChat, a query string, HEAD, an
// encoded or differently cased path) is handed to the express app untouched, which answers it exactly as before:
// nothing has been written at that point, and the refusal is counted there once.
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { TokenService } from "../broker/tokenService";
import type { Logger } from "../logger";
import type { Metrics } from "../ops/metrics";
import type { Authenticator } from "./auth";
import { logFinished, requestBindings, requestId } from "./requestLog";
import { TOKEN_ROUTE, tokenJson } from "./routes/token";

const TOKEN_PATH = /^\/api\/accounts\/([A-Za-z0-9_-]{1,64})\/token$/;

export interface FastTokenDeps {
  service: TokenService;
  auth: Authenticator;
  metrics: Pick<Metrics, "observeHttp">;
  logger: Logger;
}

/** `app` behind the fast path: the request listener to give node:http / node:https (and supertest). */
export function withFastToken(app: RequestListener, d: FastTokenDeps): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (!answerCachedToken(req, res, d)) app(req, res);
  };
}

/** Answers and returns true when the request is an authorised hit on a locally cached token; else touches nothing. */
function answerCachedToken(req: IncomingMessage, res: ServerResponse, d: FastTokenDeps): boolean {
  if (req.method !== "GET") return false;
  const m = TOKEN_PATH.exec(req.url ?? "");
  if (m === null) return false;
  const started = performance.now();
  const accountId = m[1]!;
  if (!d.auth.allows(req.headers.authorization, accountId)) return false;
  const view = d.service.cachedToken(accountId);
  if (view === undefined) return false;

  const id = requestId(req, res);
  const body = JSON.stringify(tokenJson(view));
  res.writeHead(200, { "Cache-Control": "no-store", "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
  const ms = performance.now() - started;
  // Counted under the express route's template, as the route would have been.
  d.metrics.observeHttp("GET", TOKEN_ROUTE, 200, ms / 1000);
  if (d.logger.isLevelEnabled("debug")) logFinished(d.logger.child(requestBindings(id, req)), 200, Math.round(ms));
  return true;
}
