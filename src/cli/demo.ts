// `wechat-token-broker demo`: the README's run command. The simulator and an embedded broker in one process,
// with one healthy account and one whose IP is not whitelisted, so every endpoint has something to show.
import type { Command } from "commander";
import { loadConfig } from "../config";
import { startBroker } from "../server";
import { startSimulator } from "../simulator/server";
import { createLogger } from "../logger";
import { DEMO_APPS } from "./simulator";
import { installProcessGuard } from "../processGuard";

/** One broker account per demo app of the simulator, named like real accounts' original ids. */
export function demoAccounts() {
  return DEMO_APPS.map((app) => ({
    id: app.appId.replace(/^wx_/, "gh_"),
    type: "official",
    appId: app.appId,
    appSecret: app.secret,
    tokenApi: "stable",
  }));
}

/** A log destination that holds its lines until `release`, then writes them and everything after straight through. */
export class HeldLines {
  private held: string[] | null = [];
  constructor(private readonly out: { write(s: string): unknown }) {}
  write(line: string): void {
    if (this.held) this.held.push(line);
    else this.out.write(line);
  }
  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const l of held) this.out.write(l);
  }
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("Run the broker (embedded mode) against the built-in WeChat simulator, with two demo accounts")
    .option("--port <port>", "broker port", "8084")
    .option("--simulator-port <port>", "simulator port", "8085")
    .option("--log-level <level>", "broker log level", "warn")
    .addHelpText("after", "\nNothing leaves this machine: WeChat is simulated on 127.0.0.1. Ctrl-C stops both.")
    .action(async (opts: { port: string; simulatorPort: string; logLevel: string }) => {
      const sim = await startSimulator({ port: Number(opts.simulatorPort), apps: [...DEMO_APPS] });
      const config = loadConfig({
        PORT: opts.port,
        HOST: "127.0.0.1",
        ACCOUNTS: JSON.stringify(demoAccounts()),
        WECHAT_API_BASE: sim.url,
        WECOM_API_BASE: sim.wecomUrl,
        LOG_LEVEL: opts.logLevel,
      });
      // The banner is read in a terminal where log lines and stdout meet: log lines wait until it is printed.
      const logs = new HeldLines(process.stdout);
      const logger = createLogger({ level: config.logLevel, destination: logs });
      const guard = installProcessGuard({ logger, closeTimeoutMs: config.shutdownTimeoutMs + 2_000 });
      const broker = await startBroker(config, logger).catch(async (err: unknown) => {
        await sim.close();
        throw err;
      });
      guard.attach({ count: (kind) => broker.core.metrics.processError(kind), close: () => broker.close().then(() => sim.close()) });
      const u = broker.url;
      const json = `-H "Content-Type: application/json"`;
      console.log(`
wechat-token-broker demo
  broker     ${u}   (embedded mode: in-memory store, no API keys, loopback only)
  simulator  ${sim.url}   (a local stand-in for api.weixin.qq.com)

accounts
  gh_demo_healthy     works
  gh_demo_whitelist   its caller IP 1.92.157.200 is not in the whitelist: every fetch gets errcode 40164

try
  curl ${u}/api/accounts/gh_demo_healthy/token
  curl -X POST ${u}/api/accounts/gh_demo_healthy/token/invalidate ${json} -d '{"accessToken":"<the token above>","errcode":40001}'
  curl -X POST ${u}/official-api/wechat/sync ${json} -d '{"accountId":"gh_demo_healthy","force":false}'
  curl ${u}/api/accounts/gh_demo_whitelist/token
  curl "${u}/api/accounts/gh_demo_healthy/jssdk-config?url=https%3A%2F%2Fexample.com%2Fpage%3Fid%3D1"   (signs wx.config for that page)
  curl ${u}/quick_diagnosis.php
  curl ${u}/api/locks
  curl ${u}/metrics

Ctrl-C stops both.
`);
      logs.release();
      await new Promise<void>((resolve) => {
        const stop = () => {
          void broker
            .close()
            .then(() => sim.close())
            .then(resolve);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}
