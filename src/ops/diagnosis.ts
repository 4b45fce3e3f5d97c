// The quick diagnosis: one report of everything an operator checks at 3 a.m. — configuration, the store, each
// account's token, the last WeChat refusal with its fix (from the errcode table), the breaker, today's quota, and
// the locks. Domain only: the HTTP route and the CLI render it (JSON, or text via diagnosisText.ts).
//
// Secrets: the report is built field by field from values that hold none. A StoredToken is never spread into it
// (it carries the access token); the config goes through describeConfig's allow-list; the Redis target is printed
// without credentials. test/ops/diagnosis.test.ts asserts it with distinctive secrets.
import type { Account, AccountType, CredentialApi, TicketType, TokenSource } from "../accounts";
import { parseCredentialId, tokenSourceOf } from "../accounts";
import { ForceBudgetError, StoreUnavailableError } from "../broker/errors";
import { isOpen } from "../broker/breaker";
import { alive, refreshDueAt, servable } from "../broker/policy";
import type { TokenService } from "../broker/tokenService";
import { quotaDay, quotaDayEnd, systemClock, type Clock } from "../clock";
import { describeConfig, type Config, type ConfigSummary } from "../config";
import { describeRedisTarget } from "../store/redisClient";
import type { AccountStatus, StoredToken, TokenStore } from "../store/types";
import { describeErrcode } from "../wechat/errcodes";
import { UpstreamError, type ErrClass, type Hint, type UpstreamEndpoint, type UpstreamFailureKind, type WeChatApi } from "../wechat/types";
import type { LockEntry, LockInspector, LockListing } from "./locks";
import type { ForeignRotationRecord } from "../store/adoptionRecords";
import { foreignCheck } from "./foreignCheck";
import { clusterCheck } from "./clusterCheck";

export type CheckStatus = "ok" | "warn" | "fail";

export type CheckId = "config" | "store" | "locks" | "token" | "upstream" | "breaker" | "quota" | "ceiling" | "probe" | "foreign" | "ticket";

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

export interface DiagnosisDeps {
  config: Config;
  service: TokenService;
  store: TokenStore;
  wechat: WeChatApi;
  locks: LockInspector;
  version: string;
  replicaId?: string;
  /** The refresh scheduler's planned time for an account (RefreshScheduler.plannedAt), when one runs here. */
  plannedAt?: (accountId: string) => number | undefined;
  viewpoint?: "server" | "cli";
  clock?: Clock;
  /** The last foreign rotation of an account (issue 13); a ✗ line while one is recorded. */
  foreign?: (accountId: string, nowMs: number) => Promise<ForeignRotationRecord | null>;
}

export interface DiagnoseOptions {
  /** Only this account (UnknownAccountError when it is not configured). */
  accountId?: string;
  /** Ask WeChat whether each current token works (one get_api_domain_ip call per account). */
  probe?: boolean;
}

/** WeChat's daily limits of the token endpoints (docs/wechat-api.md §6.1): null = none published. Test accounts get 200/day
// and big accounts more; the MP backend (设置与开发 → 接口权限) shows the real figure. */
export const DAILY_TOKEN_QUOTA: Readonly<Record<TokenSource, number | null>> = { classic: 2000, stable: 500_000, wecom: null };
const ENDPOINT_PATH: Readonly<Record<CredentialApi, string>> = { classic: "cgi-bin/token", stable: "cgi-bin/stable_token", wecom: "cgi-bin/gettoken", ticket: "cgi-bin/ticket/getticket" };

/** Share of a daily quota above which the quota check warns. */
const QUOTA_WARN_RATIO = 0.8;
/** Redis answering slower than this is worth a warning. */
const SLOW_STORE_MS = 100;
/** A refresh this late past its due time is reported (the scheduler adds up to 20 % jitter). */
const REFRESH_OVERDUE_GRACE_MS = 120_000;

const RANK: Record<CheckStatus, number> = { ok: 0, warn: 1, fail: 2 };
export function worst(statuses: Iterable<CheckStatus>): CheckStatus {
  let w: CheckStatus = "ok";
  for (const s of statuses) if (RANK[s] > RANK[w]) w = s;
  return w;
}

