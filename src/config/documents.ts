// Parsing the accounts and API-keys documents. Parser messages are passed on only when they quote nothing of the
// document: newer V8 JSON errors quote the input around the fault and pretty YAML errors print the offending line,
// and that text may be an AppSecret. The YAML parser's own reason is kept (it tells a sequence item without `-`
// from a missing quote), with a position computed from its offset.
import { parseDocument as parseYamlDocument } from "yaml";
import { extname } from "node:path";

export type DocumentFormat = "json" | "yaml";

export type ParsedDocument = { ok: true; value: unknown } | { ok: false; problems: string[] };

/** `.json` is read as JSON (its errors are clearer); anything else as YAML, which also accepts JSON. */
export function formatOfPath(path: string): DocumentFormat {
  return extname(path).toLowerCase() === ".json" ? "json" : "yaml";
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `line ${line}, column ${column}`;
}

function parseJson(text: string): ParsedDocument {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    const position = /position (\d+)/.exec(err instanceof Error ? err.message : "")?.[1];
    // Older V8 gives an offset; newer V8 quotes the text instead, which is dropped, so then only a hint remains.
    const at = position === undefined ? " (check quotes, commas and brackets)" : ` (${lineAndColumn(text, Number(position))})`;
    return { ok: false, problems: [`is not valid JSON${at}`] };
  }
}

// Enough to locate the faults; the rest usually follow from the first.
const MAX_YAML_PROBLEMS = 5;

// Used when the parser's message cannot be shown (it would quote the document).
const YAML_FAULTS: Record<string, string> = {
  MISSING_CHAR: "a closing quote or bracket, or a sequence item's -, is missing",
  DUPLICATE_KEY: "a key appears twice in one mapping",
  BAD_INDENT: "bad indentation",
  TAB_AS_INDENT: "tabs cannot be used to indent",
  MULTILINE_IMPLICIT_KEY: "a key spans several lines",
  BLOCK_AS_IMPLICIT_KEY: "a nested block is used as a key",
};

function parseYaml(text: string): ParsedDocument {
  // prettyErrors off: the pretty form prints the offending line. Positions are computed from the offset instead.
  // The failsafe schema reads every scalar as text: these documents hold only strings, and YAML's implicit
  // typing would turn an unquoted hash or secret of digits (`000…`, `123e45…`) into a lossy number.
  const doc = parseYamlDocument(text, { prettyErrors: false, uniqueKeys: true, schema: "failsafe" });
  if (doc.errors.length > 0) {
    const problems = doc.errors.slice(0, MAX_YAML_PROBLEMS).map((e) => {
      const own = parserReason(e.message, text);
      const kind = own ?? YAML_FAULTS[e.code] ?? e.code.toLowerCase().replace(/_/g, " ");
      return `is not valid YAML: ${kind} at ${lineAndColumn(text, e.pos[0])}`;
    });
    return { ok: false, problems };
  }
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: 100 }) as unknown };
  } catch {
    // toJS throws on alias bombs and the like; its message may quote the document.
    return { ok: false, problems: ["is not valid YAML: cannot be converted to data"] };
  }
}

/** The parser's message (prettyErrors off: no source line), unless any 6 characters of it occur in the document,
 * in which case it may be quoting it. */
function parserReason(message: string, text: string): string | undefined {
  const m = message.trim().replace(/\.$/, "");
  if (m === "" || m.length > 120) return undefined;
  for (let i = 0; i + 6 <= m.length; i++) if (text.includes(m.slice(i, i + 6))) return undefined;
  return m.charAt(0).toLowerCase() + m.slice(1);
}

export function parseDocument(text: string, format: DocumentFormat): ParsedDocument {
  return format === "json" ? parseJson(text) : parseYaml(text);
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A list read from `ACCOUNTS`/`API_KEYS` (inline JSON) or their `_FILE` (JSON or YAML). */
export interface ListDocument {
  items: unknown[];
  /** Path of the list inside the document: `[]` for a bare list, `["accounts"]` for `{ accounts: [...] }`. */
  basePath: PropertyKey[];
}

/**
 * Parses a document that must be a list, or (when `wrapperKey` is given) a mapping with only that key holding
 * the list. Problems are reported at `origin`; returns undefined when there is no usable list.
 */
export function readListDocument(
  text: string,
  format: DocumentFormat,
  origin: string,
  report: (source: string, message: string) => void,
  wrapperKey?: string,
): ListDocument | undefined {
  const parsed = parseDocument(text, format);
  if (!parsed.ok) {
    for (const p of parsed.problems) report(origin, p);
    return undefined;
  }
  const value = parsed.value;
  const expected = wrapperKey ? `a list, or a mapping with an "${wrapperKey}" list` : "a list";
  if (Array.isArray(value)) return { items: value, basePath: [] };
  if (wrapperKey && isMapping(value) && wrapperKey in value) {
    const others = Object.keys(value).filter((k) => k !== wrapperKey);
    if (others.length > 0)
      report(origin, `unknown top-level key${others.length === 1 ? "" : "s"} next to "${wrapperKey}": only "${wrapperKey}" is allowed`);
    const list = value[wrapperKey];
    // `accounts:` with nothing after it: null in JSON terms, "" under the failsafe YAML schema.
    if (list === null || list === undefined || list === "") return { items: [], basePath: [wrapperKey] };
    if (!Array.isArray(list)) {
      report(`${origin}: ${wrapperKey}`, "must be a list");
      return undefined;
    }
    return others.length > 0 ? undefined : { items: list, basePath: [wrapperKey] };
  }
  report(origin, value === null ? `is empty: write [] for none` : `must be ${expected}`);
  return undefined;
}
