// The validated configuration. Built only by loadConfig; everything in it has been checked.
import type { Account } from "../accounts";
import type { BrokerClientConfig } from "./brokerClient";
import type { AdoptionConfig } from "./adoption";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type ApiKeyRole = "client" | "admin";

/** What a key may read: tokens (/token routes), tickets (/ticket) and JS-SDK signatures (/jssdk-config). */
export const API_KEY_SCOPES = ["token", "ticket", "sign"] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export interface ApiKey {
  name: string;
  /** SHA-256 of the key. The key itself is never kept. */
  keySha256: Buffer;
  role: ApiKeyRole;
  /** The accounts this key may read tokens of. */
  accounts: "*" | string[];
  /** What it may read of them; absent: everything (token, ticket, sign). A sign-only key never sees a token or ticket. */
  scopes?: ApiKeyScope[];
}

export interface SentinelAddress {
  host: string;
  port: number;
}

/** A Redis Cluster seed node. */
export type RedisNodeAddress = SentinelAddress;

export interface RedisConfig {
  /** REDIS_URL without its password (the password is in `password`, so there is one place to redact). */
  url?: string;
  sentinels?: SentinelAddress[];
  sentinelName?: string;
  /** REDIS_CLUSTER_NODES: seed nodes of a Redis Cluster. */
  clusterNodes?: RedisNodeAddress[];
  /** REDIS_PASSWORD(_FILE), else the password of REDIS_URL. Secret. */
  password?: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** `rediss://` (REDIS_URL or REDIS_CLUSTER_NODES). */
  tls: boolean;
}

export type TlsConfig = { pfx: Buffer; passphrase?: string } | { cert: Buffer; key: Buffer } | null;

export interface Config {
  port: number;
  host: string;
  auth: { required: boolean; apiKeys: ApiKey[] };
  /** null: embedded mode (in-memory store, in-process lock, one replica). */
  redis: RedisConfig | null;
  keyPrefix: string;
  accounts: Account[];
  wechatApiBase: string;
  wecomApiBase: string;
  logLevel: LogLevel;
  upstreamTimeoutMs: number;
  localCacheTtlMs: number;
  tokenSafetyMarginSec: number;
  classicRefreshAheadSec: number;
  stableRefreshAheadSec: number;
  forceRefreshPerDay: number;
  forceRefreshMinIntervalSec: number;
  upstreamCallsPerMinute: number;
  reportChecksPerMinute: number;
  reportChecksPerKeyPerMinute: number;
  refetchFloorSec: number;
  wechatOverlapSec: number;
  lockTtlMs: number;
  lockCleanupPatterns: string[];
  /** LEGACY_LOCK_MAX_HOLD_SEC: how old a legacy lock's own time must be before cleanup removes it. */
  legacyLockMaxHoldSec: number;
  shutdownTimeoutMs: number;
  tls: TlsConfig;
  /** How the one-shot commands reach the running broker in embedded mode (BROKER_URL, BROKER_API_KEY). */
  brokerClient: BrokerClientConfig;
  /** The compatible endpoints, the token-injecting proxy and foreign-fetch detection (issue 13). */
  adoption: AdoptionConfig;
  /** Things that are allowed but probably not intended; log them at start-up. */
  warnings: string[];
}
