// Shared by the ops tests: a broker built exactly like `serve` builds it (loadConfig → buildCore → createApp), a
// real redis-server and the WeChat simulator over HTTP.
import type { RequestListener } from "node:http";
import pino from "pino";
import { loadConfig, type Config } from "../../src/config";
import { buildCore, type Core } from "../../src/core";
import { createApp } from "../../src/http/app";
import type { Diagnosis } from "../../src/ops/diagnosis";
import type { LockInspector } from "../../src/ops/locks";

/** Distinctive secrets: any of them showing up in an output is a leak. */
export const SECRETS = {
  appSecret: "AppSecret-ZQX9-must-never-leak",
  otherAppSecret: "AppSecret-KW3R-must-never-leak",
  redisPassword: "redispw-K7M2-must-never-leak",
  adminKey: "admin-key-P4W8-must-never-leak-0123456789",
  clientKey: "client-key-J6T1-must-never-leak-0123456789",
};

export interface OpsBroker {
  config: Config;
  core: Core;
  /** The report the app's diagnosis routes run (built as createApp builds it). */
  diagnosis: Diagnosis;
  locks: LockInspector;
  /** The broker's HTTP surface, as `serve` listens with it. */
  app: RequestListener;
  close(): Promise<void>;
}

let seq = 0;
/** A fresh key prefix per broker, so tests sharing one Redis do not see each other's keys. */
export function freshPrefix(): string {
  return `ops${process.pid}-${++seq}:`;
}

export function opsBroker(env: NodeJS.ProcessEnv): OpsBroker {
  // A generous command timeout: a loaded test machine must not turn a slow reply into a failed check.
  const config = loadConfig({ LOG_LEVEL: "silent", ...(env.REDIS_URL ? { REDIS_COMMAND_TIMEOUT_MS: "2000" } : {}), ...env });
  const logger = pino({ level: "silent" });
  const core = buildCore(config, logger, { defaultMetrics: false });
  const { listener, diagnosis } = createApp(core, { version: "9.9.9-test" });
  return { config, core, diagnosis, locks: core.locks, app: listener, close: () => core.close() };
}

export function accountsEnv(list: Array<{ id: string; appId: string; appSecret: string; tokenApi?: "stable" | "classic" }>): string {
  return JSON.stringify(list.map((a) => ({ tokenApi: "stable", ...a })));
}

export function apiKeysEnv(): string {
  return JSON.stringify([
    { name: "ops", key: SECRETS.adminKey, role: "admin" },
    { name: "svc", key: SECRETS.clientKey, role: "client", accounts: ["*"] },
  ]);
}

export function assertNoSecret(text: string, extra: string[] = []): void {
  for (const s of [...Object.values(SECRETS), ...extra]) {
    if (text.includes(s)) throw new Error(`output contains the secret ${s.slice(0, 12)}…`);
  }
}
