// Input parsing shared by the routes: each failure is a 400 with a code that names the field.
import type { IncomingMessage } from "node:http";
import express, { type Request, type RequestHandler } from "express";
import { ACCOUNT_ID_PATTERN } from "../accounts";
import { HttpError } from "./errors";

export function accountIdFrom(value: unknown, where: string): string {
  if (Array.isArray(value)) {
    throw new HttpError(400, "invalid_account_id", `${where} was given more than once.`, "Pass exactly one account id.");
  }
  if (typeof value !== "string" || value === "") {
    throw new HttpError(400, "missing_account_id", `${where} is required.`, "Pass the account id, e.g. gh_e4b07b2a992e6669.");
  }
  if (!ACCOUNT_ID_PATTERN.test(value)) {
    throw new HttpError(
      400,
      "invalid_account_id",
      `${where} must match [A-Za-z0-9_-]{1,64}.`,
      "Use the account id configured in ACCOUNTS / ACCOUNTS_FILE.",
    );
  }
  return value;
}

/** The JSON body of a POST, or {} when there is none. Rejects other content types (JSON only where documented). */
export function jsonBody(req: IncomingMessage): Record<string, unknown> {
  const hasBody = Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
  if (!hasBody) return {};
  // express's own media-type check, applied to a plain request too (the fast path has no express request).
  if (!isJson.call(req, "application/json")) {
    throw new HttpError(415, "unsupported_media_type", "The request body must be JSON.", "Send `Content-Type: application/json`.");
  }
  return jsonObject((req as { body?: unknown }).body);
}

/** A parsed JSON body as an object ({} for none); any other JSON value is the caller's mistake. */
export function jsonObject(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(400, "invalid_body", "The request body must be a JSON object.");
  }
  return body as Record<string, unknown>;
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

export function optionalBoolean(body: Record<string, unknown>, field: string): boolean | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw new HttpError(400, "invalid_field", `"${field}" must be true or false.`);
  return v;
}

const isJson = express.request.is as (this: IncomingMessage, type: string) => string | false | null;

/** JSON bodies are parsed per route, after authentication: an unauthenticated caller gets 401, not a 400 or 413
 * about a body nobody should read. */
export const parseJson: RequestHandler = express.json({ limit: "16kb", type: ["application/json", "application/*+json"] });
