// Runs the real CLI (`bin/wechat-token-broker.js`) as separate OS processes, as replicas do in production.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { freePort } from "./ports";

export const BIN = join(__dirname, "..", "..", "bin", "wechat-token-broker.js");

export interface BrokerProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  output(): string;
  /** SIGTERM and wait for exit; resolves with the exit code. */
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

/** Starts `wechat-token-broker serve` with the given environment and waits until it is ready. */
export async function startBrokerProcess(env: Record<string, string>, opts: { readyTimeoutMs?: number } = {}): Promise<BrokerProcess> {
  const port = await freePort();
  let out = "";
  const proc = spawn(process.execPath, [BIN, "serve"], {
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: String(port), LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString("utf8")));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString("utf8")));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) => proc.once("exit", (code) => reject(new Error(`broker exited early (${code}):\n${out}`))));
  await Promise.race([waitForHttp(`${url}/api/health/ready`, opts.readyTimeoutMs ?? 20_000), exited]);
  exited.catch(() => {});
  return {
    url,
    port,
    proc,
    output: () => out,
    stop: (signal = "SIGTERM") =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve(proc.exitCode);
        proc.once("exit", (code) => resolve(code));
        proc.kill(signal);
      }),
  };
}
