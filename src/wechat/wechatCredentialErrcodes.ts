// WeChat's (api.weixin.qq.com) answers about the system, the credentials and the request itself: what class of
// problem each is, when to call again, and what an operator must do. The rest of WeChat's codes, in the same code
// order, are in wechatAccountErrcodes.ts. Facts and sources: docs/wechat-api.md §5.4, §7 and §8.
import {
  transient,
  config,
  bug,
  tokenInvalid,
  tokenCodeAtTokenEndpoint,
  ipEn,
  ipZh,
  appEn,
  appZh,
  WX_WHITELIST_PATH_EN,
  WX_WHITELIST_PATH_ZH,
  WX_SECRET_PATH_EN,
  WX_SECRET_PATH_ZH,
  UPDATE_SECRET_EN,
  UPDATE_SECRET_ZH,
  type ErrcodeEntry,
} from "./errcodeEntry";

export const WECHAT_CREDENTIAL_ERRCODES: readonly ErrcodeEntry[] = [
  {
    platform: "wechat",
    code: -1,
    errmsg: "system error",
    summary: () => "WeChat is busy (system error)",
    atToken: transient,
    hint: () => ({
      en:
        "WeChat reported a temporary system error. The broker retries with backoff; if it persists for many minutes, check " +
        "https://developers.weixin.qq.com for an outage.",
      zh: "微信返回系统繁忙（-1）。broker 会自动退避重试；若持续较长时间，请关注微信开放社区是否有故障公告。",
    }),
  },
  {
    platform: "wechat",
    code: -1000,
    errmsg: "system error",
    summary: () => "WeChat is busy (system error)",
    atToken: transient,
    hint: () => ({
      en: "WeChat reported a temporary system error. The broker retries with backoff.",
      zh: "微信返回系统错误（-1000）。broker 会自动退避重试。",
    }),
  },
  {
    platform: "wechat",
    code: 40001,
    errmsg: "invalid credential, access_token is invalid or not latest",
    // At a token endpoint 40001 is the old "AppSecret wrong / not this account's" answer (docs/wechat-api.md §2.5).
    summary: () => "the AppSecret is wrong or belongs to another account, or the access_token is invalid or not the latest",
    atToken: config,
    atProbe: tokenInvalid,
    hint: (c) => ({
      en: `The AppSecret is wrong or belongs to another account. Copy or reset it at ${WX_SECRET_PATH_EN}, ${UPDATE_SECRET_EN}.`,
      zh: `AppSecret 错误或不属于该账号（${appZh(c)}），请到 ${WX_SECRET_PATH_ZH} 复制或重置，${UPDATE_SECRET_ZH}。`,
    }),
    probeHint: (c) => ({
      en:
        `The token was replaced by a newer one and is no longer valid. If this repeats, something else is fetching tokens ` +
        `for ${appEn(c)} with the same AppSecret (another service, an old deployment, a script): find it and make it ask the broker instead.`,
      zh: `该 access_token 已被新的 token 替换而失效。若反复出现，说明有其他程序（其他服务、旧部署、脚本）在用同一 AppSecret 为 ${appZh(c)} 获取 token，请找到它并改为从 broker 获取。`,
    }),
  },
  {
    platform: "wechat",
    code: 40002,
    errmsg: "invalid grant_type",
    summary: () => "invalid grant_type",
    atToken: bug,
    hint: () => ({
      en: "The request's grant_type is not client_credential. This is a bug in the broker's WeChat client (or a proxy rewriting requests): report it.",
      zh: "请求的 grant_type 不是 client_credential。这是 broker 客户端（或中间代理改写请求）的缺陷，请反馈。",
    }),
  },
  {
    platform: "wechat",
    code: 40013,
    errmsg: "invalid appid",
    summary: (c) => `WeChat does not know ${appEn(c)}`,
    atToken: config,
    hint: (c) => ({
      en:
        `WeChat does not accept ${appEn(c)}. Check the account's appId in ACCOUNTS: no spaces or stray characters, correct ` +
        `case, and the right account (an Official Account and a Mini Program have different AppIDs). The AppID is shown at ` +
        `mp.weixin.qq.com → 设置与开发 → 基本配置 → 开发者ID(AppID).`,
      zh: `微信不认可 ${appZh(c)}。请检查 ACCOUNTS 中该账号的 appId：无空格或异常字符、大小写正确、是正确的账号（公众号与小程序的 AppID 不同）。AppID 见 微信公众平台 → 设置与开发 → 基本配置 → 开发者ID(AppID)。`,
    }),
  },
  {
    platform: "wechat",
    code: 40014,
    errmsg: "invalid access_token",
    summary: () => "the access_token is not a valid token",
    atToken: tokenCodeAtTokenEndpoint,
    atProbe: tokenInvalid,
    hint: () => ({
      en:
        "The access_token is not valid (malformed, truncated, or from another account). The broker fetches a new one; if " +
        "callers keep reporting it, check they pass the token unmodified and for the right account.",
      zh: "access_token 不合法（格式错误、被截断或属于其他账号）。broker 会重新获取；若调用方持续报告，请确认其原样传递 token 且账号正确。",
    }),
  },
  {
    platform: "wechat",
    code: 40125,
    errmsg: "invalid appsecret",
    summary: () => "the AppSecret is wrong",
    atToken: config,
    hint: (c) => ({
      en:
        `WeChat rejected the AppSecret of ${appEn(c)} (it may have been reset in the console). Copy the current AppSecret, ` +
        `or reset it, at ${WX_SECRET_PATH_EN}; ${UPDATE_SECRET_EN}. Resetting invalidates the old secret everywhere else.`,
      zh: `微信拒绝了 ${appZh(c)} 的 AppSecret（可能已在后台被重置）。请到 ${WX_SECRET_PATH_ZH} 复制当前 AppSecret 或重置，${UPDATE_SECRET_ZH}。注意：重置后旧密钥在所有地方失效。`,
    }),
  },
  {
    platform: "wechat",
    code: 40164,
    errmsg: "invalid ip A.B.C.D ipv6 ::ffff:A.B.C.D, not in whitelist",
    summary: (c) => `IP ${c.ip ?? "(unknown)"} is not in the IP whitelist`,
    atToken: config,
    hint: (c) => ({
      en:
        `Add ${ipEn(c)} to the API IP whitelist of ${appEn(c)}: ${WX_WHITELIST_PATH_EN}. It takes effect after a few ` +
        `minutes. Make sure it is the whitelist of this very account, and if the broker goes out through a NAT or proxy, ` +
        `whitelist the address WeChat reports, not the host's own.`,
      zh: `请将 ${ipZh(c)} 添加到 ${appZh(c)} 的接口IP白名单：${WX_WHITELIST_PATH_ZH}。生效需等待几分钟。请确认修改的是该账号本身的白名单；若经 NAT 或代理出网，应添加微信看到的地址而不是主机自身地址。`,
    }),
  },
  {
    platform: "wechat",
    code: 40243,
    errmsg: "AppSecret已被冻结",
    summary: () => "the AppSecret is frozen",
    atToken: config,
    hint: (c) => ({
      en: `The AppSecret of ${appEn(c)} is frozen. An administrator must unfreeze it (解冻) at ${WX_SECRET_PATH_EN}, then the broker recovers by itself.`,
      zh: `${appZh(c)} 的 AppSecret 已被冻结。请管理员在 ${WX_SECRET_PATH_ZH} 处解冻，之后 broker 会自动恢复。`,
    }),
  },
  {
    platform: "wechat",
    code: 41001,
    errmsg: "access_token missing",
    summary: () => "the request carried no access_token",
    atToken: bug,
    hint: () => ({
      en: "The request carried no access_token. This is a caller bug (the token was not attached): fix the caller.",
      zh: "请求未携带 access_token，属于调用方缺陷，请修复调用代码。",
    }),
  },
  {
    platform: "wechat",
    code: 41002,
    errmsg: "appid missing",
    summary: () => "the request carried no appid",
    // The client always sends the appid; reaching 41002 means an empty appId or a body WeChat could not parse.
    atToken: bug,
    hint: () => ({
      en: "WeChat saw no appid. Check that the account's appId is not empty; otherwise the request body was not valid JSON (a client or proxy bug): report it.",
      zh: "微信未收到 appid。请确认该账号的 appId 非空；否则是请求体不是合法 JSON（客户端或代理缺陷），请反馈。",
    }),
  },
  {
    platform: "wechat",
    code: 41004,
    errmsg: "appsecret missing",
    summary: () => "the request carried no AppSecret",
    atToken: config,
    hint: (c) => ({
      en:
        `No AppSecret was sent for ${appEn(c)}: the configured appSecret (ACCOUNTS / appSecretFile) is empty. Put the ` +
        `AppSecret from ${WX_SECRET_PATH_EN} there.`,
      zh: `${appZh(c)} 未发送 AppSecret：配置的 appSecret（ACCOUNTS / appSecretFile）为空。请填入 ${WX_SECRET_PATH_ZH} 中的 AppSecret。`,
    }),
  },
  {
    platform: "wechat",
    code: 42001,
    errmsg: "access_token expired",
    summary: () => "the access_token has expired",
    atToken: tokenCodeAtTokenEndpoint,
    atProbe: tokenInvalid,
    hint: () => ({
      en:
        "The access_token has expired. The broker fetches a new one; if callers see this often, the broker's refresh " +
        "margin is too small or a caller caches tokens itself.",
      zh: "access_token 已过期。broker 会重新获取；若频繁出现，说明 broker 提前刷新的余量过小，或调用方自行缓存了 token。",
    }),
  },
  {
    platform: "wechat",
    code: 43001,
    errmsg: "require GET method",
    summary: () => "WeChat requires GET",
    atToken: bug,
    hint: () => ({ en: "Wrong HTTP method: a client bug, report it.", zh: "HTTP 方法错误（需要 GET），属于客户端缺陷，请反馈。" }),
  },
  {
    platform: "wechat",
    code: 43002,
    errmsg: "require POST method",
    summary: () => "WeChat requires POST",
    atToken: bug,
    hint: () => ({ en: "Wrong HTTP method: a client bug, report it.", zh: "HTTP 方法错误（需要 POST），属于客户端缺陷，请反馈。" }),
  },
  {
    platform: "wechat",
    code: 43003,
    errmsg: "require https",
    summary: () => "WeChat requires HTTPS",
    atToken: bug,
    hint: () => ({
      en: "WeChat requires HTTPS: set WECHAT_API_BASE to https://api.weixin.qq.com.",
      zh: "微信要求 HTTPS：请将 WECHAT_API_BASE 设为 https://api.weixin.qq.com。",
    }),
  },
  {
    platform: "wechat",
    code: 44002,
    errmsg: "empty post data",
    summary: () => "the POST body was empty",
    atToken: bug,
    hint: () => ({
      en: "WeChat received an empty body: a client or proxy bug, report it.",
      zh: "微信收到空的请求体，属于客户端或代理缺陷，请反馈。",
    }),
  },
];
