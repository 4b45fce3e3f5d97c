// Foreign-fetch detection by probing (issue 13): every interval, one replica per account asks WeChat whether the
// token the broker holds still works. A current, unexpired token that WeChat calls invalid was killed by another
// system fetching a token for the same AppID; it is reported through TokenService.invalidate (compare-and-refresh),
// which counts the foreign rotation and replaces the token before callers trip over it.
import type { Account } from "../accounts";
import type { Logger } from "../logger";
import type { AdoptionRecords } from "../store/adoptionRecords";
import type { TokenStore } from "../store/types";
import type { WeChatApi } from "../wechat/types";
import { alive } from "./policy";
import { safeErr, type TokenService } from "./tokenService";

export interface ForeignWatchDeps {
  service: TokenService;
  store: TokenStore;
  wechat: WeChatApi;
  records: AdoptionRecords;
  logger: Logger;
  /** 0: off. */
  intervalMs: number;
  now?: () => number;
}

export class ForeignFetchWatch {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(private readonly d: ForeignWatchDeps) {
    this.now = d.now ?? Date.now;
  }

  start(): void {
    if (this.d.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.d.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One round over the accounts (also called by tests). Never throws. */
  tick(): Promise<void> {
    this.running ??= (async () => {
      try {
        for (const id of this.d.service.accountIds()) await this.check(this.d.service.account(id));
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private async check(account: Account): Promise<void> {
    const id = account.id;
    try {
      // One probe per account and interval across replicas (slightly shorter, so timer drift does not skip rounds).
      if (!(await this.d.records.claimProbe(id, Math.max(1, this.d.intervalMs - 250), this.now()))) return;
      const token = await this.d.store.get(id);
      if (!alive(token, this.now(), this.d.service.options)) return;
      const r = await this.d.wechat.probe(account, token.accessToken);
      if (r.valid) return;
      const errcode = r.error.errcode;
      this.d.logger.warn({ accountId: id, errcode }, "probe: WeChat rejects the token the broker holds; reporting it");
      await this.d.service.invalidate(id, token.accessToken, { via: "probe", ...(errcode !== undefined ? { errcode } : {}) });
    } catch (err) {
      this.d.logger.warn({ accountId: id, err: safeErr(err) }, "foreign-fetch probe failed");
    }
  }
}
