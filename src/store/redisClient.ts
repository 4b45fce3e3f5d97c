// ioredis 6 clients configured for an HTTP broker: fail fast while Redis is away, come back quickly when it returns.
//
// ioredis 6 defaults make a command issued during an outage wait ~73 s (exponential reconnect backoff capped at
// 5 s, 20 retries per request). A request handler cannot wait that long, so: commandTimeout bounds every
// command (its timer also runs while the command sits in the offline queue), maxRetriesPerRequest 1 flushes
// queued commands at the first failed reconnect, and the reconnect backoff is capped near 1 s so service resumes
// within about a second of Redis returning. Reconnecting never stops.
//
// Redis Cluster (REDIS_CLUSTER_NODES) uses ioredis' Cluster client with the same per-node options. Every key of an
// account carries the hash tag `{acct:<id>}`, so each Lua script's keys share one slot (LuaScript.run checks it).
import Redis, { Cluster, type ClusterOptions, type RedisOptions } from "ioredis";
import type { Logger } from "../logger";

/** A command client: one server (URL or Sentinel) or a Redis Cluster. The store, lock and ops take either. */
export type RedisClient = Redis | Cluster;

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

export interface RedisClientConfig {
  /** redis:// or rediss:// URL. May carry a password; it is never logged. */
  url?: string;
  /** Sentinel mode: the sentinels to ask for the master named `sentinelName`. */
  sentinels?: Array<{ host: string; port: number }>;
  sentinelName?: string;
  /** Redis Cluster mode: the seed nodes; the client discovers the rest from the cluster. */
  clusterNodes?: Array<{ host: string; port: number }>;
  /** Overrides any password in the URL; also used for the master in Sentinel mode. */
  password?: string;
  /** Password of the sentinels themselves, when they require one. */
  sentinelPassword?: string;
  /** Per-command bound, including time spent queued while disconnected. */
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  tls: boolean;
  /** Do not connect until the first command (default false: connect now, so readiness reflects reality). */
  lazyConnect?: boolean;
}

const MAX_RECONNECT_DELAY_MS = 1000;
const RECONNECT_JITTER_MS = 250;
/** The same connection error is logged at most this often while Redis stays down. */
const ERROR_LOG_INTERVAL_MS = 10_000;

/** Reconnect delay for attempt `times` (1-based): 100, 200, 400, 800, 1000, 1000, … ms plus jitter. Never gives up. */
export function reconnectDelay(times: number): number {
  const base = Math.min(100 * 2 ** Math.min(Math.max(times, 1) - 1, 10), MAX_RECONNECT_DELAY_MS);
  return base + Math.floor(Math.random() * RECONNECT_JITTER_MS);
}

