// The simulator's brain: apps, token chains, quotas, faults and counters, driven by an injected clock.
// No HTTP in here: server.ts parses requests into the plain inputs of calls.ts and renders the answers. The errmsgs
// are worded in errmsgs.ts, admin input is validated in adminInput.ts, tokens are kept in tokenBook.ts.
// Behaviour follows docs/wechat-api.md §2–§5, with the token-lifetime model of docs/wechat-api.md §4.2.
import { quotaDay } from "../clock";
import { SimAdminError, parseAppConfig, parseAppPatch, parseFault } from "./adminInput";
import { SIM_DEFAULTS, newAppRuntime, resolve, zeroCounters, type AppRuntime, type TokenRecord } from "./appRuntime";
import type { ProbeRequest, SimAnswer, SimEndpoint, SimReply, StableTokenRequest, TokenRequest, WecomTokenRequest } from "./calls";
import { LEGACY_BAD_SECRET_ERRMSG, mpError, wecomError } from "./errmsgs";
import { activeFaults, takeFault } from "./faults";
import { ipInWhitelist } from "./ipWhitelist";
import { TicketBook, ticketTypeOf, type SimTicketCheck, type SimTicketType, type TicketRequest } from "./tickets";
import { TokenBook, tokenStatus } from "./tokenBook";
import type { SimAppConfig, SimAppCounters, SimAppListing, SimFault, SimPlatform, SimTokenCheck, SimulatorAdmin } from "./types";

/** IPs the probe endpoints list; TEST-NET addresses, so nothing real is ever suggested. */
const PROBE_IP_LIST = ["198.51.100.10", "198.51.100.11", "198.51.100.128/25", "203.0.113.64/26"];

function present(v: string | undefined): v is string {
  return v !== undefined && v !== "";
}

export class SimulatorState implements SimulatorAdmin {
  private readonly apps = new Map<string, AppRuntime>();
  private readonly tokens = new TokenBook();
  private readonly tickets = new TicketBook();

  constructor(private readonly now: () => number = Date.now) {}

  // ---- admin ------------------------------------------------------------------------------------------

  /** Replaces the app entirely: a fresh app with no tokens, zero counters and unused quotas. */
  setApp(config: SimAppConfig): void {
    const parsed = parseAppConfig(config);
    this.tokens.forget(parsed.appId);
    this.apps.set(parsed.appId, newAppRuntime(parsed, this.now()));
  }

  /** Changes configuration and keeps the app's tokens, counters and quota usage. `faults`, if given, replaces the queue. */
  patchApp(appId: string, patch: Partial<SimAppConfig>): void {
    const app = this.requireApp(appId);
    const data = parseAppPatch(patch);
    if (data.appId !== undefined && data.appId !== appId) {
      throw new SimAdminError("bad_request", "appId: cannot be changed by a patch");
    }
    const { faults, ...rest } = data;
    const merged: SimAppConfig = { ...app.config, ...rest };
    app.config = resolve(parseAppConfig(merged));
    if (faults !== undefined) app.faults = activeFaults(faults);
  }

  removeApp(appId: string): void {
    this.tokens.forget(appId);
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
    const status = tokenStatus(rec, this.now());
    return status.valid ? { valid: true, appId: rec.appId } : { valid: false, reason: status.reason, appId: rec.appId };
  }

  /** A token's app, platform and state, for the simulator's business APIs (src/simulator/business.ts). */
  tokenInfo(accessToken: string): { appId: string; platform: SimPlatform; valid: boolean; reason?: "superseded" | "expired" } | undefined {
    const rec = this.tokens.get(accessToken);
    if (rec === undefined || !this.apps.has(rec.appId)) return undefined;
    const status = tokenStatus(rec, this.now());
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
      const rec = this.tokens.issue(app, "plain", now, "overlap");
      return { kind: "json", body: { access_token: rec.value, expires_in: app.config.tokenLifetimeSec } };
    });
  }

  // ---- MP: POST /cgi-bin/stable_token ------------------------------------------------------------------

  stableToken(req: StableTokenRequest): SimAnswer {
    const now = this.now();
    const body =
      typeof req.body === "object" && req.body !== null && !Array.isArray(req.body) ? (req.body as Record<string, unknown>) : undefined;
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
      const current = chain.current !== undefined && tokenStatus(chain.current, now).valid ? chain.current : undefined;
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
          return same(this.tokens.issue(app, "stable", now, "overlap"));
        }
        // Too soon but the current token is gone: behave like a normal call below.
      }
      if (current !== undefined && current.expiresAt - now > app.config.overlapSec * 1000) return same(current);
      // Within the last overlapSec (or no live token): rotate; the old one lives to its own expiry.
      return same(this.tokens.issue(app, "stable", now, "keep"));
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
      const rec =
        chain.current !== undefined && tokenStatus(chain.current, now).valid ? chain.current : this.tokens.issue(app, "wecom", now, "keep");
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
      const status = tokenStatus(rec, now);
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
      const err = (code: number): SimReply => ({
        kind: "json",
        body: req.platform === "wecom" ? wecomError(code, now, ip) : mpError(code, now, ip),
      });
      if (req.method !== "GET") return err(43001);
      if (token === undefined) return err(41001);
      if (rec === undefined || app === undefined) return err(40001);
      const status = tokenStatus(rec, now);
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
  private answer(
    app: AppRuntime | undefined,
    endpoint: SimEndpoint,
    platform: SimPlatform,
    now: number,
    handle: () => SimReply,
  ): SimAnswer {
    if (app === undefined) return { reply: handle(), platform, latencyMs: 0 };
    app.counters.calls[endpoint]++;
    const base = { platform, latencyMs: app.config.latencyMs, appId: app.config.appId };
    const fault = takeFault(app.faults, endpoint);
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
}
