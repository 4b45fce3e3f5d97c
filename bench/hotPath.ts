// Benchmark 1: the hot path, side by side. Three servers, each in its own process, loaded one after the other by
// autocannon in this process with the same connections and the same response body:
//   node:http  — a fixed body (the floor),
//   express    — the smallest express 5 app returning that body (the yardstick: target ≥ 0.9 of it),
//   broker     — GET /api/accounts/{id}/token with API-key auth, metrics and request logging (LOG_LEVEL=info, to a
//                file), Redis mode, the token already cached: what every caller of the organisation hits.
import { startRedis, type TestRedis } from "../test/helpers/redis";
import { startSimulator } from "../src/simulator/server";
import type { RunningSimulator } from "../src/simulator/types";
import { AUTH_HEADERS, benchAccount, brokerEnv, getToken, simApp } from "./lib/fixtures";
import { load, type LoadResult } from "./lib/load";
import { paced } from "./lib/paced";
import { fmt, load1, ms, table, verdict, type Section } from "./lib/report";
import { spawnBroker, spawnServer, stopAll, type Proc, type Runtime } from "./lib/runtime";
import type { Settings } from "./lib/settings";

export type ServerName = "node:http" | "express" | "broker";

export interface HotRow extends LoadResult {
  server: ServerName;
  /** Set for the open-loop rows: requests per second offered. */
  rate?: number;
}

export interface HotPathData {
  bodyBytes: number;
  rows: HotRow[];
  /** Latency at a fixed offered rate (open loop), 64 connections. */
  atRate: HotRow[];
  ratios: Array<{ connections: number; brokerToExpress: number; brokerToNodeHttp: number; cpuExpressToBroker: number; cpuNodeHttpToBroker: number }>;
  targets: { ratioAt64: number | null; cpuRatioAt64: number | null; p99At64: number | null; ratioMet: boolean | null; p99Met: boolean | null };
}

const ACCOUNT = benchAccount("bench", "stable", 1);
export const TOKEN_PATH = `/api/accounts/${ACCOUNT.id}/token`;

/** Starts Redis, the simulator and one broker with the token cached; returns them and the broker's exact answer. */
export async function startHotBroker(s: Settings, rt: Runtime, opts: { nodeArgs?: string[]; name?: string } = {}) {
  const redis = await startRedis();
  let sim: RunningSimulator | undefined;
  try {
    sim = await startSimulator({ apps: [simApp(ACCOUNT)] });
    const env = brokerEnv({ redisUrl: redis.url, sim, accounts: [ACCOUNT], workDir: rt.workDir, name: opts.name ?? "hot", apiKeys: s.hot.apiKeys, extra: { LOG_LEVEL: "info" } });
    const broker = await spawnBroker(rt, opts.name ?? "hot-broker", env, { nodeArgs: opts.nodeArgs });
    // The first request may wait for the start-up refresh; the measured ones must be local-cache hits.
    await getToken(broker.url, ACCOUNT.id);
    const { raw } = await getToken(broker.url, ACCOUNT.id);
    return { redis, sim, broker, body: raw };
  } catch (err) {
    await sim?.close();
    await redis.close();
    throw err;
  }
}

