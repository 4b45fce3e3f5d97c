// Builds real brokers for tests through the composition root: each with its own Redis connections (or the embedded
// memory store), the real WeChat client talking to the project's simulator over HTTP, and the real lock. Nothing
// here is a mock.
import { Writable } from "node:stream";
import pino from "pino";
import type { Account } from "../../src/accounts";
import type { TokenServiceOptions } from "../../src/broker/tokenService";
import type { SchedulerOptions } from "../../src/broker/scheduler";
import type { BrokerEvents } from "../../src/broker/events";
import { noopEvents } from "../../src/broker/events";
import { loadConfig, type Config } from "../../src/config";
import { buildCore, type Core } from "../../src/core";
import type { Logger } from "../../src/logger";
import { RedisTokenStore } from "../../src/store/redisStore";
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
  tokenRequest(_a: string, result: string) {
    this.bump(`token:${result}`);
  }
  upstreamCall(endpoint: string, o: { ok: boolean; errcode?: number }) {
    this.bump(`upstream:${endpoint}:${o.ok ? "ok" : (o.errcode ?? "fail")}`);
  }
  refresh(_a: string, reason: string, ok: boolean) {
    this.bump(`refresh:${reason}:${ok ? "ok" : "error"}`);
  }
  lockAcquire(result: string) {
    this.bump(`lock:${result}`);
  }
  fencedWrite() {
    this.bump("fenced");
  }
  ceilingHit(_a: string, trigger: string) {
    this.bump(`ceiling:${trigger}`);
  }
  report(_a: string, outcome: string) {
    this.bump(`report:${outcome}`);
  }
  foreignRotation(_a: string, via: string) {
    this.bump(`foreign:${via}`);
  }
  tokenExpiry = noopEvents.tokenExpiry;
  breaker = noopEvents.breaker;
}

/** A broker's core, built by the composition root (loadConfig → buildCore) as `serve` builds it, with a counter of
 * its events. */
export type TestBroker = Core & { events: EventCounter };

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
  /** More configuration, as environment variables (API_KEYS, …). */
  env?: Record<string, string>;
}

/** The configuration a test broker runs with: the environment `serve` would read. */
export function brokerConfig(o: BrokerOptions): Config {
  const env: Record<string, string> = {
    ACCOUNTS: JSON.stringify(o.accounts),
    WECHAT_API_BASE: o.wechatApiBase,
    WECOM_API_BASE: o.wecomApiBase ?? `${o.wechatApiBase}/wecom`,
    UPSTREAM_TIMEOUT_MS: String(o.upstreamTimeoutMs ?? 2000),
    LOCK_TTL_MS: "5000",
    KEY_PREFIX: o.keyPrefix ?? "wtb:",
    LOG_LEVEL: "silent",
    ...o.env,
  };
  if (o.redisUrl !== undefined || o.clusterNodes !== undefined) {
    if (o.redisUrl !== undefined) env.REDIS_URL = o.redisUrl;
    if (o.clusterNodes !== undefined) env.REDIS_CLUSTER_NODES = o.clusterNodes.map((n) => `${n.host}:${n.port}`).join(",");
    if (o.redisPassword !== undefined) env.REDIS_PASSWORD = o.redisPassword;
    env.REDIS_COMMAND_TIMEOUT_MS = String(o.commandTimeoutMs ?? 500);
    env.REDIS_CONNECT_TIMEOUT_MS = "1000";
  }
  return loadConfig(env);
}

export async function startBroker(o: BrokerOptions): Promise<TestBroker> {
  const logger = o.logger ?? pino({ level: "silent" });
  const events = new EventCounter();
  const core = buildCore(brokerConfig(o), logger, {
    defaultMetrics: false,
    replicaId: o.replicaId ?? "test",
    events,
    wrapWeChat: o.wrapWeChat,
    serviceOptions: { waitForRefreshMs: 8000, ...o.options },
    scheduler: o.scheduler,
  });
  if (core.store instanceof RedisTokenStore) await core.store.subscribed();
  return Object.assign(core, { events });
}

export function account(
  id: string,
  appId: string,
  appSecret: string,
  tokenApi: Account["tokenApi"] = "stable",
  type: Account["type"] = "official",
): Account {
  return { id, type, appId, appSecret, tokenApi };
}
