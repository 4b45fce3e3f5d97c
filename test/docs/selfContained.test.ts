// A clone of the repository is self-contained: nothing it holds cites notes kept outside it, and every docs/ file
// and numbered section that code, tests, scripts and documentation cite is there. The rules live in citations.ts;
// the first tests below show each rule catching what it is meant to catch, so a rule that matched nothing would fail.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  citationProblems,
  describe,
  fileRepo,
  markdownMentionProblems,
  outsideReferences,
  repoFiles,
  scannedFiles,
  sectionNumbers,
  type Repo,
} from "./citations";

// Written in pieces so that this file, which the scan reads too, contains none of the forms it tests.
const S = "§";
const SH = "sha" + "red";
const MD = ".m" + "d";

function fakeRepo(files: Record<string, string>): Repo {
  return { has: (p) => p in files, read: (p) => files[p]! };
}

const DOCS = fakeRepo({
  [`docs/api${MD}`]: "# API\n\n## 1. Conventions\n\n### 1.3 Content type\n\n```\n## 9. not a heading inside a code block\n```\n",
  [`README${MD}`]: "# Readme\n",
});

void test("numbered headings are read from the markdown, not from code blocks", () => {
  assert.deepEqual([...sectionNumbers(DOCS.read(`docs/api${MD}`))].sort(), ["1", "1.3"]);
});

void test("a mention of the notes outside the repository is reported, wherever it appears", () => {
  const text = [
    `// see ../${SH}/design${MD}`,
    `// facts: ${SH} reference/engineering${MD}`,
    `Design notes: \`${SH}/design${MD}\``,
    `// (reference/wechat-api${MD} ${S}2.4)`,
    `// plain words about a reference are fine, and so is docs/reference${MD}`,
  ].join("\n");
  const lines = outsideReferences("src/x.ts", text).map((p) => p.line);
  assert.deepEqual([...new Set(lines)].sort(), [1, 2, 3, 4]);
});

void test("a citation of a docs file that does not exist is reported, one that exists is not", () => {
  const text = `// see docs/api${MD} ${S}1.3 and docs/missing${MD}\n`;
  const problems = citationProblems("src/x.ts", text, DOCS);
  assert.equal(problems.length, 1, describe(problems));
  assert.match(problems[0]!.message, /docs\/missing\.md, which does not exist/);
});

void test("a cited section must be a numbered heading of the cited file, in lists and ranges too", () => {
  const ok = `// docs/api${MD} ${S}1, ${S}1.3; docs/api${MD} ${S}1–${S}1.3\n`;
  assert.deepEqual(citationProblems("src/x.ts", ok, DOCS), []);
  const bad = `// docs/api${MD} ${S}1.3, ${S}2.4 and ${S}7\n`;
  assert.deepEqual(
    citationProblems("src/x.ts", bad, DOCS).map((p) => p.message),
    [
      `cites docs/api${MD} ${S}2.4, but docs/api${MD} has no heading numbered 2.4`,
      `cites docs/api${MD} ${S}7, but docs/api${MD} has no heading numbered 7`,
    ],
  );
});

void test("outside docs/ a section sign without its document is reported; inside a doc it means that doc", () => {
  const bare = `// as the reference says (${S}2.6)\n`;
  assert.equal(citationProblems("src/x.ts", bare, DOCS).length, 1);
  assert.deepEqual(citationProblems(`docs/api${MD}`, `see ${S}1.3\n`, DOCS), []);
  assert.equal(citationProblems(`docs/api${MD}`, `see ${S}4\n`, DOCS).length, 1);
});

void test("in code, a quoted file name is a path piece and not a citation; the same name in a comment is checked", () => {
  const text = `const DOC = join(ROOT, "docs", "notes${MD}");\n// see notes${MD}\n`;
  assert.deepEqual(
    markdownMentionProblems("src/x.ts", text, DOCS).map((p) => p.line),
    [2],
  );
});

void test("a markdown file named anywhere must be a file of the repository, relative to the mentioning file or the root", () => {
  const text = `[api](api${MD}) [readme](../README${MD}) docs/api${MD} README${MD} https://example.com/docs/elsewhere${MD} design${MD} ../../outside${MD}\n`;
  const problems = markdownMentionProblems(`docs/guide${MD}`, text, DOCS);
  assert.deepEqual(
    problems.map((p) => p.message),
    [`mentions design${MD}, which is not a file of the repository`, `mentions ../../outside${MD}, which is not a file of the repository`],
  );
});

const FILES = repoFiles();
const REPO = fileRepo(FILES);
const SCANNED = scannedFiles(FILES);

void test("the scan covers the code, the tests and the documentation", () => {
  const names = new Set(SCANNED.map((f) => f.file));
  for (const f of [
    `README${MD}`,
    `docs/design${MD}`,
    `docs/wechat-api${MD}`,
    "src/broker/tokenService.ts",
    "test/docs/selfContained.test.ts",
    "bench/run.ts",
    "scripts/run-tests.mjs",
  ]) {
    assert.ok(names.has(f), `${f} is not scanned`);
  }
});

void test("no file of the repository cites notes kept outside it", () => {
  const problems = SCANNED.flatMap(({ file, text }) => outsideReferences(file, text));
  assert.deepEqual(problems, [], describe(problems));
});

void test("every docs file and numbered section that the repository cites exists", () => {
  const problems = SCANNED.flatMap(({ file, text }) => citationProblems(file, text, REPO));
  assert.deepEqual(problems, [], describe(problems));
});

void test("every markdown file the repository names is in it", () => {
  const problems = SCANNED.flatMap(({ file, text }) => markdownMentionProblems(file, text, REPO));
  assert.deepEqual(problems, [], describe(problems));
});
