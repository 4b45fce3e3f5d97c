// THE errcode table: every WeChat (api.weixin.qq.com) and WeCom (qyapi.weixin.qq.com) answer the broker can get,
// what class of problem it is, whether and when to call again, and what an operator must do (English + Chinese).
// Facts and sources: docs/wechat-api.md §5.4, §7 and §8 (the table there mirrors this one). The broker acts on
// `errclass`, `retryable` and `retryAfterMs`; people read `hint`.
import type { ErrClass, Hint, UpstreamEndpoint, UpstreamFailureKind } from "./types";
import { quotaDayEnd } from "../clock";
import { extractIp, extractRid } from "./errmsg";

export type Platform = "wechat" | "wecom";

/** Failures that carry no errcode. `non_json` and `bad_shape` are both UpstreamError kind "bad_body". */
export type SyntheticFailure = "network" | "timeout" | "http_status" | "non_json" | "bad_shape" | "aborted";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Cool-down before asking again after a refusal a human must fix. The broker grows it on repeats. */
export const CONFIG_COOLDOWN_MS = MINUTE;
/** 89501/89503: the admin has to tap a confirmation in WeChat; asking more often than this achieves nothing. */
export const ADMIN_CONFIRM_COOLDOWN_MS = 5 * MINUTE;

/** When to call again: a fixed delay, or the end of WeChat's quota day (00:00 Beijing time). */
export type Cooldown = { kind: "fixed"; ms: number } | { kind: "quota_day_end" };

