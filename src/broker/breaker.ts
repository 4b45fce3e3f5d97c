// The per-account breaker: after a failed upstream call, how long nobody may call WeChat for this account.
// Its state lives in the store (AccountStatus) so every replica respects it and the diagnosis can show it.
import type { AccountStatus } from "../store/types";
import type { UpstreamError } from "../wechat/types";

export interface BreakerPolicy {
  /** First cool-down after a quota error without a window of its own (WeCom's 45009: 60 s, 60 min or a day, it
   * does not say which); doubles per consecutive failure. */
  quotaBaseMs: number;
  quotaMaxMs: number;
  /** First cool-down after a configuration / admin / bug error; doubles per consecutive failure. */
  configBaseMs: number;
  configMaxMs: number;
  /** After transient failures have exhausted a refresh's retries. */
  transientBaseMs: number;
  transientMaxMs: number;
}

export const defaultBreakerPolicy: BreakerPolicy = {
  quotaBaseMs: 60_000,
  quotaMaxMs: 24 * 3_600_000,
  configBaseMs: 60_000,
  configMaxMs: 3_600_000,
  transientBaseMs: 1_000,
  transientMaxMs: 30_000,
};

function grow(base: number, max: number, failures: number): number {
  return Math.min(max, base * 2 ** Math.min(20, Math.max(0, failures - 1)));
}

/** Cool-down for this failure: WeChat's own window where it has one (89507 1 h, 89506 1 day, 45009 the quota
 * day, 45011 a minute), otherwise growing with consecutive failures. */
export function cooldownMs(err: UpstreamError, failures: number, p: BreakerPolicy): number {
  const own = err.retryAfterMs ?? 0;
  switch (err.errclass) {
    case "quota":
      // WeChat's own window when it has one (45009 on classic/stable: the quota day), else growing on repeats:
      // a limit that still holds after a minute is a longer one.
      return Math.max(own, grow(p.quotaBaseMs, p.quotaMaxMs, failures));
    case "transient":
      return Math.max(own, grow(p.transientBaseMs, p.transientMaxMs, failures));
    case "config":
    case "admin":
    case "bug":
    case "token_invalid":
      return Math.max(own, grow(p.configBaseMs, p.configMaxMs, failures));
  }
}

export function afterFailure(prev: AccountStatus, err: UpstreamError, now: number, p: BreakerPolicy): AccountStatus {
  const failures = prev.failures + 1;
  return {
    openUntil: now + cooldownMs(err, failures, p),
    failures,
    lastError: { ...err.toJSON(), at: now },
    lastSuccessAt: prev.lastSuccessAt,
  };
}

/** A success closes the breaker; the last error is kept (with its time) for the diagnosis. */
export function afterSuccess(prev: AccountStatus, now: number): AccountStatus {
  return { openUntil: 0, failures: 0, lastError: prev.lastError, lastSuccessAt: now };
}

export function isOpen(status: AccountStatus, now: number): boolean {
  return status.openUntil > now;
}
