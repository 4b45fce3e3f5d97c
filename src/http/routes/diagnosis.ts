// Quick diagnosis over HTTP: GET /api/diagnosis (JSON by default) and the runbook's /quick_diagnosis(.php) (text by
// default). 200 when every check passes or only warns, 503 when one fails, so `curl -f` and monitors can use it.
//
// No key needed to read it: the report holds no token, no secret and no key name (only statuses, account ids,
// AppIDs, the egress IP WeChat reported, lock owners), like /metrics; the operators' runbook curls it bare at 3 a.m.
// `probe=true` calls WeChat with the stored tokens, so it needs the admin role when API keys are configured.
// Being keyless, it is rate-limited per client (429 + Retry-After), and its lock listing comes from a census that
// costs Redis a bounded amount per interval (ops/locks.ts `census`).
import { Router, type Request, type RequestHandler } from "express";
import type { Diagnosis } from "../../ops/diagnosis";
import { renderDiagnosisText, REPORT_LANGS, type ReportLang } from "../../ops/diagnosisText";
import type { Authenticator } from "../auth";
import { HttpError } from "../errors";
import { accountIdFrom } from "../params";
import { DIAGNOSIS_RATE_LIMIT, RateLimiter, limit } from "../rateLimit";

export type ResponseFormat = "json" | "text";

/**
 * `?format=json|text` wins; otherwise the client's Accept, where an explicit text/plain or application/json
 * preference counts and `*∕*` (curl, wget) or no header gets the path's default.
 */
export function responseFormat(req: Request, fallback: ResponseFormat): ResponseFormat {
  const q = req.query.format;
  if (q !== undefined) {
    if (q === "json" || q === "text") return q;
    throw new HttpError(400, "invalid_format", 'The query parameter format must be "json" or "text".');
  }
  const order = fallback === "json" ? ["application/json", "text/plain"] : ["text/plain", "application/json"];
  const picked = req.accepts(order);
  if (picked === "text/plain") return "text";
  if (picked === "application/json") return "json";
  return fallback;
}

/**
 * The text report's language: `?lang=zh|en` wins; then the first of zh/en in the client's Accept-Language (by
 * q-value); then Chinese on the runbook's `.php` paths (its readers are the Chinese-speaking on-call team) and
 * English elsewhere. curl sends no Accept-Language, so the path decides for it.
 */
export function reportLang(req: Request): ReportLang {
  const q = req.query.lang;
  if (q !== undefined) {
    if (typeof q === "string" && (REPORT_LANGS as readonly string[]).includes(q)) return q as ReportLang;
    throw new HttpError(400, "invalid_lang", 'The query parameter lang must be "zh" or "en".');
  }
  const header = req.headers["accept-language"];
  if (typeof header === "string") {
    const ranked = header
      .split(",")
      .map((part, i) => {
        const [tag = "", ...params] = part.trim().split(";");
        const qv = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
        return { primary: tag.trim().toLowerCase().split("-")[0], q: qv !== undefined ? Number(qv) : 1, i };
      })
      .filter((x) => x.q > 0 && (x.primary === "zh" || x.primary === "en"))
      .sort((a, b) => b.q - a.q || a.i - b.i);
    if (ranked[0]) return ranked[0].primary as ReportLang;
  }
  return req.path.endsWith(".php") ? "zh" : "en";
}

/** A boolean query parameter: true/false/1/0/yes/no, or absent. */
export function queryBoolean(req: Request, name: string): boolean | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v === "string") {
    const s = v.toLowerCase();
    if (s === "" || s === "true" || s === "1" || s === "yes") return true;
    if (s === "false" || s === "0" || s === "no") return false;
  }
  throw new HttpError(400, "invalid_query", `The query parameter ${name} must be true or false.`);
}

export interface DiagnosisRouteDeps {
  diagnosis: Diagnosis;
  auth: Authenticator;
  /** Per-client limit of these keyless routes (default DIAGNOSIS_RATE_LIMIT). */
  limiter?: RateLimiter;
}

export function diagnosisRoutes(d: DiagnosisRouteDeps): Router {
  const r = Router();

  const limiter = d.limiter ?? new RateLimiter(DIAGNOSIS_RATE_LIMIT);
  const handler =
    (fallback: ResponseFormat): RequestHandler =>
    async (req, res) => {
      const format = responseFormat(req, fallback);
      const lang = reportLang(req);
      const accountId = req.query.accountId !== undefined ? accountIdFrom(req.query.accountId, "The query parameter accountId") : undefined;
      const probe = queryBoolean(req, "probe") ?? false;
      if (probe) d.auth.authorize(d.auth.authenticate(req), { role: "admin" });
      // Callers with a valid API key are known; everyone else shares the per-client limit. Checked after the
      // cheap answers (400, 401, 403), before the report costs anything.
      const keyed = d.auth.required && req.headers.authorization !== undefined && (probe || isKnown(d.auth, req));
      if (!keyed) limit(limiter, req);
      const report = await d.diagnosis.run({ accountId, probe });
      res.status(report.status === "fail" ? 503 : 200).set("Cache-Control", "no-store");
      if (format === "text") res.type("text/plain; charset=utf-8").send(renderDiagnosisText(report, lang));
      else res.json(report);
    };

  r.get("/api/diagnosis", handler("json"));
  r.get(["/quick_diagnosis", "/quick_diagnosis.php"], handler("text"));
  return r;
}

function isKnown(auth: Authenticator, req: Request): boolean {
  try {
    auth.authenticate(req);
    return true;
  } catch {
    return false;
  }
}
