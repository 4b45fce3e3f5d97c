// Quick diagnosis over HTTP: GET /api/diagnosis (JSON by default) and the runbook's /quick_diagnosis(.php) (text by
// default). 200 when every check passes or only warns, 503 when one fails, so `curl -f` and monitors can use it.
//
// No key needed to read it: the report holds no token, no secret and no key name (only statuses, account ids,
// AppIDs, the egress IP WeChat reported, lock owners), like /metrics; the operators' runbook curls it bare at 3 a.m.
// `probe=true` calls WeChat with the stored tokens, so it needs the admin role when API keys are configured.
// Being keyless, it is rate-limited per client (429 + Retry-After), and its lock listing comes from a census that
// costs Redis a bounded amount per interval (ops/locks.ts `census`).
import type { Diagnosis } from "../../ops/diagnosis";
import { renderDiagnosisText } from "../../ops/diagnosisText";
import type { Authenticator } from "../auth";
import { responseFormat, reportLang, type ResponseFormat } from "../negotiate";
import { accountIdFrom, queryBoolean } from "../params";
import { DIAGNOSIS_RATE_LIMIT, RateLimiter, limit } from "../rateLimit";
import type { Call, Reply, RouteDef } from "../route";

export interface DiagnosisRouteDeps {
  diagnosis: Diagnosis;
  auth: Authenticator;
  /** Per-client limit of these keyless routes (default DIAGNOSIS_RATE_LIMIT). */
  limiter?: RateLimiter;
}

export function diagnosisRoutes(d: DiagnosisRouteDeps): RouteDef[] {
  const limiter = d.limiter ?? new RateLimiter(DIAGNOSIS_RATE_LIMIT);
  const handle =
    (fallback: ResponseFormat) =>
    async (call: Call): Promise<Reply> => {
      const req = call.req;
      const format = responseFormat(req, fallback);
      const lang = reportLang(req);
      const accountId = req.query.accountId !== undefined ? accountIdFrom(req.query.accountId, "The query parameter accountId") : undefined;
      const probe = queryBoolean(req, "probe") ?? false;
      if (probe) {
        call.identify();
        call.authorize({ role: "admin" });
      }
      // Callers with a valid API key are known; everyone else shares the per-client limit. Checked after the
      // cheap answers (400, 401, 403), before the report costs anything.
      const keyed = d.auth.required && req.headers.authorization !== undefined && (probe || isKnown(call));
      if (!keyed) limit(limiter, req);
      const report = await d.diagnosis.run({ accountId, probe });
      const status = report.status === "fail" ? 503 : 200;
      if (format === "text") return { status, text: renderDiagnosisText(report, lang), contentType: "text/plain; charset=utf-8" };
      return { status, json: report };
    };

  return [
    { method: "GET", paths: ["/api/diagnosis"], access: "open", handle: handle("json") },
    { method: "GET", paths: ["/quick_diagnosis", "/quick_diagnosis.php"], access: "open", handle: handle("text") },
  ];
}

function isKnown(call: Call): boolean {
  try {
    call.identify();
    return true;
  } catch {
    return false;
  }
}
