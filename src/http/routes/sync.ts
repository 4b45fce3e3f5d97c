// Sync: bring an account's token up to date now. `force` (admin only) refreshes regardless, within the budget.
// Two URLs: the broker's own, and the one the operators' runbooks and cron jobs already call.
import type { SyncResult, TokenService } from "../../broker/tokenService";
import { accountIdFrom, optionalBoolean } from "../params";
import type { Call, Reply, RouteDef } from "../route";

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

export function syncRoutes(service: TokenService): RouteDef[] {
  // The account is authorised here, with the role `force` needs, in one check (admin first, as for every route).
  async function sync(call: Call, accountId: string): Promise<Reply> {
    const force = optionalBoolean(call.body, "force") ?? false;
    call.authorize({ accountId, role: force ? "admin" : undefined });
    const result = await service.sync(accountId, { force });
    call.log().info({ accountId, force, refreshed: result.refreshed, principal: call.principal.name }, "sync");
    return { json: syncJson(result) };
  }
  return [
    {
      method: "POST",
      paths: ["/api/accounts/:accountId/sync"],
      access: "key",
      body: "json",
      handle: (call) => sync(call, accountIdFrom(call.params.accountId, "accountId")),
    },
    {
      method: "POST",
      paths: ["/official-api/wechat/sync"],
      access: "key",
      body: "json",
      handle: (call) => sync(call, accountIdFrom(call.body.accountId, 'The body field "accountId"')),
    },
  ];
}
