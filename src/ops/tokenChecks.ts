// The diagnosis's per-account checks of what callers are handed: the access token, WeChat's verdict on it (the
// probe), and each JS-SDK ticket.
import type { Account, TicketType } from "../accounts";
import { alive, refreshDueAt, servable } from "../broker/policy";
import type { TokenService } from "../broker/tokenService";
import type { AccountStatus, StoredToken } from "../store/types";
import { UpstreamError, type WeChatApi } from "../wechat/types";
import type { DiagnosisCheck, ProbeFacts } from "./diagnosisReport";
import { ENDPOINT_PATH, SEE_UPSTREAM, TITLES, both, errorText } from "./diagnosisWording";
import { beijing, durEn, durZh, iso } from "./timeText";

/** A refresh this late past its due time is reported (the scheduler adds up to 20 % jitter). */
const REFRESH_OVERDUE_GRACE_MS = 120_000;

// The policy's type guards narrow "not servable" to null; here an expired token is still a token worth describing.
const isServable: (t: StoredToken, now: number, o: TokenService["options"]) => boolean = servable;
const isAlive: (t: StoredToken, now: number, o: TokenService["options"]) => boolean = alive;

/**
 * The token line: how long the stored token lives, when it is refreshed next (`planned`: the scheduler's time, else
 * estimated), and whether callers can get one (`failing`: the breaker is open or the last refusal is unresolved).
 */
export function tokenCheck(
  token: StoredToken | null,
  now: number,
  failing: boolean,
  planned: number | undefined,
  o: TokenService["options"],
): Omit<DiagnosisCheck, "accountId"> {
  const title = TITLES.token;
  if (token && isServable(token, now, o)) {
    const left = token.expiresAt - now;
    const age = now - token.fetchedAt;
    const due = refreshDueAt(token, o);
    const next = planned ?? Math.max(now, due);
    const nextEn = next <= now ? "due now" : `in ${durEn(next - now)} (${beijing(next)})${planned === undefined ? ", estimated" : ""}`;
    const nextZh = next <= now ? "即将进行" : `${durZh(next - now)}后（${beijing(next)}）${planned === undefined ? "，估算" : ""}`;
    const detail = {
      en:
        `valid for ${durEn(left)} (until ${beijing(token.expiresAt)} Beijing), fetched ${durEn(age)} ago from ` +
        `${ENDPOINT_PATH[token.api]}; next refresh ${nextEn}`,
      zh: `有效，剩余 ${durZh(left)}（至北京时间 ${beijing(token.expiresAt)}），${durZh(age)}前从 ${ENDPOINT_PATH[token.api]} 获取；下次刷新：${nextZh}`,
    };
    if (now - due > REFRESH_OVERDUE_GRACE_MS) {
      return {
        id: "token",
        status: "warn",
        title,
        detail: { en: `${detail.en}; the refresh is ${durEn(now - due)} overdue`, zh: `${detail.zh}；刷新已逾期 ${durZh(now - due)}` },
        fix: both(
          "The broker has not managed to refresh ahead of expiry: see the WeChat, breaker and lock lines of this " +
            'account, and the broker log ("refresh-ahead failed").',
          'broker 未能提前刷新：请查看该账号的微信接口、熔断与锁检查项，以及 broker 日志（"refresh-ahead failed"）。',
        ),
      };
    }
    return { id: "token", status: "ok", title, detail };
  }
  if (token && isAlive(token, now, o)) {
    return {
      id: "token",
      status: "warn",
      title,
      detail: both(
        `expires in ${durEn(token.expiresAt - now)}: inside the safety margin, callers wait for a refresh`,
        `${durZh(token.expiresAt - now)}后过期：已进入安全余量，调用方需等待刷新`,
      ),
      fix: failing ? SEE_UPSTREAM : undefined,
    };
  }
  const what = token
    ? both(`expired ${durEn(now - token.expiresAt)} ago`, `已于 ${durZh(now - token.expiresAt)}前过期`)
    : both("no token stored", "没有已存储的 token");
  if (failing) {
    return {
      id: "token",
      status: "fail",
      title,
      detail: both(`${what.en}: callers cannot get one`, `${what.zh}：调用方无法获取 token`),
      fix: SEE_UPSTREAM,
    };
  }
  return {
    id: "token",
    status: "warn",
    title,
    detail: both(
      `${what.en}; it is fetched on the first request or by the refresh scheduler`,
      `${what.zh}；将在首次请求时或由定时刷新获取`,
    ),
  };
}

