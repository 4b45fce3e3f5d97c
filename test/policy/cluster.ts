// What the refresh-policy end-to-end tests share: a cluster of real `serve` processes on one Redis, the timing
// variables scaled down for short token lifetimes, and small HTTP helpers that keep every answer (status, body,
// Retry-After) so a test can say exactly what a caller saw. Upstream counts always come from the simulator.
import { spawnServe, type ServeProcess } from "../helpers/processes";
import { sleep } from "../helpers/wait";

/** The broker's timing variables for a test whose tokens live `lifetimeSec` at the simulator (see each file). */
export interface ScaledTiming {
  TOKEN_SAFETY_MARGIN_SEC: string;
  CLASSIC_REFRESH_AHEAD_SEC: string;
  STABLE_REFRESH_AHEAD_SEC: string;
  WECHAT_OVERLAP_SEC: string;
  REFETCH_FLOOR_SEC: string;
}

export interface Cluster {
  brokers: ServeProcess[];
  urls: string[];
  /** Every broker's log output, for a failure message. */
  output(): string;
  stop(): Promise<void>;
}

/** Starts `n` `serve` processes with the same environment, in parallel, and waits until each is ready. */
export async function startCluster(n: number, env: Record<string, string>): Promise<Cluster> {
  const started = await Promise.allSettled(Array.from({ length: n }, () => spawnServe(env, { timeoutMs: 30_000 })));
  const brokers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await Promise.all(brokers.map((b) => b.stop()));
    throw (failed as PromiseRejectedResult).reason;
  }
  return {
    brokers,
    urls: brokers.map((b) => b.url),
    output: () => brokers.map((b, i) => `--- broker ${i} ---\n${b.output()}`).join("\n"),
    stop: async () => {
      await Promise.all(brokers.map((b) => b.stop()));
    },
  };
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  /** The `error.code` of an error body. */
  code?: string;
  token?: string;
  retryAfter: string | null;
  /** When the answer arrived (epoch ms). */
  at: number;
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { raw: text.slice(0, 200) };
  }
  const error = body.error as { code?: string } | undefined;
  return {
    status: res.status,
    body,
    code: error?.code,
    token: typeof body.accessToken === "string" ? body.accessToken : undefined,
    retryAfter: res.headers.get("retry-after"),
    at: Date.now(),
  };
}

/** GET the account's token; a connection failure answers status 0. */
export async function getToken(url: string, accountId: string, timeoutMs = 10_000): Promise<Answer> {
  try {
    return await answer(await fetch(`${url}/api/accounts/${accountId}/token`, { signal: AbortSignal.timeout(timeoutMs) }));
  } catch (err) {
    return { status: 0, body: { error: String(err) }, retryAfter: null, at: Date.now() };
  }
}

/** A caller's report that WeChat rejected `accessToken` (POST …/token/invalidate), optionally with an API key. */
export async function report(
  url: string,
  accountId: string,
  accessToken: string,
  opts: { apiKey?: string; errcode?: number; timeoutMs?: number } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (opts.apiKey) headers.Authorization = `Bearer ${opts.apiKey}`;
  try {
    const res = await fetch(`${url}/api/accounts/${accountId}/token/invalidate`, {
      method: "POST",
      headers,
      body: JSON.stringify({ accessToken, errcode: opts.errcode ?? 40001 }),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    });
    return await answer(res);
  } catch (err) {
    return { status: 0, body: { error: String(err) }, retryAfter: null, at: Date.now() };
  }
}

/** POST …/sync ({force}) with an optional API key. */
export async function sync(url: string, accountId: string, opts: { force?: boolean; apiKey?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (opts.apiKey) headers.Authorization = `Bearer ${opts.apiKey}`;
  try {
    const res = await fetch(`${url}/api/accounts/${accountId}/sync`, {
      method: "POST",
      headers,
      body: JSON.stringify({ force: opts.force ?? false }),
      signal: AbortSignal.timeout(30_000),
    });
    return await answer(res);
  } catch (err) {
    return { status: 0, body: { error: String(err) }, retryAfter: null, at: Date.now() };
  }
}

/** The account's entry of GET /api/diagnosis (JSON), as the broker at `url` sees it. */
export async function diagnosisOf(url: string, accountId: string): Promise<AccountFacts> {
  const res = await fetch(`${url}/api/diagnosis?format=json`, { signal: AbortSignal.timeout(15_000) });
  const body = (await res.json()) as { accounts?: AccountFacts[] };
  const account = body.accounts?.find((a) => a.id === accountId);
  if (!account) throw new Error(`the diagnosis of ${url} has no account ${accountId}: ${JSON.stringify(body).slice(0, 500)}`);
  return account;
}

/** The fields of a diagnosis account entry the policy tests read. */
export interface AccountFacts {
  id: string;
  breaker: { open: boolean; openUntil: string | null; failures: number };
  lastError: { errcode?: number; at: string } | null;
  usage: { upstreamCalls: number; forceRefreshes: number | null } | null;
  token: { gen: number } | null;
}

export interface Poller {
  /** Stops polling and returns every answer, in order of arrival. */
  stop(): Promise<Answer[]>;
}

/**
 * One loop per URL asking for the token every `everyMs` until stopped, like services that ask the broker before each
 * WeChat call. `onAnswer` runs as each answer arrives (e.g. to check the token with the simulator at that moment).
 */
export function pollTokens(urls: string[], accountId: string, everyMs: number, onAnswer?: (a: Answer, url: string) => void): Poller {
  const answers: Answer[] = [];
  let stopped = false;
  const loops = urls.map(async (url) => {
    while (!stopped) {
      const a = await getToken(url, accountId, 5_000);
      answers.push(a);
      onAnswer?.(a, url);
      await sleep(everyMs);
    }
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      return answers;
    },
  };
}

/** How many answers had each status, e.g. "200×412 503×3", for failure messages. */
export function statusSummary(answers: readonly Answer[]): string {
  const counts = new Map<number, number>();
  for (const a of answers) counts.set(a.status, (counts.get(a.status) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([s, n]) => `${s}×${n}`)
    .join(" ");
}

/** The account list of one account, as ACCOUNTS wants it. */
export function accountsEnv(account: {
  id: string;
  appId: string;
  appSecret: string;
  type?: "official" | "miniprogram" | "wecom";
  tokenApi?: "stable" | "classic";
}): string {
  return JSON.stringify([account]);
}