const TITLES: Record<CheckId, Hint> = {
  config: { en: "Configuration", zh: "配置" },
  store: { en: "Token store", zh: "令牌存储" },
  locks: { en: "Locks", zh: "分布式锁" },
  token: { en: "Token", zh: "令牌" },
  upstream: { en: "WeChat answers", zh: "微信接口" },
  breaker: { en: "Breaker", zh: "熔断" },
  quota: { en: "Quota today", zh: "今日额度" },
  ceiling: { en: "Call ceiling", zh: "调用上限" },
  probe: { en: "Token test with WeChat", zh: "令牌实测" },
  foreign: { en: "Other token fetchers", zh: "其他获取 token 的系统" },
  ticket: { en: "JS-SDK ticket", zh: "JS-SDK 票据" },
};

const ERRCLASS_ZH: Record<ErrClass, string> = {
  transient: "临时故障",
  token_invalid: "令牌失效",
  config: "配置错误",
  admin: "需管理员处理",
  quota: "额度用尽",
  bug: "请求错误",
};

export class Diagnosis {
  private readonly d: DiagnosisDeps;
  private readonly clock: Clock;
  private readonly inflight = new Map<string, Promise<DiagnosisReport>>();

  constructor(deps: DiagnosisDeps) {
    this.d = deps;
    this.clock = deps.clock ?? systemClock;
  }

  /** A URL operators can paste on the broker's host. */
  localUrl(): string {
    return `${this.d.config.tls ? "https" : "http"}://127.0.0.1:${this.d.config.port}`;
  }

