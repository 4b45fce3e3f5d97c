// The log of a token-store outage, for the person on call: one line when the store goes away, one summary per
// interval while it stays away (how long, and how many warnings of each kind were held back), one line when it is
// back. Without it every retry writes its own warning (subscribe every second, refresh-ahead per account, lock
// and read failures per request): 42 lines in 38 s of a Redis restart.
//
// It works on the log stream, so the modules that retry need no change: `logger` is a drop-in Logger handed to the
// store, the lock, the token service and the scheduler. The outage starts with the Redis clients' connection error
// (or an 'error' event of a watched client) and ends with 'ready'. While it lasts, warnings and errors that carry a
// store or connection failure are counted instead of written; anything else still gets through.
import type { RedisClient } from "../store/redisClient";
import type { Logger } from "../logger";

export interface StoreOutageLogOptions {
  /** Interval of the summaries while the store is away (default 60 s). */
  summaryEveryMs?: number;
  now?: () => number;
}

// What the Redis clients log on connection trouble and recovery (src/store/redisClient.ts).
const CONNECTION_ERROR = "redis connection error";
const CONNECTION_READY = "redis connection ready again";
// A store or connection failure, as the retrying modules write it (their err/error fields).
const STORE_FAILURE =
  /store|redis|connection|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|timed out|closed|writeable|not connected|subscribe/i;

export class StoreOutageLog {
  /** The logger to hand to the parts that talk to the store. */
  readonly logger: Logger;
  private readonly base: Logger;
  private readonly every: number;
  private readonly now: () => number;
  private downSince: number | null = null;
  private suppressed = new Map<string, number>();
  private suppressedTotal = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(base: Logger, opts: StoreOutageLogOptions = {}) {
    this.base = base;
    this.every = opts.summaryEveryMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    this.logger = this.wrap(base);
  }

  get down(): boolean {
    return this.downSince !== null;
  }

  /** Follows a Redis client's connection state (the command and the subscriber connection). */
  watch(client: RedisClient): void {
    client.on("error", (err: unknown) => this.wentAway(err instanceof Error ? err.message : String(err)));
    client.on("ready", () => this.cameBack());
  }

  wentAway(reason: string): void {
    if (this.downSince !== null) return;
    this.downSince = this.now();
    this.base.warn(
      { error: reason, summaryEverySec: Math.round(this.every / 1000) },
      `token store unreachable: ${reason}; tokens still valid in memory are served, refreshes wait. Retries are summarised every ${Math.round(this.every / 1000)} s until it is back`,
    );
    this.timer = setInterval(() => this.summary(), this.every);
    this.timer.unref();
  }

  cameBack(): void {
    if (this.downSince === null) return;
    const downForSec = Math.round((this.now() - this.downSince) / 1000);
    clearInterval(this.timer);
    this.base.info({ downForSec, suppressed: this.take() }, `token store reachable again after ${downForSec} s`);
    this.downSince = null;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private summary(): void {
    if (this.downSince === null) return;
    const downForSec = Math.round((this.now() - this.downSince) / 1000);
    const n = this.suppressedTotal;
    this.base.warn(
      { downForSec, suppressed: this.take() },
      `token store still unreachable (${downForSec} s); ${n} retry warning(s) held back`,
    );
  }

  private take(): Record<string, number> {
    const out = Object.fromEntries(this.suppressed);
    this.suppressed = new Map();
    this.suppressedTotal = 0;
    return out;
  }

  /** True when the line is about the outage and was counted instead of written. */
  private absorb(level: "warn" | "error" | "info", args: unknown[]): boolean {
    const [obj, msg] = typeof args[0] === "string" ? [undefined, args[0]] : [args[0], args[1]];
    const text = typeof msg === "string" ? msg : "";
    if (text === CONNECTION_READY) {
      this.cameBack();
      return true;
    }
    if (level === "info") return false;
    if (text === CONNECTION_ERROR) {
      const error = (obj as { error?: unknown } | undefined)?.error;
      this.wentAway(typeof error === "string" ? error : "connection error");
      this.count(text);
      return true;
    }
    if (this.downSince === null || !isStoreFailure(obj)) return false;
    this.count(text || "(no message)");
    return true;
  }

  private count(msg: string): void {
    this.suppressed.set(msg, (this.suppressed.get(msg) ?? 0) + 1);
    this.suppressedTotal++;
  }

  private wrap(target: Logger): Logger {
    return new Proxy(target, {
      get: (t, prop, receiver) => {
        if (prop === "warn" || prop === "error" || prop === "info") {
          const level = prop;
          return (...args: unknown[]) => {
            if (this.absorb(level, args)) return;
            (t[level] as (...a: unknown[]) => void).apply(t, args);
          };
        }
        if (prop === "child") return (...args: Parameters<Logger["child"]>) => this.wrap(t.child(...args) as unknown as Logger);
        const v: unknown = Reflect.get(t, prop, receiver);
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
  }
}

function isStoreFailure(obj: unknown): boolean {
  if (typeof obj !== "object" || obj === null) return false;
  const o = obj as { err?: { name?: unknown; message?: unknown; code?: unknown }; error?: unknown };
  const parts: unknown[] = [o.error, o.err?.name, o.err?.message, o.err?.code];
  return parts.some((p) => typeof p === "string" && STORE_FAILURE.test(p));
}
