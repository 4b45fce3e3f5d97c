// Sync: bring an account's token up to date now. `force` (admin only) refreshes regardless, within the budget.
// Two URLs: the broker's own, and the one the operators' runbooks and cron jobs already call.
import { Router, type Request, type Response } from "express";
import type { SyncResult, TokenService } from "../../broker/tokenService";
import type { Authenticator } from "../auth";
import { accountIdFrom, authenticated, jsonBody, optionalBoolean, parseJson, principalOf } from "../params";
import { logFor } from "../requestLog";

export function syncJson(r: SyncResult) {
  return {
    accountId: r.token.accountId,
    refreshed: r.refreshed,
    reason: r.reason,
    expiresIn: r.token.expiresIn,
    expiresAt: new Date(r.token.expiresAt).toISOString(),
    api: r.token.api,
    durationMs: r.durationMs,
  };
}

export function syncRoutes(service: TokenService, auth: Authenticator): Router {
  const r = Router();

  async function sync(req: Request, res: Response, accountId: string, body: Record<string, unknown>) {
    const who = principalOf(res);
    const force = optionalBoolean(body, "force") ?? false;
    auth.authorize(who, { accountId, role: force ? "admin" : undefined });
    const result = await service.sync(accountId, { force });
    logFor(req).info({ accountId, force, refreshed: result.refreshed, principal: who.name }, "sync");
    res.set("Cache-Control", "no-store").json(syncJson(result));
  }

  const authn = authenticated(auth);
  r.post("/api/accounts/:accountId/sync", authn, parseJson, (req, res) => sync(req, res, accountIdFrom(req.params.accountId, "accountId"), jsonBody(req)));
  r.post("/official-api/wechat/sync", authn, parseJson, (req, res) => {
    const body = jsonBody(req);
    return sync(req, res, accountIdFrom(body.accountId, 'The body field "accountId"'), body);
  });
  return r;
}
