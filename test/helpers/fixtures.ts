// The file-wide servers most integration tests share: a private redis-server and the WeChat simulator, started
// once before the file's tests and closed after them. One helper instead of the same before/after/beforeEach hooks
// copied into every file, so they all start, reset and close them alike.
import { after, before, beforeEach } from "node:test";
import { startSimulator } from "../../src/simulator/server";
import type { RunningSimulator, SimAppConfig } from "../../src/simulator/types";
import { startRedis, type TestRedis } from "./redis";

export interface RedisAndSimulator {
  readonly redis: TestRedis;
  readonly sim: RunningSimulator;
}

export interface FixtureOptions {
  /** startRedis options (e.g. a password), or false for no redis-server. Default: one without a password. */
  redis?: false | Parameters<typeof startRedis>[0];
  /** Before each test, set every app back to its configuration (new tokens, quotas, no faults) and zero the counters. */
  resetEachTest?: boolean;
}

/**
 * Registers the hooks in the calling scope (the file, or the describe it is called in): `before` starts redis-server
 * then the simulator with `apps`, `after` closes them in reverse. The servers exist only once `before` has run, yet
 * files want plain `const { redis, sim } = useRedisAndSimulator(...)` at top level: so `redis` and `sim` are stable
 * handles whose getters read the running server, and fail loudly when read before `before` (or without redis).
 */
export function useRedisAndSimulator(apps: SimAppConfig[], opts: FixtureOptions & { redis: false }): { readonly sim: RunningSimulator };
export function useRedisAndSimulator(apps: SimAppConfig[], opts?: FixtureOptions): RedisAndSimulator;
export function useRedisAndSimulator(apps: SimAppConfig[], opts: FixtureOptions = {}): RedisAndSimulator {
  let runningRedis: TestRedis | undefined;
  let runningSim: RunningSimulator | undefined;
  const started = <T>(what: string, value: T | undefined): T => {
    if (value === undefined) throw new Error(`${what} is not running: it is started in before(), read it inside a hook or a test`);
    return value;
  };
  const r = () => started(opts.redis === false ? "redis-server (redis: false)" : "redis-server", runningRedis);
  const s = () => started("the simulator", runningSim);
  const redis: TestRedis = {
    get port() {
      return r().port;
    },
    get url() {
      return r().url;
    },
    stop: () => r().stop(),
    start: () => r().start(),
    cli: (...args) => r().cli(...args),
    close: () => r().close(),
  };
  const sim: RunningSimulator = {
    get url() {
      return s().url;
    },
    get wecomUrl() {
      return s().wecomUrl;
    },
    get port() {
      return s().port;
    },
    get admin() {
      return s().admin;
    },
    close: () => s().close(),
  };

  before(async () => {
    if (opts.redis !== false) runningRedis = await startRedis(opts.redis);
    runningSim = await startSimulator({ apps });
  });
  after(async () => {
    await runningSim?.close();
    await runningRedis?.close();
  });
  if (opts.resetEachTest) {
    beforeEach(() => {
      for (const app of apps) sim.admin.setApp(app);
      sim.admin.resetCounters();
    });
  }
  return { redis, sim };
}
