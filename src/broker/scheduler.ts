// Refresh-ahead: one timer per account, set from the current token's expiry, so callers normally never wait for
// WeChat. Every replica runs it; the lock and the re-read under it make sure only one of them calls WeChat, and a
// refresh by any replica re-arms every replica's timer through the store's "refreshed" notice.
// Timers are keyed by credential id: accounts' tokens are armed at start; a JS-SDK ticket (`<account>.<type>`) is
// armed when a caller first asks this replica for it, or when any replica's refresh notice names it, so tickets
// nobody uses are never fetched.
import type { Clock } from "../clock";
import { systemClock } from "../clock";
import type { Logger } from "../logger";
import type { StoredToken } from "../store/types";
import { safeErr, type TokenService } from "./tokenService";
import { plannedRefreshAt, refreshDueAt } from "./policy";

export interface SchedulerOptions {
  /** Delay before retrying when the store could not be read at all. */
  errorRetryMs: number;
  /** Spread of the first refreshes at start-up (many accounts with no token yet). */
  startupSpreadMs: number;
}

export const defaultSchedulerOptions: SchedulerOptions = { errorRetryMs: 5_000, startupSpreadMs: 2_000 };

export class RefreshScheduler {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly planned = new Map<string, number>();
  private readonly opts: SchedulerOptions;
  private readonly clock: Clock;
  private stopped = true;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly service: TokenService,
    private readonly log: Logger,
    opts: Partial<SchedulerOptions> = {},
    clock: Clock = systemClock,
  ) {
    this.opts = { ...defaultSchedulerOptions, ...opts };
    this.clock = clock;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.unsubscribe = this.service.onTokenChanged((id) => this.rearm(id));
    const ids = this.service.accountIds();
    for (const id of ids) {
      // Spread the first look so a broker with 1,000 accounts does not hit Redis and WeChat in one burst.
      this.at(id, this.clock.now() + Math.floor(Math.random() * Math.min(this.opts.startupSpreadMs, 5 * ids.length)));
    }
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.planned.clear();
  }

  /** When the next refresh of the account is planned (epoch ms), for diagnosis. */
  plannedAt(accountId: string): number | undefined {
    return this.planned.get(accountId);
  }

  private at(accountId: string, when: number): void {
    if (this.stopped) return;
    const prev = this.timers.get(accountId);
    if (prev) clearTimeout(prev);
    const delay = Math.max(0, when - this.clock.now());
    // setTimeout overflows past 2^31-1 ms; a token never lives that long, but a clamp costs nothing.
    const t = setTimeout(() => void this.fire(accountId), Math.min(delay, 2 ** 31 - 1));
    t.unref();
    this.timers.set(accountId, t);
    this.planned.set(accountId, when);
  }

  private plan(accountId: string, token: StoredToken | null, retryAt?: number): void {
    const now = this.clock.now();
    if (retryAt !== undefined) return this.at(accountId, retryAt);
    if (!token) return this.at(accountId, now + this.opts.errorRetryMs);
    // The policy says when (jitter only later than due, which the caching promise accounts for; never before WeChat
    // can have anything newer).
    this.at(accountId, Math.max(now, plannedRefreshAt(token, Math.random(), this.service.options)));
  }

  private async fire(accountId: string): Promise<void> {
    this.timers.delete(accountId);
    if (this.stopped) return;
    try {
      const r = await this.service.refreshAhead(accountId);
      const now = this.clock.now();
      // A refresh that could not happen (breaker, store) comes back with a retry time; a token still due after a
      // "successful" pass means another replica holds the lock: look again shortly.
      if (r.retryAt === undefined && r.token && refreshDueAt(r.token, this.service.options) <= now) {
        this.plan(accountId, r.token, now + 1_000);
      } else {
        this.plan(accountId, r.token, r.retryAt);
      }
    } catch (err) {
      this.log.warn({ accountId, err: safeErr(err) }, "refresh-ahead failed; will retry");
      this.at(accountId, this.clock.now() + this.opts.errorRetryMs);
    }
  }

  private rearm(accountId: string): void {
    if (this.stopped) return;
    this.service
      .inspect(accountId)
      .then(({ token }) => this.plan(accountId, token))
      .catch((err: unknown) => this.log.debug({ accountId, err: safeErr(err) }, "could not re-arm refresh timer"));
  }
}
