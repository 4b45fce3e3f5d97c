// Shared by the ops tests: a broker core built exactly like `serve` builds it (loadConfig → buildCore), its
// diagnosis and lock routers mounted on createApp, a real redis-server and the WeChat simulator over HTTP.
import type { Express } from "express";
import pino from "pino";
import { loadConfig, type Config } from "../../src/config";
import { buildCore, type Core } from "../../src/core";
import { createApp } from "../../src/http/app";
import { Authenticator } from "../../src/http/auth";
import { Diagnosis, diagnosisFromCore } from "../../src/ops/diagnosis";
import { LockInspector, locksFromCore } from "../../src/ops/locks";
import { diagnosisRoutes } from "../../src/http/routes/diagnosis";
import { lockRoutes } from "../../src/http/routes/locks";

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
  auth: Authenticator;
  diagnosis: Diagnosis;
  locks: LockInspector;
  app: Express;
  close(): Promise<void>;
}

let seq = 0;
/** A fresh key prefix per broker, so tests sharing one Redis do not see each other's keys. */
export function freshPrefix(): string {
  return `ops${process.pid}-${++seq}:`;
}

export function opsBroker(env: NodeJS.ProcessEnv, opts: { plannedAt?: (id: string) => number | undefined } = {}): OpsBroker {
  // A generous command timeout: a loaded test machine must not turn a slow reply into a failed check.
  const config = loadConfig({ LOG_LEVEL: "silent", ...(env.REDIS_URL ? { REDIS_COMMAND_TIMEOUT_MS: "2000" } : {}), ...env });
  const logger = pino({ level: "silent" });
  const core = buildCore(config, logger, { defaultMetrics: false });
  const auth = new Authenticator(config.auth.apiKeys, config.auth.required);
  const locks = locksFromCore(core);
  const diagnosis = diagnosisFromCore(core, { version: "9.9.9-test", locks, plannedAt: opts.plannedAt });
  const app = createApp({
    service: core.service,
    store: core.store,
    auth,
    logger,
    version: "9.9.9-test",
    extraRouters: [diagnosisRoutes({ diagnosis, auth }), lockRoutes({ locks, auth })],
  });
  return { config, core, auth, diagnosis, locks, app, close: () => core.close() };
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
