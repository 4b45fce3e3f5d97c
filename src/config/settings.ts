// The scalar settings: server, WeChat endpoints, token timing, locks. Each variable is validated on its own so
// that one bad value does not hide another; rules relating two variables run once both are valid.
import { BlockList, isIP } from "node:net";
import type { Config } from "./types";
import { z } from "zod";
import { intVariable } from "./fields";
import type { Inputs } from "./inputs";
import { LOG_LEVELS } from "./types";
import { VARIABLES, type VariableName } from "./variables";
import { validate } from "./zod-issues";

/** Why a base URL is unusable, or undefined. The URL itself is not repeated: it might carry credentials. */
export function baseUrlProblem(s: string): string | undefined {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return "is not a valid URL";
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return "must be an http:// or https:// URL";
  if (u.username || u.password) return "must not contain credentials (they would end up in logs)";
  if (s.includes("?") || s.includes("#")) return "must not have a query string or fragment";
  return undefined;
}

const apiBase = z
  .string()
  .superRefine((s, ctx) => {
    const why = baseUrlProblem(s);
    if (why) ctx.addIssue({ code: "custom", message: why });
  })
  // Paths are appended to it (`${base}/cgi-bin/token`), so no trailing slash.
  .transform((s) => new URL(s).href.replace(/\/+$/, ""));

/** A glob with nothing but wildcards would let lock cleanup delete every key without an expiry, data included. */
function hasLiteralPart(glob: string): boolean {
  return glob.replace(/\[[^\]]*\]/g, "").replace(/[*?\\]/g, "") !== "";
}

const cleanupPatterns = z.string().transform((s, ctx) => {
  const patterns = s.split(",").map((p) => p.trim());
  patterns.forEach((p, i) => {
    if (p === "") ctx.addIssue({ code: "custom", message: `pattern ${i + 1} is empty` });
    else if (/\s/.test(p)) ctx.addIssue({ code: "custom", message: `pattern "${p}" contains whitespace` });
    else if (!hasLiteralPart(p)) {
      ctx.addIssue({ code: "custom", message: `pattern "${p}" has no literal part: it would match every key` });
    }
  });
  return patterns;
});

const settingsShape = {
  PORT: intVariable("PORT").default(VARIABLES.PORT.default),
  SHUTDOWN_TIMEOUT_MS: intVariable("SHUTDOWN_TIMEOUT_MS").default(VARIABLES.SHUTDOWN_TIMEOUT_MS.default),
  LOG_LEVEL: z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(LOG_LEVELS))
    .default(VARIABLES.LOG_LEVEL.default),
  KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_.-]{1,64}$/, { error: "must be 1–64 letters, digits or :_-." })
    .default(VARIABLES.KEY_PREFIX.default),
  LOCK_TTL_MS: intVariable("LOCK_TTL_MS").optional(),
  LOCK_CLEANUP_PATTERNS: cleanupPatterns.default([]),
  LEGACY_LOCK_MAX_HOLD_SEC: intVariable("LEGACY_LOCK_MAX_HOLD_SEC").default(VARIABLES.LEGACY_LOCK_MAX_HOLD_SEC.default),
  WECHAT_API_BASE: apiBase.default(VARIABLES.WECHAT_API_BASE.default),
  WECOM_API_BASE: apiBase.default(VARIABLES.WECOM_API_BASE.default),
  UPSTREAM_TIMEOUT_MS: intVariable("UPSTREAM_TIMEOUT_MS").default(VARIABLES.UPSTREAM_TIMEOUT_MS.default),
  LOCAL_CACHE_TTL_MS: intVariable("LOCAL_CACHE_TTL_MS").default(VARIABLES.LOCAL_CACHE_TTL_MS.default),
  TOKEN_SAFETY_MARGIN_SEC: intVariable("TOKEN_SAFETY_MARGIN_SEC").default(VARIABLES.TOKEN_SAFETY_MARGIN_SEC.default),
  CLASSIC_REFRESH_AHEAD_SEC: intVariable("CLASSIC_REFRESH_AHEAD_SEC").default(VARIABLES.CLASSIC_REFRESH_AHEAD_SEC.default),
  STABLE_REFRESH_AHEAD_SEC: intVariable("STABLE_REFRESH_AHEAD_SEC", "stable tokens only rotate in their last 300 s").default(
    VARIABLES.STABLE_REFRESH_AHEAD_SEC.default,
  ),
  FORCE_REFRESH_PER_DAY: intVariable("FORCE_REFRESH_PER_DAY", "WeChat allows 20 force refreshes a day").default(
    VARIABLES.FORCE_REFRESH_PER_DAY.default,
  ),
  FORCE_REFRESH_MIN_INTERVAL_SEC: intVariable("FORCE_REFRESH_MIN_INTERVAL_SEC", "WeChat ignores force refreshes less than 30 s apart").default(
    VARIABLES.FORCE_REFRESH_MIN_INTERVAL_SEC.default,
  ),
  UPSTREAM_CALLS_PER_MINUTE: intVariable("UPSTREAM_CALLS_PER_MINUTE").default(VARIABLES.UPSTREAM_CALLS_PER_MINUTE.default),
  REPORT_CHECKS_PER_MINUTE: intVariable("REPORT_CHECKS_PER_MINUTE").default(VARIABLES.REPORT_CHECKS_PER_MINUTE.default),
  REPORT_CHECKS_PER_KEY_PER_MINUTE: intVariable("REPORT_CHECKS_PER_KEY_PER_MINUTE").default(VARIABLES.REPORT_CHECKS_PER_KEY_PER_MINUTE.default),
  REFETCH_FLOOR_SEC: intVariable("REFETCH_FLOOR_SEC").default(VARIABLES.REFETCH_FLOOR_SEC.default),
  WECHAT_OVERLAP_SEC: intVariable("WECHAT_OVERLAP_SEC").default(VARIABLES.WECHAT_OVERLAP_SEC.default),
} satisfies Partial<Record<VariableName, z.ZodType>>;

