// What the self-containment tests check, as pure functions over (path, text) so their own tests can show each rule
// failing. A clone must be self-contained: code, README and docs cite only what is in the repository, and every
// `docs/<file>.md §N` a comment cites names an existing file and an existing numbered heading in it.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, posix } from "node:path";

export const ROOT = join(__dirname, "..", "..");

/** What is scanned: the code, its tests, benchmarks, scripts, documentation and the files operators deploy. */
export const SCANNED = [
  "src/",
  "bench/",
  "scripts/",
  "test/",
  "docs/",
  "ops/",
  "examples/",
  "README.md",
  "openapi.yaml",
  "Dockerfile",
  "docker-compose.yml",
];

export interface Problem {
  file: string;
  line: number;
  message: string;
}

// Built from pieces so that this file, which the scan also reads, does not contain the forms it looks for.
const UP = "\\.\\.";
const SHARED = "sha" + "red";
/** References to notes kept outside the repository (the team's shared folder beside a checkout). */
const OUTSIDE: ReadonlyArray<{ re: RegExp; what: string }> = [
  { re: new RegExp(`${UP}/${SHARED}\\b`), what: `a path into ../${SHARED}` },
  { re: new RegExp(`\\b${SHARED}[/ ](?:design|reference)\\b`, "i"), what: `the ${SHARED} design notes or reference` },
  { re: new RegExp(`(?<![\\w./-])reference/[\\w.-]+\\.md\\b`), what: "a reference/ document" },
];

/** `docs/<file>.md` optionally followed by sections: one, a list (commas, and, or), or a range with an en dash. */
const CITATION = /(?<![\w./-])docs\/([\w.-]+\.md)((?:(?:\s*(?:,|and|or|&)\s*|\s+)?§\s?\d+(?:\.\d+)*(?:\s*[–-]\s*§?\s?\d+(?:\.\d+)*)?)*)/g;
const SECTION_NUMBER = /§\s?(\d+(?:\.\d+)*)/g;
/** Any file name ending in .md that is not part of a URL or a longer path token. */
const MD_MENTION = /(?<![\w./:-])((?:\.{1,2}\/)*(?:[\w-][\w.-]*\/)*[\w-][\w.-]*\.md)(?![\w-])/g;
const HEADING_NUMBER = /^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s/;

function lineOf(text: string, index: number): number {
  let n = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** The numbered headings of a markdown text: a heading "7. IP whitelist" gives "7", "8.3 The table" gives "8.3". */
export function sectionNumbers(markdown: string): Set<string> {
  const out = new Set<string>();
  let fence = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fence = !fence;
    const m = fence ? null : HEADING_NUMBER.exec(line);
    if (m?.[1]) out.add(m[1]);
  }
  return out;
}

/** Mentions of documents outside the repository. */
export function outsideReferences(file: string, text: string): Problem[] {
  const problems: Problem[] = [];
  for (const { re, what } of OUTSIDE) {
    const g = new RegExp(re.source, re.flags.includes("g") ? re.flags : `${re.flags}g`);
    for (const m of text.matchAll(g)) {
      problems.push({
        file,
        line: lineOf(text, m.index),
        message: `cites ${what} (${JSON.stringify(m[0])}), which is not in the repository`,
      });
    }
  }
  return problems;
}

export interface Repo {
  /** Whether a repository-relative path is a file of the repository. */
  has(path: string): boolean;
  /** The text of a repository file. */
  read(path: string): string;
}

/**
 * Citations of docs/<file>.md: the file must exist (or be pending and absent), and every § it names must be a
 * numbered heading in it. Outside docs/, a § that belongs to no `docs/<file>.md` citation is a problem (which
 * document?); inside a file under docs/ a bare § means a section of that file itself.
 */
