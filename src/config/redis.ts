// Redis: none (embedded mode), one server by URL, Sentinel, or a Redis Cluster. Nothing here echoes REDIS_URL, which may hold
// a password.
import { isIP } from "node:net";
import { z } from "zod";
import { hostProblem } from "./fields";
import type { Problems } from "./errors";
import type { Inputs } from "./inputs";
import type { RedisTarget, SentinelAddress } from "./types";

const DEFAULT_SENTINEL_PORT = 26379;
const DEFAULT_REDIS_PORT = 6379;

interface ParsedUrl {
  url: string;
  password?: string;
  tls: boolean;
}

function parseRedisUrl(raw: string, problems: Problems): ParsedUrl | undefined {
  const report = (message: string) => problems.add("REDIS_URL", message);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    report("is not a valid URL (expected redis://[user[:password]@]host[:port][/db])");
    return undefined;
  }
  if (u.password !== "") problems.secret(u.password);
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
    // Without the scheme the rest is parsed as something else; further complaints would be noise.
    report("must start with redis:// or rediss://");
    return undefined;
  }
  const faults: string[] = [];
  if (u.hostname === "") faults.push("has no host");
  if (!/^(\/\d{1,5})?\/?$/.test(u.pathname)) faults.push("path must be a database number, e.g. /0");
  if (u.search !== "" || u.hash !== "" || raw.includes("?") || raw.includes("#")) {
    faults.push("must not have a query string or fragment: use the REDIS_* variables for options");
  }
  for (const f of faults) report(f);
  if (faults.length > 0) return undefined;

  let password: string | undefined;
  if (u.password !== "") {
    try {
      password = decodeURIComponent(u.password);
      problems.secret(password);
    } catch {
      report("has a password that is not valid percent-encoding");
      return undefined;
    }
  }
  // The password lives in one field only, so there is one thing to keep out of logs; a URL without it is safe
  // to show.
  u.password = "";
  return { url: u.href.replace(/\/$/, ""), password, tls: u.protocol === "rediss:" };
}

/** `host:port,host:port`; IPv6 as `[::1]:26379`; port defaults to `defaultPort`. Host names are not secret. */
const addressList = (defaultPort: number) =>
  z.string().transform((s, ctx) => {
    const out: SentinelAddress[] = [];
    for (const item of s.split(",").map((p) => p.trim())) {
      const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(item);
      const host = m?.[1] ?? m?.[2];
      const port = m?.[3] === undefined ? defaultPort : Number(m[3]);
      if (m === null || host === undefined) {
        ctx.addIssue({ code: "custom", message: item === "" ? "has an empty entry" : `"${item}" is not host:port` });
      } else if ((m[1] !== undefined && isIP(host) !== 6) || hostProblem(host) !== undefined) {
        ctx.addIssue({ code: "custom", message: `"${item}" does not have a valid host` });
      } else if (port < 1 || port > 65535) {
        ctx.addIssue({ code: "custom", message: `"${item}" does not have a port from 1 to 65535` });
      } else out.push({ host, port });
    }
    return out;
  });

/**
 * REDIS_CLUSTER_NODES: `[redis://|rediss://]host:port,host:port`. The scheme, once, in front of the list says
 * whether to use TLS. Credentials do not belong here (REDIS_PASSWORD): an entry carrying `user:pass@` is refused
 * without echoing it.
 */
const clusterList = z.string().transform((raw, ctx) => {
  const m = /^(rediss?):\/\/(.*)$/.exec(raw.trim());
  const body = m ? (m[2] as string) : raw.trim();
  if (body.includes("@")) {
    ctx.addIssue({ code: "custom", message: "must not contain credentials: give the password in REDIS_PASSWORD or REDIS_PASSWORD_FILE" });
    return z.NEVER;
  }
  if (/[a-z]+:\/\//i.test(body)) {
    ctx.addIssue({
      code: "custom",
      message: "takes one scheme (redis:// or rediss://) in front of the whole list, e.g. rediss://h1:6379,h2:6379",
    });
    return z.NEVER;
  }
  const nodes = addressList(DEFAULT_REDIS_PORT).safeParse(body);
  if (!nodes.success) {
    for (const issue of nodes.error.issues) ctx.addIssue({ code: "custom", message: issue.message });
    return z.NEVER;
  }
  return { nodes: nodes.data, tls: m?.[1] === "rediss" };
});

const sentinelName = z.string().regex(/^[^\s]{1,128}$/, { error: "must be 1–128 characters without whitespace" });

/** Where Redis is: null for embedded mode, undefined when the variables are invalid. The timeouts are settings. */
export function loadRedis(inputs: Inputs): RedisTarget | null | undefined {
  const problems = inputs.problems;
  const before = problems.count;
  const rawUrl = inputs.getSecret("REDIS_URL")?.trim();
  const password = inputs.valueOrFile("REDIS_PASSWORD", "secret");
  const sentinels = inputs.read("REDIS_SENTINELS", addressList(DEFAULT_SENTINEL_PORT).optional());
  const cluster = inputs.read("REDIS_CLUSTER_NODES", clusterList.optional());
  const name = inputs.read("REDIS_SENTINEL_NAME", sentinelName.optional());
  const sentinelsSet = inputs.get("REDIS_SENTINELS") !== undefined;
  const nameSet = inputs.get("REDIS_SENTINEL_NAME") !== undefined;
  const passwordSet = inputs.getSecret("REDIS_PASSWORD") !== undefined || inputs.get("REDIS_PASSWORD_FILE") !== undefined;

  let parsed: ParsedUrl | undefined;
  if (rawUrl !== undefined && rawUrl !== "") {
    parsed = parseRedisUrl(rawUrl, problems);
  }
  const urlSet = rawUrl !== undefined && rawUrl !== "";
  const clusterSet = inputs.get("REDIS_CLUSTER_NODES") !== undefined;
  if (clusterSet && (urlSet || sentinelsSet || nameSet)) {
    problems.add("REDIS_CLUSTER_NODES", "is set together with REDIS_URL or REDIS_SENTINELS: use one way to reach Redis");
  } else if (urlSet && (sentinelsSet || nameSet)) {
    problems.add("REDIS_SENTINELS", "REDIS_URL and REDIS_SENTINELS/REDIS_SENTINEL_NAME are both set: use one way to reach Redis");
  } else if (sentinelsSet !== nameSet) {
    problems.add(sentinelsSet ? "REDIS_SENTINEL_NAME" : "REDIS_SENTINELS", "REDIS_SENTINELS and REDIS_SENTINEL_NAME must be set together");
  }
  // A password with nowhere to go means the operator believes the broker is clustered when it would run
  // embedded, one store per replica: the failure this service exists to end.
  if (!urlSet && !sentinelsSet && !nameSet && !clusterSet && passwordSet) {
    problems.add(
      password?.origin.startsWith("REDIS_PASSWORD_FILE") ? "REDIS_PASSWORD_FILE" : "REDIS_PASSWORD",
      "is set but Redis is not configured (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES): the broker would run embedded",
    );
  }
  if (problems.count !== before) return undefined;
  if (!urlSet && !sentinelsSet && !clusterSet) return null;

  const effectivePassword = password?.value ?? parsed?.password;
  const withPassword = effectivePassword === undefined ? {} : { password: effectivePassword };
  if (parsed !== undefined) return { url: parsed.url, ...withPassword, tls: parsed.tls };
  if (cluster !== undefined) return { clusterNodes: cluster.nodes, ...withPassword, tls: cluster.tls };
  return { sentinels: sentinels!, sentinelName: name!, ...withPassword, tls: false };
}