type Parsed<S extends Partial<Record<VariableName, z.ZodType>>> = { [K in keyof S]?: z.output<NonNullable<S[K]>> };

/** Validates each variable of `shape` separately; a key is absent from the result when its value was invalid. */
export function parseVariables<S extends Partial<Record<VariableName, z.ZodType>>>(shape: S, inputs: Inputs): Parsed<S> {
  const out: Parsed<S> = {};
  for (const name of Object.keys(shape) as (keyof S & VariableName)[]) {
    const value = validate(shape[name]!, inputs.get(name), inputs.problems, name);
    if (value !== undefined) out[name] = value as z.output<NonNullable<S[typeof name]>>;
  }
  return out;
}

/** The scalar settings: the Config fields read straight from one variable each. */
export type Settings = Pick<
  Config,
  | "port"
  | "shutdownTimeoutMs"
  | "logLevel"
  | "keyPrefix"
  | "lockTtlMs"
  | "lockCleanupPatterns"
  | "legacyLockMaxHoldSec"
  | "wechatApiBase"
  | "wecomApiBase"
  | "upstreamTimeoutMs"
  | "localCacheTtlMs"
  | "tokenSafetyMarginSec"
  | "classicRefreshAheadSec"
  | "stableRefreshAheadSec"
  | "forceRefreshPerDay"
  | "forceRefreshMinIntervalSec"
  | "upstreamCallsPerMinute"
  | "reportChecksPerMinute"
  | "reportChecksPerKeyPerMinute"
  | "refetchFloorSec"
  | "wechatOverlapSec"
>;

