// Answers in WeChat's own shape for the compatible endpoints and the proxy (issue 13): HTTP 200 with
// {"errcode", "errmsg"}, as api.weixin.qq.com and qyapi.weixin.qq.com answer, so an SDK's own error handling
// (retry on 40001/42001, raise on the rest) keeps working. The broker's hint is appended to errmsg.
import { BrokerError, ForceBudgetError, UnknownAccountError, UpstreamUnavailableError } from "../broker/errors";
import type { TokenService, TokenView, InvalidateOptions } from "../broker/tokenService";
import type { Hint } from "../wechat/types";

export type Platform = "wechat" | "wecom";

export interface WeChatError {
  errcode: number;
  errmsg: string;
}

/** The errmsg texts the SDKs and operators know, for the codes the broker itself answers. */
export const ERRMSG = {
  40001: "invalid credential, access_token is invalid or not latest",
  40002: "invalid grant_type",
  40013: "invalid appid",
  40014: "invalid access_token",
  40125: "invalid appsecret",
  41001: "access_token missing",
  41002: "appid missing",
  41004: "appsecret missing",
  43001: "require GET method",
  43002: "require POST method",
  44002: "empty post data",
  47001: "data format error",
  40097: "invalid args",
  [-1]: "system error",
} as const;

const WECOM_ERRMSG: Partial<Record<keyof typeof ERRMSG, string>> = {
  40013: "invalid corpid",
  40001: "invalid credential",
  41002: "corpid missing",
  41004: "corpsecret missing",
  [-1]: "system busy",
};

function withHint(text: string, hint: Hint | string | undefined): string {
  if (hint === undefined) return text;
  return typeof hint === "string" ? `${text} (broker: ${hint})` : `${text} (broker: ${hint.en} / ${hint.zh})`;
}

/** One of the broker's own refusals, worded like WeChat, with the broker's hint. */
export function wechatError(platform: Platform, errcode: keyof typeof ERRMSG, hint?: Hint | string): WeChatError {
  const text = (platform === "wecom" ? WECOM_ERRMSG[errcode] : undefined) ?? ERRMSG[errcode];
  return { errcode, errmsg: withHint(text, hint) };
}

/** A failure of the broker (or of WeChat behind it) as WeChat would answer it: the upstream errcode and errmsg when
 * WeChat refused (40164, 45009…), -1 otherwise; never a stack or a secret. */
export function errorAsWeChat(platform: Platform, err: unknown): WeChatError {
  if (err instanceof UpstreamUnavailableError) {
    const errcode = err.errcode ?? -1;
    const text = err.upstream.errmsg ?? (errcode === -1 ? (platform === "wecom" ? "system busy" : "system error") : err.upstream.message);
    return { errcode, errmsg: withHint(text, err.hint) };
  }
  if (err instanceof ForceBudgetError) return { errcode: 45009, errmsg: withHint("reach max api daily quota limit", err.hint) };
  if (err instanceof UnknownAccountError) return wechatError(platform, 40013, err.hint);
  if (err instanceof BrokerError)
    return { errcode: -1, errmsg: withHint(`${platform === "wecom" ? "system busy" : "system error"}: ${err.message}`, err.hint) };
  return wechatError(platform, -1, "internal error; the broker logged the details");
}

/** A report of a token that failed (compare-and-refresh, under the refresh policy), as the compatible endpoints and
 * the proxy make it: the token to use now. */
export async function reportToken(
  service: TokenService,
  accountId: string,
  accessToken: string,
  opts: InvalidateOptions,
): Promise<TokenView> {
  return (await service.invalidate(accountId, accessToken, opts)).token;
}
