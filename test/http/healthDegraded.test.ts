// /api/health says "degraded" (still 200: the process is alive and serves the other accounts) while an account's
// last WeChat answer is an unresolved refusal, and names those accounts; "ok" again once the account recovers.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import { account } from "../helpers/brokers";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { documented, httpBroker, type HttpBroker } from "./support";

const accounts = [account("gh_fine", "wx_fine", "fine-secret-41"), account("gh_wl", "wx_wl", "wl-secret-42", "classic")];
const { sim } = useRedisAndSimulator(
  [
    { appId: "wx_fine", secret: "fine-secret-41" },
    { appId: "wx_wl", secret: "wl-secret-42", ipWhitelist: ["10.0.0.1"], callerIp: "1.92.157.200" },
  ],
  { redis: false },
);

void describe("the health summary", () => {
  let hb: HttpBroker;
  before(async () => {
    hb = await httpBroker({ accounts, wechatApiBase: sim.url });
  });
  after(() => hb.close());

  test("an account whose last WeChat answer is a refusal makes the summary degraded with 200, naming the account, until it succeeds again", async () => {
    await hb.broker.service.getToken("gh_fine");
    const healthy = documented(await request(hb.app).get("/api/health"));
    assert.equal(healthy.status, 200);
    assert.equal(healthy.body.status, "ok");
    assert.equal(healthy.body.failingAccounts, undefined);

    await assert.rejects(hb.broker.service.getToken("gh_wl"));
    const degraded = documented(await request(hb.app).get("/api/health"));
    assert.equal(degraded.status, 200, "liveness purposes: the broker still serves the other accounts");
    assert.equal(degraded.body.status, "degraded");
    assert.deepEqual(
      degraded.body.failingAccounts.map((a: { id: string; errcode?: number; errclass: string }) => [a.id, a.errcode, a.errclass]),
      [["gh_wl", 40164, "config"]],
    );
    assert.match(degraded.body.failingAccounts[0].since, /^\d{4}-\d{2}-\d{2}T/);
    assert.equal(degraded.body.store.ok, true);

    // A success after the refusal (another replica's, say) resolves it; the breaker itself is not the question here.
    const status = await hb.broker.store.getStatus("gh_wl");
    await hb.broker.store.setStatus("gh_wl", { ...status, lastSuccessAt: Date.now() + 1 });
    const recovered = documented(await request(hb.app).get("/api/health"));
    assert.equal(recovered.body.status, "ok", JSON.stringify(recovered.body));
  });
});
