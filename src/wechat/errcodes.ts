// Classifying WeChat's and WeCom's answers with the errcode tables (wechatCredentialErrcodes.ts,
// wechatAccountErrcodes.ts, wecomErrcodes.ts, and syntheticFailures.ts for failures with no errcode), and describing
// the tables for docs and the diagnosis. Facts and sources: docs/wechat-api.md §5.4, §7 and §8 (the table there
// mirrors the tables). The broker acts on `errclass`, `retryable` and `retryAfterMs`; people read `hint`.
import type { ErrClass, Hint, UpstreamEndpoint, UpstreamFailureKind } from "./types";
import { quotaDayEnd } from "../clock";
import { extractIp, extractRid } from "./errmsg";
import {
  MINUTE,
  SECOND,
  config,
  fixed,
  type Behaviour,
  type Cooldown,
  type ErrcodeEntry,
  type HintContext,
  type Platform,
} from "./errcodeEntry";
import { SYNTHETIC_FAILURES, type SyntheticFailure } from "./syntheticFailures";
import { WECHAT_ACCOUNT_ERRCODES } from "./wechatAccountErrcodes";
import { WECHAT_CREDENTIAL_ERRCODES } from "./wechatCredentialErrcodes";
import { WECOM_ERRCODES } from "./wecomErrcodes";

// One index over the tables, in their order (listErrcodes and the docs table follow it).
const TABLE = new Map<string, ErrcodeEntry>();
for (const e of [...WECHAT_CREDENTIAL_ERRCODES, ...WECHAT_ACCOUNT_ERRCODES, ...WECOM_ERRCODES]) {
  const key = `${e.platform}:${e.code}`;
  if (TABLE.has(key)) throw new Error(`duplicate errcode entry ${key}`);
  TABLE.set(key, e);
}

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
  const s = SYNTHETIC_FAILURES[input.failure];
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
        en:
          `${names.platformName} never answers HTTP ${st}: ${names.baseEnv} or an egress proxy is wrong (wrong path, a ` +
          `login page, a redirect). Check ${names.baseEnv} is the API's base URL (e.g. https://api.weixin.qq.com) and the proxy settings.`,
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

function describeEntry(e: ErrcodeEntry, ctx: HintContext = {}): ErrcodeDescription {
  return {
    platform: e.platform,
    code: e.code,
    errmsg: e.errmsg,
    atTokenEndpoint: describeBehaviour(e.atToken),
    atProbe: describeBehaviour(e.atProbe ?? e.atToken),
    hint: entryHint(e, ctx),
  };
}

function entryHint(e: ErrcodeEntry, ctx: HintContext): Hint {
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