  /**
   * Builds the report. Identical requests that arrive while one is being built share it: the endpoint needs no
   * key, and each run costs a SCAN and a few reads per account, so a burst of curls must not multiply them.
   */
  run(opts: DiagnoseOptions = {}): Promise<DiagnosisReport> {
    const key = `${opts.accountId ?? "*"}|${opts.probe === true}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.build(opts).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async build(opts: DiagnoseOptions): Promise<DiagnosisReport> {
    const accounts = opts.accountId !== undefined ? [this.d.service.account(opts.accountId)] : this.d.service.accountIds().map((id) => this.d.service.account(id));
    const checks: DiagnosisCheck[] = [this.configCheck()];

    const store = await this.storeCheck();
    checks.push(store);
    const storeOk = store.status !== "fail";

    let listing: LockListing | null = null;
    if (storeOk) {
      try {
        // A running broker answers from the lock census (bounded Redis cost per interval, shared by every caller:
        // the endpoint needs no key); the CLI is one run by an operator and walks the keyspace once.
        listing = await (this.d.viewpoint === "cli" ? this.d.locks.list() : this.d.locks.census());
        checks.push(this.locksCheck(listing));
      } catch (err) {
        checks.push({ id: "locks", status: "fail", title: TITLES.locks, detail: both(`could not list the locks: ${errorText(err)}`, `无法列出锁：${errorText(err)}`) });
      }
    } else {
      checks.push({ id: "locks", status: "warn", title: TITLES.locks, detail: NOT_CHECKED });
    }

    const perAccount = await Promise.all(accounts.map((a) => this.account(a, storeOk, listing, opts.probe === true)));
    const accountReports: AccountDiagnosis[] = [];
    for (const p of perAccount) {
      checks.push(...p.checks);
      accountReports.push(p.report);
    }

    const summary = { ok: 0, warn: 0, fail: 0 };
    for (const c of checks) summary[c.status]++;
    const report: DiagnosisReport = {
      status: worst(checks.map((c) => c.status)),
      generatedAt: new Date(this.clock.now()).toISOString(),
      version: this.d.version,
      mode: this.d.store.mode === "memory" ? "embedded" : "redis",
      viewpoint: this.d.viewpoint ?? "server",
      summary,
      checks,
      accounts: accountReports,
    };
    if (this.d.replicaId !== undefined) report.replicaId = this.d.replicaId;
    return report;
  }

  // ---- global checks ----

  private configCheck(): DiagnosisCheck {
    const c = this.d.config;
    const summary = publicSummary(describeConfig(c));
    const n = c.accounts.length;
    const keys = c.auth.apiKeys.length;
    const redis = c.redis ? describeRedisTarget(c.redis) : null;
    const en =
      `${redis ? `redis mode (${redis})` : "embedded mode (in-memory, one replica)"}, ${n} account${n === 1 ? "" : "s"}, ` +
      `${c.auth.required ? `API keys required (${keys} key${keys === 1 ? "" : "s"})` : "no API keys (loopback only)"}, key prefix "${c.keyPrefix}"`;
    const zh =
      `${redis ? `Redis 模式（${redis}）` : "嵌入模式（内存存储，单副本）"}，${n} 个账号，` +
      `${c.auth.required ? `需要 API key（${keys} 个）` : "未配置 API key（仅本机访问）"}，键前缀 "${c.keyPrefix}"`;
    const check: DiagnosisCheck = { id: "config", status: "ok", title: TITLES.config, detail: { en, zh }, data: { summary } };
    if (c.warnings.length > 0) {
      check.status = "warn";
      check.detail = { en: `${en}; ${c.warnings.join("; ")}`, zh: `${zh}；${c.warnings.length} 条警告：${c.warnings.join("；")}` };
      check.fix =
        n === 0
          ? both(
              "Configure the accounts: set ACCOUNTS_FILE=/path/to/accounts.yaml (a list of id, appId, appSecretFile; see examples/accounts.example.yaml and docs/configuration.md), or ACCOUNTS inline as JSON, then restart the broker.",
              "请配置账号：设置 ACCOUNTS_FILE=/path/to/accounts.yaml（每项含 id、appId、appSecretFile，参见 examples/accounts.example.yaml 与 docs/configuration.md），或用 ACCOUNTS 直接写 JSON，然后重启 broker。",
            )
          : both(`Review the configuration: ${c.warnings.join("; ")}`, `请检查配置警告：${c.warnings.join("；")}`);
    }
    return check;
  }

  private async storeCheck(): Promise<DiagnosisCheck> {
    const c = this.d.config;
    if (this.d.store.mode === "memory") {
      return {
        id: "store",
        status: "ok",
        title: TITLES.store,
        detail: both("embedded: in-memory store and in-process lock (one replica; tokens are fetched again after a restart)", "嵌入模式：内存存储与进程内锁（单副本；重启后重新获取 token）"),
        data: { mode: "embedded" },
      };
    }
    const target = c.redis ? describeRedisTarget(c.redis) : "redis";
    try {
      const ms = Math.round((await this.d.store.ping()) * 100) / 100;
      const cluster = await clusterCheck(this.d.store, target, ms, TITLES.store);
      if (cluster) return cluster;
      const slow = ms > SLOW_STORE_MS;
      return {
        id: "store",
        status: slow ? "warn" : "ok",
        title: TITLES.store,
        detail: both(`Redis ${target} answered PING in ${ms} ms${slow ? " (slow)" : ""}`, `Redis ${target} 可达，PING 耗时 ${ms} ms${slow ? "（偏慢）" : ""}`),
        ...(slow
          ? { fix: both("Redis is slow: check its CPU, memory (swap) and the network between the broker and Redis.", "Redis 响应偏慢：请检查其 CPU、内存（是否使用 swap）以及 broker 与 Redis 之间的网络。") }
          : {}),
        data: { mode: "redis", target, reachable: true, latencyMs: ms },
      };
    } catch (err) {
      return {
        id: "store",
        status: "fail",
        title: TITLES.store,
        detail: both(`Redis ${target} is not reachable: ${errorText(err)}`, `Redis ${target} 不可达：${errorText(err)}`),
        fix: new StoreUnavailableError("").hint,
        data: { mode: "redis", target, reachable: false },
      };
    }
  }

  private locksCheck(listing: LockListing): DiagnosisCheck {
    const held = listing.locks.filter((l) => !l.stuck);
    const stuck = listing.locks.filter((l) => l.stuck);
    const data = {
      mode: listing.mode,
      patterns: listing.patterns,
      scanned: listing.scanned,
      truncated: listing.truncated,
      ...(listing.census ? { census: listing.census } : {}),
      held: held.length,
      stuck: stuck.length,
      locks: listing.locks,
    };
    const partial = listing.census && !listing.census.complete;
    const heldEn = held.length === 0 ? "no lock held" : `${held.length} held (${held.slice(0, 3).map(holderText).join("; ")}${held.length > 3 ? "; …" : ""})`;
    const heldZh = held.length === 0 ? "无锁被持有" : `${held.length} 个被持有（${held.slice(0, 3).map(holderText).join("；")}${held.length > 3 ? "；…" : ""}）`;
    if (listing.mode === "embedded") {
      return { id: "locks", status: "ok", title: TITLES.locks, detail: both(`in-process locks: ${heldEn}; none can be stuck`, `进程内锁：${heldZh}；不会出现卡死的锁`), data };
    }
    if (stuck.length > 0) {
      const keys = stuck.slice(0, 5).map((l) => l.key).join(", ") + (stuck.length > 5 ? ", …" : "");
      const url = this.localUrl();
      return {
        id: "locks",
        status: "fail",
        title: TITLES.locks,
        detail: both(`${stuck.length} stuck lock key(s) (no TTL and no live holder possible): ${keys}; ${heldEn}`, `${stuck.length} 个卡死的锁（无过期时间，且不可能仍被持有）：${keys}；${heldZh}`),
        fix: both(
          `Remove the stuck keys (locks with a TTL are never touched): curl -X POST ${url}/api/locks/cleanup — or: node bin/wechat-token-broker.js locks cleanup. Preview with ?dryRun=true / --dry-run. With API keys configured add -H "Authorization: Bearer <admin key>".`,
          `清理卡死的锁（带过期时间的锁不会被删除）：curl -X POST ${url}/api/locks/cleanup ，或执行 node bin/wechat-token-broker.js locks cleanup。可先用 ?dryRun=true / --dry-run 预览。若配置了 API key，请加 -H "Authorization: Bearer <管理员 key>"。`,
        ),
        data,
      };
    }
    const truncated = listing.truncated;
    return {
      id: "locks",
      status: truncated ? "warn" : "ok",
      title: TITLES.locks,
      detail: both(
        `${heldEn}; none stuck${truncated ? " (scan stopped at its key limit)" : ""}${partial ? " (the key census has not walked the whole keyspace yet: legacy keys it has not reached are not shown; node bin/wechat-token-broker.js locks list walks it all)" : ""}`,
        `${heldZh}；无卡死的锁${truncated ? "（扫描达到键数上限，结果可能不完整）" : ""}${partial ? "（键扫描尚未遍历完整个键空间，尚未扫到的旧系统锁未列出；完整列表：node bin/wechat-token-broker.js locks list）" : ""}`,
      ),
      ...(truncated ? { fix: both("A LOCK_CLEANUP_PATTERNS entry matches too many keys: make it narrower.", "LOCK_CLEANUP_PATTERNS 中的模式匹配的键过多，请缩小范围。") } : {}),
      data,
    };
  }

  // ---- per account ----

  private async account(a: Account, storeOk: boolean, listing: LockListing | null, probe: boolean): Promise<{ checks: DiagnosisCheck[]; report: AccountDiagnosis }> {
    const now = this.clock.now();
    const api = tokenSourceOf(a);
    const report: AccountDiagnosis = {
      id: a.id,
      type: a.type,
      appId: a.appId,
      tokenApi: api,
      status: "ok",
      token: null,
      nextRefreshAt: null,
      nextRefreshSource: null,
      breaker: { open: false, openUntil: null, failures: 0 },
      lastError: null,
      lastSuccessAt: null,
      usage: null,
      lock: lockFacts(listing?.locks.find((l) => l.kind === "broker" && l.accountId === a.id)),
    };
    const checks: DiagnosisCheck[] = [];
    const tag = ({ id, ...rest }: Omit<DiagnosisCheck, "accountId">): DiagnosisCheck => ({ id, accountId: a.id, ...rest });

    if (!storeOk) {
      report.readError = "the token store is unavailable";
      checks.push(tag({ id: "token", status: "warn", title: TITLES.token, detail: NOT_CHECKED }));
      report.status = "warn";
      return { checks, report };
    }

    let token: StoredToken | null;
    let status: AccountStatus;
    let calls: number;
    let forced: number | null;
    const day = quotaDay(now);
    try {
      [{ token, status }, calls, forced] = await Promise.all([
        this.d.service.inspect(a.id),
        this.d.store.upstreamCalls(a.id, day),
        api === "stable" ? this.d.store.forceBudgetUsed(a.id, day) : Promise.resolve(null),
      ]);
    } catch (err) {
      report.readError = errorText(err);
      checks.push(tag({ id: "token", status: "fail", title: TITLES.token, detail: both(`could not read the account's state: ${errorText(err)}`, `无法读取账号状态：${errorText(err)}`) }));
      report.status = "fail";
      return { checks, report };
    }

