// A call to the simulator as state.ts sees it: the plain inputs server.ts parses each request into, and the answer
// it renders. No HTTP types here.
import type { SimFault, SimPlatform } from "./types";

export type SimEndpoint = "token" | "stable_token" | "gettoken" | "probe" | "getticket";

export type SimReply =
  | { kind: "json"; body: Record<string, unknown> }
  /** A non-errcode fault (http, timeout, non_json, reset): the transport renders it. */
  | { kind: "fault"; fault: SimFault };

export interface SimAnswer {
  reply: SimReply;
  platform: SimPlatform;
  /** Delay before answering (the app's latencyMs). */
  latencyMs: number;
  /** The app the call was attributed to, if any. */
  appId?: string;
}

export interface TokenRequest {
  method: string;
  appid?: string;
  secret?: string;
  grantType?: string;
}

export interface StableTokenRequest {
  method: string;
  /** The parsed JSON body; undefined when the body was absent or not JSON. */
  body: unknown;
}

export interface WecomTokenRequest {
  method: string;
  corpid?: string;
  corpsecret?: string;
}

export interface ProbeRequest {
  platform: SimPlatform;
  method: string;
  accessToken?: string;
}
