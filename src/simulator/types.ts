// Contract of the local WeChat simulator: used by tests, the demo and the benchmarks.
// MP endpoints live at the root (`${url}/cgi-bin/...`); WeCom endpoints under `${url}/wecom` (`${url}/wecom/cgi-bin/gettoken`).
// Admin endpoints live under `${url}/__admin`.

export type SimPlatform = "wechat" | "wecom";

/** A one-shot or repeated failure injected into an app's next calls. */
export interface SimFault {
  /** errcode: answer 200 with {errcode, errmsg}; http: answer with that status and a short HTML body;
   * timeout: never answer (hold the socket until the client gives up); non_json: 200 with an HTML body;
   * reset: destroy the socket. */
  type: "errcode" | "http" | "timeout" | "non_json" | "reset";
  errcode?: number;
  errmsg?: string;
  status?: number;
  /** How many calls it applies to; default 1; -1 = until cleared. */
  times?: number;
  /** Which endpoints it applies to ("token" | "stable_token" | "gettoken" | "probe"); default: the token endpoints
   * token, stable_token and gettoken, not probe. */
  endpoints?: Array<"token" | "stable_token" | "gettoken" | "probe" | "getticket">;
}

export interface SimAppConfig {
  /** AppID (WeCom: corpid). */
  appId: string;
  /** AppSecret (WeCom: corpsecret). */
  secret: string;
  platform?: SimPlatform; // default "wechat"
  /** Enabled IP whitelist. Empty or absent: allow every IP. */
  ipWhitelist?: string[];
  /** The public egress IP the simulator pretends callers of this app have. Default "203.0.113.10". */
  callerIp?: string;
  /** Token lifetime in seconds. Default 7200. */
  tokenLifetimeSec?: number;
  /** How long the previous token stays valid after a new one is issued, seconds. Default 300. */
  overlapSec?: number;
  /** Successful /cgi-bin/token issues a quota day. Default 2000. */
  dailyQuota?: number;
  /** stable_token calls a minute before 45011. Default 10000. */
  stablePerMinute?: number;
  /** stable_token calls a quota day before 45009. Default 500000. */
  stablePerDay?: number;
  /** force_refresh a day. Default 20. */
  forcePerDay?: number;
  /** Minimum spacing of effective force refreshes, seconds. Default 30. */
  forceMinIntervalSec?: number;
  /** Added latency per call, ms. Default 0. */
  latencyMs?: number;
  secretFrozen?: boolean; // 40243
  /** An Open Platform (component) appid: /cgi-bin/token answers 61024. */
  isComponent?: boolean;
  /** Admin-confirmation flow state for the caller IP: 89503 (required), 89501 (pending), 89507 / 89506 (rejected). */
  adminConfirm?: "none" | "required" | "pending" | "rejected_once" | "rejected_twice";
  /** Wrong secret answers 40001 instead of 40125 (old WeChat behaviour). */
  legacyBadSecret?: boolean;
  faults?: SimFault[];
}

/** An app's configuration as the admin API lists it: never the secret. */
export type SimAppListing = Omit<SimAppConfig, "secret">;

export interface SimAppCounters {
  /** HTTP calls received per endpoint for this app (failed ones included). */
  calls: { token: number; stable_token: number; gettoken: number; probe: number; getticket: number };
  /** Tokens newly issued (a stable_token call that returned the current token issues none). */
  tokensIssued: number;
  forceRefreshes: number;
}

export interface SimTokenCheck {
  valid: boolean;
  /** Why not: unknown (never issued), superseded (past the overlap), expired (past its lifetime). */
  reason?: "unknown" | "superseded" | "expired";
  appId?: string;
}

/** In-process handle on a running simulator (the same operations the HTTP admin API offers). */
export interface SimulatorAdmin {
  setApp(config: SimAppConfig): void;
  patchApp(appId: string, patch: Partial<SimAppConfig>): void;
  removeApp(appId: string): void;
  addFault(appId: string, fault: SimFault): void;
  clearFaults(appId: string): void;
  counters(appId: string): SimAppCounters;
  resetCounters(): void;
  checkToken(accessToken: string): SimTokenCheck;
  /** Whether a JS-SDK ticket was issued by this simulator and is still live. */
  checkTicket(ticket: string): import("./tickets").SimTicketCheck;
  /** The ticket of (app, type) handed out now, if any. */
  currentTicket(appId: string, type: "jsapi" | "wx_card" | "agent_config"): string | undefined;
}

/** The admin operations of the simulator's business APIs (src/simulator/business.ts, issue 13). */
export interface SimulatorBusinessAdmin {
  /** The next `times` (default 1) business API calls made with this token are answered `errcode` (default 40001):
   * a token another system has just killed (issue 13). */
  rejectToken(accessToken: string, errcode?: number, times?: number): void;
  /** Business API calls of an app by path, and how many were rejected by rejectToken. */
  apiCalls(appId: string): { calls: Record<string, number>; rejected: number; uploadBytes: number };
}

export interface RunningSimulator {
  /** e.g. http://127.0.0.1:41234 — use as WECHAT_API_BASE. */
  url: string;
  /** `${url}/wecom` — use as WECOM_API_BASE. */
  wecomUrl: string;
  port: number;
  admin: SimulatorAdmin & SimulatorBusinessAdmin;
  close(): Promise<void>;
}

export interface SimulatorOptions {
  host?: string; // default 127.0.0.1
  port?: number; // default 0 (a free port)
  apps?: SimAppConfig[];
  /** Injected clock (epoch ms), for tests of the 300 s overlap. */
  now?: () => number;
}
