// One source: a setting's default, unit and field are declared once in the variables table, and the loader, the
// Config type, the core's options and the token service take them from there and from nowhere else.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FIXED_OPTIONS, tokenServiceOptions } from "../../src/broker/tokenService";
import {
  coreOptions,
  defaultCoreOptions,
  loadConfig,
  VARIABLES,
  type Config,
  type VariableName,
  type VariableSpec,
} from "../../src/config";
import { captureConfigError } from "./helpers";

const NAMES = Object.keys(VARIABLES) as VariableName[];
const spec = (name: VariableName): VariableSpec => VARIABLES[name];
const SETTINGS = NAMES.filter((n) => spec(n).field !== undefined);
// Redis configured, so that the Redis settings have a place in Config.
const BASE = { REDIS_URL: "redis://redis.internal" };

function at(config: Config, path: string): unknown {
  return path.split(".").reduce<unknown>((v, key) => (v as Record<string, unknown>)[key], config);
}

void test("every setting's declared default is what an empty environment loads, at the field the table names", () => {
  const config = loadConfig(BASE);
  let checked = 0;
  for (const name of SETTINGS) {
    const { default: documented, field, parse } = spec(name);
    if (documented === undefined) continue;
    const expected = typeof documented === "number" ? documented : parse!.parse(documented);
    assert.deepEqual(at(config, field!), expected, name);
    checked++;
  }
  assert.ok(checked >= 25, `only ${checked} settings with a default`);
});

void test("a duration's name, its field and its declared unit agree", () => {
  const suffix = { ms: ["_MS", "Ms"], s: ["_SEC", "Sec"], bytes: ["_BYTES", "Bytes"] } as const;
  for (const name of NAMES) {
    const { unit, field, range } = spec(name);
    if (range !== undefined && name !== "PORT") assert.ok(unit !== undefined, `${name} is a quantity without a unit`);
    if (unit === undefined || unit === "count") continue;
    const [nameEnd, fieldEnd] = suffix[unit];
    assert.ok(name.endsWith(nameEnd), `${name} is in ${unit}`);
    if (field !== undefined) assert.ok(field.endsWith(fieldEnd), `${field} is in ${unit}`);
  }
});

void test("the core's options carry each setting converted by its unit: seconds × 1000, milliseconds as they are", () => {
  const config = loadConfig({
    ...BASE,
    TOKEN_SAFETY_MARGIN_SEC: "61",
    CLASSIC_REFRESH_AHEAD_SEC: "901",
    STABLE_REFRESH_AHEAD_SEC: "241",
    WECHAT_OVERLAP_SEC: "299",
    REFETCH_FLOOR_SEC: "31",
    LOCAL_CACHE_TTL_MS: "29000",
    UPSTREAM_TIMEOUT_MS: "5001",
    LOCK_TTL_MS: "12001",
    FORCE_REFRESH_PER_DAY: "19",
    FORCE_REFRESH_MIN_INTERVAL_SEC: "31",
    UPSTREAM_CALLS_PER_MINUTE: "7",
    REPORT_CHECKS_PER_MINUTE: "8",
    REPORT_CHECKS_PER_KEY_PER_MINUTE: "4",
    WECHAT_API_BASE: "http://wechat.internal/",
    WECOM_API_BASE: "http://wecom.internal",
    FOREIGN_PROBE_INTERVAL_SEC: "301",
  });
  assert.deepEqual(coreOptions(config), {
    wechat: { wechatApiBase: "http://wechat.internal", wecomApiBase: "http://wecom.internal", timeoutMs: 5001 },
    previousTokenOverlapMs: 299_000,
    tokenService: {
      safetyMarginMs: 61_000,
      classicRefreshAheadMs: 901_000,
      stableRefreshAheadMs: 241_000,
      overlapMs: 299_000,
      refetchFloorMs: 31_000,
      localCacheTtlMs: 29_000,
      lockTtlMs: 12_001,
      upstreamTimeoutMs: 5001,
      waitForRefreshMs: 12_001 + 5001,
      forcePerDay: 19,
      forceMinIntervalMs: 31_000,
      upstreamCallsPerMinute: 7,
      reportChecksPerMinute: 8,
      reportChecksPerKeyPerMinute: 4,
    },
    foreignProbeIntervalMs: 301_000,
  });
});

void test("the default core options are the table's defaults in milliseconds", () => {
  const ms = (name: VariableName) => (spec(name).default as number) * (spec(name).unit === "s" ? 1000 : 1);
  const { tokenService } = defaultCoreOptions();
  assert.equal(tokenService.safetyMarginMs, ms("TOKEN_SAFETY_MARGIN_SEC"));
  assert.equal(tokenService.classicRefreshAheadMs, ms("CLASSIC_REFRESH_AHEAD_SEC"));
  assert.equal(tokenService.stableRefreshAheadMs, ms("STABLE_REFRESH_AHEAD_SEC"));
  assert.equal(tokenService.overlapMs, ms("WECHAT_OVERLAP_SEC"));
  assert.equal(tokenService.localCacheTtlMs, ms("LOCAL_CACHE_TTL_MS"));
  assert.equal(tokenService.upstreamTimeoutMs, ms("UPSTREAM_TIMEOUT_MS"));
  assert.equal(tokenService.forceMinIntervalMs, ms("FORCE_REFRESH_MIN_INTERVAL_SEC"));
  assert.equal(tokenService.forcePerDay, spec("FORCE_REFRESH_PER_DAY").default);
  // LOCK_TTL_MS has no declared number: it follows the upstream timeout.
  assert.equal(tokenService.lockTtlMs, loadConfig({}).lockTtlMs);
  assert.deepEqual(defaultCoreOptions(), coreOptions(loadConfig({})));
});

void test("the token service has a default only for the options no setting decides", () => {
  const configured = Object.keys(defaultCoreOptions().tokenService);
  const fixed = Object.keys(FIXED_OPTIONS);
  assert.deepEqual(
    fixed.filter((k) => configured.includes(k)),
    [],
    "an option the configuration decides must not have a second default in the token service",
  );
  // Together they are every option the service uses.
  assert.deepEqual([...configured, ...fixed].sort(), Object.keys(tokenServiceOptions(defaultCoreOptions().tokenService)).sort());
});

void test("the loader validates every setting of the table, and reports them all at once", () => {
  // "*" is no valid value of any setting: not an integer, URL, log level, key prefix, glob with a literal or path prefix.
  const err = captureConfigError(() => loadConfig({ ...BASE, ...Object.fromEntries(SETTINGS.map((n) => [n, "*"])) }));
  const sources = new Set(err.issues.map((i) => i.source));
  assert.deepEqual(
    SETTINGS.filter((n) => !sources.has(n)),
    [],
  );
});
