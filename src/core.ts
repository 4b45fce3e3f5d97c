// The composition root of the domain: one broker's parts (store, lock, WeChat client, token service, metrics events,
// adoption records) built from a configuration, without HTTP. `serve` (src/server.ts), the one-shot commands, the
// tests and the benchmarks build their brokers through it.
import { hostname } from "node:os";
import type { Config } from "./config";
import type { Logger } from "./logger";
import { TokenService } from "./broker/tokenService";
import { Metrics } from "./ops/metrics";
import { StoreOutageLog } from "./ops/storeOutageLog";
import { MemoryRefreshLock } from "./lock/memoryLock";
import { RedisRefreshLock } from "./lock/redisLock";
import type { RefreshLock } from "./lock/types";
import { MemoryTokenStore } from "./store/memoryStore";
import { RedisTokenStore } from "./store/redisStore";
import { createRedisClient, duplicateRedisClient, type RedisClient } from "./store/redisClient";
import type { TokenStore } from "./store/types";
import { WeChatClient } from "./wechat/client";
import { type AdoptionRecords, MemoryAdoptionRecords, RedisAdoptionRecords } from "./store/adoptionRecords";
import { trackPreviousTokens } from "./store/previousTokens";
import { recordingForeignRotations } from "./broker/foreignRecords";
import { IssuedTokens } from "./broker/issuedTokens";

/** The domain parts of one broker, without HTTP: what `serve`, `sync`, `diagnose` and `locks` share. */
export interface Core {
  config: Config;
  service: TokenService;
  store: TokenStore;
  lock: RefreshLock;
  wechat: WeChatClient;
  metrics: Metrics;
  /** The command connection in Redis mode, one server or a Cluster (lock listings and cleanup use it). */
  redis: RedisClient | null;
  replicaId: string;
  /** The logger of the parts that retry against the store: a Redis outage is one line, summaries, one line. */
  log: Logger;
  /** Issue 13: previous tokens, the token index, foreign rotations, probe slots. */
  records: AdoptionRecords;
  /** Which tokens the broker stands behind (the proxy's admission). */
  issued: IssuedTokens;
  close(): Promise<void>;
}

export function buildCore(config: Config, rootLogger: Logger, opts: { defaultMetrics?: boolean; outageSummaryMs?: number } = {}): Core {
  const replicaId = `${hostname().replace(/[^A-Za-z0-9_.:@-]/g, "-").slice(0, 60)}-${process.pid}`;
  const outage = config.redis ? new StoreOutageLog(rootLogger, { summaryEveryMs: opts.outageSummaryMs }) : null;
  const logger = outage?.logger ?? rootLogger;
  const wechat = new WeChatClient({ wechatApiBase: config.wechatApiBase, wecomApiBase: config.wecomApiBase, timeoutMs: config.upstreamTimeoutMs, logger });
  let store: TokenStore;
  let lock: RefreshLock;
  let redis: RedisClient | null = null;
  if (config.redis) {
    redis = createRedisClient(config.redis, logger);
    const subscriber = duplicateRedisClient(redis, logger);
    outage!.watch(redis);
    outage!.watch(subscriber);
    store = new RedisTokenStore({ redis, subscriber, keyPrefix: config.keyPrefix, logger });
    lock = new RedisRefreshLock({ redis, replicaId, keyPrefix: config.keyPrefix, logger });
  } else {
    store = new MemoryTokenStore();
    lock = new MemoryRefreshLock({ keyPrefix: config.keyPrefix });
  }
  const metrics = new Metrics({ accounts: config.accounts.map((a) => a.id), defaultMetrics: opts.defaultMetrics });
  const records: AdoptionRecords = redis ? new RedisAdoptionRecords(redis, config.keyPrefix) : new MemoryAdoptionRecords();
  const service = new TokenService({
    accounts: config.accounts,
    // The token index and previous tokens are kept by a decorator; foreign rotations are recorded for the diagnosis.
    store: trackPreviousTokens(store, { records, overlapMs: config.wechatOverlapSec * 1000, logger }),
    lock,
    wechat,
    logger,
    events: recordingForeignRotations(metrics, records, logger),
    options: {
      safetyMarginMs: config.tokenSafetyMarginSec * 1000,
      classicRefreshAheadMs: config.classicRefreshAheadSec * 1000,
      stableRefreshAheadMs: config.stableRefreshAheadSec * 1000,
      localCacheTtlMs: config.localCacheTtlMs,
      lockTtlMs: config.lockTtlMs,
      upstreamTimeoutMs: config.upstreamTimeoutMs,
      waitForRefreshMs: config.lockTtlMs + config.upstreamTimeoutMs,
      forcePerDay: config.forceRefreshPerDay,
      forceMinIntervalMs: config.forceRefreshMinIntervalSec * 1000,
      upstreamCallsPerMinute: config.upstreamCallsPerMinute,
      reportChecksPerMinute: config.reportChecksPerMinute,
      reportChecksPerKeyPerMinute: config.reportChecksPerKeyPerMinute,
      refetchFloorMs: config.refetchFloorSec * 1000,
      overlapMs: config.wechatOverlapSec * 1000,
    },
  });
  return {
    config,
    service,
    store,
    lock,
    wechat,
    metrics,
    redis,
    replicaId,
    log: logger,
    records,
    issued: new IssuedTokens({ store, records, accountIds: () => service.accountIds() }),
    close: async () => {
      await service.drain();
      service.close();
      await store.close();
      wechat.close();
      outage?.close();
    },
  };
}