/** Asks WeChat whether the stored token works (one business call); never throws. */
export async function probeCheck(
  wechat: WeChatApi,
  a: Account,
  token: StoredToken | null,
  now: number,
  o: TokenService["options"],
): Promise<{ facts: ProbeFacts; check: Omit<DiagnosisCheck, "accountId"> }> {
  const title = TITLES.probe;
  if (!alive(token, now, o)) {
    return {
      facts: { result: "skipped" },
      check: { id: "probe", status: "warn", title, detail: both("no live token to test", "没有可测试的有效 token") },
    };
  }
  try {
    const r = await wechat.probe(a, token.accessToken);
    if (r.valid) {
      const detail = both("WeChat accepts the current token (get_api_domain_ip)", "微信接受当前 token（get_api_domain_ip）");
      return { facts: { result: "valid" }, check: { id: "probe", status: "ok", title, detail } };
    }
    const e = r.error;
    const facts: ProbeFacts = { result: "invalid", message: e.message };
    if (e.errcode !== undefined) facts.errcode = e.errcode;
    return {
      facts,
      check: {
        id: "probe",
        status: "fail",
        title,
        detail: both(
          `WeChat rejects the stored token: ${e.message}`,
          `微信拒绝当前存储的 token：${e.errcode ?? ""} ${e.errmsg ?? ""}`.trim(),
        ),
        fix: {
          en: `${e.hint.en} Callers that see the rejection should report it (POST /api/accounts/${a.id}/token/invalidate); the broker then refreshes once.`,
          zh: `${e.hint.zh} 调用方遇到该错误时应上报（POST /api/accounts/${a.id}/token/invalidate），broker 会据此刷新一次。`,
        },
      },
    };
  } catch (err) {
    const message = err instanceof UpstreamError ? err.message : errorText(err);
    return {
      facts: { result: "error", message, ...(err instanceof UpstreamError && err.errcode !== undefined ? { errcode: err.errcode } : {}) },
      check: { id: "probe", status: "warn", title, detail: both(`could not test the token: ${message}`, `无法测试 token：${message}`) },
    };
  }
}

/** A requested JS-SDK ticket: its age and lifetime left, and the last refusal of its endpoint while unresolved. */
export function ticketCheck(
  type: TicketType,
  token: StoredToken | null,
  status: AccountStatus,
  now: number,
): Omit<DiagnosisCheck, "accountId"> {
  const title = { en: `${TITLES.ticket.en} (${type})`, zh: `${TITLES.ticket.zh}（${type}）` };
  const last = status.lastError;
  const unresolved = last !== undefined && (status.lastSuccessAt === undefined || last.at > status.lastSuccessAt);
  const data: Record<string, unknown> = { type };
  if (token) {
    data.fetchedAt = iso(token.fetchedAt);
    data.ageSec = Math.max(0, Math.floor((now - token.fetchedAt) / 1000));
    data.expiresInSec = Math.floor((token.expiresAt - now) / 1000);
  }
  if (last) {
    data.lastError = {
      ...(last.errcode !== undefined ? { errcode: last.errcode } : {}),
      errclass: last.errclass,
      message: last.message,
      at: iso(last.at),
      resolved: !unresolved,
    };
  }
  const errEn = last && unresolved ? ` · last error ${last.errcode ?? last.kind} ${durEn(now - last.at)} ago: ${last.message}` : "";
  const errZh = last && unresolved ? ` · 最近错误 ${last.errcode ?? last.kind}（${durZh(now - last.at)}前）` : "";
  if (!token || token.expiresAt <= now) {
    return {
      id: "ticket",
      status: unresolved ? "fail" : "warn",
      title,
      detail: { en: `no live ticket stored${errEn}`, zh: `没有有效的票据${errZh}` },
      ...(unresolved ? { fix: last.hint } : {}),
      data,
    };
  }
  return {
    id: "ticket",
    status: unresolved ? "warn" : "ok",
    title,
    detail: {
      en: `fetched ${durEn(now - token.fetchedAt)} ago, valid for ${durEn(token.expiresAt - now)} (until ${beijing(token.expiresAt)} Beijing)${errEn}`,
      zh: `${durZh(now - token.fetchedAt)}前获取，剩余 ${durZh(token.expiresAt - now)}（至北京时间 ${beijing(token.expiresAt)}）${errZh}`,
    },
    ...(unresolved ? { fix: last.hint } : {}),
    data,
  };
}
