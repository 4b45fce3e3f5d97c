// The Prometheus alert rules: valid for promtool, and proven to fire (and stay quiet) by promtool's unit tests in
// ops/prometheus/alerts.test.yml. promtool comes from the apt package `prometheus`.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parse } from "yaml";

const RULES = "ops/prometheus/alerts.yml";
const UNIT = "ops/prometheus/alerts.test.yml";

function promtool(...args: string[]) {
  const r = spawnSync("promtool", args, { encoding: "utf8" });
  if (r.error) throw new Error(`promtool is not installed (apt-get install -y prometheus): ${r.error.message}`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

interface Rule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

describe("the Prometheus alert rules", () => {
  test("pass promtool check rules", () => {
    const r = promtool("check", "rules", RULES);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS: \d+ rules found/);
  });

  test("fire as the promtool unit tests expect", () => {
    const r = promtool("test", "rules", UNIT);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS/);
  });

  test("each carry a severity, a summary and a description in English and Chinese, and a runbook hint", () => {
    const doc = parse(readFileSync(RULES, "utf8")) as { groups: Array<{ rules: Rule[] }> };
    const rules = doc.groups.flatMap((g) => g.rules);
    assert.ok(rules.length >= 10);
    for (const r of rules) {
      assert.match(r.labels?.severity ?? "", /^(critical|warning)$/, r.alert);
      for (const k of ["summary", "summary_zh", "description", "description_zh", "runbook"])
        assert.ok(r.annotations?.[k], `${r.alert} lacks ${k}`);
      assert.match(r.annotations!.summary_zh!, /\p{Script=Han}/u, r.alert);
      assert.match(r.annotations!.description_zh!, /\p{Script=Han}/u, r.alert);
    }
    const ip = rules.find((r) => r.alert === "WtbWeChatIpNotWhitelisted");
    assert.match(ip?.expr ?? "", /errcode="40164"/);
    assert.match(ip?.annotations?.description_zh ?? "", /设置与开发 → 基本配置 → IP白名单/);
  });

  test("use only metrics the broker exports", () => {
    const exported = new Set([
      ...[...readFileSync("src/ops/metrics.ts", "utf8").matchAll(/name: `\$\{PREFIX\}(\w+)`/g)].map((m) => `wtb_${m[1]}`),
      ...[...readFileSync("src/ops/opsGauges.ts", "utf8").matchAll(/name: "(wtb_\w+)"/g)].map((m) => m[1]!),
      "up",
    ]);
    const doc = parse(readFileSync(RULES, "utf8")) as { groups: Array<{ rules: Rule[] }> };
    const used = new Set(
      doc.groups.flatMap((g) => g.rules).flatMap((r) => [...r.expr.matchAll(/\b(wtb_\w+|up)\b(?!\s*\()/g)].map((m) => m[1]!)),
    );
    assert.ok(used.size > 5);
    for (const m of used) assert.ok(exported.has(m), `${m} is not exported by the broker`);
  });
});
