// The state of a Redis Cluster as one broker sees it, for readiness and the diagnosis: the cluster's own verdict
// (`cluster_state` of CLUSTER INFO) and how many of its masters answer this broker.
import type { Cluster } from "ioredis";

export interface ClusterState {
  /** `cluster_state` from CLUSTER INFO: `ok` when every slot is served, else `fail` (or "unknown" when unread). */
  state: string;
  /** Masters serving slots (`cluster_size`), or the masters the client knows when that is larger. */
  masters: number;
  /** Masters that answered PING from this broker. */
  mastersReachable: number;
}

/** Reads CLUSTER INFO from any node and PINGs every master the client knows; node command timeouts bound it. */
export async function readClusterState(cluster: Cluster): Promise<ClusterState> {
  const masters = cluster.nodes("master");
  const [info, pings] = await Promise.all([
    cluster.cluster("INFO").then(String, () => ""),
    Promise.allSettled(masters.map((node) => node.ping())),
  ]);
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, "m").exec(info)?.[1];
  const size = Number(field("cluster_size") ?? 0);
  return {
    state: field("cluster_state") ?? "unknown",
    masters: Math.max(Number.isSafeInteger(size) ? size : 0, masters.length),
    mastersReachable: pings.filter((p) => p.status === "fulfilled").length,
  };
}