export async function runHotPath(s: Settings, rt: Runtime): Promise<Section> {
  const loadBefore = load1();
  let redis: TestRedis | undefined;
  let sim: RunningSimulator | undefined;
  const procs: Proc[] = [];
  const rows: HotRow[] = [];
  const atRate: HotRow[] = [];
  let bodyBytes = 0;
  try {
    const started = await startHotBroker(s, rt);
    redis = started.redis;
    sim = started.sim;
    procs.push(started.broker);
    bodyBytes = Buffer.byteLength(started.body);
    const env = { BENCH_BODY: started.body };
    const bare = await spawnServer({ name: "hot-node-http", args: rt.serverArgs("bare-http"), env, readyPath: "/", logDir: rt.workDir });
    procs.push(bare);
    const express = await spawnServer({ name: "hot-express", args: rt.serverArgs("express-minimal"), env, readyPath: "/ready", logDir: rt.workDir });
    procs.push(express);
    const servers: Array<[ServerName, Proc]> = [
      ["node:http", bare],
      ["express", express],
      ["broker", started.broker],
    ];
    // Connection counts outermost: the three servers are measured back to back, so drifting background load on a
    // shared machine affects them alike.
    for (const connections of s.hot.connections) {
      for (const [server, p] of servers) {
        const url = `${p.url}${TOKEN_PATH}`;
        await load({ url, connections, seconds: s.hot.warmupSeconds, headers: AUTH_HEADERS });
        const r = await load({ url, connections, seconds: s.hot.seconds, headers: AUTH_HEADERS, cpuMs: () => p.cpuMs() });
        rows.push({ server, ...r });
        console.error(`bench hot: ${server} ${connections} conn: ${fmt(r.rps)} req/s p50 ${ms(r.p50)} p99 ${ms(r.p99)} max ${ms(r.max)} ms`);
      }
    }
    // Closed-loop latency at 64 connections is 64 ÷ throughput (Little's law): it measures saturation. What a caller
    // sees under a load the server keeps up with is the open-loop latency at a fixed rate.
    if (s.hot.rate > 0) {
      const connections = Math.max(...s.hot.connections);
      for (const [server, p] of servers) {
        const r = await paced({ port: p.port, path: TOKEN_PATH, headers: AUTH_HEADERS, rate: s.hot.rate, seconds: s.hot.seconds, connections });
        atRate.push({ server, rate: s.hot.rate, ...r });
        console.error(`bench hot: ${server} ${connections} conn at ${s.hot.rate} req/s: p50 ${ms(r.p50)} p99 ${ms(r.p99)} max ${ms(r.max)} ms`);
      }
    }
  } finally {
    await stopAll(procs);
    await sim?.close();
    await redis?.close();
  }

  const find = (server: ServerName, c: number) => rows.find((r) => r.server === server && r.connections === c);
  const ratios = s.hot.connections.map((c) => ({
    connections: c,
    brokerToExpress: (find("broker", c)?.rps ?? NaN) / (find("express", c)?.rps ?? NaN),
    brokerToNodeHttp: (find("broker", c)?.rps ?? NaN) / (find("node:http", c)?.rps ?? NaN),
    cpuExpressToBroker: (find("express", c)?.cpuUs ?? NaN) / (find("broker", c)?.cpuUs ?? NaN),
    cpuNodeHttpToBroker: (find("node:http", c)?.cpuUs ?? NaN) / (find("broker", c)?.cpuUs ?? NaN),
  }));
  const at64 = ratios.find((r) => r.connections === 64);
  const b64 = find("broker", 64);
  const data: HotPathData = {
    bodyBytes,
    rows,
    atRate,
    ratios,
    targets: {
      ratioAt64: at64 ? at64.brokerToExpress : null,
      cpuRatioAt64: at64 ? at64.cpuExpressToBroker : null,
      p99At64: b64 ? b64.p99 : null,
      ratioMet: at64 ? at64.brokerToExpress >= 0.9 : null,
      p99Met: b64 ? b64.p99 <= 5 : null,
    },
  };
  const table1 = table(
    ["connections", "server", "requests/s", "p50 ms", "p99 ms", "max ms", "server CPU µs/request", "errors + non-2xx", "bytes/response"],
    rows.map((r) => [r.connections, r.server, fmt(r.rps), ms(r.p50), ms(r.p99), ms(r.max), fmt(r.cpuUs), r.errors + r.non2xx, fmt(r.bytesPerResponse)]),
  );
  const table2 = table(
    ["connections", "broker / express requests/s (target ≥ 0.90)", "same, by CPU per request", "broker / node:http requests/s", "same, by CPU per request", "broker p99 ms (target ≤ 5 at 64)"],
    ratios.map((r) => [r.connections, r.brokerToExpress.toFixed(2), r.cpuExpressToBroker.toFixed(2), r.brokerToNodeHttp.toFixed(2), r.cpuNodeHttpToBroker.toFixed(2), ms(find("broker", r.connections)?.p99 ?? NaN)]),
  );
  const verdicts =
    data.targets.ratioAt64 === null
      ? "64 connections were not measured in this run."
      : `At 64 connections: throughput ratio ${data.targets.ratioAt64.toFixed(2)} of express ${verdict(data.targets.ratioMet === true)} (${(data.targets.cpuRatioAt64 ?? NaN).toFixed(2)} by CPU time per request); broker p99 ${ms(data.targets.p99At64 ?? NaN)} ms ${verdict(data.targets.p99Met === true)}. ` +
        "CPU time per request (utime + stime of the server process over the measured run ÷ requests answered) hardly depends on what else the machine runs, unlike requests/s; its ratio is what the throughput ratio would be on a dedicated core.";
  return {
    id: "hot",
    title: "1. Hot path: broker vs express vs node:http",
    load: { before: loadBefore, after: load1() },
    data,
    body: [
      `Each server runs in its own process; autocannon runs in the benchmark process. Per server and connection count: ${s.hot.warmupSeconds} s warm-up, then ${s.hot.seconds} s measured, ` +
        `one request at a time per connection (no pipelining). Every server answers the same ${bodyBytes}-byte JSON body (the broker's own token answer). ` +
        `The broker: compiled build, Redis mode, token cached in-process, ${s.hot.apiKeys} API keys configured, LOG_LEVEL=info (stdout to a file), /metrics on. Latencies at µs resolution.`,
      table1,
      table2,
      verdicts,
      ...(atRate.length > 0
        ? [
            `Closed-loop latency at 64 connections is 64 ÷ throughput (Little's law), so the p99 target above is a throughput target in disguise: p99 ≤ 5 ms at 64 connections needs well over 13,000 requests/s. ` +
              `What callers see when the server keeps up: an open-loop load of ${fmt(s.hot.rate)} requests/s, evenly spaced over ${atRate[0]!.connections} keep-alive connections, ${s.hot.seconds} s per server (latency from when each request was written, or was due if it waited for a free connection).`,
            table(
              ["server", "offered requests/s", "answered requests/s", "p50 ms", "p99 ms", "max ms", "errors + non-2xx"],
              atRate.map((r) => [r.server, fmt(r.rate ?? 0), fmt(r.rps), ms(r.p50), ms(r.p99), ms(r.max), r.errors + r.non2xx]),
            ),
          ]
        : []),
    ],
  };
}
