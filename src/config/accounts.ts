// The accounts document: `ACCOUNTS` (inline JSON) or `ACCOUNTS_FILE` (JSON/YAML), a list or `{ accounts: [...] }`.
import { z } from "zod";
import { ACCOUNT_ID_PATTERN, type Account, type AccountType, type TokenApi } from "../accounts";
import { formatOfPath, isMapping, readListDocument } from "./documents";
import { formatPath, sourceAt } from "./errors";
import { appSecretValue, filePath, resolveBeside } from "./fields";
import type { Inputs } from "./inputs";
import { validate } from "./zod-issues";

export const ACCOUNT_TYPES = ["official", "miniprogram", "wecom"] as const satisfies readonly AccountType[];
export const TOKEN_APIS = ["stable", "classic"] as const satisfies readonly TokenApi[];

const NAME_RULE = "must be 1–64 letters, digits, _ or -";
const appIdValue = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { error: NAME_RULE });

// Every key optional except id: which of the alias keys must be present depends on the type and on each other,
// and those rules are checked separately so that all of an entry's problems are reported together.
const entrySchema = z.strictObject({
  id: z.string().regex(ACCOUNT_ID_PATTERN, { error: NAME_RULE }),
  type: z.enum(ACCOUNT_TYPES).optional(),
  appId: appIdValue.optional(),
  appSecret: appSecretValue.optional(),
  appSecretFile: filePath.optional(),
  corpId: appIdValue.optional(),
  corpSecret: appSecretValue.optional(),
  corpSecretFile: filePath.optional(),
  tokenApi: z.enum(TOKEN_APIS).optional(),
});
type Entry = z.output<typeof entrySchema>;

const ID_KEYS = ["appId", "corpId"] as const;
const SECRET_KEYS = ["appSecret", "appSecretFile", "corpSecret", "corpSecretFile"] as const;
const CORP_ALIAS: Record<string, string> = { corpId: "appId", corpSecret: "appSecret", corpSecretFile: "appSecretFile" };

export interface LoadedAccounts {
  accounts: Account[];
  /** Ids of every entry whose id is well-formed, even if the entry has other problems; null when the document
   * could not be read (then references to account ids cannot be checked). */
  knownIds: Set<string> | null;
  /** Whether ACCOUNTS or ACCOUNTS_FILE was given. */
  configured: boolean;
}

export function loadAccounts(inputs: Inputs): LoadedAccounts {
  const problems = inputs.problems;
  const src = inputs.valueOrFile("ACCOUNTS", "document");
  const configured = src !== undefined || inputs.get("ACCOUNTS") !== undefined || inputs.get("ACCOUNTS_FILE") !== undefined;
  if (src === undefined) return { accounts: [], knownIds: configured ? null : new Set(), configured };

  const format = src.file === undefined ? "json" : formatOfPath(src.file);
  const doc = readListDocument(src.value, format, src.origin, (s, m) => problems.add(s, m), "accounts");
  if (doc === undefined) return { accounts: [], knownIds: null, configured };

  const accounts: Account[] = [];
  const knownIds = new Set<string>();
  const firstUse = new Map<string, string>();

  doc.items.forEach((raw, index) => {
    const path = [...doc.basePath, index];
    const at = (...key: PropertyKey[]) => sourceAt(src.origin, [...path, ...key]);
    if (!isMapping(raw)) {
      problems.add(at(), "must be a mapping with id, appId and appSecret or appSecretFile");
      return;
    }
    // Registered before validation so that even a secret that fails a rule is scrubbed from any report.
    for (const k of ["appSecret", "corpSecret"]) if (typeof raw[k] === "string") problems.secret(raw[k]);

    const before = problems.count;
    const entry = validate(entrySchema, raw, problems, src.origin, path);
    checkPresence(raw, at, (s, m) => problems.add(s, m));

    const id = typeof raw.id === "string" && ACCOUNT_ID_PATTERN.test(raw.id) ? raw.id : undefined;
    if (id !== undefined) {
      const first = firstUse.get(id);
      if (first !== undefined) problems.add(at("id"), `duplicate id "${id}": also used by ${first}`);
      else firstUse.set(id, formatPath(path));
      knownIds.add(id);
    }
    if (entry?.type === "wecom" && entry.tokenApi !== undefined) {
      problems.warn(`${at("tokenApi")}: ignored for wecom accounts (WeCom has a single token API)`);
    }
    if (entry === undefined || problems.count !== before) return;

    const account = buildAccount(entry, inputs, src.file, at);
    if (account) accounts.push(account);
  });
  return { accounts, knownIds, configured };
}

/** Which of the alias keys are allowed and required, by type. */
function checkPresence(
  raw: Record<string, unknown>,
  at: (...key: PropertyKey[]) => string,
  report: (source: string, message: string) => void,
): void {
  const has = (k: string) => raw[k] !== undefined;
  const declared = raw.type ?? "official";
  // An invalid type is reported by the schema; the alias rules are then checked as leniently as for wecom.
  const isWecom = declared === "wecom" || !(ACCOUNT_TYPES as readonly unknown[]).includes(declared);

  if (!isWecom) {
    for (const k of Object.keys(CORP_ALIAS)) {
      if (has(k)) report(at(k), `is only for wecom accounts: use ${CORP_ALIAS[k]}`);
    }
  }
  const ids = ID_KEYS.filter(has);
  if (ids.length === 0) report(at("appId"), isWecom ? "required (or corpId)" : "required");
  if (ids.length > 1) report(at("corpId"), "appId and corpId are the same setting: set only one");

  const secrets = SECRET_KEYS.filter(has);
  if (secrets.length === 0) {
    report(at("appSecret"), `required: set appSecret or appSecretFile${isWecom ? " (or corpSecret / corpSecretFile)" : ""}`);
  }
  if (secrets.length > 1) report(at(secrets[1]!), `set only one of ${secrets.join(", ")}`);
}

function buildAccount(
  entry: Entry,
  inputs: Inputs,
  documentFile: string | undefined,
  at: (...key: PropertyKey[]) => string,
): Account | undefined {
  const type = entry.type ?? "official";
  const appId = (entry.appId ?? entry.corpId)!;
  let appSecret = entry.appSecret ?? entry.corpSecret;
  if (appSecret === undefined) {
    const key = entry.appSecretFile !== undefined ? "appSecretFile" : "corpSecretFile";
    const path = resolveBeside(documentFile, (entry.appSecretFile ?? entry.corpSecretFile)!);
    appSecret = inputs.readSecret(at(key), path);
    if (appSecret === undefined) return undefined;
    const check = appSecretValue.safeParse(appSecret);
    if (!check.success) {
      inputs.problems.add(at(key), `the secret in ${path} ${check.error.issues[0]?.message ?? "is invalid"}`);
      return undefined;
    }
  }
  // WeCom has one token API; the field is ignored there and set to the default so the shape stays uniform.
  const tokenApi = type === "wecom" ? "stable" : (entry.tokenApi ?? "stable");
  return { id: entry.id, type, appId, appSecret, tokenApi };
}
