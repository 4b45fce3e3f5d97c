// Per-client rate limiting of the routes that need no key (the diagnosis): a token bucket per client address and
// one shared by all clients, so neither one client's curl loop nor many clients together can turn the diagnosis
// into load on Redis or the broker. A limited request gets 429 with Retry-After in the usual error shape.
import type { Request } from "express";
import { HttpError } from "./errors";

export interface RateLimitOptions {
  /** Requests a client may make at once. */
  burst: number;
  /** Requests per second a client regains. */
  perSecond: number;
  /** The same, for all clients together. */
  totalBurst: number;
  totalPerSecond: number;
  /** Clients remembered at most (the oldest are forgotten first). */
  maxClients: number;
  now?: () => number;
}

/** A person running the runbook's curl, or a monitor every few seconds, never meets these. */
export const DIAGNOSIS_RATE_LIMIT: RateLimitOptions = { burst: 20, perSecond: 1, totalBurst: 60, totalPerSecond: 10, maxClients: 10_000 };

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly clients = new Map<string, Bucket>();
  private readonly total: Bucket;
  private readonly now: () => number;

  constructor(private readonly o: RateLimitOptions) {
    this.now = o.now ?? Date.now;
    this.total = { tokens: o.totalBurst, at: this.now() };
  }

  /** 0 when `client` may go on (and takes a token), else the seconds to wait. */
  take(client: string): number {
    const now = this.now();
    let b = this.clients.get(client);
    if (b) this.clients.delete(client);
    else {
      b = { tokens: this.o.burst, at: now };
      if (this.clients.size >= this.o.maxClients) this.clients.delete(this.clients.keys().next().value!);
    }
    this.clients.set(client, b); // most recent last: the first key is the least recently seen
    refill(b, now, this.o.burst, this.o.perSecond);
    refill(this.total, now, this.o.totalBurst, this.o.totalPerSecond);
    if (b.tokens < 1) return Math.ceil((1 - b.tokens) / this.o.perSecond);
    if (this.total.tokens < 1) return Math.ceil((1 - this.total.tokens) / this.o.totalPerSecond);
    b.tokens -= 1;
    this.total.tokens -= 1;
    return 0;
  }
}

function refill(b: Bucket, now: number, burst: number, perSecond: number): void {
  b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
  b.at = now;
}

/** Takes a token for the request's client, or throws the 429. */
export function limit(limiter: RateLimiter, req: Request): void {
  const wait = limiter.take(req.ip ?? req.socket.remoteAddress ?? "unknown");
  if (wait === 0) return;
  throw new HttpError(
    429,
    "rate_limited",
    `Too many diagnosis requests from this client: try again in ${wait} s.`,
    {
      en: "Wait the seconds in the Retry-After header. The report changes slowly (its lock census is refreshed every few seconds): poll it no more than once every few seconds.",
      zh: "请按 Retry-After 头给出的秒数等待后重试。诊断结果变化缓慢（锁信息每隔几秒刷新一次），轮询间隔请不少于几秒。",
    },
    { "Retry-After": String(wait) },
  );
}
