// Which tokens the broker stands behind (issue 13): the token-injecting proxy only relays requests that carry one,
// so it is no open relay. A token is "issued" while it is the account's current stored token, or its previous one
// during WeChat's overlap (a service may have cached it a moment before a rotation).
import type { AdoptionRecords } from "../store/adoptionRecords";
import type { TokenStore } from "../store/types";

export interface IssuedTokensDeps {
  store: TokenStore;
  records: AdoptionRecords;
  accountIds: () => string[];
  now?: () => number;
}

export class IssuedTokens {
  private readonly now: () => number;
  /** Tokens this process has already indexed (handed out by the compatible endpoints), so each is written once. */
  private readonly indexed = new Map<string, string>();

  constructor(private readonly d: IssuedTokensDeps) {
    this.now = d.now ?? Date.now;
  }

  /** Whether `accessToken` is the account's current token, or its previous one within the overlap. */
  async isIssued(accountId: string, accessToken: string): Promise<boolean> {
    const now = this.now();
    const current = await this.d.store.get(accountId);
    // The current token is accepted whatever its age: the token endpoints hand it out until the safety margin, and
    // if WeChat has expired it after all, the proxy's report and retry replace it.
    if (current !== null && current.accessToken === accessToken) return true;
    return this.d.records.isPrevious(accountId, accessToken, now);
  }

  /** The account an issued token belongs to, or null when the broker does not stand behind it. */
  async accountOf(accessToken: string): Promise<string | null> {
    const accountId = await this.d.records.accountOfToken(accessToken, this.now());
    if (accountId === null || !this.d.accountIds().includes(accountId)) return null;
    return (await this.isIssued(accountId, accessToken)) ? accountId : null;
  }

  /** Make sure a token handed out is in the index (tokens stored before the index existed are not). */
  async remember(accountId: string, accessToken: string, expiresAt: number): Promise<void> {
    if (this.indexed.get(accountId) === accessToken) return;
    await this.d.records.indexToken(accountId, accessToken, expiresAt, this.now());
    this.indexed.set(accountId, accessToken);
  }
}
