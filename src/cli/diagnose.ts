// `wechat-token-broker diagnose`: the quick diagnosis from the command line, built on the broker's own parts
// (buildCore) rather than on a running HTTP server, so it works when the server is down or unreachable. In Redis
// mode it sees what every replica shares (tokens, breaker, last errors, quota, locks); in embedded mode it is a
// process of its own and says so.
import type { Command } from "commander";
import { Writable } from "node:stream";
import type { Redis } from "ioredis";
import { ACCOUNT_ID_PATTERN } from "../accounts";
import { UnknownAccountError } from "../broker/errors";
import type { Config } from "../config";
import { createLogger, type Logger } from "../logger";
import { diagnosisFromCore } from "../ops/diagnosis";
import { renderDiagnosisText } from "../ops/diagnosisText";
import { locksFromCore } from "../ops/locks";
import { buildCore, type Core } from "../server";
import { version } from "../version";
import { CliExit, CONFIG_HELP, EXIT, loadConfigOrExit } from "./common";

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

/** Logs go to stderr: stdout carries the report (and must stay valid JSON with --json). */
export function stderrLogger(config: Pick<Config, "logLevel">, io: CliIo): Logger {
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      io.stderr(chunk.toString("utf8"));
      cb();
    },
  });
  return createLogger({ level: config.logLevel, destination });
}

/** Give a fresh Redis connection a moment to come up, so the first command does not fail on a cold socket. */
export async function waitForRedis(redis: Redis | null, ms: number): Promise<void> {
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

/** Builds the configured core, runs `fn`, closes it; config errors → 2, a bad account id → 64. */
export async function withCore(io: CliIo, fn: (core: Core) => Promise<number>): Promise<number> {
  let config: Config;
  try {
    config = loadConfigOrExit(io.env);
  } catch (err) {
    if (err instanceof CliExit) {
      io.stderr(`${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  const core = buildCore(config, stderrLogger(config, io), { defaultMetrics: false });
  try {
    await waitForRedis(core.redis, config.redis?.connectTimeoutMs ?? 0);
    return await fn(core);
  } catch (err) {
    if (err instanceof UnknownAccountError) {
      io.stderr(`${err.message}\n`);
      return EXIT.usage;
    }
    io.stderr(`${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failure;
  } finally {
    await core.close();
  }
}

export interface DiagnoseCliOptions {
  account?: string;
  probe?: boolean;
  json?: boolean;
}

/** The command's action; returns the exit code. */
export async function runDiagnose(opts: DiagnoseCliOptions, io: CliIo = processIo): Promise<number> {
  if (opts.account !== undefined && !ACCOUNT_ID_PATTERN.test(opts.account)) {
    io.stderr(`--account must match [A-Za-z0-9_-]{1,64}, got ${JSON.stringify(opts.account.slice(0, 80))}\n`);
    return EXIT.usage;
  }
  return withCore(io, async (core) => {
    const diagnosis = diagnosisFromCore(core, { version, locks: locksFromCore(core), viewpoint: "cli" });
    const report = await diagnosis.run({ accountId: opts.account, probe: opts.probe === true });
    io.stdout(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderDiagnosisText(report));
    return report.status === "fail" ? EXIT.failure : EXIT.ok;
  });
}

export function registerDiagnose(program: Command): void {
  program
    .command("diagnose")
    .description("Check configuration, Redis, every account's token, WeChat errors (with the fix), quota and locks")
    .option("--account <id>", "only this account")
    .option("--probe", "also ask WeChat whether each current token works (one get_api_domain_ip call per account)")
    .option("--json", "print the report as JSON (the same shape as GET /api/diagnosis)")
    .addHelpText(
      "after",
      `${CONFIG_HELP}

It builds the broker's parts from the same configuration as \`serve\` and reads the shared state in Redis, so it
works while the HTTP server is down. In embedded mode (no REDIS_URL) it cannot see a running broker's memory:
use  curl http://127.0.0.1:8084/quick_diagnosis.php  instead.
The report never contains a token, an AppSecret, an API key or a Redis password.

Exit codes: 0 every check passed (warnings allowed), 1 a check failed (or Redis could not be read),
2 invalid configuration, 64 unknown or malformed --account.`,
    )
    .action(async (options: DiagnoseCliOptions) => {
      process.exitCode = await runDiagnose(options);
    });
}
