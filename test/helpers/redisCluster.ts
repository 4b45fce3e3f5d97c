// A private Redis Cluster for a test: three masters with one replica each, on free loopback ports (client and
// cluster-bus ports both chosen free), built with `redis-cli --cluster create`. Never touches 6379. A short
// cluster-node-timeout makes a failover take about a second instead of fifteen.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports";
import { redisServerAvailable, waitForPort } from "./redis";
import type { TestCertificates } from "./certificates";

export interface ClusterNodeInfo {
  port: number;
  id: string;
  role: "master" | "replica";
  /** For a replica: the id of its master. */
  masterId?: string;
  /** Slot ranges served by a master, e.g. "0-5460". */
  slots: string[];
  failed: boolean;
}

export interface TestRedisCluster {
  ports: number[];
  /** REDIS_CLUSTER_NODES for the broker: every node, host:port. */
  nodesEnv: string;
  /** Run a redis-cli command against one node; stdout, trimmed. */
  cli(port: number, ...args: string[]): string;
  /** CLUSTER NODES as seen from a live node. */
  nodes(): ClusterNodeInfo[];
  /** `cluster_state` as every live node reports it. */
  states(): string[];
  /** The master serving a key, and its replica. */
  ownerOf(key: string): { master: ClusterNodeInfo; replica: ClusterNodeInfo };
  /** Kill a node (SIGKILL: no goodbye to the cluster). */
  kill(port: number): Promise<void>;
  /** Wait until every live node reports cluster_state:ok and agrees on the masters. */
  waitOk(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const NODE_TIMEOUT_MS = 1000;

async function distinctFreePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort());
  return [...out];
}

export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  const out: ClusterNodeInfo[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(" ");
    if (f.length < 8) continue;
    const port = Number(/:(\d+)@/.exec(f[1] ?? "")?.[1]);
    const flags = (f[2] ?? "").split(",");
    const role = flags.includes("master") ? "master" : "replica";
    out.push({
      port,
      id: f[0]!,
      role,
      ...(role === "replica" && f[3] !== "-" ? { masterId: f[3] } : {}),
      slots: f.slice(8).filter((s) => !s.startsWith("[")),
      failed: flags.includes("fail") || flags.includes("fail?"),
    });
  }
  return out;
}

/**
 * `tls`: every node speaks TLS only (clients, the cluster bus and replication), with these files; redis-cli is
 * then run with --tls and the CA.
 */
export async function startRedisCluster(
  opts: { timeoutMs?: number; password?: string; tls?: TestCertificates } = {},
): Promise<TestRedisCluster> {
  if (!redisServerAvailable())
    throw new Error("redis-server is not installed: run `apt-get install -y redis-server` (the tests start their own instances)");
  const all = await distinctFreePorts(12);
  const ports = all.slice(0, 6);
  const busPorts = all.slice(6);
  const dir = mkdtempSync(join(tmpdir(), "wtb-rcluster-"));
  const procs = new Map<number, ChildProcess>();
  const dead = new Set<number>();

  await Promise.all(
    ports.map(async (port, i) => {
      const nodeDir = join(dir, String(port));
      mkdirSync(nodeDir);
      const tls = opts.tls;
      const listen = tls
        ? [
            "--port",
            "0",
            "--tls-port",
            String(port),
            "--tls-cluster",
            "yes",
            "--tls-replication",
            "yes",
            "--tls-cert-file",
            tls.cert,
            "--tls-key-file",
            tls.key,
            "--tls-ca-cert-file",
            tls.ca,
            "--tls-auth-clients",
            "no",
          ]
        : ["--port", String(port)];
      const args = [
        ...listen,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        nodeDir,
        "--logfile",
        "",
        "--daemonize",
        "no",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-port",
        String(busPorts[i]),
        "--cluster-node-timeout",
        String(NODE_TIMEOUT_MS),
        ...(opts.password ? ["--requirepass", opts.password, "--masterauth", opts.password] : []),
      ];
      procs.set(port, spawn("redis-server", args, { stdio: "ignore" }));
      await waitForPort(port, 5000);
    }),
  );

  const auth = [
    ...(opts.password ? ["-a", opts.password, "--no-auth-warning"] : []),
    ...(opts.tls ? ["--tls", "--cacert", opts.tls.ca] : []),
  ];
  const cli = (port: number, ...args: string[]) =>
    (spawnSync("redis-cli", ["-p", String(port), ...auth, ...args], { encoding: "utf8", timeout: 10_000 }).stdout ?? "").trim();
  const live = () => ports.filter((p) => !dead.has(p));
  const nodes = () => parseClusterNodes(cli(live()[0]!, "CLUSTER", "NODES"));
  const states = () => live().map((p) => /cluster_state:(\w+)/.exec(cli(p, "CLUSTER", "INFO"))?.[1] ?? "unknown");

  const created = spawnSync(
    "redis-cli",
    [...auth, "--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "1", "--cluster-yes"],
    {
      encoding: "utf8",
      timeout: 30_000,
    },
  );
  if (created.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${created.stdout}\n${created.stderr}`);

  const waitOk = async (timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ns = live().length > 0 ? nodes() : [];
      const masters = ns.filter((n) => n.role === "master" && !n.failed && n.slots.length > 0);
      const replicas = ns.filter((n) => n.role === "replica" && !n.failed);
      if (states().every((s) => s === "ok") && masters.length === 3 && replicas.length === live().length - 3) return;
      if (Date.now() > deadline)
        throw new Error(`cluster not ok after ${timeoutMs} ms: ${states().join(",")}\n${cli(live()[0]!, "CLUSTER", "NODES")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await waitOk(opts.timeoutMs);

  return {
    ports,
    nodesEnv: ports.map((p) => `127.0.0.1:${p}`).join(","),
    cli,
    nodes,
    states,
    ownerOf(key) {
      const slot = Number(cli(live()[0]!, "CLUSTER", "KEYSLOT", key));
      const ns = nodes();
      const master = ns.find(
        (n) =>
          n.role === "master" &&
          !n.failed &&
          n.slots.some((r) => {
            const [a, b] = r.split("-").map(Number);
            return slot >= a! && slot <= (b ?? a)!;
          }),
      );
      if (!master) throw new Error(`no master serves slot ${slot}`);
      const replica = ns.find((n) => n.role === "replica" && n.masterId === master.id && !n.failed);
      if (!replica) throw new Error(`master ${master.port} has no live replica`);
      return { master, replica };
    },
    async kill(port) {
      const p = procs.get(port);
      dead.add(port);
      if (!p || p.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once("exit", () => resolve());
        p.kill("SIGKILL");
      });
    },
    waitOk,
    async close() {
      await Promise.all(
        [...procs.values()].map(
          (p) =>
            new Promise<void>((resolve) => {
              if (p.exitCode !== null || p.signalCode !== null) return resolve();
              p.once("exit", () => resolve());
              p.kill("SIGTERM");
            }),
        ),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
