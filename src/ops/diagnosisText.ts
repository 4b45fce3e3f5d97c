// The diagnosis as plain text for a terminal (`curl …/quick_diagnosis.php`, `wechat-token-broker diagnose`):
// one line per check marked ✓ / ! / ✗, Chinese then English, and the fix indented under any check that is not ok.
import type { DiagnosisCheck, DiagnosisReport, CheckStatus, AccountDiagnosis } from "./diagnosis";
import { beijing, durEn } from "./diagnosis";
import type { Hint } from "../wechat/types";

const MARK: Record<CheckStatus, string> = { ok: "✓", warn: "!", fail: "✗" };
const API_LABEL: Record<AccountDiagnosis["tokenApi"], string> = { stable: "stable_token", classic: "cgi-bin/token", wecom: "WeCom gettoken" };
const VERDICT: Record<CheckStatus, string> = { ok: "✓ 正常 OK", warn: "! 有警告 WARN", fail: "✗ 失败 FAIL" };

export function renderDiagnosisText(r: DiagnosisReport): string {
  const out: string[] = [];
  const at = Date.parse(r.generatedAt);
  out.push(`wechat-token-broker ${r.version} · 快速诊断 Quick diagnosis · ${beijing(at)} 北京时间 (UTC+8)`);
  out.push(
    `模式 Mode: ${r.mode === "redis" ? "Redis" : "嵌入 embedded"}${r.replicaId ? ` · 副本 Replica: ${r.replicaId}` : ""}${r.viewpoint === "cli" ? " · 来自命令行 from the CLI" : ""}`,
  );
  out.push("");

  for (const c of r.checks.filter((c) => c.accountId === undefined)) line(out, c, "");

  for (const a of r.accounts) {
    out.push("");
    out.push(`账号 Account ${a.id} · ${a.appId} · ${API_LABEL[a.tokenApi]}`);
    for (const c of r.checks.filter((c) => c.accountId === a.id)) line(out, c, "  ");
    const lock = lockLine(a);
    if (lock) out.push(`  · 锁 Lock — ${lock}`);
  }

  out.push("");
  const s = r.summary;
  out.push(`结果 Result: ${VERDICT[r.status]} — ${s.fail} 项失败 failed, ${s.warn} 项警告 warnings, ${s.ok} 项正常 ok`);
  return `${out.join("\n")}\n`;
}

function line(out: string[], c: DiagnosisCheck, indent: string): void {
  out.push(`${indent}${MARK[c.status]} ${c.title.zh} ${c.title.en}${c.detail ? ` — ${bilingual(c.detail)}` : ""}`);
  if (c.fix && c.status !== "ok") {
    out.push(`${indent}    修复：${c.fix.zh}`);
    out.push(`${indent}    Fix: ${c.fix.en}`);
  }
}

function bilingual(h: Hint): string {
  return h.zh === h.en ? h.en : `${h.zh} | ${h.en}`;
}

function lockLine(a: AccountDiagnosis): string | null {
  if (a.readError !== undefined) return null;
  const l = a.lock;
  if (!l) return "空闲 free";
  if (l.stuck) return `卡死（无过期时间）stuck, no TTL: ${l.key}${l.owner ? ` · ${l.owner}` : ""}`;
  const held = l.ageMs !== undefined ? `, held ${durEn(l.ageMs)}` : "";
  return `被持有 held by ${l.owner ?? "unknown"}${held}, ${Math.ceil(l.ttlMs / 1000)} s left (gen ${l.gen ?? "?"})`;
}
