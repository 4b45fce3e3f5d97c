// The composition root of the domain: one broker's parts (store, lock, WeChat client, token service, refresh
// scheduler, foreign-fetch watch, metrics, adoption records, the operator's lock view) built from a configuration,
// without HTTP. `serve` (src/server.ts), the one-shot commands, the tests and the benchmarks build their brokers
// through it, and their HTTP surface through createApp(core) (src/http/app.ts).
import { hostname } from "node:os";
import { coreOptions, type Config } from "./config";
import type { Logger } from "./logger";
import { TokenService, type TokenServiceOptions } from "./broker/tokenService";
import { teeEvents, type BrokerEvents } from "./broker/events";
import type { WeChatApi } from "./wechat/types";
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
import { RefreshScheduler, type SchedulerOptions } from "./broker/scheduler";
import { ForeignFetchWatch } from "./broker/foreignWatch";
import { type LockInspector, locksFromCore } from "./ops/locks";
import { registerOpsGauges } from "./ops/opsGauges";

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
  /** Refreshes ahead of expiry; created here (the diagnosis shows its plan), started by `serve` once listening. */
  scheduler: RefreshScheduler;
  /** Looks for tokens fetched behind the broker's back; started by `serve`. */
  watch: ForeignFetchWatch;
  /** The operator's view of the refresh locks (listing, census, cleanup). */
  locks: LockInspector;
  /** The logger given to buildCore (the HTTP layer's); `log` is the one that folds store outages. */
  logger: Logger;
  /** Stops the scheduler and the watch, drains refreshes, closes connections. */
  close(): Promise<void>;
}

/** What tests and benchmarks may change of a core; `serve` and the CLI give none of it. */
export interface CoreOptions {
  defaultMetrics?: boolean;
  outageSummaryMs?: number;
  /** Default: host name and pid. */
  replicaId?: string;
  /** Also told every broker event (beside the metrics): tests count hits, misses and refreshes with it. */
  events?: BrokerEvents;
  /** Wraps the WeChat client the token service calls (e.g. to pause after an answer, or to fail). */
  wrapWeChat?: (real: WeChatApi) => WeChatApi;
  /** Timing the configuration does not set (the tests' short lifetimes, retry counts). */
  serviceOptions?: Partial<TokenServiceOptions>;
  scheduler?: Partial<SchedulerOptions>;
}

export function buildCore(config: Config, rootLogger: Logger, opts: CoreOptions = {}): Core {
  const replicaId =
    opts.replicaId ??
    `${hostname()
      .replace(/[^A-Za-z0-9_.:@-]/g, "-")
      .slice(0, 60)}-${process.pid}`;
  const outage = config.redis ? new StoreOutageLog(rootLogger, { summaryEveryMs: opts.outageSummaryMs }) : null;
  const logger = outage?.logger ?? rootLogger;
  const options = coreOptions(config);
  const wechat = new WeChatClient({ ...options.wechat, logger });
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
    store: trackPreviousTokens(store, { records, overlapMs: options.previousTokenOverlapMs, logger }),
    lock,
    wechat: opts.wrapWeChat ? opts.wrapWeChat(wechat) : wechat,
    logger,
    events: recordingForeignRotations(opts.events ? teeEvents(metrics, opts.events) : metrics, records, logger),
    options: { ...options.tokenService, ...opts.serviceOptions },
  });
  const scheduler = new RefreshScheduler(service, logger, opts.scheduler);
  const locks = locksFromCore({ lock, config, service });
  const watch = new ForeignFetchWatch({
    service,
    store,
    wechat,
    records,
    logger: rootLogger,
    intervalMs: options.foreignProbeIntervalMs,
  });
  const core: Core = {
    config,
    service,
    store,
    lock,
    wechat,
    metrics,
    redis,
    replicaId,
    log: logger,
    logger: rootLogger,
    records,
    issued: new IssuedTokens({ store, records, accountIds: () => service.accountIds() }),
    scheduler,
    watch,
    locks,
    close: async () => {
      scheduler.stop();
      await watch.stop();
      await service.drain();
      service.close();
      await store.close();
      wechat.close();
      outage?.close();
    },
  };
  registerOpsGauges(metrics.registry, { store, locks, accounts: config.accounts, forcePerDay: config.forceRefreshPerDay });
  return core;
}