    const o = this.d.service.options;
    if (token) {
      report.token = {
        api: token.api,
        fetchedAt: iso(token.fetchedAt),
        expiresAt: iso(token.expiresAt),
        expiresInSec: Math.floor((token.expiresAt - now) / 1000),
        ageSec: Math.max(0, Math.floor((now - token.fetchedAt) / 1000)),
        refreshDueAt: iso(refreshDueAt(token, o)),
        gen: token.gen,
      };
    }
    const planned = this.d.plannedAt?.(a.id);
    if (planned !== undefined) {
      report.nextRefreshAt = iso(planned);
      report.nextRefreshSource = "scheduler";
    } else if (token) {
      report.nextRefreshAt = iso(Math.max(now, refreshDueAt(token, o)));
      report.nextRefreshSource = "estimate";
    }
    const open = isOpen(status, now);
    report.breaker = { open, openUntil: open ? iso(status.openUntil) : null, failures: status.failures };
    if (status.lastSuccessAt !== undefined) report.lastSuccessAt = iso(status.lastSuccessAt);
    const last = status.lastError;
    const unresolved = last !== undefined && (status.lastSuccessAt === undefined || last.at > status.lastSuccessAt);
    if (last) {
      // Field by field (never a spread of the stored object), in reading order.
      report.lastError = {
        ...(last.errcode !== undefined ? { errcode: last.errcode } : {}),
        errclass: last.errclass,
        kind: last.kind,
        endpoint: last.endpoint,
        message: last.message,
        ...(last.errmsg !== undefined ? { errmsg: last.errmsg } : {}),
        ...(last.ip !== undefined ? { ip: last.ip } : {}),
        ...(last.rid !== undefined ? { rid: last.rid } : {}),
        at: iso(last.at),
        resolved: !unresolved,
        hint: tableHint(a, last),
      };
    }
    const forceLimit = api === "stable" ? this.d.config.forceRefreshPerDay : null;
    report.usage = {
      day,
      resetsAt: iso(quotaDayEnd(now)),
      endpoint: ENDPOINT_PATH[api],
      upstreamCalls: calls,
      dailyLimit: DAILY_TOKEN_QUOTA[api],
      forceRefreshes: forced,
      forceLimit,
    };

