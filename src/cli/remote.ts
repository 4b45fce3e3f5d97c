// Embedded mode (no REDIS_URL): the running broker's memory is the only place its token, breaker and locks live.
// A command that built its own in-memory broker would report on, or refresh, a copy nobody serves. So `sync`,
// `diagnose` and `locks` ask the running broker over HTTP, and refuse when none answers: never act locally.
import type { Config } from "../config";
import type { ErrorBody } from "../http/errors";
import { askBroker, brokerError, BrokerTimeoutError, BrokerUnreachableError, type BrokerAnswer } from "./askBroker";
import { EXIT, type CliIo } from "./common";

/** True when the commands must go through the running broker. */
export function embedded(config: Config): boolean {
  return config.redis === null;
}

type ErrorFields = ErrorBody["error"];

/** A failed remote command: its exit code and the error to print (same shape as the broker's error bodies). */
export class RemoteFailure extends Error {
  constructor(
    readonly exitCode: number,
    readonly error: ErrorFields,
  ) {
    super(error.message);
  }
}

const START_HINT = {
  en: "Without REDIS_URL the token lives only in the running broker's memory, so this command asks that broker and never acts on its own. Start the broker (wechat-token-broker serve) with this configuration, or set BROKER_URL to where it listens; brokers sharing Redis: set REDIS_URL.",
  zh: "未设置 REDIS_URL 时，token 只保存在运行中的 broker 内存里，本命令只向它询问，从不自行操作。请先用同一配置启动 broker（wechat-token-broker serve），或将 BROKER_URL 设为其监听地址；多个 broker 共享 Redis 时请设置 REDIS_URL。",
};

const KEY_HINT = {
  en: "Set BROKER_API_KEY or BROKER_API_KEY_FILE to one of the broker's API keys (API_KEYS / API_KEYS_FILE); sync --force and locks need a key with the admin role.",
  zh: "请将 BROKER_API_KEY 或 BROKER_API_KEY_FILE 设为 broker 的 API 密钥之一（API_KEYS / API_KEYS_FILE）；sync --force 与 locks 需要 admin 角色的密钥。",
};

/** Asks the broker; a missing broker, a timeout, a refused key or an answer that is not the broker's become RemoteFailure. */
export async function ask(
  config: Config,
  req: {
    method: "GET" | "POST";
    path: string;
    body?: unknown;
    /** Error statuses whose body is a result, not an error (the diagnosis' 503). */ resultStatuses?: number[];
  },
  timeoutMs: number,
  timeoutExit: number = EXIT.failure,
): Promise<BrokerAnswer> {
  let answer: BrokerAnswer;
  try {
    answer = await askBroker(config, req, timeoutMs);
  } catch (err) {
    if (err instanceof BrokerUnreachableError) {
      throw new RemoteFailure(EXIT.noBroker, {
        code: "broker_unreachable",
        message: `${err.message}.`,
        hint: START_HINT.en,
        hintZh: START_HINT.zh,
      });
    }
    if (err instanceof BrokerTimeoutError) throw new RemoteFailure(timeoutExit, { code: "broker_timeout", message: `${err.message}.` });
    throw err;
  }
  const url = config.brokerClient.url;
  if (answer.status === 401 || answer.status === 403) {
    const e = brokerError(answer);
    const why = e?.message ?? `HTTP ${answer.status}`;
    const sent = config.brokerClient.apiKey === undefined ? "no API key was sent" : "the API key from BROKER_API_KEY(_FILE) was refused";
    throw new RemoteFailure(EXIT.auth, {
      code: e?.code ?? "unauthorized",
      message: `The broker at ${url} refused the request (${sent}): ${why}`,
      hint: KEY_HINT.en,
      hintZh: KEY_HINT.zh,
    });
  }
  if (
    answer.json === undefined ||
    (answer.status >= 400 && brokerError(answer) === undefined && !(req.resultStatuses ?? []).includes(answer.status))
  ) {
    throw new RemoteFailure(EXIT.noBroker, {
      code: "broker_unreachable",
      message: `The service at ${url} answered HTTP ${answer.status}, not like wechat-token-broker.`,
      hint: START_HINT.en,
      hintZh: START_HINT.zh,
    });
  }
  return answer;
}

/** Prints an error the way `sync` always has: JSON on stdout with --json, else ✗ and the fix on stderr. */
export function printError(io: CliIo, subject: string, error: ErrorFields, json: boolean): void {
  if (json) {
    io.stdout(`${JSON.stringify({ error })}\n`);
    return;
  }
  const lines = [`✗ ${subject}: ${error.message}`, error.hint ? `  fix: ${error.hint}` : "", error.hintZh ? `  处理：${error.hintZh}` : ""];
  io.stderr(`${lines.filter(Boolean).join("\n")}\n`);
}

/** Help text shared by the three commands. */
export const EMBEDDED_HELP = `
In embedded mode (no REDIS_URL) the command asks the running broker over HTTP: BROKER_URL (default
http://127.0.0.1:$PORT), with BROKER_API_KEY or BROKER_API_KEY_FILE when the broker has API keys. It never acts
on its own: with no broker answering it exits 69; when the broker refuses the key, 77.`;
