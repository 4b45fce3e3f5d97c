// What the hardening tests share: a broker wired like `serve` wires it (with every operations router), a raw HTTP
// client that can send what no well-behaved client would, `serve` processes with their output, private Redis
// inspection, and leak checks. Everything here is asynchronous: the simulator and Redis clients live in the test
// process, and a blocking call would starve them.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { connect, createServer as createNetServer } from "node:net";
import { Writable } from "node:stream";
import Redis from "ioredis";
import { loadConfig, type Config } from "../../src/config";
import { startBroker } from "../../src/server";
import type { Core } from "../../src/core";
import { createLogger } from "../../src/logger";
import { freePort } from "../helpers/ports";
import { sleep, waitUntil } from "../helpers/wait";

// ---- a broker as `serve` builds it, in this process ---------------------------------------------------------

export interface FullBroker {
  config: Config;
  core: Core;
  port: number;
  url: string;
  /** Every log line the broker wrote (the production logger and its redaction, at the level asked). */
  logs: string[];
  close(): Promise<void>;
}

/**
 * loadConfig(env) → src/server.ts startBroker, exactly what `serve` runs (every router it mounts, the scheduler,
 * the server's timeouts), on a real listening socket. The production logger writes into `logs`.
 */
export async function startFullBroker(env: Record<string, string>, opts: { logLevel?: string } = {}): Promise<FullBroker> {
  const config = loadConfig({ HOST: "127.0.0.1", PORT: String(await freePort()), ...env });
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      cb();
    },
  });
  const logger = createLogger({ level: opts.logLevel ?? "debug", destination });
  const running = await startBroker(config, logger);
  return { config, core: running.core, port: running.port, url: running.url, logs, close: () => running.close() };
}

// ---- raw HTTP ---------------------------------------------------------------------------------------------

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  text: string;
  /** Everything received, as latin1 (for leak checks over headers and body together). */
  wire: string;
}

/** Parses one HTTP/1.1 response (skipping interim 1xx answers); null when nothing complete arrived. */
export function parseResponse(buf: Buffer): RawResponse | null {
  let rest = buf;
  for (;;) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) return null;
    const head = rest.subarray(0, end).toString("latin1");
    const lines = head.split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
    if (!m) return null;
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      if (i > 0) {
        const k = line.slice(0, i).trim().toLowerCase();
        const v = line.slice(i + 1).trim();
        headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
      }
    }
    let body = rest.subarray(end + 4);
    if (status >= 100 && status < 200) {
      rest = body;
      continue;
    }
    if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
      const parts: Buffer[] = [];
      let b = body;
      for (;;) {
        const le = b.indexOf("\r\n");
        if (le < 0) break;
        const size = parseInt(b.subarray(0, le).toString("latin1"), 16);
        if (!Number.isFinite(size) || size === 0) break;
        parts.push(b.subarray(le + 2, le + 2 + size));
        b = b.subarray(le + 2 + size + 2);
      }
      body = Buffer.concat(parts);
    } else if (headers["content-length"] !== undefined) {
      body = body.subarray(0, Number(headers["content-length"]));
    }
    return { status, headers, body, text: body.toString("utf8"), wire: buf.toString("latin1") };
  }
}

/**
 * Sends raw bytes on a fresh connection and reads until the server closes it (send `Connection: close`).
 * Resolves null when the server closed without an answer, or rejects after `timeoutMs` with no close.
 */
export function rawRequest(port: number, bytes: Buffer | string, timeoutMs = 10_000): Promise<RawResponse | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer and no close within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on("data", (d: Buffer) => chunks.push(d));
    // The server may answer and close before reading the whole request (413, 400): EPIPE/ECONNRESET then.
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(chunks)));
    });
    // No half-close: Node's server aborts a request whose client sent FIN before the answer was written
    // (httpAllowHalfOpen is off), which would hide the answer. `Connection: close` makes the server close.
    s.write(bytes);
  });
}

/** Builds a request's bytes. Header values and the target are sent exactly as given. */
export function httpBytes(
  method: string,
  target: string | Buffer,
  headers: Array<[string, string | Buffer]>,
  body?: Buffer | string,
): Buffer {
  const parts: Buffer[] = [
    Buffer.from(`${method} `),
    Buffer.isBuffer(target) ? target : Buffer.from(target, "latin1"),
    Buffer.from(" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"),
  ];
  const b = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  for (const [k, v] of headers) parts.push(Buffer.from(`${k}: `), Buffer.isBuffer(v) ? v : Buffer.from(v, "latin1"), Buffer.from("\r\n"));
  if (b !== undefined && !headers.some(([k]) => /^(content-length|transfer-encoding)$/i.test(k)))
    parts.push(Buffer.from(`Content-Length: ${b.length}\r\n`));
  parts.push(Buffer.from("\r\n"));
  if (b !== undefined) parts.push(b);
  return Buffer.concat(parts);
}

