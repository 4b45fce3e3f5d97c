// The refresh policy: the one decision "call WeChat now, serve what is stored, or wait until T", for every
// trigger (a caller's miss, the refresh-ahead timer, a caller's report, sync, a forced sync), and the time
// arithmetic behind it (when a token is due, how long a caller may cache it). Pure: no I/O, no clock, no
// randomness of its own, so property tests can drive it (test/broker/policy*.test.ts). TokenService carries the
// decisions out and second-guesses none of them; the scheduler asks it when to wake up. See docs/refresh-policy.md.
import type { CredentialApi } from "../accounts";
import type { AccountStatus, StoredToken } from "../store/types";

export interface PolicyOptions {
  /** WeChat keeps the previous token valid this long after issuing a new one (classic), and stable tokens only
   * rotate inside their last this-long: 300 s. Configurable only so tests can run with short lifetimes. */
  overlapMs: number;
  /** Subtracted from every lifetime we promise: clocks drift and requests take time. */
  safetyMarginMs: number;
  classicRefreshAheadMs: number;
  /** Must be < overlapMs: a stable_token call earlier than that returns the same token. */
  stableRefreshAheadMs: number;
  /** After WeChat answered the token already held, no routine call before this long (nor before the token's own
   * renewal point). The floor that stops a "same token again" answer from turning into a loop. */
  refetchFloorMs: number;
  /** How far replicas' clocks may disagree. A token is only judged alive while it has more than this left, so a
   * replica whose clock lags the one that fetched it never serves a token WeChat has already expired. */
  clockSkewMs: number;
  /** Spread of planned refreshes, as a fraction of the refresh-ahead window; always towards expiry (later), so
   * the earliest moment any replica refreshes is the due time that the caching promise already accounts for. */
  jitterFraction: number;
  /** A sync (an operator's "try now", e.g. after fixing the whitelist) passes an open breaker at most this often. */
  manualRetryMinMs: number;
}

/** What set off a possible upstream call. */
export type Trigger = "miss" | "ahead" | "report" | "sync" | "force";

export type Decision =
  /** Nothing to do upstream: hand out `token` (may be null only for "ahead", which then has nothing to serve). */
  | { action: "serve"; why: "fresh" | "not_due" | "no_newer" | "already_replaced" | "rechecked" }
  /** Do not call WeChat before `until` (epoch ms). */
  | { action: "wait"; until: number; why: "breaker" | "spacing" }
  /** Ask WeChat whether the reported token still works before rotating anything. */
  | { action: "probe" }
  /** Call WeChat's token endpoint; `force` asks stable_token for a new token regardless. */
  | { action: "fetch"; force: boolean };

export interface DecisionInput {
  trigger: Trigger;
  /** The stored token (the truth shared by every replica), or null. */
  token: StoredToken | null;
  status: AccountStatus;
  now: number;
  /** Report: the token the caller says WeChat rejected. */
  reported?: string;
  /** Report: when it arrived. A re-check of that same token after this moment answers it. */
  since?: number;
  /** Report: WeChat (a probe) already said the reported token is dead; go straight to a fetch. */
  confirmedDead?: boolean;
}

/** A dead token is fetched again at most this often when WeChat keeps handing back the same one (WeCom at the
 * edge of expiry): callers wait this long instead of the broker spending a call per round trip. */
export const DEAD_TOKEN_SPACING_MS = 1_000;

// ---- time ---------------------------------------------------------------------------------------------------

// A JS-SDK ticket (api "ticket") is timed like a classic token: WeChat issues a new one on every getticket call
// and does not say how long the previous one keeps working, so it is refreshed as far ahead, and promised as
// conservatively (the next ticket may retire it after the overlap).
function aheadMs(api: CredentialApi, p: PolicyOptions): number {
  return api === "stable" ? p.stableRefreshAheadMs : p.classicRefreshAheadMs;
}

type Timed = Pick<StoredToken, "expiresAt" | "api"> & Partial<Pick<StoredToken, "notBefore">>;

/** When a routine refresh is due (before jitter): the refresh-ahead point, or later when WeChat said it has
 * nothing newer before then (`notBefore`). */
export function refreshDueAt(token: Timed, p: PolicyOptions): number {
  return Math.max(token.expiresAt - aheadMs(token.api, p), token.notBefore ?? 0);
}

/** The window planned refreshes are spread over, after `refreshDueAt`. */
export function jitterSpanMs(token: Pick<StoredToken, "api">, p: PolicyOptions): number {
  return aheadMs(token.api, p) * p.jitterFraction;
}

/** When the refresh-ahead timer should fire, for a uniform sample `u` in [0, 1): never before `refreshDueAt`,
 * never at or past the token's expiry minus the margin (callers must not have to wait for WeChat). */
export function plannedRefreshAt(token: Timed, u: number, p: PolicyOptions): number {
  const due = refreshDueAt(token, p);
  const latest = Math.max(due, token.expiresAt - p.safetyMarginMs - 1);
  return Math.min(due + u * jitterSpanMs(token, p), latest);
}

/**
 * Until when a caller may keep using this token. A classic token dies `overlap` after the next refresh, and no
 * replica refreshes before `refreshDueAt` (jitter only moves refreshes later), so that is the earliest death;
 * stable and WeCom tokens live to their own expiry.
 */
