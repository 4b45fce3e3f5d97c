// Typed results of talking to WeChat. Nothing in here may ever hold an AppSecret.
import type { CredentialApi, TicketType } from "../accounts";

/**
 * What to do about an upstream answer.
 * - transient: retry with backoff and jitter (-1, network failures, HTTP 5xx, non-JSON bodies, timeouts)
 * - token_invalid: the token a caller used is dead (40001/40014/42001 on business APIs): one compare-and-refresh
 * - config: a human must fix configuration or credentials (40013, 40125, 40164, 40243, 41004, …)
 * - admin: a human must act in the WeChat console, often with a cool-down (89501/89503/89506/89507, 50002, …)
 * - quota: stop calling until the window resets (45009 daily, 45011 per minute)
 * - bug: the request itself is wrong (40002, 41001, 41002, 43001, …): do not retry
 */
export type ErrClass = "transient" | "token_invalid" | "config" | "admin" | "quota" | "bug";

/** Where an errcode came from changes its meaning (40001 at a token endpoint = bad secret). */
export type UpstreamEndpoint = "token" | "stable_token" | "gettoken" | "probe" | "getticket";

export type UpstreamFailureKind = "errcode" | "network" | "timeout" | "http_status" | "bad_body";

export interface Hint {
  en: string;
  zh: string;
}

export interface FetchedToken {
  accessToken: string;
  /** Seconds, as WeChat reported it. */
  expiresIn: number;
  /** Epoch ms when the response arrived. */
  fetchedAt: number;
  api: CredentialApi;
}

export interface UpstreamErrorFields {
  kind: UpstreamFailureKind;
  endpoint: UpstreamEndpoint;
  errclass: ErrClass;
  /** WeChat's errcode, when the body carried one. */
  errcode?: number;
  /** WeChat's errmsg with nothing secret in it (WeChat never echoes the secret; still sanitised). */
  errmsg?: string;
  /** HTTP status when the failure was an HTTP status. */
  httpStatus?: number;
  /** Whether the same request may succeed if retried later without a human acting. */
  retryable: boolean;
  /** How long to wait before calling WeChat again for this account, in ms (cool-down), when known. */
  retryAfterMs?: number;
  /** The caller IP WeChat saw, extracted from 40164 / 60020 / 61004 errmsgs. */
  ip?: string;
  /** WeChat's request id (`rid`) or WeCom `hint`, for support requests. */
  rid?: string;
  hint: Hint;
}

/**
 * The only error the WeChat client throws. Its message is safe to log and to show to a caller:
 * it never contains the AppSecret, a token, or a request URL with a query string.
 */
export class UpstreamError extends Error implements UpstreamErrorFields {
  readonly kind: UpstreamFailureKind;
  readonly endpoint: UpstreamEndpoint;
  readonly errclass: ErrClass;
  readonly errcode?: number;
  readonly errmsg?: string;
  readonly httpStatus?: number;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly ip?: string;
  readonly rid?: string;
  readonly hint: Hint;

  constructor(message: string, fields: UpstreamErrorFields) {
    super(message);
    this.name = "UpstreamError";
    this.kind = fields.kind;
    this.endpoint = fields.endpoint;
    this.errclass = fields.errclass;
    this.errcode = fields.errcode;
    this.errmsg = fields.errmsg;
    this.httpStatus = fields.httpStatus;
    this.retryable = fields.retryable;
    this.retryAfterMs = fields.retryAfterMs;
    this.ip = fields.ip;
    this.rid = fields.rid;
    this.hint = fields.hint;
  }

  /** A plain object for logs, Redis (last error) and diagnosis. Never contains a secret. */
  toJSON(): UpstreamErrorFields & { message: string } {
    return {
      message: this.message,
      kind: this.kind,
      endpoint: this.endpoint,
      errclass: this.errclass,
      errcode: this.errcode,
      errmsg: this.errmsg,
      httpStatus: this.httpStatus,
      retryable: this.retryable,
      retryAfterMs: this.retryAfterMs,
      ip: this.ip,
      rid: this.rid,
      hint: this.hint,
    };
  }
}

export type ProbeResult = { valid: true; ipCount: number } | { valid: false; error: UpstreamError };

/** The upstream client as the broker sees it. Implemented by src/wechat/client.ts. */
export interface WeChatApi {
  /**
   * Fetch a token for the account through its configured API. `forceRefresh` applies to stable_token only.
   * Throws UpstreamError (and nothing else) on any failure.
   */
  fetchToken(account: import("../accounts").Account, opts?: { forceRefresh?: boolean; signal?: AbortSignal }): Promise<FetchedToken>;
  /** Ask WeChat whether a token works now (GET /cgi-bin/get_api_domain_ip, or WeCom's equivalent). */
  probe(account: import("../accounts").Account, accessToken: string): Promise<ProbeResult>;
  /**
   * Fetch a JS-SDK ticket with `accessToken` (getticket; WeCom get_jsapi_ticket or ticket/get). The answer comes
   * back as a FetchedToken with api "ticket" (`accessToken` holds the ticket). Throws UpstreamError; a dead token is
   * errclass token_invalid.
   */
  fetchTicket?(
    account: import("../accounts").Account,
    type: TicketType,
    accessToken: string,
    opts?: { signal?: AbortSignal },
  ): Promise<FetchedToken>;
}
