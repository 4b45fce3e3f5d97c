// Zod's messages turned into an operator's: "required", "must be one of a, b". Messages are built from the
// schema only, never from the input, because the input may be a secret.
import { z } from "zod";
import { sourceAt, type Problems } from "./errors";

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  array: "a list",
  object: "a mapping",
};

/** The kind of a value, for "must be a string, not a list"; says nothing about the value itself. */
export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return TYPE_NAMES[typeof value] ?? typeof value;
}

/** Lower-case-insensitive match against the keys a mapping accepts, for "did you mean". */
function suggestion(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase().replace(/[_-]/g, "");
  return known.find((name) => name.toLowerCase() === k);
}

// A key that does not look like a word may be a value pasted in the wrong place (a secret followed by ':'): it
// is counted, not quoted. Words are letters with at most a few trailing digits, like every real key.
const PRINTABLE_KEY = /^[A-Za-z][A-Za-z_-]{0,39}[0-9]{0,3}$/;

function describeUnknownKeys(keys: readonly string[], known: readonly string[]): string {
  const named = keys.filter((k) => PRINTABLE_KEY.test(k));
  const unnamed = keys.length - named.length;
  const parts = named.map((k) => {
    const s = suggestion(k, known);
    return s ? `"${k}" (did you mean "${s}"?)` : `"${k}"`;
  });
  if (unnamed > 0) parts.push(`${unnamed} key${unnamed === 1 ? "" : "s"} that ${unnamed === 1 ? "is" : "are"} not a valid name`);
  const allowed = known.length > 0 ? `; allowed: ${known.join(", ")}` : "";
  return `unknown key${keys.length === 1 ? "" : "s"} ${parts.join(", ")}${allowed}`;
}

function knownKeysOf(inst: unknown): string[] {
  const shape = (inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
  return shape ? Object.keys(shape) : [];
}

/** Per-parse error map: applies wherever a schema does not carry its own message. */
export const errorMap: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case "invalid_type":
      if (iss.input === undefined) return "required";
      return `must be ${TYPE_NAMES[iss.expected] ?? iss.expected}, not ${kindOf(iss.input)}`;
    case "invalid_value":
      return `must be one of ${iss.values.map(String).join(", ")}`;
    case "too_small":
      if (iss.origin === "string") return `must be at least ${String(iss.minimum)} characters`;
      if (iss.origin === "array") return `must have at least ${String(iss.minimum)} entr${iss.minimum === 1 ? "y" : "ies"}`;
      return `must be at least ${String(iss.minimum)}`;
    case "too_big":
      if (iss.origin === "string") return `must be at most ${String(iss.maximum)} characters`;
      if (iss.origin === "array") return `must have at most ${String(iss.maximum)} entries`;
      return `must be at most ${String(iss.maximum)}`;
    case "unrecognized_keys":
      return describeUnknownKeys(iss.keys, knownKeysOf(iss.inst));
    case "invalid_format":
      return "has an invalid format";
    default:
      return "is invalid";
  }
};

/**
 * Validates `input` against `schema`, reporting every issue at `origin` + the issue's path (prefixed by
 * `basePath`). Returns the parsed value, or undefined when there were issues.
 */
export function validate<T extends z.ZodType>(
  schema: T,
  input: unknown,
  problems: Problems,
  origin: string,
  basePath: readonly PropertyKey[] = [],
): z.output<T> | undefined {
  const result = schema.safeParse(input, { error: errorMap });
  if (result.success) return result.data;
  for (const issue of result.error.issues) problems.add(sourceAt(origin, [...basePath, ...issue.path]), issue.message);
  return undefined;
}