/** The settings, or undefined when any of them is invalid (the problems are in `inputs.problems`). */
export function loadSettings(inputs: Inputs): Settings | undefined {
  const before = inputs.problems.count;
  const v = parseVariables(settingsShape, inputs);
  const report = (name: VariableName, message: string) => inputs.problems.add(name, message);

  let lockTtlMs = v.LOCK_TTL_MS;
  if (v.UPSTREAM_TIMEOUT_MS !== undefined) {
    // The lock must outlive the upstream call it guards, plus the store write after it.
    if (lockTtlMs === undefined && inputs.get("LOCK_TTL_MS") === undefined) lockTtlMs = v.UPSTREAM_TIMEOUT_MS * 2 + 2000;
    else if (lockTtlMs !== undefined && lockTtlMs <= v.UPSTREAM_TIMEOUT_MS) {
      report("LOCK_TTL_MS", `must be greater than UPSTREAM_TIMEOUT_MS (${v.UPSTREAM_TIMEOUT_MS}): a lock must outlive the call it guards`);
    }
  }
  // Stable tokens only rotate inside the overlap: an earlier refresh-ahead would get the same token back.
  if (v.WECHAT_OVERLAP_SEC !== undefined && v.STABLE_REFRESH_AHEAD_SEC !== undefined && v.STABLE_REFRESH_AHEAD_SEC >= v.WECHAT_OVERLAP_SEC) {
    report("STABLE_REFRESH_AHEAD_SEC", `must be less than WECHAT_OVERLAP_SEC (${v.WECHAT_OVERLAP_SEC}): stable tokens only rotate in their last WECHAT_OVERLAP_SEC`);
  }
  // Refresh must begin while tokens still count as valid, or callers wait for WeChat.
  const margin = v.TOKEN_SAFETY_MARGIN_SEC;
  if (margin !== undefined) {
    for (const name of ["CLASSIC_REFRESH_AHEAD_SEC", "STABLE_REFRESH_AHEAD_SEC"] as const) {
      const ahead = v[name];
      if (ahead !== undefined && ahead <= margin) {
        report(name, `must be greater than TOKEN_SAFETY_MARGIN_SEC (${margin}): refresh must start before a token is treated as expired`);
      }
    }
  }
  if (inputs.problems.count !== before) return undefined;
  const s = v as Required<typeof v>;
  return {
    port: s.PORT,
    shutdownTimeoutMs: s.SHUTDOWN_TIMEOUT_MS,
    logLevel: s.LOG_LEVEL,
    keyPrefix: s.KEY_PREFIX,
    lockTtlMs: lockTtlMs!,
    lockCleanupPatterns: s.LOCK_CLEANUP_PATTERNS,
    legacyLockMaxHoldSec: s.LEGACY_LOCK_MAX_HOLD_SEC,
    wechatApiBase: s.WECHAT_API_BASE,
    wecomApiBase: s.WECOM_API_BASE,
    upstreamTimeoutMs: s.UPSTREAM_TIMEOUT_MS,
    localCacheTtlMs: s.LOCAL_CACHE_TTL_MS,
    tokenSafetyMarginSec: s.TOKEN_SAFETY_MARGIN_SEC,
    classicRefreshAheadSec: s.CLASSIC_REFRESH_AHEAD_SEC,
    stableRefreshAheadSec: s.STABLE_REFRESH_AHEAD_SEC,
    forceRefreshPerDay: s.FORCE_REFRESH_PER_DAY,
    forceRefreshMinIntervalSec: s.FORCE_REFRESH_MIN_INTERVAL_SEC,
    upstreamCallsPerMinute: s.UPSTREAM_CALLS_PER_MINUTE,
    reportChecksPerMinute: s.REPORT_CHECKS_PER_MINUTE,
    reportChecksPerKeyPerMinute: s.REPORT_CHECKS_PER_KEY_PER_MINUTE,
    refetchFloorSec: s.REFETCH_FLOOR_SEC,
    wechatOverlapSec: s.WECHAT_OVERLAP_SEC,
  };
}

// Loopback per RFC 1122 (127.0.0.0/8) and RFC 4291 (::1); BlockList normalises spellings such as 0:0:0:0:0:0:0:1.
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");
LOOPBACK.addSubnet("::ffff:127.0.0.0", 104, "ipv6");

export function isLoopback(host: string): boolean {
  if (host.toLowerCase() === "localhost") return true;
  const family = isIP(host);
  if (family === 4) return LOOPBACK.check(host, "ipv4");
  if (family === 6) return LOOPBACK.check(host, "ipv6");
  return false;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Why HOST cannot be listened on, or undefined. */
export function hostProblem(host: string): string | undefined {
  if (isIP(host) !== 0 || HOSTNAME.test(host)) return undefined;
  if (/^\[.*\]$/.test(host)) return "must be written without brackets (e.g. ::1)";
  return "must be an IP address or a host name";
}
