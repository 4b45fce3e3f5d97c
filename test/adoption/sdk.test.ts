// Real, unmodified SDKs from npm (wechat-api, co-wechat-api, wechat-enterprise-api) pointed at a served broker with
// nothing but their API host changed (issue 13). Across several token rotations (short lifetimes, timing scaled
// down) every SDK call succeeds, and the simulator sees only the broker's token fetches: at most about one per
// rotation, however many SDK instances there are, so no SDK ever reaches WeChat's token endpoint itself.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import request from "supertest";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { sleep } from "../helpers/wait";
import { serveBroker, sample, type ServedBroker } from "./support";

// CommonJS packages without type declarations: only the methods used here are typed.
type Callback<T> = (err: Error | null, data: T) => void;
interface WechatApi {
  endpoint: string;
  getUser(openid: string, cb: Callback<{ openid: string }>): void;
  getIp(cb: Callback<{ ip_list: string[] }>): void;
  createMenu(menu: unknown, cb: Callback<{ errcode: number }>): void;
}
interface CoWechatApi {
  prefix: string;
  getUser(openid: string): Promise<{ openid: string }>;
  createMenu(menu: unknown): Promise<{ errcode: number }>;
  getMenu(): Promise<{ menu: unknown }>;
  uploadMedia(file: Buffer, type: string, filename: string, mime: string): Promise<{ media_id: string }>;
  getMedia(mediaId: string): Promise<Buffer>;
}
interface WechatEnterpriseApi {
  prefix: string;
  getUser(userid: string, cb: Callback<{ userid: string; errcode: number }>): void;
}
/* eslint-disable @typescript-eslint/no-require-imports */
const WechatAPI = require("wechat-api") as new (appid: string, secret: string) => WechatApi;
const CoWechatAPI = require("co-wechat-api") as new (appid: string, secret: string) => CoWechatApi;
const EnterpriseAPI = require("wechat-enterprise-api") as new (corpid: string, secret: string, agentid: number) => WechatEnterpriseApi;
/* eslint-enable @typescript-eslint/no-require-imports */

const S = { classic: "sdk-classic-secret-6c2e9a41", stable: "sdk-stable-secret-1d8f3b72", corp: "sdk-corp-secret-5a7c0e93" };
const LIFETIME_SEC = 20;
const CLASSIC_AHEAD_SEC = 8;
const STABLE_AHEAD_SEC = 4;
const RUN_MS = Number(process.env.SDK_RUN_MS ?? 45_000);

const { redis, sim } = useRedisAndSimulator([
  { appId: "wx_sdk_classic", secret: S.classic, tokenLifetimeSec: LIFETIME_SEC },
  // Stable tokens rotate only in their last overlapSec: the broker's refresh-ahead (4 s) falls inside it.
  { appId: "wx_sdk_stable", secret: S.stable, tokenLifetimeSec: LIFETIME_SEC, overlapSec: 5 },
  { appId: "ww_sdk_corp", secret: S.corp, platform: "wecom" },
]);

let b: ServedBroker;

