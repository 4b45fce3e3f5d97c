// Lock listings and cleanup results as plain text for a terminal (`curl …/cleanup_expired_locks.php`,
// `wechat-token-broker locks list|cleanup`). Chinese then English, one line per key and under it why it is kept or
// removed.
import type { CleanupResult, KeepReason, LockEntry, LockListing, StuckReason } from "./locks";
import { durEn } from "./timeText";

const STUCK: Record<StuckReason, string> = {
  no_ttl: "无过期时间 no TTL",
  expired_value: "自带过期时间已过 embedded expiry passed",
  older_than_max_hold: "超过最长持有时间 older than the maximum hold",
};
const KEPT: Record<KeepReason, string> = {
  has_ttl: "有过期时间 has a TTL (live)",
  expiry_in_future: "自带过期时间未到 embedded expiry ahead",
  within_max_hold: "可能仍被持有 may still be held (within the maximum hold)",
  age_unknown: "无法判断持有时长 age unknown",
  not_a_string: "非字符串值，不自动删除 not a plain string value",
  changed: "期间已被改动 changed meanwhile (re-taken or given a TTL)",
};

function ttl(ms: number): string {
  return ms === -1 ? "no TTL" : `TTL ${durEn(ms)}`;
}

function entryLine(e: LockEntry): string {
  const mark = e.stuck ? "✗" : "✓";
  const parts = [e.kind === "broker" ? `account ${e.accountId ?? "?"}` : `legacy ${e.pattern ?? ""}`.trim(), ttl(e.ttlMs)];
  if (e.owner) parts.push(`owner ${e.owner}`);
  if (e.ageMs !== undefined) parts.push(`held ${durEn(e.ageMs)}`);
  if (e.gen !== undefined) parts.push(`gen ${e.gen}`);
  if (e.valueType) parts.push(`type ${e.valueType}`);
  if (e.stuck && e.stuckReason) parts.push(`卡死 stuck: ${STUCK[e.stuckReason]}`);
  return `${mark} ${e.key} — ${parts.join(" · ")}\n    ${e.why}`;
}

export function renderLockListingText(l: LockListing): string {
  const out: string[] = [];
  const stuck = l.locks.filter((e) => e.stuck).length;
  out.push(
    `锁列表 Locks (${l.mode === "redis" ? "Redis" : "嵌入 embedded"}) · ${l.locks.length} 个 keys · ${stuck} 个卡死 stuck · 已检查 scanned ${l.scanned}`,
  );
  if (l.patterns.length > 0) out.push(`旧系统锁模式 Legacy patterns: ${l.patterns.join(", ")}`);
  if (l.note) out.push(`说明 Note: ${l.note}`);
  if (l.truncated) out.push("! 扫描达到键数上限，结果不完整 the scan stopped at its key limit: the list is incomplete");
  if (l.locks.length === 0) out.push("（无 none）");
  for (const e of l.locks) out.push(entryLine(e));
  return `${out.join("\n")}\n`;
}

export function renderCleanupText(r: CleanupResult): string {
  const out: string[] = [];
  const verb = r.dryRun ? "将删除 would remove" : "已删除 removed";
  out.push(
    `清理卡死的锁 Stuck lock cleanup${r.dryRun ? "（预览 dry run：未删除任何键 nothing removed）" : ""} · 已检查 scanned ${r.scanned}`,
  );
  if (r.note) out.push(`说明 Note: ${r.note}`);
  if (r.truncated) out.push("! 扫描达到键数上限，可再次执行 the scan stopped at its key limit: run it again");
  out.push(`${verb}: ${r.removed.length}`);
  for (const x of r.removed) out.push(`  ✗ ${x.key} — ${STUCK[x.reason]}`, `      ${x.why}`);
  out.push(`保留 kept: ${r.kept.length}`);
  for (const k of r.kept)
    out.push(`  ✓ ${k.key} — ${KEPT[k.reason]} · ${ttl(k.ttlMs)}${k.owner ? ` · owner ${k.owner}` : ""}`, `      ${k.why}`);
  return `${out.join("\n")}\n`;
}
