// What the Redis and memory stores share: retention constants, input checks and parsers, so both implement
// exactly the same semantics (the conformance suite in test/store runs against both).
import { CREDENTIAL_ID_PATTERN, type CredentialApi } from "../accounts";
import type { AccountStatus, StoredToken } from "./types";

/** How long a token record outlives its expiresAt: its gen must keep fencing late writers after expiry. */
export const TOKEN_RETENTION_MS = 24 * 3600_000;
/** Per-day counters (upstream calls, force refreshes) live a quota day plus margin for diagnosis. */
export const DAILY_COUNTER_TTL_MS = 48 * 3600_000;
/** Account status disappears this long after its last update (accounts removed from the config). */
export const STATUS_TTL_MS = 30 * 24 * 3600_000;

export type RefreshedListener = (accountId: string, gen: number) => void;

const TOKEN_SOURCES: ReadonlySet<string> = new Set<CredentialApi>(["stable", "classic", "wecom", "ticket"]);

function isTime(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

function isGen(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n > 0;
}

/** Programming errors (a bad token object) are thrown as TypeError; messages never include the token. */
export function assertToken(token: StoredToken): void {
  if (typeof token.accessToken !== "string" || token.accessToken.length === 0)
    throw new TypeError("token.accessToken must be a non-empty string");
  if (!isGen(token.gen)) throw new TypeError(`token.gen must be a positive safe integer, got ${String(token.gen)}`);
  if (!isTime(token.expiresAt)) throw new TypeError(`token.expiresAt must be epoch ms, got ${String(token.expiresAt)}`);
  if (!isTime(token.fetchedAt)) throw new TypeError(`token.fetchedAt must be epoch ms, got ${String(token.fetchedAt)}`);
  if (!TOKEN_SOURCES.has(token.api)) throw new TypeError(`token.api must be stable|classic|wecom|ticket, got ${String(token.api)}`);
  if (!isTime(token.checkedAt)) throw new TypeError(`token.checkedAt must be epoch ms, got ${String(token.checkedAt)}`);
  if (!isTime(token.notBefore)) throw new TypeError(`token.notBefore must be epoch ms or 0, got ${String(token.notBefore)}`);
}

export function assertSlot(limit: number, windowMs: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError(`limit must be a positive integer, got ${String(limit)}`);
  if (!Number.isSafeInteger(windowMs) || windowMs < 1) throw new TypeError(`windowMs must be a positive integer, got ${String(windowMs)}`);
}

export function assertNoticeGen(gen: number): void {
  if (!Number.isSafeInteger(gen) || gen < 0) throw new TypeError(`gen must be a non-negative safe integer, got ${String(gen)}`);
}

export function assertNowMs(nowMs: number): void {
  if (!isTime(nowMs)) throw new TypeError(`nowMs must be epoch ms, got ${String(nowMs)}`);
}

export function assertForceLimits(limits: { perDay: number; minIntervalMs: number }): void {
  if (!Number.isSafeInteger(limits.perDay) || limits.perDay < 0)
    throw new TypeError(`perDay must be a non-negative integer, got ${String(limits.perDay)}`);
  if (!Number.isSafeInteger(limits.minIntervalMs) || limits.minIntervalMs < 0) {
    throw new TypeError(`minIntervalMs must be a non-negative integer, got ${String(limits.minIntervalMs)}`);
  }
}

export function assertStatus(status: AccountStatus): void {
  if (!isTime(status.openUntil)) throw new TypeError(`status.openUntil must be epoch ms or 0, got ${String(status.openUntil)}`);
  if (!Number.isSafeInteger(status.failures) || status.failures < 0) throw new TypeError(`status.failures must be a non-negative integer`);
}

/** A stored token from its hash fields; null when there is no token (absent, invalidated) or it is malformed. */
export function parseStoredToken(h: Record<string, string | undefined>): StoredToken | null {
  const accessToken = h.accessToken;
  if (accessToken === undefined || accessToken.length === 0) return null;
  const token = {
    accessToken,
    expiresAt: Number(h.expiresAt),
    fetchedAt: Number(h.fetchedAt),
    api: h.api as CredentialApi,
    gen: Number(h.gen),
    // Records written before these fields existed: checked when fetched, no push-out.
    checkedAt: h.checkedAt === undefined ? Number(h.fetchedAt) : Number(h.checkedAt),
    notBefore: h.notBefore === undefined ? 0 : Number(h.notBefore),
  };
  if (!isTime(token.expiresAt) || !isTime(token.fetchedAt) || !isGen(token.gen) || !TOKEN_SOURCES.has(token.api)) return null;
  if (!isTime(token.checkedAt) || !isTime(token.notBefore)) return null;
  return token;
}

export function defaultStatus(): AccountStatus {
  return { openUntil: 0, failures: 0 };
}

/** Status as stored (JSON): the same text in both stores, so both round-trip alike (undefined fields drop out). */
export function serializeStatus(status: AccountStatus): string {
  return JSON.stringify(status);
}

export function parseStatus(raw: string): AccountStatus | null {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const s = v as Partial<AccountStatus>;
  if (!isTime(s.openUntil) || typeof s.failures !== "number") return null;
  return s as AccountStatus;
}

/** A refresh notice `{accountId, gen}`; null when malformed (receivers ignore those). */
export function parseRefreshedMessage(message: string): { accountId: string; gen: number } | null {
  let v: unknown;
  try {
    v = JSON.parse(message);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const { accountId, gen } = v as { accountId?: unknown; gen?: unknown };
  if (typeof accountId !== "string" || !CREDENTIAL_ID_PATTERN.test(accountId)) return null;
  if (typeof gen !== "number" || !Number.isSafeInteger(gen) || gen < 0) return null;
  return { accountId, gen };
}