void describe("real WeChat SDKs pointed at the broker", () => {
  before(async () => {
    b = await serveBroker({
      REDIS_URL: redis.url,
      KEY_PREFIX: `sdk-${process.pid}:`,
      WECHAT_API_BASE: sim.url,
      WECOM_API_BASE: sim.wecomUrl,
      TOKEN_SAFETY_MARGIN_SEC: "1",
      CLASSIC_REFRESH_AHEAD_SEC: String(CLASSIC_AHEAD_SEC),
      STABLE_REFRESH_AHEAD_SEC: String(STABLE_AHEAD_SEC),
      LOCAL_CACHE_TTL_MS: "300",
      // Probing every 3 s across legitimate rotations must not cry "foreign fetcher".
      FOREIGN_PROBE_INTERVAL_SEC: "3",
      ACCOUNTS: JSON.stringify([
        { id: "gh_classic", appId: "wx_sdk_classic", appSecret: S.classic, tokenApi: "classic" },
        { id: "gh_stable", appId: "wx_sdk_stable", appSecret: S.stable },
        { id: "corp", type: "wecom", appId: "ww_sdk_corp", appSecret: S.corp },
      ]),
      LOG_LEVEL: process.env.SDK_LOG_LEVEL ?? "info",
    });
  });
  after(() => b.close());

  void test(
    "wechat-api and co-wechat-api calls all succeed across several rotations, and only the broker fetches tokens",
    { timeout: RUN_MS + 30_000 },
    async () => {
      sim.admin.resetCounters();
      // Only the API host changes. wechat-api's setEndpoint(host) builds https:// URLs; this broker serves plain
      // HTTP, so the same property is set directly. co-wechat-api keeps the host in its prefix.
      const plain = [0, 1].map(() => {
        const api = new WechatAPI("wx_sdk_classic", S.classic);
        api.endpoint = b.url;
        return api;
      });
      const co = [0, 1].map(() => {
        const api = new CoWechatAPI("wx_sdk_stable", S.stable);
        api.prefix = `${b.url}/cgi-bin/`;
        return api;
      });
      const file = randomBytes(256 * 1024);
      const failures: string[] = [];
      let ok = 0;
      const deadline = Date.now() + RUN_MS;
      const loop = async (name: string, call: (i: number) => Promise<void>) => {
        for (let i = 0; Date.now() < deadline; i++) {
          try {
            await call(i);
            ok++;
          } catch (err) {
            failures.push(
              `${name} #${i}: ${(err as Error).name} ${(err as { code?: unknown }).code ?? ""} ${(err as Error).message.slice(0, 160)}`,
            );
          }
          await sleep(250);
        }
      };
      await Promise.all([
        ...plain.map((api, n) =>
          loop(`wechat-api ${n}`, async (i) => {
            if (i % 3 === 0) assert.ok((await promisify(api.getIp.bind(api))()).ip_list.length > 0);
            else if (i % 3 === 1)
              assert.equal(
                (await promisify(api.createMenu.bind(api))({ button: [{ type: "click", name: "n", key: `k${i}` }] })).errcode,
                0,
              );
            else assert.equal((await promisify(api.getUser.bind(api))(`o_${n}_${i}`)).openid, `o_${n}_${i}`);
          }),
        ),
        ...co.map((api, n) =>
          loop(`co-wechat-api ${n}`, async (i) => {
            if (i % 4 === 0) {
              const up = await api.uploadMedia(file, "image", "pic.jpg", "image/jpeg");
              assert.ok((await api.getMedia(up.media_id)).equals(file), "the media came back whole");
            } else if (i % 4 === 1) {
              assert.equal((await api.createMenu({ button: [{ type: "click", name: "m", key: `c${i}` }] })).errcode, 0);
              assert.ok((await api.getMenu()).menu);
            } else assert.equal((await api.getUser(`c_${n}_${i}`)).openid, `c_${n}_${i}`);
          }),
        ),
      ]);

      assert.deepEqual(
        failures,
        [],
        `${failures.length} SDK calls failed; broker warnings:\n${b.logs
          .filter((l) => /"level":(40|50)|proxy:|media\/upload/.test(l))
          .slice(-60)
          .join("\n")}`,
      );
      assert.ok(ok > 200, `only ${ok} SDK calls were made`);
      const classic = sim.admin.counters("wx_sdk_classic");
      const stable = sim.admin.counters("wx_sdk_stable");
      // Rotations in RUN_MS: the broker refreshes a classic token every LIFETIME - AHEAD seconds (minus jitter),
      // a stable one every LIFETIME - AHEAD. Each SDK instance alone would refetch every ~5 s (expires_in - 10).
      const maxFetches = (ahead: number) => Math.ceil(RUN_MS / ((LIFETIME_SEC - ahead * 1.2) * 1000)) + 2;
      assert.ok(classic.tokensIssued >= 3, `several classic rotations (${classic.tokensIssued})`);
      assert.ok(
        classic.calls.token <= maxFetches(CLASSIC_AHEAD_SEC),
        `classic token calls: ${classic.calls.token} > ${maxFetches(CLASSIC_AHEAD_SEC)}`,
      );
      assert.equal(classic.calls.stable_token, 0);
      assert.ok(stable.tokensIssued >= 2, `several stable rotations (${stable.tokensIssued})`);
      assert.ok(
        stable.calls.stable_token <= maxFetches(STABLE_AHEAD_SEC),
        `stable_token calls: ${stable.calls.stable_token} > ${maxFetches(STABLE_AHEAD_SEC)}`,
      );
      assert.equal(stable.calls.token, 0, "the SDKs' own /cgi-bin/token calls never reached WeChat");
      assert.equal(stable.forceRefreshes, 0);
      const m = (await request(b.url).get("/metrics")).text;
      for (const account of ["gh_classic", "gh_stable"]) {
        for (const via of ["probe", "report", "proxy"])
          assert.equal(sample(m, "wtb_foreign_rotations_total", { account, via }), 0, `${account} ${via}: no false foreign rotation`);
      }
    },
  );

  void test("wechat-enterprise-api gets the broker's WeCom token and its calls are relayed", async () => {
    // This SDK keeps its first token for good (it never looks at expires_in), so it is shown within one lifetime.
    const api = new EnterpriseAPI("ww_sdk_corp", S.corp, 1000002);
    api.prefix = `${b.url}/wecom/cgi-bin/`;
    const before = sim.admin.counters("ww_sdk_corp").calls.gettoken;
    for (let i = 0; i < 5; i++) {
      const user = await promisify(api.getUser.bind(api))(`zhang${i}`);
      assert.equal(user.userid, `zhang${i}`);
    }
    assert.ok(sim.admin.counters("ww_sdk_corp").calls.gettoken - before <= 1, "one upstream gettoken at most");
    assert.equal(sim.admin.apiCalls("ww_sdk_corp").calls["/wecom/cgi-bin/user/get"], 5);
  });
});
