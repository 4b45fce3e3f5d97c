// Runs the real CLI (`bin/wechat-token-broker.js`) as separate OS processes, as replicas do in production.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { freePort } from "./ports";

/** The checkout's launcher, as `npm start` runs it: on the sources through tsx (unless a `dist/` was built). */
export const SOURCE_BIN = join(__dirname, "..", "..", "bin", "wechat-token-broker.js");
/**
 * The launcher the tests start: the run's compiled build when scripts/run-tests.mjs made one (the same launcher
 * beside a compiled dist/, as the image runs it), else the checkout's own.
 */
export const BIN = process.env.WTB_TEST_BIN ?? SOURCE_BIN;

export interface ServeProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  output(): string;
  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  exited: Promise<number | null>;
  /** Sends the signal (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function waitForHttp(url: string, timeoutMs: number, ok = (s: number) => s === 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (ok(r.status)) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts `wechat-token-broker serve`. `wait`: "ready" waits for /api/health/ready to answer 200, "up" for any
 * answer of /api/health/live, "none" returns at once.
 */
export async function spawnServe(
  env: Record<string, string>,
  opts: {
    wait?: "ready" | "up" | "none";
    timeoutMs?: number;
    port?: number;
    /** Options for node itself, e.g. ["--require", file]. */ nodeArgs?: string[];
  } = {},
): Promise<ServeProcess> {
  const port = opts.port ?? (await freePort());
  let out = "";
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, "serve"], {
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: String(port), LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString("utf8")));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const wait = opts.wait ?? "ready";
  if (wait !== "none") {
    const early = exited.then((code) => {
      throw new Error(`serve exited early (${code}):\n${out}`);
    });
    early.catch(() => undefined);
    const path = wait === "ready" ? "/api/health/ready" : "/api/health/live";
    try {
      await Promise.race([waitForHttp(`${url}${path}`, opts.timeoutMs ?? 20_000), early]);
    } catch (err) {
      // Not left running, and what it printed goes with the error: a start that never got ready says why.
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      throw (err as Error).message.startsWith("serve exited early") ? err : new Error(`${(err as Error).message}; serve printed:\n${out}`);
    }
  }
  return {
    url,
    port,
    proc,
    output: () => out,
    exited,
    stop: async (signal = "SIGTERM") => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Runs the CLI to completion, asynchronously. */
export function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, timeout: timeoutMs });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

/** A `serve` process that is ready (GET /api/health/ready answers 200). */
export type BrokerProcess = ServeProcess;
export function startBrokerProcess(env: Record<string, string>, opts: { readyTimeoutMs?: number } = {}): Promise<BrokerProcess> {
  return spawnServe(env, { wait: "ready", timeoutMs: opts.readyTimeoutMs });
}
