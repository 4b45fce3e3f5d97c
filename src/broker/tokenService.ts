// The refresh algorithm, per account (see shared/design.md "The refresh algorithm"):
//
//   get:      local cache (≤ LOCAL_CACHE_TTL) → store → refresh
//   refresh:  single-flight per process → breaker → lock (no queue) → re-read store → fetch → fenced write → publish
//   losers:   wait for the winner's publish or poll the store, bounded; the breaker tells them if the winner failed
//
// The lock only saves upstream calls; correctness comes from the store's compare-and-set on the lock's fencing
// generation, and from invalidating only the exact token a caller saw fail.
import type { Account } from "../accounts";
import { tokenSourceOf } from "../accounts";
import { type Clock, systemClock, sleep, jitter, quotaDay } from "../clock";
import type { Logger } from "../logger";
import type { LockHandle, RefreshLock } from "../lock/types";
import type { AccountStatus, StoredToken, TokenStore } from "../store/types";
import { type FetchedToken, UpstreamError, type UpstreamEndpoint, type WeChatApi } from "../wechat/types";
import { afterFailure, afterSuccess, type BreakerPolicy, defaultBreakerPolicy, isOpen } from "./breaker";
import { BrokerError, ForceBudgetError, RefreshTimeoutError, StoreUnavailableError, UnknownAccountError, UpstreamUnavailableError } from "./errors";
import { type BrokerEvents, type ForeignVia, noopEvents, type RefreshReason } from "./events";
import { alive, expiresInSec, refreshDueAt, servable, type TimingPolicy } from "./timing";

export interface TokenServiceOptions extends TimingPolicy {
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
  /** A sync (an operator's "try now", e.g. after fixing the whitelist) passes an open breaker, but at most once
   * this often, so a client cannot hammer WeChat through it. */
  manualRetryMinMs: number;
}

export const defaultTokenServiceOptions: TokenServiceOptions = {
  safetyMarginMs: 60_000,
  classicRefreshAheadMs: 900_000,
  stableRefreshAheadMs: 240_000,
  overlapMs: 300_000,
  minRefetchIntervalMs: 10_000,
  clockSkewMs: 5_000,
  localCacheTtlMs: 30_000,
  lockTtlMs: 12_000,
  upstreamTimeoutMs: 5_000,
  waitForRefreshMs: 15_000,
  pollIntervalMs: 100,
  transientRetries: 2,
  retryBaseMs: 200,
  forcePerDay: 20,
  forceMinIntervalMs: 30_000,
  breaker: defaultBreakerPolicy,
  manualRetryMinMs: 10_000,
};

export interface TokenServiceDeps {
  accounts: Account[];
  store: TokenStore;
  lock: RefreshLock;
  wechat: WeChatApi;
  logger: Logger;
  clock?: Clock;
  events?: BrokerEvents;
  options?: Partial<TokenServiceOptions>;
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
  durationMs: number;
}

/** ISSUE-13: what a report may say beyond the token (the lead's policy rewrite takes `caller` for its budgets). */
export interface InvalidateOptions {
  /** Who reports (the API key's name); unused until the report budgets exist. */
  caller?: string;
  /** Through which surface the dead token was noticed, for foreign-fetch detection. Default "report". */
  via?: ForeignVia;
  /** What WeChat answered to a real call made with the token (40001, 40014, 42001), when the reporter saw it. */
  errcode?: number;
}

interface RefreshRequest {
  reason: RefreshReason;
  /** ISSUE-13: for invalidations, how the report came and what WeChat said (foreign-fetch detection). */
  report?: { via: ForeignVia; errcode?: number };
  /** Refresh only if the stored token is still this one (invalidation, forced sync). */
  ifCurrent?: string;
  /** When the caller's report arrived: a write of that same token after this moment means another replica has
   * just re-checked it with WeChat (a false report), so it answers this report too. */
  since?: number;
}

interface Flight {
  promise: Promise<StoredToken>;
  ifCurrent?: string;
}

const ENDPOINT_OF: Record<StoredToken["api"], UpstreamEndpoint> = { stable: "stable_token", classic: "token", wecom: "gettoken" };

export class TokenService {
  private readonly accounts: Map<string, Account>;
  private readonly store: TokenStore;
  private readonly lock: RefreshLock;
  private readonly wechat: WeChatApi;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly events: BrokerEvents;
  readonly options: TokenServiceOptions;

  private readonly local = new Map<string, { token: StoredToken; cachedAt: number }>();
  private readonly flights = new Map<string, Flight>();
  private readonly reads = new Map<string, Promise<StoredToken | null>>();
  private readonly wakers = new Map<string, Set<() => void>>();
  private readonly changeListeners = new Set<(accountId: string) => void>();
  private readonly unsubscribe: () => void;

