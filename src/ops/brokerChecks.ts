// The diagnosis's checks of the broker as a whole: its configuration, the token store, and the locks.
import { StoreUnavailableError } from "../broker/errors";
import { describeConfig, type Config, type ConfigSummary } from "../config";
import { describeRedisTarget } from "../store/redisClient";
import type { TokenStore } from "../store/types";
import { clusterCheck } from "./clusterCheck";
import type { DiagnosisCheck } from "./diagnosisReport";
import { TITLES, both, errorText } from "./diagnosisWording";
import type { LockEntry, LockListing } from "./locks";

/** Redis answering slower than this is worth a warning. */
const SLOW_STORE_MS = 100;

export function configCheck(c: Config): DiagnosisCheck {
  const summary = publicSummary(describeConfig(c));
  const n = c.accounts.length;
  const keys = c.auth.apiKeys.length;
  const redis = c.redis ? describeRedisTarget(c.redis) : null;
  const en =
    `${redis ? `redis mode (${redis})` : "embedded mode (in-memory, one replica)"}, ${n} account${n === 1 ? "" : "s"}, ` +
    `${c.auth.required ? `API keys required (${keys} key${keys === 1 ? "" : "s"})` : "no API keys (loopback only)"}, key prefix "${c.keyPrefix}"`;
  const zh =
    `${redis ? `Redis 模式（${redis}）` : "嵌入模式（内存存储，单副本）"}，${n} 个账号，` +
    `${c.auth.required ? `需要 API key（${keys} 个）` : "未配置 API key（仅本机访问）"}，键前缀 "${c.keyPrefix}"`;
  const check: DiagnosisCheck = { id: "config", status: "ok", title: TITLES.config, detail: { en, zh }, data: { summary } };
  if (c.warnings.length > 0) {
    check.status = "warn";
    check.detail = { en: `${en}; ${c.warnings.join("; ")}`, zh: `${zh}；${c.warnings.length} 条警告：${c.warnings.join("；")}` };
    check.fix =
      n === 0
        ? both(
            "Configure the accounts: set ACCOUNTS_FILE=/path/to/accounts.yaml (a list of id, appId, appSecretFile; see " +
              "examples/accounts.example.yaml and docs/configuration.md), or ACCOUNTS inline as JSON, then restart the broker.",
            "请配置账号：设置 ACCOUNTS_FILE=/path/to/accounts.yaml（每项含 id、appId、appSecretFile，参见 examples/accounts.example.yaml " +
              "与 docs/configuration.md），或用 ACCOUNTS 直接写 JSON，然后重启 broker。",
          )
        : both(`Review the configuration: ${c.warnings.join("; ")}`, `请检查配置警告：${c.warnings.join("；")}`);
  }
  return check;
}

export async function storeCheck(store: TokenStore, c: Config): Promise<DiagnosisCheck> {
  if (store.mode === "memory") {
    return {
      id: "store",
      status: "ok",
      title: TITLES.store,
      detail: both(
        "embedded: in-memory store and in-process lock (one replica; tokens are fetched again after a restart)",
        "嵌入模式：内存存储与进程内锁（单副本；重启后重新获取 token）",
      ),
      data: { mode: "embedded" },
    };
  }
  const target = c.redis ? describeRedisTarget(c.redis) : "redis";
  try {
    const ms = Math.round((await store.ping()) * 100) / 100;
    const cluster = await clusterCheck(store, target, ms, TITLES.store);
    if (cluster) return cluster;
    const slow = ms > SLOW_STORE_MS;
    return {
      id: "store",
      status: slow ? "warn" : "ok",
      title: TITLES.store,
      detail: both(
        `Redis ${target} answered PING in ${ms} ms${slow ? " (slow)" : ""}`,
        `Redis ${target} 可达，PING 耗时 ${ms} ms${slow ? "（偏慢）" : ""}`,
      ),
      ...(slow
        ? {
            fix: both(
              "Redis is slow: check its CPU, memory (swap) and the network between the broker and Redis.",
              "Redis 响应偏慢：请检查其 CPU、内存（是否使用 swap）以及 broker 与 Redis 之间的网络。",
            ),
          }
        : {}),
      data: { mode: "redis", target, reachable: true, latencyMs: ms },
    };
  } catch (err) {
    return {
      id: "store",
      status: "fail",
      title: TITLES.store,
      detail: both(`Redis ${target} is not reachable: ${errorText(err)}`, `Redis ${target} 不可达：${errorText(err)}`),
      fix: new StoreUnavailableError("").hint,
      data: { mode: "redis", target, reachable: false },
    };
  }
}

