// The refresh lock of a cluster member: redlock 5.0.0-beta.2 on the one shared Redis, plus a fencing generation.
// This class and its inventory (redisInventory.ts, reached through `inventory()`) are the only code that touches the
// lock keys: acquiring, fencing and releasing here, listing and stuck-lock cleanup there.
//
// The lock is approximate (efficiency only: one WeChat call instead of N). A holder can pause past its TTL; the
// store's CAS on `gen` is what keeps a late holder from overwriting a newer token. How redlock is used, given its
// known problems (numbered as in docs/design.md §8.1):
// - retryCount 0: one attempt, no queue; losers wait for the winner's "refreshed" notice instead.
// - never `using()`/`extend()`: auto-extension aborts on bug #3 and hides failures.
// - redlock throws the same ExecutionError for "someone holds it" and "Redis is down" (bug #1): the per-client
//   votes tell them apart; contention becomes null, anything else is thrown as LockUnavailableError.
// - releasing an expired lock throws (bug #2): caught and reported as "expired".
// - expiresAt is computed from a timestamp taken before the acquire round trip (bug #3), minus drift.
import { randomBytes } from "node:crypto";
import Redlock, { ExecutionError, ResourceLockedError, type Lock } from "redlock";
import type { Logger } from "../logger";
import type { LockHandle, LockHolder, RefreshLock } from "./types";
import { KeySpace, DEFAULT_KEY_PREFIX, type AccountKeys } from "../store/keys";
import { LOCK_ATTACH, LOCKINFO_RELEASE } from "../store/lua";
import { sanitizeRedisError } from "../store/errors";
import type { RedisClient } from "../store/redisClient";
import { LockUnavailableError, lockUnavailable } from "./errors";
import type { HolderFields, LockInventory, LockInventoryOptions } from "./inventory";
import { RedisLockInventory, readLockHolder, unlockStuck } from "./redisInventory";

export { LockUnavailableError } from "./errors";

export interface RedisRefreshLockOptions {
  /** One server or a Cluster: the lock is one key, so redlock's single-instance acquire runs on its slot's master. */
  redis: RedisClient;
  /** Stable id of this replica (e.g. hostname); a random suffix is added so two processes never share an owner. */
  replicaId: string;
  keyPrefix?: string;
  logger: Logger;
}

// Redlock's own default; Redis expiry has 1 ms precision, hence + 2 like redlock.
const DRIFT_FACTOR = 0.01;
// Connection states in which a command would only sit in the offline queue until commandTimeout.
const DOWN_STATES: ReadonlySet<string> = new Set(["reconnecting", "close", "end"]);

export class RedisRefreshLock implements RefreshLock {
  readonly owner: string;
  private readonly redis: RedisClient;
  private readonly redlock: Redlock;
  private readonly keys: KeySpace;
  private readonly logger: Logger;

  constructor(opts: RedisRefreshLockOptions) {
    if (!/^[A-Za-z0-9_.:@-]{1,100}$/.test(opts.replicaId)) throw new TypeError(`invalid replicaId ${JSON.stringify(opts.replicaId)}`);
    this.redis = opts.redis;
    this.keys = new KeySpace(opts.keyPrefix ?? DEFAULT_KEY_PREFIX);
    this.logger = opts.logger;
    this.owner = `${opts.replicaId}#${randomBytes(4).toString("hex")}`;
    this.redlock = new Redlock([opts.redis], { retryCount: 0, retryDelay: 0, retryJitter: 0, driftFactor: DRIFT_FACTOR });
  }

  async tryAcquire(accountId: string, ttlMs: number): Promise<LockHandle | null> {
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 10) throw new TypeError(`lock ttlMs must be an integer ≥ 10, got ${String(ttlMs)}`);
    const k = this.keys.account(accountId);
    // A cheap check first: while the connection is down, fail now instead of after commandTimeout (twice: redlock
    // follows a failed acquire with a release attempt).
    if (DOWN_STATES.has(this.redis.status))
      throw new LockUnavailableError(`refresh lock unavailable: redis connection is ${this.redis.status}`);

    const startedAt = Date.now();
    let lock: Lock;
    try {
      lock = await this.redlock.acquire([k.lock], ttlMs);
    } catch (err) {
      const why = await classify(err);
      if (why.contended) return null;
      throw unavailable("acquire", why.cause);
    }

