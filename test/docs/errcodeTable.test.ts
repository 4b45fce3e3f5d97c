// The errcode table in docs/wechat-api.md (section 8.3) against the table the broker acts on
// (src/wechat/errcodes.ts): every code, its class at a token endpoint and at the probe, and its first cool-down.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { listErrcodes, type BehaviourDescription } from "../../src/wechat/errcodes";

const DOC = join(__dirname, "..", "..", "docs", "wechat-api.md");

function cooldown(b: BehaviourDescription): string {
  if (b.retryAfterUntil === "quota_day_end") return "end of the quota day";
  const ms = b.retryAfterMs;
  if (ms === undefined) return "—";
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0 && ms >= 300_000) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}

/** The rows of the table under the heading "8.3", as `platform code tokenClass probeClass cooldown`. */
function docRows(markdown: string): string[] {
  const start = markdown.search(/^### 8\.3 /m);
  assert.ok(start >= 0, "docs/wechat-api.md has no section 8.3");
  const end = markdown.indexOf("\n### ", start + 1);
  return markdown
    .slice(start, end === -1 ? undefined : end)
    .split("\n")
    .filter((l) => /^\| (wechat|wecom) \|/.test(l))
    .map((l) => {
      const cells = l
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim());
      const [platform, code, , atToken, atProbe, cool] = cells;
      return [platform, code, atToken, atProbe, cool].join(" ");
    });
}

void test("the errcode table in docs/wechat-api.md lists every code of the code's table, with the same classes and cool-downs", () => {
  const fromCode = listErrcodes().map((e) =>
    [e.platform, e.code, e.atTokenEndpoint.errclass, e.atProbe.errclass, cooldown(e.atTokenEndpoint)].join(" "),
  );
  assert.ok(fromCode.length > 40, "the errcode table looks empty");
  assert.deepEqual(docRows(readFileSync(DOC, "utf8")), fromCode);
});

void test("a row that disagrees with the code is noticed", () => {
  const doc = "### 8.3 The table\n\n| Platform | errcode |\n|---|---|\n| wechat | 40164 | invalid ip | transient | config | 60 s |\n";
  const row = listErrcodes("wechat").find((e) => e.code === 40164)!;
  const fromCode = [row.platform, row.code, row.atTokenEndpoint.errclass, row.atProbe.errclass, cooldown(row.atTokenEndpoint)].join(" ");
  assert.notDeepEqual(docRows(doc), [fromCode]);
});
