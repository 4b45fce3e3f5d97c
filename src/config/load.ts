// loadConfig: every part is loaded even after another failed, so one ConfigError lists every problem.
import { loadAccounts } from "./accounts";
import { loadApiKeys } from "./api-keys";
import { loadBrokerClient } from "./brokerClient";
import { ConfigError, Problems } from "./errors";
import { defaultReadFile, Inputs, type ReadFile } from "./inputs";
import { hostProblem, isLoopback } from "./fields";
import { loadRedis } from "./redis";
import { loadSettings } from "./settings";
import { loadTls } from "./tls";
import type { Config } from "./types";
import { variableRank } from "./variables";

export interface LoadConfigOptions {
  /** Reads a file (secrets, documents, TLS material); defaults to fs.readFileSync. Inject in tests. */
  readFile?: ReadFile;
}

const UNAUTHENTICATED_HOST_DEFAULT = "127.0.0.1";
const AUTHENTICATED_HOST_DEFAULT = "0.0.0.0";

/** Secure by default: without API keys anyone who can connect gets tokens, so only the local machine may. */
function loadHost(inputs: Inputs, authIntended: boolean): string | undefined {
  const host = inputs.get("HOST");
  if (host === undefined) return authIntended ? AUTHENTICATED_HOST_DEFAULT : UNAUTHENTICATED_HOST_DEFAULT;
  const why = hostProblem(host);
  if (why !== undefined) {
    inputs.problems.add("HOST", why);
    return undefined;
  }
  if (!authIntended && !isLoopback(host)) {
    inputs.problems.add(
      "HOST",
      `refusing to serve tokens unauthenticated on ${host}: configure API_KEYS or API_KEYS_FILE, or bind HOST=127.0.0.1`,
    );
    return undefined;
  }
  return host;
}

/** Validates the environment (and the files it names) into a Config, or throws a ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv, opts: LoadConfigOptions = {}): Config {
  const problems = new Problems();
  const inputs = new Inputs(env, opts.readFile ?? defaultReadFile, problems);

  const settings = loadSettings(inputs);
  const redisTarget = loadRedis(inputs);
  const accounts = loadAccounts(inputs);
  const beforeKeys = problems.count;
  const keys = loadApiKeys(inputs, accounts.knownIds);
  // Keys that were meant but are broken still count as meant: the HOST rule should not add noise to their errors.
  const authIntended = keys.keys.length > 0 || (keys.configured && problems.count !== beforeKeys);
  const host = loadHost(inputs, authIntended);
  const tls = loadTls(inputs);
  const brokerClient = loadBrokerClient(inputs, { port: settings?.port, host, tls: tls !== null && tls !== undefined });

  if (accounts.configured && accounts.accounts.length === 0 && accounts.knownIds?.size === 0) {
    problems.warn("the account list is empty: the broker serves no tokens, only diagnosis");
  } else if (!accounts.configured) {
    problems.warn("no accounts configured (ACCOUNTS or ACCOUNTS_FILE): the broker serves no tokens, only diagnosis");
  }

  if (
    problems.count > 0 ||
    settings === undefined ||
    redisTarget === undefined ||
    host === undefined ||
    tls === undefined ||
    brokerClient === undefined
  ) {
    throw new ConfigError(problems.issues(variableRank));
  }
  const { redis: redisTimeouts, ...rest } = settings;
  return {
    ...rest,
    host,
    auth: { required: keys.keys.length > 0, apiKeys: keys.keys },
    redis: redisTarget && { ...redisTarget, ...redisTimeouts },
    accounts: accounts.accounts,
    tls,
    brokerClient,
    warnings: problems.warnings(),
  };
}
