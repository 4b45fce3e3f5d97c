// A TokenStore that indexes each token it writes (token digest → account, for the proxy) and remembers the token
// each write replaces, for as long as WeChat still accepts it (its overlap: min(its own expiry, now + overlap)).
// The token-injecting proxy accepts requests made with that previous token.
// A decorator rather than a change inside the stores or TokenService: one extra read per rotation, the refresh
// algorithm untouched, and every other method (including ones added later) passed through as is.
import type { Logger } from "../logger";
import type { AdoptionRecords } from "./adoptionRecords";
import type { StoredToken, TokenStore, WriteResult } from "./types";

export interface PreviousTokenOptions {
  records: AdoptionRecords;
  /** WeChat's old/new overlap (300 s; shorter only in tests). */
  overlapMs: number;
  now?: () => number;
  logger: Logger;
}

export function trackPreviousTokens<S extends TokenStore>(inner: S, o: PreviousTokenOptions): S {
  const now = o.now ?? Date.now;
  const warn = (accountId: string, err: unknown, msg: string) =>
    o.logger.warn({ accountId, err: { message: err instanceof Error ? err.message : String(err) } }, msg);
  const write = async (accountId: string, token: StoredToken): Promise<WriteResult> => {
    const before = await inner.get(accountId);
    // The old token is remembered before the new one is written: the proxy accepts a token that is current or the
    // remembered previous one, and a rotation that wrote first left a moment in which the old token was neither
    // (every caller holding it was refused once). Remembering a token the write then fails to replace costs
    // nothing, because the current token is accepted first; it drops the record of the token before it, which
    // WeChat's overlap has ended unless two rotations fell within it.
    if (before !== null && before.accessToken !== token.accessToken) {
      const at = now();
      const until = Math.min(before.expiresAt, at + o.overlapMs);
      // Best effort: without the record, a caller still holding the old token is refused once and fetches anew.
      await o.records
        .setPrevious(accountId, before.accessToken, until, at)
        .catch((err: unknown) => warn(accountId, err, "could not remember the previous token"));
    }
    const result = await inner.write(accountId, token);
    if (result === "written") {
      await o.records
        .indexToken(accountId, token.accessToken, token.expiresAt, now())
        .catch((err: unknown) => warn(accountId, err, "could not index the new token"));
    }
    return result;
  };
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === "write") return write;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
