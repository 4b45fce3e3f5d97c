// `wechat-token-broker sync <accountId>`: what the HTTP sync does, from cron. With REDIS_URL against the shared
// store; in embedded mode through the running broker's own HTTP sync (see remote.ts), never on a private copy.
import type { Command } from "commander";
import type { ErrClass } from "../wechat/types";
import { buildCore } from "../core";
import { syncJson } from "../http/routes/sync";
import { toHttp } from "../http/errors";
import { ACCOUNT_ID_PATTERN } from "../accounts";
import type { Config } from "../config";
import { commandLogger, CONFIG_HELP, configOr, EXIT, processIo, type CliIo } from "./common";
import { ask, EMBEDDED_HELP, embedded, printError, RemoteFailure } from "./remote";
import { brokerError } from "./askBroker";

/** One exit code per error class, so cron wrappers can tell "fix the whitelist" from "retry later". */
export const SYNC_EXIT: Record<ErrClass | "unknown_account" | "store" | "timeout" | "force_budget" | "ceiling", number> = {
  transient: 10,
  token_invalid: 11,
  config: 12,
  admin: 13,
  quota: 14,
  bug: 15,
  unknown_account: 16,
  store: 17,
  timeout: 18,
  force_budget: 19,
  ceiling: 20,
};

/**
 * The exit code of an error, read from its HTTP error body (src/http/errors.ts), so that a sync against Redis and one
 * through the running broker's HTTP API end with the same code for the same error.
 */
export function syncExitCodeOf(error: { code: string; errclass?: string }): number {
  if (error.code === "upstream_error")
    return error.errclass !== undefined && error.errclass in SYNC_EXIT ? SYNC_EXIT[error.errclass as ErrClass] : EXIT.failure;
  const byCode: Record<string, number> = {
    unknown_account: SYNC_EXIT.unknown_account,
    store_unavailable: SYNC_EXIT.store,
    refresh_timeout: SYNC_EXIT.timeout,
    force_budget_exhausted: SYNC_EXIT.force_budget,
    call_ceiling: SYNC_EXIT.ceiling,
  };
  return byCode[error.code] ?? EXIT.failure;
}

export function syncExitCode(err: unknown): number {
  return syncExitCodeOf(toHttp(err).body.error);
}

export interface SyncCliOptions {
  force?: boolean;
  json?: boolean;
}

type SyncOut = ReturnType<typeof syncJson>;

function printResult(io: CliIo, accountId: string, out: SyncOut, json: boolean): void {
  io.stdout(
    json
      ? `${JSON.stringify(out)}\n`
      : `✓ ${accountId}: ${out.refreshed ? "refreshed" : "already up to date"}; valid for ${out.expiresIn} s (${out.api}), ${out.durationMs} ms\n`,
  );
}

/** Embedded mode: the running broker's POST /api/accounts/{id}/sync, its answer printed as a local sync prints. */
async function syncThroughBroker(config: Config, accountId: string, opts: SyncCliOptions, io: CliIo): Promise<number> {
  if (!ACCOUNT_ID_PATTERN.test(accountId)) {
    printError(
      io,
      accountId,
      { code: "unknown_account", message: `No account with id ${JSON.stringify(accountId.slice(0, 80))} is configured.` },
      opts.json === true,
    );
    return SYNC_EXIT.unknown_account;
  }
  // The broker may wait for another refresh (lock TTL + one upstream call) and then fetch itself.
  const timeoutMs = config.lockTtlMs + config.upstreamTimeoutMs * 2 + 5_000;
  try {
    const answer = await ask(
      config,
      { method: "POST", path: `/api/accounts/${accountId}/sync`, body: { force: opts.force === true } },
      timeoutMs,
      SYNC_EXIT.timeout,
    );
    const error = brokerError(answer);
    if (answer.status >= 400 && error !== undefined) {
      printError(io, accountId, error, opts.json === true);
      return syncExitCodeOf(error);
    }
    printResult(io, accountId, answer.json as SyncOut, opts.json === true);
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof RemoteFailure)) throw err;
    printError(io, accountId, err.error, opts.json === true);
    return err.exitCode;
  }
}

/** The command's action; returns the exit code. */
export async function runSync(accountId: string, opts: SyncCliOptions, io: CliIo = processIo): Promise<number> {
  const config = configOr(io);
  if (typeof config === "number") return config;
  if (embedded(config)) return syncThroughBroker(config, accountId, opts, io);
  const core = buildCore(config, commandLogger(config, io), { defaultMetrics: false });
  try {
    const result = await core.service.sync(accountId, { force: opts.force });
    printResult(io, accountId, syncJson(result), opts.json === true);
    return EXIT.ok;
  } catch (err) {
    printError(io, accountId, toHttp(err).body.error, opts.json === true);
    return syncExitCode(err);
  } finally {
    await core.close();
  }
}

export function registerSync(program: Command): void {
  program
    .command("sync")
    .description("Bring an account's token up to date now (for cron jobs)")
    .argument("<accountId>", "the account id, e.g. gh_e4b07b2a992e6669")
    .option("--force", "refresh even if the current token is fine (uses the force budget: 20 a day, 30 s apart)")
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      `${CONFIG_HELP}
${EMBEDDED_HELP}

Exit codes:
  0  the token is up to date          12 configuration error at WeChat (40164 whitelist, 40125 secret, …)
  1  unexpected failure               13 WeChat console action needed (89503 admin confirmation, …)
  2  invalid broker configuration     14 quota exhausted (45009 / 45011)
  10 transient upstream failure       15 request rejected as malformed (a bug)
  11 token rejected                   16 unknown account id
  17 store (Redis) unavailable        18 timed out waiting for another replica's refresh
  19 force budget exhausted           20 the account's ceiling of upstream calls per minute is reached
  69 embedded mode: no running broker answers at BROKER_URL
  77 embedded mode: the broker refused the API key (BROKER_API_KEY)`,
    )
    .action(async (accountId: string, opts: SyncCliOptions) => {
      process.exitCode = await runSync(accountId, opts);
    });
}
