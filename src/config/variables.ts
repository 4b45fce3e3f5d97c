// Every environment variable the broker reads, declared once: its group, default, range, unit and meaning, and
// for a scalar setting the Config field it feeds and how its value is read. From this one table come the reference
// in docs/configuration.md (docs.ts; a test keeps them equal), the loader of every scalar setting (settings.ts),
// the type of those settings in Config (types.ts), their conversion to the core's milliseconds (coreOptions.ts) and
// the start-up summary (describe.ts). `VariableName` is the only type the loader accepts when it reads the
// environment: a variable cannot be read without being documented here. How to add one: docs/config-schema.md.
import type { z } from "zod";
import { apiBase, keyPrefix, lockGlobs, logLevel, proxyPrefixes } from "./fields";

/** What a number counts. Durations are converted to milliseconds by their unit alone (see `msPer`). */
export const UNITS = ["ms", "s", "bytes", "count"] as const;
export type Unit = (typeof UNITS)[number];

export interface VariableSpec {
  readonly group: string;
  /** The value applied when the variable is unset, as it would be written in the environment; absent when there
   * is none or it is computed. */
  readonly default?: string | number;
  /** How the documentation shows the default when `default` alone does not say it. */
  readonly defaultText?: string;
  /** Inclusive bounds of an integer variable; the loader enforces them and the documentation shows them. */
  readonly range?: readonly [number, number];
  /** Why the range is what it is, when that is not obvious; added to the loader's message. */
  readonly rangeReason?: string;
  /** The unit of an integer variable's value. */
  readonly unit?: Unit;
  readonly meaning: string;
  /**
   * A scalar setting: the path of the Config field it feeds (`adoption.proxyTimeoutMs` is `config.adoption.proxyTimeoutMs`).
   * Such a variable is read by the settings loader alone; the others are inputs of the composite parts (accounts,
   * API keys, Redis, TLS, the command line's broker client).
   */
  readonly field?: string;
  /** How a setting that is not an integer is read (an integer setting is read by its range). */
  readonly parse?: z.ZodType;
}

