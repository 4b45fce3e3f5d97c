// `wechat-token-broker locks list|cleanup`: the lock listing and stuck-lock cleanup of GET /api/locks and
// POST /api/locks/cleanup, straight against Redis (no HTTP server needed).
import type { Command } from "commander";
import { EMBEDDED_NOTE, locksFromCore } from "../ops/locks";
import { renderCleanupText, renderLockListingText } from "../ops/locksText";

import { CONFIG_HELP, EXIT, processIo, withCore, type CliIo } from "./common";

export interface LocksCliOptions {
  dryRun?: boolean;
  json?: boolean;
}

function embeddedNote(port: number): string {
  return `${EMBEDDED_NOTE} This command is a separate process: ask the running broker instead, curl http://127.0.0.1:${port}/api/locks`;
}

/** The command's action; returns the exit code. */
export async function runLocks(action: "list" | "cleanup", opts: LocksCliOptions, io: CliIo = processIo): Promise<number> {
  return withCore(io, async (core) => {
    const inspector = locksFromCore(core);
    if (action === "list") {
      const listing = await inspector.list();
      if (listing.mode === "embedded") listing.note = embeddedNote(core.config.port);
      io.stdout(opts.json ? `${JSON.stringify(listing, null, 2)}\n` : renderLockListingText(listing));
      return EXIT.ok;
    }
    const result = await inspector.cleanup({ dryRun: opts.dryRun === true });
    if (result.mode === "embedded") result.note = embeddedNote(core.config.port);
    io.stdout(opts.json ? `${JSON.stringify(result, null, 2)}\n` : renderCleanupText(result));
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
In embedded mode (no REDIS_URL) the locks live inside the running broker: nothing to list or remove from here.

Exit codes: 0 done (also when nothing was stuck), 1 Redis could not be read or written, 2 invalid configuration.`;

export function registerLocks(program: Command): void {
  const locks = program.command("locks").description("List the refresh locks, or remove stuck ones").addHelpText("after", `${LOCKS_HELP}\n${CONFIG_HELP}`);
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
