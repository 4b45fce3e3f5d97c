// Wiring for the HTTP tests: a real broker (embedded store or its own Redis connections) built by the composition
// root (buildCore, then createApp: the express app and the fast path in front of it), as src/server.ts builds it,
// talking to the simulator over HTTP. Every helper that sends a request checks the answer against openapi.yaml.
import assert from "node:assert/strict";
import type { RequestListener } from "node:http";
import type { Express } from "express";
import request from "supertest";
import { createApp } from "../../src/http/app";
import type { Role, Scope } from "../../src/http/auth";
import type { RouteDef, RouteServices } from "../../src/http/route";
import type { Metrics } from "../../src/ops/metrics";
import { sha256 } from "../../src/config";
import type { Account } from "../../src/accounts";
import type { Logger } from "../../src/logger";
import { captureLogger, startBroker, type BrokerOptions, type TestBroker } from "../helpers/brokers";
import { assertDocumented, assertSchema } from "../helpers/openapi";

export interface TestKey {
  name: string;
  key: string;
  role: Role;
  accounts: "*" | string[];
  scopes?: Scope[];
}

export interface HttpBroker {
  /** What the server listens with: the fast path, then the express app. */
  app: RequestListener;
  /** The express app alone (what the fast path hands everything else to). */
  express: Express;
  /** The route table and what serves it (to build a fast path in front of another listener). */
  routes: RouteDef[];
  services: RouteServices;
  broker: TestBroker;
  /** The broker's Redis key prefix (fresh per broker). */
  keyPrefix: string;
  metrics: Metrics;
  /** The broker's and the HTTP layer's logger (level debug), writing to `logs`. */
  logger: Logger;
  /** Log lines of the broker and its HTTP layer (level debug). */
  logs: string[];
  close(): Promise<void>;
}

let prefixSeq = 0;

/** A fresh key prefix, so brokers sharing one Redis never see each other's tokens. */
export function freshPrefix(tag: string): string {
  return `http-${tag}-${process.pid}-${++prefixSeq}:`;
}

export async function httpBroker(o: {
  accounts: Account[];
  wechatApiBase: string;
  redisUrl?: string;
  keys?: TestKey[];
  broker?: Partial<BrokerOptions>;
}): Promise<HttpBroker> {
  const { logger, lines } = captureLogger("debug");
  const keyPrefix = freshPrefix("b");
  const broker = await startBroker({
    accounts: o.accounts,
    wechatApiBase: o.wechatApiBase,
    redisUrl: o.redisUrl,
    keyPrefix,
    logger,
    ...o.broker,
    env: { ...(o.keys?.length ? { API_KEYS: apiKeysJson(o.keys) } : {}), ...o.broker?.env },
  });
  const app = createApp(broker, { version: "0.0.0-test" });
  return {
    app: app.listener,
    express: app.express,
    routes: app.routes,
    services: app.services,
    broker,
    keyPrefix,
    metrics: broker.metrics,
    logger,
    logs: lines,
    close: () => broker.close(),
  };
}

/** API_KEYS for these keys, given by their hashes (the configuration's length rule is for real keys). */
export function apiKeysJson(keys: readonly TestKey[]): string {
  return JSON.stringify(
    keys.map((k) => ({
      name: k.name,
      keySha256: sha256(k.key).toString("hex"),
      role: k.role,
      accounts: k.accounts === "*" ? ["*"] : k.accounts,
      ...(k.scopes ? { scopes: k.scopes } : {}),
    })),
  );
}

/** Sends nothing itself: validates an answer against openapi.yaml and returns it, for chaining. */
export function documented<T extends request.Response>(res: T): T {
  assertDocumented(res);
  return res;
}

/** Stack frames ("    at fn (file.ts:1:2)") or an "Error:" prefix mean an internal error leaked into a body. */
export function assertNoInternals(text: string): void {
  assert.doesNotMatch(text, /\bat (?:\S+ \()?(?:node:|file:|\/)\S*:\d+:\d+/, "no stack frame in the body");
  assert.doesNotMatch(text, /\n\s+at /, "no stack trace in the body");
  assert.doesNotMatch(text, /"(message|hint)":"[A-Za-z]*Error:/, "no error-class prefix in messages");
  assert.doesNotMatch(text, /"stack"\s*:/, "no stack field");
  assert.doesNotMatch(text, /node_modules|\/src\/|\.ts:\d+/, "no source paths");
}

/**
 * The answer is a documented error with this status and code (or a code matching a pattern): body `{error:{code,message}}` without internals.
 * `documentedRoute: false` is for answers of routes openapi.yaml cannot list (unknown paths): only the Error schema
 * is checked then.
 */
export function assertError(res: request.Response, status: number, code: string | RegExp, opts: { documentedRoute?: boolean } = {}): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  if (opts.documentedRoute === false) {
    assert.match(res.headers["content-type"] ?? "", /^application\/json/);
    assertSchema("Error", res.body);
  } else {
    assertDocumented(res);
  }
  const body = res.body as { error?: { code?: unknown; message?: unknown } };
  if (typeof code === "string") assert.equal(body.error?.code, code, `error code in ${res.text}`);
  else assert.match(String(body.error?.code), code, `error code in ${res.text}`);
  assert.equal(typeof body.error?.message, "string");
  assert.ok((body.error?.message as string).length > 0, "a message for a person");
  assert.equal(res.headers["cache-control"], "no-store");
  assertNoInternals(res.text);
}
