// The quick diagnosis: one report of everything an operator checks at 3 a.m. — configuration, the store, each
// account's token, the last WeChat refusal with its fix (from the errcode table), the breaker, today's quota, and
// the locks. Domain only: the HTTP route and the CLI render it (JSON, or text via diagnosisText.ts). This file runs
// the checks (brokerChecks.ts, tokenChecks.ts, upstreamChecks.ts) and gathers each account's facts; the report's
// shape is diagnosisReport.ts.
//
// Secrets: the report is built field by field from values that hold none. A StoredToken is never spread into it
// (it carries the access token); the config goes through describeConfig's allow-list; the Redis target is printed
// without credentials. test/ops/diagnosis.test.ts asserts it with distinctive secrets.
import type { Account } from "../accounts";
import { parseCredentialId, tokenSourceOf } from "../accounts";
import { isOpen } from "../broker/breaker";
import { refreshDueAt } from "../broker/policy";
import type { TokenService } from "../broker/tokenService";
import { quotaDay, quotaDayEnd, systemClock, type Clock } from "../clock";
import type { Config } from "../config";
import type { ForeignRotationRecord } from "../store/adoptionRecords";
import type { AccountStatus, StoredToken, TokenStore } from "../store/types";
import { describeErrcode } from "../wechat/errcodes";
import { DAILY_TOKEN_QUOTA } from "../wechat/quota";
import type { Hint, WeChatApi } from "../wechat/types";
import { configCheck, locksCheck, storeCheck } from "./brokerChecks";
import { worst, type AccountDiagnosis, type DiagnosisCheck, type DiagnosisReport, type LockFacts } from "./diagnosisReport";
import { ENDPOINT_PATH, NOT_CHECKED, TITLES, both, errorText } from "./diagnosisWording";
import { foreignCheck } from "./foreignCheck";
import type { LockEntry, LockInspector, LockListing } from "./locks";
import { iso } from "./timeText";
import { probeCheck, ticketCheck, tokenCheck } from "./tokenChecks";
import { breakerCheck, ceilingCheck, quotaCheck, upstreamCheck } from "./upstreamChecks";

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
    const accounts =
      opts.accountId !== undefined
        ? [this.d.service.account(opts.accountId)]
        : this.d.service.accountIds().map((id) => this.d.service.account(id));
    const checks: DiagnosisCheck[] = [configCheck(this.d.config)];

    const store = await storeCheck(this.d.store, this.d.config);
    checks.push(store);
    const storeOk = store.status !== "fail";

    let listing: LockListing | null = null;
    if (storeOk) {
      try {
        // A running broker answers from the lock census (bounded Redis cost per interval, shared by every caller:
        // the endpoint needs no key); the CLI is one run by an operator and walks the keyspace once.
        listing = await (this.d.viewpoint === "cli" ? this.d.locks.list() : this.d.locks.census());
        checks.push(locksCheck(listing, this.localUrl()));
      } catch (err) {
        const detail = both(`could not list the locks: ${errorText(err)}`, `无法列出锁：${errorText(err)}`);
        checks.push({ id: "locks", status: "fail", title: TITLES.locks, detail });
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

  // ---- per account ----

  private async account(
    a: Account,
    storeOk: boolean,
    listing: LockListing | null,
    probe: boolean,
  ): Promise<{ checks: DiagnosisCheck[]; report: AccountDiagnosis }> {
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
      const detail = both(`could not read the account's state: ${errorText(err)}`, `无法读取账号状态：${errorText(err)}`);
      checks.push(tag({ id: "token", status: "fail", title: TITLES.token, detail }));
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

    checks.push(tag(tokenCheck(token, now, open || unresolved, planned, o)));
    checks.push(tag(upstreamCheck(report.lastError, now)));
    checks.push(tag(breakerCheck(report.breaker, status, now)));
    checks.push(tag(quotaCheck(a, report.usage)));
    const ceiling = ceilingCheck(status, now, this.d.config.upstreamCallsPerMinute);
    if (ceiling) checks.push(tag(ceiling));
    const foreign = await this.d.foreign?.(a.id, now).catch(() => null);
    if (foreign) checks.push(tag(foreignCheck(foreign, now, this.localUrl())));
    if (probe) {
      const p = await probeCheck(this.d.wechat, a, token, now, o);
      report.probe = p.facts;
      checks.push(tag(p.check));
    }
    // One line per ticket callers have asked this broker for (tickets nobody uses are never fetched).
    for (const id of this.d.service.ticketIds().filter((t) => parseCredentialId(t).accountId === a.id)) {
      try {
        const t = await this.d.service.inspect(id);
        checks.push(tag(ticketCheck(parseCredentialId(id).ticket!, t.token, t.status, now)));
      } catch (err) {
        const detail = both(`could not read the ticket's state: ${errorText(err)}`, `无法读取票据状态：${errorText(err)}`);
        checks.push(tag({ id: "ticket", status: "warn", title: TITLES.ticket, detail }));
      }
    }
    report.status = worst(checks.map((c) => c.status));
    return { checks, report };
  }
}

/** The operator hint for a recorded error: from the errcode table (current wording), else the one stored with it. */
function tableHint(a: Account, last: NonNullable<AccountStatus["lastError"]>): Hint {
  if (last.kind === "errcode" && last.errcode !== undefined) {
    const d = describeErrcode(last.errcode, a.type === "wecom" ? "wecom" : "wechat", {
      ip: last.ip,
      appId: a.appId,
      endpoint: last.endpoint,
    });
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

/** The diagnosis of a built broker core (src/server.ts `buildCore`). */
export function diagnosisFromCore(
  core: {
    config: Config;
    service: TokenService;
    store: TokenStore;
    wechat: WeChatApi;
    replicaId: string;
    records?: { lastForeign(accountId: string, nowMs: number): Promise<ForeignRotationRecord | null> };
  },
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
