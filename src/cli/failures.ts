// How the commands word a failure for the person at the terminal: what failed, why, and what to do (English and
// Chinese), like `sync` and `diagnose` do, never a bare "Command timed out" or "EADDRINUSE".
import { BrokerError, StoreUnavailableError } from "../broker/errors";
import type { Config } from "../config";
import { connectionProblem, describeRedisTarget, type RedisClient } from "../store/redisClient";

/** A failure of a one-shot command, with the Redis target and its last connection error when the store failed. */
export function describeFailure(err: unknown, ctx: { config: Config; redis: RedisClient | null }): string {
  const message = err instanceof Error ? err.message : String(err);
  const lines = [message];
  if (err instanceof StoreUnavailableError && ctx.config.redis) {
    const why = ctx.redis ? connectionProblem(ctx.redis) : undefined;
    lines.push(`  Redis: ${describeRedisTarget(ctx.config.redis)}${why ? ` — last connection error: ${why}` : ""}`);
  }
  if (err instanceof BrokerError && err.hint) {
    lines.push(`  fix: ${err.hint.en}`, `  处理：${err.hint.zh}`);
  }
  return lines.join("\n");
}

/** Why `serve` could not listen, naming the variables to change. Undefined for other errors. */
export function listenFailure(err: unknown, config: Pick<Config, "host" | "port">): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const at = `${config.host.includes(":") ? `[${config.host}]` : config.host}:${config.port}`;
  if (code === "EADDRINUSE") {
    return [
      `cannot listen: ${at} is already in use (EADDRINUSE)`,
      `  fix: stop the process holding it (ss -ltnp | grep ':${config.port}\\b'), or start the broker on a free port: PORT=${config.port} is the one in use`,
      `  处理：端口 ${config.port} 已被占用。用 ss -ltnp | grep ':${config.port}\\b' 找到占用的进程并停止，或设置其他空闲端口（PORT=${config.port} 正被占用）`,
    ].join("\n");
  }
  if (code === "EACCES") {
    return [
      `cannot listen: permission denied for ${at} (EACCES)`,
      `  fix: ports below 1024 need privileges: set PORT to 1024 or above (PORT=${config.port} now)`,
      `  处理：1024 以下的端口需要特权，请把 PORT 设为 1024 以上（当前 PORT=${config.port}）`,
    ].join("\n");
  }
  if (code === "EADDRNOTAVAIL") {
    return [
      `cannot listen: ${config.host} is not an address of this host (EADDRNOTAVAIL)`,
      `  fix: set HOST to one of this host's addresses, e.g. 127.0.0.1 or 0.0.0.0 (HOST=${config.host} now)`,
      `  处理：HOST=${config.host} 不是本机地址，请改为本机地址，例如 127.0.0.1 或 0.0.0.0`,
    ].join("\n");
  }
  return undefined;
}
