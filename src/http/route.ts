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
  | { status?: number; text: string | Buffer; contentType: string; headers?: Record<string, string> };

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

export type ServeRoute = (req: IncomingMessage, res: ServerResponse, params: Readonly<Record<string, string>>) => void;

/** Serves requests for one route under one metrics label. */
export function serveRoute(def: RouteDef, label: string, s: RouteServices): ServeRoute {
  return (req, res, params) => new RouteCall(def, label, s, req, res, params).start();
}

/** One request on its way through a route: the pipeline's steps as methods, so a hit allocates one object, not a
 * closure per step. */
class RouteCall implements Call {
  private readonly started = performance.now();
  /** Fast routes put the id in the one head they write; the others set it first, for handlers that write. */
  private readonly idHeader: Record<string, string> | undefined;
  private readonly id: string;
  private child: Logger | undefined;
  private parsedBody: Record<string, unknown> | undefined;
  principal = ANONYMOUS;
  accountId = "";
  /** The account, once authorised: the per-account latency is recorded for it. */
  private timedAccount = "";

  constructor(
    private readonly def: RouteDef,
    private readonly label: string,
    private readonly s: RouteServices,
    private readonly request: IncomingMessage,
    private readonly response: ServerResponse,
    readonly params: Readonly<Record<string, string>>,
  ) {
    if (def.fast) {
      this.id = requestIdOf(request);
      this.idHeader = { "X-Request-Id": this.id };
    } else this.id = requestId(request, response);
  }

  get req(): Request {
    return this.request as Request;
  }
  get res(): Response {
    return this.response as Response;
  }
  get body(): Record<string, unknown> {
    return (this.parsedBody ??= this.def.body === "json" ? jsonBody(this.request) : NO_BODY);
  }

  log(): Logger {
    return (this.child ??= this.s.logger.child(requestBindings(this.id, this.request)));
  }
  authorize(need: Need): void {
    this.s.auth.authorize(this.principal, need);
  }
  identify(): Principal {
    return (this.principal = this.s.auth.authenticate(this.request.headers.authorization));
  }

  /** The key (401) and the role (403) before anything is read; then the body; then the handler. */
  start(): void {
    try {
      if (this.def.access === "key") this.identify();
      if (this.def.role !== undefined) this.authorize({ role: this.def.role });
    } catch (err) {
      return this.fail(err);
    }
    if (this.def.body !== "json") return this.handle();
    // body-parser is connect middleware: it reads a plain request as it reads express's, with the same limits.
    parseJson(this.req, this.res, (err?: unknown) => (err === undefined ? this.handle() : this.fail(err)));
  }

  /** The account the route names, validated (400) and authorised with its scope (403); then the handler. */
  private handle(): void {
    try {
      const where = this.def.account;
      if (where !== undefined) {
        this.accountId =
          where === "path"
            ? accountIdFrom(this.params.accountId, "accountId")
            : accountIdFrom(this.req.query.accountId, "The query parameter accountId");
        this.authorize({ accountId: this.accountId, scope: this.def.scope });
        this.timedAccount = this.accountId;
      }
      const out = this.def.handle(this);
      if (out instanceof Promise)
        out.then(
          (reply) => this.answer(reply),
          (err: unknown) => this.fail(err),
        );
      else this.answer(out);
    } catch (err) {
      this.fail(err);
    }
  }

  private answer(reply: Reply | void): void {
    const res = this.response;
    if (reply === undefined) {
      // The handler writes the answer itself (a relayed stream): counted when it is done.
      if (res.writableFinished) this.finish();
      else res.once("close", () => this.finish());
      return;
    }
    const id = this.idHeader;
    const headers = id === undefined ? reply.headers : reply.headers === undefined ? id : { ...id, ...reply.headers };
    if ("json" in reply) writeJson(res, reply.status ?? 200, reply.json, headers);
    else writeText(res, reply.status ?? 200, reply.text, reply.contentType, headers);
    this.finish();
  }

  private fail(err: unknown): void {
    writeError(this.response, err, this.log(), this.idHeader);
    this.finish();
  }

  /** The request's metrics and its log line. */
  private finish(): void {
    const status = this.response.statusCode;
    const seconds = (performance.now() - this.started) / 1000;
    const { metrics, logger } = this.s;
    metrics.observeHttp(this.request.method!, this.label, status, seconds);
    if (this.def.timedPerAccount && this.timedAccount !== "") metrics.observeAccountToken?.(this.timedAccount, seconds);
    if (!this.def.quiet && logger.isLevelEnabled(status >= 400 ? "warn" : "debug"))
      logFinished(this.log(), status, Math.round(seconds * 1000));
  }
}