// `serve` processes and the CLI: one implementation for every test, in test/helpers/processes.ts.
export { spawnServe, runCli, type ServeProcess } from "../helpers/processes";

// ---- Redis inspection -------------------------------------------------------------------------------------

/** A short-lived ioredis connection for looking at keys (never a blocking redis-cli). */
export async function withRedis<T>(url: string, fn: (r: Redis) => Promise<T>, opts: { tls?: { ca: Buffer } } = {}): Promise<T> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, ...(opts.tls ? { tls: { ca: opts.tls.ca } } : {}) });
  r.on("error", () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** Every key matching the pattern, with its PTTL (-1: no expiry). */
export async function keysWithTtl(r: Redis, pattern: string): Promise<Array<{ key: string; pttl: number }>> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await r.scan(cursor, "MATCH", pattern, "COUNT", 500);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return Promise.all(keys.sort().map(async (key) => ({ key, pttl: await r.pttl(key) })));
}

// ---- assertions -------------------------------------------------------------------------------------------

/** Fails when any of `secrets` occurs in `text`; names the secret by its first characters only. */
export function assertNoSecret(text: string, secrets: readonly string[], where: string): void {
  for (const s of secrets) {
    if (s.length > 0 && text.includes(s)) assert.fail(`${where} contains the secret ${s.slice(0, 6)}…`);
  }
}

/** A value from /metrics by exact series, NaN when absent. */
export function metric(text: string, series: string): number {
  const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const m = new RegExp(`^${escaped} ([0-9.eE+-]+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

export { sleep, waitUntil };

// ---- a redis-server we control fully (TLS, SIGSTOP) ---------------------------------------------------------

export interface OwnRedis {
  port: number;
  /** The process, for signals (SIGSTOP/SIGCONT to freeze it). */
  proc(): ChildProcess;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Starts redis-server with these extra arguments on a free port (plain, or TLS-only with `tls`). */
export async function launchRedis(opts: {
  dir: string;
  extraArgs?: string[];
  tls?: { cert: string; key: string; ca: string };
}): Promise<OwnRedis> {
  const port = await freePort();
  let proc: ChildProcess | null = null;
  const args = [
    ...(opts.tls
      ? [
          "--port",
          "0",
          "--tls-port",
          String(port),
          "--tls-cert-file",
          opts.tls.cert,
          "--tls-key-file",
          opts.tls.key,
          "--tls-ca-cert-file",
          opts.tls.ca,
          "--tls-auth-clients",
          "no",
        ]
      : ["--port", String(port)]),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    opts.dir,
    "--logfile",
    "",
    "--daemonize",
    "no",
    ...(opts.extraArgs ?? []),
  ];
  const start = async () => {
    const p = spawn("redis-server", args, { stdio: "ignore" });
    proc = p;
    const deadline = Date.now() + 5000;
    for (;;) {
      const up = await new Promise<boolean>((resolve) => {
        const s = connect(port, "127.0.0.1");
        s.once("connect", () => {
          s.destroy();
          resolve(true);
        });
        s.once("error", () => resolve(false));
      });
      if (up) return;
      if (p.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server ${args.join(" ")} did not start`);
      await sleep(25);
    }
  };
  const stop = async () => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => p.once("exit", () => resolve()));
    p.kill("SIGCONT");
    p.kill("SIGTERM");
    await gone;
  };
  await start();
  return {
    port,
    proc: () => {
      if (!proc) throw new Error("redis-server is not running");
      return proc;
    },
    start,
    stop,
    close: stop,
  };
}

/** Runs a command to completion, asynchronously; resolves with its exit code and output. */
export function runCommand(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    p.stdout.on("data", (d: Buffer) => (output += d.toString("utf8")));
    p.stderr.on("data", (d: Buffer) => (output += d.toString("utf8")));
    p.once("error", (err) => resolve({ code: -1, output: `${output}${String(err)}` }));
    p.once("close", (code) => resolve({ code, output }));
  });
}

// ---- load -------------------------------------------------------------------------------------------------