export function citationProblems(file: string, text: string, repo: Repo): Problem[] {
  const problems: Problem[] = [];
  const sections = new Map<string, Set<string> | null>();
  const sectionsOf = (doc: string): Set<string> | null => {
    if (!sections.has(doc)) sections.set(doc, repo.has(doc) ? sectionNumbers(repo.read(doc)) : null);
    return sections.get(doc)!;
  };
  const check = (doc: string, numbers: string[], index: number) => {
    const have = sectionsOf(doc);
    if (have === null) {
      problems.push({ file, line: lineOf(text, index), message: `cites ${doc}, which does not exist` });
      return;
    }
    for (const n of numbers) {
      if (!have.has(n))
        problems.push({ file, line: lineOf(text, index), message: `cites ${doc} §${n}, but ${doc} has no heading numbered ${n}` });
    }
  };

  // Blank out each citation once checked, so what is left shows the § signs that belong to no citation.
  let rest = text;
  for (const m of text.matchAll(CITATION)) {
    const doc = `docs/${m[1]}`;
    check(
      doc,
      [...(m[2] ?? "").matchAll(SECTION_NUMBER)].map((s) => s[1]!),
      m.index,
    );
    rest = rest.slice(0, m.index) + " ".repeat(m[0].length) + rest.slice(m.index + m[0].length);
  }
  const ownDoc = file.startsWith("docs/") && file.endsWith(".md") ? file : undefined;
  for (const m of rest.matchAll(SECTION_NUMBER)) {
    if (ownDoc) check(ownDoc, [m[1]!], m.index);
    else problems.push({ file, line: lineOf(text, m.index), message: `§${m[1]} names no document: cite it as docs/<file>.md §${m[1]}` });
  }
  return problems;
}

/**
 * Every `*.md` a file mentions must be a file of the repository, relative to the mentioning file or to the root.
 * In code, a name that is a whole string literal in single or double quotes is a path piece joined at run time
 * (`join(ROOT, "docs", "<name>")`), not a citation, and is left to the code's own tests.
 */
export function markdownMentionProblems(file: string, text: string, repo: Repo): Problem[] {
  const problems: Problem[] = [];
  const dir = posix.dirname(file);
  const code = !file.endsWith(".md");
  for (const m of text.matchAll(MD_MENTION)) {
    const name = m[1]!;
    const before = text[m.index - 1];
    if (code && (before === '"' || before === "'") && text[m.index + name.length] === before) continue;
    const candidates = [posix.normalize(posix.join(dir, name)), posix.normalize(name)];
    const inside = candidates.filter((c) => !c.startsWith("../"));
    if (inside.some((c) => repo.has(c))) continue;
    problems.push({ file, line: lineOf(text, m.index), message: `mentions ${name}, which is not a file of the repository` });
  }
  return problems;
}

/** The repository's files: tracked plus new ones not ignored (so a fresh file is checked before its commit). */
export function repoFiles(): string[] {
  try {
    const out = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
      cwd: ROOT,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    return out.split("\0").filter((f) => f !== "" && existsSync(join(ROOT, f)));
  } catch {
    // Not a git checkout (an unpacked archive): every file except dependencies and build output.
    const walk = (rel: string): string[] =>
      readdirSync(join(ROOT, rel)).flatMap((name) => {
        if (["node_modules", ".git", "dist", "results"].includes(name)) return [];
        const p = rel === "" ? name : `${rel}/${name}`;
        return statSync(join(ROOT, p)).isDirectory() ? walk(p) : [p];
      });
    return walk("");
  }
}

export function fileRepo(files: readonly string[]): Repo {
  const set = new Set(files);
  return { has: (p) => set.has(p), read: (p) => readFileSync(join(ROOT, p), "utf8") };
}

/** The scanned text files: under SCANNED, not binary, not huge. */
export function scannedFiles(files: readonly string[]): Array<{ file: string; text: string }> {
  return files
    .filter((f) => SCANNED.some((s) => (s.endsWith("/") ? f.startsWith(s) : f === s)))
    .map((file) => ({ file, buf: readFileSync(join(ROOT, file)) }))
    .filter(({ buf }) => buf.length < 2 * 1024 * 1024 && !buf.includes(0))
    .map(({ file, buf }) => ({ file, text: buf.toString("utf8") }));
}

export function describe(problems: readonly Problem[]): string {
  return problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join("\n");
}
