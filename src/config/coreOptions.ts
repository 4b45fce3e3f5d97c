// The one mapping from the configuration to the options of the core's parts (src/core.ts): the token service's
// timing and limits, the WeChat client's, the previous-token tracker's. A duration is converted to milliseconds by
// the unit its variable declares, so the conversion cannot disagree with the documentation.
import type { ConfiguredOptions } from "../broker/tokenService";
import { defaultSettings } from "./settings";
import type { Settings, TopDurationName, TopSettings } from "./types";
import { MS_PER, specOf } from "./variables";

export interface CoreOptions {
  wechat: { wechatApiBase: string; wecomApiBase: string; timeoutMs: number };
  /** How long a replaced token still works at WeChat: the previous-token tracker keeps it that long. */
  previousTokenOverlapMs: number;
  tokenService: ConfiguredOptions;
  /** How often the foreign-fetch watch probes the held tokens (0: never). */
  foreignProbeIntervalMs: number;
}

/** A duration setting in milliseconds. */
function durationMs(config: TopSettings, name: TopDurationName): number {
  const spec = specOf(name);
  // TopDurationName admits only top-level settings in ms or s, so the field holds a number and the unit converts.
  const value = (config as unknown as Record<string, number>)[spec.field!]!;
  return value * MS_PER[spec.unit as keyof typeof MS_PER];
}

export function coreOptions(config: TopSettings & Pick<Settings, "adoption">): CoreOptions {
  const ms = (name: TopDurationName) => durationMs(config, name);
  return {
    wechat: { wechatApiBase: config.wechatApiBase, wecomApiBase: config.wecomApiBase, timeoutMs: ms("UPSTREAM_TIMEOUT_MS") },
    previousTokenOverlapMs: ms("WECHAT_OVERLAP_SEC"),
    tokenService: {
      safetyMarginMs: ms("TOKEN_SAFETY_MARGIN_SEC"),
      classicRefreshAheadMs: ms("CLASSIC_REFRESH_AHEAD_SEC"),
      stableRefreshAheadMs: ms("STABLE_REFRESH_AHEAD_SEC"),
      overlapMs: ms("WECHAT_OVERLAP_SEC"),
      refetchFloorMs: ms("REFETCH_FLOOR_SEC"),
      localCacheTtlMs: ms("LOCAL_CACHE_TTL_MS"),
      lockTtlMs: ms("LOCK_TTL_MS"),
      upstreamTimeoutMs: ms("UPSTREAM_TIMEOUT_MS"),
      // A caller waits for another replica's refresh as long as that replica may hold the lock, plus one call.
      waitForRefreshMs: ms("LOCK_TTL_MS") + ms("UPSTREAM_TIMEOUT_MS"),
      forcePerDay: config.forceRefreshPerDay,
      forceMinIntervalMs: ms("FORCE_REFRESH_MIN_INTERVAL_SEC"),
      upstreamCallsPerMinute: config.upstreamCallsPerMinute,
      reportChecksPerMinute: config.reportChecksPerMinute,
      reportChecksPerKeyPerMinute: config.reportChecksPerKeyPerMinute,
    },
    foreignProbeIntervalMs:
      config.adoption.foreignProbeIntervalSec * MS_PER[specOf("FOREIGN_PROBE_INTERVAL_SEC").unit as keyof typeof MS_PER],
  };
}

/** The core's options with every setting at its documented default (tests build parts with it). */
export function defaultCoreOptions(): CoreOptions {
  return coreOptions(defaultSettings());
}
