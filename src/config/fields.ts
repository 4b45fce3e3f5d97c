// Zod schemas shared by the environment and the documents. Every message is fixed text: none repeats the value.
import { z } from "zod";
import { isAbsolute, dirname, join } from "node:path";
import { VARIABLES, type VariableName, type VariableSpec } from "./variables";

/** An integer variable from its string form; `why` explains a limit that is not obvious. */
export function intString(min: number, max: number, why?: string) {
  const message = `must be an integer from ${min} to ${max}${why ? `: ${why}` : ""}`;
  return z
    .string()
    .refine((s) => /^\d+$/.test(s) && Number(s) >= min && Number(s) <= max, { error: message })
    .transform(Number);
}

/** The variables that are integers: they declare a range. */
export type IntegerVariable = {
  [K in VariableName]: (typeof VARIABLES)[K] extends { range: readonly [number, number] } ? K : never;
}[VariableName];

/** An integer variable, bounded by the range documented in VARIABLES (so docs and checks agree). */
export function intVariable(name: IntegerVariable, why?: string) {
  const spec: VariableSpec = VARIABLES[name];
  const [min, max] = spec.range ?? [0, Number.MAX_SAFE_INTEGER];
  return intString(min, max, why);
}

/** A path to a file (not secret). */
export const filePath = z.string().min(1, { error: "must not be empty" });

/** AppSecret/corpsecret as written inline. Whitespace inside one is always a copy-paste accident. */
export const appSecretValue = z
  .string()
  .min(1, { error: "must not be empty" })
  .refine((s) => !/[\s\p{Cc}]/u.test(s), { error: "must not contain whitespace or control characters" });

export const MIN_API_KEY_LENGTH = 16;

/** An API key as a client will send it in an HTTP header: printable ASCII without spaces. */
export const apiKeyValue = z
  .string()
  .min(MIN_API_KEY_LENGTH, { error: `must be at least ${MIN_API_KEY_LENGTH} characters` })
  .refine((s) => /^[\x21-\x7e]+$/.test(s), { error: "must be printable ASCII without spaces (it is sent in an HTTP header)" });

/** A file path found inside a document is relative to that document's directory, like includes elsewhere. */
export function resolveBeside(documentFile: string | undefined, path: string): string {
  if (documentFile === undefined || isAbsolute(path)) return path;
  return join(dirname(documentFile), path);
}
