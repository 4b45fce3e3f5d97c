// The diagnosis as plain text for a terminal (`curl …/quick_diagnosis.php`, `wechat-token-broker diagnose`): one
// check per entry marked ✓ / ! / ✗, the fix indented under any check that is not ok. One language per report
// (`lang`: zh or en), every line within 80 columns (a CJK character takes two), wrapped under its own indent.
import type { DiagnosisCheck, DiagnosisReport, CheckStatus, AccountDiagnosis } from "./diagnosisReport";
import { beijing, durEn, durZh } from "./timeText";
import { wrap } from "./textWrap";

export type ReportLang = "zh" | "en";
export const REPORT_LANGS: readonly ReportLang[] = ["zh", "en"];

/** A terminal's usual width. */
export const TEXT_WIDTH = 80;

const MARK: Record<CheckStatus, string> = { ok: "✓", warn: "!", fail: "✗" };
const API_LABEL: Record<AccountDiagnosis["tokenApi"], string> = {
  stable: "stable_token",
  classic: "cgi-bin/token",
  wecom: "WeCom gettoken",
};

const WORDS = {
  zh: {
    head: (v: string, at: string) => `wechat-token-broker ${v} · 快速诊断 · 北京时间 ${at}`,
    mode: (m: DiagnosisReport["mode"]) => `模式：${m === "redis" ? "Redis" : "嵌入（内存）"}`,
    replica: (r: string) => `副本：${r}`,
    cli: "来自命令行",
    account: "账号",
    fix: "修复：",
    lock: "锁",
    verdict: { ok: "✓ 正常", warn: "! 有警告", fail: "✗ 失败" } as Record<CheckStatus, string>,
    result: (v: string, s: DiagnosisReport["summary"]) => `结果：${v} — ${s.fail} 项失败，${s.warn} 项警告，${s.ok} 项正常`,
    free: "空闲",
    stuck: (key: string) => `卡死（无过期时间）：${key}`,
    held: (owner: string, ageMs: number | undefined, ttlMs: number, gen: string) =>
      `被 ${owner} 持有${ageMs !== undefined ? ` ${durZh(ageMs)}` : ""}，剩余 ${Math.ceil(ttlMs / 1000)} 秒（gen ${gen}）`,
    unknownOwner: "未知持有者",
  },
  en: {
    head: (v: string, at: string) => `wechat-token-broker ${v} · Quick diagnosis · ${at} Beijing (UTC+8)`,
    mode: (m: DiagnosisReport["mode"]) => `Mode: ${m === "redis" ? "Redis" : "embedded (in-memory)"}`,
    replica: (r: string) => `Replica: ${r}`,
    cli: "from the CLI",
    account: "Account",
    fix: "Fix: ",
    lock: "Lock",
    verdict: { ok: "✓ OK", warn: "! WARN", fail: "✗ FAIL" } as Record<CheckStatus, string>,
    result: (v: string, s: DiagnosisReport["summary"]) => `Result: ${v} — ${s.fail} failed, ${s.warn} warnings, ${s.ok} ok`,
    free: "free",
    stuck: (key: string) => `stuck, no TTL: ${key}`,
    held: (owner: string, ageMs: number | undefined, ttlMs: number, gen: string) =>
      `held by ${owner}${ageMs !== undefined ? ` for ${durEn(ageMs)}` : ""}, ${Math.ceil(ttlMs / 1000)} s left (gen ${gen})`,
    unknownOwner: "unknown",
  },
};

export function renderDiagnosisText(r: DiagnosisReport, lang: ReportLang = "en"): string {
  const t = WORDS[lang];
  const out: string[] = [];
  const para = (text: string, first = "", rest = "    ") => out.push(...wrap(text, TEXT_WIDTH, first, rest));
  para(t.head(r.version, beijing(Date.parse(r.generatedAt))));
  para([t.mode(r.mode), ...(r.replicaId ? [t.replica(r.replicaId)] : []), ...(r.viewpoint === "cli" ? [t.cli] : [])].join(" · "));
  out.push("");

  for (const c of r.checks.filter((c) => c.accountId === undefined)) check(out, c, "", lang);

  for (const a of r.accounts) {
    out.push("");
    para(`${t.account} ${a.id} · ${a.appId} · ${API_LABEL[a.tokenApi]}`);
    for (const c of r.checks.filter((c) => c.accountId === a.id)) check(out, c, "  ", lang);
    const lock = lockText(a, lang);
    if (lock) para(lock, `  · ${t.lock} — `, "      ");
  }

  out.push("");
  para(t.result(t.verdict[r.status], r.summary));
  return `${out.join("\n")}\n`;
}

function check(out: string[], c: DiagnosisCheck, indent: string, lang: ReportLang): void {
  const head = `${indent}${MARK[c.status]} ${c.title[lang]}`;
  if (c.detail) out.push(...wrap(c.detail[lang], TEXT_WIDTH, `${head} — `, `${indent}    `));
  else out.push(head);
  if (c.fix && c.status !== "ok") out.push(...wrap(c.fix[lang], TEXT_WIDTH, `${indent}    ${WORDS[lang].fix}`, `${indent}      `));
}

function lockText(a: AccountDiagnosis, lang: ReportLang): string | null {
  if (a.readError !== undefined) return null;
  const t = WORDS[lang];
  const l = a.lock;
  if (!l) return t.free;
  if (l.stuck) return `${t.stuck(l.key)}${l.owner ? ` · ${l.owner}` : ""}`;
  return t.held(l.owner ?? t.unknownOwner, l.ageMs, l.ttlMs, String(l.gen ?? "?"));
}
