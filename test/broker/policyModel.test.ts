// The refresh policy carried out by TokenService, driven through random sequences of triggers (callers' misses, the
// refresh-ahead timer, reports true and false, syncs, forced syncs), time jumps and upstream behaviour (new token,
// the same token, transient and quota errors, another system rotating the token). WeChat here is a model with
// WeChat's rules (the {current, previous} overlap, stable rotating only in its last 300 s, WeCom handing back its
// token until it expires), which is a pure collaborator of this unit test; the simulator tests prove the same over
// HTTP. fast-check with fixed seeds; invariants checked after every step.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import pino from "pino";
import type { Account, TokenSource } from "../../src/accounts";
import { quotaDay } from "../../src/clock";
import { TokenService } from "../../src/broker/tokenService";
import { defaultCoreOptions } from "../../src/config";
import { refreshDueAt } from "../../src/broker/policy";
import { MemoryTokenStore } from "../../src/store/memoryStore";
import { MemoryRefreshLock } from "../../src/lock/memoryLock";
import { type ErrClass, type FetchedToken, type ProbeResult, UpstreamError, type WeChatApi } from "../../src/wechat/types";

const LIFE_MS = 7_200_000;
const OVERLAP_MS = 300_000;
const CEILING = defaultCoreOptions().tokenService.upstreamCallsPerMinute;

class ModelClock {
  private offset = Date.UTC(2026, 2, 10, 2, 0, 0) - Date.now();
  readonly now = (): number => Date.now() + this.offset;
  advance(ms: number): void {
    this.offset += ms;
  }
}

function upstreamError(errclass: ErrClass, errcode: number, endpoint: "token" | "stable_token" | "gettoken" | "probe"): UpstreamError {
  return new UpstreamError(`model ${errcode}`, {
    kind: "errcode",
    endpoint,
    errclass,
    errcode,
    retryable: errclass === "transient",
    hint: { en: "", zh: "" },
  });
}

/** WeChat's token rules for one app. */
class ModelWeChat implements WeChatApi {
  private seq = 0;
  cur: { t: string; expiresAt: number } | null = null;
  prev: { t: string; validUntil: number } | null = null;
  readonly calls: number[] = [];
  readonly forceCalls: number[] = [];
  fault: ErrClass | null = null;
  constructor(
    private readonly api: TokenSource,
    private readonly clock: ModelClock,
  ) {}

  private issue(now: number): void {
    if (this.cur) this.prev = { t: this.cur.t, validUntil: Math.min(this.cur.expiresAt, now + OVERLAP_MS) };
    this.cur = { t: `T${++this.seq}`, expiresAt: now + LIFE_MS };
  }

  valid(t: string, now = this.clock.now()): boolean {
    return (this.cur?.t === t && now < this.cur.expiresAt) || (this.prev?.t === t && now < this.prev.validUntil);
  }

  /** Another system fetches twice for the same AppID: the token held before is dead at once. */
  rogue(): void {
    const now = this.clock.now();
    this.issue(now);
    this.issue(now);
  }

  async fetchToken(_a: Account, opts: { forceRefresh?: boolean } = {}): Promise<FetchedToken> {
    const now = this.clock.now();
    this.calls.push(now);
    if (opts.forceRefresh) this.forceCalls.push(now);
    const endpoint = this.api === "stable" ? "stable_token" : this.api === "classic" ? "token" : "gettoken";
    if (this.fault) {
      const f = this.fault;
      this.fault = null;
      throw upstreamError(f, f === "quota" ? 45011 : f === "config" ? 40164 : -1, endpoint);
    }
    if (this.api === "classic" || opts.forceRefresh || !this.cur) this.issue(now);
    else if (this.api === "stable" && this.cur.expiresAt - now <= OVERLAP_MS) this.issue(now);
    else if (this.api === "wecom" && now >= this.cur.expiresAt) this.issue(now);
    const cur = this.cur!;
    return { accessToken: cur.t, expiresIn: Math.floor((cur.expiresAt - now) / 1000), fetchedAt: now, api: this.api };
  }

  async probe(_a: Account, accessToken: string): Promise<ProbeResult> {
    return this.valid(accessToken) ? { valid: true, ipCount: 1 } : { valid: false, error: upstreamError("token_invalid", 40001, "probe") };
  }
}

type Step =
  | { kind: "advance"; ms: number }
  | { kind: "miss" | "ahead" | "sync" | "force" | "reportServed" | "reportStale" | "rogue" }
  | { kind: "fault"; errclass: ErrClass };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(500, 10_000, 45_000, 300_000, 900_000, 3_700_000, 6_500_000).map((ms) => ({ kind: "advance" as const, ms })),
  },
  { weight: 4, arbitrary: fc.constant({ kind: "miss" as const }) },
  { weight: 3, arbitrary: fc.constant({ kind: "ahead" as const }) },
  { weight: 3, arbitrary: fc.constant({ kind: "reportServed" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "reportStale" as const }) },
  { weight: 1, arbitrary: fc.constantFrom({ kind: "sync" as const }, { kind: "force" as const }, { kind: "rogue" as const }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<ErrClass>("transient", "quota", "config").map((errclass) => ({ kind: "fault" as const, errclass })),
  },
);

