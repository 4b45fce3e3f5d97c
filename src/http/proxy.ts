// The token-injecting proxy (issue 13): every WeChat API call a service makes through the broker goes out from one
// place with the account's current token. The access_token in the query must be one the broker issued (current,
// or the previous one during WeChat's overlap); it is replaced by the current one. Anything else is refused in
// WeChat's shape without leaving the broker, so the broker is no open relay.
//
// Bodies stream both ways (node:http/https with pipes and backpressure). A request body up to the keep limit is also
// kept, so that when WeChat answers 40001/40014/42001 to the injected token the broker reports it
// (compare-and-refresh) and retries the call once with the token it gets back. Nothing logs a token or a query.
import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from "node:http";
import { request as httpsRequest } from "node:https";
import type { Request, Response } from "express";
import { ticketTypesOf, type TicketType } from "../accounts";
import type { IssuedTokens } from "../broker/issuedTokens";
import type { TokenService } from "../broker/tokenService";
import { safeErr } from "../broker/tokenService";
import type { Logger } from "../logger";
import type { ProxyMetrics, ProxyOutcome } from "../ops/proxyMetrics";
import { HttpError, writeJson } from "./errors";
import type { RouteDef } from "./route";
import { errorAsWeChat, reportToken, wechatError, type Platform } from "./wechatShape";

export interface ProxyOptions {
  service: TokenService;
  issued: IssuedTokens;
  wechatApiBase: string;
  wecomApiBase: string;
  /** Path prefixes relayed to wechatApiBase (`/cgi-bin/`, …); `/wecom/…` always goes to wecomApiBase. */
  prefixes: readonly string[];
  bodyKeepBytes: number;
  timeoutMs: number;
  metrics?: ProxyMetrics;
  logger: Logger;
}

/** WeChat's answers that mean "this token is not (or no longer) valid". */
export const TOKEN_REJECTED = new Set([40001, 40014, 42001]);

/** JSON answers up to this size are read to find their errcode; larger ones (and all other types) just stream. */
const INSPECT_BYTES = 64 * 1024;

// Hop-by-hop fields (RFC 9110, section 7.6.1), plus what must not travel on: the broker's own API key, and Expect (node:http
// has already answered 100-continue to the caller).
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "authorization",
  "expect",
]);

function forwardable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k) && !listed.has(k)) out[k] = v;
  return out;
}

/** The query string with its one access_token; other parameters are kept byte for byte. */
export function splitQuery(query: string): { token: string; rebuild(token: string): string } {
  const parts = query === "" ? [] : query.split("&");
  const at = parts.flatMap((p, i) => (p === "access_token" || p.startsWith("access_token=") ? [i] : []));
  if (at.length === 0) throw new TokenProblem(41001, "the call has no access_token");
  if (at.length > 1) throw new TokenProblem(40001, "give exactly one access_token");
  const raw = parts[at[0]!]!.slice("access_token=".length);
  let token: string;
  try {
    token = decodeURIComponent(raw.replace(/\+/g, " "));
  } catch {
    throw new HttpError(400, "bad_request", "The access_token parameter is not valid percent-encoding.");
  }
  if (token === "") throw new TokenProblem(41001, "the access_token is empty");
  return {
    token,
    rebuild: (t) => parts.map((p, i) => (i === at[0] ? `access_token=${encodeURIComponent(t)}` : p)).join("&"),
  };
}

class TokenProblem extends Error {
  constructor(
    readonly errcode: 40001 | 40014 | 41001,
    readonly hint: string,
  ) {
    super(hint);
  }
}

/** Ids in paths (rare in WeChat's API, which takes them in the query) become `:id`, so metric labels stay bounded. */
export function apiLabel(path: string): string {
  return path
    .split("/")
    .map((seg) => (/^\d+$/.test(seg) || seg.length > 40 || /^[A-Za-z0-9_-]{24,}$/.test(seg) ? ":id" : seg))
    .join("/");
}

/** The errcode of a JSON answer, or undefined (0 and absent both mean success). */
function errcodeOf(body: Buffer): number | undefined {
  try {
    const v = JSON.parse(body.toString("utf8")) as { errcode?: unknown };
    return typeof v.errcode === "number" && v.errcode !== 0 ? v.errcode : undefined;
  } catch {
    return undefined;
  }
}

