// The token store of a cluster member: every replica reads and writes the same Redis. Correctness lives in the
// Lua scripts (src/store/lua.ts): fenced CAS writes, compare-and-delete invalidation, atomic force budget.
// Every error leaving this class is a StoreError carrying no command arguments (see errors.ts).
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Logger } from "../logger";
import { quotaDayEnd } from "../clock";
import type { AccountStatus, ForceBudgetResult, RateSlot, SlotResult, StoredToken, TokenStore, WriteResult } from "./types";
import { KeySpace, DEFAULT_KEY_PREFIX } from "./keys";
import { CAS_WRITE, COUNT_DAILY, FORCE_CLOSE, FORCE_TAKE, INVALIDATE, SLOT_TAKE } from "./lua";
import { StoreError, toStoreError } from "./errors";
import { readClusterState, type ClusterState } from "./clusterState";
import { connectionProblem, isCluster, type RedisClient } from "./redisClient";
import {
  DAILY_COUNTER_TTL_MS,
  STATUS_TTL_MS,
  TOKEN_RETENTION_MS,
  assertForceLimits,
  assertNoticeGen,
  assertNowMs,
  assertSlot,
  assertStatus,
  assertToken,
  defaultStatus,
  parseRefreshedMessage,
  parseStatus,
  parseStoredToken,
  serializeStatus,
  type RefreshedListener,
} from "./common";

export interface RedisTokenStoreOptions {
  /** Command connection (see createRedisClient): one server or a Cluster. */
  redis: RedisClient;
  /** A separate connection used only for SUBSCRIBE (see duplicateRedisClient). */
  subscriber: RedisClient;
  keyPrefix?: string;
  logger: Logger;
  /** How long the token hash outlives `expiresAt`, so its `gen` keeps fencing late writers (default 24 h). */
  tokenRetentionMs?: number;
}

const RESUBSCRIBE_DELAY_MS = 1000;
/** Event-loop utilisation during a timed-out read above which the timeout is blamed on this process, not on Redis. */
const BUSY_LOOP = 0.5;
/** How many more times such a read is asked. */
const BUSY_RETRIES = 2;

function isCommandTimeout(err: unknown): boolean {
  return err instanceof StoreError && err.cause instanceof Error && err.cause.message === "Command timed out";
}

export class RedisTokenStore implements TokenStore {
  readonly mode = "redis" as const;
  readonly keys: KeySpace;
  private readonly redis: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly logger: Logger;
  private readonly retentionMs: number;
  private readonly listeners = new Set<RefreshedListener>();
  private closed = false;
  private subscribedOk = false;
  private subscribing = false;
  private resubscribeTimer: NodeJS.Timeout | undefined;
  private readonly subscribedWaiters: Array<() => void> = [];
  private readonly onMessage = (channel: string, message: string) => this.handleMessage(channel, message);
  private readonly onSubscriberReady = () => this.ensureSubscribed();

  constructor(opts: RedisTokenStoreOptions) {
    if (opts.redis === opts.subscriber) throw new TypeError("RedisTokenStore needs a separate subscriber connection");
    this.redis = opts.redis;
    this.subscriber = opts.subscriber;
    this.keys = new KeySpace(opts.keyPrefix ?? DEFAULT_KEY_PREFIX);
    this.logger = opts.logger;
    this.retentionMs = opts.tokenRetentionMs ?? TOKEN_RETENTION_MS;
    this.subscriber.on("message", this.onMessage);
    // ioredis re-subscribes by itself after a reconnect, but only channels whose SUBSCRIBE was confirmed; one
    // that failed (Redis down at start-up) is retried here when the connection becomes ready.
    this.subscriber.on("ready", this.onSubscriberReady);
    this.ensureSubscribed();
  }

  /** Resolves once the SUBSCRIBE to the refreshed channel is confirmed (pub/sub is at-most-once before that). */
  subscribed(): Promise<void> {
    if (this.subscribedOk) return Promise.resolve();
    return new Promise((resolve) => this.subscribedWaiters.push(resolve));
  }

  async get(accountId: string): Promise<StoredToken | null> {
    const key = this.keys.account(accountId).token;
    const h = await this.read("get", () => this.redis.hgetall(key));
    const token = parseStoredToken(h);
    if (!token && h.accessToken !== undefined) {
      this.logger.warn({ accountId }, "stored token hash is malformed; treating it as absent");
    }
    return token;
  }

  async write(accountId: string, token: StoredToken): Promise<WriteResult> {
    assertToken(token);
    const key = this.keys.account(accountId).token;
    const reply = await this.run("write", () =>
      CAS_WRITE.run(
        this.redis,
        [key],
        [
          String(token.gen),
          token.accessToken,
          String(token.expiresAt),
          String(token.fetchedAt),
          token.api,
          String(this.retentionMs),
          String(token.checkedAt),
          String(token.notBefore),
        ],
      ),
    );
    const [written, storedGen] = asArray(reply, "write");
    if (Number(written) === 1) return "written";
    this.logger.debug({ accountId, gen: token.gen, storedGen: Number(storedGen) }, "token write fenced out by a newer generation");
    return "fenced";
  }

