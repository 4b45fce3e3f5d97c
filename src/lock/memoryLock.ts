// The in-process refresh lock for embedded mode (one replica, memory store). Same semantics as RedisRefreshLock:
// one holder per account until release or TTL, a strictly increasing gen per account, idempotent release that
// reports "expired" when the TTL ran out first. Time comes from an injectable clock so tests can move it.
// Its inventory lists the held locks like the Redis lock lists its keys; every lock here has an in-process expiry,
// so none can be stuck and cleanup removes nothing.
import { randomBytes } from "node:crypto";
import { systemClock, type Clock } from "../clock";
import type { LockHandle, LockHolder, RefreshLock } from "./types";
import { KeySpace, DEFAULT_KEY_PREFIX } from "../store/keys";
import { brokerLockEntry, cleanUp, type LockEntry, type LockInventory, type LockSurvey } from "./inventory";

export interface MemoryRefreshLockOptions {
  clock?: Clock;
  /** Shown as the owner prefix in listings (default "local"). */
  replicaId?: string;
  /** Names handles' `key` and listed locks like the Redis lock does. */
  keyPrefix?: string;
}

interface Held {
  handle: MemoryLockHandle;
  expiresAt: number;
  acquiredAt: number;
}

export class MemoryRefreshLock implements RefreshLock {
  readonly owner: string;
  private readonly clock: Clock;
  private readonly keys: KeySpace;
  private readonly held = new Map<string, Held>();
  /** Last gen issued per account; never reset, so gens keep increasing across holders. */
  private readonly gens = new Map<string, number>();

  constructor(opts: MemoryRefreshLockOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.keys = new KeySpace(opts.keyPrefix ?? DEFAULT_KEY_PREFIX);
    this.owner = `${opts.replicaId ?? "local"}#${randomBytes(4).toString("hex")}`;
  }

  async tryAcquire(accountId: string, ttlMs: number): Promise<LockHandle | null> {
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 10) throw new TypeError(`lock ttlMs must be an integer ≥ 10, got ${String(ttlMs)}`);
    const key = this.keys.account(accountId).lock;
    const now = this.clock.now();
    const cur = this.held.get(accountId);
    if (cur && now < cur.expiresAt) return null;
    const gen = (this.gens.get(accountId) ?? 0) + 1;
    this.gens.set(accountId, gen);
    const expiresAt = now + ttlMs;
    const handle = new MemoryLockHandle(this, this.clock, accountId, key, gen, expiresAt, this.owner);
    this.held.set(accountId, { handle, expiresAt, acquiredAt: now });
    return handle;
  }

  async holder(accountId: string): Promise<Required<LockHolder> | null> {
    this.keys.accountBase(accountId);
    const cur = this.held.get(accountId);
    const now = this.clock.now();
    if (!cur || now >= cur.expiresAt) return null;
    return { owner: cur.handle.owner, ttlMs: cur.expiresAt - now, gen: cur.handle.gen, acquiredAt: cur.acquiredAt };
  }

  /** The held locks, listed like the Redis lock's keys. Legacy patterns name Redis keys: there are none here. */
  inventory(): LockInventory {
    const survey = (): LockSurvey & { examined: Array<{ entry: LockEntry }> } => {
      const now = this.clock.now();
      const locks: LockEntry[] = [];
      for (const [accountId, cur] of this.held) {
        // A lock past its TTL is free, as a Redis key past its TTL is gone.
        if (now >= cur.expiresAt) continue;
        const h = { owner: cur.handle.owner, ttlMs: cur.expiresAt - now, gen: cur.handle.gen, acquiredAt: cur.acquiredAt };
        locks.push(brokerLockEntry(cur.handle.key, accountId, h, now));
      }
      locks.sort((a, b) => a.key.localeCompare(b.key));
      return { locks, scanned: locks.length, truncated: false, examined: locks.map((entry) => ({ entry })) };
    };
    return {
      mode: "embedded",
      list: async () => {
        const { locks, scanned, truncated } = survey();
        return { locks, scanned, truncated };
      },
      sweep: async () => {
        const { locks, scanned, truncated } = survey();
        return { locks, scanned, truncated, complete: true, visited: 0 };
      },
      // Nothing here can be stuck, so nothing is ever handed to the remover.
      cleanup: async (opts = {}) => cleanUp(survey(), opts.dryRun === true, async () => false),
    };
  }

  /** @internal */
  releaseHandle(handle: MemoryLockHandle): "released" | "expired" {
    const cur = this.held.get(handle.accountId);
    if (!cur || cur.handle !== handle) return "expired"; // taken over (or already gone): leave the new holder alone
    this.held.delete(handle.accountId);
    return this.clock.now() < cur.expiresAt ? "released" : "expired";
  }
}

class MemoryLockHandle implements LockHandle {
  private result: Promise<"released" | "expired"> | undefined;

  constructor(
    private readonly parent: MemoryRefreshLock,
    private readonly clock: Clock,
    readonly accountId: string,
    readonly key: string,
    readonly gen: number,
    readonly expiresAt: number,
    readonly owner: string,
  ) {}

  isValid(marginMs = 0): boolean {
    return this.result === undefined && this.clock.now() + marginMs < this.expiresAt;
  }

  release(): Promise<"released" | "expired"> {
    this.result ??= Promise.resolve(this.parent.releaseHandle(this));
    return this.result;
  }
}
