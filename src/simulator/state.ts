// The simulator's brain: apps, token chains, quotas, faults and counters, driven by an injected clock.
// No HTTP in here: server.ts parses requests into the plain inputs below and renders the answers.
// Behaviour follows docs/wechat-api.md §2–§5, with the token-lifetime model of docs/wechat-api.md §4.2.
import { randomBytes, randomInt } from "node:crypto";
import { isIPv4 } from "node:net";
import { z } from "zod";
import { quotaDay } from "../clock";
import { TicketBook, ticketTypeOf, type SimTicketCheck, type SimTicketType, type TicketRequest } from "./tickets";
import type {
  SimAppConfig,
  SimAppCounters,
  SimFault,
  SimPlatform,
  SimTokenCheck,
  SimulatorAdmin,
} from "./types";

export type SimEndpoint = "token" | "stable_token" | "gettoken" | "probe" | "getticket";

/** A fault without `endpoints` applies to the token endpoints only, so a broker's probes keep working. */
export const DEFAULT_FAULT_ENDPOINTS: readonly SimEndpoint[] = ["token", "stable_token", "gettoken"];

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

/** IPs the probe endpoints list; TEST-NET addresses, so nothing real is ever suggested. */
const PROBE_IP_LIST = ["198.51.100.10", "198.51.100.11", "198.51.100.128/25", "203.0.113.64/26"];

/** Tokens kept for checkToken; beyond this, the oldest dead ones are forgotten (bounds memory in long benchmarks). */
const MAX_REMEMBERED_TOKENS = 200_000;

// ---------------------------------------------------------------------------------------------------------
// errmsg formats

/** English errmsgs of api.weixin.qq.com (observed or documented); codes with no known English text use our own. */
const MP_ERRMSG: Record<number, string> = {
  [-1]: "system error",
  40001:
    "invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r",
  40002: "invalid grant_type",
  40013: "invalid appid",
  40014: "invalid access_token",
  40125: "invalid appsecret",
  40243: "appsecret is frozen, unfreeze it in the mp console",
  41001: "access_token missing",
  41002: "appid missing",
  41004: "appsecret missing",
  42001: "access_token expired",
  43001: "require GET method",
  43002: "require POST method",
  44002: "empty post data",
  40097: "invalid args",
  45009: "reach max api daily quota limit",
  45011: "api minute-quota reach limit mustslower retry next minute",
  47001: "data format error",
  48001: "api unauthorized",
  50002: "user limited",
  61024: "must use api(api_component_token) to get token for component acct",
  89501: "this ip is waiting for the admin's confirmation",
  89503: "this ip needs the admin's confirmation, the admin has been notified",
  89506: "this ip was rejected by the admin twice in 24 hours, retry after 24 hours",
  89507: "this ip was rejected by the admin in the last hour, retry after 1 hour",
};

/** What old servers said for a wrong secret on the token endpoint (legacyBadSecret). */
const LEGACY_BAD_SECRET_ERRMSG = "invalid credential, access_token is invalid or not latest";

const WECOM_ERRMSG: Record<number, string> = {
  [-1]: "system busy",
  40001: "invalid credential",
  40013: "invalid corpid",
  40014: "invalid access_token",
  40091: "secret is invalid, it may belong to another corp",
  41001: "access_token missing",
  41002: "corpid missing",
  41004: "corpsecret missing",
  42001: "access_token expired",
  43001: "require GET method",
  40097: "invalid args",
  45009: "api freq out of limit",
  45033: "api concurrent out of limit",
  48002: "api forbidden",
  60020: "not allow to access from your ip",
  301002: "not allow operate another agent with this accesstoken",
};

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

/** WeChat's request id: unix seconds in hex, then two random 8-hex groups. */
export function makeRid(nowMs: number): string {
  return `${hex8(Math.floor(nowMs / 1000))}-${hex8(randomInt(0, 2 ** 32))}-${hex8(randomInt(0, 2 ** 32))}`;
}