  async invalidate(accountId: string, accessToken: string): Promise<boolean> {
    if (typeof accessToken !== "string" || accessToken.length === 0) return false;
    const key = this.keys.account(accountId).token;
    const reply = await this.run("invalidate", () => INVALIDATE.run(this.redis, [key], [accessToken]));
    return Number(reply) === 1;
  }

  async publishRefreshed(accountId: string, gen: number): Promise<void> {
    this.keys.accountBase(accountId); // validates the id before it goes on the wire
    assertNoticeGen(gen);
    await this.run("publishRefreshed", () => this.redis.publish(this.keys.refreshedChannel, JSON.stringify({ accountId, gen })));
  }

  onRefreshed(listener: RefreshedListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async countUpstreamCall(accountId: string, day: string): Promise<number> {
    const key = this.keys.account(accountId).calls(day);
    return Number(await this.run("countUpstreamCall", () => COUNT_DAILY.run(this.redis, [key], [String(DAILY_COUNTER_TTL_MS)])));
  }

  async upstreamCalls(accountId: string, day: string): Promise<number> {
    const key = this.keys.account(accountId).calls(day);
    return toCount(await this.read("upstreamCalls", () => this.redis.get(key)));
  }

  async takeForceBudget(
    accountId: string,
    nowMs: number,
    day: string,
    limits: { perDay: number; minIntervalMs: number },
  ): Promise<ForceBudgetResult> {
    assertNowMs(nowMs);
    assertForceLimits(limits);
    const k = this.keys.account(accountId);
    const reply = await this.run("takeForceBudget", () =>
      FORCE_TAKE.run(
        this.redis,
        [k.force(day), k.forceLast],
        [String(nowMs), String(limits.perDay), String(limits.minIntervalMs), String(DAILY_COUNTER_TTL_MS)],
      ),
    );
    const [ok, used, reason, last] = asArray(reply, "takeForceBudget");
    const usedToday = Number(used);
    if (Number(ok) === 1) return { ok: true, usedToday };
    if (reason === "too_soon") return { ok: false, usedToday, reason: "too_soon", retryAt: Number(last) + limits.minIntervalMs };
    return { ok: false, usedToday, reason: "daily_limit", retryAt: quotaDayEnd(nowMs) };
  }

  async forceBudgetUsed(accountId: string, day: string): Promise<number> {
    const key = this.keys.account(accountId).force(day);
    return toCount(await this.read("forceBudgetUsed", () => this.redis.get(key)));
  }

  async closeForceBudget(accountId: string, day: string, perDay: number): Promise<void> {
    const key = this.keys.account(accountId).force(day);
    await this.run("closeForceBudget", () => FORCE_CLOSE.run(this.redis, [key], [String(perDay), String(DAILY_COUNTER_TTL_MS)]));
  }

  async takeSlot(slot: RateSlot, limit: number, windowMs: number): Promise<SlotResult> {
    assertSlot(limit, windowMs);
    const key =
      "accountId" in slot
        ? this.keys.account(slot.accountId)[slot.kind === "calls" ? "ceiling" : "reports"]
        : this.keys.callerReports(slot.caller);
    const reply = await this.run("takeSlot", () => SLOT_TAKE.run(this.redis, [key], [String(limit), String(windowMs), randomUUID()]));
    const [ok, retryIn] = asArray(reply, "takeSlot");
    return { ok: Number(ok) === 1, retryInMs: Math.max(0, Number(retryIn) || 0) };
  }

  async getStatus(accountId: string): Promise<AccountStatus> {
    const key = this.keys.account(accountId).status;
    const raw = await this.read("getStatus", () => this.redis.get(key));
    if (raw === null) return defaultStatus();
    const status = parseStatus(raw);
    if (!status) {
      this.logger.warn({ accountId }, "stored account status is malformed; treating it as closed");
      return defaultStatus();
    }
    return status;
  }

  async setStatus(accountId: string, status: AccountStatus): Promise<void> {
    assertStatus(status);
    const key = this.keys.account(accountId).status;
    // A TTL so accounts removed from the config do not leave status behind forever.
    await this.run("setStatus", () => this.redis.set(key, serializeStatus(status), "PX", STATUS_TTL_MS));
  }

  async ping(): Promise<number> {
    const started = performance.now();
    await this.run("ping", () => this.redis.ping());
    return performance.now() - started;
  }

  isReady(): boolean {
    return !this.closed && this.redis.status === "ready";
  }

  async clusterState(): Promise<ClusterState | null> {
    if (!isCluster(this.redis)) return null;
    const cluster = this.redis;
    return this.run("clusterState", () => readClusterState(cluster));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.resubscribeTimer);
    this.listeners.clear();
    this.subscriber.off("message", this.onMessage);
    this.subscriber.off("ready", this.onSubscriberReady);
    for (const w of this.subscribedWaiters.splice(0)) w();
    await Promise.all([quitOrDisconnect(this.redis), quitOrDisconnect(this.subscriber)]);
  }