    checks.push(tag(this.tokenCheck(token, now, open || unresolved, planned)));
    checks.push(tag(upstreamCheck(report.lastError, now)));
    checks.push(tag(breakerCheck(report.breaker, status, now)));
    checks.push(tag(quotaCheck(a, report.usage)));
    const ceiling = ceilingCheck(status, now, this.d.config.upstreamCallsPerMinute);
    if (ceiling) checks.push(tag(ceiling));
    const foreign = await this.d.foreign?.(a.id, now).catch(() => null);
    if (foreign) checks.push(tag(foreignCheck(foreign, now, this.localUrl())));
    if (probe) {
      const p = await this.probe(a, token, now);
      report.probe = p.facts;
      checks.push(tag(p.check));
    }
    // One line per ticket callers have asked this broker for (tickets nobody uses are never fetched).
    for (const id of this.d.service.ticketIds().filter((t) => parseCredentialId(t).accountId === a.id)) {
      try {
        const t = await this.d.service.inspect(id);
        checks.push(tag(ticketCheck(parseCredentialId(id).ticket!, t.token, t.status, now)));
      } catch (err) {
        checks.push(tag({ id: "ticket", status: "warn", title: TITLES.ticket, detail: both(`could not read the ticket's state: ${errorText(err)}`, `无法读取票据状态：${errorText(err)}`) }));
      }
    }
    report.status = worst(checks.map((c) => c.status));
    return { checks, report };
  }

  private tokenCheck(token: StoredToken | null, now: number, failing: boolean, planned: number | undefined): Omit<DiagnosisCheck, "accountId"> {
    const o = this.d.service.options;
    const title = TITLES.token;
    if (token && isServable(token, now, o)) {
      const left = token.expiresAt - now;
      const age = now - token.fetchedAt;
      const due = refreshDueAt(token, o);
      const next = planned ?? Math.max(now, due);
      const nextEn = next <= now ? "due now" : `in ${durEn(next - now)} (${beijing(next)})${planned === undefined ? ", estimated" : ""}`;
      const nextZh = next <= now ? "即将进行" : `${durZh(next - now)}后（${beijing(next)}）${planned === undefined ? "，估算" : ""}`;
      const detail = {
        en: `valid for ${durEn(left)} (until ${beijing(token.expiresAt)} Beijing), fetched ${durEn(age)} ago from ${ENDPOINT_PATH[token.api]}; next refresh ${nextEn}`,
        zh: `有效，剩余 ${durZh(left)}（至北京时间 ${beijing(token.expiresAt)}），${durZh(age)}前从 ${ENDPOINT_PATH[token.api]} 获取；下次刷新：${nextZh}`,
      };
      if (now - due > REFRESH_OVERDUE_GRACE_MS) {
        return {
          id: "token",
          status: "warn",
          title,
          detail: { en: `${detail.en}; the refresh is ${durEn(now - due)} overdue`, zh: `${detail.zh}；刷新已逾期 ${durZh(now - due)}` },
          fix: both(
            "The broker has not managed to refresh ahead of expiry: see the WeChat, breaker and lock lines of this account, and the broker log (\"refresh-ahead failed\").",
            "broker 未能提前刷新：请查看该账号的微信接口、熔断与锁检查项，以及 broker 日志（\"refresh-ahead failed\"）。",
          ),
        };
      }
      return { id: "token", status: "ok", title, detail };
    }
    if (token && isAlive(token, now, this.d.service.options)) {
      return {
        id: "token",
        status: "warn",
        title,
        detail: both(`expires in ${durEn(token.expiresAt - now)}: inside the safety margin, callers wait for a refresh`, `${durZh(token.expiresAt - now)}后过期：已进入安全余量，调用方需等待刷新`),
        fix: failing ? SEE_UPSTREAM : undefined,
      };
    }
    const what = token ? both(`expired ${durEn(now - token.expiresAt)} ago`, `已于 ${durZh(now - token.expiresAt)}前过期`) : both("no token stored", "没有已存储的 token");
    if (failing) {
      return { id: "token", status: "fail", title, detail: both(`${what.en}: callers cannot get one`, `${what.zh}：调用方无法获取 token`), fix: SEE_UPSTREAM };
    }
    return {
      id: "token",
      status: "warn",
      title,
      detail: both(`${what.en}; it is fetched on the first request or by the refresh scheduler`, `${what.zh}；将在首次请求时或由定时刷新获取`),
    };
  }

  private async probe(a: Account, token: StoredToken | null, now: number): Promise<{ facts: ProbeFacts; check: Omit<DiagnosisCheck, "accountId"> }> {
    const title = TITLES.probe;
    if (!alive(token, now, this.d.service.options)) {
      return { facts: { result: "skipped" }, check: { id: "probe", status: "warn", title, detail: both("no live token to test", "没有可测试的有效 token") } };
    }
    try {
      const r = await this.d.wechat.probe(a, token.accessToken);
      if (r.valid) {
        return { facts: { result: "valid" }, check: { id: "probe", status: "ok", title, detail: both("WeChat accepts the current token (get_api_domain_ip)", "微信接受当前 token（get_api_domain_ip）") } };
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
          detail: both(`WeChat rejects the stored token: ${e.message}`, `微信拒绝当前存储的 token：${e.errcode ?? ""} ${e.errmsg ?? ""}`.trim()),
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
}

// ---- per-account checks that need no state ----

/** A requested JS-SDK ticket: its age and lifetime left, and the last refusal of its endpoint while unresolved. */
function ticketCheck(type: TicketType, token: StoredToken | null, status: AccountStatus, now: number): Omit<DiagnosisCheck, "accountId"> {
  const title = { en: `${TITLES.ticket.en} (${type})`, zh: `${TITLES.ticket.zh}（${type}）` };
  const last = status.lastError;
  const unresolved = last !== undefined && (status.lastSuccessAt === undefined || last.at > status.lastSuccessAt);
  const data: Record<string, unknown> = { type };
  if (token) {
    data.fetchedAt = iso(token.fetchedAt);
    data.ageSec = Math.max(0, Math.floor((now - token.fetchedAt) / 1000));
    data.expiresInSec = Math.floor((token.expiresAt - now) / 1000);
  }
  if (last) data.lastError = { ...(last.errcode !== undefined ? { errcode: last.errcode } : {}), errclass: last.errclass, message: last.message, at: iso(last.at), resolved: !unresolved };
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

function upstreamCheck(last: LastErrorFacts | null, now: number): Omit<DiagnosisCheck, "accountId"> {
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
      detail: both(`last refusal ${code} (${last.errclass}) ${durEn(now - at)} ago, resolved since`, `最近一次错误 ${code}（${ERRCLASS_ZH[last.errclass]}）发生于 ${durZh(now - at)}前，已恢复`),
      data,
    };
  }
  return {
    id: "upstream",
    status: last.errclass === "transient" ? "warn" : "fail",
    title,
    detail: {
      en: `${code} ${last.errclass}${ip} · ${durEn(now - at)} ago (${beijing(at)}) · ${last.message}${last.rid && !last.message.includes(last.rid) ? ` · rid ${last.rid}` : ""}`,
      zh: `${code} ${ERRCLASS_ZH[last.errclass]}${ip} · ${durZh(now - at)}前（${beijing(at)}）${last.errmsg ? ` · ${last.errmsg}` : ""}`,
    },
    fix: last.hint,
    data,
  };
}

function breakerCheck(b: AccountDiagnosis["breaker"], status: AccountStatus, now: number): Omit<DiagnosisCheck, "accountId"> {
  const title = TITLES.breaker;
  if (!b.open) return { id: "breaker", status: "ok", title, detail: both("closed: WeChat is called when needed", "未熔断：按需调用微信") };
  const left = status.openUntil - now;
  return {
    id: "breaker",
    status: "warn",
    title,
    detail: {
      en: `open until ${beijing(status.openUntil)} Beijing (${durEn(left)} left) after ${b.failures} consecutive failure(s): no WeChat call for this account until then`,
      zh: `熔断中，至北京时间 ${beijing(status.openUntil)}（还剩 ${durZh(left)}），已连续失败 ${b.failures} 次：在此之前不会为该账号调用微信`,
    },
    fix: both("It closes by itself at that time. Fix the cause shown on the WeChat line first.", "到期后自动恢复。请先按「微信接口」一行的提示修复根因。"),
  };
}

/** A ceiling hit this recent is shown as a failure: something asked for far more calls than rotations need. */
const CEILING_RECENT_MS = 15 * 60_000;

function ceilingCheck(status: AccountStatus, now: number, limit: number): Omit<DiagnosisCheck, "accountId"> | null {
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
        ? "A caller keeps reporting tokens as rejected: find it in the logs (caller reports, API key name) and make it report once per 40001/42001, then use the token it gets back."
        : "Something keeps asking for new tokens: check the logs for the trigger named here, and the clock of the broker hosts.",
      hit.trigger === "report"
        ? "有调用方在不断上报 token 失效：请在日志中找到它（上报记录与 API Key 名称），让它每次 40001/42001 只上报一次，并使用返回的新 token。"
        : "有来源在不断请求新 token：请在日志中查找此处给出的触发来源，并检查服务器时钟。",
    ),
    data: { lastCeilingHit: { at: iso(hit.at), trigger: hit.trigger }, limitPerMinute: limit },
  };
}

