// Shared helpers for the simulator tests: a settable clock and thin fetch wrappers over real HTTP.
import type { TestContext } from "node:test";
import { startSimulator } from "../../src/simulator/server";
import type { RunningSimulator, SimAppConfig } from "../../src/simulator/types";
import { ManualClock, T0 } from "../helpers/clock";

export { ManualClock, T0 };

export const RID = "[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}";

/** errmsg as WeChat formats it: the text, then ` rid: xxxxxxxx-xxxxxxxx-xxxxxxxx`. */
export function mpErrmsg(text: string): RegExp {
  return new RegExp(`^${escapeRe(text)} rid: ${RID}$`);
}

/** errmsg as WeCom formats it: `<msg>, hint: [<unix-seconds><digits>], from ip: <ip>, more info at …?e=<code>`. */
export function wecomErrmsg(text: string, ip: string, code: number): RegExp {
  return new RegExp(
    `^${escapeRe(text)}, hint: \\[\\d{11,}\\], from ip: ${escapeRe(ip)}, more info at https://open\\.work\\.weixin\\.qq\\.com/devtool/query\\?e=${code}$`,
  );
}

export function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

export async function startSim(t: TestContext, apps: SimAppConfig[] = [], clock?: ManualClock): Promise<RunningSimulator> {
  const sim = await startSimulator({ apps, now: clock?.now });
  t.after(() => sim.close());
  return sim;
}

export interface JsonAnswer {
  status: number;
  contentType: string | null;
  body: Record<string, unknown>;
}

export async function getJson(url: string, init?: RequestInit): Promise<JsonAnswer> {
  // Bounded, so a simulator that wrongly holds a request fails the test instead of hanging it.
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000), ...init });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get("content-type"), body: JSON.parse(text) as Record<string, unknown> };
}

export function tokenUrl(sim: RunningSimulator, params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  return `${sim.url}/cgi-bin/token?${q.toString()}`;
}

/** GET /cgi-bin/token with grant_type=client_credential. */
export async function classic(sim: RunningSimulator, appid: string, secret: string): Promise<Record<string, unknown>> {
  return (await getJson(tokenUrl(sim, { grant_type: "client_credential", appid, secret }))).body;
}

/** POST /cgi-bin/stable_token with a JSON body (or a raw string as the body). */
export async function stable(
  sim: RunningSimulator,
  body: Record<string, unknown> | string,
  method = "POST",
): Promise<Record<string, unknown>> {
  return (
    await getJson(`${sim.url}/cgi-bin/stable_token`, {
      method,
      headers: { "Content-Type": "application/json" },
      body: method === "GET" ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    })
  ).body;
}

export function stableBody(appid: string, secret: string, forceRefresh?: boolean): Record<string, unknown> {
  return { grant_type: "client_credential", appid, secret, ...(forceRefresh === undefined ? {} : { force_refresh: forceRefresh }) };
}

export async function probe(
  sim: RunningSimulator,
  token: string | undefined,
  path = "get_api_domain_ip",
): Promise<Record<string, unknown>> {
  const q = token === undefined ? "" : `?access_token=${encodeURIComponent(token)}`;
  return (await getJson(`${sim.url}/cgi-bin/${path}${q}`)).body;
}

export async function wecomToken(sim: RunningSimulator, corpid?: string, corpsecret?: string): Promise<Record<string, unknown>> {
  const q = new URLSearchParams();
  if (corpid !== undefined) q.set("corpid", corpid);
  if (corpsecret !== undefined) q.set("corpsecret", corpsecret);
  return (await getJson(`${sim.wecomUrl}/cgi-bin/gettoken?${q.toString()}`)).body;
}

export async function wecomProbe(sim: RunningSimulator, token: string | undefined): Promise<Record<string, unknown>> {
  const q = token === undefined ? "" : `?access_token=${encodeURIComponent(token)}`;
  return (await getJson(`${sim.wecomUrl}/cgi-bin/get_api_domain_ip${q}`)).body;
}

/** The access_token of a success body; fails loudly if the body is an error. */
export function tokenOf(body: Record<string, unknown>): string {
  if (typeof body.access_token !== "string") throw new Error(`expected a token, got ${JSON.stringify(body)}`);
  return body.access_token;
}
