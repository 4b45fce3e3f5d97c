import { test } from "node:test";
import assert from "node:assert/strict";
import { assertIssue, load, loadError, sources } from "./helpers";

void test("without REDIS_URL or sentinels the broker runs embedded", () => {
  assert.equal(load({}).redis, null);
});

void test("REDIS_URL gives a Redis config with default timeouts, the database path, and no TLS for redis://", () => {
  assert.deepEqual(load({ REDIS_URL: "redis://redis.internal:6379/2" }).redis, {
    url: "redis://redis.internal:6379/2",
    commandTimeoutMs: 500,
    connectTimeoutMs: 2000,
    tls: false,
  });
});

void test("rediss:// turns TLS on", () => {
  assert.equal(load({ REDIS_URL: "rediss://redis.internal" }).redis?.tls, true);
});

void test("the URL's password moves to its own field, decoded, and leaves the URL", () => {
  const r = load({ REDIS_URL: "redis://broker:p%40ss-url-9@redis.internal:6380/0" }).redis;
  assert.equal(r?.password, "p@ss-url-9");
  assert.equal(r?.url, "redis://broker@redis.internal:6380/0");
});

void test("REDIS_PASSWORD overrides the URL's password", () => {
  const r = load({ REDIS_URL: "redis://:from-url-pw@redis.internal", REDIS_PASSWORD: "from-env-pw" }).redis;
  assert.equal(r?.password, "from-env-pw");
  assert.equal(r?.url, "redis://redis.internal");
});

void test("REDIS_PASSWORD_FILE is read and loses its trailing newline", () => {
  const r = load(
    { REDIS_URL: "redis://redis.internal", REDIS_PASSWORD_FILE: "/run/secrets/redis" },
    { "/run/secrets/redis": "file-pw-77\n" },
  ).redis;
  assert.equal(r?.password, "file-pw-77");
});

void test("REDIS_PASSWORD and REDIS_PASSWORD_FILE together are refused", () => {
  const err = loadError(
    { REDIS_URL: "redis://redis.internal", REDIS_PASSWORD: "pw-one-111", REDIS_PASSWORD_FILE: "/run/secrets/redis" },
    { "/run/secrets/redis": "pw-two-222" },
  );
  assertIssue(err, "REDIS_PASSWORD_FILE", "REDIS_PASSWORD and REDIS_PASSWORD_FILE are both set: set only one");
});

void test("a Redis password without any Redis is refused: the broker would silently run embedded", () => {
  assertIssue(loadError({ REDIS_PASSWORD: "lonely-pw-1" }), "REDIS_PASSWORD", /Redis is not configured.*embedded/);
});

void test("the Redis timeouts are read and bounded", () => {
  const r = load({ REDIS_URL: "redis://r", REDIS_COMMAND_TIMEOUT_MS: "250", REDIS_CONNECT_TIMEOUT_MS: "10000" }).redis;
  assert.equal(r?.commandTimeoutMs, 250);
  assert.equal(r?.connectTimeoutMs, 10000);
  assertIssue(loadError({ REDIS_URL: "redis://r", REDIS_COMMAND_TIMEOUT_MS: "0" }), "REDIS_COMMAND_TIMEOUT_MS", /1 to 60000/);
});

void test("a REDIS_URL that is not redis:// or rediss:// is refused", () => {
  assertIssue(loadError({ REDIS_URL: "http://redis.internal" }), "REDIS_URL", "must start with redis:// or rediss://");
  assertIssue(loadError({ REDIS_URL: "redis.internal:6379" }), "REDIS_URL", /redis:\/\/ or rediss:\/\//);
  assertIssue(loadError({ REDIS_URL: "::::" }), "REDIS_URL", /is not a valid URL/);
});

void test("a REDIS_URL with a query string or a non-numeric path is refused", () => {
  assertIssue(loadError({ REDIS_URL: "redis://r:6379/0?family=6" }), "REDIS_URL", /query string/);
  assertIssue(loadError({ REDIS_URL: "redis://r:6379/cache" }), "REDIS_URL", "path must be a database number, e.g. /0");
});

void test("sentinels and the master name give a Sentinel config; port defaults to 26379 and IPv6 is bracketed", () => {
  const r = load({
    REDIS_SENTINELS: "s1.internal:26380, [fd00::1]:26381,s3.internal",
    REDIS_SENTINEL_NAME: "mymaster",
    REDIS_PASSWORD: "master-pw-1",
  }).redis;
  assert.deepEqual(r, {
    sentinels: [
      { host: "s1.internal", port: 26380 },
      { host: "fd00::1", port: 26381 },
      { host: "s3.internal", port: 26379 },
    ],
    sentinelName: "mymaster",
    password: "master-pw-1",
    commandTimeoutMs: 500,
    connectTimeoutMs: 2000,
    tls: false,
  });
});

void test("sentinels and the master name must be set together", () => {
  assertIssue(
    loadError({ REDIS_SENTINELS: "s1:26379" }),
    "REDIS_SENTINEL_NAME",
    "REDIS_SENTINELS and REDIS_SENTINEL_NAME must be set together",
  );
  assertIssue(
    loadError({ REDIS_SENTINEL_NAME: "mymaster" }),
    "REDIS_SENTINELS",
    "REDIS_SENTINELS and REDIS_SENTINEL_NAME must be set together",
  );
});

void test("Sentinel and REDIS_URL are mutually exclusive", () => {
  const err = loadError({ REDIS_URL: "redis://r", REDIS_SENTINELS: "s1:26379", REDIS_SENTINEL_NAME: "m" });
  assertIssue(err, "REDIS_SENTINELS", /REDIS_URL and REDIS_SENTINELS\/REDIS_SENTINEL_NAME are both set/);
});

void test("each malformed sentinel address is reported", () => {
  const err = loadError({ REDIS_SENTINELS: "s1:99999,,bad host:1,[nothex]:2", REDIS_SENTINEL_NAME: "m" });
  assert.deepEqual(
    err.issues.filter((i) => i.source === "REDIS_SENTINELS").map((i) => i.message),
    [
      '"s1:99999" does not have a port from 1 to 65535',
      "has an empty entry",
      '"bad host:1" does not have a valid host',
      '"[nothex]:2" does not have a valid host',
    ],
  );
  assert.deepEqual(sources(err), ["REDIS_SENTINELS", "REDIS_SENTINELS", "REDIS_SENTINELS", "REDIS_SENTINELS"]);
});