  private async run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw toStoreError(op, new Error("store is closed"));
    try {
      return await fn();
    } catch (err) {
      throw toStoreError(op, err, connectionProblem(this.redis));
    }
  }

  /**
   * A read, asked again when it timed out while this process was too busy to read the reply. ioredis times a command
   * with a timer; when a burst of hundreds of requests keeps the event loop busy, Node runs that timer before it gets
   * to the socket, and the command fails although Redis's reply is already waiting. So a timeout counts only if the
   * loop was mostly idle while it waited (event-loop utilisation over the wait below BUSY_LOOP): then Redis itself
   * was slow, and a frozen Redis fails after one timeout. Otherwise the read is asked again, up to BUSY_RETRIES more
   * times, which bounds a read to (1 + BUSY_RETRIES) timeouts. Reads only: a write whose outcome is unknown is not
   * repeated blindly.
   */
  private async read<T>(op: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const before = performance.eventLoopUtilization();
      try {
        return await this.run(op, fn);
      } catch (err) {
        const busy = performance.eventLoopUtilization(before).utilization;
        if (busy < BUSY_LOOP || attempt >= BUSY_RETRIES || !isCommandTimeout(err) || this.redis.status !== "ready") throw err;
        this.logger.debug(
          { op, eventLoopUtilization: Math.round(busy * 100) / 100, attempt: attempt + 1 },
          "store read timed out while the event loop was busy; asking again",
        );
      }
    }
  }

  private ensureSubscribed(): void {
    if (this.closed || this.subscribedOk || this.subscribing) return;
    this.subscribing = true;
    this.subscriber.subscribe(this.keys.refreshedChannel).then(
      () => {
        this.subscribing = false;
        this.subscribedOk = true;
        for (const w of this.subscribedWaiters.splice(0)) w();
      },
      (err: unknown) => {
        this.subscribing = false;
        if (this.closed) return;
        this.logger.warn(
          { error: toStoreError("subscribe", err, connectionProblem(this.subscriber)).message },
          "could not subscribe to refresh notices; retrying",
        );
        // 'ready' may have fired while the command was queued; do not rely on it alone.
        clearTimeout(this.resubscribeTimer);
        this.resubscribeTimer = setTimeout(() => this.ensureSubscribed(), RESUBSCRIBE_DELAY_MS);
        this.resubscribeTimer.unref();
      },
    );
  }

  private handleMessage(channel: string, message: string): void {
    if (channel !== this.keys.refreshedChannel) return;
    const parsed = parseRefreshedMessage(message);
    if (!parsed) {
      this.logger.debug({ channel }, "ignoring malformed refresh notice");
      return;
    }
    for (const listener of [...this.listeners]) {
      try {
        listener(parsed.accountId, parsed.gen);
      } catch (err) {
        this.logger.error(
          { accountId: parsed.accountId, error: err instanceof Error ? err.message : String(err) },
          "refresh listener threw",
        );
      }
    }
  }
}

function asArray(reply: unknown, op: string): unknown[] {
  if (!Array.isArray(reply)) throw new StoreError(op, `token store error (${op}): unexpected script reply`);
  return reply;
}

function toCount(raw: string | null): number {
  if (raw === null) return 0;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

async function quitOrDisconnect(client: RedisClient): Promise<void> {
  if (client.status === "end") return;
  ignoreLateSocketErrors(client);
  if (client.status !== "ready") {
    // QUIT would wait for a connection that may never come back. disconnect() only ends the socket: a reply already
    // on its way (the ready check after a reconnect) can still make ioredis declare this connection ready and re-send
    // its SUBSCRIBE, unawaited, which the close then fails with "Connection is closed.": an unhandled rejection.
    // Nothing is to be re-subscribed on a connection being closed.
    if (!isCluster(client)) client.options.autoResubscribe = false;
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/**
 * A socket we close in the middle of a TLS handshake (Redis with a certificate we do not trust, a broker stopping
 * meanwhile) can still raise an error afterwards — the server's TLS alert — when ioredis no longer listens to it, and
 * an 'error' without a listener ends the process: a clean SIGTERM would exit 1. Nothing on a socket we are closing is
 * of interest any more.
 */
function ignoreLateSocketErrors(client: RedisClient): void {
  if (isCluster(client)) {
    for (const node of client.nodes()) ignoreLateSocketErrors(node);
    return;
  }
  const connector = (client as unknown as { connector?: { stream?: NodeJS.EventEmitter } }).connector;
  for (const socket of new Set([client.stream as NodeJS.EventEmitter | undefined, connector?.stream])) socket?.on("error", () => {});
}
