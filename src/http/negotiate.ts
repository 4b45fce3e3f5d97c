// What a caller asked the answer to be: JSON or text, English or Chinese (the operators' runbook URLs).
import type { Request } from "express";
import { REPORT_LANGS, type ReportLang } from "../ops/diagnosisText";
import { HttpError } from "./errors";

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
