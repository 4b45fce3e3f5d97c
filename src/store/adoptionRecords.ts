// Small shared records that the zero-code adoption surface needs beside the token itself (issue 13):
// - the previous token of each account while WeChat still accepts it, as its SHA-256 (the token-injecting proxy
//   accepts requests made with it, so a service that cached it a moment before a rotation is not refused; the token
//   itself is kept nowhere but in the token record);
// - the last foreign rotation seen (another system fetched a token for the AppID), for the diagnosis;
// - a probe slot, so only one replica at a time probes an account's token for foreign fetches;
// - an index from a token's SHA-256 to its account, so the proxy finds the account of a request that carries only
//   an access_token (one GET; a made-up token costs no scan over the accounts). Tokens are never keys themselves.
// Plain SET/GET with PX expiry: no read-modify-write, so no Lua. Keys carry the account's hash tag like every other.
import { createHash } from "node:crypto";
import type { RedisClient } from "./redisClient";
import { KeySpace } from "./keys";
import { toStoreError } from "./errors";

/** How a foreign token fetch was noticed: the broker's own probe, a caller's report, or WeChat's answer to a proxied call. */
export type ForeignVia = "probe" | "report" | "proxy";

export interface ForeignRotationRecord {
  /** Epoch ms of the detection. */
  at: number;
  via: ForeignVia;
}

export interface AdoptionRecords {
  /** Remember `accessToken` (its digest) as the account's previous token until `untilMs` (epoch ms). */
  setPrevious(accountId: string, accessToken: string, untilMs: number, nowMs: number): Promise<void>;
  /** Whether `accessToken` is the account's remembered previous token. */
  isPrevious(accountId: string, accessToken: string, nowMs: number): Promise<boolean>;
  /** Note a foreign rotation; kept `keepMs`, so the diagnosis shows it for a while after it happened. */
  noteForeign(accountId: string, record: ForeignRotationRecord, keepMs: number): Promise<void>;
  lastForeign(accountId: string, nowMs: number): Promise<ForeignRotationRecord | null>;
  /** True for exactly one caller (across replicas) per account and `ms`. */
  claimProbe(accountId: string, ms: number, nowMs: number): Promise<boolean>;
  /** Index `accessToken` as the account's until `untilMs`. */
  indexToken(accountId: string, accessToken: string, untilMs: number, nowMs: number): Promise<void>;
  /** The account a token was indexed for, or null. */
  accountOfToken(accessToken: string, nowMs: number): Promise<string | null>;
}

export function tokenDigest(accessToken: string): string {
  return createHash("sha256").update(accessToken, "utf8").digest("hex");
}

function parseForeign(raw: string | null): ForeignRotationRecord | null {
  if (raw === null) return null;
  try {
    const v = JSON.parse(raw) as { at?: unknown; via?: unknown };
    if (typeof v.at === "number" && (v.via === "probe" || v.via === "report" || v.via === "proxy")) return { at: v.at, via: v.via };
  } catch {
    // A damaged record is no record.
  }
  return null;
}

export class RedisAdoptionRecords implements AdoptionRecords {
  private readonly keys: KeySpace;

  constructor(
    private readonly redis: RedisClient,
    keyPrefix?: string,
  ) {
    this.keys = new KeySpace(keyPrefix);
  }

  private key(accountId: string, kind: "prevtoken" | "foreign" | "probeslot"): string {
    return `${this.keys.accountBase(accountId)}:${kind}`;
  }

  private indexKey(accessToken: string): string {
    return `${this.keys.prefix}tokidx:${tokenDigest(accessToken)}`;
  }

  async indexToken(accountId: string, accessToken: string, untilMs: number, nowMs: number): Promise<void> {
    const ttl = Math.floor(untilMs - nowMs);
    if (ttl <= 0) return;
    await this.run("SET tokidx", () => this.redis.set(this.indexKey(accessToken), accountId, "PX", ttl));
  }

  async accountOfToken(accessToken: string): Promise<string | null> {
    return this.run("GET tokidx", () => this.redis.get(this.indexKey(accessToken)));
  }

  private async run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toStoreError(op, err);
    }
  }

  async setPrevious(accountId: string, accessToken: string, untilMs: number, nowMs: number): Promise<void> {
    const ttl = Math.floor(untilMs - nowMs);
    if (ttl <= 0) return;
    await this.run("SET prevtoken", () => this.redis.set(this.key(accountId, "prevtoken"), tokenDigest(accessToken), "PX", ttl));
  }

  async isPrevious(accountId: string, accessToken: string): Promise<boolean> {
    return (await this.run("GET prevtoken", () => this.redis.get(this.key(accountId, "prevtoken")))) === tokenDigest(accessToken);
  }

  async noteForeign(accountId: string, record: ForeignRotationRecord, keepMs: number): Promise<void> {
    await this.run("SET foreign", () =>
      this.redis.set(this.key(accountId, "foreign"), JSON.stringify(record), "PX", Math.max(1, Math.floor(keepMs))),
    );
  }

  async lastForeign(accountId: string): Promise<ForeignRotationRecord | null> {
    return parseForeign(await this.run("GET foreign", () => this.redis.get(this.key(accountId, "foreign"))));
  }

  async claimProbe(accountId: string, ms: number): Promise<boolean> {
    const r = await this.run("SET probeslot", () =>
      this.redis.set(this.key(accountId, "probeslot"), "1", "PX", Math.max(1, Math.floor(ms)), "NX"),
    );
    return r === "OK";
  }
}

/** The embedded mode's records (one replica). */
export class MemoryAdoptionRecords implements AdoptionRecords {
  private readonly values = new Map<string, { value: string; until: number }>();

  private get(key: string, nowMs: number): string | null {
    const v = this.values.get(key);
    if (v === undefined) return null;
    if (v.until <= nowMs) {
      this.values.delete(key);
      return null;
    }
    return v.value;
  }

  async setPrevious(accountId: string, accessToken: string, untilMs: number, nowMs: number): Promise<void> {
    if (untilMs > nowMs) this.values.set(`prev:${accountId}`, { value: tokenDigest(accessToken), until: untilMs });
  }

  async isPrevious(accountId: string, accessToken: string, nowMs: number): Promise<boolean> {
    return this.get(`prev:${accountId}`, nowMs) === tokenDigest(accessToken);
  }

  async noteForeign(accountId: string, record: ForeignRotationRecord, keepMs: number): Promise<void> {
    this.values.set(`foreign:${accountId}`, { value: JSON.stringify(record), until: record.at + keepMs });
  }

  async lastForeign(accountId: string, nowMs: number): Promise<ForeignRotationRecord | null> {
    return parseForeign(this.get(`foreign:${accountId}`, nowMs));
  }

  async indexToken(accountId: string, accessToken: string, untilMs: number, nowMs: number): Promise<void> {
    if (untilMs <= nowMs) return;
    // Bounded: drop expired entries when the index grows (a few tokens per account are live at a time).
    if (this.values.size > 10_000) for (const [k, v] of this.values) if (v.until <= nowMs) this.values.delete(k);
    this.values.set(`idx:${tokenDigest(accessToken)}`, { value: accountId, until: untilMs });
  }

  async accountOfToken(accessToken: string, nowMs: number): Promise<string | null> {
    return this.get(`idx:${tokenDigest(accessToken)}`, nowMs);
  }

  async claimProbe(accountId: string, ms: number, nowMs: number): Promise<boolean> {
    if (this.get(`probe:${accountId}`, nowMs) !== null) return false;
    this.values.set(`probe:${accountId}`, { value: "1", until: nowMs + ms });
    return true;
  }
}