    let reply: unknown;
    try {
      reply = await LOCK_ATTACH.run(this.redis, [k.lock, k.lockinfo, k.fence, k.token], [lock.value, this.owner, String(startedAt)]);
    } catch (err) {
      // We may hold the lock without a gen: give it back (best effort; it lapses at its TTL anyway).
      await this.redlock.release(lock).catch(() => undefined);
      throw unavailable("fence", err);
    }
    const [gen] = Array.isArray(reply) ? reply.map(Number) : [0];
    if (!gen) {
      // The lock expired between acquire and attach (a pause longer than the TTL): someone else may have it now.
      this.logger.warn({ accountId, ttlMs }, "refresh lock lapsed right after it was acquired; treating as contended");
      return null;
    }
    // Bug #3: redlock's expiration may be measured from an earlier moment; take whichever is earlier.
    const expiresAt = Math.min(lock.expiration, startedAt + ttlMs - (Math.round(DRIFT_FACTOR * ttlMs) + 2));
    return new RedisLockHandle(this, lock, k, gen, expiresAt, accountId);
  }

  async holder(accountId: string): Promise<LockHolder | null> {
    const k = this.keys.account(accountId);
    let h: HolderFields | null;
    try {
      h = await readLockHolder(this.redis, k);
    } catch (err) {
      throw unavailable("holder", err);
    }
    return h ? { ...h, owner: h.owner ?? "unknown" } : null;
  }

  /** The listing and stuck-lock cleanup of this lock's keys under its prefix, and of the legacy patterns given. */
  inventory(opts: LockInventoryOptions = {}): LockInventory {
    return new RedisLockInventory(this.redis, this.keys, opts);
  }

  /**
   * Remove the account's lock only if it has no TTL (a stuck lock, left by hand or by old tooling; ours always
   * have one). Returns true when it removed one. Never touches a live holder's lock.
   */
  async clearStuck(accountId: string): Promise<boolean> {
    const k = this.keys.account(accountId);
    try {
      return await unlockStuck(this.redis, k);
    } catch (err) {
      throw unavailable("clearStuck", err);
    }
  }

  /** @internal Release steps for a handle; never throws. */
  async releaseHandle(lock: Lock, k: AccountKeys, gen: number, accountId: string): Promise<"released" | "expired"> {
    let result: "released" | "expired";
    try {
      await this.redlock.release(lock);
      result = "released";
    } catch (err) {
      const why = await classify(err);
      if (!why.contended) {
        // Redis unreachable: the outcome is unknown. The key lapses at its TTL; for the caller the lock is gone
        // either way, and a throwing release would only mask the refresh's own result.
        this.logger.warn(
          { accountId, error: sanitizeRedisError(why.cause).message },
          "could not release refresh lock; it will lapse at its TTL",
        );
      }
      // Contended: our value is gone, the lock expired (and someone else may hold it now). Not an error.
      result = "expired";
    }
    try {
      // Only our own info: if the lock was taken over, the new holder's info stays.
      await LOCKINFO_RELEASE.run(this.redis, [k.lockinfo], [this.owner, String(gen)]);
    } catch {
      // It has the lock's expiry; nothing to do.
    }
    return result;
  }
}

class RedisLockHandle implements LockHandle {
  readonly key: string;
  readonly owner: string;
  private released: Promise<"released" | "expired"> | undefined;

  constructor(
    private readonly parent: RedisRefreshLock,
    private readonly lock: Lock,
    private readonly keys: AccountKeys,
    readonly gen: number,
    readonly expiresAt: number,
    private readonly accountId: string,
  ) {
    this.key = keys.lock;
    this.owner = parent.owner;
  }

  isValid(marginMs = 0): boolean {
    return this.released === undefined && Date.now() + marginMs < this.expiresAt;
  }

  release(): Promise<"released" | "expired"> {
    // Idempotent: every call gets the outcome of the first.
    this.released ??= this.parent.releaseHandle(this.lock, this.keys, this.gen, this.accountId);
    return this.released;
  }
}

/**
 * Why redlock failed. Its ExecutionError is the same for every cause (bug #1); the per-client votes say whether
 * the resource was simply locked by someone else (every vote a ResourceLockedError) or Redis failed.
 */
async function classify(err: unknown): Promise<{ contended: boolean; cause: unknown }> {
  if (!(err instanceof ExecutionError)) return { contended: false, cause: err };
  const votes: Error[] = [];
  for (const attempt of err.attempts) votes.push(...(await attempt).votesAgainst.values());
  const other = votes.find((e) => !(e instanceof ResourceLockedError));
  return { contended: votes.length > 0 && other === undefined, cause: other ?? err };
}

function unavailable(op: string, cause: unknown): LockUnavailableError {
  return lockUnavailable(`refresh lock unavailable (${op})`, cause);
}
