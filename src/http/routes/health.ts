// Liveness, readiness and a summary. Liveness never touches Redis (a Redis outage must not get the container
// restarted); readiness does, but stays 200 while the replica still serves tokens from memory. The summary also reads
// each account's status (one small read per account).
import type { TokenStore } from "../../store/types";
import type { RouteDef } from "../route";

export interface HealthDeps {
  store: TokenStore;
  version: string;
  startedAt: number;
  accounts: number;
  /** The configured accounts, for the summary's failing-account list. */
  accountIds?: () => string[];
  /** How many accounts' tokens the replica serves from memory while the store cannot be asked. */
  servableFromMemory?: () => number;
}

export interface FailingAccount {
  id: string;
  errcode?: number;
  errclass: string;
  /** When the refusal came (ISO). */
  since: string;
}

/** Accounts whose last WeChat answer is a refusal not followed by a success (shared state: every replica agrees). */
async function failingAccounts(store: TokenStore, ids: string[]): Promise<FailingAccount[]> {
  const out: FailingAccount[] = [];
  await Promise.all(
    ids.map(async (id) => {
      const st = await store.getStatus(id).catch(() => null);
      const e = st?.lastError;
      if (!st || !e || (st.lastSuccessAt !== undefined && st.lastSuccessAt >= e.at)) return;
      out.push({
        id,
        ...(e.errcode !== undefined ? { errcode: e.errcode } : {}),
        errclass: e.errclass,
        since: new Date(e.at).toISOString(),
      });
    }),
  );
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

export function healthRoutes(d: HealthDeps): RouteDef[] {
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

  return [
    { method: "GET", paths: ["/api/health/live"], access: "open", quiet: true, handle: () => ({ json: { status: "ok" } }) },
    {
      method: "GET",
      paths: ["/api/health/ready"],
      access: "open",
      quiet: true,
      handle: async () => {
        const store = await storeState();
        if (store.ok) return { json: { status: "ready", store } };
        // A shared Redis that is down is down for every replica: failing them all would take every one out of the
        // load balancer, and callers would get connection errors instead of the tokens the replicas still hold.
        const cached = { accounts: d.servableFromMemory?.() ?? 0, of: d.accounts };
        if (cached.accounts > 0) return { json: { status: "serving_cached", store, cached } };
        return { status: 503, json: { status: "not_ready", store, cached } };
      },
    },
    {
      // 503 when the store is away; "degraded" with 200 while an account fails but the broker serves the others.
      method: "GET",
      paths: ["/api/health"],
      access: "open",
      handle: async () => {
        const store = await storeState();
        const failing = store.ok && d.accountIds ? await failingAccounts(d.store, d.accountIds()) : [];
        const json = {
          status: store.ok && failing.length === 0 ? "ok" : "degraded",
          version: d.version,
          uptimeSec: Math.round((Date.now() - d.startedAt) / 1000),
          accounts: d.accounts,
          ...(failing.length > 0 ? { failingAccounts: failing } : {}),
          store,
        };
        return { status: store.ok ? 200 : 503, json };
      },
    },
  ];
}