/** WeCom's hint: decimal unix seconds followed by 15 digits. */
function makeWecomHint(nowMs: number): string {
  let digits = "";
  for (let i = 0; i < 15; i++) digits += String(randomInt(0, 10));
  return `${Math.floor(nowMs / 1000)}${digits}`;
}

function mpErrmsg(code: number, callerIp: string): string {
  if (code === 40164) return `invalid ip ${callerIp} ipv6 ::ffff:${callerIp}, not in whitelist`;
  return MP_ERRMSG[code] ?? "system error";
}

export function mpError(code: number, nowMs: number, callerIp: string, text?: string): Record<string, unknown> {
  return { errcode: code, errmsg: `${text ?? mpErrmsg(code, callerIp)} rid: ${makeRid(nowMs)}` };
}

export function wecomError(code: number, nowMs: number, callerIp: string, text?: string): Record<string, unknown> {
  const msg = text ?? WECOM_ERRMSG[code] ?? "system busy";
  return {
    errcode: code,
    errmsg: `${msg}, hint: [${makeWecomHint(nowMs)}], from ip: ${callerIp}, more info at https://open.work.weixin.qq.com/devtool/query?e=${code}`,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Validation of admin input (shared by the in-process admin and the HTTP admin API)

/** Thrown by admin operations; the HTTP admin API maps bad_request → 400 and not_found → 404. */
export class SimAdminError extends Error {
  constructor(
    readonly code: "bad_request" | "not_found",
    message: string,
  ) {
    super(message);
    this.name = "SimAdminError";
  }
}

interface Cidr {
  base: number;
  mask: number;
}

function ipv4ToInt(ip: string): number {
  return ip.split(".").reduce((acc, part) => ((acc << 8) | Number(part)) >>> 0, 0);
}

function parseCidr(entry: string): Cidr | undefined {
  const [ip, bitsText, extra] = entry.split("/");
  if (ip === undefined || extra !== undefined || !isIPv4(ip)) return undefined;
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > 32 || (bitsText !== undefined && !/^\d+$/.test(bitsText))) return undefined;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (ipv4ToInt(ip) & mask) >>> 0, mask };
}

function ipInWhitelist(ip: string, whitelist: readonly string[]): boolean {
  const n = ipv4ToInt(ip);
  return whitelist.some((entry) => {
    const c = parseCidr(entry);
    return c !== undefined && ((n & c.mask) >>> 0) === c.base;
  });
}

const endpointSchema = z.enum(["token", "stable_token", "gettoken", "probe", "getticket"]);
const nonNegInt = z.number().int().min(0);

export const faultSchema = z
  .strictObject({
    type: z.enum(["errcode", "http", "timeout", "non_json", "reset"]),
    errcode: z.number().int().optional(),
    errmsg: z.string().optional(),
    status: z.number().int().min(200).max(599).optional(),
    times: z
      .number()
      .int()
      .refine((n) => n === -1 || n >= 1, "must be -1 (until cleared) or at least 1")
      .optional(),
    endpoints: z.array(endpointSchema).min(1).optional(),
  })
  .refine((f) => f.type !== "errcode" || f.errcode !== undefined, {
    message: "an errcode fault needs an errcode",
    path: ["errcode"],
  });

const appShape = {
  appId: z.string().min(1).max(128),
  secret: z.string().min(1).max(256),
  platform: z.enum(["wechat", "wecom"]).optional(),
  ipWhitelist: z
    .array(z.string().refine((s) => parseCidr(s) !== undefined, "must be an IPv4 address or a.b.c.d/n"))
    .optional(),
  callerIp: z.string().refine((s) => isIPv4(s), "must be an IPv4 address").optional(),
  tokenLifetimeSec: z.number().int().min(1).optional(),
  overlapSec: nonNegInt.optional(),
  dailyQuota: nonNegInt.optional(),
  stablePerMinute: nonNegInt.optional(),
  stablePerDay: nonNegInt.optional(),
  forcePerDay: nonNegInt.optional(),
  forceMinIntervalSec: nonNegInt.optional(),
  latencyMs: z.number().int().min(0).max(600_000).optional(),
  secretFrozen: z.boolean().optional(),
  isComponent: z.boolean().optional(),
  adminConfirm: z.enum(["none", "required", "pending", "rejected_once", "rejected_twice"]).optional(),
  legacyBadSecret: z.boolean().optional(),
  faults: z.array(faultSchema).optional(),
};

