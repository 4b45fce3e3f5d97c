// The configuration: one validated schema over the environment and the files it names.
export { loadConfig, type LoadConfigOptions } from "./load";
export { ConfigError, type ConfigIssue } from "./errors";
export { describeConfig, type ConfigSummary } from "./describe";
export { coreOptions, defaultCoreOptions, type CoreOptions } from "./coreOptions";
export { sha256 } from "./api-keys";
export type { ReadFile } from "./inputs";
export { VARIABLES, type Unit, type VariableName, type VariableSpec } from "./variables";
export {
  LOG_LEVELS,
  type ApiKey,
  type ApiKeyRole,
  type Config,
  type LogLevel,
  type RedisConfig,
  type SentinelAddress,
  type TlsConfig,
} from "./types";
