// WeCom's (qyapi.weixin.qq.com) answers: what class of problem each is, when to call again, and what an operator
// must do. Facts and sources: docs/wechat-api.md §5.4, §7 and §8.
import {
  MINUTE,
  fixed,
  transient,
  config,
  bug,
  tokenInvalid,
  tokenCodeAtTokenEndpoint,
  ipEn,
  ipZh,
  UPDATE_SECRET_EN,
  UPDATE_SECRET_ZH,
  WECOM_SECRET_PATH_EN,
  WECOM_SECRET_PATH_ZH,
  type ErrcodeEntry,
} from "./errcodeEntry";

export const WECOM_ERRCODES: readonly ErrcodeEntry[] = [
  {
    platform: "wecom",
    code: -1,
    errmsg: "system busy",
    summary: () => "WeCom is busy (system busy)",
    atToken: transient,
    hint: () => ({
      en: "WeCom reported a temporary system error. The broker retries with backoff (WeCom advises at most 3 retries in a row).",
      zh: "企业微信返回系统繁忙（-1），broker 会自动退避重试（官方建议连续重试不超过 3 次）。",
    }),
  },
  {
    platform: "wecom",
    code: 40001,
    errmsg: "invalid credential",
    // At gettoken it means the corpsecret is wrong (WeCom's "不合法的secret参数"); on a business call, the token.
    summary: () => "the corpsecret is wrong, or the access_token is invalid",
    atToken: config,
    atProbe: tokenInvalid,
    hint: (c) => ({
      en:
        `The corpsecret for ${c.appId ? `corpid ${c.appId}` : "this corp"} is wrong or belongs to another app. Each app ` +
        `has its own Secret: ${WECOM_SECRET_PATH_EN}; ${UPDATE_SECRET_EN}.`,
      zh: `${c.appId ? `企业 ${c.appId}` : "该企业"} 的 corpsecret 错误或属于其他应用。每个应用有自己的 Secret：${WECOM_SECRET_PATH_ZH}；${UPDATE_SECRET_ZH}。`,
    }),
    probeHint: () => ({
      en: "The WeCom access_token is no longer valid; the broker fetches a new one.",
      zh: "企业微信 access_token 已失效，broker 会重新获取。",
    }),
  },
  {
    platform: "wecom",
    code: 40013,
    errmsg: "invalid corpid",
    summary: (c) => `WeCom does not know corpid ${c.appId ?? "(unknown)"}`,
    atToken: config,
    hint: () => ({
      en: "The corpid is wrong. Copy it from the WeCom admin console (work.weixin.qq.com) → 我的企业 → 企业信息 → 企业ID, and put it in the account's appId.",
      zh: "corpid 错误。请从 企业微信管理后台 → 我的企业 → 企业信息 → 企业ID 复制，并填入该账号的 appId。",
    }),
  },
  {
    platform: "wecom",
    code: 40014,
    errmsg: "invalid access_token",
    summary: () => "the access_token is invalid or expired",
    atToken: tokenCodeAtTokenEndpoint,
    // WeCom may answer an expired token with 40014 rather than 42001 (docs/wechat-api.md §5.4).
    atProbe: tokenInvalid,
    hint: () => ({
      en: "The WeCom access_token is invalid or expired (WeCom uses 40014 for both). The broker fetches a new one.",
      zh: "企业微信 access_token 不合法或已过期（企业微信两种情况都可能返回 40014），broker 会重新获取。",
    }),
  },
  {
    platform: "wecom",
    code: 40091,
    errmsg: "secret is invalid",
    summary: () => "the corpsecret belongs to another corp",
    atToken: config,
    hint: () => ({
      en: `The corpsecret belongs to another corp (or is malformed). Use the Secret of an app of this corp: ${WECOM_SECRET_PATH_EN}; ${UPDATE_SECRET_EN}.`,
      zh: `corpsecret 不属于该企业（或格式不合法）。请使用该企业应用的 Secret：${WECOM_SECRET_PATH_ZH}；${UPDATE_SECRET_ZH}。`,
    }),
  },
  {
    platform: "wecom",
    code: 41001,
    errmsg: "access_token missing",
    summary: () => "the request carried no access_token",
    atToken: bug,
    hint: () => ({
      en: "The request carried no access_token: a caller bug, fix the caller.",
      zh: "请求未携带 access_token，属于调用方缺陷，请修复调用代码。",
    }),
  },
  {
    platform: "wecom",
    code: 41002,
    errmsg: "corpid missing",
    summary: () => "the request carried no corpid",
    atToken: config,
    hint: () => ({
      en: "No corpid was sent: the account's appId (corpid) is empty. Put the 企业ID from 我的企业 → 企业信息 there.",
      zh: "未发送 corpid：该账号的 appId（corpid）为空。请填入 我的企业 → 企业信息 中的企业ID。",
    }),
  },
  {
    platform: "wecom",
    code: 41004,
    errmsg: "corpsecret missing",
    summary: () => "the request carried no corpsecret",
    atToken: config,
    hint: () => ({
      en: `No corpsecret was sent: the configured appSecret (ACCOUNTS / appSecretFile) is empty. Put the app's Secret there (${WECOM_SECRET_PATH_EN}).`,
      zh: `未发送 corpsecret：配置的 appSecret（ACCOUNTS / appSecretFile）为空。请填入应用的 Secret（${WECOM_SECRET_PATH_ZH}）。`,
    }),
  },
  {
    platform: "wecom",
    code: 42001,
    errmsg: "access_token expired",
    summary: () => "the access_token has expired",
    atToken: tokenCodeAtTokenEndpoint,
    atProbe: tokenInvalid,
    hint: () => ({
      en: "The WeCom access_token has expired (WeCom may also revoke tokens early). The broker fetches a new one.",
      zh: "企业微信 access_token 已过期（企业微信也可能提前使其失效），broker 会重新获取。",
    }),
  },
  {
    platform: "wecom",
    code: 45009,
    errmsg: "api freq out of limit",
    summary: () => "WeCom's frequency limit was hit",
    // WeCom blocks for 60 s, 60 min or the rest of the day depending on which limit was hit, and does not say
    // which; start with the shortest documented block and let the broker grow it on repeats.
    atToken: { errclass: "quota", retryable: true, cooldown: fixed(MINUTE) },
    hint: () => ({
      en:
        "WeCom's frequency limit was hit: it blocks for 60 s, 60 min or the rest of the day depending on the limit. Find " +
        "what is calling gettoken or the API so often (a fetch storm, or many failing calls: 2000 bad gettoken calls in an " +
        "hour block for an hour) and stop it.",
      zh: "触发了企业微信的频率限制：按分钟拦截屏蔽 60 秒，按小时拦截屏蔽 60 分钟，按天拦截屏蔽当天。请排查频繁调用 gettoken 或接口的程序（一小时内 2000 次错误的 gettoken 调用会被屏蔽一小时）并停止它。",
    }),
  },
  {
    platform: "wecom",
    code: 45033,
    errmsg: "api concurrent out of limit",
    summary: () => "too many concurrent calls",
    atToken: transient,
    hint: () => ({ en: "WeCom's concurrency limit was hit; the broker backs off.", zh: "触发了企业微信的并发限制，broker 会退避重试。" }),
  },
  {
    platform: "wecom",
    code: 48002,
    errmsg: "api forbidden",
    summary: () => "the app has no permission for this API",
    atToken: config,
    hint: () => ({
      en:
        "The app has no permission for this API. Grant it in the WeCom admin console (应用管理 → the app → API permissions), " +
        "or use the Secret of an app that has it.",
      zh: "该应用没有此接口权限。请在企业微信管理后台的 应用管理 → 对应应用 中开通，或使用有权限的应用的 Secret。",
    }),
  },
  {
    platform: "wecom",
    code: 60020,
    errmsg: "not allow to access from your ip",
    summary: (c) => `IP ${c.ip ?? "(unknown)"} is not a trusted IP of the WeCom app`,
    atToken: config,
    hint: (c) => ({
      en:
        `Add ${ipEn(c)} to the app's trusted IPs: WeCom admin console (work.weixin.qq.com) → 应用管理 → the app → 企业可信IP → 配置 ` +
        `(for a service provider: the provider's IP whitelist). It takes effect after a few minutes.`,
      zh: `请将 ${ipZh(c)} 添加到应用的企业可信IP：企业微信管理后台 → 应用管理 → 对应应用 → 企业可信IP → 配置（服务商应用则为服务商的 IP 白名单）。生效需等待几分钟。`,
    }),
  },
  {
    platform: "wecom",
    code: 301002,
    errmsg: "not allow operate another agent with this accesstoken",
    summary: () => "the token belongs to another WeCom app",
    // Not retryable and no cool-down: it is about which app's token a caller used, not about fetching tokens.
    atToken: { errclass: "config", retryable: false },
    hint: () => ({
      en:
        "The token belongs to a different WeCom app (agent). Each app has its own Secret and tokens: configure one broker " +
        "account per app and make the caller ask for the right one.",
      zh: "该 token 属于另一个企业微信应用。每个应用的 Secret 与 token 相互独立：请为每个应用配置一个 broker 账号，并让调用方获取对应账号的 token。",
    }),
  },
];