/** `url`: where operators reach this broker, for the cleanup command. */
export function locksCheck(listing: LockListing, url: string): DiagnosisCheck {
  const held = listing.locks.filter((l) => !l.stuck);
  const stuck = listing.locks.filter((l) => l.stuck);
  const data = {
    mode: listing.mode,
    patterns: listing.patterns,
    scanned: listing.scanned,
    truncated: listing.truncated,
    ...(listing.census ? { census: listing.census } : {}),
    held: held.length,
    stuck: stuck.length,
    locks: listing.locks,
  };
  const partial = listing.census && !listing.census.complete;
  const heldEn =
    held.length === 0
      ? "no lock held"
      : `${held.length} held (${held.slice(0, 3).map(holderText).join("; ")}${held.length > 3 ? "; …" : ""})`;
  const heldZh =
    held.length === 0
      ? "无锁被持有"
      : `${held.length} 个被持有（${held.slice(0, 3).map(holderText).join("；")}${held.length > 3 ? "；…" : ""}）`;
  if (listing.mode === "embedded") {
    return {
      id: "locks",
      status: "ok",
      title: TITLES.locks,
      detail: both(`in-process locks: ${heldEn}; none can be stuck`, `进程内锁：${heldZh}；不会出现卡死的锁`),
      data,
    };
  }
  if (stuck.length > 0) {
    const keys =
      stuck
        .slice(0, 5)
        .map((l) => l.key)
        .join(", ") + (stuck.length > 5 ? ", …" : "");
    return {
      id: "locks",
      status: "fail",
      title: TITLES.locks,
      detail: both(
        `${stuck.length} stuck lock key(s) (no TTL and no live holder possible): ${keys}; ${heldEn}`,
        `${stuck.length} 个卡死的锁（无过期时间，且不可能仍被持有）：${keys}；${heldZh}`,
      ),
      fix: both(
        `Remove the stuck keys (locks with a TTL are never touched): curl -X POST ${url}/api/locks/cleanup — or: node ` +
          `bin/wechat-token-broker.js locks cleanup. Preview with ?dryRun=true / --dry-run. With API keys configured add ` +
          `-H "Authorization: Bearer <admin key>".`,
        `清理卡死的锁（带过期时间的锁不会被删除）：curl -X POST ${url}/api/locks/cleanup ，或执行 node bin/wechat-token-broker.js locks ` +
          `cleanup。可先用 ?dryRun=true / --dry-run 预览。若配置了 API key，请加 -H "Authorization: Bearer <管理员 key>"。`,
      ),
      data,
    };
  }
  const truncated = listing.truncated;
  const partialEn = partial
    ? " (the key census has not walked the whole keyspace yet: legacy keys it has not reached are not shown; " +
      "node bin/wechat-token-broker.js locks list walks it all)"
    : "";
  const partialZh = partial
    ? "（键扫描尚未遍历完整个键空间，尚未扫到的旧系统锁未列出；完整列表：node bin/wechat-token-broker.js locks list）"
    : "";
  return {
    id: "locks",
    status: truncated ? "warn" : "ok",
    title: TITLES.locks,
    detail: both(
      `${heldEn}; none stuck${truncated ? " (scan stopped at its key limit)" : ""}${partialEn}`,
      `${heldZh}；无卡死的锁${truncated ? "（扫描达到键数上限，结果可能不完整）" : ""}${partialZh}`,
    ),
    ...(truncated
      ? {
          fix: both(
            "A LOCK_CLEANUP_PATTERNS entry matches too many keys: make it narrower.",
            "LOCK_CLEANUP_PATTERNS 中的模式匹配的键过多，请缩小范围。",
          ),
        }
      : {}),
    data,
  };
}

function holderText(l: LockEntry): string {
  const who = l.accountId ?? l.key;
  const ttl = l.ttlMs >= 0 ? `${Math.ceil(l.ttlMs / 1000)} s left` : "no TTL";
  return `${who}${l.owner ? ` by ${l.owner}` : ""}, ${ttl}`;
}

/** Config summary without API key names: the diagnosis is readable without a key. */
function publicSummary(
  s: ConfigSummary,
): Omit<ConfigSummary, "auth"> & { auth: { required: boolean; keys: { admin: number; client: number } } } {
  const { auth, ...rest } = s;
  return {
    ...rest,
    auth: {
      required: auth.required,
      keys: { admin: auth.keys.filter((k) => k.role === "admin").length, client: auth.keys.filter((k) => k.role === "client").length },
    },
  };
}
