// The token-store check of the diagnosis on Redis Cluster: the cluster's own state and which masters answer.
import type { Hint } from "../wechat/types";
import type { TokenStore } from "../store/types";
import type { DiagnosisCheck } from "./diagnosisReport";

/**
 * The store check for a Cluster, or null when the store is not a Cluster. `fail` while `cluster_state` is not ok
 * (the cluster refuses commands); `warn` when some master does not answer this broker (the accounts whose slots
 * it serves fail until a replica takes over).
 */
export async function clusterCheck(store: TokenStore, target: string, latencyMs: number, title: Hint): Promise<DiagnosisCheck | null> {
  if (!store.clusterState) return null;
  const c = await store.clusterState();
  if (c === null) return null;
  const data = { mode: "redis", target, reachable: true, latencyMs, cluster: c };
  const facts = `cluster_state ${c.state}, ${c.mastersReachable}/${c.masters} masters answer`;
  const factsZh = `cluster_state 为 ${c.state}，${c.masters} 个主节点中 ${c.mastersReachable} 个可达`;
  if (c.state !== "ok") {
    return {
      id: "store",
      status: "fail",
      title,
      detail: { en: `Redis Cluster ${target}: ${facts}`, zh: `Redis 集群 ${target}：${factsZh}` },
      fix: {
        en:
          "The cluster does not serve every slot: check `redis-cli --cluster check <node>` and CLUSTER NODES for failed " +
          "masters without a replica to promote.",
        zh: "集群未覆盖全部槽位：请用 `redis-cli --cluster check <节点>` 与 CLUSTER NODES 检查故障且无可提升副本的主节点。",
      },
      data,
    };
  }
  if (c.mastersReachable < c.masters) {
    return {
      id: "store",
      status: "warn",
      title,
      detail: { en: `Redis Cluster ${target}: ${facts}`, zh: `Redis 集群 ${target}：${factsZh}` },
      fix: {
        en: "A master does not answer this broker: a failover may be under way, or the network between this broker and that node is broken.",
        zh: "有主节点未响应本 broker：可能正在故障转移，或本 broker 与该节点之间网络不通。",
      },
      data,
    };
  }
  return {
    id: "store",
    status: "ok",
    title,
    detail: {
      en: `Redis Cluster ${target} answered PING in ${latencyMs} ms; ${facts}`,
      zh: `Redis 集群 ${target} 可达，PING 耗时 ${latencyMs} ms；${factsZh}`,
    },
    data,
  };
}
