// Walking the keyspace for lock keys, at a bounded cost. The one place that calls SCAN (never KEYS): a full walk
// for the admin's listing and cleanup, and the incremental sweep behind the census the unauthenticated diagnosis
// reads (how often it steps is src/ops/locks.ts's business).
//
// SCAN MATCH costs Redis a visit of every key it walks, matching or not: on a shared Redis with 300,000 keys one
// walk is ~300 calls at COUNT 1000, whatever the pattern. So budgets count keys *visited* (calls × COUNT, which is
// what Redis walks per call), not keys matched. A walk that hits its budget says so (`complete: false`).
//
// A Redis Cluster has one keyspace per master: a walk over a cluster runs one of these per master node.
import type { Redis } from "ioredis";
import { isCluster, type RedisClient } from "../store/redisClient";

export interface ScanLimits {
  /** SCAN COUNT: keys Redis walks per call. */
  scanCount: number;
  /** Keys visited before a walk stops (rounded up to whole calls). */
  visitBudget: number;
  /** Matching keys kept at most; more makes the walk `truncated`. */
  maxKeys: number;
}

/** One step of the census's sweep: at most `visitBudget` keys walked per pattern (about 20 SCAN calls). */
export const SWEEP_DEFAULTS = { visitBudget: 20_000, scanCount: 1_000 } as const;
/** The admin's full listing and cleanup: a walk of up to 2 million keys per pattern (an explicit, authenticated act). */
export const FULL_WALK_DEFAULTS = { visitBudget: 2_000_000, scanCount: 1_000 } as const;

export interface WalkResult {
  keys: string[];
  /** Keys Redis walked (calls × COUNT). */
  visited: number;
  /** False when the visit budget ran out before the cursor came back to 0. */
  complete: boolean;
  /** True when more keys matched than `maxKeys`. */
  truncated: boolean;
}

/** One walk of the whole keyspace for `pattern`, within the limits. */
export async function walkKeys(redis: RedisClient, pattern: string, limits: ScanLimits): Promise<WalkResult> {
  if (isCluster(redis)) {
    // SCAN walks one server: on a Cluster, every master's keyspace (replicas hold copies), each within the limits.
    const walks = await Promise.all(redis.nodes("master").map((node) => walkNode(node, pattern, limits)));
    const keys = [...new Set(walks.flatMap((w) => w.keys))];
    return {
      keys: keys.slice(0, limits.maxKeys),
      visited: walks.reduce((n, w) => n + w.visited, 0),
      complete: walks.every((w) => w.complete),
      truncated: keys.length > limits.maxKeys || walks.some((w) => w.truncated),
    };
  }
  return walkNode(redis, pattern, limits);
}

async function walkNode(redis: Redis, pattern: string, limits: ScanLimits): Promise<WalkResult> {
  const keys = new Set<string>();
  const maxCalls = Math.max(1, Math.ceil(limits.visitBudget / limits.scanCount));
  let cursor = "0";
  let calls = 0;
  let truncated = false;
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", limits.scanCount);
    calls++;
    cursor = next;
    for (const k of batch) {
      if (keys.size < limits.maxKeys) keys.add(k);
      else if (!keys.has(k)) truncated = true;
    }
    if (truncated) break;
  } while (cursor !== "0" && calls < maxCalls);
  return { keys: [...keys], visited: calls * limits.scanCount, complete: cursor === "0" && !truncated, truncated };
}

/**
 * A walk spread over many refreshes: each `step` goes on from where the last stopped, for at most the budget. The
 * keys it knows are those of the last complete pass plus those found so far in the current one, so a key anywhere
 * in the keyspace is seen within one pass (keyspace size / budget refreshes), whatever the request rate.
 */
export class KeySweep {
  private cursor = "0";
  private current = new Set<string>();
  private last: Set<string> | null = null;
  private overflowed = false;
  private lastOverflowed = false;
  /** Keys visited by the last step. */
  visited = 0;

  constructor(
    readonly pattern: string,
    private readonly limits: ScanLimits,
  ) {}

  /** True once one full pass has finished. */
  get complete(): boolean {
    return this.last !== null;
  }

  get truncated(): boolean {
    return this.overflowed || this.lastOverflowed;
  }

  /** One sweep per master of a Cluster (each keeps its own cursor), keyed by the node's address. */
  private readonly perNode = new Map<string, KeySweep>();

  async step(redis: RedisClient): Promise<void> {
    if (isCluster(redis)) {
      const masters = redis.nodes("master");
      let visited = 0;
      for (const node of masters) {
        const key = `${node.options.host ?? ""}:${node.options.port ?? ""}`;
        let sweep = this.perNode.get(key);
        if (!sweep) this.perNode.set(key, (sweep = new KeySweep(this.pattern, this.limits)));
        await sweep.step(node);
        visited += sweep.visited;
      }
      this.visited = visited;
      if (masters.every((n) => this.perNode.get(`${n.options.host ?? ""}:${n.options.port ?? ""}`)?.complete)) this.last ??= new Set();
      return;
    }
    const maxCalls = Math.max(1, Math.ceil(this.limits.visitBudget / this.limits.scanCount));
    let calls = 0;
    while (calls < maxCalls) {
      const [next, batch] = await redis.scan(this.cursor, "MATCH", this.pattern, "COUNT", this.limits.scanCount);
      calls++;
      this.cursor = next;
      for (const k of batch) {
        if (this.current.size < this.limits.maxKeys) this.current.add(k);
        else this.overflowed = true;
      }
      if (next === "0") {
        this.last = this.current;
        this.lastOverflowed = this.overflowed;
        this.current = new Set();
        this.overflowed = false;
        break;
      }
    }
    this.visited = calls * this.limits.scanCount;
  }

  /** The keys known now (some may have gone since: readers skip missing keys). */
  keys(): string[] {
    const all = new Set(this.last ?? []);
    for (const k of this.current) all.add(k);
    for (const sweep of this.perNode.values()) for (const k of sweep.keys()) all.add(k);
    return [...all].slice(0, this.limits.maxKeys);
  }
}