export const VARIABLES = {
  PORT: {
    group: "Server",
    field: "port",
    default: 8084,
    range: [1, 65535],
    meaning: "TCP port of the HTTP API.",
  },
  HOST: {
    group: "Server",
    defaultText: "`127.0.0.1` without API keys, else `0.0.0.0`",
    meaning:
      "Address to listen on. Without API keys it must be a loopback address (127.0.0.0/8, ::1, localhost): the broker refuses to serve tokens unauthenticated to the network.",
  },
  SHUTDOWN_TIMEOUT_MS: {
    group: "Server",
    field: "shutdownTimeoutMs",
    unit: "ms",
    default: 10000,
    range: [0, 600000],
    meaning: "How long a graceful shutdown may take before the process exits anyway.",
  },
  LOG_LEVEL: {
    group: "Server",
    field: "logLevel",
    parse: logLevel,
    default: "info",
    meaning: "One of fatal, error, warn, info, debug, trace, silent.",
  },
  TLS_PFX_FILE: {
    group: "TLS",
    meaning: "PKCS#12 file holding the server certificate and key; serves HTTPS. Exclusive with TLS_CERT_FILE/TLS_KEY_FILE.",
  },
  TLS_PFX_PASSPHRASE: { group: "TLS", meaning: "Passphrase of TLS_PFX_FILE. Secret." },
  TLS_PFX_PASSPHRASE_FILE: { group: "TLS", meaning: "File holding the passphrase of TLS_PFX_FILE (instead of TLS_PFX_PASSPHRASE)." },
  TLS_CERT_FILE: { group: "TLS", meaning: "PEM certificate chain; serves HTTPS. Requires TLS_KEY_FILE." },
  TLS_KEY_FILE: { group: "TLS", meaning: "PEM private key of TLS_CERT_FILE (unencrypted). Requires TLS_CERT_FILE." },
  ACCOUNTS: { group: "Accounts", meaning: "The accounts, as an inline JSON list (see below). Exclusive with ACCOUNTS_FILE." },
  ACCOUNTS_FILE: {
    group: "Accounts",
    meaning:
      "Path of a JSON or YAML file holding the accounts: a list, or `{ accounts: [...] }`. Files ending in .json are read as JSON, others as YAML.",
  },
  API_KEYS: {
    group: "API keys",
    meaning: "The API keys, as an inline JSON list (see below). Exclusive with API_KEYS_FILE. With no keys, authentication is off.",
  },
  API_KEYS_FILE: { group: "API keys", meaning: "Path of a JSON or YAML file holding the list of API keys." },
  REDIS_URL: {
    group: "Redis",
    defaultText: "unset: embedded mode",
    meaning:
      "`redis://[user[:password]@]host[:port][/db]` or `rediss://…` (TLS). Unset: in-memory store, one replica only. Exclusive with REDIS_SENTINELS and REDIS_CLUSTER_NODES.",
  },
  REDIS_PASSWORD: { group: "Redis", meaning: "Redis password; overrides a password in REDIS_URL. Secret." },
  REDIS_PASSWORD_FILE: { group: "Redis", meaning: "File holding the Redis password (instead of REDIS_PASSWORD)." },
  REDIS_SENTINELS: {
    group: "Redis",
    meaning: "Sentinel addresses, `host:port,host:port` (port defaults to 26379; IPv6 as `[::1]:26379`). Requires REDIS_SENTINEL_NAME.",
  },
  REDIS_SENTINEL_NAME: { group: "Redis", meaning: "Name of the master the sentinels monitor. Requires REDIS_SENTINELS." },
  REDIS_CLUSTER_NODES: {
    group: "Redis",
    meaning:
      "Redis Cluster seed nodes, `host:port,host:port` (port defaults to 6379; IPv6 as `[::1]:6379`); the broker discovers the other nodes from them. Prefix the list with `rediss://` for TLS. The password comes from REDIS_PASSWORD(_FILE). Exclusive with REDIS_URL and REDIS_SENTINELS.",
  },
  REDIS_COMMAND_TIMEOUT_MS: {
    group: "Redis",
    field: "redis.commandTimeoutMs",
    unit: "ms",
    default: 500,
    range: [1, 60000],
    meaning:
      "Timeout of one Redis command. A read that times out while the broker's event loop was mostly busy (a burst of requests, not a slow Redis) is asked up to twice more.",
  },
  REDIS_CONNECT_TIMEOUT_MS: {
    group: "Redis",
    field: "redis.connectTimeoutMs",
    unit: "ms",
    default: 2000,
    range: [1, 120000],
    meaning: "Timeout of connecting to Redis.",
  },
  KEY_PREFIX: {
    group: "Redis",
    field: "keyPrefix",
    parse: keyPrefix,
    default: "wtb:",
    meaning: "Prefix of every Redis key: 1–64 letters, digits or `:_-.`.",
  },
  LOCK_TTL_MS: {
    group: "Locks",
    field: "lockTtlMs",
    unit: "ms",
    defaultText: "UPSTREAM_TIMEOUT_MS × 2 + 2000",
    range: [1000, 600000],
    meaning: "Expiry of a refresh lock; must be greater than UPSTREAM_TIMEOUT_MS so a lock outlives the call it guards.",
  },
  LOCK_CLEANUP_PATTERNS: {
    group: "Locks",
    field: "lockCleanupPatterns",
    parse: lockGlobs,
    defaultText: "empty",
    meaning:
      "Comma-separated Redis glob patterns of legacy lock keys that lock cleanup may delete when they are stale (see LEGACY_LOCK_MAX_HOLD_SEC). Each must contain a literal part.",
  },
  LEGACY_LOCK_MAX_HOLD_SEC: {
    group: "Locks",
    field: "legacyLockMaxHoldSec",
    unit: "s",
    default: 3600,
    range: [60, 604800],
    meaning:
      "A legacy lock without TTL whose value holds a bare time (PHP `SETNX key time()`: the time it was taken, or an expiry) or an acquisition time is removed by cleanup only once that time is this far in the past.",
  },
  WECHAT_API_BASE: {
    group: "WeChat",
    field: "wechatApiBase",
    parse: apiBase,
    default: "https://api.weixin.qq.com",
    meaning: "Base URL of the WeChat API (official accounts, mini programs): http(s), no query, no credentials.",
  },
  WECOM_API_BASE: {
    group: "WeChat",
    field: "wecomApiBase",
    parse: apiBase,
    default: "https://qyapi.weixin.qq.com",
    meaning: "Base URL of the WeCom API: http(s), no query, no credentials.",
  },
  UPSTREAM_TIMEOUT_MS: {
    group: "WeChat",
    field: "upstreamTimeoutMs",
    unit: "ms",
    default: 5000,
    range: [100, 60000],
    meaning: "Timeout of one call to WeChat.",
  },
  LOCAL_CACHE_TTL_MS: {
    group: "Tokens",
    field: "localCacheTtlMs",
    unit: "ms",
    default: 30000,
    range: [0, 60000],
    meaning: "How long a replica keeps a token in memory before re-reading the store.",
  },
  TOKEN_SAFETY_MARGIN_SEC: {
    group: "Tokens",
    field: "tokenSafetyMarginSec",
    unit: "s",
    default: 60,
    range: [0, 1800],
    meaning: "A token is treated as expired this long before WeChat's expiry.",
  },
  CLASSIC_REFRESH_AHEAD_SEC: {
    group: "Tokens",
    field: "classicRefreshAheadSec",
    unit: "s",
    default: 900,
    range: [1, 3600],
    meaning: "Refresh classic (`cgi-bin/token`) tokens this long before expiry; must exceed TOKEN_SAFETY_MARGIN_SEC.",
  },
  STABLE_REFRESH_AHEAD_SEC: {
    group: "Tokens",
    field: "stableRefreshAheadSec",
    unit: "s",
    rangeReason: "stable tokens only rotate in their last 300 s",
    default: 240,
    range: [1, 299],
    meaning:
      "Refresh stable tokens this long before expiry (stable tokens only rotate in their last 300 s); must exceed TOKEN_SAFETY_MARGIN_SEC.",
  },
  FORCE_REFRESH_PER_DAY: {
    group: "Tokens",
    field: "forceRefreshPerDay",
    unit: "count",
    rangeReason: "WeChat allows 20 force refreshes a day",
    default: 20,
    range: [0, 20],
    meaning: "Budget of `force_refresh` stable_token calls per account and day (WeChat allows 20).",
  },
  FORCE_REFRESH_MIN_INTERVAL_SEC: {
    group: "Tokens",
    field: "forceRefreshMinIntervalSec",
    unit: "s",
    rangeReason: "WeChat ignores force refreshes less than 30 s apart",
    default: 30,
    range: [30, 86400],
    meaning: "Minimum spacing of force refreshes of one account (WeChat ignores closer ones).",
  },
  UPSTREAM_CALLS_PER_MINUTE: {
    group: "Refresh policy",
    field: "upstreamCallsPerMinute",
    unit: "count",
    default: 6,
    range: [1, 600],
    meaning:
      "Hard ceiling of upstream token calls (token, stable_token, gettoken; retries and force refreshes included) per account per rolling minute, shared by all replicas. No trigger passes it; a refused call is a metric, a log line and a ✗ in the diagnosis naming the trigger. A rotation needs 1–3.",
  },
  REPORT_CHECKS_PER_MINUTE: {
    group: "Refresh policy",
    field: "reportChecksPerMinute",
    unit: "count",
    default: 6,
    range: [1, 600],
    meaning:
      "Per account: callers' reports of a rejected token that reach WeChat (a probe or a refresh) per rolling minute, all replicas. Beyond it: 429 `report_rate_limited`. Reports answered without WeChat (the token was already replaced or re-checked) are free.",
  },
  REPORT_CHECKS_PER_KEY_PER_MINUTE: {
    group: "Refresh policy",
    field: "reportChecksPerKeyPerMinute",
    unit: "count",
    default: 3,
    range: [1, 600],
    meaning: "The same limit per API key, so one misbehaving client cannot use up the account's.",
  },
  REFETCH_FLOOR_SEC: {
    group: "Refresh policy",
    field: "refetchFloorSec",
    unit: "s",
    default: 30,
    range: [1, 3600],
    meaning:
      "After WeChat answered with the token already held (nothing newer), no routine call for the account before this long, nor before the token's renewal point (stable: its last 300 s; WeCom: its expiry).",
  },
  WECHAT_OVERLAP_SEC: {
    group: "Refresh policy",
    field: "wechatOverlapSec",
    unit: "s",
    default: 300,
    range: [2, 300],
    meaning:
      "WeChat's overlap: a classic token lives this long after the next one is issued, and stable tokens rotate only in their last this-long. Only lower it for tests against the simulator with short token lifetimes.",
  },
  BROKER_URL: {
    group: "Command line",
    defaultText: "`http://127.0.0.1:${PORT}` (`https` with TLS; HOST when it is a specific address)",
    meaning:
      "Where `sync`, `diagnose` and `locks` reach the running broker in embedded mode (no REDIS_URL): the broker's memory is the only place its token lives. http(s), no credentials, no query. Not used with REDIS_URL (the commands then read the shared store).",
  },
  BROKER_API_KEY: {
    group: "Command line",
    meaning:
      "API key the commands send to the running broker (BROKER_URL) when it has API keys configured: `sync --force` and `locks` need the admin role. Secret; never printed.",
  },
  BROKER_API_KEY_FILE: { group: "Command line", meaning: "File holding BROKER_API_KEY (instead of BROKER_API_KEY)." },
  PROXY_PATH_PREFIXES: {
    group: "Adoption without code changes",
    field: "adoption.proxyPathPrefixes",
    parse: proxyPrefixes,
    default: "/cgi-bin/,/wxa/,/datacube/,/card/,/customservice/,/merchant/,/semantic/,/shakearound/",
    meaning:
      "Comma-separated path prefixes of WeChat API calls the token-injecting proxy relays to WECHAT_API_BASE (each starts and ends with `/`). Calls under `/wecom/` always go to WECOM_API_BASE. `/cgi-bin/token` and `/cgi-bin/stable_token` are the broker's own compatible token endpoints.",
  },
  PROXY_BODY_KEEP_BYTES: {
    group: "Adoption without code changes",
    field: "adoption.proxyBodyKeepBytes",
    unit: "bytes",
    default: 10485760,
    range: [0, 104857600],
    meaning:
      "Request bodies up to this size are kept while relayed, so a call WeChat rejects with 40001/40014/42001 can be retried once with the new token (default: WeChat's 10 MB media limit). Larger bodies stream through and are not retried.",
  },
  PROXY_TIMEOUT_MS: {
    group: "Adoption without code changes",
    field: "adoption.proxyTimeoutMs",
    unit: "ms",
    default: 30000,
    range: [1000, 600000],
    meaning: "How long the proxy waits for WeChat to start answering a relayed call, and for each further piece of a streamed answer.",
  },
  FOREIGN_PROBE_INTERVAL_SEC: {
    group: "Adoption without code changes",
    field: "adoption.foreignProbeIntervalSec",
    unit: "s",
    default: 300,
    range: [0, 86400],
    meaning:
      "How often one replica asks WeChat whether each account's token still works, to notice other systems that fetch tokens for the same AppID (0: never; reports and proxied calls still notice them).",
  },
} as const satisfies Record<string, VariableSpec>;