export function safeUntil(token: Timed, now: number, p: PolicyOptions): number {
  let until = token.expiresAt;
  if (token.api === "classic" || token.api === "ticket") until = Math.min(until, Math.max(refreshDueAt(token, p), now) + p.overlapMs);
  return until - p.safetyMarginMs;
}

/** Seconds a caller may cache the token, already minus the margin (never negative). */
export function expiresInSec(token: Timed, now: number, p: PolicyOptions): number {
  return Math.max(0, Math.floor((safeUntil(token, now, p) - now) / 1000));
}

/** Still accepted by WeChat whatever the clocks' disagreement (ignoring the margin): what a broker may fall back
 * to when the store or WeChat fails. */
export function alive(token: StoredToken | null | undefined, now: number, p: Pick<PolicyOptions, "clockSkewMs">): token is StoredToken {
  return !!token && lives(token, now, p);
}

function lives(token: Pick<StoredToken, "expiresAt">, now: number, p: Pick<PolicyOptions, "clockSkewMs">): boolean {
  return token.expiresAt - now > p.clockSkewMs;
}

/** Whether a token can be handed out without asking WeChat: outside the margin, or, inside it, while WeChat has
 * said it has nothing newer yet (`notBefore`): then it is served for as long as it is alive, not cut off early. */
export function servable(token: StoredToken | null | undefined, now: number, p: PolicyOptions): token is StoredToken {
  if (!token) return false;
  if (token.expiresAt - now > p.safetyMarginMs) return true;
  return now < token.notBefore && alive(token, now, p);
}

// ---- what WeChat's answer means for the next call -------------------------------------------------------------

/**
 * The earliest moment a routine call could bring a token newer than `fetched`, which WeChat handed out at `now`:
 * its renewal point. A stable token rotates only in its last `overlap`; a WeCom token is handed back until it
 * expires; a classic call always issues a new token. When the answer was the token already held (`same`), never
 * sooner than the floor either, so an answer that brings nothing new pushes the next call out instead of pulling
 * it in.
 */
export function notBeforeAfterAnswer(
  fetched: Pick<StoredToken, "expiresAt" | "api">,
  now: number,
  same: boolean,
  p: PolicyOptions,
): number {
  // A ticket endpoint that hands back the ticket already held (WeCom does, like its gettoken) has nothing newer
  // before that ticket expires; a new ticket, like a classic token, has no renewal point.
  const renewal =
    fetched.api === "stable"
      ? fetched.expiresAt - p.overlapMs
      : fetched.api === "wecom" || (fetched.api === "ticket" && same)
        ? fetched.expiresAt
        : 0;
  return same ? Math.max(renewal, now + p.refetchFloorMs) : renewal;
}

// ---- the decision ---------------------------------------------------------------------------------------------

function breakerBlocks(status: AccountStatus, trigger: Trigger, now: number, p: PolicyOptions): boolean {
  if (status.openUntil <= now) return false;
  const manual = trigger === "sync" || trigger === "force";
  return !(manual && now - (status.lastError?.at ?? 0) >= p.manualRetryMinMs);
}

function upstream(input: DecisionInput, p: PolicyOptions, action: Decision): Decision {
  const { status, now, token, trigger } = input;
  if (breakerBlocks(status, trigger, now, p)) return { action: "wait", until: status.openUntil, why: "breaker" };
  // A token at (or past) its end: WeChat has nothing newer before its renewal point (a WeCom token is handed back
  // until it expires), and one it just handed back is asked for again shortly, not once per round trip. Callers
  // wait these few seconds; nothing is spent.
  if (action.action === "fetch" && !action.force && token !== null && !lives(token, now, p)) {
    const until = Math.max(token.checkedAt + DEAD_TOKEN_SPACING_MS, Math.min(token.notBefore, token.expiresAt + 1));
    if (now < until) return { action: "wait", until, why: "spacing" };
  }
  return action;
}

const FETCH: Decision = { action: "fetch", force: false };

/** The one decision every trigger asks. */
export function decide(input: DecisionInput, p: PolicyOptions): Decision {
  const { trigger, token, now } = input;
  if (trigger === "force") return upstream(input, p, { action: "fetch", force: token?.api === "stable" });
  if (!token) return upstream(input, p, FETCH);

  if (trigger === "report") {
    if (token.accessToken !== input.reported)
      return servable(token, now, p) ? { action: "serve", why: "already_replaced" } : upstream(input, p, FETCH);
    // Someone re-checked this very token with WeChat after the report arrived (a probe or a fetch that handed it
    // back): that answers this report too.
    if (input.since !== undefined && token.checkedAt > input.since && servable(token, now, p)) return { action: "serve", why: "rechecked" };
    // A token that is due anyway is simply refreshed; a young one is probed first: a wrong report must not rotate
    // a classic token (which kills the copy every other service holds) nor spend a stable force refresh.
    if (input.confirmedDead || !servable(token, now, p) || now >= refreshDueAt(token, p)) {
      return upstream(input, p, { action: "fetch", force: false });
    }
    return upstream(input, p, { action: "probe" });
  }

  if (!servable(token, now, p)) return upstream(input, p, FETCH);
  if (trigger === "miss") return { action: "serve", why: "fresh" };
  // ahead, sync: only once due (routine refreshes never pass `notBefore`).
  if (now < refreshDueAt(token, p)) return { action: "serve", why: (token.notBefore ?? 0) > now ? "no_newer" : "not_due" };
  return upstream(input, p, FETCH);
}
