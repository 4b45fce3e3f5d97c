// The only code that talks HTTP to WeChat / WeCom. One method call = one HTTP request: retries, backoff and
// cool-downs belong to the broker, which acts on the classification carried by UpstreamError.
//
// Secrets: the AppSecret travels in the query string (classic, WeCom) or the body (stable_token), and a probed
// token in the query string. An AxiosError holds all of that (config, request, response.request._header …), so
// no axios object ever leaves this file: every failure is rebuilt as an UpstreamError from a whitelist of
// fields, and messages name only the method, the base URL and the path.
import http from "node:http";
import https from "node:https";
import axios, { type AxiosInstance, type AxiosResponse } from "axios";
import type { Logger } from "pino";
import { tokenSourceOf, type Account, type TicketType } from "../accounts";
import { silentLogger } from "../logger";
import { version } from "../version";
import type { Platform } from "./errcodeEntry";
import { classify, classifyFailure, type Classification } from "./errcodes";
import { sanitizeErrmsg } from "./errmsg";
import type { SyntheticFailure } from "./syntheticFailures";
import { UpstreamError, type FetchedToken, type ProbeResult, type UpstreamEndpoint, type WeChatApi } from "./types";

export interface WeChatClientOptions {
  /** e.g. https://api.weixin.qq.com (no trailing path). */
  wechatApiBase: string;
  /** e.g. https://qyapi.weixin.qq.com. */
  wecomApiBase: string;
  /** Whole-request deadline in ms. Default 5000. */
  timeoutMs?: number;
  now?: () => number;
  logger?: Logger;
  /** Largest response body accepted, bytes. Default 1 MiB (a token answer is ~200 bytes). */
  maxBodyBytes?: number;
}

export const DEFAULT_TIMEOUT_MS = 5000;

interface Call {
  account: Account;
  platform: Platform;
  endpoint: UpstreamEndpoint;
  method: "GET" | "POST";
  base: string;
  path: string;
  params?: Record<string, string>;
  data?: Record<string, unknown>;
  signal?: AbortSignal;
  /** Strings that must never appear in anything this call produces. */
  secrets: string[];
  /** For getticket: which ticket (named in messages). */
  ticket?: TicketType;
}

type JsonObject = Record<string, unknown>;

// Node/axios error codes → what happened, in words an operator understands. Codes only: never err.message,
// which for some errors (invalid URL) quotes the URL with its query string.
const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by peer",
  EPIPE: "connection closed while sending",
  ENOTFOUND: "host not found (DNS)",
  EAI_AGAIN: "DNS lookup failed (temporary)",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENETDOWN: "network down",
  ECONNABORTED: "connection aborted",
  ERR_NETWORK: "network error",
  ERR_SOCKET_CONNECTION_TIMEOUT: "connection timed out",
  EPROTO: "TLS/protocol error",
};
const TIMEOUT_CODES = new Set(["ETIMEDOUT", "ESOCKETTIMEDOUT", "ERR_SOCKET_CONNECTION_TIMEOUT"]);

function trimBase(base: string): string {
  const url = new URL(base); // throws on nonsense, at construction time (a configuration error)
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`API base must be http(s): ${url.origin}`);
  if (url.search || url.username || url.password) throw new Error(`API base must not carry a query or credentials: ${url.origin}`);
  return base.replace(/\/+$/, "");
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** errcode as a number: absent → undefined; numeric string tolerated; anything else → NaN (malformed). */
function readErrcode(body: JsonObject): number | undefined {
  const v = body.errcode;
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number") return v;
  if (typeof v === "string" && /^-?\d+$/.test(v)) return Number(v);
  return Number.NaN;
}

function errorCode(err: unknown): string | undefined {
  if (isObject(err) && typeof err.code === "string") return err.code;
  return undefined;
}

