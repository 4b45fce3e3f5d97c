// The simulator's access tokens: issuing them on an app's chains, telling whether one still works, and remembering
// them for checkToken and the business APIs. The token-lifetime model is docs/wechat-api.md §4.2.
import { randomBytes, randomInt } from "node:crypto";
import type { AppRuntime, ChainName, ResolvedConfig, TokenRecord } from "./appRuntime";

/** Tokens kept for checkToken; beyond this, the oldest dead ones are forgotten (bounds memory in long benchmarks). */
const MAX_REMEMBERED_TOKENS = 200_000;

export type TokenStatus = { valid: true } | { valid: false; reason: "superseded" | "expired" };

/** Cause of death is whichever came first: being cut short by a newer token, or the end of its lifetime. */
export function tokenStatus(rec: TokenRecord, now: number): TokenStatus {
  if (now < rec.validUntil && now < rec.expiresAt) return { valid: true };
  return rec.validUntil < rec.expiresAt ? { valid: false, reason: "superseded" } : { valid: false, reason: "expired" };
}

export class TokenBook {
  private readonly tokens = new Map<string, TokenRecord>();

  get(value: string): TokenRecord | undefined {
    return this.tokens.get(value);
  }

  /**
   * Issues a new token on a chain. `overlap`: the previous token stays valid min(its expiry, now+overlapSec)
   * (classic fetch, force refresh). `keep`: the previous one lives to its own expiry (stable rotation, WeCom).
   * Either way anything older than the previous token is dead at once (docs/wechat-api.md §4.2).
   */
  issue(app: AppRuntime, chainName: ChainName, now: number, mode: "overlap" | "keep"): TokenRecord {
    const chain = app.chains[chainName];
    if (chain.previous !== undefined) chain.previous.validUntil = Math.min(chain.previous.validUntil, now);
    if (chain.current !== undefined && mode === "overlap") {
      chain.current.validUntil = Math.min(chain.current.validUntil, now + app.config.overlapSec * 1000);
    }
    const rec: TokenRecord = {
      value: this.newTokenValue(app.config),
      appId: app.config.appId,
      chain: chainName,
      issuedAt: now,
      expiresAt: now + app.config.tokenLifetimeSec * 1000,
      validUntil: now + app.config.tokenLifetimeSec * 1000,
    };
    chain.previous = chain.current;
    chain.current = rec;
    app.counters.tokensIssued++;
    this.tokens.set(rec.value, rec);
    if (this.tokens.size > MAX_REMEMBERED_TOKENS) this.prune(now);
    return rec;
  }

  /** Forgets every token of an app (the app was replaced or removed). */
  forget(appId: string): void {
    for (const [value, rec] of this.tokens) if (rec.appId === appId) this.tokens.delete(value);
  }

  private newTokenValue(c: ResolvedConfig): string {
    // Shapes of real tokens: MP `NN_` + ~136 base64-ish chars (≈140), WeCom a longer bare string.
    // A 1–3 character appid/secret appearing by chance in random text is no leak, so only longer ones are checked.
    const leaks = (v: string) => (c.appId.length >= 4 && v.includes(c.appId)) || (c.secret.length >= 4 && v.includes(c.secret));
    for (;;) {
      const v =
        c.platform === "wecom" ? randomBytes(129).toString("base64url") : `${randomInt(10, 100)}_${randomBytes(102).toString("base64url")}`;
      if (!leaks(v) && !this.tokens.has(v)) return v;
    }
  }

  private prune(now: number): void {
    const target = Math.floor(MAX_REMEMBERED_TOKENS * 0.9);
    for (const [value, rec] of this.tokens) {
      if (this.tokens.size <= target) break;
      if (!tokenStatus(rec, now).valid) this.tokens.delete(value);
    }
  }
}
