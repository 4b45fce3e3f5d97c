// No AppSecret and no token may leave the WeChat client: not in an error's message, its JSON, its inspection,
// nor in any log line, whatever the failure. The logger here has NO redaction, so the test proves the client
// never puts secrets into log objects at all (redaction is only the second line of defence).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { inspect } from "node:util";
import axios from "axios";
import pino, { type Logger } from "pino";
import { WeChatClient } from "../../src/wechat/client";
import { UpstreamError, type FetchedToken, type ProbeResult } from "../../src/wechat/types";
import type { Account } from "../../src/accounts";
import { startSimulator } from "../../src/simulator/server";
import { freePort } from "../helpers/ports";
import { ManualClock, mpAccount, wecomAccount } from "./helpers";

// Characters that URL-encoding changes, so both the raw and the encoded form are looked for.
const SECRET = "S3cr3t-never-leak-7f3a9c+/=&ä";
const CORP_SECRET = "S3cr3t-never-leak-corp-51d0e2+/=";
const MP = { appId: "wx_leak_app_0001", secret: SECRET };
const CORP = { appId: "ww_leak_corp_0001", secret: CORP_SECRET, platform: "wecom" as const };

function memoryLogger(): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  // Synchronous writes to a plain Writable: everything logged is in `chunks` when the call returns.
  return { logger: pino({ level: "trace" }, stream), text: () => chunks.join("") };
}

function forms(s: string): string[] {
  return [s, encodeURIComponent(s), new URLSearchParams({ s }).toString().slice(2)];
}