  constructor(deps: TokenServiceDeps) {
    this.accounts = new Map(deps.accounts.map((a) => [a.id, a]));
    this.store = deps.store;
    this.lock = deps.lock;
    this.wechat = deps.wechat;
    this.log = deps.logger;
    this.clock = deps.clock ?? systemClock;
    this.events = deps.events ?? noopEvents;
    this.options = { ...defaultTokenServiceOptions, ...deps.options };
    if (this.options.stableRefreshAheadMs >= this.options.overlapMs) {
      throw new Error("stableRefreshAheadMs must be below the overlap: stable tokens only rotate in their last 300 s");
    }
    this.unsubscribe = this.store.onRefreshed((accountId, gen) => this.onRefreshed(accountId, gen));
  }

  accountIds(): string[] {
    return [...this.accounts.keys()];
  }

  account(accountId: string): Account {
    const account = this.accounts.get(accountId);
    if (!account) throw new UnknownAccountError(accountId);
    return account;
  }

  /** Listen for token changes of any account (from this or any other replica). */
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
   * fast path (src/http/fastToken.ts) asks it directly.
   */
  cachedToken(accountId: string): TokenView | undefined {
    const cached = this.local.get(accountId);
    if (cached === undefined) return undefined;
    const now = this.clock.now();
    if (now - cached.cachedAt >= this.options.localCacheTtlMs || !servable(cached.token, now, this.options)) return undefined;
    this.events.tokenRequest(accountId, "hit");
    return this.view(accountId, cached.token, now);
  }

