// The simulator's admin API over HTTP, for tests and benchmarks that run the simulator in another process.
import type { SimAppListing } from "./types";
import type { SimTicketCheck } from "./tickets";
import type { SimAppConfig, SimAppCounters, SimFault, SimTokenCheck, SimulatorAdmin } from "./types";

/** SimulatorAdmin with every operation asynchronous (the shape of this client). */
export type SimulatorAdminAsync = {
  [K in keyof SimulatorAdmin]: (...args: Parameters<SimulatorAdmin[K]>) => Promise<ReturnType<SimulatorAdmin[K]>>;
};

/** A refusal of the admin API: `status` is the HTTP status, `code` the API's error code (bad_request, not_found…). */
export class SimulatorAdminHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "SimulatorAdminHttpError";
  }
}

export class SimulatorAdminClient implements SimulatorAdminAsync {
  private readonly base: string;

  /** `baseUrl` is the simulator's root URL (RunningSimulator.url), not the /__admin one. */
  constructor(baseUrl: string) {
    this.base = `${baseUrl.replace(/\/+$/, "")}/__admin`;
  }

  async setApp(config: SimAppConfig): Promise<void> {
    await this.call("PUT", `/apps/${encodeURIComponent(config.appId)}`, config);
  }

  async patchApp(appId: string, patch: Partial<SimAppConfig>): Promise<void> {
    await this.call("PATCH", `/apps/${encodeURIComponent(appId)}`, patch);
  }

  async removeApp(appId: string): Promise<void> {
    await this.call("DELETE", `/apps/${encodeURIComponent(appId)}`);
  }

  async addFault(appId: string, fault: SimFault): Promise<void> {
    await this.call("POST", `/apps/${encodeURIComponent(appId)}/faults`, fault);
  }

  async clearFaults(appId: string): Promise<void> {
    await this.call("DELETE", `/apps/${encodeURIComponent(appId)}/faults`);
  }

  async counters(appId: string): Promise<SimAppCounters> {
    return (await this.call("GET", `/apps/${encodeURIComponent(appId)}/counters`)) as SimAppCounters;
  }

  async resetCounters(): Promise<void> {
    await this.call("POST", "/counters/reset");
  }

  async checkToken(accessToken: string): Promise<SimTokenCheck> {
    return (await this.call("POST", "/tokens/check", { accessToken })) as SimTokenCheck;
  }

  async rejectToken(accessToken: string, errcode?: number, times?: number): Promise<void> {
    await this.call("POST", "/tokens/reject", { accessToken, errcode, times });
  }

  async apiCalls(appId: string): Promise<{ calls: Record<string, number>; rejected: number; uploadBytes: number }> {
    return (await this.call("GET", `/apps/${encodeURIComponent(appId)}/api-calls`)) as {
      calls: Record<string, number>;
      rejected: number;
      uploadBytes: number;
    };
  }

  async checkTicket(ticket: string): Promise<SimTicketCheck> {
    return (await this.call("POST", "/tickets/check", { ticket })) as SimTicketCheck;
  }

  async currentTicket(appId: string, type: "jsapi" | "wx_card" | "agent_config"): Promise<string | undefined> {
    return (
      ((await this.call("GET", `/apps/${encodeURIComponent(appId)}/tickets/${type}`)) as { ticket: string | null }).ticket ?? undefined
    );
  }

  /** Every app's configuration, without secrets. */
  async listApps(): Promise<SimAppListing[]> {
    return ((await this.call("GET", "/apps")) as { apps: SimAppListing[] }).apps;
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: body === undefined ? undefined : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const err = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      const code = typeof err?.code === "string" ? err.code : "http_error";
      const message = typeof err?.message === "string" ? err.message : `HTTP ${res.status}`;
      throw new SimulatorAdminHttpError(res.status, code, `simulator admin ${method} ${path}: ${message}`);
    }
    return parsed;
  }
}
