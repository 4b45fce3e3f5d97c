// How the simulator words its refusals: the errmsg texts of api.weixin.qq.com and qyapi.weixin.qq.com, and the
// request id (MP `rid`) or `hint` (WeCom) each errmsg ends with, in the formats of docs/wechat-api.md §7.
import { randomInt } from "node:crypto";

/** English errmsgs of api.weixin.qq.com (observed or documented); codes with no known English text use our own. */
const MP_ERRMSG: Record<number, string> = {
  [-1]: "system error",
  40001:
    "invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken, " +
    "more details at https://mmbizurl.cn/s/JtxxFh33r",
  40002: "invalid grant_type",
  40013: "invalid appid",
  40014: "invalid access_token",
  40125: "invalid appsecret",
  40243: "appsecret is frozen, unfreeze it in the mp console",
  41001: "access_token missing",
  41002: "appid missing",
  41004: "appsecret missing",
  42001: "access_token expired",
  43001: "require GET method",
  43002: "require POST method",
  44002: "empty post data",
  40097: "invalid args",
  45009: "reach max api daily quota limit",
  45011: "api minute-quota reach limit mustslower retry next minute",
  47001: "data format error",
  48001: "api unauthorized",
  50002: "user limited",
  61024: "must use api(api_component_token) to get token for component acct",
  89501: "this ip is waiting for the admin's confirmation",
  89503: "this ip needs the admin's confirmation, the admin has been notified",
  89506: "this ip was rejected by the admin twice in 24 hours, retry after 24 hours",
  89507: "this ip was rejected by the admin in the last hour, retry after 1 hour",
};

/** What old servers said for a wrong secret on the token endpoint (legacyBadSecret). */
export const LEGACY_BAD_SECRET_ERRMSG = "invalid credential, access_token is invalid or not latest";

const WECOM_ERRMSG: Record<number, string> = {
  [-1]: "system busy",
  40001: "invalid credential",
  40013: "invalid corpid",
  40014: "invalid access_token",
  40091: "secret is invalid, it may belong to another corp",
  41001: "access_token missing",
  41002: "corpid missing",
  41004: "corpsecret missing",
  42001: "access_token expired",
  43001: "require GET method",
  40097: "invalid args",
  45009: "api freq out of limit",
  45033: "api concurrent out of limit",
  48002: "api forbidden",
  60020: "not allow to access from your ip",
  301002: "not allow operate another agent with this accesstoken",
};

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

/** WeChat's request id: unix seconds in hex, then two random 8-hex groups. */
export function makeRid(nowMs: number): string {
  return `${hex8(Math.floor(nowMs / 1000))}-${hex8(randomInt(0, 2 ** 32))}-${hex8(randomInt(0, 2 ** 32))}`;
}

/** WeCom's hint: decimal unix seconds followed by 15 digits. */
function makeWecomHint(nowMs: number): string {
  let digits = "";
  for (let i = 0; i < 15; i++) digits += String(randomInt(0, 10));
  return `${Math.floor(nowMs / 1000)}${digits}`;
}

function mpErrmsg(code: number, callerIp: string): string {
  if (code === 40164) return `invalid ip ${callerIp} ipv6 ::ffff:${callerIp}, not in whitelist`;
  return MP_ERRMSG[code] ?? "system error";
}

export function mpError(code: number, nowMs: number, callerIp: string, text?: string): Record<string, unknown> {
  return { errcode: code, errmsg: `${text ?? mpErrmsg(code, callerIp)} rid: ${makeRid(nowMs)}` };
}

export function wecomError(code: number, nowMs: number, callerIp: string, text?: string): Record<string, unknown> {
  const msg = text ?? WECOM_ERRMSG[code] ?? "system busy";
  return {
    errcode: code,
    errmsg: `${msg}, hint: [${makeWecomHint(nowMs)}], from ip: ${callerIp}, more info at https://open.work.weixin.qq.com/devtool/query?e=${code}`,
  };
}