export const appConfigSchema = z.strictObject(appShape);
const appPatchSchema = z.strictObject(appShape).partial();

function describeIssues(error: z.ZodError, prefix = ""): string {
  return error.issues
    .map((i) => {
      const path = [prefix, ...i.path.map(String)].filter((p) => p !== "").join(".");
      return path ? `${path}: ${i.message}` : i.message;
    })
    .join("; ");
}

/** Validates one app config; the message names every bad field (prefixed, e.g. `apps[1]`). */
export function parseAppConfig(input: unknown, prefix = ""): SimAppConfig {
  const r = appConfigSchema.safeParse(input);
  if (!r.success) throw new SimAdminError("bad_request", describeIssues(r.error, prefix));
  return r.data;
}

export function parseFault(input: unknown): SimFault {
  const r = faultSchema.safeParse(input);
  if (!r.success) throw new SimAdminError("bad_request", describeIssues(r.error, "fault"));
  return r.data;
}

// ---------------------------------------------------------------------------------------------------------
// State

type ResolvedConfig = Required<Omit<SimAppConfig, "faults">>;
type ChainName = "plain" | "stable" | "wecom";

interface TokenRecord {
  value: string;
  appId: string;
  chain: ChainName;
  issuedAt: number;
  expiresAt: number;
  /** Equal to expiresAt until a newer token cuts it short; a token dies at min(validUntil, expiresAt). */
  validUntil: number;
}

interface Chain {
  current?: TokenRecord;
  previous?: TokenRecord;
}

interface ActiveFault {
  fault: SimFault;
  /** -1: until cleared. */
  remaining: number;
}

