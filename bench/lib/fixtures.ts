// Accounts, API keys and simulator apps shared by the benchmarks, and the broker environment that ties them together.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunningSimulator, SimAppConfig, SimAppCounters } from "../../src/simulator/types";
import type { tokenJson } from "../../src/http/routes/token";

/** The key every benchmark client sends (a "client" key allowed for every account). */
export const BENCH_KEY = "bench-client-key-0123456789abcdef";

/** API_KEYS with `count` keys, the benchmark's one in the middle: auth compares against every key anyway. */
export function apiKeys(count: number): string {
  const keys = Array.from({ length: Math.max(1, count) }, (_, i) => ({
    name: `service-${i}`,
    key: `svc-${i}-key-${"x".repeat(24)}`,
    role: "client",
    accounts: ["*"],
  }));
  keys[Math.floor(keys.length / 2)] = { name: "bench", key: BENCH_KEY, role: "client", accounts: ["*"] };
  return JSON.stringify(keys);
}

export const AUTH_HEADERS: Record<string, string> = { authorization: `Bearer ${BENCH_KEY}` };

export interface BenchAccount {
  id: string;
  appId: string;
  appSecret: string;
  tokenApi: "stable" | "classic";
}

export function benchAccount(id: string, tokenApi: "stable" | "classic" = "stable", n = 0): BenchAccount {
  return { id, appId: `wxbench${String(n).padStart(10, "0")}`, appSecret: `bench-secret-${id}`, tokenApi };
}

export function simApp(a: BenchAccount, extra: Partial<SimAppConfig> = {}): SimAppConfig {
  return { appId: a.appId, secret: a.appSecret, ...extra };
}

/** Environment of a broker that is a member of a Redis cluster and talks to the simulator. */
export function brokerEnv(o: {
  redisUrl: string;
  sim: RunningSimulator;
  accounts: BenchAccount[];
  workDir: string;
  name: string;
  apiKeys?: number;
  extra?: Record<string, string>;
}): Record<string, string> {
  // A file, not ACCOUNTS: 1,000 accounts exceed what one environment variable may hold (128 KiB).
  const accountsFile = join(o.workDir, `${o.name}-accounts.json`);
  writeFileSync(accountsFile, JSON.stringify(o.accounts));
  return {
    REDIS_URL: o.redisUrl,
    ACCOUNTS_FILE: accountsFile,
    API_KEYS: apiKeys(o.apiKeys ?? 10),
    WECHAT_API_BASE: o.sim.url,
    WECOM_API_BASE: o.sim.wecomUrl,
    ...o.extra,
    // For experiments: BENCH_BROKER_ENV='{"REDIS_COMMAND_TIMEOUT_MS":"2000"}' changes every broker a benchmark starts.
    ...(JSON.parse(process.env.BENCH_BROKER_ENV ?? "{}") as Record<string, string>),
  };
}

/**
 * Broker and simulator timing for short token lifetimes (soak, refresh-rate measurement), scaled from WeChat's
 * 7200 s / 300 s: the refresh runs `aheadSec` (plus up to 20 % jitter, later) before expiry, inside the simulator's
 * stable-token rotation window (`overlapSec`), and well before the broker's safety margin.
 */
export function shortLifetime(lifetimeSec: number): { lifetimeSec: number; marginSec: number; aheadSec: number; overlapSec: number } {
  const marginSec = Math.max(1, Math.floor(lifetimeSec / 15));
  const aheadSec = Math.max(marginSec + 1, Math.floor(lifetimeSec / 4));
  if (aheadSec * 1.2 >= lifetimeSec) throw new Error(`token lifetime ${lifetimeSec} s is too short for a refresh-ahead benchmark`);
  // A stable_token call rotates only inside the last overlapSec; a stray duplicate call just after a rotation
  // returns the same token, so duplicates show up as calls > rotations.
  return { lifetimeSec, marginSec, aheadSec, overlapSec: aheadSec + 2 };
}

/** Broker variables for shortLifetime(). */
export function shortLifetimeEnv(p: ReturnType<typeof shortLifetime>): Record<string, string> {
  return {
    TOKEN_SAFETY_MARGIN_SEC: String(p.marginSec),
    STABLE_REFRESH_AHEAD_SEC: String(p.aheadSec),
    CLASSIC_REFRESH_AHEAD_SEC: String(p.aheadSec),
  };
}

/** The broker's token answer, as src/http/routes/token.ts shapes it. */
export type TokenBody = ReturnType<typeof tokenJson>;

/** Upstream token calls of one simulator app, whichever token API it used. */
export function tokenCalls(c: SimAppCounters): number {
  return c.calls.token + c.calls.stable_token + c.calls.gettoken;
}

/** One GET of a token; throws unless 200. */
export async function getToken(baseUrl: string, accountId: string): Promise<{ body: TokenBody; raw: string }> {
  const r = await fetch(`${baseUrl}/api/accounts/${accountId}/token`, { headers: AUTH_HEADERS });
  const raw = await r.text();
  if (r.status !== 200) throw new Error(`GET token of ${accountId} at ${baseUrl}: ${r.status} ${raw.slice(0, 300)}`);
  return { body: JSON.parse(raw) as TokenBody, raw };
}

/** Reads one sample of a Prometheus counter from /metrics (0 when absent). */
export async function metricValue(baseUrl: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !(want.length === 0 && line.startsWith(`${name} `))) continue;
    const close = line.lastIndexOf("}");
    const labelText = close === -1 ? "" : line.slice(name.length + 1, close);
    if (want.every((w) => labelText.split(",").includes(w))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return 0;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until `check` is true; throws with `what` after timeoutMs. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
