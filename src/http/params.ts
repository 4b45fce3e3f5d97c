// Input parsing shared by the routes: each failure is a 400 with a code that names the field.
import express, { type Request, type RequestHandler, type Response } from "express";
import type { Authenticator, Principal } from "./auth";
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
    throw new HttpError(400, "invalid_account_id", `${where} must match [A-Za-z0-9_-]{1,64}.`, "Use the account id configured in ACCOUNTS / ACCOUNTS_FILE.");
  }
  return value;
}

/** The JSON body of a POST, or {} when there is none. Rejects other content types (JSON only where documented). */
export function jsonBody(req: Request): Record<string, unknown> {
  const hasBody = Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
  if (!hasBody) return {};
  if (!req.is("application/json")) {
    throw new HttpError(415, "unsupported_media_type", "The request body must be JSON.", "Send `Content-Type: application/json`.");
  }
  return jsonObject(req.body);
}

/** A parsed JSON body as an object ({} for none); any other JSON value is the caller's mistake. */
export function jsonObject(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(400, "invalid_body", "The request body must be a JSON object.");
  }
  return body as Record<string, unknown>;
}

export function optionalBoolean(body: Record<string, unknown>, field: string): boolean | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw new HttpError(400, "invalid_field", `"${field}" must be true or false.`);
  return v;
}

/** JSON bodies are parsed per route, after authentication: an unauthenticated caller gets 401, not a 400 or 413
 * about a body nobody should read. */
export const parseJson: RequestHandler = express.json({ limit: "16kb", type: ["application/json", "application/*+json"] });

/** Authenticates the request and keeps the principal for the handler (`principalOf(res)`). */
export function authenticated(auth: Authenticator): RequestHandler {
  return (req, res, next) => {
    res.locals.principal = auth.authenticate(req);
    next();
  };
}

export function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}