function quotaCheck(a: Account, u: UsageFacts): Omit<DiagnosisCheck, "accountId"> {
  const title = TITLES.quota;
  const limitEn = u.dailyLimit === null ? `${u.upstreamCalls} ${u.endpoint} calls` : `${u.upstreamCalls} of ${u.dailyLimit} ${u.endpoint} calls`;
  const limitZh = u.dailyLimit === null ? `${u.endpoint} 调用 ${u.upstreamCalls} 次` : `${u.endpoint} 调用 ${u.upstreamCalls} / ${u.dailyLimit} 次`;
  const forceEn = u.forceLimit !== null ? `; force refreshes ${u.forceRefreshes ?? 0} of ${u.forceLimit}` : "";
  const forceZh = u.forceLimit !== null ? `；强制刷新 ${u.forceRefreshes ?? 0} / ${u.forceLimit} 次` : "";
  const detail = {
    en: `${limitEn} today (Beijing day ${u.day}, made by this broker, failed ones included)${forceEn}`,
    zh: `今日（北京时间 ${u.day}）${limitZh}（本 broker 统计，含失败）${forceZh}`,
  };
  const quotaHint = describeErrcode(45009, a.type === "wecom" ? "wecom" : "wechat", { appId: a.appId })?.hint;
  if (u.dailyLimit !== null && u.upstreamCalls >= u.dailyLimit) return { id: "quota", status: "fail", title, detail, fix: quotaHint };
  if (u.dailyLimit !== null && u.upstreamCalls >= u.dailyLimit * QUOTA_WARN_RATIO) return { id: "quota", status: "warn", title, detail, fix: quotaHint };
  if (u.forceLimit !== null && (u.forceRefreshes ?? 0) >= u.forceLimit) {
    return { id: "quota", status: "warn", title, detail, fix: new ForceBudgetError(a.id, "daily_limit", 0).hint };
  }
  return { id: "quota", status: "ok", title, detail };
}

