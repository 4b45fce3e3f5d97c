// What the broker reports about itself. The Prometheus implementation lives in src/ops/metrics.ts; the domain
// only knows this interface, so it stays free of prom-client and express.
import type { ErrClass, UpstreamEndpoint } from "../wechat/types";
import type { TicketType } from "../accounts";
import type { Trigger } from "./policy";
import type { ForeignVia } from "../store/adoptionRecords";

export type TokenRequestResult = "hit" | "miss" | "stale" | "error";
export type RefreshReason = "ahead" | "expired" | "invalidated" | "forced" | "sync";
export type LockResult = "acquired" | "contended" | "error";
/** What a caller's report of a rejected token came to (see TokenService.invalidate). */
export type ReportOutcome = "refreshed" | "already_replaced" | "still_valid" | "unverified" | "rate_limited";
export type { ForeignVia };

export interface BrokerEvents {
  tokenRequest(accountId: string, result: TokenRequestResult): void;
  upstreamCall(endpoint: UpstreamEndpoint, outcome: { errcode?: number; errclass?: ErrClass; ok: boolean }, seconds: number): void;
  refresh(accountId: string, reason: RefreshReason, ok: boolean): void;
  lockAcquire(result: LockResult): void;
  fencedWrite(accountId: string): void;
  tokenExpiry(accountId: string, expiresAtMs: number | null): void;
  breaker(accountId: string, open: boolean): void;
  /** The per-account ceiling of upstream calls refused a call that `trigger` wanted. */
  ceilingHit(accountId: string, trigger: Trigger): void;
  report(accountId: string, outcome: ReportOutcome): void;
  /** A token the broker holds died before any rotation of its own explains it: another system fetched a token for
   * the AppID (issue 13). */
  foreignRotation(accountId: string, via: ForeignVia): void;
  /** A caller asked for a JS-SDK ticket (the ticket and signing routes). Optional: older sinks ignore tickets. */
  ticketRequest?(accountId: string, type: TicketType, result: TokenRequestResult): void;
}

export const noopEvents: BrokerEvents = {
  tokenRequest: () => {},
  upstreamCall: () => {},
  refresh: () => {},
  lockAcquire: () => {},
  fencedWrite: () => {},
  tokenExpiry: () => {},
  breaker: () => {},
  ceilingHit: () => {},
  report: () => {},
  foreignRotation: () => {},
};

/** Tells every sink each event: the metrics, and whatever else listens (a test's counter). */
export function teeEvents(...sinks: BrokerEvents[]): BrokerEvents {
  const each =
    <K extends keyof BrokerEvents>(k: K) =>
    (...args: Parameters<NonNullable<BrokerEvents[K]>>) => {
      for (const s of sinks) (s[k] as ((...a: typeof args) => void) | undefined)?.call(s, ...args);
    };
  return {
    tokenRequest: each("tokenRequest"),
    upstreamCall: each("upstreamCall"),
    refresh: each("refresh"),
    lockAcquire: each("lockAcquire"),
    fencedWrite: each("fencedWrite"),
    tokenExpiry: each("tokenExpiry"),
    breaker: each("breaker"),
    ceilingHit: each("ceilingHit"),
    report: each("report"),
    foreignRotation: each("foreignRotation"),
    ticketRequest: each("ticketRequest"),
  };
}
