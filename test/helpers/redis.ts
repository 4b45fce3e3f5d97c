// Starts a private redis-server for a test on a free loopback port. Never touches the machine's shared 6379.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Socket } from "node:net";
import { freePort } from "./ports";

export interface TestRedis {
  port: number;
  url: string;
  /** Stop the server (SIGTERM), keeping the port for a later start(). */
  stop(): Promise<void>;
  /** Start it again on the same port (after stop()). Data is gone: it keeps nothing on disk. */
  start(): Promise<void>;
  /** Run a redis-cli command against it and return stdout, trimmed. */
  cli(...args: string[]): string;
  /** Stop for good and remove its directory. */
  close(): Promise<void>;
}

export function redisServerAvailable(): boolean {
  return spawnSync("redis-server", ["--version"]).status === 0;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port` (a redis-server just spawned). */
export function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = new Socket();
      s.once("connect", () => {
        s.destroy();
        resolve();
      });
      s.once("error", () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`redis-server did not listen on ${port}`));
        else setTimeout(attempt, 25);
      });
      s.connect(port, "127.0.0.1");
    };
    attempt();
  });
}

export async function startRedis(opts: { password?: string; extraArgs?: string[] } = {}): Promise<TestRedis> {
  if (!redisServerAvailable()) {
    throw new Error("redis-server is not installed: run `apt-get install -y redis-server` (the tests start their own instances)");
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "wtb-redis-"));
  let proc: ChildProcess | null = null;

  const args = () => [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--logfile",
    "",
    "--daemonize",
    "no",
    ...(opts.password ? ["--requirepass", opts.password] : []),
    ...(opts.extraArgs ?? []),
  ];

  async function start() {
    proc = spawn("redis-server", args(), { stdio: "ignore" });
    await waitForPort(port, 5000);
  }

  async function stop() {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once("exit", () => resolve());
      p.kill("SIGTERM");
    });
  }

  await start();
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : "";
  return {
    port,
    url: `redis://${auth}127.0.0.1:${port}`,
    start,
    stop,
    cli: (...a: string[]) => {
      const r = spawnSync("redis-cli", ["-p", String(port), ...(opts.password ? ["-a", opts.password, "--no-auth-warning"] : []), ...a], {
        encoding: "utf8",
      });
      return (r.stdout ?? "").trim();
    },
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
