// A summary of the configuration for start-up logs and diagnosis. Built field by field from an allow-list, so a
// secret added to Config later cannot leak into it by accident.
import { tokenSourceOf, type AccountType, type TokenSource } from "../accounts";
import { SETTING_NAMES, specOf } from "./variables";
import type { ApiKeyRole, Config, LogLevel, TopQuantities } from "./types";

export const PASSWORD_MASK = "****";

/** The tunables the summary shows: the top-level settings that are quantities (a unit, so a number, never a
 * secret), read off the variables table so a new one is listed without being named here. */
const TIMING_FIELDS = SETTING_NAMES.filter((n) => specOf(n).unit !== undefined && !specOf(n).field!.includes(".")).map(
  (n) => specOf(n).field as keyof TopQuantities,
);

export interface ConfigSummary {
  mode: "embedded" | "redis";
  listen: { host: string; port: number; tls: "off" | "pfx" | "pem" };
  auth: { required: boolean; keys: { name: string; role: ApiKeyRole; accounts: "*" | string[]; scopes?: string[] }[] };
  redis: null | {
    /** REDIS_URL with its password, if any, shown as ****. */
    url?: string;
    sentinels?: string[];
    sentinelName?: string;
    clusterNodes?: string[];
    passwordSet: boolean;
    tls: boolean;
    commandTimeoutMs: number;
    connectTimeoutMs: number;
  };
  keyPrefix: string;
  /** `tokenApi` is the API tokens really come from: `wecom` for WeCom accounts. */
  accounts: { id: string; type: AccountType; appId: string; tokenApi: TokenSource }[];
  wechatApiBase: string;
  wecomApiBase: string;
  logLevel: LogLevel;
  timing: TopQuantities;
  lockCleanupPatterns: string[];
  warnings: string[];
}

function maskedUrl(url: string, hasPassword: boolean): string {
  const u = new URL(url);
  // Config keeps the URL without a password; masking again here is a second guard, and **** shows one is set.
  u.password = hasPassword ? PASSWORD_MASK : "";
  return u.href;
}

function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

export function describeConfig(config: Config): ConfigSummary {
  const r = config.redis;
  const passwordSet = r?.password !== undefined;
  return {
    mode: r === null ? "embedded" : "redis",
    listen: {
      host: config.host,
      port: config.port,
      tls: config.tls === null ? "off" : "pfx" in config.tls ? "pfx" : "pem",
    },
    auth: {
      required: config.auth.required,
      keys: config.auth.apiKeys.map((k) => ({
        name: k.name,
        role: k.role,
        accounts: k.accounts === "*" ? "*" : [...k.accounts],
        ...(k.scopes !== undefined ? { scopes: [...k.scopes] } : {}),
      })),
    },
    redis:
      r === null
        ? null
        : {
            ...(r.url !== undefined ? { url: maskedUrl(r.url, passwordSet) } : {}),
            ...(r.sentinels !== undefined ? { sentinels: r.sentinels.map((s) => `${formatHost(s.host)}:${s.port}`) } : {}),
            ...(r.sentinelName !== undefined ? { sentinelName: r.sentinelName } : {}),
            ...(r.clusterNodes !== undefined ? { clusterNodes: r.clusterNodes.map((n) => `${formatHost(n.host)}:${n.port}`) } : {}),
            passwordSet,
            tls: r.tls,
            commandTimeoutMs: r.commandTimeoutMs,
            connectTimeoutMs: r.connectTimeoutMs,
          },
    keyPrefix: config.keyPrefix,
    accounts: config.accounts.map((a) => ({ id: a.id, type: a.type, appId: a.appId, tokenApi: tokenSourceOf(a) })),
    wechatApiBase: config.wechatApiBase,
    wecomApiBase: config.wecomApiBase,
    logLevel: config.logLevel,
    timing: Object.fromEntries(TIMING_FIELDS.map((k) => [k, config[k]])) as TopQuantities,
    lockCleanupPatterns: [...config.lockCleanupPatterns],
    warnings: [...config.warnings],
  };
}
