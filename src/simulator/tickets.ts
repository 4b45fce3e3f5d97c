// JS-SDK tickets in the simulator: getticket (jsapi, wx_card) and WeCom's get_jsapi_ticket / ticket/get
// (agent_config). A ticket is asked for with an access token; per (app, type) the current ticket is handed back until
// it expires, then a new one is issued. Its lifetime is the app's token lifetime. The token checks and the counting
// of calls live in state.ts (SimulatorState.ticket); this file keeps the tickets.
import { randomBytes } from "node:crypto";

export const SIM_TICKET_TYPES = ["jsapi", "wx_card", "agent_config"] as const;
export type SimTicketType = (typeof SIM_TICKET_TYPES)[number];

export interface TicketRequest {
  platform: "wechat" | "wecom";
  method: string;
  accessToken?: string;
  /** The `type` query parameter (WeCom get_jsapi_ticket has none: it is the corp's jsapi ticket). */
  type?: string;
}

export interface SimTicketCheck {
  valid: boolean;
  /** Why not: never issued, or past its lifetime. */
  reason?: "unknown" | "expired";
  appId?: string;
  type?: SimTicketType;
}

interface TicketRecord {
  value: string;
  appId: string;
  type: SimTicketType;
  issuedAt: number;
  expiresAt: number;
}

/** Tickets kept for checkTicket; beyond this the oldest are forgotten (bounds memory in long runs). */
const MAX_REMEMBERED_TICKETS = 50_000;

export class TicketBook {
  private readonly current = new Map<string, TicketRecord>();
  private readonly all = new Map<string, TicketRecord>();

  /** The app's live ticket of this type, or a new one when there is none (or it has expired). */
  handOut(appId: string, type: SimTicketType, lifetimeSec: number, now: number): { ticket: string; expiresIn: number } {
    const key = `${appId}\n${type}`;
    let rec = this.current.get(key);
    if (rec === undefined || rec.expiresAt <= now) {
      // Shaped like WeChat's: ~86 characters of URL-safe base64.
      rec = { value: randomBytes(64).toString("base64url"), appId, type, issuedAt: now, expiresAt: now + lifetimeSec * 1000 };
      this.current.set(key, rec);
      this.all.set(rec.value, rec);
      if (this.all.size > MAX_REMEMBERED_TICKETS) this.all.delete(this.all.keys().next().value as string);
    }
    return { ticket: rec.value, expiresIn: Math.max(0, Math.floor((rec.expiresAt - now) / 1000)) };
  }

  /** The ticket currently handed out for (app, type), if any: what a test signs with to verify a signature. */
  currentTicket(appId: string, type: SimTicketType, now: number): string | undefined {
    const rec = this.current.get(`${appId}\n${type}`);
    return rec !== undefined && rec.expiresAt > now ? rec.value : undefined;
  }

  /** How many tickets were ever issued for (app, type) (remembered ones). */
  issued(appId: string, type: SimTicketType): number {
    let n = 0;
    for (const rec of this.all.values()) if (rec.appId === appId && rec.type === type) n++;
    return n;
  }

  check(ticket: string, now: number): SimTicketCheck {
    const rec = this.all.get(ticket);
    if (rec === undefined) return { valid: false, reason: "unknown" };
    return rec.expiresAt > now
      ? { valid: true, appId: rec.appId, type: rec.type }
      : { valid: false, reason: "expired", appId: rec.appId, type: rec.type };
  }

  forget(appId: string): void {
    for (const [key, rec] of this.current) if (rec.appId === appId) this.current.delete(key);
    for (const [value, rec] of this.all) if (rec.appId === appId) this.all.delete(value);
  }
}

/** Which ticket a request asks for on its platform, or undefined for a type the endpoint does not issue. */
export function ticketTypeOf(req: TicketRequest, path: "getticket" | "get_jsapi_ticket" | "ticket/get"): SimTicketType | undefined {
  if (path === "get_jsapi_ticket") return "jsapi";
  if (path === "ticket/get") return req.type === "agent_config" ? "agent_config" : undefined;
  return req.type === "jsapi" || req.type === "wx_card" ? req.type : undefined;
}
