// The vocabulary the errcode tables are written in: what an entry holds, the behaviours and cool-downs they share,
// and the console paths their hints send operators to. The tables themselves are wechatCredentialErrcodes.ts,
// wechatAccountErrcodes.ts and wecomErrcodes.ts; errcodes.ts classifies answers with them.
import type { ErrClass, Hint } from "./types";

export type Platform = "wechat" | "wecom";

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

/** Cool-down before asking again after a refusal a human must fix. The broker grows it on repeats. */
export const CONFIG_COOLDOWN_MS = MINUTE;
/** 89501/89503: the admin has to tap a confirmation in WeChat; asking more often than this achieves nothing. */
export const ADMIN_CONFIRM_COOLDOWN_MS = 5 * MINUTE;

/** When to call again: a fixed delay, or the end of WeChat's quota day (00:00 Beijing time). */
export type Cooldown = { kind: "fixed"; ms: number } | { kind: "quota_day_end" };

export interface Behaviour {
  errclass: ErrClass;
  retryable: boolean;
  cooldown?: Cooldown;
}

/** What the hint text may mention. All of it is safe to show (an AppID and an IP are not secrets). */
export interface HintContext {
  ip?: string;
  appId?: string;
  /** The endpoint that answered: a business call (the probe) may need another fix than a token endpoint. */
  endpoint?: string;
}

export interface ErrcodeEntry {
  platform: Platform;
  code: number;
  /** The errmsg WeChat sends (or documents), for docs and the simulator's authors. */
  errmsg: string;
  /** One line, English, for error messages: "IP 1.92.157.200 is not in the IP whitelist". */
  summary: (c: HintContext) => string;
  /** Behaviour when a token endpoint (token / stable_token / gettoken) answered. */
  atToken: Behaviour;
  /** Behaviour when a business call (our probe) answered. Defaults to atToken. */
  atProbe?: Behaviour;
  hint: (c: HintContext) => Hint;
  /** The hint when a business call (the probe) answered, where it differs. */
  probeHint?: (c: HintContext) => Hint;
}

// ---------- small helpers that keep the tables readable ----------

export const fixed = (ms: number): Cooldown => ({ kind: "fixed", ms });
export const transient: Behaviour = { errclass: "transient", retryable: true };
export const config: Behaviour = { errclass: "config", retryable: false, cooldown: fixed(CONFIG_COOLDOWN_MS) };
// A malformed request fails the same way every time; pausing stops us burning calls on it.
export const bug: Behaviour = { errclass: "bug", retryable: false, cooldown: fixed(CONFIG_COOLDOWN_MS) };
export const tokenInvalid: Behaviour = { errclass: "token_invalid", retryable: true };
// 40014/42001 can only be about a token we sent; a token endpoint answering with them is WeChat misbehaving,
// so the fetch is treated as transient (backoff) rather than "refresh the token" (which is what we are doing).
export const tokenCodeAtTokenEndpoint: Behaviour = { errclass: "transient", retryable: true };

export const ipEn = (c: HintContext) => c.ip ?? "the server's egress IP (shown in WeChat's errmsg)";
export const ipZh = (c: HintContext) => c.ip ?? "服务器出口IP（见微信返回的 errmsg）";
export const appEn = (c: HintContext) => (c.appId ? `appid ${c.appId}` : "this appid");
export const appZh = (c: HintContext) => (c.appId ? `AppID ${c.appId}` : "该 AppID");

export const WX_WHITELIST_PATH_EN =
  "WeChat Official Accounts Platform (mp.weixin.qq.com) → 设置与开发 → 基本配置 → IP白名单 " +
  "(or WeChat Developer Platform 微信开发者平台 → 开发密钥 → API IP白名单)";
export const WX_WHITELIST_PATH_ZH = "微信公众平台 → 设置与开发 → 基本配置 → IP白名单（或 微信开发者平台 → 开发密钥 → API IP白名单）";
export const WX_SECRET_PATH_EN =
  "mp.weixin.qq.com → 设置与开发 → 基本配置 → 开发者密码(AppSecret) (or 微信开发者平台 → 开发密钥 → AppSecret)";
export const WX_SECRET_PATH_ZH = "微信公众平台 → 设置与开发 → 基本配置 → 开发者密码(AppSecret)（或 微信开发者平台 → 开发密钥 → AppSecret）";
export const UPDATE_SECRET_EN = "then update the account's appSecret (ACCOUNTS / appSecretFile) and reload the broker";
export const UPDATE_SECRET_ZH = "然后更新该账号的 appSecret（ACCOUNTS / appSecretFile）并重新加载 broker";
export const WECOM_SECRET_PATH_EN =
  "WeCom admin console (work.weixin.qq.com) → 应用管理 → the app → Secret (查看; it is sent to the admin's WeCom)";
export const WECOM_SECRET_PATH_ZH = "企业微信管理后台 → 应用管理 → 对应应用 → Secret（点击查看，会发送到管理员的企业微信）";
