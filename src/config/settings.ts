// The scalar settings: every variable of the table that names a Config field, read from its declaration alone
// (default, range, parse). Each is validated on its own so that one bad value does not hide another; the rules
// relating two of them run once both are valid.
import type { z } from "zod";
import { Problems } from "./errors";
import { intString } from "./fields";
import { Inputs } from "./inputs";
import type { SettingName, Settings, SettingValue } from "./types";
import { SETTING_NAMES, specOf } from "./variables";

/** How a setting is read: its `parse`, else its range; an unset one takes the declared default, read the same way. */
function schemaOf(name: SettingName): z.ZodType {
  const spec = specOf(name);
  if (spec.parse === undefined && spec.range === undefined) throw new Error(`${name}: a setting declares a range or a parse`);
  const schema = spec.parse ?? intString(spec.range![0], spec.range![1], spec.rangeReason);
  if (spec.default !== undefined) return schema.prefault(String(spec.default));
  // No default: a parse says what unset means; an integer without one is computed by a rule below.
  return spec.parse ?? schema.optional();
}

type Values = { [K in SettingName]?: SettingValue<K> };

/** The rules relating two settings; fills in the values computed from others. */
function applyRules(v: Values, inputs: Inputs): void {
  const report = (name: SettingName, message: string) => inputs.problems.add(name, message);
  if (v.UPSTREAM_TIMEOUT_MS !== undefined) {
    // The lock must outlive the upstream call it guards, plus the store write after it.
    if (v.LOCK_TTL_MS === undefined && inputs.get("LOCK_TTL_MS") === undefined) v.LOCK_TTL_MS = v.UPSTREAM_TIMEOUT_MS * 2 + 2000;
    else if (v.LOCK_TTL_MS !== undefined && v.LOCK_TTL_MS <= v.UPSTREAM_TIMEOUT_MS) {
      report("LOCK_TTL_MS", `must be greater than UPSTREAM_TIMEOUT_MS (${v.UPSTREAM_TIMEOUT_MS}): a lock must outlive the call it guards`);
    }
  }
  // Stable tokens only rotate inside the overlap: an earlier refresh-ahead would get the same token back.
  if (
    v.WECHAT_OVERLAP_SEC !== undefined &&
    v.STABLE_REFRESH_AHEAD_SEC !== undefined &&
    v.STABLE_REFRESH_AHEAD_SEC >= v.WECHAT_OVERLAP_SEC
  ) {
    report(
      "STABLE_REFRESH_AHEAD_SEC",
      `must be less than WECHAT_OVERLAP_SEC (${v.WECHAT_OVERLAP_SEC}): stable tokens only rotate in their last WECHAT_OVERLAP_SEC`,
    );
  }
  // Refresh must begin while tokens still count as valid, or callers wait for WeChat.
  const margin = v.TOKEN_SAFETY_MARGIN_SEC;
  if (margin !== undefined) {
    for (const name of ["CLASSIC_REFRESH_AHEAD_SEC", "STABLE_REFRESH_AHEAD_SEC"] as const) {
      const ahead = v[name];
      if (ahead !== undefined && ahead <= margin) {
        report(name, `must be greater than TOKEN_SAFETY_MARGIN_SEC (${margin}): refresh must start before a token is treated as expired`);
      }
    }
  }
}

/** The values placed at their fields' paths. */
function shape(v: Values): Settings {
  const out: Record<string, unknown> = {};
  for (const name of SETTING_NAMES) {
    const path = specOf(name).field!.split(".");
    let at = out;
    for (const key of path.slice(0, -1)) at = (at[key] ??= {}) as Record<string, unknown>;
    at[path[path.length - 1]!] = v[name];
  }
  return out as Settings;
}

/** The settings, or undefined when any of them is invalid (the problems are in `inputs.problems`). */
export function loadSettings(inputs: Inputs): Settings | undefined {
  const before = inputs.problems.count;
  const v: Record<string, unknown> = {};
  for (const name of SETTING_NAMES) {
    const value = inputs.read(name, schemaOf(name));
    if (value !== undefined) v[name] = value;
  }
  applyRules(v as Values, inputs);
  if (inputs.problems.count !== before) return undefined;
  const missing = SETTING_NAMES.filter((n) => v[n] === undefined);
  if (missing.length > 0) throw new Error(`no value and no rule for ${missing.join(", ")}`);
  return shape(v as Values);
}

/** The settings of an empty environment: the table's defaults, read as the loader reads them. */
export function defaultSettings(): Settings {
  const problems = new Problems();
  const settings = loadSettings(
    new Inputs(
      {},
      () => {
        throw new Error("settings read no files");
      },
      problems,
    ),
  );
  if (settings === undefined) throw new Error(`the variables table's defaults are invalid: ${JSON.stringify(problems.issues())}`);
  return settings;
}