export type VariableName = keyof typeof VARIABLES;

/** The variables that are scalar settings: they name the Config field they feed. */
export type SettingName = { [K in VariableName]: (typeof VARIABLES)[K] extends { field: string } ? K : never }[VariableName];

export const VARIABLE_NAMES = Object.keys(VARIABLES) as VariableName[];

/** A declaration, as the common shape (a literal entry lacks the keys it does not set). */
export function specOf(name: VariableName): VariableSpec {
  return VARIABLES[name];
}

/** Every scalar setting (a variable that feeds a Config field), in the table's order. */
export const SETTING_NAMES = VARIABLE_NAMES.filter((n) => specOf(n).field !== undefined) as SettingName[];

/** Milliseconds per unit of a duration. */
export const MS_PER = { ms: 1, s: 1000 } as const satisfies Partial<Record<Unit, number>>;

/** The variables whose value may instead be given as the content of a file named by `<NAME>_FILE`. */
export type FileBackedName = "REDIS_PASSWORD" | "ACCOUNTS" | "API_KEYS" | "TLS_PFX_PASSPHRASE" | "BROKER_API_KEY";

/** Rank of a reported source in the documentation's order, so a report reads top to bottom like the docs. */
export function variableRank(source: string): number {
  const name = /^[A-Z0-9_]+/.exec(source)?.[0];
  const i = name ? VARIABLE_NAMES.indexOf(name as VariableName) : -1;
  return i === -1 ? VARIABLE_NAMES.length : i;
}
