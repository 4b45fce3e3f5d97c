// Redis key naming, in one place. Every key of one account carries the hash tag `{acct:<id>}` so the Lua scripts
// that touch several of them (token + fence, lock + lockinfo, force counter + last-force) land in one slot on
// Redis Cluster. No secret ever appears in a key: ids are operator-chosen names, days are dates.
// The keys, their contents and lifetimes: docs/design.md §5.1; every key with its writer and scripts: docs/redis-keys.md.
import { createHash } from "node:crypto";
import { CREDENTIAL_ID_PATTERN } from "../accounts";

export const DEFAULT_KEY_PREFIX = "wtb:";

const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;
// A prefix must not contain braces: a `{` in it would become the hash tag instead of `{acct:<id>}`.
const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{0,64}$/;
/** API key names (config: 1–64 letters, digits, _ - .), plus the names of unauthenticated principals. */
const CALLER_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export type AccountKeyKind = "token" | "fence" | "lock" | "lockinfo" | "status" | "calls" | "force" | "forcelast" | "ceiling" | "reports";

export interface AccountKeys {
  /** Hash: accessToken, expiresAt, fetchedAt, api, gen. Lives until expiresAt + retention so `gen` keeps fencing. */
  token: string;
  /** INCR counter: the fencing generation issued with each lock acquisition. No TTL (it must never go backwards). */
  fence: string;
  /** The refresh lock (redlock's random value). Always has a PX TTL. */
  lock: string;
  /** Hash owner, acquiredAt, gen of the current lock holder, same expiry instant as the lock. */
  lockinfo: string;
  /** JSON AccountStatus (breaker state, last error), shared by all replicas. */
  status: string;
  /** Timestamp (epoch ms) of the last force_refresh taken, across quota days (spacing spans midnight). */
  forceLast: string;
  /** Sorted set: times of the upstream token calls in the last minute (the per-account ceiling). */
  ceiling: string;
  /** Sorted set: times of the caller reports that reached WeChat in the last minute. */
  reports: string;
  /** Upstream token calls on a quota day (counter, TTL ~48 h). */
  calls(day: string): string;
  /** force_refresh calls taken on a quota day (counter, TTL ~48 h). */
  force(day: string): string;
}

export function assertAccountId(accountId: string): void {
  // The id goes inside the hash tag: a `}` or `:` in it would break slotting and key parsing. A credential id
  // (`<account>.<ticket type>`, see accounts.ts) is keyed exactly like an account: a ticket has its own token
  // record, lock, fence, status and ceiling.
  if (!CREDENTIAL_ID_PATTERN.test(accountId))
    throw new TypeError(`invalid account id for a store key: ${JSON.stringify(accountId.slice(0, 80))}`);
}

export function assertDay(day: string): void {
  if (!DAY_PATTERN.test(day)) throw new TypeError(`invalid quota day (want YYYY-MM-DD): ${JSON.stringify(day.slice(0, 40))}`);
}

export function assertKeyPrefix(prefix: string): void {
  if (!PREFIX_PATTERN.test(prefix))
    throw new TypeError(`invalid Redis key prefix ${JSON.stringify(prefix)} (letters, digits, _ . : - only)`);
}

export class KeySpace {
  readonly prefix: string;
  /** Pub/sub channel for "account X has a new token (gen N)" notices. */
  readonly refreshedChannel: string;

  constructor(prefix: string = DEFAULT_KEY_PREFIX) {
    assertKeyPrefix(prefix);
    this.prefix = prefix;
    this.refreshedChannel = `${prefix}refreshed`;
  }

  /** `<prefix>{acct:<id>}` — the part every key of the account starts with. */
  accountBase(accountId: string): string {
    assertAccountId(accountId);
    return `${this.prefix}{acct:${accountId}}`;
  }

  account(accountId: string): AccountKeys {
    const base = this.accountBase(accountId);
    return {
      token: `${base}:token`,
      fence: `${base}:fence`,
      lock: `${base}:lock`,
      lockinfo: `${base}:lockinfo`,
      status: `${base}:status`,
      forceLast: `${base}:forcelast`,
      ceiling: `${base}:ceiling`,
      reports: `${base}:reports`,
      calls: (day) => {
        assertDay(day);
        return `${base}:calls:${day}`;
      },
      force: (day) => {
        assertDay(day);
        return `${base}:force:${day}`;
      },
    };
  }

  /** Sorted set of one caller's reports that reached WeChat (its own hash tag: it spans accounts). API key names
   * are used as they are; any other name (e.g. `secret:<account>` for a compatible endpoint's caller) by a digest,
   * so every caller gets its own key and no name can break the key's syntax. */
  callerReports(caller: string): string {
    const part = CALLER_PATTERN.test(caller) ? caller : `h-${createHash("sha256").update(caller, "utf8").digest("hex").slice(0, 24)}`;
    return `${this.prefix}{caller:${part}}:reports`;
  }

  /** SCAN MATCH pattern for every account's lock key (lock listing and stuck-lock cleanup). */
  lockPattern(): string {
    return `${globEscape(this.prefix)}{acct:*}:lock`;
  }

  /** SCAN MATCH pattern for every key of every account under this prefix. */
  allPattern(): string {
    return `${globEscape(this.prefix)}{acct:*}:*`;
  }

  /** Which account and kind a key belongs to, or null when it is not one of ours. */
  parse(key: string): { accountId: string; kind: AccountKeyKind; day?: string } | null {
    if (!key.startsWith(`${this.prefix}{acct:`)) return null;
    const rest = key.slice(this.prefix.length);
    const m =
      /^\{acct:([A-Za-z0-9_-]{1,64}(?:\.(?:jsapi|wx_card|agent_config))?)\}:(token|fence|lock|lockinfo|status|forcelast|calls|force|ceiling|reports)(?::(\d{4}-\d{2}-\d{2}))?$/.exec(
        rest,
      );
    if (!m) return null;
    const accountId = m[1] as string;
    const kind = m[2] as AccountKeyKind;
    const day = m[3];
    const perDay = kind === "calls" || kind === "force";
    if (perDay !== (day !== undefined)) return null;
    return day === undefined ? { accountId, kind } : { accountId, kind, day };
  }
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