  async getToken(accountId: string): Promise<TokenView> {
    const account = this.account(accountId);
    const hit = this.cachedToken(accountId);
    if (hit !== undefined) return hit;
    const now = this.clock.now();
    const cached = this.local.get(accountId);

    // Store known to be down: serve the copy we have at once instead of waiting out a command timeout per request.
    if (cached && !this.store.isReady() && alive(cached.token, now, this.options)) return this.stale(accountId, cached.token, now);
    let stored: StoredToken | null;
    try {
      stored = await this.readStore(accountId);
    } catch (err) {
      // Store down: keep serving the copy we have while WeChat still accepts it.
      if (cached && alive(cached.token, now, this.options)) return this.stale(accountId, cached.token, now);
      this.events.tokenRequest(accountId, "error");
      throw this.storeError(err);
    }
    if (servable(stored, now, this.options)) {
      this.remember(accountId, stored);
      this.events.tokenRequest(accountId, "hit");
      return this.view(accountId, stored, now);
    }

    try {
      const token = await this.refresh(account, { reason: "expired" });
      this.events.tokenRequest(accountId, "miss");
      return this.view(accountId, token, this.clock.now());
    } catch (err) {
      // WeChat refuses but the old token still works (e.g. inside WeChat's overlap): serve it.
      const fallback = stored ?? cached?.token;
      if (err instanceof UpstreamUnavailableError && alive(fallback, this.clock.now(), this.options)) return this.stale(accountId, fallback, this.clock.now());
      this.events.tokenRequest(accountId, "error");
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

  /** Serves a token the store or WeChat could not confirm, but that WeChat still accepts. */
  private stale(accountId: string, token: StoredToken, now: number): TokenView {
    this.events.tokenRequest(accountId, "stale");
    return this.view(accountId, token, now);
  }

  /**
   * A caller reports that `accessToken` failed (40001/42001/40014). Refresh only if it is still the current token;
   * otherwise hand back the current one without calling WeChat.
   */
  async invalidate(accountId: string, accessToken: string, opts: InvalidateOptions = {}): Promise<TokenView> {
    const account = this.account(accountId);
    const cached = this.local.get(accountId);
    if (cached?.token.accessToken === accessToken) this.local.delete(accountId);
    const current = await this.storeCall(() => this.readStore(accountId));
    const now = this.clock.now();
    if (current && current.accessToken !== accessToken && servable(current, now, this.options)) {
      this.remember(accountId, current);
      return this.view(accountId, current, now);
    }
    const report = { via: opts.via ?? "report", ...(opts.errcode !== undefined ? { errcode: opts.errcode } : {}) } satisfies RefreshRequest["report"];
    const token = await this.refresh(account, { reason: "invalidated", ifCurrent: accessToken, since: now, report });
    return this.view(accountId, token, this.clock.now());
  }

  /** Bring the token up to date now. `force` refreshes regardless, within the force budget. */
  async sync(accountId: string, opts: { force?: boolean } = {}): Promise<SyncResult> {
    const account = this.account(accountId);
    const started = this.clock.now();
    const current = await this.storeCall(() => this.store.get(accountId));
    let token: StoredToken;
    if (opts.force) {
      token = await this.refresh(account, { reason: "forced", ifCurrent: current?.accessToken ?? "" });
    } else if (this.needsRefresh(current, { reason: "sync" }, started)) {
      token = await this.refresh(account, { reason: "sync" });
    } else {
      token = current!;
    }
    const now = this.clock.now();
    return { token: this.view(accountId, token, now), refreshed: token.accessToken !== current?.accessToken || token.gen !== current?.gen, durationMs: now - started };
  }

  /**
   * Background refresh-ahead. Returns the token now current, and when to try again if nothing could be done
   * (breaker open, another replica busy).
   */
  async refreshAhead(accountId: string): Promise<{ token: StoredToken | null; retryAt?: number }> {
    const account = this.account(accountId);
    const current = await this.storeCall(() => this.store.get(accountId));
    if (!this.needsRefresh(current, { reason: "ahead" }, this.clock.now())) return { token: current };
    try {
      return { token: await this.refresh(account, { reason: "ahead" }) };
    } catch (err) {
      const now = this.clock.now();
      if (err instanceof UpstreamUnavailableError) return { token: current, retryAt: now + Math.max(err.retryAfterMs, 1000) };
      if (err instanceof BrokerError) return { token: current, retryAt: now + 5_000 };
      throw err;
    }
  }

  /** The stored token and shared status, for diagnosis. Never refreshes. */
  async inspect(accountId: string): Promise<{ token: StoredToken | null; status: AccountStatus }> {
    this.account(accountId);
    const [token, status] = await this.storeCall(() => Promise.all([this.store.get(accountId), this.store.getStatus(accountId)]));
    return { token, status };
  }

  view(accountId: string, token: StoredToken, now: number): TokenView {
    const expiresIn = expiresInSec(token, now, this.options);
    return { accountId, accessToken: token.accessToken, expiresIn, expiresAt: now + expiresIn * 1000, fetchedAt: token.fetchedAt, api: token.api };
  }

  // ---- refresh ---------------------------------------------------------------------------------------------

  private refresh(account: Account, req: RefreshRequest): Promise<StoredToken> {
    const existing = this.flights.get(account.id);
    if (existing) {
      // Join the refresh already under way; an invalidation of a token that flight did not replace needs its own.
      if (req.ifCurrent === undefined || existing.ifCurrent === req.ifCurrent) return existing.promise;
      return existing.promise.then(
        (t) => (t.accessToken === req.ifCurrent ? this.refresh(account, req) : t),
        () => this.refresh(account, req),
      );
    }
    const flight: Flight = { ifCurrent: req.ifCurrent, promise: this.refreshAcrossReplicas(account, req) };
    this.flights.set(account.id, flight);
    const done = () => {
      if (this.flights.get(account.id) === flight) this.flights.delete(account.id);
    };
    flight.promise.then(done, done);
    return flight.promise;
  }

  private needsRefresh(current: StoredToken | null, req: RefreshRequest, now: number): boolean {
    if (!current) return true;
    if (req.ifCurrent !== undefined) {
      if (!servable(current, now, this.options)) return true;
      if (current.accessToken !== req.ifCurrent) return false;
      return req.since === undefined || current.fetchedAt <= req.since;
    }
    if (!servable(current, now, this.options)) return true;
    if (req.reason === "ahead" || req.reason === "sync") return refreshDueAt(current, this.options) <= now;
    return false;
  }

  private async refreshAcrossReplicas(account: Account, req: RefreshRequest): Promise<StoredToken> {
    const id = account.id;
    const deadline = this.clock.now() + this.options.waitForRefreshMs;
    for (;;) {
      const [current, status] = await this.storeCall(() => Promise.all([this.store.get(id), this.store.getStatus(id)]));
      const now = this.clock.now();
      if (!this.needsRefresh(current, req, now)) return current!;
      if (this.blocked(status, req, now)) return this.whileOpen(id, current, status, req, now);

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
        try {
          return await this.refreshUnderLock(account, handle, req);
        } finally {
          await this.release(id, handle);
        }
      }

      this.events.lockAcquire("contended");
      if (this.clock.now() >= deadline) {
        if (req.ifCurrent === undefined && alive(current, this.clock.now(), this.options)) return current;
        throw new RefreshTimeoutError(id, this.options.pollIntervalMs * 10);
      }
      await this.waitForChange(id, this.options.pollIntervalMs);
    }
  }

  /** Whether the breaker keeps this refresh from calling WeChat. */
  private blocked(status: AccountStatus, req: RefreshRequest, now: number): boolean {
    if (!isOpen(status, now)) return false;
    const manual = req.reason === "sync" || req.reason === "forced";
    return !(manual && now - (status.lastError?.at ?? 0) >= this.options.manualRetryMinMs);
  }

  /** Breaker open: serve what still works, otherwise the classified error that opened it. */
  private whileOpen(id: string, current: StoredToken | null, status: AccountStatus, req: RefreshRequest, now: number): StoredToken {
    if (req.reason !== "ahead" && alive(current, now, this.options) && current.accessToken !== req.ifCurrent) return current;
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

  private async refreshUnderLock(account: Account, handle: LockHandle, req: RefreshRequest): Promise<StoredToken> {
    const id = account.id;
    // Someone may have refreshed between our check and our lock: re-read before calling WeChat.
    const [current, status] = await this.storeCall(() => Promise.all([this.store.get(id), this.store.getStatus(id)]));
    const now = this.clock.now();
    if (!this.needsRefresh(current, req, now)) return current!;
    if (this.blocked(status, req, now)) return this.whileOpen(id, current, status, req, now);

    const api = tokenSourceOf(account);
    let forceRefresh = false;
    if (req.reason === "forced") {
      await this.takeForceBudget(id);
      forceRefresh = api === "stable";
    }

    let fetched = await this.fetch(account, handle, status, forceRefresh, req);
    // ISSUE-13 foreign-fetch detection, step 1 of 2: WeChat handed out a different stable token although ours was
    // not yet in its rotation window (its last `overlapMs`): someone else force-refreshed.
    const rotatedEarly = api === "stable" && fetched.accessToken !== req.ifCurrent && current !== null && current.expiresAt - now > this.options.overlapMs;
    let deadByProbe = false;
    if (req.reason === "invalidated" && fetched.accessToken === req.ifCurrent && api !== "classic") {
      // A normal fetch handed back the token the caller says is dead. Ask WeChat before spending force budget:
      // a caller that reports a working token must not burn the day's 20 force refreshes.
      if (await this.stillWorks(account, fetched.accessToken)) {
        this.log.info({ accountId: id }, "reported token still works; not refreshing");
        return this.write(id, handle, fetched, status, req.reason);
      }
      deadByProbe = true;
      await this.storeCall(() => this.store.invalidate(id, fetched.accessToken));
      if (api === "stable") {
        await this.takeForceBudget(id);
        fetched = await this.fetch(account, handle, status, true, req);
      }
    }
    // ISSUE-13 foreign-fetch detection, step 2 of 2 (the lead re-homes this in the new report policy): the token we
    // hold and still call current died before its time (a probe says so, or WeChat answered 40001 to a real call
    // with it), or WeChat rotated it early. No rotation of ours explains that: another system fetched a token.
    if (req.reason === "invalidated" && req.report && current !== null && current.accessToken === req.ifCurrent && alive(current, now, this.options)) {
      if (rotatedEarly || deadByProbe || req.report.errcode === 40001) {
        this.events.foreignRotation(id, req.report.via);
        this.log.warn({ accountId: id, via: req.report.via }, "the current token died before its time: another system fetches tokens for this AppID");
      }
    }
    return this.write(id, handle, fetched, status, req.reason);
  }

  private async stillWorks(account: Account, accessToken: string): Promise<boolean> {
    try {
      return (await this.wechat.probe(account, accessToken)).valid;
    } catch (err) {
      // Cannot tell: do not spend the force budget on a guess.
      this.log.warn({ accountId: account.id, err: safeErr(err) }, "could not probe the reported token");
      return true;
    }
  }

  private async takeForceBudget(id: string): Promise<void> {
    const now = this.clock.now();
    const r = await this.storeCall(() =>
      this.store.takeForceBudget(id, now, quotaDay(now), { perDay: this.options.forcePerDay, minIntervalMs: this.options.forceMinIntervalMs }),
    );
    if (!r.ok) throw new ForceBudgetError(id, r.reason ?? "daily_limit", Math.max(0, (r.retryAt ?? now) - now));
  }

  /** One upstream fetch with bounded retries of transient failures, never past the lock's validity. */
  private async fetch(account: Account, handle: LockHandle, status: AccountStatus, forceRefresh: boolean, req: RefreshRequest): Promise<FetchedToken> {
    const id = account.id;
    const endpoint = ENDPOINT_OF[tokenSourceOf(account)];
    for (let attempt = 0; ; attempt++) {
      if (!handle.isValid(this.options.upstreamTimeoutMs)) {
        // Our lease could run out mid-call; whoever takes the lock next will fetch. Do not call WeChat.
        this.log.warn({ accountId: id }, "refresh lock too close to expiry; not calling WeChat");
        throw new RefreshTimeoutError(id, this.options.pollIntervalMs * 10);
      }
      const started = this.clock.now();
      this.countCall(id, started);
      try {
        const fetched = await this.wechat.fetchToken(account, { forceRefresh });
        this.events.upstreamCall(endpoint, { ok: true }, (this.clock.now() - started) / 1000);
        return fetched;
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        this.events.upstreamCall(err.endpoint, { ok: false, errcode: err.errcode, errclass: err.errclass }, (this.clock.now() - started) / 1000);
        if (err.errclass === "transient" && attempt < this.options.transientRetries) {
          const delay = jitter(this.options.retryBaseMs * 2 ** attempt);
          if (handle.isValid(delay + this.options.upstreamTimeoutMs)) {
            this.log.warn({ accountId: id, attempt: attempt + 1, err: err.toJSON() }, "transient upstream failure; retrying");
            await sleep(delay);
            continue;
          }
        }
        await this.recordFailure(id, status, err);
        this.events.refresh(id, req.reason, false);
        const cooldown = afterFailure(status, err, this.clock.now(), this.options.breaker).openUntil - this.clock.now();
        throw new UpstreamUnavailableError(id, err.toJSON(), cooldown, false);
      }
    }
  }

  private async write(id: string, handle: LockHandle, fetched: FetchedToken, status: AccountStatus, reason: RefreshReason): Promise<StoredToken> {
    const token: StoredToken = {
      accessToken: fetched.accessToken,
      expiresAt: fetched.fetchedAt + fetched.expiresIn * 1000,
      fetchedAt: fetched.fetchedAt,
      api: fetched.api,
      gen: handle.gen,
    };
    const result = await this.storeCall(() => this.store.write(id, token));
    if (result === "fenced") {
      // Our lock expired and a newer holder wrote: theirs wins. Serve theirs if it is usable.
      this.events.fencedWrite(id);
      this.log.warn({ accountId: id, gen: handle.gen }, "token write fenced out by a newer lock holder");
      const newer = await this.storeCall(() => this.store.get(id));
      return newer && alive(newer, this.clock.now(), this.options) ? newer : token;
    }
    if (status.failures > 0 || status.openUntil > 0 || status.lastSuccessAt === undefined || this.clock.now() - status.lastSuccessAt > 60_000) {
      await this.storeCall(() => this.store.setStatus(id, afterSuccess(status, this.clock.now())));
    }
    this.events.breaker(id, false);
    this.events.refresh(id, reason, true);
    this.events.tokenExpiry(id, token.expiresAt);
    this.remember(id, token);
    this.store.publishRefreshed(id, token.gen).catch((err: unknown) => this.log.warn({ accountId: id, err: safeErr(err) }, "could not publish refresh"));
    this.log.info({ accountId: id, reason, gen: token.gen, api: token.api, expiresAt: new Date(token.expiresAt).toISOString() }, "token refreshed");
    return token;
  }

  private async recordFailure(id: string, status: AccountStatus, err: UpstreamError): Promise<void> {
    const next = afterFailure(status, err, this.clock.now(), this.options.breaker);
    this.events.breaker(id, true);
    this.log.warn(
      { accountId: id, errcode: err.errcode, errclass: err.errclass, ip: err.ip, rid: err.rid, openUntil: new Date(next.openUntil).toISOString() },
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
    this.store.countUpstreamCall(id, quotaDay(now)).catch((err: unknown) => this.log.debug({ accountId: id, err: safeErr(err) }, "could not count upstream call"));
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

  private remember(accountId: string, token: StoredToken): void {
    const prev = this.local.get(accountId);
    if (prev && prev.token.gen > token.gen) return;
    this.local.set(accountId, { token, cachedAt: this.clock.now() });
  }

  private onRefreshed(accountId: string, gen: number): void {
    const cached = this.local.get(accountId);
    if (cached && cached.token.gen < gen) this.local.delete(accountId);
    // A refresh by any replica closed the shared breaker; this replica's gauge must say so too.
    if (this.accounts.has(accountId)) this.events.breaker(accountId, false);
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
  if (err instanceof UpstreamError) return { name: err.name, message: err.message, code: err.errcode !== undefined ? String(err.errcode) : err.kind };
  if (err instanceof Error) return { name: err.name, message: err.message, code: (err as { code?: string }).code };
  return { message: String(err) };
}