export class WeChatClient implements WeChatApi {
  private readonly http: AxiosInstance;
  private readonly wechatApiBase: string;
  private readonly wecomApiBase: string;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(opts: WeChatClientOptions) {
    this.wechatApiBase = trimBase(opts.wechatApiBase);
    this.wecomApiBase = trimBase(opts.wecomApiBase);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.now = opts.now ?? Date.now;
    this.logger = opts.logger ?? silentLogger();
    // Keep-alive: the broker calls the same two hosts over and over; a TLS handshake per call is waste.
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });
    this.http = axios.create({
      timeout: this.timeoutMs,
      httpAgent: this.httpAgent,
      httpsAgent: this.httpsAgent,
      // WeChat answers errors with HTTP 200 + errcode; every status is inspected here, none is thrown.
      validateStatus: () => true,
      // A redirect is never WeChat; following one could send the secret somewhere else.
      maxRedirects: 0,
      // Parse JSON ourselves so an HTML error page is detected, not silently returned as a string.
      responseType: "text",
      transformResponse: [(data: unknown) => data],
      maxContentLength: opts.maxBodyBytes ?? 1024 * 1024,
      headers: { Accept: "application/json", "User-Agent": `wechat-token-broker/${version}` },
    });
  }

  /** Closes idle keep-alive sockets. The client must not be used afterwards. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  async fetchToken(account: Account, opts: { forceRefresh?: boolean; signal?: AbortSignal } = {}): Promise<FetchedToken> {
    const source = tokenSourceOf(account);
    const secrets = [account.appSecret];
    let call: Call;
    if (source === "wecom") {
      call = {
        account,
        platform: "wecom",
        endpoint: "gettoken",
        method: "GET",
        base: this.wecomApiBase,
        path: "/cgi-bin/gettoken",
        params: { corpid: account.appId, corpsecret: account.appSecret },
        signal: opts.signal,
        secrets,
      };
    } else if (source === "classic") {
      call = {
        account,
        platform: "wechat",
        endpoint: "token",
        method: "GET",
        base: this.wechatApiBase,
        path: "/cgi-bin/token",
        params: { grant_type: "client_credential", appid: account.appId, secret: account.appSecret },
        signal: opts.signal,
        secrets,
      };
    } else {
      // forceRefresh exists only here: a classic fetch always issues a new token, and WeCom has no such switch.
      call = {
        account,
        platform: "wechat",
        endpoint: "stable_token",
        method: "POST",
        base: this.wechatApiBase,
        path: "/cgi-bin/stable_token",
        data: {
          grant_type: "client_credential",
          appid: account.appId,
          secret: account.appSecret,
          force_refresh: opts.forceRefresh === true,
        },
        signal: opts.signal,
        secrets,
      };
    }

    const body = await this.send(call);
    const errcode = readErrcode(body);
    if (errcode !== undefined && errcode !== 0) {
      if (Number.isNaN(errcode)) throw this.fail(call, "bad_shape", "errcode is not a number");
      throw this.errcodeError(call, errcode, body.errmsg);
    }
    // Success = no errcode (or 0), a non-empty token and a positive lifetime. The body is never quoted in the
    // error: a half-good answer may still hold a token.
    const token = body.access_token;
    const expiresIn = body.expires_in;
    if (typeof token !== "string" || token.length === 0 || typeof expiresIn !== "number" || !Number.isFinite(expiresIn) || expiresIn <= 0) {
      const problems: string[] = [];
      if (typeof token !== "string" || token.length === 0) problems.push("access_token is missing or empty");
      if (typeof expiresIn !== "number" || !Number.isFinite(expiresIn) || expiresIn <= 0)
        problems.push("expires_in is not a positive number");
      throw this.fail(call, "bad_shape", problems.join("; "));
    }
    return { accessToken: token, expiresIn, fetchedAt: this.now(), api: source };
  }

  /**
   * One JS-SDK ticket call with `accessToken`: official accounts GET /cgi-bin/ticket/getticket?type=jsapi|wx_card;
   * WeCom GET /cgi-bin/get_jsapi_ticket (the corp ticket, `jsapi`) or /cgi-bin/ticket/get?type=agent_config. The
   * token travels in the query string, so it is one of the call's secrets: no message or log line carries it.
   */
  async fetchTicket(account: Account, type: TicketType, accessToken: string, opts: { signal?: AbortSignal } = {}): Promise<FetchedToken> {
    const wecom = account.type === "wecom";
    const path = wecom ? (type === "agent_config" ? "/cgi-bin/ticket/get" : "/cgi-bin/get_jsapi_ticket") : "/cgi-bin/ticket/getticket";
    const params: Record<string, string> = { access_token: accessToken };
    if (!wecom || type === "agent_config") params.type = type;
    const call: Call = {
      account,
      platform: wecom ? "wecom" : "wechat",
      endpoint: "getticket",
      method: "GET",
      base: wecom ? this.wecomApiBase : this.wechatApiBase,
      path,
      params,
      signal: opts.signal,
      secrets: [account.appSecret, accessToken],
      ticket: type,
    };
    const body = await this.send(call);
    const errcode = readErrcode(body);
    if (errcode !== undefined && errcode !== 0) {
      if (Number.isNaN(errcode)) throw this.fail(call, "bad_shape", "errcode is not a number");
      throw this.errcodeError(call, errcode, body.errmsg);
    }
    const ticket = body.ticket;
    const expiresIn = body.expires_in;
    if (
      typeof ticket !== "string" ||
      ticket.length === 0 ||
      typeof expiresIn !== "number" ||
      !Number.isFinite(expiresIn) ||
      expiresIn <= 0
    ) {
      const problems: string[] = [];
      if (typeof ticket !== "string" || ticket.length === 0) problems.push("ticket is missing or empty");
      if (typeof expiresIn !== "number" || !Number.isFinite(expiresIn) || expiresIn <= 0)
        problems.push("expires_in is not a positive number");
      throw this.fail(call, "bad_shape", problems.join("; "));
    }
    return { accessToken: ticket, expiresIn, fetchedAt: this.now(), api: "ticket" };
  }

  async probe(account: Account, accessToken: string): Promise<ProbeResult> {
    const wecom = account.type === "wecom";
    const call: Call = {
      account,
      platform: wecom ? "wecom" : "wechat",
      endpoint: "probe",
      method: "GET",
      base: wecom ? this.wecomApiBase : this.wechatApiBase,
      path: "/cgi-bin/get_api_domain_ip",
      params: { access_token: accessToken },
      secrets: [account.appSecret, accessToken],
    };
    const body = await this.send(call);
    const errcode = readErrcode(body);
    if (errcode !== undefined && errcode !== 0) {
      if (Number.isNaN(errcode)) throw this.fail(call, "bad_shape", "errcode is not a number");
      const error = this.errcodeError(call, errcode, body.errmsg);
      // Only an answer about the token says "not valid". Anything else (-1, quota, IP, unknown codes) says
      // nothing about the token, so it is thrown like a network failure: we don't know.
      if (error.errclass === "token_invalid") return { valid: false, error };
      throw error;
    }
    if (!Array.isArray(body.ip_list)) {
      throw this.fail(call, "bad_shape", "ip_list is missing");
    }
    return { valid: true, ipCount: body.ip_list.length };
  }

  // ---------- transport ----------

  /** One HTTP request. Returns the JSON object of an HTTP 200 answer; throws UpstreamError for anything else. */
  private async send(call: Call): Promise<JsonObject> {
    const started = this.now();
    if (call.signal?.aborted) throw this.fail(call, "aborted", "aborted before sending");

    // One deadline for the whole exchange (axios' own timeout is per socket inactivity), plus the caller's signal.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    const onAbort = () => controller.abort();
    call.signal?.addEventListener("abort", onAbort, { once: true });

    let res: AxiosResponse<unknown>;
    try {
      res = await this.http.request({
        method: call.method,
        url: `${call.base}${call.path}`,
        params: call.params,
        data: call.data,
        signal: controller.signal,
      });
    } catch (err: unknown) {
      // `err` is an AxiosError full of secrets: read its code and drop it.
      throw this.transportError(call, errorCode(err), timedOut, started);
    } finally {
      clearTimeout(timer);
      call.signal?.removeEventListener("abort", onAbort);
    }

    const durationMs = this.now() - started;
    const ctx = {
      accountId: call.account.id,
      endpoint: call.endpoint,
      method: call.method,
      path: call.path,
      status: res.status,
      durationMs,
    };
    if (res.status !== 200) {
      throw this.fail(call, "http_status", undefined, res.status);
    }
    const text = typeof res.data === "string" ? res.data : "";
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      const type = String(res.headers["content-type"] ?? "no content-type").split(";")[0];
      throw this.fail(call, "non_json", `${type}, ${Buffer.byteLength(text)} bytes`);
    }
    if (!isObject(parsed)) throw this.fail(call, "bad_shape", "the JSON is not an object");
    this.logger.debug(ctx, "upstream answered");
    return parsed;
  }

  private transportError(call: Call, code: string | undefined, timedOut: boolean, started: number): UpstreamError {
    if (timedOut || (code !== undefined && TIMEOUT_CODES.has(code)) || (code === "ECONNABORTED" && !call.signal?.aborted)) {
      // ECONNABORTED is what axios reports for its own timeout.
      return this.fail(call, "timeout", `no answer within ${this.timeoutMs} ms`);
    }
    if (call.signal?.aborted || code === "ERR_CANCELED") {
      return this.fail(call, "aborted", `aborted after ${this.now() - started} ms`);
    }
    if (code === "ERR_BAD_RESPONSE") {
      // axios raises it when the response stream is cut off mid-body or exceeds maxContentLength.
      return this.fail(call, "network", "the answer was cut off or too large (ERR_BAD_RESPONSE)");
    }
    const tls = code !== undefined && /^(CERT_|ERR_TLS_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED)/.test(code);
    const what = code ? (NETWORK_CODES[code] ?? (tls ? "TLS certificate error" : "network error")) : "network error";
    return this.fail(call, "network", code ? `${what} (${code})` : what);
  }

  // ---------- building errors ----------

  private errcodeError(call: Call, errcode: number, rawErrmsg: unknown): UpstreamError {
    const errmsg = typeof rawErrmsg === "string" ? sanitizeErrmsg(rawErrmsg, call.secrets) : undefined;
    const c = classify({ platform: call.platform, endpoint: call.endpoint, errcode, errmsg, now: this.now(), appId: call.account.appId });
    const who = this.platformName(call);
    const idLabel = call.platform === "wecom" ? "corpid" : "appid";
    const head =
      call.endpoint === "probe"
        ? `${who} rejected the access_token of ${idLabel} ${call.account.appId} on get_api_domain_ip`
        : call.endpoint === "getticket"
          ? `${who} refused the ${call.ticket ?? "jsapi"} ticket request for ${idLabel} ${call.account.appId}`
          : `${who} refused the token request for ${idLabel} ${call.account.appId}`;
    const endpoint = call.endpoint === "probe" || call.endpoint === "getticket" ? undefined : call.endpoint;
    const tail = [endpoint, c.rid ? `rid ${c.rid}` : undefined].filter(Boolean).join(", ");
    const message = `${head}: ${errcode} ${c.summary}${tail ? ` (${tail})` : ""}`;
    return this.build(call, c, message, { errcode, errmsg });
  }

  /** An UpstreamError for a failure without errcode. `detail` is our own words, never upstream text. */
  private fail(call: Call, failure: SyntheticFailure, detail?: string, httpStatus?: number): UpstreamError {
    const c = classifyFailure({ platform: call.platform, failure, httpStatus, now: this.now(), appId: call.account.appId });
    const who = this.platformName(call);
    const idLabel = call.platform === "wecom" ? "corpid" : "appid";
    // Base URL + path, never the query string (it holds the secret or the token).
    const target = `${call.method} ${call.base}${call.path}`;
    const subject = `${idLabel} ${call.account.appId}`;
    let message: string;
    switch (failure) {
      case "timeout":
        message = `${who} did not answer in time for ${subject} (${target})`;
        break;
      case "http_status":
        message = `${who} answered HTTP ${httpStatus ?? "?"} for ${subject} (${target})`;
        break;
      case "non_json":
        message = `${who} answered with a body that is not JSON for ${subject} (${target})`;
        break;
      case "bad_shape":
        message = `${who} answered without a usable result for ${subject} (${target})`;
        break;
      case "aborted":
        message = `The request to ${who} for ${subject} was aborted (${target})`;
        break;
      case "network":
        message = `Could not reach ${who} for ${subject} (${target})`;
        break;
    }
    if (detail) message += `: ${detail}`;
    return this.build(call, c, message, { httpStatus });
  }

  private build(
    call: Call,
    c: Classification,
    message: string,
    extra: { errcode?: number; errmsg?: string; httpStatus?: number },
  ): UpstreamError {
    // Last line of defence: whatever went into the message, no secret comes out.
    const safeMessage = sanitizeErrmsg(message, call.secrets);
    const err = new UpstreamError(safeMessage, {
      kind: c.kind,
      endpoint: call.endpoint,
      errclass: c.errclass,
      errcode: extra.errcode,
      errmsg: extra.errmsg,
      httpStatus: extra.httpStatus,
      retryable: c.retryable,
      retryAfterMs: c.retryAfterMs,
      ip: c.ip,
      rid: c.rid,
      hint: c.hint,
    });
    this.logger.debug({ accountId: call.account.id, endpoint: call.endpoint, err }, "upstream call failed");
    return err;
  }

  private platformName(call: Call): string {
    return call.platform === "wecom" ? "WeCom" : "WeChat";
  }
}
