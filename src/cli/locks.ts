// `wechat-token-broker locks list|cleanup`: the lock listing and stuck-lock cleanup of GET /api/locks and
// POST /api/locks/cleanup. With REDIS_URL straight against Redis (no HTTP server needed); in embedded mode the
// locks live in the running broker's memory, so it asks that broker over HTTP.
import type { Command } from "commander";
import type { Config } from "../config";
import { locksFromCore, type CleanupResult, type LockListing } from "../ops/locks";
import { renderCleanupText, renderLockListingText } from "../ops/locksText";
import { brokerError } from "./askBroker";
import { CONFIG_HELP, configOr, EXIT, processIo, withCore, type CliIo } from "./common";
import { ask, EMBEDDED_HELP, embedded, printError, RemoteFailure } from "./remote";

export interface LocksCliOptions {
  dryRun?: boolean;
  json?: boolean;
}

function print(io: CliIo, action: "list" | "cleanup", result: LockListing | CleanupResult, json: boolean): void {
  if (json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else io.stdout(action === "list" ? renderLockListingText(result as LockListing) : renderCleanupText(result as CleanupResult));
}

/** Embedded mode: the running broker's GET /api/locks or POST /api/locks/cleanup (admin). */
async function locksThroughBroker(config: Config, action: "list" | "cleanup", opts: LocksCliOptions, io: CliIo): Promise<number> {
  const req =
    action === "list"
      ? { method: "GET" as const, path: "/api/locks" }
      : { method: "POST" as const, path: "/api/locks/cleanup", body: { dryRun: opts.dryRun === true } };
  try {
    const answer = await ask(config, req, 30_000);
    const error = brokerError(answer);
    if (error !== undefined) {
      printError(io, `locks ${action}`, error, opts.json === true);
      return EXIT.failure;
    }
    print(io, action, answer.json as LockListing | CleanupResult, opts.json === true);
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof RemoteFailure)) throw err;
    printError(io, `locks ${action}`, err.error, opts.json === true);
    return err.exitCode;
  }
}

/** The command's action; returns the exit code. */
export async function runLocks(action: "list" | "cleanup", opts: LocksCliOptions, io: CliIo = processIo): Promise<number> {
  const config = configOr(io);
  if (typeof config === "number") return config;
  if (embedded(config)) return locksThroughBroker(config, action, opts, io);
  return withCore(config, io, async (core) => {
    const inspector = locksFromCore(core);
    if (action === "list") {
      print(io, action, await inspector.list(), opts.json === true);
      return EXIT.ok;
    }
    print(io, action, await inspector.cleanup({ dryRun: opts.dryRun === true }), opts.json === true);
    return EXIT.ok;
  });
}

const LOCKS_HELP = `
Stuck = a broker lock key without TTL (the broker's own keys always have one), or a legacy key
(LOCK_CLEANUP_PATTERNS) without TTL that no live holder can own: its value names an expiry that has passed, or a
time (a bare timestamp, or when it was taken) more than LEGACY_LOCK_MAX_HOLD_SEC ago. A legacy key with no time in
its value is kept (its age is unknown). Keys with a TTL are never removed; each key in the output says why it was
removed or kept. Each removal is atomic (compare-and-delete in Lua), so a lock taken again meanwhile survives.
SCAN only, never KEYS.
In embedded mode (no REDIS_URL) the locks live inside the running broker, which lists them and removes nothing (an
in-process lock expires by itself).${EMBEDDED_HELP}

Exit codes: 0 done (also when nothing was stuck), 1 Redis could not be read or written, 2 invalid configuration,
69 embedded mode: no broker answers at BROKER_URL, 77 embedded mode: the broker refused the API key (admin needed).`;

export function registerLocks(program: Command): void {
  const locks = program
    .command("locks")
    .description("List the refresh locks, or remove stuck ones")
    .addHelpText("after", `${LOCKS_HELP}\n${CONFIG_HELP}`);
  locks
    .command("list")
    .description("List every lock key: the broker's own and legacy ones matching LOCK_CLEANUP_PATTERNS")
    .option("--json", "print JSON (the same shape as GET /api/locks)")
    .addHelpText("after", LOCKS_HELP)
    .action(async (options: LocksCliOptions) => {
      process.exitCode = await runLocks("list", options);
    });
  locks
    .command("cleanup")
    .description("Remove stuck locks only (see below); locks that may be live are never touched")
    .option("--dry-run", "show what would be removed, remove nothing")
    .option("--json", "print JSON (the same shape as POST /api/locks/cleanup)")
    .addHelpText("after", LOCKS_HELP)
    .action(async (options: LocksCliOptions) => {
      process.exitCode = await runLocks("cleanup", options);
    });
}
