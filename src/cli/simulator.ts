// `wechat-token-broker simulator`: runs the local WeChat API simulator until SIGINT/SIGTERM.
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import { parse as parseYaml } from "yaml";
import { startSimulator } from "../simulator/server";
import { SimAdminError, parseAppConfig } from "../simulator/adminInput";
import type { RunningSimulator, SimAppConfig } from "../simulator/types";

/** The apps `--demo` seeds: one that works, one whose egress IP is not whitelisted (the 40164 story). */
export const DEMO_APPS: readonly SimAppConfig[] = [
  { appId: "wx_demo_healthy", secret: "demo-secret-healthy" },
  {
    appId: "wx_demo_whitelist",
    secret: "demo-secret-whitelist",
    callerIp: "1.92.157.200",
    ipWhitelist: ["203.0.113.10"],
  },
];

export interface SimulatorCliOptions {
  port: number;
  host: string;
  apps?: string;
  demo?: boolean;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError("must be a port number from 0 to 65535.");
  return n;
}

/**
 * Reads a JSON or YAML list of SimAppConfig (a top-level `apps:` key is accepted too).
 * Every problem is reported at once, each naming the entry and field.
 */
export function loadAppsFile(file: string): SimAppConfig[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`--apps ${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let doc: unknown;
  try {
    doc = extname(file).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    const format = extname(file).toLowerCase() === ".json" ? "JSON" : "YAML";
    throw new Error(`--apps ${file}: not valid ${format}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const list = doc !== null && typeof doc === "object" && !Array.isArray(doc) && "apps" in doc ? (doc as { apps: unknown }).apps : doc;
  if (!Array.isArray(list)) throw new Error(`--apps ${file}: expected a list of apps (each with appId and secret)`);
  const problems: string[] = [];
  const apps: SimAppConfig[] = [];
  const seen = new Set<string>();
  list.forEach((entry: unknown, i) => {
    // Duplicates are checked on the raw appId so they are reported even next to other problems of an entry.
    const rawId = (entry as { appId?: unknown } | null)?.appId;
    if (typeof rawId === "string") {
      if (seen.has(rawId)) problems.push(`apps[${i}].appId: ${JSON.stringify(rawId)} appears more than once`);
      seen.add(rawId);
    }
    try {
      apps.push(parseAppConfig(entry, `apps[${i}]`));
    } catch (err) {
      if (!(err instanceof SimAdminError)) throw err;
      problems.push(err.message);
    }
  });
  if (problems.length > 0) throw new Error(`--apps ${file}: invalid app configuration:\n  ${problems.join("\n  ")}`);
  return apps;
}

function describeApp(app: SimAppConfig): string {
  const notes: string[] = [app.platform ?? "wechat"];
  if (app.ipWhitelist !== undefined && app.ipWhitelist.length > 0) notes.push(`whitelist ${app.ipWhitelist.join(",")}`);
  if (app.callerIp !== undefined) notes.push(`caller IP ${app.callerIp}`);
  return `${app.appId} (${notes.join(", ")})`;
}

/** Starts the simulator for the CLI; the caller decides when to close it. */
export async function startSimulatorFromCli(options: SimulatorCliOptions): Promise<{ sim: RunningSimulator; apps: SimAppConfig[] }> {
  const apps = [...(options.apps !== undefined ? loadAppsFile(options.apps) : []), ...(options.demo === true ? DEMO_APPS : [])];
  const ids = new Set<string>();
  for (const app of apps) {
    if (ids.has(app.appId)) throw new Error(`app ${JSON.stringify(app.appId)} is configured twice (--apps and --demo overlap?)`);
    ids.add(app.appId);
  }
  try {
    const sim = await startSimulator({ host: options.host, port: options.port, apps });
    return { sim, apps };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL") {
      throw new Error(`cannot listen on ${options.host}:${options.port} (${code}); choose another --port or --host`);
    }
    throw err;
  }
}

function waitForStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve(signal);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

export function registerSimulator(program: Command): void {
  program
    .command("simulator")
    .description("Run the local WeChat API simulator (token, stable_token, probes, WeCom gettoken, admin API)")
    .option("--port <port>", "port to listen on (0: any free port)", parsePort, 8085)
    .option("--host <host>", "address to bind", "127.0.0.1")
    .option("--apps <file>", "JSON or YAML list of simulated apps (SimAppConfig: appId, secret, ipWhitelist, …)")
    .option("--demo", "seed the demo apps wx_demo_healthy and wx_demo_whitelist (its caller IP 1.92.157.200 is not whitelisted)")
    .addHelpText(
      "after",
      `
Endpoints (all under the printed URL):
  GET  /cgi-bin/token              POST /cgi-bin/stable_token
  GET  /cgi-bin/get_api_domain_ip  GET  /cgi-bin/getcallbackip
  GET  /wecom/cgi-bin/gettoken     GET  /wecom/cgi-bin/get_api_domain_ip
  Admin API under /__admin: PUT|PATCH|DELETE /apps/:appId, POST|DELETE /apps/:appId/faults,
  GET /apps/:appId/counters, POST /counters/reset, POST /tokens/check, GET /apps

Examples:
  node bin/wechat-token-broker.js simulator --demo
  node bin/wechat-token-broker.js simulator --port 9000 --apps sim-apps.yaml

Point the broker at it with WECHAT_API_BASE=<url> and WECOM_API_BASE=<url>/wecom.
Runs until SIGINT (Ctrl-C) or SIGTERM.`,
    )
    .action(async (options: SimulatorCliOptions) => {
      const { sim, apps } = await startSimulatorFromCli(options);
      const stopped = waitForStopSignal();
      console.log(`WeChat API simulator listening on ${sim.url}`);
      console.log(`  WECHAT_API_BASE=${sim.url}`);
      console.log(`  WECOM_API_BASE=${sim.wecomUrl}`);
      console.log(`  admin API: ${sim.url}/__admin`);
      console.log(
        apps.length > 0
          ? `  apps: ${apps.map(describeApp).join("; ")}`
          : "  no apps yet: add some with --apps, --demo or PUT /__admin/apps/:appId",
      );
      const signal = await stopped;
      await sim.close();
      console.log(`simulator stopped (${signal})`);
    });
}
