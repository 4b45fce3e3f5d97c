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
