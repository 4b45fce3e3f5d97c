// Builds real brokers for tests: each with its own Redis connections (or the embedded memory store), the real
// WeChat client talking to the project's simulator over HTTP, and the real lock. Nothing here is a mock.
import { Writable } from "node:stream";
import pino from "pino";
import type { Account } from "../../src/accounts";
import { TokenService, type TokenServiceOptions } from "../../src/broker/tokenService";
import { defaultCoreOptions } from "../../src/config";
import { RefreshScheduler, type SchedulerOptions } from "../../src/broker/scheduler";
import type { BrokerEvents } from "../../src/broker/events";
import { noopEvents } from "../../src/broker/events";
import type { Logger } from "../../src/logger";
import { RedisRefreshLock } from "../../src/lock/redisLock";
import { MemoryRefreshLock } from "../../src/lock/memoryLock";
import type { RefreshLock } from "../../src/lock/types";
import { createRedisClient, duplicateRedisClient } from "../../src/store/redisClient";
import { RedisTokenStore } from "../../src/store/redisStore";
import { MemoryTokenStore } from "../../src/store/memoryStore";
import type { TokenStore } from "../../src/store/types";
import { WeChatClient } from "../../src/wechat/client";
import type { WeChatApi } from "../../src/wechat/types";

/** A logger whose lines are kept in memory, for assertions about what was logged. */
export function captureLogger(level = "debug"): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      cb();
    },
  });
  return { logger: pino({ level, redact: { paths: ["req.headers.authorization"], censor: "[REDACTED]" } }, dest), lines };
}

/** Counts broker events (hit/miss, refresh reasons) for assertions. */
export class EventCounter implements BrokerEvents {
  readonly counts = new Map<string, number>();
  private bump(k: string) {
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }
  get(k: string): number {
    return this.counts.get(k) ?? 0;
  }
  tokenRequest(_a: string, result: string) { this.bump(`token:${result}`); }
  upstreamCall(endpoint: string, o: { ok: boolean; errcode?: number }) { this.bump(`upstream:${endpoint}:${o.ok ? "ok" : o.errcode ?? "fail"}`); }
  refresh(_a: string, reason: string, ok: boolean) { this.bump(`refresh:${reason}:${ok ? "ok" : "error"}`); }
  lockAcquire(result: string) { this.bump(`lock:${result}`); }
  fencedWrite() { this.bump("fenced"); }
  ceilingHit(_a: string, trigger: string) { this.bump(`ceiling:${trigger}`); }
  report(_a: string, outcome: string) { this.bump(`report:${outcome}`); }
  foreignRotation(_a: string, via: string) { this.bump(`foreign:${via}`); }
  tokenExpiry = noopEvents.tokenExpiry;
  breaker = noopEvents.breaker;
}

export interface TestBroker {
  service: TokenService;
  store: TokenStore;
  lock: RefreshLock;
  wechat: WeChatApi;
  events: EventCounter;
  scheduler: RefreshScheduler;
  close(): Promise<void>;
}

export interface BrokerOptions {
  accounts: Account[];
  /** Redis URL for a cluster member; omit for embedded mode. */
  redisUrl?: string;
  /** Redis Cluster seed nodes instead of redisUrl (REDIS_CLUSTER_NODES). */
  clusterNodes?: Array<{ host: string; port: number }>;
  redisPassword?: string;
  wechatApiBase: string;
  wecomApiBase?: string;
  keyPrefix?: string;
  logger?: Logger;
  options?: Partial<TokenServiceOptions>;
  scheduler?: Partial<SchedulerOptions>;
  /** Wrap the real WeChat client (e.g. to simulate a process pause after the answer arrives). */
  wrapWeChat?: (real: WeChatApi) => WeChatApi;
  upstreamTimeoutMs?: number;
  replicaId?: string;
  commandTimeoutMs?: number;
}

export async function startBroker(o: BrokerOptions): Promise<TestBroker> {
  const logger = o.logger ?? pino({ level: "silent" });
  const real = new WeChatClient({ wechatApiBase: o.wechatApiBase, wecomApiBase: o.wecomApiBase ?? `${o.wechatApiBase}/wecom`, timeoutMs: o.upstreamTimeoutMs ?? 2000, logger });
  const wechat = o.wrapWeChat ? o.wrapWeChat(real) : real;
  let store: TokenStore;
  let lock: RefreshLock;
  let closeConnections = async () => {};
  if (o.redisUrl || o.clusterNodes) {
    const redis = createRedisClient({ url: o.redisUrl, clusterNodes: o.clusterNodes, password: o.redisPassword, commandTimeoutMs: o.commandTimeoutMs ?? 500, connectTimeoutMs: 1000, tls: false }, logger);
    const subscriber = duplicateRedisClient(redis, logger);
    const rs = new RedisTokenStore({ redis, subscriber, keyPrefix: o.keyPrefix ?? "wtb:", logger });
    await rs.subscribed();
    store = rs;
    lock = new RedisRefreshLock({ redis, replicaId: o.replicaId ?? "test", keyPrefix: o.keyPrefix ?? "wtb:", logger });
    closeConnections = () => rs.close();
  } else {
    store = new MemoryTokenStore();
    lock = new MemoryRefreshLock();
    closeConnections = () => store.close();
  }
  const events = new EventCounter();
  const service = new TokenService({
    accounts: o.accounts,
    store,
    lock,
    wechat,
    logger,
    events,
    options: { ...defaultCoreOptions().tokenService, upstreamTimeoutMs: o.upstreamTimeoutMs ?? 2000, lockTtlMs: 5000, waitForRefreshMs: 8000, ...o.options },
  });
  const scheduler = new RefreshScheduler(service, logger, o.scheduler);
  return {
    service,
    store,
    lock,
    wechat,
    events,
    scheduler,
    close: async () => {
      scheduler.stop();
      service.close();
      await closeConnections();
      real.close();
    },
  };
}

export function account(id: string, appId: string, appSecret: string, tokenApi: Account["tokenApi"] = "stable", type: Account["type"] = "official"): Account {
  return { id, type, appId, appSecret, tokenApi };
}
