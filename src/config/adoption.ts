// The settings of the zero-code adoption surface (issue 13): the proxy's path prefixes, body-keep limit and timeout,
// and the foreign-fetch probe interval.
import { z } from "zod";
import { intVariable } from "./fields";
import type { Inputs } from "./inputs";
import { parseVariables } from "./settings";
import { VARIABLES } from "./variables";

export interface AdoptionConfig {
  proxyPathPrefixes: string[];
  proxyBodyKeepBytes: number;
  proxyTimeoutMs: number;
  foreignProbeIntervalSec: number;
}

/** Paths that are never relayed: the broker answers them itself, or they carry no app token. */
const RESERVED = ["/api/", "/wecom/", "/metrics", "/__admin"];

const prefixes = z.string().transform((s, ctx) => {
  const list = s.split(",").map((p) => p.trim());
  list.forEach((p, i) => {
    if (!/^\/[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*\/$/.test(p)) {
      ctx.addIssue({ code: "custom", message: `prefix ${i + 1} must look like /cgi-bin/ (starts and ends with /, letters, digits, _ . -)` });
    } else if (RESERVED.some((r) => p.startsWith(r) || r.startsWith(p))) {
      ctx.addIssue({ code: "custom", message: `prefix ${i + 1} overlaps the broker's own paths (${RESERVED.join(", ")})` });
    }
  });
  return list;
});

const shape = {
  PROXY_PATH_PREFIXES: prefixes.default(VARIABLES.PROXY_PATH_PREFIXES.default.split(",")),
  PROXY_BODY_KEEP_BYTES: intVariable("PROXY_BODY_KEEP_BYTES").default(VARIABLES.PROXY_BODY_KEEP_BYTES.default),
  PROXY_TIMEOUT_MS: intVariable("PROXY_TIMEOUT_MS").default(VARIABLES.PROXY_TIMEOUT_MS.default),
  FOREIGN_PROBE_INTERVAL_SEC: intVariable("FOREIGN_PROBE_INTERVAL_SEC").default(VARIABLES.FOREIGN_PROBE_INTERVAL_SEC.default),
};

export const defaultAdoptionConfig: AdoptionConfig = {
  proxyPathPrefixes: VARIABLES.PROXY_PATH_PREFIXES.default.split(","),
  proxyBodyKeepBytes: VARIABLES.PROXY_BODY_KEEP_BYTES.default,
  proxyTimeoutMs: VARIABLES.PROXY_TIMEOUT_MS.default,
  foreignProbeIntervalSec: VARIABLES.FOREIGN_PROBE_INTERVAL_SEC.default,
};

/** The adoption settings, or undefined when one is invalid (the problems are in `inputs.problems`). */
export function loadAdoption(inputs: Inputs): AdoptionConfig | undefined {
  const before = inputs.problems.count;
  const v = parseVariables(shape, inputs);
  if (inputs.problems.count !== before) return undefined;
  return {
    proxyPathPrefixes: v.PROXY_PATH_PREFIXES!,
    proxyBodyKeepBytes: v.PROXY_BODY_KEEP_BYTES!,
    proxyTimeoutMs: v.PROXY_TIMEOUT_MS!,
    foreignProbeIntervalSec: v.FOREIGN_PROBE_INTERVAL_SEC!,
  };
}
