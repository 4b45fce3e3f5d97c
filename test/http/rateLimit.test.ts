// The keyless routes' rate limiter: per client, with a shared ceiling, refilled over time, bounded in memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RateLimiter } from "../../src/http/rateLimit";

function limiter(over: Partial<ConstructorParameters<typeof RateLimiter>[0]> = {}) {
  let now = 1_000_000;
  const l = new RateLimiter({ burst: 3, perSecond: 1, totalBurst: 100, totalPerSecond: 100, maxClients: 100, now: () => now, ...over });
  return { l, advance: (ms: number) => (now += ms) };
}

test("one client past its burst waits while another client is still served", () => {
  const { l } = limiter();
  assert.deepEqual([l.take("a"), l.take("a"), l.take("a")], [0, 0, 0]);
  assert.equal(l.take("a"), 1);
  assert.equal(l.take("b"), 0);
});

test("a limited client is served again once the bucket has refilled", () => {
  const { l, advance } = limiter();
  for (let i = 0; i < 3; i++) l.take("a");
  assert.equal(l.take("a"), 1);
  advance(1000);
  assert.equal(l.take("a"), 0);
  assert.equal(l.take("a"), 1);
});

test("all clients together are held to the shared ceiling", () => {
  const { l } = limiter({ totalBurst: 5, totalPerSecond: 1 });
  const answers = ["a", "b", "c", "d", "e", "f", "g"].map((c) => l.take(c));
  assert.deepEqual(answers, [0, 0, 0, 0, 0, 1, 1]);
});

test("the number of remembered clients is bounded: the least recently seen is forgotten first", () => {
  const { l } = limiter({ maxClients: 2 });
  for (let i = 0; i < 3; i++) l.take("a");
  assert.equal(l.take("a"), 1);
  l.take("b");
  l.take("c"); // forgets a, the least recently seen
  assert.equal(l.take("a"), 0, "a forgotten client starts with a full bucket");
});
