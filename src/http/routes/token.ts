// Token endpoints: the broker's main job. Handlers parse, authorise, call TokenService and shape the answer.
import { Router, type Response } from "express";
import type { ReportResult, TokenService, TokenView } from "../../broker/tokenService";
import type { Authenticator } from "../auth";
import { HttpError, writeJson } from "../errors";
import { accountIdFrom, authenticated, jsonBody, parseJson, principalOf } from "../params";
import { logFor } from "../requestLog";

/** The token routes; the HTTP fast path (fastToken.ts) answers their canonical requests and counts them under these templates. */
export const TOKEN_ROUTE = "/api/accounts/:accountId/token";
export const INVALIDATE_ROUTE = "/api/accounts/:accountId/token/invalidate";

export function tokenJson(v: TokenView) {
  return {
    accountId: v.accountId,
    accessToken: v.accessToken,
    expiresIn: v.expiresIn,
    expiresAt: new Date(v.expiresAt).toISOString(),
    fetchedAt: new Date(v.fetchedAt).toISOString(),
    api: v.api,
  };
}

/** The answer to a report: the token to use now, and whether WeChat was asked for a new one and why (not). */
export function reportJson(r: ReportResult) {
  return { ...tokenJson(r.token), refreshed: r.refreshed, reason: r.reason };
}

/** The body of POST …/token/invalidate: the token WeChat rejected, and the errcode it answered (optional). */
export function invalidationReport(body: Record<string, unknown>): { accessToken: string; errcode?: number } {
  const accessToken = body.accessToken;
  if (typeof accessToken !== "string" || accessToken.length === 0 || accessToken.length > 2048) {
    throw new HttpError(400, "invalid_field", '"accessToken" is required: the token that WeChat rejected.', "Send {\"accessToken\": \"…\", \"errcode\": 40001}.");
  }
  const errcode = body.errcode;
  if (errcode !== undefined && (typeof errcode !== "number" || !Number.isInteger(errcode))) {
    throw new HttpError(400, "invalid_field", '"errcode" must be an integer (the errcode WeChat answered).');
  }
  return errcode === undefined ? { accessToken } : { accessToken, errcode };
}

export function tokenRoutes(service: TokenService, auth: Authenticator): Router {
  const r = Router();

  async function sendToken(res: Response, accountId: string) {
    auth.authorize(principalOf(res), { accountId, scope: "token" });
    const view = await service.getToken(accountId);
    writeJson(res, 200, tokenJson(view));
  }

  const authn = authenticated(auth);
  r.get(TOKEN_ROUTE, authn, (req, res) => sendToken(res, accountIdFrom(req.params.accountId, "accountId")));
  r.get("/api/token", authn, (req, res) => sendToken(res, accountIdFrom(req.query.accountId, "The query parameter accountId")));

  r.post(INVALIDATE_ROUTE, authn, parseJson, async (req, res) => {
    const accountId = accountIdFrom(req.params.accountId, "accountId");
    auth.authorize(principalOf(res), { accountId, scope: "token" });
    const report = invalidationReport(jsonBody(req));
    logFor(req).debug({ accountId, errcode: report.errcode }, "caller reported a token as rejected");
    const result = await service.invalidate(accountId, report.accessToken, { caller: principalOf(res).name });
    writeJson(res, 200, reportJson(result));
  });

  return r;
}