interface Behaviour {
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

interface Entry {
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

// ---------- small helpers that keep the table readable ----------

const fixed = (ms: number): Cooldown => ({ kind: "fixed", ms });
const transient: Behaviour = { errclass: "transient", retryable: true };
const config: Behaviour = { errclass: "config", retryable: false, cooldown: fixed(CONFIG_COOLDOWN_MS) };
// A malformed request fails the same way every time; pausing stops us burning calls on it.
const bug: Behaviour = { errclass: "bug", retryable: false, cooldown: fixed(CONFIG_COOLDOWN_MS) };
const tokenInvalid: Behaviour = { errclass: "token_invalid", retryable: true };
// 40014/42001 can only be about a token we sent; a token endpoint answering with them is WeChat misbehaving,
// so the fetch is treated as transient (backoff) rather than "refresh the token" (which is what we are doing).
const tokenCodeAtTokenEndpoint: Behaviour = { errclass: "transient", retryable: true };

const ipEn = (c: HintContext) => c.ip ?? "the server's egress IP (shown in WeChat's errmsg)";
const ipZh = (c: HintContext) => c.ip ?? "服务器出口IP（见微信返回的 errmsg）";
const appEn = (c: HintContext) => (c.appId ? `appid ${c.appId}` : "this appid");
const appZh = (c: HintContext) => (c.appId ? `AppID ${c.appId}` : "该 AppID");

const WX_WHITELIST_PATH_EN =
  "WeChat Official Accounts Platform (mp.weixin.qq.com) → 设置与开发 → 基本配置 → IP白名单 " +
  "(or WeChat Developer Platform 微信开发者平台 → 开发密钥 → API IP白名单)";
const WX_WHITELIST_PATH_ZH = "微信公众平台 → 设置与开发 → 基本配置 → IP白名单（或 微信开发者平台 → 开发密钥 → API IP白名单）";
const WX_SECRET_PATH_EN =
  "mp.weixin.qq.com → 设置与开发 → 基本配置 → 开发者密码(AppSecret) (or 微信开发者平台 → 开发密钥 → AppSecret)";
const WX_SECRET_PATH_ZH = "微信公众平台 → 设置与开发 → 基本配置 → 开发者密码(AppSecret)（或 微信开发者平台 → 开发密钥 → AppSecret）";
const UPDATE_SECRET_EN = "then update the account's appSecret (ACCOUNTS / appSecretFile) and reload the broker";
const UPDATE_SECRET_ZH = "然后更新该账号的 appSecret（ACCOUNTS / appSecretFile）并重新加载 broker";
const WECOM_SECRET_PATH_EN =
  "WeCom admin console (work.weixin.qq.com) → 应用管理 → the app → Secret (查看; it is sent to the admin's WeCom)";
const WECOM_SECRET_PATH_ZH = "企业微信管理后台 → 应用管理 → 对应应用 → Secret（点击查看，会发送到管理员的企业微信）";

// ---------- the table ----------

const WECHAT: Entry[] = [
  {
    platform: "wechat",
    code: -1,
    errmsg: "system error",
    summary: () => "WeChat is busy (system error)",
    atToken: transient,
    hint: () => ({
      en: "WeChat reported a temporary system error. The broker retries with backoff; if it persists for many minutes, check https://developers.weixin.qq.com for an outage.",
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
      en: `The token was replaced by a newer one and is no longer valid. If this repeats, something else is fetching tokens for ${appEn(c)} with the same AppSecret (another service, an old deployment, a script): find it and make it ask the broker instead.`,
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
      en: `WeChat does not accept ${appEn(c)}. Check the account's appId in ACCOUNTS: no spaces or stray characters, correct case, and the right account (an Official Account and a Mini Program have different AppIDs). The AppID is shown at mp.weixin.qq.com → 设置与开发 → 基本配置 → 开发者ID(AppID).`,
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
      en: "The access_token is not valid (malformed, truncated, or from another account). The broker fetches a new one; if callers keep reporting it, check they pass the token unmodified and for the right account.",
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
      en: `WeChat rejected the AppSecret of ${appEn(c)} (it may have been reset in the console). Copy the current AppSecret, or reset it, at ${WX_SECRET_PATH_EN}; ${UPDATE_SECRET_EN}. Resetting invalidates the old secret everywhere else.`,
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
      en: `Add ${ipEn(c)} to the API IP whitelist of ${appEn(c)}: ${WX_WHITELIST_PATH_EN}. It takes effect after a few minutes. Make sure it is the whitelist of this very account, and if the broker goes out through a NAT or proxy, whitelist the address WeChat reports, not the host's own.`,
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
      en: `No AppSecret was sent for ${appEn(c)}: the configured appSecret (ACCOUNTS / appSecretFile) is empty. Put the AppSecret from ${WX_SECRET_PATH_EN} there.`,
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
      en: "The access_token has expired. The broker fetches a new one; if callers see this often, the broker's refresh margin is too small or a caller caches tokens itself.",
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
    hint: () => ({ en: "WeChat received an empty body: a client or proxy bug, report it.", zh: "微信收到空的请求体，属于客户端或代理缺陷，请反馈。" }),
  },
  {
    platform: "wechat",
    code: 45009,
    errmsg: "reach max api daily quota limit",
    summary: () => "the daily quota of the token API is used up",
    atToken: { errclass: "quota", retryable: true, cooldown: { kind: "quota_day_end" } },
    hint: (c) => ({
      en:
        `The daily token quota of ${appEn(c)} is used up; WeChat refuses until 00:00 Beijing time. The broker stops fetching until then. ` +
        "Find who is fetching tokens for this account besides the broker (other services, old deployments, scripts holding the AppSecret) and stop them. " +
        "If you cannot wait, clear the quota once (POST /cgi-bin/clear_quota/v2 with appid and appsecret; 10 clears a month) — usage is shown at mp.weixin.qq.com → 设置与开发 → 接口权限.",
      zh:
        `${appZh(c)} 的 token 接口当日调用次数已用完，北京时间 00:00 前均会被拒绝，broker 在此之前停止获取。` +
        "请找出除 broker 外还在为该账号获取 token 的程序（其他服务、旧部署、持有 AppSecret 的脚本）并停止它们。" +
        "如无法等待，可清零一次（POST /cgi-bin/clear_quota/v2，传 appid 与 appsecret；每月 10 次）——调用量见 微信公众平台 → 设置与开发 → 接口权限。",
    }),
  },
  {
    platform: "wechat",
    code: 45011,
    errmsg: "api minute-quota reach limit mustslower retry next minute",
    summary: () => "too many calls this minute",
    atToken: { errclass: "quota", retryable: true, cooldown: fixed(MINUTE) },
    hint: () => ({
      en: "WeChat's per-minute limit was hit. The broker waits 60 s. If it recurs, something is calling the token API in a loop: find it.",
      zh: "触发了微信的分钟级频率限制，broker 等待 60 秒后再试。若反复出现，说明有程序在循环调用 token 接口，请排查。",
    }),
  },
  {
    platform: "wechat",
    code: 47001,
    errmsg: "data format error",
    summary: () => "WeChat could not parse the request",
    atToken: bug,
    hint: () => ({ en: "WeChat could not parse the request body: a client bug, report it.", zh: "微信无法解析请求体，属于客户端缺陷，请反馈。" }),
  },
  {
    platform: "wechat",
    code: 48001,
    errmsg: "api unauthorized",
    summary: () => "the account is not authorised for this API",
    atToken: config,
    hint: (c) => ({
      en: `${appEn(c)} lacks the permission for this API (account type or verification). Check mp.weixin.qq.com → 设置与开发 → 接口权限, and that the AppID is the account you meant.`,
      zh: `${appZh(c)} 没有该接口权限（与账号类型或认证状态有关）。请查看 微信公众平台 → 设置与开发 → 接口权限，并确认 AppID 是预期的账号。`,
    }),
  },
  {
    platform: "wechat",
    code: 48004,
    errmsg: "api forbidden for irregularities",
    summary: () => "the API is banned for this account",
    atToken: { errclass: "admin", retryable: false, cooldown: fixed(HOUR) },
    hint: (c) => ({
      en: `The API is banned for ${appEn(c)} because of a violation. An administrator must read the notice in mp.weixin.qq.com (通知中心 / 违规记录) and appeal.`,
      zh: `${appZh(c)} 因违规被禁用该接口。请管理员在微信公众平台的通知中心 / 违规记录查看详情并申诉。`,
    }),
  },
  {
    platform: "wechat",
    code: 50001,
    errmsg: "user unauthorized",
    summary: () => "the account is not authorised for this API",
    atToken: config,
    hint: (c) => ({
      en: `${appEn(c)} is not authorised for this API. Check mp.weixin.qq.com → 设置与开发 → 接口权限.`,
      zh: `${appZh(c)} 未获得该接口授权，请查看 微信公众平台 → 设置与开发 → 接口权限。`,
    }),
  },
  {
    platform: "wechat",
    code: 50002,
    errmsg: "user limited",
    summary: () => "the account is restricted",
    // Nothing changes in seconds; a short base cool-down keeps the broker quiet without hiding a lifted ban.
    atToken: { errclass: "admin", retryable: false, cooldown: fixed(CONFIG_COOLDOWN_MS) },
    hint: (c) => ({
      en: `${appEn(c)} is restricted by WeChat (banned after a violation, frozen or migrated). An administrator must check the notices in mp.weixin.qq.com (通知中心 / 违规记录) and resolve it with WeChat.`,
      zh: `${appZh(c)} 被微信限制（违规封禁、冻结或迁移）。请管理员查看微信公众平台的通知中心 / 违规记录，并与微信处理。`,
    }),
  },
  {
    platform: "wechat",
    code: 50004,
    errmsg: "user not allow to use accesstoken, maybe for punishment",
    summary: () => "the account may not use access_tokens (punishment)",
    atToken: { errclass: "admin", retryable: false, cooldown: fixed(CONFIG_COOLDOWN_MS) },
    hint: (c) => ({
      en: `${appEn(c)} is forbidden to use the token API, probably as a punishment. An administrator must read the notices in mp.weixin.qq.com (通知中心 / 违规记录) and resolve it.`,
      zh: `${appZh(c)} 被禁止使用 token 接口（可能因违规处罚）。请管理员查看微信公众平台的通知中心 / 违规记录并处理。`,
    }),
  },
  {
    platform: "wechat",
    code: 50007,
    errmsg: "account frozen",
    summary: () => "the account is frozen",
    atToken: { errclass: "admin", retryable: false, cooldown: fixed(CONFIG_COOLDOWN_MS) },
    hint: (c) => ({
      en: `${appEn(c)} is frozen. An administrator must unfreeze it in mp.weixin.qq.com.`,
      zh: `${appZh(c)} 已被冻结，请管理员登录微信公众平台解冻。`,
    }),
  },
  {
    platform: "wechat",
    code: 61004,
    errmsg: "access clientip is not registered requestIP: A.B.C.D",
    summary: (c) => `IP ${c.ip ?? "(unknown)"} is not in the third-party platform's IP whitelist`,
    atToken: config,
    hint: (c) => ({
      en: `Add ${ipEn(c)} to the IP whitelist of the third-party platform (or shop): 微信开放平台 open.weixin.qq.com → 管理中心 → 第三方平台 → 详情 → 开发资料 → 白名单IP地址. It takes effect after a few minutes.`,
      zh: `请将 ${ipZh(c)} 添加到第三方平台（或小店）的 IP 白名单：微信开放平台 → 管理中心 → 第三方平台 → 详情 → 开发资料 → 白名单IP地址。生效需等待几分钟。`,
    }),
  },
  {
    platform: "wechat",
    code: 61024,
    errmsg: "must use api(api_component_token) to get token for component acct",
    summary: (c) => `${appEn(c)} is a third-party platform (component) appid`,
    atToken: config,
    hint: (c) => ({
      en: `${appEn(c)} is a third-party platform (component) AppID; its token comes from api_component_token, which this broker does not serve. Configure the Official Account's or Mini Program's own AppID instead.`,
      zh: `${appZh(c)} 是第三方平台（component）的 AppID，其 token 需通过 api_component_token 获取，本 broker 不支持。请改为配置公众号或小程序自身的 AppID。`,
    }),
  },
  {
    platform: "wechat",
    code: 89501,
    errmsg: "此IP正在等待管理员确认，请联系管理员",
    summary: (c) => `IP ${c.ip ?? "(unknown)"} is waiting for the administrator's confirmation`,
    atToken: { errclass: "admin", retryable: false, cooldown: fixed(ADMIN_CONFIRM_COOLDOWN_MS) },
    hint: (c) => ({
      en: `The administrator of ${appEn(c)} has been asked in WeChat to confirm calls from ${ipEn(c)} and has not answered yet. Ask them to approve it; the broker tries again every few minutes. To avoid this flow, add the IP to the IP whitelist: ${WX_WHITELIST_PATH_EN}.`,
      zh: `已通过微信请 ${appZh(c)} 的管理员确认 ${ipZh(c)} 的调用，尚未确认。请联系管理员确认；broker 每隔几分钟重试。如需避免此流程，请将该 IP 加入 IP白名单：${WX_WHITELIST_PATH_ZH}。`,
    }),
  },
  {
    platform: "wechat",
    code: 89503,
    errmsg: "此IP调用需要管理员确认，请联系管理员",
    summary: (c) => `calls from IP ${c.ip ?? "(unknown)"} need the administrator's confirmation`,
    atToken: { errclass: "admin", retryable: false, cooldown: fixed(ADMIN_CONFIRM_COOLDOWN_MS) },
    hint: (c) => ({
      en: `WeChat sent the administrator of ${appEn(c)} a message asking to confirm calls from ${ipEn(c)}. Ask them to approve it in WeChat (do not reject: one rejection blocks the IP for 1 h, two for 24 h); the broker tries again every few minutes. To avoid this flow, add the IP to the IP whitelist: ${WX_WHITELIST_PATH_EN}.`,
      zh: `微信已向 ${appZh(c)} 的管理员发送确认 ${ipZh(c)} 调用的消息。请管理员在微信中确认（不要拒绝：拒绝一次该 IP 1 小时内不可调用，两次则 24 小时）；broker 每隔几分钟重试。如需避免此流程，请将该 IP 加入 IP白名单：${WX_WHITELIST_PATH_ZH}。`,
    }),
  },
  {
    platform: "wechat",
    code: 89506,
    errmsg: "该IP调用求请求已被公众号管理员拒绝，请24小时后再试",
    summary: (c) => `the administrator rejected IP ${c.ip ?? "(unknown)"} twice; blocked for 24 h`,
    atToken: { errclass: "admin", retryable: false, cooldown: fixed(24 * HOUR) },
    hint: (c) => ({
      en: `The administrator of ${appEn(c)} rejected calls from ${ipEn(c)} twice; WeChat blocks this IP for 24 hours and the broker will not call until then. Talk to the administrator, then add the IP to the IP whitelist (${WX_WHITELIST_PATH_EN}) or use a whitelisted egress IP.`,
      zh: `${appZh(c)} 的管理员已两次拒绝 ${ipZh(c)} 的调用，该 IP 24 小时内不可调用，broker 在此期间不会请求。请与管理员沟通后将该 IP 加入 IP白名单（${WX_WHITELIST_PATH_ZH}），或改用已在白名单中的出口 IP。`,
    }),
  },
  {
    platform: "wechat",
    code: 89507,
    errmsg: "该IP调用求请求已被公众号管理员拒绝，请1小时后再试",
    summary: (c) => `the administrator rejected IP ${c.ip ?? "(unknown)"}; blocked for 1 h`,
    atToken: { errclass: "admin", retryable: false, cooldown: fixed(HOUR) },
    hint: (c) => ({
      en: `The administrator of ${appEn(c)} rejected calls from ${ipEn(c)}; WeChat blocks this IP for 1 hour and the broker will not call until then. A second rejection blocks it for 24 hours: talk to the administrator first, or add the IP to the IP whitelist (${WX_WHITELIST_PATH_EN}).`,
      zh: `${appZh(c)} 的管理员拒绝了 ${ipZh(c)} 的调用，该 IP 1 小时内不可调用，broker 在此期间不会请求。再被拒绝一次将封禁 24 小时：请先与管理员沟通，或将该 IP 加入 IP白名单（${WX_WHITELIST_PATH_ZH}）。`,
    }),
  },
];

const WECOM: Entry[] = [
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
      en: `The corpsecret for ${c.appId ? `corpid ${c.appId}` : "this corp"} is wrong or belongs to another app. Each app has its own Secret: ${WECOM_SECRET_PATH_EN}; ${UPDATE_SECRET_EN}.`,
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
    hint: () => ({ en: "The request carried no access_token: a caller bug, fix the caller.", zh: "请求未携带 access_token，属于调用方缺陷，请修复调用代码。" }),
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
      en: "WeCom's frequency limit was hit: it blocks for 60 s, 60 min or the rest of the day depending on the limit. Find what is calling gettoken or the API so often (a fetch storm, or many failing calls: 2000 bad gettoken calls in an hour block for an hour) and stop it.",
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
      en: "The app has no permission for this API. Grant it in the WeCom admin console (应用管理 → the app → API permissions), or use the Secret of an app that has it.",
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
      en: `Add ${ipEn(c)} to the app's trusted IPs: WeCom admin console (work.weixin.qq.com) → 应用管理 → the app → 企业可信IP → 配置 (for a service provider: the provider's IP whitelist). It takes effect after a few minutes.`,
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
      en: "The token belongs to a different WeCom app (agent). Each app has its own Secret and tokens: configure one broker account per app and make the caller ask for the right one.",
      zh: "该 token 属于另一个企业微信应用。每个应用的 Secret 与 token 相互独立：请为每个应用配置一个 broker 账号，并让调用方获取对应账号的 token。",
    }),
  },
];

const TABLE = new Map<string, Entry>();
for (const e of [...WECHAT, ...WECOM]) {
  const key = `${e.platform}:${e.code}`;
  if (TABLE.has(key)) throw new Error(`duplicate errcode entry ${key}`);
  TABLE.set(key, e);
}

// ---------- synthetic failures (no errcode) ----------

interface SyntheticEntry {
  kind: UpstreamFailureKind;
  behaviour: Behaviour;
  summary: string;
  hint: (c: HintContext & { platformName: string; baseEnv: string }) => Hint;
}

const SYNTHETIC: Record<SyntheticFailure, SyntheticEntry> = {
  network: {
    kind: "network",
    behaviour: transient,
    summary: "network failure",
    hint: (c) => ({
      en: `Could not reach ${c.platformName}. The broker retries with backoff. If it persists, check ${c.baseEnv}, DNS, the egress firewall/proxy and outbound HTTPS from this host.`,
      zh: `无法连接${c.platformName}，broker 会退避重试。若持续出现，请检查 ${c.baseEnv}、DNS、出口防火墙/代理以及本机的出站 HTTPS。`,
    }),
  },
  timeout: {
    kind: "timeout",
    behaviour: transient,
    summary: "timeout",
    hint: (c) => ({
      en: `${c.platformName} did not answer in time. The broker retries with backoff. If it persists, check the egress network or proxy.`,
      zh: `${c.platformName}未在超时时间内响应，broker 会退避重试。若持续出现，请检查出口网络或代理。`,
    }),
  },
  aborted: {
    kind: "network",
    behaviour: transient,
    summary: "request aborted",
    hint: () => ({
      en: "The broker abandoned the request (shutdown, or the refresh lock expired). Nothing to do unless it keeps happening.",
      zh: "broker 主动放弃了该请求（正在关闭，或刷新锁已过期）。除非反复出现，否则无需处理。",
    }),
  },
  http_status: {
    kind: "http_status",
    behaviour: transient, // refined by status in classifyFailure
    summary: "unexpected HTTP status",
    hint: (c) => ({
      en: `${c.platformName} (or a proxy in between) answered with an HTTP error. The broker retries with backoff.`,
      zh: `${c.platformName}（或中间代理）返回了 HTTP 错误，broker 会退避重试。`,
    }),
  },
  non_json: {
    kind: "bad_body",
    behaviour: transient,
    summary: "the answer was not JSON",
    hint: (c) => ({
      en: `The answer was not JSON: usually a proxy, captive portal or error page between the broker and ${c.platformName}. The broker retries with backoff; if it persists, check ${c.baseEnv} and the egress proxy.`,
      zh: `返回内容不是 JSON：通常是 broker 与${c.platformName}之间的代理、认证网关或错误页面。broker 会退避重试；若持续出现，请检查 ${c.baseEnv} 与出口代理。`,
    }),
  },
  bad_shape: {
    kind: "bad_body",
    behaviour: transient,
    summary: "the answer had no usable token",
    hint: (c) => ({
      en: `${c.platformName} answered JSON without an errcode and without a usable access_token/expires_in. The broker retries with backoff; if it persists, check ${c.baseEnv} points at the real API.`,
      zh: `${c.platformName}返回的 JSON 既没有 errcode 也没有可用的 access_token/expires_in。broker 会退避重试；若持续出现，请确认 ${c.baseEnv} 指向真实接口。`,
    }),
  },
};

// ---------- classification ----------

export interface Classification {
  kind: UpstreamFailureKind;
  errclass: ErrClass;
  retryable: boolean;
  /** How long to wait before calling again for this account, computed from `now` (45009: until 00:00 Beijing). */
  retryAfterMs?: number;
  /** One English line for error messages, e.g. "IP 1.92.157.200 is not in the IP whitelist". */
  summary: string;
  hint: Hint;
  /** The caller IP extracted from the errmsg, validated. */
  ip?: string;
  /** rid / hint id extracted from the errmsg. */
  rid?: string;
  /** False when the errcode is not in the table (the default below applied). */
  known: boolean;
}

export interface ClassifyInput {
  platform: Platform;
  endpoint: UpstreamEndpoint;
  errcode: number;
  errmsg?: string;
  /** Epoch ms at classification time; cool-downs that end at a wall-clock time are computed from it. */
  now: number;
  /** For hints only ("add the IP to the whitelist of appid wx…"). Not secret. */
  appId?: string;
}

export function isTokenEndpoint(endpoint: UpstreamEndpoint): boolean {
  // getticket is a business call made with a token: 40001 there means the token, not the secret.
  return endpoint !== "probe" && endpoint !== "getticket";
}

function cooldownMs(c: Cooldown | undefined, now: number): number | undefined {
  if (!c) return undefined;
  if (c.kind === "fixed") return c.ms;
  // At least a second, so a classification a hair before midnight never says "call again now".
  return Math.max(SECOND, quotaDayEnd(now) - now);
}

// Unknown errcodes: "transient" with a 60 s floor, not "bug". WeChat adds codes over time and many unknown ones
// are server-side conditions that clear by themselves; "bug" (never retry) would park the account for good on
// something we cannot fix, "config" would claim a human must edit something. The 60 s floor keeps an unknown
// refusal from being hammered (it could be a new risk-control code), and the hint sends the operator to the docs.
const UNKNOWN: Behaviour = { errclass: "transient", retryable: true, cooldown: fixed(MINUTE) };

function unknownHint(platform: Platform, code: number): Hint {
  const doc =
    platform === "wecom"
      ? `https://open.work.weixin.qq.com/devtool/query?e=${code}`
      : "https://developers.weixin.qq.com/doc/oplatform/developers/errCode/errCode.html";
  return {
    en: `errcode ${code} is not in the broker's table. The broker retries slowly. Look it up at ${doc}, and report it so it can be classified.`,
    zh: `errcode ${code} 不在 broker 的错误码表中，broker 会放慢重试。请在 ${doc} 查询其含义，并反馈以便归类。`,
  };
}

/** Classify an errcode answer. `platform` is "wecom" for qyapi, otherwise "wechat". */
export function classify(input: ClassifyInput): Classification {
  const ip = extractIp(input.errmsg);
  const rid = extractRid(input.errmsg);
  const entry = TABLE.get(`${input.platform}:${input.errcode}`);
  if (!entry) {
    return {
      kind: "errcode",
      errclass: UNKNOWN.errclass,
      retryable: UNKNOWN.retryable,
      retryAfterMs: cooldownMs(UNKNOWN.cooldown, input.now),
      summary: `unknown errcode ${input.errcode}`,
      hint: unknownHint(input.platform, input.errcode),
      ip,
      rid,
      known: false,
    };
  }
  const b = isTokenEndpoint(input.endpoint) ? entry.atToken : (entry.atProbe ?? entry.atToken);
  const ctx: HintContext = { ip, appId: input.appId, endpoint: input.endpoint };
  return {
    kind: "errcode",
    errclass: b.errclass,
    retryable: b.retryable,
    retryAfterMs: cooldownMs(b.cooldown, input.now),
    summary: entry.summary(ctx),
    hint: entryHint(entry, ctx),
    ip,
    rid,
    known: true,
  };
}

export interface ClassifyFailureInput {
  platform: Platform;
  failure: SyntheticFailure;
  /** For http_status: the status received. */
  httpStatus?: number;
  now: number;
  appId?: string;
}

/** Classify a failure that carried no errcode: network, timeout, HTTP status, non-JSON or malformed body. */
export function classifyFailure(input: ClassifyFailureInput): Classification {
  const s = SYNTHETIC[input.failure];
  const names =
    input.platform === "wecom"
      ? { platformName: "WeCom (qyapi.weixin.qq.com)", baseEnv: "WECOM_API_BASE" }
      : { platformName: "WeChat (api.weixin.qq.com)", baseEnv: "WECHAT_API_BASE" };
  let behaviour = s.behaviour;
  let hint = s.hint({ appId: input.appId, ...names });
  let summary = s.summary;
  if (input.failure === "http_status" && input.httpStatus !== undefined) {
    const st = input.httpStatus;
    summary = `HTTP ${st}`;
    // 5xx, 408 and 429 are the server (or a proxy) having a bad moment. Any other status is not something
    // api.weixin.qq.com answers at all: the base URL or a proxy is wrong, which a human must fix.
    if (!(st >= 500 || st === 408 || st === 429)) {
      behaviour = config;
      hint = {
        en: `${names.platformName} never answers HTTP ${st}: ${names.baseEnv} or an egress proxy is wrong (wrong path, a login page, a redirect). Check ${names.baseEnv} is the API's base URL (e.g. https://api.weixin.qq.com) and the proxy settings.`,
        zh: `${names.platformName}不会返回 HTTP ${st}：${names.baseEnv} 或出口代理配置有误（路径错误、登录页、重定向）。请确认 ${names.baseEnv} 是接口根地址（如 https://api.weixin.qq.com）并检查代理设置。`,
      };
    }
  }
  return {
    kind: s.kind,
    errclass: behaviour.errclass,
    retryable: behaviour.retryable,
    retryAfterMs: cooldownMs(behaviour.cooldown, input.now),
    summary,
    hint,
    known: true,
  };
}

// ---------- description, for docs and diagnosis ----------

export interface BehaviourDescription {
  errclass: ErrClass;
  retryable: boolean;
  /** Fixed cool-down in ms, when it has one. */
  retryAfterMs?: number;
  /** Set when the cool-down ends at the end of the quota day (00:00 Beijing time) instead. */
  retryAfterUntil?: "quota_day_end";
}

export interface ErrcodeDescription {
  platform: Platform;
  code: number;
  errmsg: string;
  /** At token / stable_token / gettoken. */
  atTokenEndpoint: BehaviourDescription;
  /** At a business call such as the probe. */
  atProbe: BehaviourDescription;
  /** The operator hint with no IP known (the IP appears as a placeholder phrase). */
  hint: Hint;
}

function describeBehaviour(b: Behaviour): BehaviourDescription {
  const d: BehaviourDescription = { errclass: b.errclass, retryable: b.retryable };
  if (b.cooldown?.kind === "fixed") d.retryAfterMs = b.cooldown.ms;
  if (b.cooldown?.kind === "quota_day_end") d.retryAfterUntil = "quota_day_end";
  return d;
}

function describeEntry(e: Entry, ctx: HintContext = {}): ErrcodeDescription {
  return {
    platform: e.platform,
    code: e.code,
    errmsg: e.errmsg,
    atTokenEndpoint: describeBehaviour(e.atToken),
    atProbe: describeBehaviour(e.atProbe ?? e.atToken),
    hint: entryHint(e, ctx),
  };
}

function entryHint(e: Entry, ctx: HintContext): Hint {
  return ctx.endpoint !== undefined && !isTokenEndpoint(ctx.endpoint as UpstreamEndpoint) && e.probeHint ? e.probeHint(ctx) : e.hint(ctx);
}

/** What the table says about a code, or undefined when it is not in the table. */
export function describeErrcode(code: number, platform: Platform = "wechat", ctx?: HintContext): ErrcodeDescription | undefined {
  const e = TABLE.get(`${platform}:${code}`);
  return e ? describeEntry(e, ctx) : undefined;
}

/** Every entry of the table (for generated docs and for tests). */
export function listErrcodes(platform?: Platform): ErrcodeDescription[] {
  return [...TABLE.values()].filter((e) => !platform || e.platform === platform).map((e) => describeEntry(e));
}
