// What the subcommands share: loading the configuration with one clear report, and exit codes.
import { ConfigError, loadConfig, type Config } from "../config";
import pino from "pino";
import { createLogger, type Logger } from "../logger";

/** Exit codes of the CLI (documented in each command's --help). */
export const EXIT = {
  ok: 0,
  failure: 1,
  config: 2,
  usage: 64,
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

/** The long-running server logs to stdout (the container log). */
export function cliLogger(config: Pick<Config, "logLevel">): Logger {
  return createLogger({ level: config.logLevel });
}

/** One-shot commands (sync, diagnose, locks) print their result on stdout; their logs go to stderr, and only
 * errors unless LOG_LEVEL asks for more, so a cron mail or a pipe gets the result, not the broker's chatter. */
export function commandLogger(env: NodeJS.ProcessEnv = process.env): Logger {
  return createLogger({ level: env.LOG_LEVEL ?? "error", destination: pino.destination(2) });
}

export const CONFIG_HELP = `
Configuration comes from environment variables (see docs/configuration.md), e.g.:
  PORT=8084 HOST=127.0.0.1 REDIS_URL=redis://127.0.0.1:6379 ACCOUNTS_FILE=/etc/wtb/accounts.yaml
  API_KEYS_FILE=/etc/wtb/api-keys.yaml WECHAT_API_BASE=https://api.weixin.qq.com
Without REDIS_URL the broker runs embedded (in-memory store, one replica).`;