/** Where the client connects, without credentials: safe for logs and diagnosis. */
export function describeRedisTarget(
  cfg: Pick<RedisClientConfig, "url" | "sentinels" | "sentinelName" | "clusterNodes"> & { tls?: boolean },
): string {
  if (cfg.clusterNodes && cfg.clusterNodes.length > 0) {
    return `${cfg.tls ? "rediss" : "redis"}-cluster://${cfg.clusterNodes.map((n) => `${n.host.includes(":") ? `[${n.host}]` : n.host}:${n.port}`).join(",")}`;
  }
  if (cfg.sentinels && cfg.sentinels.length > 0) {
    return `sentinel:${cfg.sentinelName ?? "mymaster"}@${cfg.sentinels.map((s) => `${s.host}:${s.port}`).join(",")}`;
  }
  if (!cfg.url) return "redis://127.0.0.1:6379";
  try {
    const u = new URL(cfg.url);
    return `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
  } catch {
    return "redis://<unparseable url>";
  }
}

export function buildRedisOptions(cfg: RedisClientConfig): RedisOptions {
  const common: RedisOptions = {
    commandTimeout: cfg.commandTimeoutMs,
    connectTimeout: cfg.connectTimeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: reconnectDelay,
    // Kept on so commands issued during start-up wait for the connection; commandTimeout bounds the wait.
    enableOfflineQueue: true,
    lazyConnect: cfg.lazyConnect ?? false,
    ...(cfg.password !== undefined ? { password: cfg.password } : {}),
    ...(cfg.tls ? { tls: {} } : {}),
  };
  if (cfg.sentinels && cfg.sentinels.length > 0) {
    return {
      ...common,
      sentinels: cfg.sentinels,
      name: cfg.sentinelName ?? "mymaster",
      ...(cfg.sentinelPassword !== undefined ? { sentinelPassword: cfg.sentinelPassword } : {}),
      ...(cfg.tls ? { enableTLSForSentinelMode: true } : {}),
      sentinelRetryStrategy: reconnectDelay,
    };
  }
  return common;
}

/**
 * Options of the Cluster client. Node connections get the same bounds as a single-server client; commands wait for
 * a failover (a replica promoted, slots moved) through ioredis' MOVED/TRYAGAIN/CLUSTERDOWN retries, bounded by
 * maxRedirections. Reads go to masters only: a replica may lag behind a fenced write.
 */
export function buildClusterOptions(cfg: RedisClientConfig): ClusterOptions {
  const { retryStrategy: _r, enableOfflineQueue: _q, lazyConnect: _l, ...node } = buildRedisOptions({ ...cfg, sentinels: undefined });
  return {
    redisOptions: node,
    clusterRetryStrategy: reconnectDelay,
    enableOfflineQueue: true,
    lazyConnect: cfg.lazyConnect ?? false,
    scaleReads: "master",
    slotsRefreshTimeout: Math.max(cfg.connectTimeoutMs, 1000),
    // TLS certificates name hosts: connect to the name given, not to the address it resolves to.
    ...(cfg.tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
  };
}

// The last connection error of each client, until it is ready again: what a failed command is told as its cause.
const connectionErrors = new WeakMap<RedisClient, string>();

/** Why the client is not connected (its last connection error), or undefined when it is ready or never failed. */
export function connectionProblem(client: RedisClient): string | undefined {
  return client.status === "ready" ? undefined : connectionErrors.get(client);
}

/**
 * Log connection trouble without secrets: the message and code of the error (ioredis connection errors carry
 * host:port, never the password) and the credential-free target. Repeats of the same error are throttled.
 */
export function attachRedisLogging(client: RedisClient, logger: Logger, target: string, role: string): void {
  // Throttled per message: a Cluster alternates "Connection is closed." and "Failed to refresh slots cache." while
  // it is away, which a single last-message memory would log every time.
  const recent = new Map<string, { at: number; suppressed: number }>();
  let failing = false;
  const onError = (err: unknown, node?: string) => {
    failing = true;
    const e = err instanceof Error ? err : new Error(String(err));
    const code = (e as NodeJS.ErrnoException).code;
    connectionErrors.set(client, code !== undefined && !e.message.includes(code) ? `${e.message} (${code})` : e.message);
    const now = Date.now();
    const seen = recent.get(e.message);
    if (seen && now - seen.at < ERROR_LOG_INTERVAL_MS) {
      seen.suppressed++;
      return;
    }
    logger.warn(
      { redis: target, role, ...(node !== undefined ? { node } : {}), code, suppressed: seen?.suppressed ?? 0, error: e.message },
      "redis connection error",
    );
    if (recent.size >= 32) recent.clear(); // bounded: messages carry host:port, a few per node at most
    recent.set(e.message, { at: now, suppressed: 0 });
  };
  client.on("error", (err: unknown) => onError(err));
  // A Cluster reports a node's trouble separately (a master down during a failover); the client may still be usable.
  if (isCluster(client)) client.on("node error", (err: unknown, node: string) => onError(err, node));
  client.on("ready", () => {
    connectionErrors.delete(client);
    if (failing) logger.info({ redis: target, role }, "redis connection ready again");
    failing = false;
    recent.clear();
  });
}

/**
 * ioredis times a command (commandTimeout) only once a node connection sends it. Before that a Cluster keeps it in
 * its own queue while it connects, reconnects or follows a failover, without any bound: with the cluster
 * unreachable a request would wait forever. Start the timer when the command enters the Cluster, so the bound
 * covers the whole trip (Command.setTimeout keeps the first timer; the node's own call is then a no-op).
 */
function boundClusterCommands(cluster: Cluster, timeoutMs: number): void {
  const send = cluster.sendCommand.bind(cluster);
  cluster.sendCommand = ((command: Parameters<Cluster["sendCommand"]>[0], ...rest: unknown[]) => {
    command.setTimeout(timeoutMs);
    return (send as (...a: unknown[]) => unknown)(command, ...rest);
  }) as Cluster["sendCommand"];
}

// The credential-free target of each client, so duplicates log the same description.
const targets = new WeakMap<RedisClient, string>();

/** A connected (or connecting) command client. Errors are logged, never thrown at the process. */
export function createRedisClient(
  cfg: RedisClientConfig & { clusterNodes: NonNullable<RedisClientConfig["clusterNodes"]> },
  logger: Logger,
): Cluster;
export function createRedisClient(cfg: RedisClientConfig & { clusterNodes?: undefined }, logger: Logger): Redis;
export function createRedisClient(cfg: RedisClientConfig, logger: Logger): RedisClient;
export function createRedisClient(cfg: RedisClientConfig, logger: Logger): RedisClient {
  const target = describeRedisTarget(cfg);
  if (cfg.clusterNodes && cfg.clusterNodes.length > 0) {
    const cluster = new Cluster(cfg.clusterNodes, buildClusterOptions(cfg));
    boundClusterCommands(cluster, cfg.commandTimeoutMs);
    targets.set(cluster, target);
    attachRedisLogging(cluster, logger, target, "commands");
    return cluster;
  }
  const options = buildRedisOptions(cfg);
  const sentinel = cfg.sentinels !== undefined && cfg.sentinels.length > 0;
  const redis = cfg.url && !sentinel ? new Redis(cfg.url, options) : new Redis(options);
  targets.set(redis, target);
  attachRedisLogging(redis, logger, target, "commands");
  return redis;
}

/**
 * A second connection with the same options, e.g. for SUBSCRIBE (a subscribed connection is kept for that only).
 * ioredis' duplicate() copies options but not listeners, and an 'error' without a listener crashes the process.
 */
export function duplicateRedisClient<C extends RedisClient>(client: C, logger: Logger, role = "subscriber"): C {
  // A Cluster's SUBSCRIBE goes to one node it picks and moves to another when that node fails; a PUBLISH on any
  // node reaches the subscribers of every node, so each replica gets every notice.
  let dup: C;
  if (isCluster(client)) {
    const cluster = client.duplicate();
    const timeoutMs = cluster.options.redisOptions?.commandTimeout;
    if (timeoutMs !== undefined) boundClusterCommands(cluster, timeoutMs);
    dup = cluster as C;
  } else dup = (client as Redis).duplicate() as C;
  const target = targets.get(client) ?? "redis";
  targets.set(dup, target);
  attachRedisLogging(dup, logger, target, role);
  return dup;
}
