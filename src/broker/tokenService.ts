// The refresh algorithm, per account. Whether to call WeChat is decided by the refresh policy (policy.ts); this
// class carries its decisions out across replicas:
//
//   get:      local cache (≤ LOCAL_CACHE_TTL) → store → refresh
//   refresh:  single-flight per process → policy → lock (no queue) → re-read store → policy again → probe or fetch
//             (ceiling, then force budget, at the moment of the call) → fenced write → publish
//   losers:   wait for the winner's publish or poll the store, bounded; the breaker tells them if the winner failed
//
// The lock only saves upstream calls; correctness comes from the store's compare-and-set on the lock's fencing
// generation, and from acting only on the exact token a caller saw fail. See docs/refresh-policy.md.
//
// All of this runs per *credential*: an account's token (id = the account id), or one of its JS-SDK tickets
// (id = `<accountId>.<type>`, see accounts.ts). A ticket has its own store record, lock, status, ceiling, cache and
// flights, and differs only in how it is fetched: with the account's token, from this same service.
import type { Account, CredentialApi, TicketType } from "../accounts";
import { parseCredentialId, ticketCredentialId, ticketTypesOf, tokenSourceOf } from "../accounts";
import { type Clock, systemClock, sleep, jitter, quotaDay, quotaDayEnd } from "../clock";
import type { Logger } from "../logger";
import type { LockHandle, RefreshLock } from "../lock/types";
import type { AccountStatus, StoredToken, TokenStore } from "../store/types";
import { type FetchedToken, UpstreamError, type UpstreamEndpoint, type WeChatApi } from "../wechat/types";
import { afterFailure, afterSuccess, type BreakerPolicy, defaultBreakerPolicy } from "./breaker";
import {
  BrokerError,
  CallCeilingError,
  ForceBudgetError,
  RefreshTimeoutError,
  ReportRateLimitedError,
  StoreUnavailableError,
  UnknownAccountError,
  UnsupportedTicketError,
  UpstreamUnavailableError,
} from "./errors";
import { type BrokerEvents, type ForeignVia, noopEvents, type RefreshReason, type ReportOutcome } from "./events";
import { alive, decide, type Decision, expiresInSec, notBeforeAfterAnswer, type PolicyOptions, servable, type Trigger } from "./policy";

export interface TokenServiceOptions extends PolicyOptions {
  /** How long a replica trusts its in-process copy before re-reading the store. ≤ 60 s. */
  localCacheTtlMs: number;
  lockTtlMs: number;
  /** Upper bound of one upstream call; a lock with less than this left is not used to call WeChat. */
  upstreamTimeoutMs: number;
  /** How long a caller waits for another replica's refresh before giving up. */
  waitForRefreshMs: number;
  /** Store polling while waiting (pub/sub is at-most-once, so waiters also poll). */
  pollIntervalMs: number;
  /** Extra attempts for transient upstream failures inside one refresh. */
  transientRetries: number;
  retryBaseMs: number;
  forcePerDay: number;
  forceMinIntervalMs: number;
  breaker: BreakerPolicy;
  /** Hard ceiling of upstream token calls per account per rolling minute, all replicas and triggers together. */
  upstreamCallsPerMinute: number;
  /** Caller reports that reach WeChat (a probe or a refresh), per account and per API key, per rolling minute. */
  reportChecksPerMinute: number;
  reportChecksPerKeyPerMinute: number;
}

/**
 * The options no setting decides: implementation constants, so their defaults live here alone. Every other option
 * comes from the configuration (src/config/coreOptions.ts) and has no default here, so it cannot drift from the
 * documented one.
 */
export const FIXED_OPTIONS = {
  clockSkewMs: 5_000,
  jitterFraction: 0.2,
  manualRetryMinMs: 10_000,
  pollIntervalMs: 100,
  transientRetries: 2,
  retryBaseMs: 200,
  breaker: defaultBreakerPolicy,
} satisfies Partial<TokenServiceOptions>;

type FixedOption = keyof typeof FIXED_OPTIONS;

/** The options the configuration decides. */
export type ConfiguredOptions = Omit<TokenServiceOptions, FixedOption>;

/** Options as a caller gives them: every configured one, and any fixed one it wants otherwise (tests). */
export type TokenServiceOptionsInput = ConfiguredOptions & Partial<Pick<TokenServiceOptions, FixedOption>>;

export function tokenServiceOptions(given: TokenServiceOptionsInput): TokenServiceOptions {
  return { ...FIXED_OPTIONS, ...given };
}

export interface TokenServiceDeps {
  accounts: Account[];
  store: TokenStore;
  lock: RefreshLock;
  wechat: WeChatApi;
  logger: Logger;
  clock?: Clock;
  events?: BrokerEvents;
  options: TokenServiceOptionsInput;
}

/** What a caller receives. Times are epoch ms; `expiresIn` is seconds the caller may cache it (margin applied). */
export interface TokenView {
  accountId: string;
  accessToken: string;
  expiresIn: number;
  expiresAt: number;
  fetchedAt: number;
  api: StoredToken["api"];
}

