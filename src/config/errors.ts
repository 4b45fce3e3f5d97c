// Config problems are collected, never thrown one by one: an operator fixing a deployment should see every
// mistake in one start-up attempt, each line naming the variable or file key to edit.

export interface ConfigIssue {
  /** Where the problem is: an environment variable, or `VAR /path/to/file: key.path` for a file's key. */
  source: string;
  /** What is wrong. Never contains a secret value. */
  message: string;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    super(formatReport(issues));
    this.issues = issues;
  }
}

export function formatIssue(issue: ConfigIssue): string {
  return `${issue.source}: ${issue.message}`;
}

function formatReport(issues: readonly ConfigIssue[]): string {
  const n = issues.length;
  return [`invalid configuration (${n} problem${n === 1 ? "" : "s"}):`, ...issues.map((i) => `  - ${formatIssue(i)}`)].join("\n");
}

/** `accounts[1].appId`, `[0].keyFile`, `["odd key"]`: a path into a JSON/YAML document, as an operator reads it. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else {
      const s = String(part);
      out += /^[A-Za-z_$][\w$]*$/.test(s) ? `${out ? "." : ""}${s}` : `[${JSON.stringify(s)}]`;
    }
  }
  return out;
}

/** `origin` alone, or `origin: path` when the problem is inside a document. */
export function sourceAt(origin: string, path: readonly PropertyKey[]): string {
  const p = formatPath(path);
  return p ? `${origin}: ${p}` : origin;
}

// Secrets shorter than this are not scrubbed: replacing a 3-letter string everywhere would garble messages,
// and the first line of defence (messages are built without values) still holds for them.
const MIN_SCRUB_LENGTH = 6;

/**
 * Collects issues and warnings. Every secret the loader handles is registered here, and anything reported is
 * scrubbed of them before it leaves: a second line of defence behind building messages without values.
 */
export class Problems {
  private readonly list: ConfigIssue[] = [];
  private readonly warningList: string[] = [];
  private readonly secrets = new Set<string>();

  add(source: string, message: string): void {
    this.list.push({ source, message });
  }

  warn(message: string): void {
    this.warningList.push(message);
  }

  secret(value: string): void {
    if (value.length >= MIN_SCRUB_LENGTH) this.secrets.add(value);
  }

  get count(): number {
    return this.list.length;
  }

  /** Issues in a stable order (by the rank `order` gives their source), scrubbed of secrets. */
  issues(order: (source: string) => number = () => 0): ConfigIssue[] {
    return this.list
      .map((issue, index) => ({ issue, index, rank: order(issue.source) }))
      .sort((a, b) => a.rank - b.rank || a.index - b.index)
      .map(({ issue }) => ({ source: this.scrub(issue.source), message: this.scrub(issue.message) }));
  }

  warnings(): string[] {
    return this.warningList.map((w) => this.scrub(w));
  }

  private scrub(text: string): string {
    let out = text;
    // Longest first, so a secret that contains another is replaced whole.
    for (const s of [...this.secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join("[REDACTED]");
    return out;
  }
}
