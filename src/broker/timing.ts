// Pure time arithmetic of the refresh policy: when a token is due for refresh, how long a caller may cache it,
// whether a caller must wait for a refresh. Kept apart from TokenService so it can be unit-tested exhaustively.
import type { TokenSource } from "../accounts";
import type { StoredToken } from "../store/types";

export interface TimingPolicy {
  /** WeChat keeps the previous token valid this long after issuing a new one (classic), and stable tokens only
   * rotate inside their last this-long: 300 s. Configurable only so tests can run with short lifetimes. */
  overlapMs: number;
  /** Subtracted from every lifetime we promise: clocks drift and requests take time. */
  safetyMarginMs: number;
  classicRefreshAheadMs: number;
  /** Must be < WECHAT_OVERLAP_MS: a stable_token call earlier than that returns the same token. */
  stableRefreshAheadMs: number;
  /** A token fetched less than this long ago is not fetched again by a caller's request (WeCom may hand back the
   * same token close to expiry; without this every request in the margin would call WeChat). */
  minRefetchIntervalMs: number;
  /** How far replicas' clocks may disagree. A token is only judged alive while it has more than this left, so a
   * replica whose clock lags the one that fetched it never serves a token WeChat has already expired. */
  clockSkewMs: number;
}

function aheadMs(api: TokenSource, p: TimingPolicy): number {
  return api === "stable" ? p.stableRefreshAheadMs : p.classicRefreshAheadMs;
}

/** When the background refresh should run (before jitter). */
export function refreshDueAt(token: Pick<StoredToken, "expiresAt" | "api">, p: TimingPolicy): number {
  return token.expiresAt - aheadMs(token.api, p);
}

/**
 * Until when a caller may keep using this token. A classic token dies 300 s after the next refresh, which is
 * planned at `refreshDueAt` (or any moment once that is past); stable and WeCom tokens live to their own expiry.
 */
export function safeUntil(token: Pick<StoredToken, "expiresAt" | "api">, now: number, p: TimingPolicy): number {
  let until = token.expiresAt;
  if (token.api === "classic") {
    until = Math.min(until, Math.max(refreshDueAt(token, p), now) + p.overlapMs);
  }
  return until - p.safetyMarginMs;
}

/** Seconds a caller may cache the token, already minus the margin (never negative). */
export function expiresInSec(token: Pick<StoredToken, "expiresAt" | "api">, now: number, p: TimingPolicy): number {
  return Math.max(0, Math.floor((safeUntil(token, now, p) - now) / 1000));
}

/** Whether a token can be handed out without waiting for WeChat. */
export function servable(token: StoredToken | null | undefined, now: number, p: TimingPolicy): token is StoredToken {
  if (!token) return false;
  if (token.expiresAt - now > p.safetyMarginMs) return true;
  // Inside the margin: serve it if it was just fetched (WeChat had nothing newer) and is still alive.
  return alive(token, now, p) && now - token.fetchedAt < p.minRefetchIntervalMs;
}

/** Still accepted by WeChat whatever the clocks' disagreement (ignoring the margin): what a broker may fall back
 * to when the store or WeChat fails. */
export function alive(token: StoredToken | null | undefined, now: number, p: Pick<TimingPolicy, "clockSkewMs">): token is StoredToken {
  return !!token && token.expiresAt - now > p.clockSkewMs;
}