export interface SyncResult {
  token: TokenView;
  refreshed: boolean;
  /** refreshed: WeChat was called and handed out a new token; forced: the same, on an admin's force;
   * not_due: nothing to do (the token is fine, or WeChat has nothing newer yet). */
  reason: "refreshed" | "forced" | "not_due";
  durationMs: number;
}

/** What a report says beyond the token. */
export interface InvalidateOptions {
  /** Who reports (the API key's name), for the per-key limit. */
  caller?: string;
  /** Through which surface the dead token was noticed, for foreign-fetch detection. Default "report". */
  via?: ForeignVia;
  /** What WeChat answered to the call made with the token (40001, 40014, 42001), when the reporter saw it; logged. */
  errcode?: number;
}

/** The answer to a caller's report of a rejected token. */
export interface ReportResult {
  token: TokenView;
  refreshed: boolean;
  reason: Exclude<ReportOutcome, "rate_limited">;
}

/** A ticket as a caller receives it. Times are epoch ms; `expiresIn` is seconds the caller may cache it. */
export interface TicketView {
  accountId: string;
  type: TicketType;
  ticket: string;
  expiresIn: number;
  expiresAt: number;
  fetchedAt: number;
}

/** One cached credential: the account's token (no `ticket`), or one of its tickets. `id` keys everything. */
interface Credential {
  id: string;
  account: Account;
  ticket?: TicketType;
}

interface RefreshRequest {
  trigger: Trigger;
  /** Report: the token the caller saw fail. */
  reported?: string;
  /** Report: when it arrived. */
  since?: number;
  /** Report: the API key's name, for the per-key limit. */
  caller?: string;
  /** Report: how the dead token was noticed (foreign-fetch detection). */
  via?: ForeignVia;
}

/** What one refresh came to: the token now current, and whether WeChat handed out a new one or vouched for it. */
interface Outcome {
  token: StoredToken;
  /** A new token was fetched and written. */
  rotated: boolean;
  /** For reports: how the report was settled. */
  report: ReportResult["reason"];
}

interface Flight {
  promise: Promise<Outcome>;
  trigger: Trigger;
  reported?: string;
}

const ENDPOINT_OF: Record<CredentialApi, UpstreamEndpoint> = {
  stable: "stable_token",
  classic: "token",
  wecom: "gettoken",
  ticket: "getticket",
};

/** The caller name under which a ticket fetch reports a token WeChat rejected (per-key report limit). */
const TICKET_REPORTER = "ticket-fetch";

const REASON_OF: Record<Trigger, RefreshReason> = { miss: "expired", ahead: "ahead", report: "invalidated", sync: "sync", force: "forced" };

const MINUTE_MS = 60_000;

export class TokenService {
  private readonly accounts: Map<string, Account>;
  private readonly store: TokenStore;
  private readonly lock: RefreshLock;
  private readonly wechat: WeChatApi;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly events: BrokerEvents;
  readonly options: TokenServiceOptions;

  /** This replica's copies. `supersededAt`: another replica's refresh notice named a newer generation. */
  private readonly local = new Map<string, { token: StoredToken; cachedAt: number; supersededAt?: number }>();
  private readonly flights = new Map<string, Flight>();
  private readonly reads = new Map<string, Promise<StoredToken | null>>();
  private readonly wakers = new Map<string, Set<() => void>>();
  private readonly changeListeners = new Set<(accountId: string) => void>();
  /** Ticket credentials asked for in this process: only these are refreshed ahead (tickets nobody uses are never fetched). */
  private readonly requestedTickets = new Set<string>();
  private readonly unsubscribe: () => void;

  constructor(deps: TokenServiceDeps) {
    this.accounts = new Map(deps.accounts.map((a) => [a.id, a]));
    this.store = deps.store;
    this.lock = deps.lock;
    this.wechat = deps.wechat;
    this.log = deps.logger;
    this.clock = deps.clock ?? systemClock;
    this.events = deps.events ?? noopEvents;
    this.options = tokenServiceOptions(deps.options);
    if (this.options.stableRefreshAheadMs >= this.options.overlapMs) {
      throw new Error("stableRefreshAheadMs must be below the overlap: stable tokens only rotate in their last 300 s");
    }
    this.unsubscribe = this.store.onRefreshed((accountId, gen) => this.onRefreshed(accountId, gen));
  }

  accountIds(): string[] {
    return [...this.accounts.keys()];
  }

  /** How many accounts' tokens this replica would serve from memory now if the store could not be asked (readiness). */
  servableFromMemory(): number {
    const now = this.clock.now();
    let n = 0;
    for (const id of this.accounts.keys()) if (this.fallback(id, now) !== undefined) n++;
    return n;
  }

  account(accountId: string): Account {
    const account = this.accounts.get(accountId);
    if (!account) throw new UnknownAccountError(accountId);
    return account;
  }

  /** The credential an id names: an account id (its token) or `<accountId>.<type>` (a ticket the account has). */
  private credential(id: string): Credential {
    const { accountId, ticket } = parseCredentialId(id);
    const account = this.account(accountId);
    if (ticket === undefined) return { id: accountId, account };
    const allowed = ticketTypesOf(account);
    if (!allowed.includes(ticket)) throw new UnsupportedTicketError(accountId, ticket, allowed);
    return { id, account, ticket };
  }

