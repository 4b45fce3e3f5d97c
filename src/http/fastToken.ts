// GET /api/accounts/{id}/token, answered before express.
//
// Express's routing and response machinery cost more CPU per request than everything the broker itself does for a
// token (docs/benchmarks.md, ablation), and this one request is nearly all of the broker's traffic: a cached hit at
// steady state, and all callers at once when a token has to be replaced (a storm, where every microsecond of CPU per
// waiting request delays the one refresh). So the canonical form of it — authorised, for a configured account — is
// answered here, with the same body, headers, error mapping (errors.ts), metrics, request id and log lines as the
// express route. Anything else (no or bad key, a key not allowed for the account, an unknown account, a query string,
// HEAD, an encoded or differently cased path, /api/token?accountId=) is handed to the express app untouched, which
// answers it exactly as before: nothing has been written at that point, and a refusal is counted there once.
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { TokenService, TokenView } from "../broker/tokenService";
import type { Logger } from "../logger";
import type { Metrics } from "../ops/metrics";
import type { Authenticator } from "./auth";
import { writeError, writeJson } from "./errors";
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
  const configured = new Set(d.service.accountIds());
  return (req: IncomingMessage, res: ServerResponse) => {
    const accountId = req.method === "GET" ? TOKEN_PATH.exec(req.url ?? "")?.[1] : undefined;
    if (accountId === undefined || !configured.has(accountId) || !d.auth.allows(req.headers.authorization, accountId)) return void app(req, res);
    const started = performance.now();
    const id = requestId(req, res);
    const finish = (status: number) => {
      const ms = performance.now() - started;
      // Counted under the express route's template, as the route would have been.
      d.metrics.observeHttp("GET", TOKEN_ROUTE, status, ms / 1000);
      if (d.logger.isLevelEnabled(status >= 400 ? "warn" : "debug")) logFinished(d.logger.child(requestBindings(id, req)), status, Math.round(ms));
    };
    const send = (view: TokenView) => {
      writeJson(res, 200, tokenJson(view));
      finish(200);
    };

    // The hit, synchronously: no promise, no Redis.
    const hit = d.service.cachedToken(accountId);
    if (hit !== undefined) return send(hit);
    d.service
      .getToken(accountId)
      .then(send)
      .catch((err: unknown) => {
        writeError(res, err, d.logger.child(requestBindings(id, req)));
        finish(res.statusCode);
      });
  };
}
