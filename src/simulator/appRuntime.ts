// An app as the simulator runs it: its configuration with the defaults filled in, pending faults, token chains,
// counters and quota usage; and the defaults themselves.
import { quotaDay } from "../clock";
import { activeFaults, type ActiveFault } from "./faults";
import type { SimAppConfig, SimAppCounters, SimPlatform } from "./types";

export const SIM_DEFAULTS = {
  platform: "wechat" as SimPlatform,
  callerIp: "203.0.113.10",
  tokenLifetimeSec: 7200,
  overlapSec: 300,
  dailyQuota: 2000,
  stablePerMinute: 10_000,
  stablePerDay: 500_000,
  forcePerDay: 20,
  forceMinIntervalSec: 30,
  latencyMs: 0,
} as const;

export type ResolvedConfig = Required<Omit<SimAppConfig, "faults">>;
export type ChainName = "plain" | "stable" | "wecom";

export interface TokenRecord {
  value: string;
  appId: string;
  chain: ChainName;
  issuedAt: number;
  expiresAt: number;
  /** Equal to expiresAt until a newer token cuts it short; a token dies at min(validUntil, expiresAt). */
  validUntil: number;
}

export interface Chain {
  current?: TokenRecord;
  previous?: TokenRecord;
}

export interface AppRuntime {
  config: ResolvedConfig;
  faults: ActiveFault[];
  chains: Record<ChainName, Chain>;
  counters: SimAppCounters;
  day: string;
  tokenIssuesToday: number;
  stableCallsToday: number;
  forcesToday: number;
  minute: number;
  stableCallsThisMinute: number;
  lastForceAt?: number;
}

export function resolve(config: SimAppConfig): ResolvedConfig {
  return {
    appId: config.appId,
    secret: config.secret,
    platform: config.platform ?? SIM_DEFAULTS.platform,
    ipWhitelist: [...(config.ipWhitelist ?? [])],
    callerIp: config.callerIp ?? SIM_DEFAULTS.callerIp,
    tokenLifetimeSec: config.tokenLifetimeSec ?? SIM_DEFAULTS.tokenLifetimeSec,
    overlapSec: config.overlapSec ?? SIM_DEFAULTS.overlapSec,
    dailyQuota: config.dailyQuota ?? SIM_DEFAULTS.dailyQuota,
    stablePerMinute: config.stablePerMinute ?? SIM_DEFAULTS.stablePerMinute,
    stablePerDay: config.stablePerDay ?? SIM_DEFAULTS.stablePerDay,
    forcePerDay: config.forcePerDay ?? SIM_DEFAULTS.forcePerDay,
    forceMinIntervalSec: config.forceMinIntervalSec ?? SIM_DEFAULTS.forceMinIntervalSec,
    latencyMs: config.latencyMs ?? SIM_DEFAULTS.latencyMs,
    secretFrozen: config.secretFrozen ?? false,
    isComponent: config.isComponent ?? false,
    adminConfirm: config.adminConfirm ?? "none",
    legacyBadSecret: config.legacyBadSecret ?? false,
  };
}

export function zeroCounters(): SimAppCounters {
  return { calls: { token: 0, stable_token: 0, gettoken: 0, probe: 0, getticket: 0 }, tokensIssued: 0, forceRefreshes: 0 };
}

/** A fresh app: no tokens, zero counters and unused quotas. `config` has been validated. */
export function newAppRuntime(config: SimAppConfig, now: number): AppRuntime {
  return {
    config: resolve(config),
    faults: activeFaults(config.faults),
    chains: { plain: {}, stable: {}, wecom: {} },
    counters: zeroCounters(),
    day: quotaDay(now),
    tokenIssuesToday: 0,
    stableCallsToday: 0,
    forcesToday: 0,
    minute: Math.floor(now / 60_000),
    stableCallsThisMinute: 0,
  };
}
