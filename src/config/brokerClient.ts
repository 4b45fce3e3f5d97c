// Where the one-shot commands (sync, diagnose, locks) reach the running broker in embedded mode, and with which
// key. In embedded mode the token lives only in the broker's memory, so a command that built its own in-memory
// broker would act on a copy nobody serves; it asks the broker over HTTP instead.
import type { Inputs } from "./inputs";
import { baseUrlProblem } from "./fields";

export interface BrokerClientConfig {
  /** Base URL of the running broker, without a trailing slash. */
  url: string;
  /** Whether `url` came from BROKER_URL (else it was derived from PORT, HOST and TLS). */
  fromEnv: boolean;
  /** BROKER_API_KEY(_FILE). Secret: sent only as `Authorization: Bearer`, never printed. */
  apiKey?: string;
}

// The broker's own rule for a bearer key (src/http/auth.ts): a key it could never accept is a config mistake here.
const KEY = /^[\x21-\x7e]{1,512}$/;

/** The address a local command uses to reach a broker listening on `host`. */
function localAddress(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/** undefined when invalid (the problems are in `inputs.problems`). */
export function loadBrokerClient(inputs: Inputs, listen: { port?: number; host?: string; tls: boolean }): BrokerClientConfig | undefined {
  const before = inputs.problems.count;
  const raw = inputs.get("BROKER_URL");
  let url: string | undefined;
  if (raw !== undefined) {
    const why = baseUrlProblem(raw);
    if (why !== undefined) inputs.problems.add("BROKER_URL", why);
    else url = new URL(raw).href.replace(/\/+$/, "");
  } else if (listen.port !== undefined && listen.host !== undefined) {
    url = `${listen.tls ? "https" : "http"}://${localAddress(listen.host)}:${listen.port}`;
  }
  const key = inputs.valueOrFile("BROKER_API_KEY", "secret");
  if (key !== undefined && !KEY.test(key.value)) {
    inputs.problems.add(key.origin, "must be 1–512 printable ASCII characters without spaces (as the broker's API keys are)");
  }
  if (inputs.problems.count !== before || url === undefined) return undefined;
  const client: BrokerClientConfig = { url, fromEnv: raw !== undefined };
  // Not enumerable: the configuration of `serve` may carry it too, and a serialised or inspected config must not.
  if (key !== undefined) Object.defineProperty(client, "apiKey", { value: key.value, enumerable: false });
  return client;
}