// ---- helpers ----

// The policy's type guards narrow "not servable" to null; here an expired token is still a token worth describing.
const isServable: (t: StoredToken, now: number, o: TokenService["options"]) => boolean = servable;
const isAlive: (t: StoredToken, now: number, o: TokenService["options"]) => boolean = alive;

const NOT_CHECKED = both("not checked: the token store is unavailable", "未检查：令牌存储不可用");
const SEE_UPSTREAM = both("See the fix on this account's WeChat line.", "请按该账号「微信接口」一行的修复建议处理。");

function both(en: string, zh: string): Hint {
  return { en, zh };
}

/** The operator hint for a recorded error: from the errcode table (current wording), else the one stored with it. */
function tableHint(a: Account, last: NonNullable<AccountStatus["lastError"]>): Hint {
  if (last.kind === "errcode" && last.errcode !== undefined) {
    const d = describeErrcode(last.errcode, a.type === "wecom" ? "wecom" : "wechat", { ip: last.ip, appId: a.appId, endpoint: last.endpoint });
    if (d) return d.hint;
  }
  return last.hint;
}

function lockFacts(e: LockEntry | undefined): LockFacts | null {
  if (!e) return null;
  const f: LockFacts = { key: e.key, ttlMs: e.ttlMs, stuck: e.stuck };
  if (e.owner !== undefined) f.owner = e.owner;
  if (e.gen !== undefined) f.gen = e.gen;
  if (e.acquiredAt !== undefined) f.acquiredAt = e.acquiredAt;
  if (e.ageMs !== undefined) f.ageMs = e.ageMs;
  return f;
}