void test("no failure of any kind leaks the AppSecret or an issued token into errors or logs", async (t) => {
  const clock = new ManualClock();
  const sim = await startSimulator({ apps: [{ ...MP, tokenLifetimeSec: 60 }, CORP], now: clock.now });
  const closedPort = await freePort();
  const { logger, text } = memoryLogger();
  const client = new WeChatClient({ wechatApiBase: sim.url, wecomApiBase: sim.wecomUrl, now: clock.now, logger, timeoutMs: 300 });
  const dead = new WeChatClient({
    wechatApiBase: `http://127.0.0.1:${closedPort}`,
    wecomApiBase: `http://127.0.0.1:${closedPort}`,
    logger,
  });
  t.after(async () => {
    client.close();
    dead.close();
    await sim.close();
  });

  const stable = mpAccount(MP.appId, SECRET, "stable");
  const classic = mpAccount(MP.appId, SECRET, "classic");
  const corp = wecomAccount(CORP.appId, CORP_SECRET);
  const tokens: string[] = [];
  const errors: UpstreamError[] = [];

  // Production code logs every failure it gets from the client like this.
  const attempt = async (what: string, fn: () => Promise<FetchedToken | ProbeResult>) => {
    try {
      const r = await fn();
      if ("valid" in r && !r.valid) {
        errors.push(r.error);
        logger.error({ err: r.error }, `${what}: token reported invalid`);
        return;
      }
      assert.fail(`${what}: expected a failure`);
    } catch (err) {
      assert.ok(err instanceof UpstreamError, `${what}: threw ${inspect(err)}`);
      errors.push(err);
      logger.error({ err }, `${what} failed`);
    }
  };
  const issue = async (acct: Account, opts?: { forceRefresh?: boolean }) => {
    const tok = await client.fetchToken(acct, opts);
    tokens.push(tok.accessToken);
    logger.info({ accountId: acct.id, expiresIn: tok.expiresIn }, "fetched");
    return tok.accessToken;
  };

  // Tokens exist, so a leak of one would be visible.
  const s1 = await issue(stable);
  const c1 = await issue(classic);
  const w1 = await issue(corp);

  // Refusals the simulator produces itself, on all three token APIs (the secret was sent in body or query).
  for (const acct of [stable, classic, corp]) {
    await attempt(`wrong secret ${acct.tokenApi}`, () => client.fetchToken({ ...acct, appSecret: `${acct.appSecret}-wrong` }));
  }
  // Every injected fault kind on every token API, including an errmsg that echoes the secret just sent (a
  // hostile proxy). The client can only know the secret of the call it makes, so that is the one echoed.
  const faults = [
    { type: "errcode" as const, errcode: -1 },
    { type: "errcode" as const, errcode: 40125, errmsg: "invalid appsecret {SECRET} rid: 0" },
    { type: "errcode" as const, errcode: 0, errmsg: "ok" },
    { type: "http" as const, status: 502 },
    { type: "http" as const, status: 404 },
    { type: "non_json" as const },
    { type: "reset" as const },
    { type: "timeout" as const },
  ];
  for (const f of faults) {
    for (const acct of [stable, classic, corp]) {
      sim.admin.addFault(acct.appId, f.errmsg ? { ...f, errmsg: f.errmsg.replace("{SECRET}", acct.appSecret) } : f);
      await attempt(`${f.type} on ${acct.tokenApi}`, () => client.fetchToken(acct, { forceRefresh: true }));
    }
  }
  sim.admin.patchApp(MP.appId, { callerIp: "1.92.157.200", ipWhitelist: ["10.0.0.1"] });
  await attempt("40164", () => client.fetchToken(stable));
  sim.admin.patchApp(MP.appId, { ipWhitelist: [] });

  // Probes carry the token in the query string: dead tokens, faults, and a hostile errmsg with the token in it.
  await issue(classic);
  await issue(classic); // c1 is now superseded (three fetches)
  await attempt("probe superseded", () => client.probe(classic, c1));
  await attempt("probe unknown", () => client.probe(stable, `${s1}x`));
  for (const f of [
    { type: "reset" as const },
    { type: "timeout" as const },
    { type: "non_json" as const },
    { type: "http" as const, status: 500 },
    { type: "errcode" as const, errcode: 42001, errmsg: `access_token expired ${s1} rid: 0` },
  ]) {
    sim.admin.addFault(MP.appId, { ...f, endpoints: ["probe"] });
    await attempt(`probe ${f.type}`, () => client.probe(stable, s1));
  }
  clock.advance(61);
  await attempt("probe expired", () => client.probe(stable, s1));
  sim.admin.addFault(CORP.appId, { type: "reset", endpoints: ["probe"] });
  await attempt("wecom probe reset", () => client.probe(corp, w1));

  // Refused connections and aborts.
  for (const acct of [stable, classic, corp]) {
    await attempt(`refused ${acct.tokenApi}`, () => dead.fetchToken(acct));
  }
  await attempt("refused probe", () => dead.probe(stable, s1));
  const ac = new AbortController();
  sim.admin.addFault(MP.appId, { type: "timeout" });
  const inflight = attempt("aborted", () => client.fetchToken(classic, { signal: ac.signal }));
  setTimeout(() => ac.abort(), 20);
  await inflight;

  assert.ok(errors.length >= 40, `exercised ${errors.length} failures`);
  assert.ok(tokens.length >= 5);
  const kinds = new Set(errors.map((e) => e.kind));
  assert.deepEqual([...kinds].sort(), ["bad_body", "errcode", "http_status", "network", "timeout"]);

  const logs = text();
  // The capture works: the failures really were logged, with their useful fields.
  assert.match(logs, /"errcode":40125/);
  assert.match(logs, /wx_leak_app_0001/);
  assert.match(logs, /"ip":"1\.92\.157\.200"/);

  const needles = [...forms(SECRET), ...forms(CORP_SECRET), ...tokens.flatMap(forms)];
  const haystacks: Array<[string, string]> = [["logs", logs]];
  for (const [i, e] of errors.entries()) {
    haystacks.push([`message ${i}`, e.message]);
    haystacks.push([`json ${i}`, JSON.stringify(e)]);
    haystacks.push([`inspect ${i}`, inspect(e, { depth: 10 })]);
    haystacks.push([`stack ${i}`, String(e.stack)]);
    haystacks.push([`string ${i}`, String(e)]);
  }
  for (const [where, hay] of haystacks) {
    for (const needle of needles) assert.ok(!hay.includes(needle), `${where} contains a secret or token: ${needle.slice(0, 12)}…`);
    assert.doesNotMatch(hay, /[?&](secret|corpsecret|access_token|appsecret)=/i, `${where} contains a query string`);
  }
  // The hostile errmsgs were kept, minus the secret.
  assert.ok(errors.some((e) => e.errmsg?.includes("invalid appsecret [REDACTED]")));
  assert.ok(errors.some((e) => e.errmsg?.includes("access_token expired [REDACTED]")));
});

void test("the leak check can fail: a raw axios error logged the naive way does contain the secret", async () => {
  const port = await freePort();
  const { logger, text } = memoryLogger();
  const raw = axios.create({ timeout: 300 });
  try {
    await raw.get(`http://127.0.0.1:${port}/cgi-bin/token`, {
      params: { grant_type: "client_credential", appid: MP.appId, secret: SECRET },
    });
    assert.fail("the port is closed");
  } catch (err) {
    logger.error({ err }, "naive");
  }
  assert.ok(
    forms(SECRET).some((f) => text().includes(f)),
    "the naive log line carries the secret",
  );
});
