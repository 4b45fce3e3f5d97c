// The broker's route table: every route it serves, in the order express tries them. openapi.yaml documents the same
// set (test/http/routeTable.test.ts keeps the two equal); the fast path takes the routes declared `fast`.
import type { Core } from "../../core";
import type { Diagnosis } from "../../ops/diagnosis";
import type { Authenticator } from "../auth";
import { proxyRoutes } from "../proxy";
import type { RouteDef } from "../route";
import { compatRoutes } from "./compat";
import { diagnosisRoutes } from "./diagnosis";
import { healthRoutes } from "./health";
import { lockRoutes } from "./locks";
import { metricsRoutes } from "./metrics";
import { syncRoutes } from "./sync";
import { ticketRoutes } from "./ticket";
import { tokenRoutes } from "./token";

export interface TableParts {
  auth: Authenticator;
  diagnosis: Diagnosis;
  version: string;
  startedAt: number;
}

export function brokerRoutes(core: Core, p: TableParts): RouteDef[] {
  const { config, service, store } = core;
  return [
    ...healthRoutes({
      store,
      version: p.version,
      startedAt: p.startedAt,
      accounts: service.accountIds().length,
      accountIds: () => service.accountIds(),
      servableFromMemory: () => service.servableFromMemory(),
    }),
    ...tokenRoutes(service),
    ...syncRoutes(service),
    ...ticketRoutes(service),
    ...diagnosisRoutes({ diagnosis: p.diagnosis, auth: p.auth }),
    ...lockRoutes(core.locks),
    ...metricsRoutes(core.metrics),
    // Issue 13: WeChat-compatible token endpoints, then the token-injecting proxy for the other WeChat paths.
    ...compatRoutes({ service, auth: p.auth, issued: core.issued }),
    ...proxyRoutes({
      service,
      issued: core.issued,
      wechatApiBase: config.wechatApiBase,
      wecomApiBase: config.wecomApiBase,
      prefixes: config.adoption.proxyPathPrefixes,
      bodyKeepBytes: config.adoption.proxyBodyKeepBytes,
      timeoutMs: config.adoption.proxyTimeoutMs,
      metrics: core.metrics.proxy,
      logger: core.logger,
    }),
  ];
}
