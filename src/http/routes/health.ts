// Liveness, readiness and a summary. Liveness never touches Redis (a Redis outage must not get the container
// restarted); readiness does.
import { Router } from "express";
import type { TokenStore } from "../../store/types";

export interface HealthDeps {
  store: TokenStore;
  version: string;
  startedAt: number;
  accounts: number;
}

export function healthRoutes(d: HealthDeps): Router {
  const r = Router();

  async function storeState() {
    if (d.store.mode === "memory") return { mode: "embedded" as const, ok: true };
    if (!d.store.isReady()) return { mode: "redis" as const, ok: false, error: "not connected" };
    let latencyMs: number;
    try {
      latencyMs = Math.round((await d.store.ping()) * 100) / 100;
    } catch {
      return { mode: "redis" as const, ok: false, error: "ping failed" };
    }
    const cluster = d.store.clusterState ? await d.store.clusterState().catch(() => undefined) : null;
    if (cluster === null) return { mode: "redis" as const, ok: true, latencyMs };
    // Redis Cluster refuses every command while it is not `ok` (slots uncovered): then this broker cannot serve.
    if (cluster === undefined) return { mode: "redis" as const, ok: false, latencyMs, error: "cluster state unreadable" };
    const ok = cluster.state === "ok";
    return { mode: "redis" as const, ok, latencyMs, cluster, ...(ok ? {} : { error: `cluster_state is ${cluster.state}` }) };
  }

  r.get("/api/health/live", (_req, res) => {
    res.set("Cache-Control", "no-store").json({ status: "ok" });
  });

  r.get("/api/health/ready", async (_req, res) => {
    const store = await storeState();
    res.status(store.ok ? 200 : 503).set("Cache-Control", "no-store").json({ status: store.ok ? "ready" : "not_ready", store });
  });

  r.get("/api/health", async (_req, res) => {
    const store = await storeState();
    res
      .status(store.ok ? 200 : 503)
      .set("Cache-Control", "no-store")
      .json({
        status: store.ok ? "ok" : "degraded",
        version: d.version,
        uptimeSec: Math.round((Date.now() - d.startedAt) / 1000),
        accounts: d.accounts,
        store,
      });
  });

  return r;
}
