// A broker as `serve` runs it (config from the environment, src/server.ts wiring, a real socket) for the adoption
// tests (issue 13), in front of the file's simulator, with its log lines kept for secret checks.
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/logger";
import { startBroker, type RunningBroker } from "../../src/server";
import { freePort } from "../helpers/ports";

export interface ServedBroker {
  broker: RunningBroker;
  url: string;
  logs: string[];
  close(): Promise<void>;
}

export async function serveBroker(env: Record<string, string>): Promise<ServedBroker> {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      cb();
    },
  });
  const config = loadConfig({ PORT: String(await freePort()), HOST: "127.0.0.1", LOG_LEVEL: "debug", ...env });
  const broker = await startBroker(config, createLogger({ level: "debug", destination }));
  return { broker, url: broker.url, logs, close: () => broker.close() };
}

/** The value of one Prometheus sample in a /metrics text (NaN when absent). */
export function sample(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.indexOf("}"));
    const have = inner.split(",");
    if (want.every((w) => have.includes(w))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return NaN;
}
