// The HTTP metrics name every route by its template, the runbook's compatibility paths included (an array of
// paths on one route must not fall into route="unmatched").
import { test } from "node:test";
import assert from "node:assert/strict";
import request from "supertest";
import { accountsEnv, opsBroker, SECRETS } from "./helpers";

test("the runbook's .php paths and their bare twins are counted under their own route label", async () => {
  const b = opsBroker({
    ACCOUNTS: accountsEnv([{ id: "gh_m", appId: "wx_m", appSecret: SECRETS.appSecret }]),
    WECHAT_API_BASE: "http://127.0.0.1:9",
  });
  try {
    const { app, metrics } = { app: b.app, metrics: b.core.metrics };
    for (const path of [
      "/quick_diagnosis.php",
      "/quick_diagnosis",
      "/cleanup_expired_locks.php?dryRun=true",
      "/cleanup_expired_locks?dryRun=true",
      "/no/such/path",
    ]) {
      await request(app).get(path);
    }
    const text = await metrics.text();
    const routes = [...text.matchAll(/^wtb_http_requests_total\{[^}]*route="([^"]*)"[^}]*\} (\d+)/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
    assert.deepEqual(routes, [
      "/cleanup_expired_locks 1",
      "/cleanup_expired_locks.php 1",
      "/quick_diagnosis 1",
      "/quick_diagnosis.php 1",
      "unmatched 1",
    ]);
  } finally {
    await b.close();
  }
});
