import type { Command } from "commander";
import { startBroker } from "../server";
import { CRASH_EXIT_CODE, installProcessGuard } from "../processGuard";
import { CliExit, CONFIG_HELP, cliLogger, EXIT, loadConfigOrExit } from "./common";
import { listenFailure } from "./failures";
import { missingNodeFlags } from "./nodeFlags";

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("Run the broker: serve tokens over HTTP and refresh them ahead of expiry")
    .addHelpText(
      "after",
      `${CONFIG_HELP}

Exit codes: 0 stopped cleanly (SIGTERM/SIGINT), 1 failed to start (e.g. port in use), 2 invalid configuration,
${CRASH_EXIT_CODE} an uncaught exception (a bug; logged with its stack, then closed as on SIGTERM).
On SIGTERM it stops accepting connections, finishes in-flight requests and refreshes (releasing their locks)
within SHUTDOWN_TIMEOUT_MS, closes Redis and exits 0. An unhandled promise rejection is logged with its stack and
counted in wtb_process_errors_total; the broker keeps serving.`,
    )
    .action(async () => {
      const config = loadConfigOrExit();
      const logger = cliLogger(config);
      const missing = missingNodeFlags();
      if (missing.length > 0)
        logger.info(
          { missing },
          `node runs without ${missing.join(" ")}: under load after an idle spell, token hits may cost more CPU and stall for a collection every few seconds; the container image passes them (src/cli/nodeFlags.ts)`,
        );
      // Installed before anything starts; the close is bounded a little beyond the shutdown's own bound.
      const guard = installProcessGuard({ logger, closeTimeoutMs: config.shutdownTimeoutMs + 2_000 });
      const broker = await startBroker(config, logger).catch((err: unknown) => {
        const why = listenFailure(err, config);
        throw why ? new CliExit(EXIT.failure, why) : err;
      });
      guard.attach({ count: (kind) => broker.core.metrics.processError(kind), close: () => broker.close() });
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info({ signal }, "signal received");
          broker.close().then(resolve, (err: unknown) => {
            logger.error({ err: err instanceof Error ? err.message : String(err) }, "error while shutting down");
            process.exitCode = EXIT.failure;
            resolve();
          });
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
    });
}
