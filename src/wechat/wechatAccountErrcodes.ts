// WeChat's (api.weixin.qq.com) answers about the account's quota, permissions and standing, and the administrator's
// confirmation of a new IP (in code order, after the codes of wechatCredentialErrcodes.ts). Facts and sources:
// docs/wechat-api.md §5.4, §7 and §8.
import {
  MINUTE,
  HOUR,
  CONFIG_COOLDOWN_MS,
  ADMIN_CONFIRM_COOLDOWN_MS,
  fixed,
  config,
  bug,
  ipEn,
  ipZh,
  appEn,
  appZh,
  WX_WHITELIST_PATH_EN,
  WX_WHITELIST_PATH_ZH,
  type ErrcodeEntry,
} from "./errcodeEntry";

export const WECHAT_ACCOUNT_ERRCODES: readonly ErrcodeEntry[] = [
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
        "If you cannot wait, clear the quota once (POST /cgi-bin/clear_quota/v2 with appid and appsecret; 10 clears a " +
        "month) — usage is shown at mp.weixin.qq.com → 设置与开发 → 接口权限.",
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
    hint: () => ({
      en: "WeChat could not parse the request body: a client bug, report it.",
      zh: "微信无法解析请求体，属于客户端缺陷，请反馈。",
    }),
  },
  {
    platform: "wechat",
    code: 48001,
    errmsg: "api unauthorized",
    summary: () => "the account is not authorised for this API",
    atToken: config,
    hint: (c) => ({
      en:
        `${appEn(c)} lacks the permission for this API (account type or verification). Check mp.weixin.qq.com → 设置与开发 → ` +
        `接口权限, and that the AppID is the account you meant.`,
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
      en:
        `${appEn(c)} is restricted by WeChat (banned after a violation, frozen or migrated). An administrator must check ` +
        `the notices in mp.weixin.qq.com (通知中心 / 违规记录) and resolve it with WeChat.`,
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
      en:
        `${appEn(c)} is forbidden to use the token API, probably as a punishment. An administrator must read the notices ` +
        `in mp.weixin.qq.com (通知中心 / 违规记录) and resolve it.`,
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
      en:
        `Add ${ipEn(c)} to the IP whitelist of the third-party platform (or shop): 微信开放平台 open.weixin.qq.com → 管理中心 → ` +
        `第三方平台 → 详情 → 开发资料 → 白名单IP地址. It takes effect after a few minutes.`,
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
      en:
        `${appEn(c)} is a third-party platform (component) AppID; its token comes from api_component_token, which this ` +
        `broker does not serve. Configure the Official Account's or Mini Program's own AppID instead.`,
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
      en:
        `The administrator of ${appEn(c)} has been asked in WeChat to confirm calls from ${ipEn(c)} and has not answered ` +
        `yet. Ask them to approve it; the broker tries again every few minutes. To avoid this flow, add the IP to the IP ` +
        `whitelist: ${WX_WHITELIST_PATH_EN}.`,
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
      en:
        `WeChat sent the administrator of ${appEn(c)} a message asking to confirm calls from ${ipEn(c)}. Ask them to ` +
        `approve it in WeChat (do not reject: one rejection blocks the IP for 1 h, two for 24 h); the broker tries again ` +
        `every few minutes. To avoid this flow, add the IP to the IP whitelist: ${WX_WHITELIST_PATH_EN}.`,
      zh:
        `微信已向 ${appZh(c)} 的管理员发送确认 ${ipZh(c)} 调用的消息。请管理员在微信中确认（不要拒绝：拒绝一次该 IP 1 小时内不可调用，两次则 24 小时）；broker ` +
        `每隔几分钟重试。如需避免此流程，请将该 IP 加入 IP白名单：${WX_WHITELIST_PATH_ZH}。`,
    }),
  },
  {
    platform: "wechat",
    code: 89506,
    errmsg: "该IP调用求请求已被公众号管理员拒绝，请24小时后再试",
    summary: (c) => `the administrator rejected IP ${c.ip ?? "(unknown)"} twice; blocked for 24 h`,
    atToken: { errclass: "admin", retryable: false, cooldown: fixed(24 * HOUR) },
    hint: (c) => ({
      en:
        `The administrator of ${appEn(c)} rejected calls from ${ipEn(c)} twice; WeChat blocks this IP for 24 hours and the ` +
        `broker will not call until then. Talk to the administrator, then add the IP to the IP whitelist ` +
        `(${WX_WHITELIST_PATH_EN}) or use a whitelisted egress IP.`,
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
      en:
        `The administrator of ${appEn(c)} rejected calls from ${ipEn(c)}; WeChat blocks this IP for 1 hour and the broker ` +
        `will not call until then. A second rejection blocks it for 24 hours: talk to the administrator first, or add the ` +
        `IP to the IP whitelist (${WX_WHITELIST_PATH_EN}).`,
      zh: `${appZh(c)} 的管理员拒绝了 ${ipZh(c)} 的调用，该 IP 1 小时内不可调用，broker 在此期间不会请求。再被拒绝一次将封禁 24 小时：请先与管理员沟通，或将该 IP 加入 IP白名单（${WX_WHITELIST_PATH_ZH}）。`,
    }),
  },
];
