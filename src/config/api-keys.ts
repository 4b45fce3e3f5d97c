// The API-keys document: `API_KEYS` (inline JSON) or `API_KEYS_FILE` (JSON/YAML), a list of keys. Only the
// SHA-256 of a key is kept, so a heap dump or a serialised config never holds a usable key.
import { createHash } from "node:crypto";
import { z } from "zod";
import { formatOfPath, isMapping, readListDocument } from "./documents";
import { formatPath, sourceAt } from "./errors";
import { apiKeyValue, filePath, resolveBeside } from "./fields";
import type { Inputs } from "./inputs";
import { API_KEY_SCOPES, type ApiKey } from "./types";
import { validate } from "./zod-issues";

export const API_KEY_ROLES = ["client", "admin"] as const;

const KEY_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

const entrySchema = z.strictObject({
  name: z.string().regex(KEY_NAME_PATTERN, { error: "must be 1–64 letters, digits, _, - or ." }),
  key: apiKeyValue.optional(),
  keyFile: filePath.optional(),
  keySha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, { error: "must be 64 hexadecimal characters (the SHA-256 of the key)" })
    .optional(),
  role: z.enum(API_KEY_ROLES).optional(),
  accounts: z
    .array(z.string())
    .min(1, { error: 'must list account ids, or ["*"] for every account' })
    .refine((ids) => !ids.includes("*") || ids.length === 1, { error: '"*" means every account: it must be alone' })
    .optional(),
  scopes: z
    .array(z.enum(API_KEY_SCOPES))
    .min(1, { error: 'must list what the key may read: "token", "ticket" and/or "sign" (leave it out for all three)' })
    .optional(),
});
type Entry = z.output<typeof entrySchema>;

const KEY_FIELDS = ["key", "keyFile", "keySha256"] as const;

export function sha256(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

export interface LoadedApiKeys {
  keys: ApiKey[];
  /** Whether API_KEYS or API_KEYS_FILE was given, valid or not: the HOST rule depends on the intent. */
  configured: boolean;
}

/** `knownIds`: account ids keys may name; null when the accounts could not be read (references unchecked). */
export function loadApiKeys(inputs: Inputs, knownIds: ReadonlySet<string> | null): LoadedApiKeys {
  const problems = inputs.problems;
  const configured = inputs.get("API_KEYS") !== undefined || inputs.get("API_KEYS_FILE") !== undefined;
  const src = inputs.valueOrFile("API_KEYS", "document");
  if (src === undefined) return { keys: [], configured };

  const format = src.file === undefined ? "json" : formatOfPath(src.file);
  const doc = readListDocument(src.value, format, src.origin, (s, m) => problems.add(s, m));
  if (doc === undefined) return { keys: [], configured };

  const keys: ApiKey[] = [];
  const nameUse = new Map<string, string>();
  const hashUse = new Map<string, string>();

  doc.items.forEach((raw, index) => {
    const path = [...doc.basePath, index];
    const at = (...key: PropertyKey[]) => sourceAt(src.origin, [...path, ...key]);
    if (!isMapping(raw)) {
      problems.add(at(), "must be a mapping with name and key, keyFile or keySha256");
      return;
    }
    if (typeof raw.key === "string") problems.secret(raw.key);

    const before = problems.count;
    const entry = validate(entrySchema, raw, problems, src.origin, path);
    const given = KEY_FIELDS.filter((k) => raw[k] !== undefined);
    if (given.length === 0) problems.add(at("key"), "required: set key, keyFile or keySha256");
    if (given.length > 1) problems.add(at(given[1]!), `set only one of ${given.join(", ")}`);

    if (typeof raw.name === "string" && KEY_NAME_PATTERN.test(raw.name)) {
      const first = nameUse.get(raw.name);
      if (first !== undefined) problems.add(at("name"), `duplicate name "${raw.name}": also used by ${first}`);
      else nameUse.set(raw.name, formatPath(path));
    }
    const accounts = Array.isArray(raw.accounts) ? raw.accounts : [];
    accounts.forEach((id, j) => {
      if (typeof id === "string" && id !== "*" && knownIds !== null && !knownIds.has(id)) {
        problems.add(at("accounts", j), `no account has id "${id}"`);
      }
    });
    if (entry === undefined || problems.count !== before) return;

    const keySha256 = hashOf(entry, inputs, src.file, at);
    if (keySha256 === undefined) return;
    const hex = keySha256.toString("hex");
    const sameKey = hashUse.get(hex);
    if (sameKey !== undefined) {
      problems.add(at(given[0]!), `is the same key as ${sameKey}: give each client its own key`);
      return;
    }
    hashUse.set(hex, `${formatPath(path)} ("${entry.name}")`);
    const list = entry.accounts ?? ["*"];
    keys.push({
      name: entry.name,
      keySha256,
      role: entry.role ?? "client",
      accounts: list[0] === "*" ? "*" : [...new Set(list)],
      // Absent: all three, so keys written before scopes existed keep working.
      ...(entry.scopes !== undefined && entry.scopes.length < API_KEY_SCOPES.length ? { scopes: [...new Set(entry.scopes)] } : {}),
    });
  });
  if (doc.items.length === 0) problems.warn(`${src.origin}: the list is empty, so authentication is off`);
  return { keys, configured };
}

function hashOf(entry: Entry, inputs: Inputs, documentFile: string | undefined, at: (...key: PropertyKey[]) => string): Buffer | undefined {
  if (entry.keySha256 !== undefined) return Buffer.from(entry.keySha256, "hex");
  if (entry.key !== undefined) return sha256(entry.key);
  const path = resolveBeside(documentFile, entry.keyFile!);
  const key = inputs.readSecret(at("keyFile"), path);
  if (key === undefined) return undefined;
  const check = apiKeyValue.safeParse(key);
  if (!check.success) {
    inputs.problems.add(at("keyFile"), `the key in ${path} ${check.error.issues[0]?.message ?? "is invalid"}`);
    return undefined;
  }
  return sha256(key);
}
