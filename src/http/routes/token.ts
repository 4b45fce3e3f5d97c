// Token endpoints: the broker's main job. Handlers parse, authorise, call TokenService and shape the answer.
import type { ReportResult, TokenService, TokenView } from "../../broker/tokenService";
import { HttpError, JSON_TYPE } from "../errors";
import type { Call, Reply, RouteDef } from "../route";

/** The token routes: nearly all of the broker's traffic, so also answered by the fast path (fastPath.ts). */
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
    throw new HttpError(
      400,
      "invalid_field",
      '"accessToken" is required: the token that WeChat rejected.',
      'Send {"accessToken": "…", "errcode": 40001}.',
    );
  }
  const errcode = body.errcode;
  if (errcode !== undefined && (typeof errcode !== "number" || !Number.isInteger(errcode))) {
    throw new HttpError(400, "invalid_field", '"errcode" must be an integer (the errcode WeChat answered).');
  }
  return errcode === undefined ? { accessToken } : { accessToken, errcode };
}

export function tokenRoutes(service: TokenService): RouteDef[] {
  // The last body of each account, reused while it says the same (within the millisecond of expiresAt): the
  // serialisation and date formatting were a visible share of a hit's CPU. One entry per configured account.
  const bodies = new Map<string, { view: TokenView; reply: Reply }>();
  const tokenBody = (view: TokenView): Reply => {
    const last = bodies.get(view.accountId);
    if (last !== undefined && sameView(last.view, view)) return last.reply;
    // Kept encoded: node:http writes a Buffer as it is, where a string is encoded again for every answer.
    const reply = { text: Buffer.from(JSON.stringify(tokenJson(view)), "utf8"), contentType: JSON_TYPE };
    bodies.set(view.accountId, { view, reply });
    return reply;
  };
  // A hit is answered synchronously (no promise, no Redis): nearly all of the broker's traffic.
  const sendToken = (call: Call): Reply | Promise<Reply> => {
    const hit = service.cachedToken(call.accountId);
    if (hit !== undefined) return tokenBody(hit);
    return service.getToken(call.accountId).then(tokenBody);
  };
  return [
    {
      method: "GET",
      paths: [TOKEN_ROUTE],
      access: "key",
      account: "path",
      scope: "token",
      fast: true,
      timedPerAccount: true,
      handle: sendToken,
    },
    { method: "GET", paths: ["/api/token"], access: "key", account: "query", scope: "token", timedPerAccount: true, handle: sendToken },
    {
      method: "POST",
      paths: [INVALIDATE_ROUTE],
      access: "key",
      body: "json",
      account: "path",
      scope: "token",
      fast: true,
      handle: async (call) => {
        const report = invalidationReport(call.body);
        call.log().debug({ accountId: call.accountId, errcode: report.errcode }, "caller reported a token as rejected");
        return { json: reportJson(await service.invalidate(call.accountId, report.accessToken, { caller: call.principal.name })) };
      },
    },
  ];
}

function sameView(a: TokenView, b: TokenView): boolean {
  return (
    a.expiresAt === b.expiresAt &&
    a.accessToken === b.accessToken &&
    a.expiresIn === b.expiresIn &&
    a.fetchedAt === b.fetchedAt &&
    a.api === b.api
  );
}
