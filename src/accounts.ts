// The accounts the broker holds tokens for. An account is one AppID + AppSecret (for WeCom: corpid + corpsecret).

export type AccountType = "official" | "miniprogram" | "wecom";

/** How tokens are fetched: `stable` = POST /cgi-bin/stable_token, `classic` = GET /cgi-bin/token. WeCom always uses gettoken. */
export type TokenApi = "stable" | "classic";

/** The API a token actually came from; `wecom` for WeCom gettoken. */
export type TokenSource = "stable" | "classic" | "wecom";

export interface Account {
  /** Operator-chosen id, `[A-Za-z0-9_-]{1,64}`, e.g. `gh_e4b07b2a992e6669`. Appears in URLs, keys, logs, metrics. */
  id: string;
  type: AccountType;
  /** AppID (WeCom: corpid). Not secret. */
  appId: string;
  /** AppSecret (WeCom: corpsecret). Secret: never logged, never in an error, key or metric. */
  appSecret: string;
  tokenApi: TokenApi;
}

export const ACCOUNT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function tokenSourceOf(account: Pick<Account, "type" | "tokenApi">): TokenSource {
  if (account.type === "wecom") return "wecom";
  return account.tokenApi;
}

/** JS-SDK tickets, fetched with the account's token. WeCom: `jsapi` is the corp ticket (get_jsapi_ticket),
 * `agent_config` the app's (ticket/get?type=agent_config); official accounts: `jsapi` and `wx_card`. */
export const TICKET_TYPES = ["jsapi", "wx_card", "agent_config"] as const;
export type TicketType = (typeof TICKET_TYPES)[number];

/** The ticket types an account of this type can have. */
export function ticketTypesOf(account: Pick<Account, "type">): readonly TicketType[] {
  return account.type === "wecom" ? ["jsapi", "agent_config"] : ["jsapi", "wx_card"];
}

/** What a stored credential came from: a token endpoint, or a ticket endpoint (`ticket`). */
export type CredentialApi = TokenSource | "ticket";

/**
 * The id of one cached credential: an account id (its token), or `<accountId>.<ticketType>` (a ticket). `.` cannot
 * appear in an account id, so the two never collide; every per-credential key, lock, status and limit is keyed by it.
 */
export const CREDENTIAL_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}(?:\.(?:jsapi|wx_card|agent_config))?$/;

export function ticketCredentialId(accountId: string, type: TicketType): string {
  return `${accountId}.${type}`;
}

/** The account and ticket type of a credential id (no ticket: the account's token). */
export function parseCredentialId(id: string): { accountId: string; ticket?: TicketType } {
  const dot = id.indexOf(".");
  if (dot === -1) return { accountId: id };
  return { accountId: id.slice(0, dot), ticket: id.slice(dot + 1) as TicketType };
}