function isJson(headers: IncomingHttpHeaders): boolean {
  const t = String(headers["content-type"] ?? "").toLowerCase();
  return t.includes("json") || t.startsWith("text/plain");
}

/** The request body, streamed to each upstream attempt; kept in memory only up to the limit, for one retry. */
class BodyTap {
  readonly chunks: Buffer[] = [];
  kept = true;
  size = 0;
  private ended!: () => void;
  /** Resolves when the caller's body has been read to its end (or failed: then nothing is kept). WeChat may answer
   * before it has read the whole body; a retry must wait for all of it. */
  readonly done = new Promise<void>((resolve) => (this.ended = resolve));
  constructor(private readonly limit: number) {}
  end(ok: boolean): void {
    if (!ok) {
      this.kept = false;
      this.chunks.length = 0;
    }
    this.ended();
  }
  take(chunk: Buffer): void {
    this.size += chunk.length;
    if (!this.kept) return;
    if (this.size > this.limit) {
      this.kept = false;
      this.chunks.length = 0;
    } else this.chunks.push(chunk);
  }
}

interface Attempt {
  res: IncomingMessage;
  /** The start of a JSON answer already read to find its errcode (the whole of it when `complete`). */
  head: Buffer;
  complete: boolean;
  errcode?: number;
}

/**
 * The JS-SDK ticket a relayed call asks for: WeChat `cgi-bin/ticket/getticket?type=jsapi|wx_card`, WeCom
 * `cgi-bin/get_jsapi_ticket` (the corporation's jsapi ticket) and `cgi-bin/ticket/get?type=agent_config`. Null for
 * any other call; undefined for a ticket call with a type the broker does not know.
 */
export function ticketAsked(platform: Platform, upstreamPath: string, rawQuery: string): TicketType | undefined | null {
  const type = new URLSearchParams(rawQuery).get("type");
  const known = (t: string | null, allowed: readonly TicketType[]): TicketType | undefined =>
    allowed.includes(t as TicketType) ? (t as TicketType) : undefined;
  if (platform === "wechat" && upstreamPath === "/cgi-bin/ticket/getticket") return known(type, ["jsapi", "wx_card"]);
  if (platform === "wecom" && upstreamPath === "/cgi-bin/get_jsapi_ticket") return "jsapi";
  if (platform === "wecom" && upstreamPath === "/cgi-bin/ticket/get") return known(type, ["agent_config"]);
  return null;
}

