// Lock listing and stuck-lock cleanup over HTTP. Admin only (with no API keys configured the broker listens on
// loopback only and local callers are admin, so the runbook's bare curl works).
//
//   GET  /api/locks                                   list (JSON by default)
//   POST /api/locks/cleanup            {dryRun?}      remove stuck locks (JSON by default)
//   GET|POST /cleanup_expired_locks(.php) ?dryRun=…  the runbook's URL (text by default). GET really cleans up, as
//        the runbook's plain `curl` expects: the operation only removes keys no live holder can own (ops/locks.ts,
//        ops/legacyLocks.ts), is idempotent and atomic per key, so a repeated or prefetched GET
//        does no harm. Add ?dryRun=true to preview.
import { Router, type Request, type RequestHandler, type Response } from "express";
import type { LockInspector, CleanupResult } from "../../ops/locks";
import { renderCleanupText, renderLockListingText } from "../../ops/locksText";
import type { Authenticator } from "../auth";
import { jsonBody, optionalBoolean, parseJson } from "../params";
import { logFor } from "../requestLog";
import { queryBoolean, responseFormat, type ResponseFormat } from "./diagnosis";

export interface LockRouteDeps {
  locks: LockInspector;
  auth: Authenticator;
}

export function lockRoutes(d: LockRouteDeps): Router {
  const r = Router();

  const admin = (req: Request) => {
    const who = d.auth.authenticate(req);
    d.auth.authorize(who, { role: "admin" });
    return who;
  };

  r.get("/api/locks", async (req, res) => {
    admin(req);
    const format = responseFormat(req, "json");
    const listing = await d.locks.list();
    res.set("Cache-Control", "no-store");
    if (format === "text") res.type("text/plain; charset=utf-8").send(renderLockListingText(listing));
    else res.json(listing);
  });

  const cleanup =
    (fallback: ResponseFormat): RequestHandler =>
    async (req, res) => {
      const who = admin(req);
      const format = responseFormat(req, fallback);
      const fromQuery = queryBoolean(req, "dryRun");
      const fromBody = req.method === "POST" ? optionalBoolean(jsonBody(req), "dryRun") : undefined;
      const result = await d.locks.cleanup({ dryRun: fromBody ?? fromQuery ?? false });
      if (!result.dryRun && result.removed.length > 0) {
        // An audit line: who removed which keys.
        logFor(req).warn({ by: who.name, removed: result.removed }, "stuck locks removed");
      }
      send(res, format, result);
    };

  // The JSON body is parsed only once the caller is known to be an admin.
  const adminFirst: RequestHandler = (req, _res, next) => {
    admin(req);
    next();
  };
  r.post("/api/locks/cleanup", adminFirst, parseJson, cleanup("json"));
  r.get(["/cleanup_expired_locks", "/cleanup_expired_locks.php"], cleanup("text"));
  r.post(["/cleanup_expired_locks", "/cleanup_expired_locks.php"], adminFirst, parseJson, cleanup("text"));
  return r;
}

function send(res: Response, format: ResponseFormat, result: CleanupResult): void {
  res.set("Cache-Control", "no-store");
  if (format === "text") res.type("text/plain; charset=utf-8").send(renderCleanupText(result));
  else res.json(result);
}
