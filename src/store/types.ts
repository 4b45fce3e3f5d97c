// Where tokens live between replicas. Two implementations: Redis (cluster member) and memory (embedded, one replica).
// Correctness rests here, not on the lock: writes are compare-and-set on a fencing generation, invalidation is
// compare-and-delete on the exact token a caller saw fail.
import type { CredentialApi } from "../accounts";
import type { UpstreamErrorFields } from "../wechat/types";
import type { ClusterState } from "./clusterState";

export interface StoredToken {
  accessToken: string;
  /** Epoch ms when WeChat says the token stops working (fetchedAt + expires_in). */
  expiresAt: number;
  /** Epoch ms when it was fetched. */
  fetchedAt: number;
  /** Where it came from; `ticket` for a JS-SDK ticket (stored under its credential id, `<account>.<type>`). */
  api: CredentialApi;
  /** Fencing generation of the lock holder that wrote it. Writes with a generation ≤ this are refused. */
  gen: number;
  /** Epoch ms when WeChat last answered with this token (a fetch that handed it back, or a probe that accepted it).
   * A report that arrived before this moment has been answered. Old records without it read as fetchedAt. */
  checkedAt: number;
  /** Epoch ms before which no routine upstream call is made for the account: WeChat said it has nothing newer until
   * then (see policy.ts notBeforeAfterAnswer). 0 when unknown. */
  notBefore: number;
}

export type WriteResult = "written" | "fenced";

/** Shared per-account health, written by whichever replica talked to WeChat, read by all (breaker, diagnosis). */
export interface AccountStatus {
  /** Upstream calls are not made before this epoch ms (breaker open). 0 when closed. */
  openUntil: number;
  /** Consecutive failed upstream calls since the last success. */
  failures: number;
  lastError?: UpstreamErrorFields & { message: string; at: number };
  lastSuccessAt?: number;
  /** The last time the per-account ceiling of upstream calls refused a call, and which trigger asked. */
  lastCeilingHit?: { at: number; trigger: string };
}

/** What a sliding-window limit is kept for: an account's upstream token calls, or reports that reach WeChat per
 * account or per API key (the caller's key name). */
export type RateSlot = { kind: "calls" | "reports"; accountId: string } | { kind: "reports"; caller: string };

export interface SlotResult {
  ok: boolean;
  /** When refused: milliseconds until the oldest slot in the window frees up. */
  retryInMs: number;
}

export interface ForceBudgetResult {
  ok: boolean;
  /** Force refreshes used today, after this call. */
  usedToday: number;
  /** When refused: why, and when a force refresh may be tried again (epoch ms). */
  reason?: "daily_limit" | "too_soon";
  retryAt?: number;
}

export interface TokenStore {
  readonly mode: "redis" | "memory";

  get(accountId: string): Promise<StoredToken | null>;
  /** Compare-and-set: writes only when `token.gen` is greater than the stored generation. Atomic. */
  write(accountId: string, token: StoredToken): Promise<WriteResult>;
  /**
   * Compare-and-delete: removes the token only if the stored one is exactly `accessToken`; keeps the generation
   * so a late writer stays fenced out. Returns true when it removed it.
   */
  invalidate(accountId: string, accessToken: string): Promise<boolean>;

  /** Tell every replica (including this one) that the account has a new token. At-most-once. */
  publishRefreshed(accountId: string, gen: number): Promise<void>;
  /** Subscribe to refresh notices from all replicas. Returns an unsubscribe function. */
  onRefreshed(listener: (accountId: string, gen: number) => void): () => void;

  /** Count one upstream token call for the account on the given quota day; returns the new count. */
  countUpstreamCall(accountId: string, day: string): Promise<number>;
  upstreamCalls(accountId: string, day: string): Promise<number>;

  /** Take one force_refresh from the account's budget (perDay a quota day, minIntervalMs apart), atomically. */
  takeForceBudget(
    accountId: string,
    nowMs: number,
    day: string,
    limits: { perDay: number; minIntervalMs: number },
  ): Promise<ForceBudgetResult>;
  forceBudgetUsed(accountId: string, day: string): Promise<number>;
  /** Mark the day's force budget as used up (WeChat answered a force call with its daily quota error). */
  closeForceBudget(accountId: string, day: string, perDay: number): Promise<void>;

  /** Take one slot of a sliding-window limit (`limit` per `windowMs`), atomically across replicas. The window is
   * kept on the store's clock (Redis TIME) so replicas' clocks cannot stretch it; `nowMs` serves the memory store. */
  takeSlot(slot: RateSlot, limit: number, windowMs: number, nowMs: number): Promise<SlotResult>;

  getStatus(accountId: string): Promise<AccountStatus>;
  setStatus(accountId: string, status: AccountStatus): Promise<void>;

  /** Round trip time in ms; throws when the store is unreachable. */
  ping(): Promise<number>;
  /** True when the store is connected and usable now (readiness). */
  isReady(): boolean;
  /** On Redis Cluster: the cluster's state and its masters as seen from here; null on other deployments. */
  clusterState?(): Promise<ClusterState | null>;
  close(): Promise<void>;
}
