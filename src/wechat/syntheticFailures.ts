// Failures that carry no errcode (network, timeout, HTTP status, a body that is not WeChat's JSON): the class and
// hint of each. classifyFailure in errcodes.ts refines http_status by the status received.
import type { Hint, UpstreamFailureKind } from "./types";
import { transient, type Behaviour, type HintContext } from "./errcodeEntry";

/** Failures that carry no errcode. `non_json` and `bad_shape` are both UpstreamError kind "bad_body". */
export type SyntheticFailure = "network" | "timeout" | "http_status" | "non_json" | "bad_shape" | "aborted";

export interface SyntheticEntry {
  kind: UpstreamFailureKind;
  behaviour: Behaviour;
  summary: string;
  hint: (c: HintContext & { platformName: string; baseEnv: string }) => Hint;
}

export const SYNTHETIC_FAILURES: Readonly<Record<SyntheticFailure, SyntheticEntry>> = {
  network: {
    kind: "network",
    behaviour: transient,
    summary: "network failure",
    hint: (c) => ({
      en:
        `Could not reach ${c.platformName}. The broker retries with backoff. If it persists, check ${c.baseEnv}, DNS, the ` +
        `egress firewall/proxy and outbound HTTPS from this host.`,
      zh: `无法连接${c.platformName}，broker 会退避重试。若持续出现，请检查 ${c.baseEnv}、DNS、出口防火墙/代理以及本机的出站 HTTPS。`,
    }),
  },
  timeout: {
    kind: "timeout",
    behaviour: transient,
    summary: "timeout",
    hint: (c) => ({
      en: `${c.platformName} did not answer in time. The broker retries with backoff. If it persists, check the egress network or proxy.`,
      zh: `${c.platformName}未在超时时间内响应，broker 会退避重试。若持续出现，请检查出口网络或代理。`,
    }),
  },
  aborted: {
    kind: "network",
    behaviour: transient,
    summary: "request aborted",
    hint: () => ({
      en: "The broker abandoned the request (shutdown, or the refresh lock expired). Nothing to do unless it keeps happening.",
      zh: "broker 主动放弃了该请求（正在关闭，或刷新锁已过期）。除非反复出现，否则无需处理。",
    }),
  },
  http_status: {
    kind: "http_status",
    behaviour: transient, // refined by status in classifyFailure
    summary: "unexpected HTTP status",
    hint: (c) => ({
      en: `${c.platformName} (or a proxy in between) answered with an HTTP error. The broker retries with backoff.`,
      zh: `${c.platformName}（或中间代理）返回了 HTTP 错误，broker 会退避重试。`,
    }),
  },
  non_json: {
    kind: "bad_body",
    behaviour: transient,
    summary: "the answer was not JSON",
    hint: (c) => ({
      en:
        `The answer was not JSON: usually a proxy, captive portal or error page between the broker and ${c.platformName}. ` +
        `The broker retries with backoff; if it persists, check ${c.baseEnv} and the egress proxy.`,
      zh: `返回内容不是 JSON：通常是 broker 与${c.platformName}之间的代理、认证网关或错误页面。broker 会退避重试；若持续出现，请检查 ${c.baseEnv} 与出口代理。`,
    }),
  },
  bad_shape: {
    kind: "bad_body",
    behaviour: transient,
    summary: "the answer had no usable token",
    hint: (c) => ({
      en:
        `${c.platformName} answered JSON without an errcode and without a usable access_token/expires_in. The broker ` +
        `retries with backoff; if it persists, check ${c.baseEnv} points at the real API.`,
      zh: `${c.platformName}返回的 JSON 既没有 errcode 也没有可用的 access_token/expires_in。broker 会退避重试；若持续出现，请确认 ${c.baseEnv} 指向真实接口。`,
    }),
  },
};
