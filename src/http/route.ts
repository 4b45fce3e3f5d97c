// A route declared once: method, paths, who may call it, its body, and a handler that returns the answer. The express
// app (app.ts) and the token fast path (fastPath.ts) both serve a request through `serveRoute` below, so what a
// route does — authentication and authorisation, body parsing, the handler, the answer, the request's metrics and
// its log line — is the same whichever of the two took the request.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Request, Response } from "express";
import type { Logger } from "../logger";
import type { Authenticator, Need, Principal, Role, Scope } from "./auth";
import { writeError, writeJson, writeText } from "./errors";
import { accountIdFrom, jsonBody, parseJson } from "./params";
import { logFinished, requestBindings, requestId, requestIdOf } from "./requestLog";

export type Method = "GET" | "POST" | "ALL";

export interface Call {
  /** The express request when express matched the route; on the fast path the plain request (its handlers read
   * only `params`, `body`, headers and the call's own fields). */
  readonly req: Request;
  readonly res: Response;
  readonly params: Readonly<Record<string, string>>;
  /** The account the route names (`account` declared): validated and authorised before the handler runs. */
  readonly accountId: string;
  /** Who called (a loopback operator when no API keys are configured); anonymous on open routes until `identify`. */
  readonly principal: Principal;
  /** On an open route, the caller's key after all (e.g. `probe=true` needs admin): 401, counted, without a valid one. */
  identify(): Principal;
  /** The JSON body (`body: "json"` declared), `{}` when there is none. Checked when first read (415 for another
   * media type, 400 for JSON that is not an object), so each handler decides where that check comes. */
  readonly body: Record<string, unknown>;
  /** The request's logger (bound to its id, method and path), made on first use. */
  log(): Logger;
  /** An authorisation that depends on the input (e.g. `force` needs admin): the same check as the declared one. */
  authorize(need: Need): void;
}

/** An answer: JSON (the default), text, or nothing when the handler wrote it itself (a relayed stream). */
export type Reply =
  | { status?: number; json: unknown; headers?: Record<string, string> }
  | { status?: number; text: string; contentType: string; headers?: Record<string, string> };

export interface RouteDef {
  method: Method;
  /** Express path templates. Each is its own metrics label; aliases (the runbook's .php URLs) share the handler. */
  paths: readonly string[];
  /** Instead of paths: every path this predicate accepts (the proxy's configured prefixes), under this label. */
  prefix?: { matches(path: string): boolean; label(path: string): string };
  /** `key`: an API key is required (401 without one, before anything else is read). `open`: anyone. */
  access: "key" | "open";
  /** Checked right after authentication, before the body is read. */
  role?: Role;
  /** Where the route names its account; validated (400) then authorised (403) with `scope`, before the handler. */
  account?: "path" | "query";
  scope?: Scope;
  /** A JSON object body, parsed after authentication (so an unknown caller gets 401, not 400 or 413). */
  body?: "json";
  /** No request log line (probes and scrapes). */
  quiet?: boolean;
  /** Also answered by the fast path for requests in their canonical form (fastPath.ts). */
  fast?: boolean;
  /** Token GETs: the latency is also recorded per account. */
  timedPerAccount?: boolean;
  handle(call: Call): Promise<Reply | void> | Reply | void;
}

export interface RouteServices {
  auth: Authenticator;
  logger: Logger;
  metrics: {
    observeHttp(method: string, route: string, status: number, seconds: number): void;
    observeAccountToken?(accountId: string, seconds: number): void;
  };
}

/** The principal of open routes' callers. */
const ANONYMOUS: Principal = { name: "anonymous", role: "client", accounts: [] };
const NO_BODY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/** The state of a request already under way (request id, logger): set by `serveRoute`, read by the app's
 * fallbacks (404s, express's own errors) so they log and count as the routes do. */
export const SERVED = Symbol("served");

export type ServeRoute = (req: IncomingMessage, res: ServerResponse, params: Readonly<Record<string, string>>) => void;

/** Serves requests for one route under one metrics label. */
export function serveRoute(def: RouteDef, label: string, s: RouteServices): ServeRoute {
  const needsBody = def.body === "json";
  return (req, res, params) => {
    const started = performance.now();
    // Fast routes put the id in the head they write (one pass); the others set it first, for handlers that write.
    const id = def.fast ? requestIdOf(req) : requestId(req, res);
    const idHeader = def.fast ? { "X-Request-Id": id } : undefined;
    let child: Logger | undefined;
    const log = () => (child ??= s.logger.child(requestBindings(id, req)));
    (req as { [SERVED]?: boolean })[SERVED] = true;
    let accountId = "";
    const finish = () => {
      const status = res.statusCode;
      const seconds = (performance.now() - started) / 1000;
      s.metrics.observeHttp(req.method!, label, status, seconds);
      if (def.timedPerAccount && accountId !== "") s.metrics.observeAccountToken?.(accountId, seconds);
      if (!def.quiet && s.logger.isLevelEnabled(status >= 400 ? "warn" : "debug")) logFinished(log(), status, Math.round(seconds * 1000));
    };
    const fail = (err: unknown) => {
      writeError(res, err, log(), idHeader);
      finish();
    };
    const answer = (reply: Reply | void) => {
      if (reply === undefined) {
        // The handler writes the answer itself (a relayed stream): counted when it is done.
        if (res.writableFinished) finish();
        else res.once("close", finish);
        return;
      }
      const headers = idHeader === undefined ? reply.headers : reply.headers === undefined ? idHeader : { ...idHeader, ...reply.headers };
      if ("json" in reply) writeJson(res, reply.status ?? 200, reply.json, headers);
      else writeText(res, reply.status ?? 200, reply.text, reply.contentType, headers);
      finish();
    };

    let principal = ANONYMOUS;
    const authorize = (need: Need) => s.auth.authorize(principal, need);
    const handle = () => {
      try {
        if (def.account !== undefined) {
          accountId =
            def.account === "path"
              ? accountIdFrom(params.accountId, "accountId")
              : accountIdFrom((req as Request).query.accountId, "The query parameter accountId");
          authorize({ accountId, scope: def.scope });
        }
        let body: Record<string, unknown> | undefined;
        const call: Call = {
          req: req as Request,
          res: res as Response,
          params,
          accountId,
          get principal() {
            return principal;
          },
          identify: () => (principal = s.auth.authenticate(req.headers.authorization)),
          get body() {
            return (body ??= needsBody ? jsonBody(req) : NO_BODY);
          },
          log,
          authorize,
        };
        const out = def.handle(call);
        if (out instanceof Promise) out.then(answer, fail);
        else answer(out);
      } catch (err) {
        fail(err);
      }
    };

    try {
      if (def.access === "key") principal = s.auth.authenticate(req.headers.authorization);
      if (def.role !== undefined) authorize({ role: def.role });
    } catch (err) {
      return fail(err);
    }
    if (!needsBody) return handle();
    // body-parser is connect middleware: it reads a plain request as it reads express's, with the same limits.
    parseJson(req as Request, res as Response, (err?: unknown) => (err === undefined ? handle() : fail(err)));
  };
}
