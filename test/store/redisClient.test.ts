import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { startRedis } from "../helpers/redis";
import { createLogger } from "../../src/logger";
import {
  buildRedisOptions,
  createRedisClient,
  describeRedisTarget,
  duplicateRedisClient,
  reconnectDelay,
} from "../../src/store/redisClient";
import { sleep } from "./contract";
import { waitReady } from "./redisFixtures";

function captureLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      cb();
    },
  });
  return { logger: createLogger({ destination: sink, level: "debug" }), lines };
}

void describe("Redis client construction", () => {
  void it("reconnects forever with a delay capped near one second", () => {
    for (let times = 1; times <= 2000; times++) {
      const d = reconnectDelay(times);
      assert.ok(typeof d === "number" && d >= 100 && d < 1250, `attempt ${times}: ${d}`);
    }
    assert.ok(reconnectDelay(1) < 350);
  });

  void it("bounds every command and keeps retries per request at one", () => {
    const o = buildRedisOptions({ url: "redis://127.0.0.1:1", commandTimeoutMs: 400, connectTimeoutMs: 900, tls: false });
    assert.equal(o.commandTimeout, 400);
    assert.equal(o.connectTimeout, 900);
    assert.equal(o.maxRetriesPerRequest, 1);
    assert.equal(o.enableOfflineQueue, true);
    assert.equal(o.tls, undefined);
    assert.deepEqual(buildRedisOptions({ commandTimeoutMs: 1, connectTimeoutMs: 1, tls: true }).tls, {});
  });

  void it("builds Sentinel options with the master name and never points at sentinels as if they were Redis", () => {
    const o = buildRedisOptions({
      sentinels: [{ host: "10.0.0.1", port: 26379 }],
      sentinelName: "tokens",
      password: "pw",
      commandTimeoutMs: 500,
      connectTimeoutMs: 1000,
      tls: false,
    });
    assert.deepEqual(o.sentinels, [{ host: "10.0.0.1", port: 26379 }]);
    assert.equal(o.name, "tokens");
    assert.equal(o.password, "pw");
    assert.equal(typeof o.sentinelRetryStrategy, "function");
  });

  void it("describes where it connects without the password", () => {
    assert.equal(describeRedisTarget({ url: "redis://:s3cr3t@redis.internal:6380/2" }), "redis://redis.internal:6380/2");
    assert.equal(describeRedisTarget({ url: "rediss://user:s3cr3t@redis.internal:6380" }), "rediss://redis.internal:6380");
    assert.equal(
      describeRedisTarget({
        sentinels: [
          { host: "a", port: 1 },
          { host: "b", port: 2 },
        ],
        sentinelName: "m",
      }),
      "sentinel:m@a:1,b:2",
    );
    assert.ok(!describeRedisTarget({ url: "not a url :s3cr3t@" }).includes("s3cr3t"));
  });

  void it("connects with a password from the URL and logs outages without the password", async () => {
    const password = "Pw-9f8e7d6c-never-log";
    const server = await startRedis({ password });
    const { logger, lines } = captureLogger();
    const redis = createRedisClient({ url: server.url, commandTimeoutMs: 300, connectTimeoutMs: 1000, tls: false }, logger);
    const sub = duplicateRedisClient(redis, logger);
    try {
      await waitReady(redis);
      await waitReady(sub);
      assert.equal(await redis.ping(), "PONG");
      assert.ok(sub.listenerCount("error") > 0, "the duplicate has its own error listener");
      await server.stop();
      await sleep(800);
      await redis.get("k").catch(() => undefined);
      await server.start();
      for (let i = 0; i < 100 && redis.status !== "ready"; i++) await sleep(50);
      assert.equal(redis.status, "ready");
      const text = lines.join("\n");
      assert.match(text, /redis connection error/);
      assert.match(text, new RegExp(`redis://127\\.0\\.0\\.1:${server.port}`));
      assert.match(text, /ready again/);
      assert.ok(!text.includes(password), "no log line carries the password");
    } finally {
      redis.disconnect();
      sub.disconnect();
      await server.close();
    }
  });

  void it("throttles repeats of the same connection error while Redis stays down", async () => {
    const server = await startRedis();
    await server.stop();
    const { logger, lines } = captureLogger();
    const redis = createRedisClient({ url: server.url, commandTimeoutMs: 300, connectTimeoutMs: 500, tls: false }, logger);
    try {
      await sleep(2500); // several reconnect attempts
      const errors = lines.filter((l) => l.includes("redis connection error"));
      assert.equal(errors.length, 1, lines.join("\n"));
    } finally {
      redis.disconnect();
      await server.close();
    }
  });
});
