// API-key authentication and authorisation. Keys are compared as SHA-256 digests with timingSafeEqual, over all
// configured keys without an early exit, so neither the content nor the position of a key leaks through timing.
import { createHash, timingSafeEqual } from "node:crypto";
import type { Request } from "express";
import { HttpError } from "./errors";

export type Role = "client" | "admin";

/** What a key may read of its accounts: tokens, tickets, JS-SDK signatures. */
export type Scope = "token" | "ticket" | "sign";

export interface ApiKeyEntry {
  name: string;
  keySha256: Buffer;
  role: Role;
  accounts: "*" | string[];
  /** Absent: every scope. */
  scopes?: readonly Scope[];
}

export interface Principal {
  name: string;
  role: Role;
  accounts: "*" | string[];
  /** Absent: every scope. */
  scopes?: readonly Scope[];
}

/** Without API keys the broker only listens on loopback (config enforces it); local operators act as admin. */
export const LOOPBACK_OPERATOR: Principal = { name: "loopback", role: "admin", accounts: "*" };

export interface AuthEvents {
  authFailure(reason: "missing" | "malformed" | "invalid" | "forbidden"): void;
}

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/;

export class Authenticator {
  constructor(
    private readonly keys: ApiKeyEntry[],
    readonly required: boolean,
    private readonly events: AuthEvents = { authFailure: () => {} },
  ) {}

  authenticate(req: Request): Principal {
    if (!this.required) return LOOPBACK_OPERATOR;
    const header = req.headers.authorization;
    if (header === undefined || header === "") {
      this.events.authFailure("missing");
      throw new HttpError(401, "unauthorized", "An API key is required.", "Send it as `Authorization: Bearer <key>`.", { "WWW-Authenticate": "Bearer" });
    }
    const m = BEARER.exec(header);
    if (!m) {
      this.events.authFailure("malformed");
      throw new HttpError(401, "unauthorized", "The Authorization header is malformed.", "Send `Authorization: Bearer <key>`.", { "WWW-Authenticate": "Bearer" });
    }
    const found = this.find(m[1]!);
    if (!found) {
      this.events.authFailure("invalid");
      throw new HttpError(401, "unauthorized", "The API key is not valid.", "Check the key; revoked keys are removed from API_KEYS / API_KEYS_FILE.", { "WWW-Authenticate": "Bearer" });
    }
    return found.scopes === undefined ? { name: found.name, role: found.role, accounts: found.accounts } : { name: found.name, role: found.role, accounts: found.accounts, scopes: found.scopes };
  }

  /**
   * Whether this Authorization header may read the account, counting and throwing nothing: the HTTP fast path
   * (fastToken.ts) asks, and leaves every refusal to the regular route, which counts and answers it.
   */
  allows(header: string | undefined, accountId: string, scope: Scope = "token"): boolean {
    if (!this.required) return true;
    const m = header === undefined ? null : BEARER.exec(header);
    const found = m === null ? undefined : this.find(m[1]!);
    return found !== undefined && (found.accounts === "*" || found.accounts.includes(accountId)) && hasScope(found, scope);
  }

  /** The name of the key in this header (for per-key limits), for a header `allows` accepted. */
  callerName(header: string | undefined): string {
    if (!this.required) return LOOPBACK_OPERATOR.name;
    const m = header === undefined ? null : BEARER.exec(header);
    return (m === null ? undefined : this.find(m[1]!))?.name ?? "anonymous";
  }

  /** The name of the key `key` when it is valid and allowed for the account, counting a refusal as a failure:
   * the compatible token endpoints take an API key where WeChat takes the AppSecret (issue 13). */
  principalFor(key: string, accountId: string, count = true): string | undefined {
    const found = this.find(key);
    if (found === undefined) {
      if (count) this.events.authFailure("invalid");
      return undefined;
    }
    if (found.accounts !== "*" && !found.accounts.includes(accountId)) {
      if (count) this.events.authFailure("forbidden");
      return undefined;
    }
    return found.name;
  }

  /** The entry whose key this is: every entry compared, in constant time, without an early exit. */
  private find(key: string): ApiKeyEntry | undefined {
    const digest = createHash("sha256").update(key, "utf8").digest();
    let found: ApiKeyEntry | undefined;
    for (const k of this.keys) {
      if (timingSafeEqual(digest, k.keySha256) && !found) found = k;
    }
    return found;
  }

  /** The one check of what a principal may do: role, account, and scope (what it may read of the account). */
  authorize(p: Principal, need: { role?: Role; accountId?: string; scope?: Scope }): void {
    if (need.role === "admin" && p.role !== "admin") {
      this.events.authFailure("forbidden");
      throw new HttpError(403, "forbidden", `The key "${p.name}" may not do this: it needs the admin role.`);
    }
    if (need.accountId !== undefined && p.accounts !== "*" && !p.accounts.includes(need.accountId)) {
      this.events.authFailure("forbidden");
      throw new HttpError(403, "forbidden", `The key "${p.name}" is not allowed for account "${need.accountId}".`);
    }
    if (need.scope !== undefined && !hasScope(p, need.scope)) {
      this.events.authFailure("forbidden");
      throw new HttpError(
        403,
        "forbidden",
        `The key "${p.name}" may not read this: it lacks the "${need.scope}" scope.`,
        `Its scopes are ${(p.scopes ?? []).join(", ")}. Give it "${need.scope}" in API_KEYS / API_KEYS_FILE (scopes), or use a key that has it.`,
      );
    }
  }
}

function hasScope(p: { scopes?: readonly Scope[] }, scope: Scope): boolean {
  return p.scopes === undefined || p.scopes.includes(scope);
}
