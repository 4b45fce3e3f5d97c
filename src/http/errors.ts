// Every error a caller can see is mapped to HTTP here, and only here. Bodies are always
// `{ error: { code, message, hint?, ... } }`; never a stack trace, never a secret.
import type { ServerResponse } from "node:http";
import type { RequestHandler } from "express";
import type { Logger } from "../logger";
import {
  BrokerError,
  CallCeilingError,
  ForceBudgetError,
  ReportRateLimitedError,
  RefreshTimeoutError,
  StoreUnavailableError,
  UnknownAccountError,
  UnsupportedTicketError,
  UpstreamUnavailableError,
} from "../broker/errors";
import { safeErr } from "../broker/tokenService";
import type { Hint } from "../wechat/types";

/** A problem with the request itself (the caller's mistake). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: Hint | string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export interface ErrorBody {
  error: {
    code: string;
    message: string;
    hint?: string;
    hintZh?: string;
    errcode?: number;
    errclass?: string;
    ip?: string;
    rid?: string;
    retryAfter?: number;
    breakerOpen?: boolean;
    accountId?: string;
  };
}

function hintFields(hint: Hint | string | undefined): { hint?: string; hintZh?: string } {
  if (hint === undefined) return {};
  if (typeof hint === "string") return { hint };
  return { hint: hint.en, hintZh: hint.zh };
}

export function toHttp(err: unknown): { status: number; body: ErrorBody; headers: Record<string, string> } {
  if (err instanceof HttpError) {
    return { status: err.status, body: { error: { code: err.code, message: err.message, ...hintFields(err.hint) } }, headers: err.headers };
  }
  if (err instanceof BrokerError) {
    const base = { code: err.code, message: err.message, ...hintFields(err.hint) };
    if (err instanceof UnknownAccountError) return { status: 404, body: { error: { ...base, accountId: err.accountId } }, headers: {} };
    if (err instanceof UnsupportedTicketError) return { status: 400, body: { error: { ...base, accountId: err.accountId } }, headers: {} };
    if (err instanceof UpstreamUnavailableError) {
      const retryAfter = Math.max(1, Math.ceil(err.retryAfterMs / 1000));
      return {
        status: 503,
        body: {
          error: {
            ...base,
            accountId: err.accountId,
            errcode: err.errcode,
            errclass: err.errclass,
            ip: err.ip,
            rid: err.rid,
            retryAfter,
            breakerOpen: err.breakerOpen,
          },
        },
        headers: { "Retry-After": String(retryAfter) },
      };
    }
    if (
      err instanceof ForceBudgetError ||
      err instanceof ReportRateLimitedError ||
      err instanceof RefreshTimeoutError ||
      err instanceof CallCeilingError
    ) {
      const retryAfter = Math.max(1, Math.ceil(err.retryAfterMs / 1000));
      const status = err instanceof ForceBudgetError || err instanceof ReportRateLimitedError ? 429 : 503;
      return { status, body: { error: { ...base, accountId: err.accountId, retryAfter } }, headers: { "Retry-After": String(retryAfter) } };
    }
    if (err instanceof StoreUnavailableError) return { status: 503, body: { error: base }, headers: { "Retry-After": "1" } };
    return { status: 500, body: { error: base }, headers: {} };
  }
  // Errors raised by express's router and body parser carry a 4xx status: they are the caller's mistake
  // (malformed percent-encoding, bad JSON, a corrupt gzip body, too large…). The known ones get a precise code.
  const e = err as { type?: string; status?: number; statusCode?: number };
  const status = e?.status ?? e?.statusCode;
  if (typeof status === "number" && Number.isInteger(status) && status >= 400 && status < 500) {
    const byType: Record<string, [string, string]> = {
      "entity.too.large": ["payload_too_large", "The request body is too large."],
      "entity.parse.failed": ["invalid_json", "The request body is not valid JSON."],
      "encoding.unsupported": ["unsupported_encoding", "The request body's encoding is not supported."],
      "charset.unsupported": ["unsupported_charset", "The request body's charset is not supported; use UTF-8."],
      "request.aborted": ["request_aborted", "The request was aborted."],
      "request.size.invalid": ["invalid_body", "The request body does not match its Content-Length."],
      "stream.encoding.set": ["invalid_body", "The request body could not be read."],
      "parameters.too.many": ["invalid_body", "The request body has too many parameters."],
    };
    const [code, message] = (typeof e.type === "string" ? byType[e.type] : undefined) ?? [
      "bad_request",
      "The request could not be read (malformed URL or body).",
    ];
    return { status, body: { error: { code, message } }, headers: {} };
  }
  return {
    status: 500,
    body: {
      error: {
        code: "internal_error",
        message: "Internal error. The broker logged the details.",
        hint: "Check the broker's log for this request id.",
      },
    },
    headers: {},
  };
}

/** Writes a JSON answer with the headers every answer carries (no caching: tokens and states change). */
export function writeJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  writeText(res, status, JSON.stringify(body), JSON_TYPE, headers);
}

export const JSON_TYPE = "application/json; charset=utf-8";

/** A text answer (JSON already serialised, or plain text; a Buffer is written as it is) with the headers every
 * answer carries. */
export function writeText(
  res: ServerResponse,
  status: number,
  text: string | Buffer,
  contentType: string,
  headers: Record<string, string> = {},
): void {
  const length = typeof text === "string" ? Buffer.byteLength(text) : text.length;
  // A flat list: node:http writes it without building and walking another object (a token hit's head).
  const head = ["Cache-Control", "no-store", "Content-Type", contentType, "Content-Length", String(length)];
  for (const name in headers) head.push(name, headers[name]!);
  res.writeHead(status, head);
  res.end(text);
}

/** Answers `err` through the one mapping above; a 5xx that is not a broker error is a bug and is logged as one. */
export function writeError(res: ServerResponse, err: unknown, log: Logger, extraHeaders?: Record<string, string>): void {
  const { status, body, headers } = toHttp(err);
  if (status >= 500 && !(err instanceof BrokerError)) log.error({ err: safeErr(err) }, "unhandled error");
  if (res.headersSent) return void res.end();
  writeJson(res, status, body, extraHeaders === undefined ? headers : { ...extraHeaders, ...headers });
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, "not_found", `No route for ${req.method} ${req.path}.`, "See openapi.yaml for the broker's endpoints."));
};
