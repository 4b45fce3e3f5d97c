// What the subcommands share: loading the configuration with one clear report, and exit codes.
import { ConfigError, loadConfig, type Config } from "../config";
import { Writable } from "node:stream";
import type { RedisClient } from "../store/redisClient";
import { UnknownAccountError } from "../broker/errors";
import { buildCore, type Core } from "../core";
import { createLogger, type Logger } from "../logger";
import { describeFailure } from "./failures";

/** Exit codes of the CLI (documented in each command's --help). */
export const EXIT = {
  ok: 0,
  failure: 1,
  config: 2,
  usage: 64,
  /** Embedded mode: no running broker answered at BROKER_URL (sysexits EX_UNAVAILABLE). */
  noBroker: 69,
  /** Embedded mode: the running broker refused BROKER_API_KEY, or none was set (sysexits EX_NOPERM). */
  auth: 77,
} as const;

/** Ends a command with an exit code and a message (stderr, or stdout for machine-readable output). */
export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    readonly stream: "stdout" | "stderr" = "stderr",
  ) {
    super(message);
  }
}

export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliExit(EXIT.config, err.message);
    throw err;
  }
}

/** The configuration, or the exit code after its problems were written to the command's stderr. */
export function configOr(io: Pick<CliIo, "env" | "stderr">): Config | number {
  try {
    return loadConfigOrExit(io.env);
  } catch (err) {
    if (!(err instanceof CliExit)) throw err;
    io.stderr(`${err.message}\n`);
    return err.exitCode;
  }
}

/** The long-running server logs to stdout (the container log). */
export function cliLogger(config: Pick<Config, "logLevel">): Logger {
  return createLogger({ level: config.logLevel });
}

/** One-shot commands (sync, diagnose, locks) print their result on stdout; their logs go to stderr, and only
 * errors unless LOG_LEVEL asks for more, so a cron mail or a pipe gets the result, not the broker's chatter. */
export function commandLogger(config: Pick<Config, "logLevel">, io: CliIo = processIo): Logger {
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      io.stderr(chunk.toString("utf8"));
      cb();
    },
  });
  return createLogger({ level: io.env.LOG_LEVEL !== undefined ? config.logLevel : "error", destination });
}

export const CONFIG_HELP = `
Configuration comes from environment variables (see docs/configuration.md), e.g.:
  PORT=8084 HOST=127.0.0.1 REDIS_URL=redis://127.0.0.1:6379 ACCOUNTS_FILE=/etc/wtb/accounts.yaml
  API_KEYS_FILE=/etc/wtb/api-keys.yaml WECHAT_API_BASE=https://api.weixin.qq.com
Without REDIS_URL (or REDIS_SENTINELS, REDIS_CLUSTER_NODES) the broker runs embedded (in-memory store, one replica).`;

/** Where a command writes, and what it reads the configuration from (tests pass their own). */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
}

export const processIo: CliIo = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  env: process.env,
};

/** Give a fresh Redis connection a moment to come up, so the first command does not fail on a cold socket. */
export async function waitForRedis(redis: RedisClient | null, ms: number): Promise<void> {
  if (!redis || redis.status === "ready") return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off("ready", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    redis.once("ready", done);
  });
}

/** Builds the core of a configuration the command already loaded (configOr), runs `fn`, closes it; a bad account
 * id → 64, any other failure → 1 with its cause and fix. */
export async function withCore(config: Config, io: CliIo, fn: (core: Core) => Promise<number>): Promise<number> {
  const core = buildCore(config, commandLogger(config, io), { defaultMetrics: false });
  try {
    await waitForRedis(core.redis, config.redis?.connectTimeoutMs ?? 0);
    return await fn(core);
  } catch (err) {
    if (err instanceof UnknownAccountError) {
      io.stderr(`${err.message}\n`);
      return EXIT.usage;
    }
    io.stderr(`${describeFailure(err, { config, redis: core.redis })}\n`);
    return EXIT.failure;
  } finally {
    await core.close();
  }
}