async function run(api: TokenSource, steps: Step[]): Promise<void> {
  const clock = new ModelClock();
  const wechat = new ModelWeChat(api, clock);
  const store = new MemoryTokenStore();
  const account: Account = {
    id: "acct",
    type: api === "wecom" ? "wecom" : "official",
    appId: "wx_model",
    appSecret: "model-secret",
    tokenApi: api === "classic" ? "classic" : "stable",
  };
  const service = new TokenService({
    accounts: [account],
    store,
    lock: new MemoryRefreshLock({ clock }),
    wechat,
    logger: pino({ level: "silent" }),
    clock,
    options: { ...defaultCoreOptions().tokenService, retryBaseMs: 1, pollIntervalMs: 5, waitForRefreshMs: 3_000 },
  });
  // Promises made to callers: the token, until when they may use it, and whether anything outside the broker's
  // control (another system's rotation, an admin's forced sync) happened since.
  const promises: { token: string; until: number; broken: boolean }[] = [];
  let lastServed: string | null = null;
  let foreignSinceFetch = false;
  const serve = (token: string, expiresIn: number, where: string) => {
    const now = clock.now();
    if (!foreignSinceFetch) assert.ok(wechat.valid(token, now), `${where}: served ${token}, which WeChat no longer accepts`);
    // A token served after another system killed it (unbeknown to the broker) carries no promise.
    promises.push({ token, until: now + expiresIn * 1000, broken: foreignSinceFetch });
    lastServed = token;
  };
  try {
    for (const step of steps) {
      const callsBefore = wechat.calls.length;
      const fetchedBefore = wechat.cur?.t;
      // A report WeChat contradicts, of a token not yet due for refresh anyway.
      const held = await store.get("acct");
      const young = held !== null && clock.now() < refreshDueAt(held, service.options);
      const validReport = step.kind === "reportServed" && young && lastServed !== null && wechat.valid(lastServed) && wechat.fault === null;
      try {
        switch (step.kind) {
          case "advance":
            clock.advance(step.ms);
            break;
          case "fault":
            wechat.fault = step.errclass;
            break;
          case "rogue":
            if (api !== "wecom") {
              wechat.rogue();
              foreignSinceFetch = true;
              for (const p of promises) p.broken = true;
            }
            break;
          case "miss": {
            const v = await service.getToken("acct");
            serve(v.accessToken, v.expiresIn, "miss");
            break;
          }
          case "ahead":
            await service.refreshAhead("acct");
            break;
          case "sync":
          case "force": {
            const r = await service.sync("acct", { force: step.kind === "force" });
            if (step.kind === "force") for (const p of promises) p.broken = true;
            serve(r.token.accessToken, r.token.expiresIn, step.kind);
            break;
          }
          case "reportServed":
          case "reportStale": {
            const reported = step.kind === "reportStale" ? "T-stale" : (lastServed ?? "T-none");
            const r = await service.invalidate("acct", reported, { caller: "model" });
            serve(r.token.accessToken, r.token.expiresIn, step.kind);
            break;
          }
        }
      } catch {
        // Refusing or making a caller wait is allowed (breaker, ceiling, budgets); serving a dead token is not.
      }
      if (wechat.cur?.t !== fetchedBefore && wechat.calls.length > callsBefore) foreignSinceFetch = false;
      const now = clock.now();

      // A report of a token WeChat accepts costs no token call.
      if (validReport) assert.equal(wechat.calls.length, callsBefore, "a report the probe contradicts made a token call");
      // The ceiling: never more calls than allowed in any minute.
      for (let i = 0; i < wechat.calls.length; i++) {
        const inWindow = wechat.calls.filter((t) => t > wechat.calls[i]! - 60_000 && t <= wechat.calls[i]!).length;
        assert.ok(inWindow <= CEILING, `${inWindow} upstream calls within a minute`);
      }
      // Every promise still running holds, unless something outside the broker broke it.
      for (const p of promises) {
        if (!p.broken && now < p.until)
          assert.ok(wechat.valid(p.token, now), `a token promised until +${p.until - now} ms from now is dead`);
      }
      // The force budget is spent only on force calls WeChat received.
      const used = await store.forceBudgetUsed("acct", quotaDay(now));
      assert.ok(
        used <= wechat.forceCalls.filter((t) => quotaDay(t) === quotaDay(now)).length,
        `force budget ${used} > force calls received`,
      );
    }
  } finally {
    service.close();
    await store.close();
  }
}

for (const [api, seed] of [
  ["classic", 101],
  ["stable", 202],
  ["wecom", 303],
] as const) {
  test(`property (${api}): across random triggers, time and upstream behaviour, no token is served or promised past its death, the ceiling holds, a contradicted report costs no call, force budget only for force calls`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 5, maxLength: 40 }), (steps) =>
        run(api, steps).catch((e: unknown) => {
          if (process.env.MODEL_DEBUG) console.error(String(e));
          throw e;
        }),
      ),
      { seed, numRuns: 60 },
    );
  });
}