function holderText(l: LockEntry): string {
  const who = l.accountId ?? l.key;
  const ttl = l.ttlMs >= 0 ? `${Math.ceil(l.ttlMs / 1000)} s left` : "no TTL";
  return `${who}${l.owner ? ` by ${l.owner}` : ""}, ${ttl}`;
}

/** Config summary without API key names: the diagnosis is readable without a key. */
function publicSummary(s: ConfigSummary): Omit<ConfigSummary, "auth"> & { auth: { required: boolean; keys: { admin: number; client: number } } } {
  const { auth, ...rest } = s;
  return {
    ...rest,
    auth: { required: auth.required, keys: { admin: auth.keys.filter((k) => k.role === "admin").length, client: auth.keys.filter((k) => k.role === "client").length } },
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** `2024-05-01 03:12:05` in Beijing time (UTC+8): WeChat's quota day and the operators' clock. */
export function beijing(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 19).replace("T", " ");
}

export function durEn(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function durZh(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} 秒`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} 分 ${s % 60} 秒`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} 小时 ${m % 60} 分`;
  return `${Math.floor(h / 24)} 天 ${h % 24} 小时`;
}

/** The diagnosis of a built broker core (src/server.ts `buildCore`). */
export function diagnosisFromCore(
  core: { config: Config; service: TokenService; store: TokenStore; wechat: WeChatApi; replicaId: string; records?: { lastForeign(accountId: string, nowMs: number): Promise<ForeignRotationRecord | null> } },
  opts: { version: string; locks: LockInspector; plannedAt?: (accountId: string) => number | undefined; viewpoint?: "server" | "cli" },
): Diagnosis {
  return new Diagnosis({
    config: core.config,
    service: core.service,
    store: core.store,
    wechat: core.wechat,
    locks: opts.locks,
    version: opts.version,
    replicaId: core.replicaId,
    plannedAt: opts.plannedAt,
    viewpoint: opts.viewpoint,
    foreign: core.records ? (id, now) => core.records!.lastForeign(id, now) : undefined,
  });
}