interface AppRuntime {
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

/** An app's configuration as the admin API lists it: never the secret. */
export type SimAppListing = Omit<SimAppConfig, "secret">;

export type SimReply =
  | { kind: "json"; body: Record<string, unknown> }
  /** A non-errcode fault (http, timeout, non_json, reset): the transport renders it. */
  | { kind: "fault"; fault: SimFault };

export interface SimAnswer {
  reply: SimReply;
  platform: SimPlatform;
  /** Delay before answering (the app's latencyMs). */
  latencyMs: number;
  /** The app the call was attributed to, if any. */
  appId?: string;
}

export interface TokenRequest {
  method: string;
  appid?: string;
  secret?: string;
  grantType?: string;
}

export interface StableTokenRequest {
  method: string;
  /** The parsed JSON body; undefined when the body was absent or not JSON. */
  body: unknown;
}

export interface WecomTokenRequest {
  method: string;
  corpid?: string;
  corpsecret?: string;
}

export interface ProbeRequest {
  platform: SimPlatform;
  method: string;
  accessToken?: string;
}

type TokenStatus = { valid: true } | { valid: false; reason: "superseded" | "expired" };

function present(v: string | undefined): v is string {
  return v !== undefined && v !== "";
}

function resolve(config: SimAppConfig): ResolvedConfig {
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

function activeFaults(faults: readonly SimFault[] | undefined): ActiveFault[] {
  return (faults ?? []).map((f) => ({ fault: { ...f }, remaining: f.times ?? 1 }));
}

function zeroCounters(): SimAppCounters {
  return { calls: { token: 0, stable_token: 0, gettoken: 0, probe: 0, getticket: 0 }, tokensIssued: 0, forceRefreshes: 0 };
}

export class SimulatorState implements SimulatorAdmin {
  private readonly apps = new Map<string, AppRuntime>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly tickets = new TicketBook();

  constructor(private readonly now: () => number = Date.now) {}

  // ---- admin ------------------------------------------------------------------------------------------

  /** Replaces the app entirely: a fresh app with no tokens, zero counters and unused quotas. */
  setApp(config: SimAppConfig): void {
    const parsed = parseAppConfig(config);
    this.forgetTokens(parsed.appId);
    const now = this.now();
    this.apps.set(parsed.appId, {
      config: resolve(parsed),
      faults: activeFaults(parsed.faults),
      chains: { plain: {}, stable: {}, wecom: {} },
      counters: zeroCounters(),
      day: quotaDay(now),
      tokenIssuesToday: 0,
      stableCallsToday: 0,
      forcesToday: 0,
      minute: Math.floor(now / 60_000),
      stableCallsThisMinute: 0,
    });
  }

  /** Changes configuration and keeps the app's tokens, counters and quota usage. `faults`, if given, replaces the queue. */
  patchApp(appId: string, patch: Partial<SimAppConfig>): void {
    const app = this.requireApp(appId);
    const r = appPatchSchema.safeParse(patch);
    if (!r.success) throw new SimAdminError("bad_request", describeIssues(r.error));
    if (r.data.appId !== undefined && r.data.appId !== appId) {
      throw new SimAdminError("bad_request", "appId: cannot be changed by a patch");
    }
    const { faults, ...rest } = r.data;
    const merged: SimAppConfig = { ...app.config, ...rest };
    app.config = resolve(parseAppConfig(merged));
    if (faults !== undefined) app.faults = activeFaults(faults);
  }

  removeApp(appId: string): void {
    this.forgetTokens(appId);
    this.tickets.forget(appId);
    this.apps.delete(appId);
  }

  hasApp(appId: string): boolean {
    return this.apps.has(appId);
  }

  addFault(appId: string, fault: SimFault): void {
    const app = this.requireApp(appId);
    app.faults.push(...activeFaults([parseFault(fault)]));
  }

  clearFaults(appId: string): void {
    this.requireApp(appId).faults = [];
  }

  counters(appId: string): SimAppCounters {
    const c = this.requireApp(appId).counters;
    return { calls: { ...c.calls }, tokensIssued: c.tokensIssued, forceRefreshes: c.forceRefreshes };
  }

  resetCounters(): void {
    for (const app of this.apps.values()) app.counters = zeroCounters();
  }

  checkToken(accessToken: string): SimTokenCheck {
    const rec = this.tokens.get(accessToken);
    if (rec === undefined) return { valid: false, reason: "unknown" };
    const status = this.status(rec, this.now());
    return status.valid ? { valid: true, appId: rec.appId } : { valid: false, reason: status.reason, appId: rec.appId };
  }

  /** A token's app, platform and state, for the simulator's business APIs (src/simulator/business.ts). */
  tokenInfo(accessToken: string): { appId: string; platform: SimPlatform; valid: boolean; reason?: "superseded" | "expired" } | undefined {
    const rec = this.tokens.get(accessToken);
    if (rec === undefined || !this.apps.has(rec.appId)) return undefined;
    const status = this.status(rec, this.now());
    const platform: SimPlatform = rec.chain === "wecom" ? "wecom" : "wechat";
    return status.valid ? { appId: rec.appId, platform, valid: true } : { appId: rec.appId, platform, valid: false, reason: status.reason };
  }

  /** An app's caller IP (for errmsgs of the business APIs). */
  callerIpOf(appId: string): string {
    return this.apps.get(appId)?.config.callerIp ?? SIM_DEFAULTS.callerIp;
  }

  /** Every app's configuration, defaults filled in, pending faults with their remaining `times`, no secrets. */
  listApps(): SimAppListing[] {
    return [...this.apps.values()].map((app) => {
      const { secret: _secret, ...rest } = app.config;
      const faults = app.faults.map((f) => ({ ...f.fault, times: f.remaining }));
      return { ...rest, ipWhitelist: [...rest.ipWhitelist], faults };
    });
  }

  // ---- MP: GET /cgi-bin/token --------------------------------------------------------------------------

  token(req: TokenRequest): SimAnswer {
    const now = this.now();
    const app = this.lookup(req.appid, "wechat");
    return this.answer(app, "token", "wechat", now, () => {
      const ip = app?.config.callerIp ?? SIM_DEFAULTS.callerIp;
      const err = (code: number, text?: string): SimReply => ({ kind: "json", body: mpError(code, now, ip, text) });
      if (req.method !== "GET") return err(43001);
      if (!present(req.appid)) return err(41002);
      if (!present(req.secret)) return err(41004);
      if (req.grantType !== "client_credential") return err(40002);
      if (app === undefined) return err(40013);
      const denied = this.checkAccess(app, req.secret);
      if (denied !== undefined) return err(denied.code, denied.text);
      this.rollDay(app, now);
      // Only successful issues use the daily quota (docs/wechat-api.md §2.4: undocumented, our choice).
      if (app.tokenIssuesToday >= app.config.dailyQuota) return err(45009);
      app.tokenIssuesToday++;
      const rec = this.issue(app, "plain", now, "overlap");
      return { kind: "json", body: { access_token: rec.value, expires_in: app.config.tokenLifetimeSec } };
    });
  }

  // ---- MP: POST /cgi-bin/stable_token ------------------------------------------------------------------

  stableToken(req: StableTokenRequest): SimAnswer {
    const now = this.now();
    const body = typeof req.body === "object" && req.body !== null && !Array.isArray(req.body) ? (req.body as Record<string, unknown>) : undefined;
    const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
    const appid = str(body?.appid);
    const secret = str(body?.secret);
    const app = this.lookup(appid, "wechat");
    return this.answer(app, "stable_token", "wechat", now, () => {
      const ip = app?.config.callerIp ?? SIM_DEFAULTS.callerIp;
      const err = (code: number, text?: string): SimReply => ({ kind: "json", body: mpError(code, now, ip, text) });
      if (req.method !== "POST") return err(43002);
      // A body that is not a JSON object reads as "appid missing" (observed, docs/wechat-api.md §3.5).
      if (body === undefined || !present(appid)) return err(41002);
      if (!present(secret)) return err(41004);
      if (body.grant_type !== "client_credential") return err(40002);
      if (app === undefined) return err(40013);
      const denied = this.checkAccess(app, secret);
      if (denied !== undefined) return err(denied.code, denied.text);

      const minute = Math.floor(now / 60_000);
      if (minute !== app.minute) {
        app.minute = minute;
        app.stableCallsThisMinute = 0;
      }
      app.stableCallsThisMinute++;
      if (app.stableCallsThisMinute > app.config.stablePerMinute) return err(45011);
      this.rollDay(app, now);
      app.stableCallsToday++;
      if (app.stableCallsToday > app.config.stablePerDay) return err(45009);

      const chain = app.chains.stable;
      const current = chain.current !== undefined && this.status(chain.current, now).valid ? chain.current : undefined;
      const same = (rec: TokenRecord): SimReply => ({
        kind: "json",
        body: { access_token: rec.value, expires_in: Math.max(0, Math.floor((rec.expiresAt - now) / 1000)) },
      });

      if (body.force_refresh === true) {
        // Force refreshes closer than forceMinIntervalSec "do not refresh" (docs/wechat-api.md §3.3): the current token, no error.
        const tooSoon = app.lastForceAt !== undefined && now - app.lastForceAt < app.config.forceMinIntervalSec * 1000;
        if (tooSoon && current !== undefined) return same(current);
        if (!tooSoon) {
          if (app.forcesToday >= app.config.forcePerDay) return err(45009);
          app.forcesToday++;
          app.lastForceAt = now;
          app.counters.forceRefreshes++;
          return same(this.issue(app, "stable", now, "overlap"));
        }
        // Too soon but the current token is gone: behave like a normal call below.
      }
      if (current !== undefined && current.expiresAt - now > app.config.overlapSec * 1000) return same(current);
      // Within the last overlapSec (or no live token): rotate; the old one lives to its own expiry.
      return same(this.issue(app, "stable", now, "keep"));
    });
  }

  // ---- WeCom: GET /cgi-bin/gettoken --------------------------------------------------------------------

  wecomGettoken(req: WecomTokenRequest): SimAnswer {
    const now = this.now();
    const app = this.lookup(req.corpid, "wecom");
    return this.answer(app, "gettoken", "wecom", now, () => {
      const ip = app?.config.callerIp ?? SIM_DEFAULTS.callerIp;
      const err = (code: number): SimReply => ({ kind: "json", body: wecomError(code, now, ip) });
      if (req.method !== "GET") return err(43001);
      if (!present(req.corpid)) return err(41002);
      if (!present(req.corpsecret)) return err(41004);
      if (app === undefined) return err(40013);
      if (req.corpsecret !== app.config.secret) {
        const belongsToAnotherCorp = [...this.apps.values()].some(
          (other) => other !== app && other.config.platform === "wecom" && other.config.secret === req.corpsecret,
        );
        return err(belongsToAnotherCorp ? 40091 : 40001);
      }
      const chain = app.chains.wecom;
      // WeCom returns the same token while it is valid (docs/wechat-api.md §5.2) and never cuts older ones short.
      const rec = chain.current !== undefined && this.status(chain.current, now).valid ? chain.current : this.issue(app, "wecom", now, "keep");
      return {
        kind: "json",
        body: { errcode: 0, errmsg: "ok", access_token: rec.value, expires_in: Math.max(0, Math.floor((rec.expiresAt - now) / 1000)) },
      };
    });
  }

  // ---- probes: get_api_domain_ip / getcallbackip (MP and WeCom) -----------------------------------------

  probe(req: ProbeRequest): SimAnswer {
    const now = this.now();
    const token = present(req.accessToken) ? req.accessToken : undefined;
    const found = token === undefined ? undefined : this.tokens.get(token);
    // A token of the other platform is unknown here, as it would be to the other host.
    const rec = found !== undefined && (found.chain === "wecom") === (req.platform === "wecom") ? found : undefined;
    const app = rec === undefined ? undefined : this.apps.get(rec.appId);
    return this.answer(app, "probe", req.platform, now, () => {
      const ip = app?.config.callerIp ?? SIM_DEFAULTS.callerIp;
      const err = (code: number): SimReply => ({
        kind: "json",
        body: req.platform === "wecom" ? wecomError(code, now, ip) : mpError(code, now, ip),
      });
      if (req.method !== "GET") return err(43001);
      if (token === undefined) return err(41001);
      if (rec === undefined || app === undefined) return err(40014);
      const status = this.status(rec, now);
      if (!status.valid) return err(status.reason === "expired" ? 42001 : req.platform === "wecom" ? 40014 : 40001);
      if (req.platform === "wecom") {
        if (app.config.ipWhitelist.length > 0 && !ipInWhitelist(app.config.callerIp, app.config.ipWhitelist)) return err(60020);
        return { kind: "json", body: { errcode: 0, errmsg: "ok", ip_list: [...PROBE_IP_LIST] } };
      }
      return { kind: "json", body: { ip_list: [...PROBE_IP_LIST] } };
    });
  }

  // ---- JS-SDK tickets: getticket (MP), get_jsapi_ticket and ticket/get (WeCom); see tickets.ts ------------

  /** A ticket asked for with an access token: the token is checked like a business API checks it. */
  ticket(req: TicketRequest, path: "getticket" | "get_jsapi_ticket" | "ticket/get"): SimAnswer {
    const now = this.now();
    const token = present(req.accessToken) ? req.accessToken : undefined;
    const found = token === undefined ? undefined : this.tokens.get(token);
    const rec = found !== undefined && (found.chain === "wecom") === (req.platform === "wecom") ? found : undefined;
    const app = rec === undefined ? undefined : this.apps.get(rec.appId);
    return this.answer(app, "getticket", req.platform, now, () => {
      const ip = app?.config.callerIp ?? SIM_DEFAULTS.callerIp;
      const err = (code: number): SimReply => ({ kind: "json", body: req.platform === "wecom" ? wecomError(code, now, ip) : mpError(code, now, ip) });
      if (req.method !== "GET") return err(43001);
      if (token === undefined) return err(41001);
      if (rec === undefined || app === undefined) return err(40001);
      const status = this.status(rec, now);
      if (!status.valid) return err(status.reason === "expired" ? 42001 : 40001);
      const type = ticketTypeOf(req, path);
      if (type === undefined) return err(40097);
      const t = this.tickets.handOut(app.config.appId, type, app.config.tokenLifetimeSec, now);
      return { kind: "json", body: { errcode: 0, errmsg: "ok", ticket: t.ticket, expires_in: t.expiresIn } };
    });
  }

  checkTicket(ticket: string): SimTicketCheck {
    return this.tickets.check(ticket, this.now());
  }

  /** The ticket the app's callers are handed now (undefined: none live), for tests that verify signatures. */
  currentTicket(appId: string, type: SimTicketType): string | undefined {
    return this.tickets.currentTicket(appId, type, this.now());
  }

  // ---- internals -------------------------------------------------------------------------------------

  private requireApp(appId: string): AppRuntime {
    const app = this.apps.get(appId);
    if (app === undefined) throw new SimAdminError("not_found", `no app ${JSON.stringify(appId)} in the simulator`);
    return app;
  }

  private lookup(appId: string | undefined, platform: SimPlatform): AppRuntime | undefined {
    if (!present(appId)) return undefined;
    const app = this.apps.get(appId);
    // An app of the other platform does not exist for this host.
    return app !== undefined && app.config.platform === platform ? app : undefined;
  }

  /** Counts the call, fires a pending fault if one matches, else runs the normal handler. */
  private answer(app: AppRuntime | undefined, endpoint: SimEndpoint, platform: SimPlatform, now: number, handle: () => SimReply): SimAnswer {
    if (app === undefined) return { reply: handle(), platform, latencyMs: 0 };
    app.counters.calls[endpoint]++;
    const base = { platform, latencyMs: app.config.latencyMs, appId: app.config.appId };
    const fault = this.takeFault(app, endpoint);
    if (fault === undefined) return { ...base, reply: handle() };
    if (fault.type === "errcode") {
      const code = fault.errcode ?? -1;
      const body =
        fault.errmsg !== undefined
          ? { errcode: code, errmsg: fault.errmsg }
          : platform === "wecom"
            ? wecomError(code, now, app.config.callerIp)
            : mpError(code, now, app.config.callerIp);
      return { ...base, reply: { kind: "json", body } };
    }
    return { ...base, reply: { kind: "fault", fault } };
  }

  private takeFault(app: AppRuntime, endpoint: SimEndpoint): SimFault | undefined {
    const idx = app.faults.findIndex((f) => (f.fault.endpoints ?? DEFAULT_FAULT_ENDPOINTS).includes(endpoint));
    const active = app.faults[idx];
    if (active === undefined) return undefined;
    if (active.remaining > 0) {
      active.remaining--;
      if (active.remaining === 0) app.faults.splice(idx, 1);
    }
    return active.fault;
  }

  /** The checks between "the appid exists" and "the secret is right", in WeChat's order (docs/wechat-api.md §2.6). */
  private checkAccess(app: AppRuntime, secret: string): { code: number; text?: string } | undefined {
    const c = app.config;
    if (c.isComponent) return { code: 61024 };
    if (c.secretFrozen) return { code: 40243 };
    if (c.ipWhitelist.length > 0 && !ipInWhitelist(c.callerIp, c.ipWhitelist)) return { code: 40164 };
    switch (c.adminConfirm) {
      case "required":
        // The first call notifies the admin; later calls see "pending" until someone patches the state.
        c.adminConfirm = "pending";
        return { code: 89503 };
      case "pending":
        return { code: 89501 };
      case "rejected_once":
        return { code: 89507 };
      case "rejected_twice":
        return { code: 89506 };
      case "none":
        break;
    }
    if (secret !== c.secret) return c.legacyBadSecret ? { code: 40001, text: LEGACY_BAD_SECRET_ERRMSG } : { code: 40125 };
    return undefined;
  }

  private rollDay(app: AppRuntime, now: number): void {
    const day = quotaDay(now);
    if (day === app.day) return;
    app.day = day;
    app.tokenIssuesToday = 0;
    app.stableCallsToday = 0;
    app.forcesToday = 0;
  }

  /** Cause of death is whichever came first: being cut short by a newer token, or the end of its lifetime. */
  private status(rec: TokenRecord, now: number): TokenStatus {
    if (now < rec.validUntil && now < rec.expiresAt) return { valid: true };
    return rec.validUntil < rec.expiresAt ? { valid: false, reason: "superseded" } : { valid: false, reason: "expired" };
  }

  /**
   * Issues a new token on a chain. `overlap`: the previous token stays valid min(its expiry, now+overlapSec)
   * (classic fetch, force refresh). `keep`: the previous one lives to its own expiry (stable rotation, WeCom).
   * Either way anything older than the previous token is dead at once (docs/wechat-api.md §4.2).
   */
  private issue(app: AppRuntime, chainName: ChainName, now: number, mode: "overlap" | "keep"): TokenRecord {
    const chain = app.chains[chainName];
    if (chain.previous !== undefined) chain.previous.validUntil = Math.min(chain.previous.validUntil, now);
    if (chain.current !== undefined && mode === "overlap") {
      chain.current.validUntil = Math.min(chain.current.validUntil, now + app.config.overlapSec * 1000);
    }
    const rec: TokenRecord = {
      value: this.newTokenValue(app.config),
      appId: app.config.appId,
      chain: chainName,
      issuedAt: now,
      expiresAt: now + app.config.tokenLifetimeSec * 1000,
      validUntil: now + app.config.tokenLifetimeSec * 1000,
    };
    chain.previous = chain.current;
    chain.current = rec;
    app.counters.tokensIssued++;
    this.tokens.set(rec.value, rec);
    if (this.tokens.size > MAX_REMEMBERED_TOKENS) this.pruneTokens(now);
    return rec;
  }

  private newTokenValue(c: ResolvedConfig): string {
    // Shapes of real tokens: MP `NN_` + ~136 base64-ish chars (≈140), WeCom a longer bare string.
    // A 1–3 character appid/secret appearing by chance in random text is no leak, so only longer ones are checked.
    const leaks = (v: string) => (c.appId.length >= 4 && v.includes(c.appId)) || (c.secret.length >= 4 && v.includes(c.secret));
    for (;;) {
      const v =
        c.platform === "wecom"
          ? randomBytes(129).toString("base64url")
          : `${randomInt(10, 100)}_${randomBytes(102).toString("base64url")}`;
      if (!leaks(v) && !this.tokens.has(v)) return v;
    }
  }

  private forgetTokens(appId: string): void {
    for (const [value, rec] of this.tokens) if (rec.appId === appId) this.tokens.delete(value);
  }

  private pruneTokens(now: number): void {
    const target = Math.floor(MAX_REMEMBERED_TOKENS * 0.9);
    for (const [value, rec] of this.tokens) {
      if (this.tokens.size <= target) break;
      if (!this.status(rec, now).valid) this.tokens.delete(value);
    }
  }
}
