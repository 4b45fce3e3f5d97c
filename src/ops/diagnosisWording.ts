// The words the diagnosis's checks share: the title of each check, the Chinese name of each errclass, the endpoint
// path each credential comes from, and the stock lines for "not checked" and "see the WeChat line".
import type { CredentialApi } from "../accounts";
import type { ErrClass, Hint } from "../wechat/types";
import type { CheckId } from "./diagnosisReport";

export const ENDPOINT_PATH: Readonly<Record<CredentialApi, string>> = {
  classic: "cgi-bin/token",
  stable: "cgi-bin/stable_token",
  wecom: "cgi-bin/gettoken",
  ticket: "cgi-bin/ticket/getticket",
};

export const TITLES: Record<CheckId, Hint> = {
  config: { en: "Configuration", zh: "配置" },
  store: { en: "Token store", zh: "令牌存储" },
  locks: { en: "Locks", zh: "分布式锁" },
  token: { en: "Token", zh: "令牌" },
  upstream: { en: "WeChat answers", zh: "微信接口" },
  breaker: { en: "Breaker", zh: "熔断" },
  quota: { en: "Quota today", zh: "今日额度" },
  ceiling: { en: "Call ceiling", zh: "调用上限" },
  probe: { en: "Token test with WeChat", zh: "令牌实测" },
  foreign: { en: "Other token fetchers", zh: "其他获取 token 的系统" },
  ticket: { en: "JS-SDK ticket", zh: "JS-SDK 票据" },
};

export const ERRCLASS_ZH: Record<ErrClass, string> = {
  transient: "临时故障",
  token_invalid: "令牌失效",
  config: "配置错误",
  admin: "需管理员处理",
  quota: "额度用尽",
  bug: "请求错误",
};

export function both(en: string, zh: string): Hint {
  return { en, zh };
}

export const NOT_CHECKED = both("not checked: the token store is unavailable", "未检查：令牌存储不可用");
export const SEE_UPSTREAM = both("See the fix on this account's WeChat line.", "请按该账号「微信接口」一行的修复建议处理。");

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
