// API-key authentication and authorisation. Keys are compared as SHA-256 digests with timingSafeEqual, over all
// configured keys without an early exit, so neither the content nor the position of a key leaks through timing.
// A key once found valid is remembered by its digest (one entry per configured key at most; never the key itself,
// so a heap dump holds no usable key), so later requests skip the comparison over every key; an unknown key always
// takes the constant-time path, and whether a key is valid is what the answer says anyway.
import { createHash, hash, timingSafeEqual } from "node:crypto";
import type { AuthFailureReason } from "../ops/metrics";
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
  authFailure(reason: AuthFailureReason): void;
}

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/;

export class Authenticator {
  constructor(
    private readonly keys: ApiKeyEntry[],
    readonly required: boolean,
    private readonly events: AuthEvents = { authFailure: () => {} },
  ) {}

  /** Who sends this Authorization header: 401 (counted) when nobody, or a key that is not configured. */
  authenticate(header: string | undefined): Principal {
    if (!this.required) return LOOPBACK_OPERATOR;
    if (header === undefined || header === "") {
      this.events.authFailure("missing");
      throw new HttpError(401, "unauthorized", "An API key is required.", "Send it as `Authorization: Bearer <key>`.", {
        "WWW-Authenticate": "Bearer",
      });
    }
    const m = BEARER.exec(header);
    if (!m) {
      this.events.authFailure("malformed");
      throw new HttpError(401, "unauthorized", "The Authorization header is malformed.", "Send `Authorization: Bearer <key>`.", {
        "WWW-Authenticate": "Bearer",
      });
    }
    // Looked up by a one-shot digest (a fraction of a Hash object's cost; this runs on every token hit).
    const remembered = hash("sha256", m[1]!, "base64");
    const known = this.known.get(remembered);
    if (known !== undefined) return known;
    const found = this.find(m[1]!);
    if (!found) {
      this.events.authFailure("invalid");
      throw new HttpError(
        401,
        "unauthorized",
        "The API key is not valid.",
        "Check the key; revoked keys are removed from API_KEYS / API_KEYS_FILE.",
        { "WWW-Authenticate": "Bearer" },
      );
    }
    const principal: Principal = {
      name: found.name,
      role: found.role,
      accounts: found.accounts,
      ...(found.scopes === undefined ? {} : { scopes: found.scopes }),
    };
    this.known.set(remembered, principal);
    return principal;
  }

  /** The principals of keys found valid, by the key's SHA-256: at most one per configured key. */
  private readonly known = new Map<string, Principal>();

  /** The name of the key `key` when it is valid and may read the account's token, counting a refusal as a failure:
   * the compatible token endpoints take an API key where WeChat takes the AppSecret (issue 13). */
  principalFor(key: string, accountId: string, count = true): string | undefined {
    const found = this.find(key);
    const refused = found === undefined ? "invalid" : refusal(found, { accountId, scope: "token" }) !== undefined ? "forbidden" : undefined;
    if (refused === undefined) return found!.name;
    if (count) this.events.authFailure(refused);
    return undefined;
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
  authorize(p: Principal, need: Need): void {
    const refused = refusal(p, need);
    if (refused === undefined) return;
    this.events.authFailure("forbidden");
    throw refused;
  }
}

/** What a principal must have: the role, the account, the scope (what it may read of the account). */
export interface Need {
  role?: Role;
  accountId?: string;
  scope?: Scope;
}

/** Why `p` may not do what `need` asks, or undefined when it may: the one rule, checked in this order. */
function refusal(p: Principal, need: Need): HttpError | undefined {
  if (need.role === "admin" && p.role !== "admin") {
    return new HttpError(403, "forbidden", `The key "${p.name}" may not do this: it needs the admin role.`);
  }
  if (need.accountId !== undefined && p.accounts !== "*" && !p.accounts.includes(need.accountId)) {
    return new HttpError(403, "forbidden", `The key "${p.name}" is not allowed for account "${need.accountId}".`);
  }
  if (need.scope !== undefined && p.scopes !== undefined && !p.scopes.includes(need.scope)) {
    return new HttpError(
      403,
      "forbidden",
      `The key "${p.name}" may not read this: it lacks the "${need.scope}" scope.`,
      `Its scopes are ${p.scopes.join(", ")}. Give it "${need.scope}" in API_KEYS / API_KEYS_FILE (scopes), or use a key that has it.`,
    );
  }
  return undefined;
}