  /** Ticket credential ids requested in this process (refreshed ahead by the scheduler). */
  ticketIds(): string[] {
    return [...this.requestedTickets];
  }

  /** Listen for changes of any credential (token or ticket; from this or any other replica), and for the first
   * request of a ticket in this process. The argument is the credential id. */
  onTokenChanged(listener: (accountId: string) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Waits for refreshes under way (so their locks are released) — for graceful shutdown. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.flights.values()].map((f) => f.promise));
  }

  close(): void {
    this.unsubscribe();
    for (const set of this.wakers.values()) for (const wake of set) wake();
  }

  // ---- read path -------------------------------------------------------------------------------------------

  /**
   * The hot path: the token from this replica's memory when it is fresh enough to serve (no Redis, nothing
   * allocated beyond the view), else undefined. Never waits, never refreshes; getToken starts with it, and the HTTP
   * fast path (src/http/fastPath.ts) serves it without a promise.
   */
  cachedToken(accountId: string): TokenView | undefined {
    const cached = this.cached(accountId);
    if (cached === undefined) return undefined;
    this.events.tokenRequest(accountId, "hit");
    return this.view(accountId, cached, this.clock.now());
  }

  async getToken(accountId: string): Promise<TokenView> {
    const cred = this.credential(accountId);
    if (cred.ticket !== undefined) throw new UnknownAccountError(accountId);
    const hit = this.cachedToken(accountId);
    if (hit !== undefined) return hit;
    const token = await this.get(cred, (result) => this.events.tokenRequest(accountId, result));
    return this.view(accountId, token, this.clock.now());
  }

  /** The account's JS-SDK ticket of `type`, under the same policy as its token (the caching promise included). */
  async getTicket(accountId: string, type: TicketType): Promise<TicketView> {
    const cred = this.credential(ticketCredentialId(accountId, type));
    const count = (result: Parameters<BrokerEvents["tokenRequest"]>[1]) => this.events.ticketRequest?.(accountId, type, result);
    if (!this.requestedTickets.has(cred.id)) {
      this.requestedTickets.add(cred.id);
      // The scheduler starts refreshing it ahead from now on.
      for (const listener of this.changeListeners) listener(cred.id);
    }
    let token = this.cached(cred.id);
    if (token !== undefined) count("hit");
    else token = await this.get(cred, count);
    const now = this.clock.now();
    const expiresIn = expiresInSec(token, now, this.options);
    return { accountId, type, ticket: token.accessToken, expiresIn, expiresAt: now + expiresIn * 1000, fetchedAt: token.fetchedAt };
  }

  /** The credential from this replica's memory when it is fresh enough to serve. */
  private cached(id: string): StoredToken | undefined {
    const cached = this.local.get(id);
    if (cached === undefined || cached.supersededAt !== undefined) return undefined;
    const now = this.clock.now();
    if (now - cached.cachedAt >= this.options.localCacheTtlMs || !servable(cached.token, now, this.options)) return undefined;
    return cached.token;
  }

  /**
   * The copy to serve when the store or WeChat cannot be asked: while WeChat still accepts it. A superseded copy only
   * within WeChat's overlap after the notice (a replaced token keeps working that long): a Redis coming back can
   * deliver the notice on its subscriber connection before its command connection answers a read, and dropping the
   * copy then left callers with a 503 though a working token was at hand.
   */
  private fallback(id: string, now: number): StoredToken | undefined {
    const cached = this.local.get(id);
    if (cached === undefined || !alive(cached.token, now, this.options)) return undefined;
    if (cached.supersededAt !== undefined && now - cached.supersededAt >= this.options.overlapMs - this.options.clockSkewMs)
      return undefined;
    return cached.token;
  }

  /** Store → refresh, for a credential the local cache did not have. */
  private async get(cred: Credential, count: (result: "hit" | "miss" | "stale" | "error") => void): Promise<StoredToken> {
    const id = cred.id;
    const now = this.clock.now();
    const cached = this.fallback(id, now);
    const stale = (token: StoredToken) => {
      // Served though the store or WeChat could not confirm it: WeChat still accepts it.
      count("stale");
      return token;
    };

    // Store known to be down: serve the copy we have at once instead of waiting out a command timeout per request.
    if (cached && !this.store.isReady()) return stale(cached);
    let stored: StoredToken | null;
    try {
      stored = await this.readStore(id);
    } catch (err) {
      // Store down: keep serving the copy we have while WeChat still accepts it.
      if (cached) return stale(cached);
      count("error");
      throw this.storeError(err);
    }
    if (servable(stored, now, this.options)) {
      this.remember(id, stored);
      count("hit");
      return stored;
    }

    try {
      const { token } = await this.refresh(cred, { trigger: "miss" });
      count("miss");
      return token;
    } catch (err) {
      // WeChat refuses (or the ceiling holds) but the old token still works (e.g. inside WeChat's overlap), or the
      // store failed during the refresh (a Redis coming back, still refusing the lock or the write): serve it.
      const fallback = stored ?? this.fallback(id, this.clock.now());
      const servableAnyway =
        err instanceof UpstreamUnavailableError || err instanceof CallCeilingError || err instanceof StoreUnavailableError;
      if (servableAnyway && alive(fallback, this.clock.now(), this.options)) return stale(fallback);
      count("error");
      throw err;
    }
  }

  /**
   * One store read per account at a time in this process: when a token expires, hundreds of requests miss the
   * local cache at once, and one HGETALL answers them all (each of its own would queue behind the others and
   * time out under load).
   */
  private readStore(accountId: string): Promise<StoredToken | null> {
    let read = this.reads.get(accountId);
    if (!read) {
      const p = this.store.get(accountId);
      read = p;
      this.reads.set(accountId, p);
      const done = () => {
        if (this.reads.get(accountId) === p) this.reads.delete(accountId);
      };
      p.then(done, done);
    }
    return read;
  }

  /**
   * A caller reports that `accessToken` failed (40001/42001/40014). Nothing is rotated on its word alone: a report of
   * a token that is no longer current, or that was re-checked after the report arrived, is answered from the store; a
   * young current token is probed first; only a token WeChat confirms dead (or one due anyway) is replaced. Reports
   * that reach WeChat are limited per account and per API key.
   */
  async invalidate(accountId: string, accessToken: string, opts: InvalidateOptions = {}): Promise<ReportResult> {
    const account = this.account(accountId);
    const cached = this.local.get(accountId);
    if (cached?.token.accessToken === accessToken) this.local.delete(accountId);
    const since = this.clock.now();
    try {
      const outcome = await this.refresh(
        { id: accountId, account },
        { trigger: "report", reported: accessToken, since, caller: opts.caller ?? "anonymous", via: opts.via ?? "report" },
      );
      this.events.report(accountId, outcome.report);
      return { token: this.view(accountId, outcome.token, this.clock.now()), refreshed: outcome.rotated, reason: outcome.report };
    } catch (err) {
      if (err instanceof ReportRateLimitedError) this.events.report(accountId, "rate_limited");
      throw err;
    }
  }

  /** Bring the token up to date now. `force` refreshes regardless, within the force budget. */
  async sync(accountId: string, opts: { force?: boolean } = {}): Promise<SyncResult> {
    const account = this.account(accountId);
    const started = this.clock.now();
    const { token, rotated } = await this.refresh({ id: accountId, account }, { trigger: opts.force ? "force" : "sync" });
    const now = this.clock.now();
    const reason = rotated ? (opts.force ? "forced" : "refreshed") : "not_due";
    return { token: this.view(accountId, token, now), refreshed: rotated, reason, durationMs: now - started };
  }

  /**
   * Background refresh-ahead. Returns the token now current, and when to try again if nothing could be done
   * (breaker open, ceiling reached, another replica busy).
   */
  async refreshAhead(accountId: string): Promise<{ token: StoredToken | null; retryAt?: number }> {
    const cred = this.credential(accountId);
    const [current, status] = await this.storeCall(() => Promise.all([this.store.get(accountId), this.store.getStatus(accountId)]));
    const d = decide({ trigger: "ahead", token: current, status, now: this.clock.now() }, this.options);
    if (d.action === "serve") return { token: current };
    if (d.action === "wait") return { token: current, retryAt: d.until };
    try {
      return { token: (await this.refresh(cred, { trigger: "ahead" })).token };
    } catch (err) {
      const now = this.clock.now();
      if (err instanceof UpstreamUnavailableError || err instanceof CallCeilingError)
        return { token: current, retryAt: now + Math.max(err.retryAfterMs, 1000) };
      if (err instanceof BrokerError) return { token: current, retryAt: now + 5_000 };
      throw err;
    }
  }

  /** The stored token (or ticket: a credential id) and shared status, for diagnosis. Never refreshes. */
  async inspect(accountId: string): Promise<{ token: StoredToken | null; status: AccountStatus }> {
    this.credential(accountId);
    const [token, status] = await this.storeCall(() => Promise.all([this.store.get(accountId), this.store.getStatus(accountId)]));
    return { token, status };
  }

  view(accountId: string, token: StoredToken, now: number): TokenView {
    const expiresIn = expiresInSec(token, now, this.options);
    return {
      accountId,
      accessToken: token.accessToken,
      expiresIn,
      expiresAt: now + expiresIn * 1000,
      fetchedAt: token.fetchedAt,
      api: token.api,
    };
  }

  // ---- refresh ---------------------------------------------------------------------------------------------

  private refresh(cred: Credential, req: RefreshRequest): Promise<Outcome> {
    const existing = this.flights.get(cred.id);
    if (existing) {
      // Join the refresh already under way; a report of a token that flight did not replace needs its own look, and
      // an admin's force is not satisfied by a routine refresh.
      const forceOnRoutine = req.trigger === "force" && existing.trigger !== "force";
      if (!forceOnRoutine && (req.reported === undefined || existing.reported === req.reported)) return existing.promise;
      return existing.promise.then(
        (o) =>
          forceOnRoutine || o.token.accessToken === req.reported
            ? this.refresh(cred, req)
            : { ...o, rotated: false, report: "already_replaced" as const },
        () => this.refresh(cred, req),
      );
    }
    const flight: Flight = { trigger: req.trigger, reported: req.reported, promise: this.refreshAcrossReplicas(cred, req) };
    this.flights.set(cred.id, flight);
    const done = () => {
      if (this.flights.get(cred.id) === flight) this.flights.delete(cred.id);
    };
    flight.promise.then(done, done);
    return flight.promise;
  }

  private decide(req: RefreshRequest, token: StoredToken | null, status: AccountStatus, extra: { confirmedDead?: boolean } = {}): Decision {
    return decide(
      { trigger: req.trigger, token, status, now: this.clock.now(), reported: req.reported, since: req.since, ...extra },
      this.options,
    );
  }

  /** A decision that needs no upstream call, as an outcome. */
  private settled(token: StoredToken, d: Extract<Decision, { action: "serve" }>): Outcome {
    return { token, rotated: false, report: d.why === "rechecked" ? "still_valid" : "already_replaced" };
  }

  private async refreshAcrossReplicas(cred: Credential, req: RefreshRequest): Promise<Outcome> {
    const id = cred.id;
    const deadline = this.clock.now() + this.options.waitForRefreshMs;
    for (;;) {
      const [current, status] = await this.storeCall(() => Promise.all([this.store.get(id), this.store.getStatus(id)]));
      const d = this.decide(req, current, status);
      if (d.action === "serve") return this.settled(current!, d);
      if (d.action === "wait") {
        if (d.why === "breaker") return this.whileOpen(id, current, status, req);
        if (this.clock.now() >= deadline) throw new RefreshTimeoutError(id, this.options.pollIntervalMs * 10);
        await this.waitForChange(id, Math.max(1, Math.min(d.until - this.clock.now(), deadline - this.clock.now())));
        continue;
      }

      let handle: LockHandle | null;
      try {
        handle = await this.lock.tryAcquire(id, this.options.lockTtlMs);
      } catch (err) {
        this.events.lockAcquire("error");
        // Every caller of this replica that wants the account is joined to this one refresh: one failed lock
        // command (typically a timeout while a burst of callers keeps the event loop busy) must not fail them all.
        // Wait like a loser of the lock (the SET may even have succeeded) and look again; while Redis is really down,
        // the store read at the top of the loop fails at once (the lock adapter also refuses at once while
        // disconnected), so this adds no hang.
        if (this.clock.now() >= deadline) throw this.storeError(err);
        this.log.warn({ accountId: id, err: safeErr(err) }, "could not take the refresh lock; waiting and looking again");
        await this.waitForChange(id, this.options.pollIntervalMs);
        continue;
      }
      if (handle) {
        this.events.lockAcquire("acquired");
        let outcome: Outcome | null;
        try {
          outcome = await this.refreshUnderLock(cred, handle, req);
        } finally {
          await this.release(id, handle);
        }
        if (outcome) return outcome;
        continue;
      }

      this.events.lockAcquire("contended");
      if (this.clock.now() >= deadline) {
        if (req.trigger !== "report" && alive(current, this.clock.now(), this.options))
          return { token: current, rotated: false, report: "already_replaced" };
        throw new RefreshTimeoutError(id, this.options.pollIntervalMs * 10);
      }
      await this.waitForChange(id, this.options.pollIntervalMs);
    }
  }

  /** Breaker open: serve what still works, otherwise the classified error that opened it. */
  private whileOpen(id: string, current: StoredToken | null, status: AccountStatus, req: RefreshRequest): Outcome {
    const now = this.clock.now();
    if (req.trigger !== "ahead" && alive(current, now, this.options) && current.accessToken !== req.reported) {
      return { token: current, rotated: false, report: "already_replaced" };
    }
    const last = status.lastError ?? {
      message: "upstream calls are paused for this account",
      kind: "errcode" as const,
      endpoint: "stable_token" as const,
      errclass: "transient" as const,
      retryable: true,
      hint: { en: "Retry later.", zh: "请稍后重试。" },
      at: now,
    };
    this.events.breaker(id, true);
    throw new UpstreamUnavailableError(id, last, status.openUntil - now, true);
  }

  /** Under the lock: re-read, decide again, then probe and/or fetch. Null: nothing could be done now, look again. */
  private async refreshUnderLock(cred: Credential, handle: LockHandle, req: RefreshRequest): Promise<Outcome | null> {
    const { id, account } = cred;
    // Someone may have refreshed between our check and our lock: re-read before calling WeChat.
    const [current, status] = await this.storeCall(() => Promise.all([this.store.get(id), this.store.getStatus(id)]));
    let d = this.decide(req, current, status);
    if (d.action === "serve") return this.settled(current!, d);
    if (d.action === "wait") return d.why === "breaker" ? this.whileOpen(id, current, status, req) : null;
    if (req.trigger === "report") await this.takeReportSlots(id, req.caller ?? "anonymous");

    let confirmedDead = false;
    if (d.action === "probe") {
      const verdict = await this.probe(account, current!.accessToken);
      if (verdict === "valid") {
        // Write it again as re-checked: the same report arriving at other replicas is answered without WeChat.
        const token = await this.write(id, handle, { ...current!, checkedAt: this.clock.now() }, status, req, false);
        return { token, rotated: false, report: "still_valid" };
      }
      if (verdict === "unknown") return { token: current!, rotated: false, report: "unverified" };
      confirmedDead = true;
      // The current, young token died before any rotation of ours: another system fetched a token for the AppID.
      this.foreign(id, req);
      d = this.decide(req, current, status, { confirmedDead });
      if (d.action !== "fetch") return d.action === "serve" ? this.settled(current!, d) : null;
    }

    // Tickets are never reported (no report trigger) nor forced: only tokens reach the branch below.
    const api = cred.ticket !== undefined ? "ticket" : tokenSourceOf(account);
    let fetched = await this.fetch(cred, handle, status, req, d.force);
    // A stable token handed back changed although ours was not yet in its rotation window: someone force-refreshed.
    const early = current !== null && current.expiresAt - this.clock.now() > this.options.overlapMs;
    if (req.trigger === "report" && api === "stable" && !d.force && !confirmedDead && early && fetched.accessToken !== current.accessToken)
      this.foreign(id, req);
    if (req.trigger === "report" && fetched.accessToken === req.reported && !d.force) {
      // A normal call handed back the token the caller says is dead.
      if (!confirmedDead) confirmedDead = (await this.probe(account, fetched.accessToken)) === "dead";
      if (!confirmedDead) {
        const token = await this.write(id, handle, this.stored(fetched, current, handle), status, req, false);
        return { token, rotated: false, report: "still_valid" };
      }
      // Only a stable token can be forced; a classic call always brings a new token and WeCom has nothing newer.
      if (api === "stable") fetched = await this.fetch(cred, handle, status, req, true);
    }
    const rotated = fetched.accessToken !== current?.accessToken;
    const token = await this.write(id, handle, this.stored(fetched, current, handle), status, req, rotated);
    return { token, rotated, report: rotated ? "refreshed" : "still_valid" };
  }

  private foreign(id: string, req: RefreshRequest): void {
    const via = req.via ?? "report";
    this.events.foreignRotation(id, via);
    this.log.warn({ accountId: id, via }, "the current token died before its time: another system fetches tokens for this AppID");
  }

  /** The record to write for a token WeChat just handed out, with when the next routine call may bring a newer one. */
  private stored(fetched: FetchedToken, held: StoredToken | null, handle: LockHandle): StoredToken {
    const now = this.clock.now();
    const same = held?.accessToken === fetched.accessToken;
    const expiresAt = fetched.fetchedAt + fetched.expiresIn * 1000;
    const token = {
      accessToken: fetched.accessToken,
      // A ticket handed back again comes with its remaining life in whole seconds, rounded down: keep the expiry
      // first seen, or its end is asked for up to a second early and answered with the same, dying ticket.
      expiresAt: same && fetched.api === "ticket" ? Math.max(held.expiresAt, expiresAt) : expiresAt,
      // The same token keeps the time it was first handed out: its age is what a report's "young" is measured by.
      fetchedAt: same ? held.fetchedAt : fetched.fetchedAt,
      api: fetched.api,
      gen: handle.gen,
      checkedAt: now,
      notBefore: 0,
    };
    token.notBefore = notBeforeAfterAnswer(token, now, same, this.options);
    return token;
  }

  private fetchTicket(cred: Credential, accessToken: string): Promise<FetchedToken> {
    if (this.wechat.fetchTicket === undefined) throw new TypeError("this WeChat client cannot fetch tickets");
    return this.wechat.fetchTicket(cred.account, cred.ticket!, accessToken);
  }

  private async takeReportSlots(id: string, caller: string): Promise<void> {
    const now = this.clock.now();
    const perKey = await this.storeCall(() =>
      this.store.takeSlot({ kind: "reports", caller }, this.options.reportChecksPerKeyPerMinute, MINUTE_MS, now),
    );
    if (!perKey.ok) throw new ReportRateLimitedError(id, "key", perKey.retryInMs);
    const perAccount = await this.storeCall(() =>
      this.store.takeSlot({ kind: "reports", accountId: id }, this.options.reportChecksPerMinute, MINUTE_MS, now),
    );
    if (!perAccount.ok) throw new ReportRateLimitedError(id, "account", perAccount.retryInMs);
  }

  private async probe(account: Account, accessToken: string): Promise<"valid" | "dead" | "unknown"> {
    const started = this.clock.now();
    try {
      const r = await this.wechat.probe(account, accessToken);
      this.events.upstreamCall("probe", { ok: true }, (this.clock.now() - started) / 1000);
      return r.valid ? "valid" : "dead";
    } catch (err) {
      // Cannot tell: rotate nothing on a guess.
      this.log.warn({ accountId: account.id, err: safeErr(err) }, "could not probe the reported token");
      return "unknown";
    }
  }

  /**
   * One upstream token call with bounded retries of transient failures, never past the lock's validity. Each
   * attempt first takes a slot of the per-account ceiling; a force call then takes the force budget, at the moment
   * of the call, so a budget is never spent on a call that is not made.
   */
  private async fetch(
    cred: Credential,
    handle: LockHandle,
    status: AccountStatus,
    req: RefreshRequest,
    forceRefresh: boolean,
  ): Promise<FetchedToken> {
    const { id, account } = cred;
    const endpoint = cred.ticket !== undefined ? ENDPOINT_OF.ticket : ENDPOINT_OF[tokenSourceOf(account)];
    let tokenRetried = false;
    for (let attempt = 0; ; attempt++) {
      // A ticket is fetched with the account's token, from this same service (cache, store or its own refresh),
      // before the lease check: getting it may take a while.
      const withToken = cred.ticket !== undefined ? (await this.getToken(account.id)).accessToken : undefined;
      if (!handle.isValid(this.options.upstreamTimeoutMs)) {
        // Our lease could run out mid-call; whoever takes the lock next will fetch. Do not call WeChat.
        this.log.warn({ accountId: id }, "refresh lock too close to expiry; not calling WeChat");
        throw new RefreshTimeoutError(id, this.options.pollIntervalMs * 10);
      }
      await this.takeCeilingSlot(id, status, req.trigger);
      // The budget is WeChat's force_refresh allowance: only calls that force take it (a classic or WeCom forced sync
      // is a normal call, held by the ceiling).
      if (forceRefresh && attempt === 0) await this.takeForceBudget(id);
      const started = this.clock.now();
      this.countCall(id, started);
      try {
        const fetched =
          withToken !== undefined ? await this.fetchTicket(cred, withToken) : await this.wechat.fetchToken(account, { forceRefresh });
        this.events.upstreamCall(endpoint, { ok: true }, (this.clock.now() - started) / 1000);
        return fetched;
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        this.events.upstreamCall(
          err.endpoint,
          { ok: false, errcode: err.errcode, errclass: err.errclass },
          (this.clock.now() - started) / 1000,
        );
        if (withToken !== undefined && err.errclass === "token_invalid" && !tokenRetried) {
          // WeChat says the token the ticket was asked with is dead: report it (compare-and-refresh: probed, and
          // replaced only if WeChat confirms) and try once more with the token that comes back.
          tokenRetried = true;
          this.log.warn(
            { accountId: id, errcode: err.errcode },
            "ticket fetch rejected the account's token; reporting it and retrying once",
          );
          await this.invalidate(account.id, withToken, { caller: TICKET_REPORTER });
          attempt--;
          continue;
        }
        if (err.errclass === "transient" && attempt < this.options.transientRetries) {
          const delay = jitter(this.options.retryBaseMs * 2 ** attempt);
          if (handle.isValid(delay + this.options.upstreamTimeoutMs)) {
            this.log.warn({ accountId: id, attempt: attempt + 1, err: err.toJSON() }, "transient upstream failure; retrying");
            await sleep(delay);
            continue;
          }
        }
        this.events.refresh(id, REASON_OF[req.trigger], false);
        if (forceRefresh && err.errcode === 45009) {
          // The force budget is spent at WeChat (elsewhere, or by calls we did not count): close force refreshes
          // for the quota day, not the account; the current token stays served and normal calls still work.
          const now = this.clock.now();
          await this.storeCall(() => this.store.closeForceBudget(id, quotaDay(now), this.options.forcePerDay));
          this.log.warn({ accountId: id, errcode: err.errcode }, "WeChat refused a force refresh for quota; no more force refreshes today");
          throw new ForceBudgetError(id, "daily_limit", quotaDayEnd(now) - now);
        }
        await this.recordFailure(id, status, err);
        const cooldown = afterFailure(status, err, this.clock.now(), this.options.breaker).openUntil - this.clock.now();
        throw new UpstreamUnavailableError(id, err.toJSON(), cooldown, false);
      }
    }
  }

  private async takeCeilingSlot(id: string, status: AccountStatus, trigger: Trigger): Promise<void> {
    const now = this.clock.now();
    const limit = this.options.upstreamCallsPerMinute;
    const slot = await this.storeCall(() => this.store.takeSlot({ kind: "calls", accountId: id }, limit, MINUTE_MS, now));
    if (slot.ok) return;
    this.events.ceilingHit(id, trigger);
    this.log.warn(
      { accountId: id, trigger, limitPerMinute: limit, retryInMs: slot.retryInMs },
      "upstream call ceiling reached; not calling WeChat",
    );
    // Shown by the diagnosis; best effort.
    this.store
      .setStatus(id, { ...status, lastCeilingHit: { at: now, trigger } })
      .catch((err: unknown) => this.log.debug({ accountId: id, err: safeErr(err) }, "could not record the ceiling hit"));
    throw new CallCeilingError(id, slot.retryInMs, limit);
  }

  private async takeForceBudget(id: string): Promise<void> {
    const now = this.clock.now();
    const r = await this.storeCall(() =>
      this.store.takeForceBudget(id, now, quotaDay(now), {
        perDay: this.options.forcePerDay,
        minIntervalMs: this.options.forceMinIntervalMs,
      }),
    );
    if (!r.ok) throw new ForceBudgetError(id, r.reason ?? "daily_limit", Math.max(0, (r.retryAt ?? now) - now));
  }

  private async write(
    id: string,
    handle: LockHandle,
    token: StoredToken,
    status: AccountStatus,
    req: RefreshRequest,
    rotated: boolean,
  ): Promise<StoredToken> {
    token = { ...token, gen: handle.gen };
    const reason = REASON_OF[req.trigger];
    const result = await this.storeCall(() => this.store.write(id, token));
    if (result === "fenced") {
      // Our lock expired and a newer holder wrote: theirs wins. Serve theirs if it is usable.
      this.events.fencedWrite(id);
      this.log.warn({ accountId: id, gen: handle.gen }, "token write fenced out by a newer lock holder");
      const newer = await this.storeCall(() => this.store.get(id));
      return newer && alive(newer, this.clock.now(), this.options) ? newer : token;
    }
    if (
      status.failures > 0 ||
      status.openUntil > 0 ||
      status.lastSuccessAt === undefined ||
      this.clock.now() - status.lastSuccessAt > 60_000
    ) {
      await this.storeCall(() => this.store.setStatus(id, afterSuccess(status, this.clock.now())));
    }
    this.events.breaker(id, false);
    this.events.refresh(id, reason, true);
    // Tokens only: the expiry alert (WtbTokenExpiringWithoutRefresh) reads this gauge, and a ticket that WeChat hands
    // back until it expires would trip it at the end of every ticket's life.
    if (token.api !== "ticket") this.events.tokenExpiry(id, token.expiresAt);
    this.remember(id, token);
    this.store
      .publishRefreshed(id, token.gen)
      .catch((err: unknown) => this.log.warn({ accountId: id, err: safeErr(err) }, "could not publish refresh"));
    const fields = { accountId: id, reason, gen: token.gen, api: token.api, expiresAt: new Date(token.expiresAt).toISOString() };
    if (rotated) this.log.info(fields, "token refreshed");
    else
      this.log.info(
        { ...fields, notBefore: new Date(token.notBefore).toISOString() },
        "WeChat confirmed the current token; nothing newer before notBefore",
      );
    return token;
  }

  private async recordFailure(id: string, status: AccountStatus, err: UpstreamError): Promise<void> {
    const next = afterFailure(status, err, this.clock.now(), this.options.breaker);
    this.events.breaker(id, true);
    this.log.warn(
      {
        accountId: id,
        errcode: err.errcode,
        errclass: err.errclass,
        ip: err.ip,
        rid: err.rid,
        openUntil: new Date(next.openUntil).toISOString(),
      },
      `upstream refused: ${err.message}`,
    );
    try {
      await this.store.setStatus(id, next);
    } catch (e) {
      this.log.warn({ accountId: id, err: safeErr(e) }, "could not record the upstream failure");
    }
  }

  private countCall(id: string, now: number): void {
    // Best effort: diagnosis and metrics read it; a failed count must not fail the refresh.
    this.store
      .countUpstreamCall(id, quotaDay(now))
      .catch((err: unknown) => this.log.debug({ accountId: id, err: safeErr(err) }, "could not count upstream call"));
  }

  private async release(id: string, handle: LockHandle): Promise<void> {
    try {
      const r = await handle.release();
      if (r === "expired") this.log.warn({ accountId: id, gen: handle.gen }, "refresh lock had already expired when released");
    } catch (err) {
      this.log.warn({ accountId: id, err: safeErr(err) }, "could not release the refresh lock (it expires by itself)");
    }
  }

  // ---- cache and notifications ----------------------------------------------------------------------------

  /** The store is the truth: whatever it says now replaces this replica's copy, even at a lower generation (a
   * Redis that lost its data restarts its counters; a replica that clung to its higher gen would bypass its cache,
   * and serve a superseded token, for as long as it lived). */
  private remember(accountId: string, token: StoredToken): void {
    this.local.set(accountId, { token, cachedAt: this.clock.now() });
  }

  private onRefreshed(accountId: string, gen: number): void {
    // Never a hit again (the next request reads the store), but kept as a fallback while WeChat still accepts it.
    const cached = this.local.get(accountId);
    if (cached && cached.token.gen !== gen) cached.supersededAt ??= this.clock.now();
    // A refresh by any replica closed the shared breaker; this replica's gauge must say so too.
    if (this.accounts.has(parseCredentialId(accountId).accountId)) this.events.breaker(accountId, false);
    const set = this.wakers.get(accountId);
    if (set) for (const wake of [...set]) wake();
    for (const listener of this.changeListeners) listener(accountId);
  }

  /** Resolves on the next refresh notice for the account, or after `ms`. */
  private waitForChange(accountId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.wakers.get(accountId);
      if (!set) this.wakers.set(accountId, (set = new Set()));
      const wake = () => {
        clearTimeout(timer);
        set.delete(wake);
        if (set.size === 0 && this.wakers.get(accountId) === set) this.wakers.delete(accountId);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      set.add(wake);
    });
  }

  private async storeCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.storeError(err);
    }
  }

  private storeError(err: unknown): Error {
    if (err instanceof BrokerError) return err;
    return new StoreUnavailableError(err instanceof Error ? err.message : String(err));
  }
}

/** Only the fields of an unknown error that are safe to log (never a raw axios or ioredis error object). */
export function safeErr(err: unknown): { name?: string; message: string; code?: string } {
  if (err instanceof UpstreamError)
    return { name: err.name, message: err.message, code: err.errcode !== undefined ? String(err.errcode) : err.kind };
  if (err instanceof Error) return { name: err.name, message: err.message, code: (err as { code?: string }).code };
  return { message: String(err) };
}
