// The validated configuration. Built only by loadConfig; everything in it has been checked. Its scalar settings
// are not written here: their types are read off the variables table, so a setting is declared in one place.
import type { z } from "zod";
import type { Account } from "../accounts";
import type { BrokerClientConfig } from "./brokerClient";
import type { SettingName, Unit, VARIABLES, VariableName } from "./variables";

export type { SettingName };

export { LOG_LEVELS, type LogLevel } from "./fields";

type Spec<K extends VariableName> = (typeof VARIABLES)[K];

/** The path of a setting's field in Config, e.g. `port` or `adoption.proxyTimeoutMs`. */
type FieldOf<K extends SettingName> = Spec<K> extends { field: infer F extends string } ? F : never;

/** The field of a setting that sits at the top of Config; never for one inside a part. */
type TopField<K extends SettingName> = FieldOf<K> extends `${string}.${string}` ? never : FieldOf<K>;

/** What a setting holds in Config: what its `parse` yields, else (an integer with a range) a number. */
export type SettingValue<K extends SettingName> = Spec<K> extends { parse: infer S extends z.ZodType } ? z.output<S> : number;

/** The settings at the top of Config, by field. */
export type TopSettings = { -readonly [K in SettingName as TopField<K>]: SettingValue<K> };

/** The settings under `part.` in Config (`adoption`, `redis`), by the rest of their path. */
export type SettingsUnder<P extends string> = {
  -readonly [K in SettingName as FieldOf<K> extends `${P}.${infer F}` ? F : never]: SettingValue<K>;
};

/** The parts of Config that hold settings of their own. */
type Part = { [K in SettingName]: FieldOf<K> extends `${infer P}.${string}` ? P : never }[SettingName];

/** Every scalar setting, shaped as in Config. */
export type Settings = TopSettings & { [P in Part]: SettingsUnder<P> };

/** The top-level settings that are quantities (they declare a unit): the tunables the start-up summary lists. */
export type TopQuantities = { -readonly [K in SettingName as Spec<K> extends { unit: Unit } ? TopField<K> : never]: number };

/** The top-level durations, by variable name: what the core's options convert to milliseconds. */
export type TopDurationName = {
  [K in SettingName]: Spec<K> extends { unit: "ms" | "s" } ? ([TopField<K>] extends [never] ? never : K) : never;
}[SettingName];

export type ApiKeyRole = "client" | "admin";

/** What a key may read: tokens (/token routes), tickets (/ticket) and JS-SDK signatures (/jssdk-config). */
export const API_KEY_SCOPES = ["token", "ticket", "sign"] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export interface ApiKey {
  name: string;
  /** SHA-256 of the key. The key itself is never kept. */
  keySha256: Buffer;
  role: ApiKeyRole;
  /** The accounts this key may read tokens of. */
  accounts: "*" | string[];
  /** What it may read of them; absent: everything (token, ticket, sign). A sign-only key never sees a token or ticket. */
  scopes?: ApiKeyScope[];
}

export interface SentinelAddress {
  host: string;
  port: number;
}

/** A Redis Cluster seed node. */
export type RedisNodeAddress = SentinelAddress;

/** Where Redis is and how to reach it: one server by URL, Sentinel, or a Cluster. */
export interface RedisTarget {
  /** REDIS_URL without its password (the password is in `password`, so there is one place to redact). */
  url?: string;
  sentinels?: SentinelAddress[];
  sentinelName?: string;
  /** REDIS_CLUSTER_NODES: seed nodes of a Redis Cluster. */
  clusterNodes?: RedisNodeAddress[];
  /** REDIS_PASSWORD(_FILE), else the password of REDIS_URL. Secret. */
  password?: string;
  /** `rediss://` (REDIS_URL or REDIS_CLUSTER_NODES). */
  tls: boolean;
}

/** The target and the timeouts (REDIS_COMMAND_TIMEOUT_MS, REDIS_CONNECT_TIMEOUT_MS). */
export type RedisConfig = RedisTarget & SettingsUnder<"redis">;

/** The compatible endpoints, the token-injecting proxy and foreign-fetch detection (issue 13). */
export type AdoptionConfig = SettingsUnder<"adoption">;

export type TlsConfig = { pfx: Buffer; passphrase?: string } | { cert: Buffer; key: Buffer } | null;

export interface Config extends TopSettings {
  host: string;
  auth: { required: boolean; apiKeys: ApiKey[] };
  /** null: embedded mode (in-memory store, in-process lock, one replica). */
  redis: RedisConfig | null;
  accounts: Account[];
  tls: TlsConfig;
  /** How the one-shot commands reach the running broker in embedded mode (BROKER_URL, BROKER_API_KEY). */
  brokerClient: BrokerClientConfig;
  adoption: AdoptionConfig;
  /** Things that are allowed but probably not intended; log them at start-up. */
  warnings: string[];
}
