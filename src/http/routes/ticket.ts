// JS-SDK tickets and signatures. /ticket hands out the ticket itself (scope "ticket"); /jssdk-config signs a page
// URL with it (scope "sign"), so pages' back ends that only sign never see the ticket nor the token.
import type { Request } from "express";
import { TICKET_TYPES, type TicketType } from "../../accounts";
import { sign, signableUrl, MAX_SIGN_URL_LENGTH } from "../../broker/jssdk";
import type { TicketView, TokenService } from "../../broker/tokenService";
import { HttpError } from "../errors";
import { queryBoolean } from "../params";
import type { RouteDef } from "../route";

export const TICKET_ROUTE = "/api/accounts/:accountId/ticket";
export const JSSDK_CONFIG_ROUTE = "/api/accounts/:accountId/jssdk-config";

export function ticketJson(v: TicketView) {
  return {
    accountId: v.accountId,
    type: v.type,
    ticket: v.ticket,
    expiresIn: v.expiresIn,
    expiresAt: new Date(v.expiresAt).toISOString(),
    fetchedAt: new Date(v.fetchedAt).toISOString(),
  };
}

function singleQuery(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new HttpError(400, "invalid_query", `The query parameter ${name} must be given once.`);
  return v;
}

function ticketType(req: Request): TicketType {
  const type = singleQuery(req, "type");
  if (type === undefined || type === "") {
    throw new HttpError(400, "missing_ticket_type", "The query parameter type is required.", `Pass type=${TICKET_TYPES.join(", type=")}.`);
  }
  if (!(TICKET_TYPES as readonly string[]).includes(type)) {
    throw new HttpError(
      400,
      "invalid_ticket_type",
      `Unknown ticket type "${type.slice(0, 40)}".`,
      `Use one of ${TICKET_TYPES.join(", ")} (WeCom: jsapi, agent_config).`,
    );
  }
  return type as TicketType;
}

const URL_PROBLEMS = {
  missing: "The query parameter url is required: the page URL to sign.",
  too_long: `The url is longer than ${MAX_SIGN_URL_LENGTH} characters.`,
  unparsable: "The url is not a valid absolute URL.",
  scheme: "The url must be an http or https URL.",
} as const;

export function ticketRoutes(service: TokenService, clock: () => number = Date.now): RouteDef[] {
  return [
    {
      method: "GET",
      paths: [TICKET_ROUTE],
      access: "key",
      account: "path",
      scope: "ticket",
      handle: async (call) => ({ json: ticketJson(await service.getTicket(call.accountId, ticketType(call.req))) }),
    },
    {
      method: "GET",
      paths: [JSSDK_CONFIG_ROUTE],
      access: "key",
      account: "path",
      scope: "sign",
      handle: async ({ req, accountId }) => {
        const page = signableUrl(singleQuery(req, "url"));
        if (!page.ok) {
          throw new HttpError(
            400,
            "invalid_url",
            URL_PROBLEMS[page.why],
            "Pass the page's own URL, URL-encoded: encodeURIComponent(location.href.split('#')[0]).",
          );
        }
        const account = service.account(accountId);
        const agent = queryBoolean(req, "agent") ?? false;
        if (agent && account.type !== "wecom") {
          throw new HttpError(
            400,
            "invalid_query",
            "agent=true is for WeCom accounts (wx.agentConfig).",
            "Leave agent out for official accounts.",
          );
        }
        const jsapi = await service.getTicket(accountId, "jsapi");
        const config = { appId: account.appId, ...sign(jsapi.ticket, page.url, clock()) };
        if (!agent) return { json: config };
        const agentTicket = await service.getTicket(accountId, "agent_config");
        return { json: { ...config, agentConfig: sign(agentTicket.ticket, page.url, clock()) } };
      },
    },
  ];
}
