// Issue 16, how it is proven: JS-SDK tickets run under the tokens' refresh policy across real replicas.
//
// Three `serve` processes on one Redis, cold (no token, no ticket anywhere). Hundreds of concurrent signing requests
// spread over them cost exactly one getticket call at the simulator, and every signature verifies against the ticket
// the simulator issued (SHA-1 computed here from the simulator's admin view). A ticket fetch that WeChat answers
// 40001 (the account's token killed by another system's fetch) costs one token refresh and one retry, and every
// caller is served.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { rogueClassicFetch } from "../helpers/rogue";
import { startCluster, type Cluster } from "./cluster";

const STABLE = { appId: "wx_ticket_proof_s", secret: "AppSecret-ticket-proof-s-Q1" };
const CLASSIC = { appId: "wx_ticket_proof_c", secret: "AppSecret-ticket-proof-c-Q2" };
const SIGNING_REQUESTS = 300;

const { redis, sim } = useRedisAndSimulator([STABLE, CLASSIC]);
let starting: Promise<Cluster> | undefined;
// Started by the first test (see reportsAreCheckedBeforeAnythingRotates.test.ts for why not in before()).
function ensureCluster(): Promise<Cluster> {
  starting ??= startCluster(3, {
    REDIS_URL: redis.url,
    KEY_PREFIX: "tickets:",
    WECHAT_API_BASE: sim.url,
    LOG_LEVEL: "warn",
    ACCOUNTS: JSON.stringify([
      { id: "shop", appId: STABLE.appId, appSecret: STABLE.secret, tokenApi: "stable" },
      { id: "cards", appId: CLASSIC.appId, appSecret: CLASSIC.secret, tokenApi: "classic" },
    ]),
  });
  return starting;
}
after(async () => {
  await (await starting?.catch(() => undefined))?.stop();
});

const sha1 = (s: string) => createHash("sha1").update(s, "utf8").digest("hex");

test("hundreds of concurrent signing requests on three cold replicas cost one getticket call, and every signature verifies", async () => {
  const cluster = await ensureCluster();
  const page = "https://shop.example.com/item/42?from=timeline";
  const answers = await Promise.all(
    Array.from({ length: SIGNING_REQUESTS }, async (_, i) => {
      const url = `${cluster.urls[i % cluster.urls.length]!}/api/accounts/shop/jssdk-config?url=${encodeURIComponent(`${page}#comments`)}`;
      const res = await fetch(url, { signal: AbortSignal.timeout(20_000) });
      return { status: res.status, body: (await res.json()) as { appId: string; timestamp: number; nonceStr: string; signature: string } };
    }),
  );
  const c = sim.admin.counters(STABLE.appId).calls;
  const statuses = answers.map((a) => a.status);
  assert.deepEqual(
    [...new Set(statuses)],
    [200],
    `every caller is served (${statuses.filter((s) => s !== 200).length} not)\n${cluster.output().slice(-3000)}`,
  );
  assert.equal(c.getticket, 1, "exactly one getticket call across the replicas");
  assert.equal(c.stable_token, 1, "and one token call");
  const ticket = sim.admin.currentTicket(STABLE.appId, "jsapi");
  assert.ok(ticket !== undefined);
  for (const { body } of answers) {
    assert.equal(body.appId, STABLE.appId);
    assert.equal(body.signature, sha1(`jsapi_ticket=${ticket}&noncestr=${body.nonceStr}&timestamp=${body.timestamp}&url=${page}`));
  }
  assert.equal(new Set(answers.map((a) => a.body.nonceStr)).size, SIGNING_REQUESTS, "a fresh nonce per answer");
  const metrics = await (await fetch(`${cluster.urls[0]!}/metrics`)).text();
  assert.match(metrics, /wtb_ticket_requests_total\{type="jsapi",result="(hit|miss)"\} [1-9]/);
});

test("a ticket fetch answered 40001 costs one token refresh and one retry, and concurrent callers on every replica are served", async () => {
  const cluster = await ensureCluster();
  const first = await fetch(`${cluster.urls[0]!}/api/accounts/cards/token`);
  const held = ((await first.json()) as { accessToken: string }).accessToken;
  await rogueClassicFetch(sim.url, CLASSIC.appId, CLASSIC.secret); // another system's fetches kill the broker's token
  assert.equal(sim.admin.checkToken(held).valid, false);
  const before = sim.admin.counters(CLASSIC.appId).calls;
  const answers = await Promise.all(
    Array.from({ length: 60 }, async (_, i) => {
      const res = await fetch(`${cluster.urls[i % cluster.urls.length]!}/api/accounts/cards/ticket?type=wx_card`, {
        signal: AbortSignal.timeout(20_000),
      });
      return { status: res.status, body: (await res.json()) as { ticket?: string; error?: unknown } };
    }),
  );
  const c = sim.admin.counters(CLASSIC.appId).calls;
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [200], JSON.stringify(answers.find((a) => a.status !== 200)?.body));
  assert.equal(c.getticket - before.getticket, 2, "the rejected call and one retry");
  assert.equal(c.token - before.token, 1, "one token refresh");
  const ticket = sim.admin.currentTicket(CLASSIC.appId, "wx_card");
  for (const a of answers) assert.equal(a.body.ticket, ticket);
  const now = await fetch(`${cluster.urls[2]!}/api/accounts/cards/token`);
  const fresh = ((await now.json()) as { accessToken: string }).accessToken;
  assert.notEqual(fresh, held);
  assert.equal(sim.admin.checkToken(fresh).valid, true);

  // The diagnosis shows one line per requested ticket, with its age.
  const diag = (await (await fetch(`${cluster.urls[1]!}/api/diagnosis`)).json()) as {
    checks: Array<{ id: string; accountId?: string; status: string; data?: { type?: string; ageSec?: number } }>;
  };
  const line = diag.checks.find((ch) => ch.id === "ticket" && ch.accountId === "cards");
  assert.ok(line, JSON.stringify(diag.checks.map((ch) => `${ch.id}/${ch.accountId ?? ""}`)));
  assert.equal(line.status, "ok");
  assert.equal(line.data?.type, "wx_card");
  assert.equal(typeof line.data?.ageSec, "number");
  assert.equal(
    diag.checks.some((ch) => ch.id === "ticket" && ch.accountId === "shop"),
    true,
    "the signing test's jsapi ticket too",
  );
});
