// Shared by the WeChat client tests: a settable clock driving both the simulator and the client, a simulator
// started per test, and a client that is closed when the test ends.
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { startSimulator } from "../../src/simulator/server";
import type { RunningSimulator, SimAppConfig } from "../../src/simulator/types";
import { WeChatClient, type WeChatClientOptions } from "../../src/wechat/client";
import { UpstreamError } from "../../src/wechat/types";
import type { Account } from "../../src/accounts";
import { ManualClock, T0 } from "../helpers/clock";

export { ManualClock, T0 };

export interface Rig {
  sim: RunningSimulator;
  client: WeChatClient;
  clock: ManualClock;
}

/** A simulator with these apps and a client pointed at it, both on one manual clock; torn down after the test. */
export async function rig(t: TestContext, apps: SimAppConfig[], opts: Partial<WeChatClientOptions> = {}): Promise<Rig> {
  const clock = new ManualClock();
  const sim = await startSimulator({ apps, now: clock.now });
  const client = new WeChatClient({ wechatApiBase: sim.url, wecomApiBase: sim.wecomUrl, now: clock.now, ...opts });
  t.after(async () => {
    client.close();
    await sim.close();
  });
  return { sim, client, clock };
}

export function mpAccount(appId: string, appSecret: string, tokenApi: Account["tokenApi"] = "stable"): Account {
  return { id: `acct_${appId}`, type: "official", appId, appSecret, tokenApi };
}

export function wecomAccount(corpId: string, corpSecret: string): Account {
  return { id: `acct_${corpId}`, type: "wecom", appId: corpId, appSecret: corpSecret, tokenApi: "classic" };
}

/** Runs `fn`, asserts it throws an UpstreamError (and nothing else), and returns it. */
export async function upstreamError(fn: () => Promise<unknown>): Promise<UpstreamError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof UpstreamError, `expected UpstreamError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the call to throw");
}
