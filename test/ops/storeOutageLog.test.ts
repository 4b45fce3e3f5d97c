// A Redis outage in the log: one line when the store goes away, a summary while it stays away, one line when it is
// back; the retries in between (subscribe, refresh-ahead, connection errors) are counted in the summaries, not
// written one by one. The real `serve` wiring (startBroker) against a real redis-server that is stopped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import pino from "pino";
import { loadConfig } from "../../src/config";
import { startBroker } from "../../src/server";
import { StoreOutageLog } from "../../src/ops/storeOutageLog";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { freePort } from "../helpers/ports";
import { sleep, waitUntil } from "../helpers/wait";
import { accountsEnv, freshPrefix, SECRETS } from "./helpers";

const { redis, sim } = useRedisAndSimulator([
  { appId: "wx_o1", secret: SECRETS.appSecret },
  { appId: "wx_o2", secret: SECRETS.otherAppSecret },
]);

interface Line {
  level: number;
  msg: string;
  time: string;
  [k: string]: unknown;
}

test("while Redis is down the log says so once, then summarises every interval, then says once that it is back", async (t) => {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString("utf8").split("\n")) if (l.trim() !== "") lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  const logger = pino({ level: "info" }, sink);
  const config = loadConfig({
    ACCOUNTS: accountsEnv([
      { id: "gh_o1", appId: "wx_o1", appSecret: SECRETS.appSecret },
      { id: "gh_o2", appId: "wx_o2", appSecret: SECRETS.otherAppSecret },
    ]),
    REDIS_URL: redis.url,
    WECHAT_API_BASE: sim.url,
    KEY_PREFIX: freshPrefix(),
    PORT: String(await freePort()),
    REDIS_CONNECT_TIMEOUT_MS: "300",
  });
  const broker = await startBroker(config, logger, { outageSummaryMs: 1_500 });
  try {
    await broker.core.service.getToken("gh_o1");
    await sleep(300);
    const from = lines.length;
    await redis.stop();
    // Callers keep asking meanwhile (answered from memory or refused), as they would.
    const until = Date.now() + 5_000;
    while (Date.now() < until) {
      await broker.core.service.getToken("gh_o2").catch(() => undefined);
      await sleep(250);
    }
    await redis.start();
    await waitUntil("the store is back in the log", () => lines.slice(from).some((l) => /reachable again/.test(l.msg)), 15_000);
    await sleep(300);
    const during = lines.slice(from).filter((l) => l.level >= 40 || /store/.test(l.msg));
    const msgs = during.map((l) => l.msg);
    const down = msgs.filter((m) => /^token store unreachable/.test(m));
    const still = msgs.filter((m) => /^token store still unreachable/.test(m));
    const back = msgs.filter((m) => /^token store reachable again/.test(m));
    assert.equal(down.length, 1, msgs.join("\n"));
    assert.ok(still.length >= 2 && still.length <= 4, `${still.length} summaries in ~5 s at 1.5 s:\n${msgs.join("\n")}`);
    assert.equal(back.length, 1, msgs.join("\n"));
    assert.equal(during.length, down.length + still.length + back.length, `other lines during the outage:\n${msgs.join("\n")}`);
    for (const l of during) t.diagnostic(`${l.level} ${l.msg} ${JSON.stringify(l.suppressed ?? "")}`);
    const summary = during.find((l) => /still unreachable/.test(l.msg))!;
    assert.equal(typeof summary.downForSec, "number");
    assert.ok(summary.suppressed && typeof summary.suppressed === "object", JSON.stringify(summary));
    const end = during.find((l) => /reachable again/.test(l.msg))!;
    assert.equal(end.level, 30);
    assert.ok(Number(end.downForSec) >= 4, JSON.stringify(end));
    assert.doesNotMatch(JSON.stringify(lines), new RegExp(`${SECRETS.appSecret}|${SECRETS.otherAppSecret}`));
  } finally {
    await broker.close();
  }
});

test("during an outage retry warnings about the store are counted, others still written, and children of the logger behave alike", () => {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString("utf8").split("\n")) if (l.trim() !== "") lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  const base = pino({ level: "info" }, sink);
  let now = 0;
  const outage = new StoreOutageLog(base, { summaryEveryMs: 60_000, now: () => now });
  try {
    const log = outage.logger.child({ component: "scheduler" });
    log.warn(
      { accountId: "a", err: { name: "StoreUnavailableError", message: "the token store is unavailable" } },
      "refresh-ahead failed; will retry",
    );
    assert.equal(lines.length, 1, "before the outage a store failure is written like any warning");
    outage.logger.warn({ redis: "redis://127.0.0.1:1", error: "connect ECONNREFUSED 127.0.0.1:1" }, "redis connection error");
    for (let i = 0; i < 5; i++)
      log.warn(
        { accountId: "a", err: { name: "StoreUnavailableError", message: "the token store is unavailable" } },
        "refresh-ahead failed; will retry",
      );
    outage.logger.warn({ error: "Connection is closed." }, "could not subscribe to refresh notices; retrying");
    log.warn({ accountId: "a", err: { name: "UpstreamError", message: "40164 invalid ip" } }, "transient upstream failure; retrying");
    now = 42_000;
    outage.logger.info({ redis: "redis://127.0.0.1:1" }, "redis connection ready again");
    assert.deepEqual(
      lines.slice(1).map((l) => l.msg.replace(/:.*$/, "")),
      ["token store unreachable", "transient upstream failure; retrying", "token store reachable again after 42 s"],
    );
    assert.deepEqual(lines.at(-1)!.suppressed, {
      "redis connection error": 1,
      "refresh-ahead failed; will retry": 5,
      "could not subscribe to refresh notices; retrying": 1,
    });
    assert.equal(lines.at(-1)!.downForSec, 42);
  } finally {
    outage.close();
  }
});
