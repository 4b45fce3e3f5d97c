// Lock listing and stuck-lock cleanup over HTTP. Admin only (with no API keys configured the broker listens on
// loopback only and local callers are admin, so the runbook's bare curl works).
//
//   GET  /api/locks                                   list (JSON by default)
//   POST /api/locks/cleanup            {dryRun?}      remove stuck locks (JSON by default)
//   GET|POST /cleanup_expired_locks(.php) ?dryRun=…  the runbook's URL (text by default). GET really cleans up, as
//        the runbook's plain `curl` expects: the operation only removes keys no live holder can own (ops/locks.ts,
//        ops/legacyLocks.ts), is idempotent and atomic per key, so a repeated or prefetched GET
//        does no harm. Add ?dryRun=true to preview.
import type { CleanupResult, LockInspector } from "../../ops/locks";
import { renderCleanupText, renderLockListingText } from "../../ops/locksText";
import { responseFormat, type ResponseFormat } from "../negotiate";
import { optionalBoolean, queryBoolean } from "../params";
import type { Call, Reply, RouteDef } from "../route";

export function lockRoutes(locks: LockInspector): RouteDef[] {
  const cleanup =
    (fallback: ResponseFormat) =>
    async (call: Call): Promise<Reply> => {
      const format = responseFormat(call.req, fallback);
      const fromQuery = queryBoolean(call.req, "dryRun");
      const fromBody = call.req.method === "POST" ? optionalBoolean(call.body, "dryRun") : undefined;
      const result = await locks.cleanup({ dryRun: fromBody ?? fromQuery ?? false });
      if (!result.dryRun && result.removed.length > 0) {
        // An audit line: who removed which keys.
        call.log().warn({ by: call.principal.name, removed: result.removed }, "stuck locks removed");
      }
      return cleanupReply(format, result);
    };
  // The JSON bodies are parsed only once the caller is known to be an admin (the role is checked before the body).
  const admin = { access: "key", role: "admin" } as const;
  return [
    {
      method: "GET",
      paths: ["/api/locks"],
      ...admin,
      handle: async (call) => {
        const format = responseFormat(call.req, "json");
        const listing = await locks.list();
        return format === "text" ? { text: renderLockListingText(listing), contentType: TEXT } : { json: listing };
      },
    },
    { method: "POST", paths: ["/api/locks/cleanup"], ...admin, body: "json", handle: cleanup("json") },
    { method: "GET", paths: ["/cleanup_expired_locks", "/cleanup_expired_locks.php"], ...admin, handle: cleanup("text") },
    { method: "POST", paths: ["/cleanup_expired_locks", "/cleanup_expired_locks.php"], ...admin, body: "json", handle: cleanup("text") },
  ];
}

const TEXT = "text/plain; charset=utf-8";

function cleanupReply(format: ResponseFormat, result: CleanupResult): Reply {
  return format === "text" ? { text: renderCleanupText(result), contentType: TEXT } : { json: result };
}
