// The refresh lock. It is for efficiency only (one upstream call instead of N); correctness comes from the
// fenced writes in the store. A lock can be lost to a pause or an expiry, so holders check `isValid()` right
// before calling WeChat and the store refuses their write if someone newer got the lock meanwhile.
import type { LockInventory, LockInventoryOptions } from "./inventory";

export interface LockHandle {
  readonly key: string;
  /** Fencing generation issued with this acquisition; strictly increasing per account. */
  readonly gen: number;
  /** Epoch ms after which the lock may be held by someone else. */
  readonly expiresAt: number;
  /** Identifies this holder (replica id + random), shown by lock listings. */
  readonly owner: string;
  /** True while the lock has not expired (with a safety margin of `marginMs`). */
  isValid(marginMs?: number): boolean;
  /** Idempotent. An already-expired lock is not an error: it is reported as `"expired"`. */
  release(): Promise<"released" | "expired">;
}

export interface LockHolder {
  owner: string;
  /** Remaining ms; -1 when the lock key has no TTL (a stuck lock: cleanup removes those). */
  ttlMs: number;
  gen?: number;
  acquiredAt?: number;
}

export interface RefreshLock {
  /** One attempt, no queueing: returns null when another holder has it. */
  tryAcquire(accountId: string, ttlMs: number): Promise<LockHandle | null>;
  /** Who holds the account's lock now, if anyone. */
  holder(accountId: string): Promise<LockHolder | null>;
  /** The listing and stuck-lock cleanup of this lock's keys (and of the legacy lock keys the options name). */
  inventory(opts?: LockInventoryOptions): LockInventory;
}