export function proxyRoutes(o: ProxyOptions): RouteDef[] {
  const prefixes = [...o.prefixes];
  /** The relayed path's prefix, its metrics label: `/wecom/cgi-bin/` or `/wecom/` (WeCom), or a configured one
   * (WeChat); undefined when not relayed. */
  const prefixOf = (path: string) =>
    path.startsWith("/wecom/")
      ? path.startsWith("/wecom/cgi-bin/")
        ? "/wecom/cgi-bin/"
        : "/wecom/"
      : prefixes.find((p) => path.startsWith(p));

  return [
    {
      method: "ALL",
      paths: [],
      prefix: { matches: (path) => prefixOf(path) !== undefined, label: (path) => `${prefixOf(path)}{apiPath}` },
      // The access_token in the query is the credential: only tokens the broker issued are relayed.
      access: "open",
      handle: (call) => {
        const path = call.req.path;
        const wecom = path.startsWith("/wecom/");
        return relay(call.req, call.res, wecom ? "wecom" : "wechat", wecom ? path.slice("/wecom".length) : path, call.log());
      },
    },
  ];

  async function relay(req: Request, res: Response, platform: Platform, upstreamPath: string, log: Logger): Promise<void> {
    const started = performance.now();
    const api = `${platform === "wecom" ? "/wecom" : ""}${apiLabel(upstreamPath)}`;
    const count = (outcome: ProxyOutcome, errcode?: number) =>
      o.metrics?.request(api, outcome, errcode, (performance.now() - started) / 1000);

    const raw = req.originalUrl;
    const q = raw.indexOf("?");
    const rawPath = q === -1 ? raw : raw.slice(0, q);
    if (/(^|\/)\.\.?(\/|$)|%2e|%2f|%5c|\\/i.test(rawPath.slice(1))) {
      count("bad_request");
      throw new HttpError(400, "bad_request", "The path of a relayed call must not contain dot segments or encoded slashes.");
    }
    let query: ReturnType<typeof splitQuery>;
    let accountId: string | null;
    try {
      query = splitQuery(q === -1 ? "" : raw.slice(q + 1));
      accountId = await o.issued.accountOf(query.token);
      if (accountId === null)
        throw new TokenProblem(
          40001,
          "this access_token was not issued by the broker (or is past WeChat's overlap): fetch a token from the broker's /cgi-bin/token",
        );
      if ((o.service.account(accountId).type === "wecom") !== (platform === "wecom"))
        throw new TokenProblem(40014, "the access_token belongs to an account of the other platform");
    } catch (err) {
      if (!(err instanceof TokenProblem)) throw err;
      count("refused", err.errcode);
      req.resume();
      return writeJson(res, 200, wechatError(platform, err.errcode, err.hint));
    }

    const ticketType = ticketAsked(platform, upstreamPath, q === -1 ? "" : raw.slice(q + 1));
    if (ticketType !== null) {
      // A JS-SDK ticket is answered from the broker's cache, under the refresh policy, in WeChat's shape: a service
      // that fetched its own tickets through the proxy shares the one ticket instead of burning WeChat's limit.
      req.resume();
      try {
        if (ticketType === undefined || !ticketTypesOf(o.service.account(accountId)).includes(ticketType)) {
          count("bad_request", 40097);
          return writeJson(
            res,
            200,
            wechatError(platform, 40097, "the ticket type must be jsapi or wx_card (WeChat), or agent_config on WeCom's ticket/get"),
          );
        }
        const t = await o.service.getTicket(accountId, ticketType);
        count("cached");
        return writeJson(res, 200, { errcode: 0, errmsg: "ok", ticket: t.ticket, expires_in: t.expiresIn });
      } catch (err) {
        count("no_token");
        const e = errorAsWeChat(platform, err);
        log.warn({ accountId, errcode: e.errcode }, "proxy: no ticket to answer with");
        return writeJson(res, 200, e);
      }
    }

    let token: string;
    try {
      token = (await o.service.getToken(accountId)).accessToken;
    } catch (err) {
      count("no_token");
      req.resume();
      const e = errorAsWeChat(platform, err);
      log.warn({ accountId, errcode: e.errcode }, "proxy: no token to inject");
      return writeJson(res, 200, e);
    }

    const base = platform === "wecom" ? o.wecomApiBase : o.wechatApiBase;
    const hasBody =
      req.headers["content-length"] !== undefined
        ? Number(req.headers["content-length"]) > 0
        : req.headers["transfer-encoding"] !== undefined;
    const tap = new BodyTap(hasBody ? o.bodyKeepBytes : 0);
    const headers = forwardable(req.headers);
    const url = (t: string) => new URL(`${base}${upstreamPath}?${query.rebuild(t)}`);

    let clientGone = false;
    res.on("close", () => {
      if (!res.writableFinished) clientGone = true;
    });

    let attempt: Attempt;
    try {
      attempt = await send(url(token), req.method, headers, hasBody ? { stream: req, tap } : undefined);
    } catch (err) {
      return upstreamFailed(res, platform, api, err, count, log, clientGone);
    }

    if (attempt.errcode !== undefined && TOKEN_REJECTED.has(attempt.errcode)) {
      const errcode = attempt.errcode;
      log.info({ accountId, errcode, api }, "proxy: WeChat rejected the injected token; reporting it");
      let fresh: string | undefined;
      try {
        fresh = (await reportToken(o.service, accountId, token, { caller: "proxy", via: "proxy", errcode })).accessToken;
      } catch (err) {
        log.warn({ accountId, err: safeErr(err) }, "proxy: the report of a rejected token failed; returning WeChat's answer");
      }
      if (hasBody) await tap.done;
      const retryable = fresh !== undefined && (!hasBody || tap.kept) && !clientGone;
      if (retryable) {
        attempt.res.resume();
        o.metrics?.retry(api);
        try {
          attempt = await send(
            url(fresh!),
            req.method,
            { ...headers, ...(hasBody ? { "content-length": String(tap.size) } : {}) },
            hasBody ? { buffered: tap.chunks } : undefined,
          );
        } catch (err) {
          return upstreamFailed(res, platform, api, err, count, log, clientGone);
        }
      }
    }

    count(attempt.errcode === undefined ? "ok" : "wechat_error", attempt.errcode);
    answer(res, attempt);
  }

  /** One upstream call; resolves once the answer's headers (and, for a small JSON answer, its body) are in. */
  function send(
    url: URL,
    method: string,
    headers: OutgoingHttpHeaders,
    body?: { stream: IncomingMessage; tap: BodyTap } | { buffered: Buffer[] },
  ): Promise<Attempt> {
    return new Promise<Attempt>((resolve, reject) => {
      const requester = url.protocol === "https:" ? httpsRequest : httpRequest;
      const out = requester(url, { method, headers: { ...headers, host: url.host }, timeout: o.timeoutMs });
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        out.destroy();
        reject(err);
      };
      out.on("timeout", () => fail(new UpstreamTimeout(o.timeoutMs)));
      out.on("error", fail);
      out.on("response", (res) => {
        // The same idle limit applies to the answer's body, piece by piece.
        res.setTimeout(o.timeoutMs, () => res.destroy(new UpstreamTimeout(o.timeoutMs)));
        const length = Number(res.headers["content-length"] ?? NaN);
        if (!isJson(res.headers) || length > INSPECT_BYTES) {
          settled = true;
          return resolve({ res, head: Buffer.alloc(0), complete: false });
        }
        const chunks: Buffer[] = [];
        let size = 0;
        const onData = (c: Buffer) => {
          chunks.push(c);
          size += c.length;
          if (size > INSPECT_BYTES) {
            // Too big to inspect after all: hand over what was read and the rest of the stream.
            res.off("data", onData);
            res.off("end", onEnd);
            res.pause();
            settled = true;
            resolve({ res, head: Buffer.concat(chunks), complete: false });
          }
        };
        const onEnd = () => {
          settled = true;
          const head = Buffer.concat(chunks);
          resolve({ res, head, complete: true, errcode: errcodeOf(head) });
        };
        res.on("data", onData);
        res.on("end", onEnd);
        res.on("error", fail);
      });
      if (body === undefined) out.end();
      else if ("buffered" in body) {
        for (const c of body.buffered) out.write(c);
        out.end();
      } else {
        body.stream.on("data", (c: Buffer) => {
          body.tap.take(c);
          // Once WeChat's side is closed (it answered early, or failed), the rest is read and only kept.
          if (out.destroyed || out.writableEnded) return;
          if (!out.write(c)) {
            body.stream.pause();
            out.once("drain", () => body.stream.resume());
          }
        });
        out.once("close", () => body.stream.resume());
        body.stream.on("end", () => {
          body.tap.end(true);
          if (!out.destroyed) out.end();
        });
        body.stream.on("aborted", () => {
          body.tap.end(false);
          fail(new Error("the caller aborted the request"));
        });
        body.stream.on("error", (err) => {
          body.tap.end(false);
          fail(err);
        });
        body.stream.on("close", () => body.tap.end(body.stream.complete));
      }
    });
  }

  function answer(res: ServerResponse, a: Attempt): void {
    const headers = forwardable(a.res.headers);
    if (a.complete) {
      headers["content-length"] = String(a.head.length);
      res.writeHead(a.res.statusCode ?? 502, headers);
      res.end(a.head);
      return;
    }
    res.writeHead(a.res.statusCode ?? 502, headers);
    if (a.head.length > 0) res.write(a.head);
    a.res.pipe(res);
    a.res.resume();
    a.res.on("error", () => res.destroy());
    res.on("close", () => {
      if (!a.res.complete) a.res.destroy();
    });
  }

  function upstreamFailed(
    res: Response,
    platform: Platform,
    api: string,
    err: unknown,
    count: (o: ProxyOutcome, e?: number) => void,
    log: Logger,
    clientGone: boolean,
  ): void {
    if (clientGone) {
      count("client_aborted");
      return;
    }
    const timeout = err instanceof UpstreamTimeout;
    count(timeout ? "upstream_timeout" : "upstream_error");
    log.warn({ api, err: safeErr(err) }, timeout ? "proxy: WeChat did not answer in time" : "proxy: could not reach WeChat");
    if (res.headersSent) return void res.destroy();
    const text = timeout ? `WeChat did not answer within ${o.timeoutMs} ms (PROXY_TIMEOUT_MS)` : "the broker could not reach WeChat";
    const body = { errcode: -1, errmsg: `${platform === "wecom" ? "system busy" : "system error"} (broker: ${text})` };
    writeJson(res, timeout ? 504 : 502, body);
  }
}

class UpstreamTimeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = "UpstreamTimeout";
  }
}
