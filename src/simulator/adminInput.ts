// Validation of admin input, shared by the in-process admin (SimulatorState) and the HTTP admin API: app
// configurations, patches and faults, with messages that name every bad field.
import { isIPv4 } from "node:net";
import { z } from "zod";
import { parseCidr } from "./ipWhitelist";
import type { SimAppConfig, SimFault } from "./types";

/** Thrown by admin operations; the HTTP admin API maps bad_request → 400 and not_found → 404. */
export class SimAdminError extends Error {
  constructor(
    readonly code: "bad_request" | "not_found",
    message: string,
  ) {
    super(message);
    this.name = "SimAdminError";
  }
}

const endpointSchema = z.enum(["token", "stable_token", "gettoken", "probe", "getticket"]);
const nonNegInt = z.number().int().min(0);

export const faultSchema = z
  .strictObject({
    type: z.enum(["errcode", "http", "timeout", "non_json", "reset"]),
    errcode: z.number().int().optional(),
    errmsg: z.string().optional(),
    status: z.number().int().min(200).max(599).optional(),
    times: z
      .number()
      .int()
      .refine((n) => n === -1 || n >= 1, "must be -1 (until cleared) or at least 1")
      .optional(),
    endpoints: z.array(endpointSchema).min(1).optional(),
  })
  .refine((f) => f.type !== "errcode" || f.errcode !== undefined, {
    message: "an errcode fault needs an errcode",
    path: ["errcode"],
  });

const appShape = {
  appId: z.string().min(1).max(128),
  secret: z.string().min(1).max(256),
  platform: z.enum(["wechat", "wecom"]).optional(),
  ipWhitelist: z.array(z.string().refine((s) => parseCidr(s) !== undefined, "must be an IPv4 address or a.b.c.d/n")).optional(),
  callerIp: z
    .string()
    .refine((s) => isIPv4(s), "must be an IPv4 address")
    .optional(),
  tokenLifetimeSec: z.number().int().min(1).optional(),
  overlapSec: nonNegInt.optional(),
  dailyQuota: nonNegInt.optional(),
  stablePerMinute: nonNegInt.optional(),
  stablePerDay: nonNegInt.optional(),
  forcePerDay: nonNegInt.optional(),
  forceMinIntervalSec: nonNegInt.optional(),
  latencyMs: z.number().int().min(0).max(600_000).optional(),
  secretFrozen: z.boolean().optional(),
  isComponent: z.boolean().optional(),
  adminConfirm: z.enum(["none", "required", "pending", "rejected_once", "rejected_twice"]).optional(),
  legacyBadSecret: z.boolean().optional(),
  faults: z.array(faultSchema).optional(),
};

export const appConfigSchema = z.strictObject(appShape);
const appPatchSchema = z.strictObject(appShape).partial();

function describeIssues(error: z.ZodError, prefix = ""): string {
  return error.issues
    .map((i) => {
      const path = [prefix, ...i.path.map(String)].filter((p) => p !== "").join(".");
      return path ? `${path}: ${i.message}` : i.message;
    })
    .join("; ");
}

/** Validates one app config; the message names every bad field (prefixed, e.g. `apps[1]`). */
export function parseAppConfig(input: unknown, prefix = ""): SimAppConfig {
  const r = appConfigSchema.safeParse(input);
  if (!r.success) throw new SimAdminError("bad_request", describeIssues(r.error, prefix));
  return r.data;
}

export function parseFault(input: unknown): SimFault {
  const r = faultSchema.safeParse(input);
  if (!r.success) throw new SimAdminError("bad_request", describeIssues(r.error, "fault"));
  return r.data;
}

/** Validates a partial app config (a patch); unknown fields are refused like in a full config. */
export function parseAppPatch(input: unknown): Partial<SimAppConfig> {
  const r = appPatchSchema.safeParse(input);
  if (!r.success) throw new SimAdminError("bad_request", describeIssues(r.error));
  return r.data;
}
