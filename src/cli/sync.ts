// `wechat-token-broker sync <accountId>`: what the HTTP sync does, from cron, against the configured store.
import type { Command } from "commander";
import { ForceBudgetError, RefreshTimeoutError, StoreUnavailableError, UnknownAccountError, UpstreamUnavailableError } from "../broker/errors";
import type { ErrClass } from "../wechat/types";
import { buildCore } from "../server";
import { syncJson } from "../http/routes/sync";
import { toHttp } from "../http/errors";
import { CliExit, commandLogger, CONFIG_HELP, EXIT, loadConfigOrExit } from "./common";

/** One exit code per error class, so cron wrappers can tell "fix the whitelist" from "retry later". */
export const SYNC_EXIT: Record<ErrClass | "unknown_account" | "store" | "timeout" | "force_budget", number> = {
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
};

export function syncExitCode(err: unknown): number {
  if (err instanceof UpstreamUnavailableError) return SYNC_EXIT[err.errclass];
  if (err instanceof UnknownAccountError) return SYNC_EXIT.unknown_account;
  if (err instanceof StoreUnavailableError) return SYNC_EXIT.store;
  if (err instanceof RefreshTimeoutError) return SYNC_EXIT.timeout;
  if (err instanceof ForceBudgetError) return SYNC_EXIT.force_budget;
  return EXIT.failure;
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

Exit codes:
  0  the token is up to date          12 configuration error at WeChat (40164 whitelist, 40125 secret, …)
  1  unexpected failure               13 WeChat console action needed (89503 admin confirmation, …)
  2  invalid broker configuration     14 quota exhausted (45009 / 45011)
  10 transient upstream failure       15 request rejected as malformed (a bug)
  11 token rejected                   16 unknown account id
  17 store (Redis) unavailable        18 timed out waiting for another replica's refresh
  19 force budget exhausted`,
    )
    .action(async (accountId: string, opts: { force?: boolean; json?: boolean }) => {
      const config = loadConfigOrExit();
      const core = buildCore(config, commandLogger(config), { defaultMetrics: false });
      try {
        const result = await core.service.sync(accountId, { force: opts.force });
        const out = syncJson(result);
        console.log(opts.json ? JSON.stringify(out) : `✓ ${accountId}: ${out.refreshed ? "refreshed" : "already up to date"}; valid for ${out.expiresIn} s (${out.api}), ${out.durationMs} ms`);
      } catch (err) {
        const { body } = toHttp(err);
        const e = body.error;
        const text = opts.json
          ? JSON.stringify(body)
          : [`✗ ${accountId}: ${e.message}`, e.hint ? `  fix: ${e.hint}` : "", e.hintZh ? `  处理：${e.hintZh}` : ""].filter(Boolean).join("\n");
        throw new CliExit(syncExitCode(err), text, opts.json ? "stdout" : "stderr");
      } finally {
        await core.close();
      }
    });
}
