// The diagnosis's per-account checks about calling WeChat: the last refusal and its fix, the breaker, the ceiling of
// calls a minute, and today's quota.
import type { Account } from "../accounts";
import { ForceBudgetError } from "../broker/errors";
import type { AccountStatus } from "../store/types";
import { describeErrcode } from "../wechat/errcodes";
import type { AccountDiagnosis, DiagnosisCheck, LastErrorFacts, UsageFacts } from "./diagnosisReport";
import { ERRCLASS_ZH, TITLES, both } from "./diagnosisWording";
import { beijing, durEn, durZh, iso } from "./timeText";

/** Share of a daily quota above which the quota check warns. */
const QUOTA_WARN_RATIO = 0.8;

export function upstreamCheck(last: LastErrorFacts | null, now: number): Omit<DiagnosisCheck, "accountId"> {
  const title = TITLES.upstream;
  if (!last) return { id: "upstream", status: "ok", title, detail: both("no refusal recorded", "未记录到错误") };
  const at = Date.parse(last.at);
  const code = last.errcode !== undefined ? String(last.errcode) : last.kind;
  const ip = last.ip ? ` · IP ${last.ip}` : "";
  const data = { lastError: last };
  if (last.resolved) {
    return {
      id: "upstream",
      status: "ok",
      title,
      detail: both(
        `last refusal ${code} (${last.errclass}) ${durEn(now - at)} ago, resolved since`,
        `最近一次错误 ${code}（${ERRCLASS_ZH[last.errclass]}）发生于 ${durZh(now - at)}前，已恢复`,
      ),
      data,
    };
  }
  return {
    id: "upstream",
    status: last.errclass === "transient" ? "warn" : "fail",
    title,
    detail: {
      en:
        `${code} ${last.errclass}${ip} · ${durEn(now - at)} ago (${beijing(at)}) · ` +
        `${last.message}${last.rid && !last.message.includes(last.rid) ? ` · rid ${last.rid}` : ""}`,
      zh: `${code} ${ERRCLASS_ZH[last.errclass]}${ip} · ${durZh(now - at)}前（${beijing(at)}）${last.errmsg ? ` · ${last.errmsg}` : ""}`,
    },
    fix: last.hint,
    data,
  };
}

export function breakerCheck(b: AccountDiagnosis["breaker"], status: AccountStatus, now: number): Omit<DiagnosisCheck, "accountId"> {
  const title = TITLES.breaker;
  if (!b.open) return { id: "breaker", status: "ok", title, detail: both("closed: WeChat is called when needed", "未熔断：按需调用微信") };
  const left = status.openUntil - now;
  return {
    id: "breaker",
    status: "warn",
    title,
    detail: {
      en:
        `open until ${beijing(status.openUntil)} Beijing (${durEn(left)} left) after ${b.failures} consecutive failure(s): ` +
        `no WeChat call for this account until then`,
      zh: `熔断中，至北京时间 ${beijing(status.openUntil)}（还剩 ${durZh(left)}），已连续失败 ${b.failures} 次：在此之前不会为该账号调用微信`,
    },
    fix: both(
      "It closes by itself at that time. Fix the cause shown on the WeChat line first.",
      "到期后自动恢复。请先按「微信接口」一行的提示修复根因。",
    ),
  };
}

/** A ceiling hit this recent is shown as a failure: something asked for far more calls than rotations need. */
const CEILING_RECENT_MS = 15 * 60_000;

export function ceilingCheck(status: AccountStatus, now: number, limit: number): Omit<DiagnosisCheck, "accountId"> | null {
  const hit = status.lastCeilingHit;
  if (!hit || now - hit.at > CEILING_RECENT_MS) return null;
  return {
    id: "ceiling",
    status: "fail",
    title: TITLES.ceiling,
    detail: {
      en: `the ceiling of ${limit} token calls a minute refused a call at ${beijing(hit.at)} Beijing (${durEn(now - hit.at)} ago); trigger: ${hit.trigger}`,
      zh: `北京时间 ${beijing(hit.at)}（${durZh(now - hit.at)}前）达到每分钟 ${limit} 次的调用上限，调用被拒绝；触发来源：${hit.trigger}`,
    },
    fix: both(
      hit.trigger === "report"
        ? "A caller keeps reporting tokens as rejected: find it in the logs (caller reports, API key name) and make it " +
            "report once per 40001/42001, then use the token it gets back."
        : "Something keeps asking for new tokens: check the logs for the trigger named here, and the clock of the broker hosts.",
      hit.trigger === "report"
        ? "有调用方在不断上报 token 失效：请在日志中找到它（上报记录与 API Key 名称），让它每次 40001/42001 只上报一次，并使用返回的新 token。"
        : "有来源在不断请求新 token：请在日志中查找此处给出的触发来源，并检查服务器时钟。",
    ),
    data: { lastCeilingHit: { at: iso(hit.at), trigger: hit.trigger }, limitPerMinute: limit },
  };
}

export function quotaCheck(a: Account, u: UsageFacts): Omit<DiagnosisCheck, "accountId"> {
  const title = TITLES.quota;
  const limitEn =
    u.dailyLimit === null ? `${u.upstreamCalls} ${u.endpoint} calls` : `${u.upstreamCalls} of ${u.dailyLimit} ${u.endpoint} calls`;
  const limitZh =
    u.dailyLimit === null ? `${u.endpoint} 调用 ${u.upstreamCalls} 次` : `${u.endpoint} 调用 ${u.upstreamCalls} / ${u.dailyLimit} 次`;
  const forceEn = u.forceLimit !== null ? `; force refreshes ${u.forceRefreshes ?? 0} of ${u.forceLimit}` : "";
  const forceZh = u.forceLimit !== null ? `；强制刷新 ${u.forceRefreshes ?? 0} / ${u.forceLimit} 次` : "";
  const detail = {
    en: `${limitEn} today (Beijing day ${u.day}, made by this broker, failed ones included)${forceEn}`,
    zh: `今日（北京时间 ${u.day}）${limitZh}（本 broker 统计，含失败）${forceZh}`,
  };
  const quotaHint = describeErrcode(45009, a.type === "wecom" ? "wecom" : "wechat", { appId: a.appId })?.hint;
  if (u.dailyLimit !== null && u.upstreamCalls >= u.dailyLimit) return { id: "quota", status: "fail", title, detail, fix: quotaHint };
  if (u.dailyLimit !== null && u.upstreamCalls >= u.dailyLimit * QUOTA_WARN_RATIO)
    return { id: "quota", status: "warn", title, detail, fix: quotaHint };
  if (u.forceLimit !== null && (u.forceRefreshes ?? 0) >= u.forceLimit) {
    return { id: "quota", status: "warn", title, detail, fix: new ForceBudgetError(a.id, "daily_limit", 0).hint };
  }
  return { id: "quota", status: "ok", title, detail };
}
