import { test } from "node:test";
import assert from "node:assert/strict";
import { startRedis } from "./redis";

test("a test redis starts on its own port, answers, and comes back after a restart", async () => {
  const r = await startRedis();
  try {
    assert.notEqual(r.port, 6379);
    assert.equal(r.cli("PING"), "PONG");
    r.cli("SET", "k", "v");
    await r.stop();
    assert.notEqual(r.cli("PING"), "PONG");
    await r.start();
    assert.equal(r.cli("PING"), "PONG");
    assert.equal(r.cli("GET", "k"), "", "it keeps nothing across restarts");
  } finally {
    await r.close();
  }
});