export interface Sample {
  phase: string;
  url: string;
  /** 0 when no answer came (connection refused or reset, or the client's timeout). */
  status: number;
  ms: number;
  token?: string;
  /** The error body's fields, when the answer was an error. */
  code?: string;
  errclass?: string;
  errcode?: number;
  breakerOpen?: boolean;
  ip?: string;
  retryAfter?: string | null;
  error?: string;
}

/**
 * `workers` loops, each sending GET requests to the URLs in turn until stopped. Every request has a client
 * timeout; `phase()` labels each sample with the phase of the test it started in.
 */
export function startLoad(
  urls: string[],
  opts: { workers: number; timeoutMs: number; phase: () => string; headers?: Record<string, string>; pauseMs?: number },
): { stop(): Promise<Sample[]> } {
  const samples: Sample[] = [];
  let stopped = false;
  let next = 0;
  const worker = async () => {
    while (!stopped) {
      const url = urls[next++ % urls.length]!;
      const phase = opts.phase();
      const started = performance.now();
      try {
        const res = await fetch(url, { headers: opts.headers, signal: AbortSignal.timeout(opts.timeoutMs) });
        const text = await res.text();
        const sample: Sample = {
          phase,
          url,
          status: res.status,
          ms: performance.now() - started,
          retryAfter: res.headers.get("retry-after"),
        };
        try {
          const body = JSON.parse(text) as {
            accessToken?: string;
            error?: { code?: string; errclass?: string; errcode?: number; breakerOpen?: boolean; ip?: string };
          };
          sample.token = body.accessToken;
          if (body.error) {
            sample.code = body.error.code;
            sample.errclass = body.error.errclass;
            sample.errcode = body.error.errcode;
            sample.breakerOpen = body.error.breakerOpen;
            sample.ip = body.error.ip;
          }
        } catch {
          // not JSON
        }
        samples.push(sample);
      } catch (err) {
        samples.push({
          phase,
          url,
          status: 0,
          ms: performance.now() - started,
          error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
        });
      }
      if (opts.pauseMs) await sleep(opts.pauseMs);
    }
  };
  const running = Array.from({ length: opts.workers }, () => worker());
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(running);
      return samples;
    },
  };
}

/** Polls a URL's status every `everyMs` until stopped: [phase, status][] (0 = no answer). */
/** The `status` a JSON answer states ("" when it is not JSON or has none), e.g. /api/health/ready's. */
function statedStatus(text: string): string {
  try {
    const body = JSON.parse(text) as { status?: unknown };
    return typeof body.status === "string" ? body.status : "";
  } catch {
    return "";
  }
}

/** What /api/health/ready says now: `ready`, `serving_cached` or `not_ready`. */
export async function readiness(baseUrl: string): Promise<string> {
  return statedStatus(await (await fetch(`${baseUrl}/api/health/ready`)).text());
}

export function startPolling(url: string, everyMs: number, phase: () => string): { stop(): Promise<Array<[string, number, string]>> } {
  // [phase, HTTP status (0: no answer), the JSON body's `status` ("" when it has none)]
  const seen: Array<[string, number, string]> = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const p = phase();
      const [status, said] = await fetch(url, { signal: AbortSignal.timeout(2000) }).then(
        async (r): Promise<[number, string]> => [r.status, statedStatus(await r.text())],
        (): [number, string] => [0, ""],
      );
      seen.push([p, status, said]);
      await sleep(everyMs);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return seen;
    },
  };
}

// ---- a TCP proxy that can hold one side's traffic (a network that delivers late) -------------------------------

export interface HoldingProxy {
  port: number;
  /** From now on, bytes from clients are kept instead of forwarded. */
  hold(): void;
  /** Forwards what was kept, in order, and forwards again from now on. */
  release(): void;
  close(): Promise<void>;
}

export async function startHoldingProxy(targetPort: number): Promise<HoldingProxy> {
  let holding = false;
  const pipes: Array<{ queue: Buffer[]; upstream: import("node:net").Socket; client: import("node:net").Socket }> = [];
  const server = createNetServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    const pipe = { queue: [] as Buffer[], upstream, client };
    pipes.push(pipe);
    client.on("data", (d: Buffer) => (holding ? pipe.queue.push(d) : upstream.write(d)));
    upstream.on("data", (d: Buffer) => client.write(d));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as import("node:net").AddressInfo).port;
  return {
    port,
    hold: () => void (holding = true),
    release: () => {
      holding = false;
      for (const p of pipes) for (const d of p.queue.splice(0)) p.upstream.write(d);
    },
    close: async () => {
      for (const p of pipes) {
        p.client.destroy();
        p.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
