// The rules of single values, as zod schemas: the variables' (referenced from the table in variables.ts) and the
// documents' fields. Every message is fixed text: none repeats the value, which may be a secret.
import { BlockList, isIP } from "node:net";
import { isAbsolute, dirname, join } from "node:path";
import { z } from "zod";

/** An integer variable from its string form; `why` explains a limit that is not obvious. */
export function intString(min: number, max: number, why?: string) {
  const message = `must be an integer from ${min} to ${max}${why ? `: ${why}` : ""}`;
  return z
    .string()
    .refine((s) => /^\d+$/.test(s) && Number(s) >= min && Number(s) <= max, { error: message })
    .transform(Number);
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const logLevel = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.enum(LOG_LEVELS));

export const keyPrefix = z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, { error: "must be 1–64 letters, digits or :_-." });

/** Why a base URL is unusable, or undefined. The URL itself is not repeated: it might carry credentials. */
export function baseUrlProblem(s: string): string | undefined {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return "is not a valid URL";
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return "must be an http:// or https:// URL";
  if (u.username || u.password) return "must not contain credentials (they would end up in logs)";
  if (s.includes("?") || s.includes("#")) return "must not have a query string or fragment";
  return undefined;
}

export const apiBase = z
  .string()
  .superRefine((s, ctx) => {
    const why = baseUrlProblem(s);
    if (why) ctx.addIssue({ code: "custom", message: why });
  })
  // Paths are appended to it (`${base}/cgi-bin/token`), so no trailing slash.
  .transform((s) => new URL(s).href.replace(/\/+$/, ""));

/** A glob with nothing but wildcards would let lock cleanup delete every key without an expiry, data included. */
function hasLiteralPart(glob: string): boolean {
  return glob.replace(/\[[^\]]*\]/g, "").replace(/[*?\\]/g, "") !== "";
}

/** Comma-separated Redis globs of legacy lock keys; unset: none. */
export const lockGlobs = z
  .string()
  .optional()
  .transform((s, ctx) => {
    if (s === undefined) return [];
    const patterns = s.split(",").map((p) => p.trim());
    patterns.forEach((p, i) => {
      if (p === "") ctx.addIssue({ code: "custom", message: `pattern ${i + 1} is empty` });
      else if (/\s/.test(p)) ctx.addIssue({ code: "custom", message: `pattern "${p}" contains whitespace` });
      else if (!hasLiteralPart(p)) {
        ctx.addIssue({ code: "custom", message: `pattern "${p}" has no literal part: it would match every key` });
      }
    });
    return patterns;
  });

/** Paths the proxy never relays: the broker answers them itself, or they carry no app token. */
const RESERVED_PATHS = ["/api/", "/wecom/", "/metrics", "/__admin"];

/** Comma-separated path prefixes of WeChat API calls the proxy relays. */
export const proxyPrefixes = z.string().transform((s, ctx) => {
  const list = s.split(",").map((p) => p.trim());
  list.forEach((p, i) => {
    if (!/^\/[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*\/$/.test(p)) {
      ctx.addIssue({
        code: "custom",
        message: `prefix ${i + 1} must look like /cgi-bin/ (starts and ends with /, letters, digits, _ . -)`,
      });
    } else if (RESERVED_PATHS.some((r) => p.startsWith(r) || r.startsWith(p))) {
      ctx.addIssue({ code: "custom", message: `prefix ${i + 1} overlaps the broker's own paths (${RESERVED_PATHS.join(", ")})` });
    }
  });
  return list;
});

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Why a host (HOST, a sentinel's or a cluster node's) cannot be used, or undefined. */
export function hostProblem(host: string): string | undefined {
  if (isIP(host) !== 0 || HOSTNAME.test(host)) return undefined;
  if (/^\[.*\]$/.test(host)) return "must be written without brackets (e.g. ::1)";
  return "must be an IP address or a host name";
}

// Loopback per RFC 1122 (127.0.0.0/8) and RFC 4291 (::1); BlockList normalises spellings such as 0:0:0:0:0:0:0:1.
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");
LOOPBACK.addSubnet("::ffff:127.0.0.0", 104, "ipv6");

export function isLoopback(host: string): boolean {
  if (host.toLowerCase() === "localhost") return true;
  const family = isIP(host);
  if (family === 4) return LOOPBACK.check(host, "ipv4");
  if (family === 6) return LOOPBACK.check(host, "ipv6");
  return false;
}

/** A path to a file (not secret). */
export const filePath = z.string().min(1, { error: "must not be empty" });

/** AppSecret/corpsecret as written inline. Whitespace inside one is always a copy-paste accident. */
export const appSecretValue = z
  .string()
  .min(1, { error: "must not be empty" })
  .refine((s) => !/[\s\p{Cc}]/u.test(s), { error: "must not contain whitespace or control characters" });

export const MIN_API_KEY_LENGTH = 16;

/** An API key as a client will send it in an HTTP header: printable ASCII without spaces. */
export const apiKeyValue = z
  .string()
  .min(MIN_API_KEY_LENGTH, { error: `must be at least ${MIN_API_KEY_LENGTH} characters` })
  .refine((s) => /^[\x21-\x7e]+$/.test(s), { error: "must be printable ASCII without spaces (it is sent in an HTTP header)" });

/** A file path found inside a document is relative to that document's directory, like includes elsewhere. */
export function resolveBeside(documentFile: string | undefined, path: string): string {
  if (documentFile === undefined || isAbsolute(path)) return path;
  return join(dirname(documentFile), path);
}
