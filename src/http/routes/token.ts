// Token endpoints: the broker's main job. Handlers parse, authorise, call TokenService and shape the answer.
import { Router, type Response } from "express";
import type { TokenService, TokenView } from "../../broker/tokenService";
import type { Authenticator } from "../auth";
import { HttpError, writeJson } from "../errors";
import { accountIdFrom, authenticated, jsonBody, parseJson, principalOf } from "../params";
import { logFor } from "../requestLog";

/** The token route; the HTTP fast path (fastToken.ts) answers its cached hits and counts them under this template. */
export const TOKEN_ROUTE = "/api/accounts/:accountId/token";

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

export function tokenRoutes(service: TokenService, auth: Authenticator): Router {
  const r = Router();

  async function sendToken(res: Response, accountId: string) {
    auth.authorize(principalOf(res), { accountId });
    const view = await service.getToken(accountId);
    writeJson(res, 200, tokenJson(view));
  }

  const authn = authenticated(auth);
  r.get(TOKEN_ROUTE, authn, (req, res) => sendToken(res, accountIdFrom(req.params.accountId, "accountId")));
  r.get("/api/token", authn, (req, res) => sendToken(res, accountIdFrom(req.query.accountId, "The query parameter accountId")));

  r.post("/api/accounts/:accountId/token/invalidate", authn, parseJson, async (req, res) => {
    const accountId = accountIdFrom(req.params.accountId, "accountId");
    auth.authorize(principalOf(res), { accountId });
    const body = jsonBody(req);
    const accessToken = body.accessToken;
    if (typeof accessToken !== "string" || accessToken.length === 0 || accessToken.length > 2048) {
      throw new HttpError(400, "invalid_field", '"accessToken" is required: the token that WeChat rejected.', "Send {\"accessToken\": \"…\", \"errcode\": 40001}.");
    }
    const errcode = body.errcode;
    if (errcode !== undefined && (typeof errcode !== "number" || !Number.isInteger(errcode))) {
      throw new HttpError(400, "invalid_field", '"errcode" must be an integer (the errcode WeChat answered).');
    }
    logFor(req).info({ accountId, errcode }, "caller reported a token as rejected");
    const view = await service.invalidate(accountId, accessToken);
    writeJson(res, 200, tokenJson(view));
  });

  return r;
}
