// The quick diagnosis's report as the HTTP route, the CLI and diagnosisText.ts receive it: its checks (one line
// each, bilingual) and the facts about each account, all free of secrets (see diagnosis.ts).
import type { AccountType, CredentialApi, TokenSource } from "../accounts";
import type { ErrClass, Hint, UpstreamEndpoint, UpstreamFailureKind } from "../wechat/types";

export type CheckStatus = "ok" | "warn" | "fail";

export type CheckId =
  "config" | "store" | "locks" | "token" | "upstream" | "breaker" | "quota" | "ceiling" | "probe" | "foreign" | "ticket";

/** One line of the report. Texts are bilingual; `data` holds the machine-readable facts behind the line. */
export interface DiagnosisCheck {
  id: CheckId;
  /** Set on per-account checks. */
  accountId?: string;
  status: CheckStatus;
  title: Hint;
  detail?: Hint;
  /** What to do, when the check is not ok. */
  fix?: Hint;
  data?: Record<string, unknown>;
}

export interface TokenFacts {
  api: CredentialApi;
  fetchedAt: string;
  expiresAt: string;
  /** Seconds until WeChat stops accepting it (negative: expired). */
  expiresInSec: number;
  ageSec: number;
  /** When refresh-ahead is due (before jitter). */
  refreshDueAt: string;
  gen: number;
}

export interface LastErrorFacts {
  errcode?: number;
  errclass: ErrClass;
  kind: UpstreamFailureKind;
  endpoint: UpstreamEndpoint;
  message: string;
  errmsg?: string;
  ip?: string;
  rid?: string;
  at: string;
  /** True when a success came after it. */
  resolved: boolean;
  hint: Hint;
}

export interface UsageFacts {
  /** WeChat's quota day (natural day, Beijing time). */
  day: string;
  resetsAt: string;
  endpoint: string;
  /** Upstream token calls made by the broker today (all replicas, failed ones included). */
  upstreamCalls: number;
  /** WeChat's daily limit for that endpoint; null when none is published (WeCom). */
  dailyLimit: number | null;
  /** force_refresh calls taken today (stable_token only; null otherwise). */
  forceRefreshes: number | null;
  forceLimit: number | null;
}

export interface LockFacts {
  key: string;
  owner?: string;
  ttlMs: number;
  gen?: number;
  acquiredAt?: string;
  ageMs?: number;
  stuck: boolean;
}

export interface ProbeFacts {
  result: "valid" | "invalid" | "error" | "skipped";
  errcode?: number;
  message?: string;
}

export interface AccountDiagnosis {
  id: string;
  type: AccountType;
  appId: string;
  tokenApi: TokenSource;
  status: CheckStatus;
  /** Set when the account's state could not be read (store unavailable); the fields below are then empty. */
  readError?: string;
  token: TokenFacts | null;
  nextRefreshAt: string | null;
  /** "scheduler": this replica's refresh timer; "estimate": computed from the token (CLI, or no timer yet). */
  nextRefreshSource: "scheduler" | "estimate" | null;
  breaker: { open: boolean; openUntil: string | null; failures: number };
  lastError: LastErrorFacts | null;
  lastSuccessAt: string | null;
  usage: UsageFacts | null;
  lock: LockFacts | null;
  probe?: ProbeFacts;
}

export interface DiagnosisReport {
  status: CheckStatus;
  generatedAt: string;
  version: string;
  /** Which replica answered (hostname-pid). */
  replicaId?: string;
  mode: "redis" | "embedded";
  /** "server": a running broker answered; "cli": `wechat-token-broker diagnose`, a separate process. */
  viewpoint: "server" | "cli";
  summary: { ok: number; warn: number; fail: number };
  checks: DiagnosisCheck[];
  accounts: AccountDiagnosis[];
}

const RANK: Record<CheckStatus, number> = { ok: 0, warn: 1, fail: 2 };

/** The status of a report or an account: its worst check (fail over warn over ok). */
export function worst(statuses: Iterable<CheckStatus>): CheckStatus {
  let w: CheckStatus = "ok";
  for (const s of statuses) if (RANK[s] > RANK[w]) w = s;
  return w;
}
