// Typed errors of the broker domain. The HTTP layer maps them to status codes in one place (src/http/errors.ts);
// the CLI maps them to exit codes. None of them ever carries a secret or a token.
import type { ErrClass, Hint, UpstreamErrorFields } from "../wechat/types";

export abstract class BrokerError extends Error {
  abstract readonly code: string;
  readonly hint?: Hint;
  constructor(message: string, hint?: Hint) {
    super(message);
    this.name = new.target.name;
    this.hint = hint;
  }
}

export class UnknownAccountError extends BrokerError {
  readonly code = "unknown_account";
  constructor(readonly accountId: string) {
    super(`No account with id "${accountId}" is configured.`, {
      en: "Check the account id, or add the account to ACCOUNTS / ACCOUNTS_FILE and restart the broker.",
      zh: "请检查账号 ID，或在 ACCOUNTS / ACCOUNTS_FILE 中添加该账号后重启服务。",
    });
  }
}

/**
 * WeChat refused or failed, and no valid token can be served. Carries the classified upstream error; thrown both
 * right after a failed call and while the account's breaker is open (then `breakerOpen` is true).
 */
export class UpstreamUnavailableError extends BrokerError {
  readonly code = "upstream_error";
  readonly errcode?: number;
  readonly errclass: ErrClass;
  readonly ip?: string;
  readonly rid?: string;
  /** Milliseconds until the broker will call WeChat again for this account. */
  readonly retryAfterMs: number;
  constructor(
    readonly accountId: string,
    readonly upstream: UpstreamErrorFields & { message: string },
    retryAfterMs: number,
    readonly breakerOpen: boolean,
  ) {
    super(`Account ${accountId}: ${upstream.message}`, upstream.hint);
    this.errcode = upstream.errcode;
    this.errclass = upstream.errclass;
    this.ip = upstream.ip;
    this.rid = upstream.rid;
    this.retryAfterMs = Math.max(0, Math.round(retryAfterMs));
  }
}

export class StoreUnavailableError extends BrokerError {
  readonly code = "store_unavailable";
  constructor(detail: string) {
    super(`The token store (Redis) is unavailable: ${detail}`, {
      en: "Check that Redis is running and reachable from the broker (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES); the broker reconnects by itself.",
      zh: "请检查 Redis 是否运行且可从本服务访问（REDIS_URL、REDIS_SENTINELS 或 REDIS_CLUSTER_NODES）；Redis 恢复后服务会自动重连。",
    });
  }
}

/** Another replica is refreshing and did not finish in time; the caller may retry shortly. */
export class RefreshTimeoutError extends BrokerError {
  readonly code = "refresh_timeout";
  constructor(
    readonly accountId: string,
    readonly retryAfterMs: number,
  ) {
    super(`Timed out waiting for the token of account ${accountId} to be refreshed.`, {
      en: "Retry in a few seconds. If it persists, run the diagnosis (GET /api/diagnosis) to see lock holders and upstream errors.",
      zh: "请几秒后重试。如持续出现，请执行诊断（GET /api/diagnosis）查看锁持有者和上游错误。",
    });
  }
}

/** A forced refresh was asked for but the day's force_refresh budget (or its 30 s spacing) does not allow it. */
export class ForceBudgetError extends BrokerError {
  readonly code = "force_budget_exhausted";
  constructor(
    readonly accountId: string,
    readonly reason: "daily_limit" | "too_soon",
    readonly retryAfterMs: number,
  ) {
    super(
      reason === "daily_limit"
        ? `Account ${accountId}: today's force_refresh budget is used up.`
        : `Account ${accountId}: a force_refresh was made less than the minimum interval ago.`,
      {
        en: "WeChat allows 20 force refreshes a day, at least 30 s apart. Wait, or check why callers keep reporting tokens as dead (another service fetching tokens for the same AppID?).",
        zh: "微信每天最多强制刷新 20 次，且间隔至少 30 秒。请等待，或排查为何调用方不断报告 token 失效（是否有其他服务在为同一 AppID 获取 token？）。",
      },
    );
  }
}

/** The account's ceiling of upstream token calls per minute (shared by all replicas) refused a call that was needed,
 * and no token WeChat still accepts is at hand. Something is asking for far more tokens than rotations need. */
export class CallCeilingError extends BrokerError {
  readonly code = "call_ceiling";
  constructor(
    readonly accountId: string,
    readonly retryAfterMs: number,
    readonly limitPerMinute: number,
  ) {
    super(`Account ${accountId}: the ceiling of ${limitPerMinute} upstream token calls per minute is reached.`, {
      en: "Look at the diagnosis for the trigger that keeps asking (a caller reporting tokens in a loop, a clock far off); the broker calls WeChat again when the minute allows.",
      zh: "请查看诊断结果中不断触发调用的来源（例如调用方循环上报 token 失效、时钟严重偏差）；一分钟窗口允许后服务会自动再次调用微信。",
    });
  }
}

/** Reports that reach WeChat (a probe or a refresh) are limited per account and per API key. */
export class ReportRateLimitedError extends BrokerError {
  readonly code = "report_rate_limited";
  constructor(
    readonly accountId: string,
    readonly scope: "account" | "key",
    readonly retryAfterMs: number,
  ) {
    super(
      scope === "key"
        ? `Too many token reports for account ${accountId} from this API key reached WeChat in the last minute.`
        : `Too many token reports for account ${accountId} reached WeChat in the last minute.`,
      {
        en: "Report a token only when WeChat answered 40001, 40014 or 42001 to a call made with it, once, then use the token the broker returns. Retry after Retry-After seconds.",
        zh: "仅在使用该 token 调用微信接口返回 40001、40014 或 42001 时上报一次，然后使用本服务返回的 token。请在 Retry-After 秒后重试。",
      },
    );
  }
}

/** A ticket type the account's platform does not have (wx_card on WeCom, agent_config on an official account). */
export class UnsupportedTicketError extends BrokerError {
  readonly code = "unsupported_ticket_type";
  constructor(
    readonly accountId: string,
    readonly type: string,
    readonly allowed: readonly string[],
  ) {
    super(`Account ${accountId} has no "${type}" ticket.`, {
      en: `Ask for one of: ${allowed.join(", ")} (WeCom: jsapi is the corp ticket, agent_config the app's; official accounts: jsapi, wx_card).`,
      zh: `请使用以下类型之一：${allowed.join("、")}（企业微信：jsapi 为企业 ticket，agent_config 为应用 ticket；公众号：jsapi、wx_card）。`,
    });
  }
}
