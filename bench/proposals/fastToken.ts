// PROPOSAL for src/http/fastToken.ts, wired in src/server.ts; measured by `npm run bench:ablation` (variant
// "fast path").
//
// Express's routing and response machinery cost about as much per request as everything the broker itself does on
// a token hit (see the ablation table), so no amount of trimming inside the express app reaches 0.9 × a minimal
// express app. The one request that matters for throughput — GET /api/accounts/{id}/token, authorised, with the
// token in this replica's memory — can be answered before express: same authentication, same answer and headers,
// same metrics, same request id and log line. Anything else (no or bad key, unknown account, a token that needs the
// store or WeChat, a query string, HEAD) falls through to the express app untouched, which produces the documented
// errors; nothing has been written to the response at that point.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Counter, Histogram } from "prom-client";
import type { TokenService, TokenView } from "../../src/broker/tokenService";
import type { Authenticator } from "../../src/http/auth";

const TOKEN_PATH = /^\/api\/accounts\/([A-Za-z0-9_-]{1,64})\/token$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const ROUTE = "/api/accounts/:accountId/token";

export interface FastTokenDeps {
  service: TokenService;
  auth: Authenticator;
  logger: Logger;
  /** The token answer's JSON shape (src/http/routes/token.ts tokenJson). */
  tokenJson: (v: TokenView) => unknown;
  httpRequests: Counter<"method" | "route" | "status_code">;
  httpDuration: Histogram<"method" | "route">;
  /**
   * A local-cache hit, or undefined — never a store read or a refresh. In src this would be a small TokenService
   * method (the first branch of getToken, emitting the same "hit" event); the benchmark prototype passes a stand-in.
   */
  cachedToken: (accountId: string) => TokenView | undefined;
}

export function fastToken(d: FastTokenDeps): (req: IncomingMessage, res: ServerResponse, fallback: () => void) => void {
  const count = d.httpRequests.labels("GET", ROUTE, "200");
  const time = d.httpDuration.labels("GET", ROUTE);
  return (req, res, fallback) => {
    const m = req.method === "GET" ? TOKEN_PATH.exec(req.url ?? "") : null;
    if (m === null) return fallback();
    const started = performance.now();
    const accountId = m[1]!;
    let view: TokenView | undefined;
    try {
      // Authenticator only reads the Authorization header; its refusals are answered by the express path. (In src,
      // a side-effect-free check would keep auth-failure metrics from counting a refused request twice.)
      d.auth.authorize(d.auth.authenticate(req as Parameters<Authenticator["authenticate"]>[0]), { accountId });
      view = d.cachedToken(accountId);
    } catch {
      view = undefined;
    }
    if (view === undefined) return fallback();

    const given = req.headers["x-request-id"];
    const id = typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    const body = JSON.stringify(d.tokenJson(view));
    res.writeHead(200, {
      "X-Request-Id": id,
      "Cache-Control": "no-store",
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": Buffer.byteLength(body),
    });
    res.end(body);
    count.inc();
    time.observe((performance.now() - started) / 1000);
    if (d.logger.isLevelEnabled("debug")) {
      d.logger.debug({ req: { id, method: "GET", path: req.url }, res: { statusCode: 200 }, responseTime: Math.round(performance.now() - started) }, "request completed");
    }
  };
}
