// `wechat-token-broker healthcheck`: the container's HEALTHCHECK. One GET of /api/health/live on this host,
// exit 0 on 200 and 1 on anything else, one line of output either way (Docker keeps it in
// `docker inspect … .State.Health.Log`, where diagnose.sh and the monitor read it). node:http/https only:
// the runtime image has no curl.
import type { Command } from "commander";
import http from "node:http";
import https from "node:https";

export const DEFAULT_HEALTHCHECK_TIMEOUT_MS = 3000;
const LIVE_PATH = "/api/health/live";

export interface HealthcheckResult {
  ok: boolean;
  /** The one line to print. */
  message: string;
  status?: number;
}

export interface HealthcheckOptions {
  /** Full URL to GET; defaults to this host's live endpoint (see defaultHealthcheckUrl). */
  url?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** http(s)://127.0.0.1:${PORT:-8084}/api/health/live; https when the broker serves TLS. */
export function defaultHealthcheckUrl(env: NodeJS.ProcessEnv = process.env): string {
  const tls = Boolean(env.TLS_PFX_FILE?.trim() || env.TLS_CERT_FILE?.trim());
  const port = env.PORT?.trim() || "8084";
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new Error(`PORT must be a TCP port (1-65535), got "${port}"`);
  }
  return `${tls ? "https" : "http"}://127.0.0.1:${port}${LIVE_PATH}`;
}

/** "3", "3s", "2.5s", "500ms" → milliseconds. A bare number is seconds. */
export function parseTimeout(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$/.exec(text);
  if (!m) throw new Error(`--timeout must be a duration such as 3, 3s or 500ms, got "${text}"`);
  const n = Number(m[1]);
  const ms = m[2] === "ms" ? n : n * 1000;
  if (!(ms > 0) || ms > 600_000) throw new Error(`--timeout must be between 1ms and 600s, got "${text}"`);
  return Math.round(ms);
}

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case "ECONNREFUSED":
      return "connection refused (is the broker listening on this port?)";
    case "ECONNRESET":
      return "connection reset";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    default:
      return e?.code ? `${e.code}: ${e.message}` : String(err);
  }
}

/** One GET; never throws, never rejects. */
export function checkHealth(opts: HealthcheckOptions = {}): Promise<HealthcheckResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_HEALTHCHECK_TIMEOUT_MS;
  let url: URL;
  try {
    url = new URL(opts.url ?? defaultHealthcheckUrl(opts.env ?? process.env));
  } catch (err) {
    return Promise.resolve({ ok: false, message: `unhealthy: ${err instanceof Error ? err.message : String(err)}` });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return Promise.resolve({ ok: false, message: `unhealthy: only http and https URLs are supported, got ${url.protocol}` });
  }
  const target = url.toString();
  const started = Date.now();

  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: HealthcheckResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    const requestOptions: https.RequestOptions = {
      method: "GET",
      headers: { accept: "application/json", "user-agent": "wechat-token-broker-healthcheck" },
      // No keep-alive agent: nothing may hold the process open after the answer.
      agent: false,
    };
    // The broker's certificate is usually self-signed or issued for a public name, never for 127.0.0.1.
    // Skipping verification is acceptable for a check of this very host, and only for it.
    if (url.protocol === "https:" && isLoopbackHost(url.hostname)) requestOptions.rejectUnauthorized = false;

    const onResponse = (res: http.IncomingMessage): void => {
      const status = res.statusCode ?? 0;
      res.resume();
      const ms = Date.now() - started;
      if (status === 200) finish({ ok: true, status, message: `healthy: HTTP 200 from ${target} in ${ms} ms` });
      else finish({ ok: false, status, message: `unhealthy: HTTP ${status} from ${target} in ${ms} ms` });
    };
    const req = url.protocol === "https:" ? https.request(url, requestOptions, onResponse) : http.request(url, requestOptions, onResponse);
    const timer = setTimeout(() => {
      finish({ ok: false, message: `unhealthy: no answer from ${target} within ${timeoutMs} ms` });
    }, timeoutMs);
    req.on("error", (err) => finish({ ok: false, message: `unhealthy: ${describeError(err)} at ${target}` }));
    req.end();
  });
}

export function registerHealthcheck(program: Command): void {
  program
    .command("healthcheck")
    .description(
      "GET /api/health/live on this host (the container's HEALTHCHECK): exit 0 on HTTP 200, 1 otherwise. " +
        "Uses https when TLS_PFX_FILE or TLS_CERT_FILE is set, and PORT (default 8084).",
    )
    .option("--timeout <duration>", "give up after this long: 3, 3s or 500ms", "3s")
    .option("--url <url>", "check this URL instead of http(s)://127.0.0.1:$PORT/api/health/live")
    .action(async (options: { timeout: string; url?: string }) => {
      let timeoutMs: number;
      try {
        timeoutMs = parseTimeout(options.timeout);
      } catch (err) {
        console.error(`unhealthy: ${err instanceof Error ? err.message : String(err)}`);
        process.exitCode = 1;
        return;
      }
      const result = await checkHealth({ url: options.url, timeoutMs });
      if (result.ok) console.log(result.message);
      else console.error(result.message);
      process.exitCode = result.ok ? 0 : 1;
    });
}
