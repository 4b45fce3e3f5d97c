// Redis stores and clients for tests, each on its own connections to a private redis-server.
import type { Redis } from "ioredis";
import { startRedis, type TestRedis } from "../helpers/redis";
import { createRedisClient, duplicateRedisClient } from "../../src/store/redisClient";
import { RedisTokenStore } from "../../src/store/redisStore";
import { silentLogger, type Logger } from "../../src/logger";
import type { StoreBackend } from "./contract";

/** Generous by default: the machine may be loaded, and a starved event loop fires timers before reading replies. */
export const COMMAND_TIMEOUT_MS = 2000;
/** Short, for the tests that measure how fast operations fail while Redis is down. */
export const SHORT_COMMAND_TIMEOUT_MS = 300;

export function testClient(server: TestRedis, logger: Logger = silentLogger(), commandTimeoutMs = COMMAND_TIMEOUT_MS): Redis {
  return createRedisClient({ url: server.url, commandTimeoutMs, connectTimeoutMs: 1000, tls: false }, logger);
}

export async function waitReady(client: Redis, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (client.status !== "ready") {
    if (Date.now() > deadline) throw new Error(`redis client not ready after ${ms} ms (status ${client.status})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function openRedisStore(
  server: TestRedis,
  opts: { keyPrefix?: string; logger?: Logger; commandTimeoutMs?: number } = {},
): RedisTokenStore {
  const logger = opts.logger ?? silentLogger();
  const redis = testClient(server, logger, opts.commandTimeoutMs);
  const subscriber = duplicateRedisClient(redis, logger);
  return new RedisTokenStore({ redis, subscriber, keyPrefix: opts.keyPrefix ?? "wtb:", logger });
}

/** A redis-server plus every store opened on it; close() closes them all and stops the server. */
export async function redisStoreBackend(): Promise<StoreBackend & { server: TestRedis }> {
  const server = await startRedis();
  const stores: RedisTokenStore[] = [];
  return {
    server,
    async open() {
      const store = openRedisStore(server);
      stores.push(store);
      await store.subscribed();
      return store;
    },
    async close() {
      await Promise.all(stores.map((s) => s.close()));
      await server.close();
    },
  };
}
