// One HTTP request from a command to the running broker (embedded mode: the token lives only in its memory).
// node:http directly, not axios: nothing here may end up holding the API key in an error object, and an https
// broker with its own certificate must be reachable on 127.0.0.1 (see `tlsOptions`).
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { checkServerIdentity, rootCertificates, type PeerCertificate } from "node:tls";
import { X509Certificate } from "node:crypto";
import type { Config } from "../config";

export interface BrokerAnswer {
  status: number;
  /** The parsed JSON body, or undefined when the body was not JSON. */
  json: unknown;
  text: string;
}

/** No broker answered at the configured URL (refused, unknown host, TLS failure, or not a broker). */
export class BrokerUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`no broker answers at ${url} (${reason})`);
    this.name = "BrokerUnreachableError";
  }
}

/** The broker answered nothing within the time the operation may take there. */
export class BrokerTimeoutError extends Error {
  constructor(
    readonly url: string,
    readonly ms: number,
  ) {
    super(`the broker at ${url} did not answer within ${Math.round(ms / 1000)} s; the operation may still complete there`);
    this.name = "BrokerTimeoutError";
  }
}

/** How long a connection may take to open: the broker is expected on this host or nearby. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * With TLS configured from PEM files, the command trusts the broker's own certificate (it has the same files), so
 * the default https://127.0.0.1 works with a self-signed certificate or one issued for another name. Anything else
 * is verified as usual.
 */
function tlsOptions(config: Config): { ca?: string[]; checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined } {
  const tls = config.tls;
  if (tls === null || !("cert" in tls)) return {};
  let own: X509Certificate;
  try {
    own = new X509Certificate(tls.cert);
  } catch {
    return {};
  }
  return {
    ca: [...rootCertificates, own.toString()],
    checkServerIdentity: (host, cert) => (cert.fingerprint256 === own.fingerprint256 ? undefined : checkServerIdentity(host, cert)),
  };
}

/** Why a connection failed, from the error's code only (an error object may carry request options). */
function reasonOf(err: unknown): string {
  const code = typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : "";
  const known: Record<string, string> = {
    ECONNREFUSED: "connection refused: nothing listens there",
    ENOTFOUND: "unknown host",
    EAI_AGAIN: "host name lookup failed",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
    ECONNRESET: "the connection was reset",
    EPROTO: "TLS handshake failed: is it http rather than https?",
    DEPTH_ZERO_SELF_SIGNED_CERT: "its TLS certificate is self-signed and not trusted here",
    SELF_SIGNED_CERT_IN_CHAIN: "its TLS certificate chain is not trusted here",
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: "its TLS certificate is not trusted here",
    ERR_TLS_CERT_ALTNAME_INVALID: "its TLS certificate is for another name",
    CERT_HAS_EXPIRED: "its TLS certificate has expired",
  };
  return known[code] ?? (/^[A-Z][A-Z0-9_]+$/.test(code) ? code : "the connection failed");
}

/**
 * Sends one request to `config.brokerClient.url` + `path`. Resolves with any HTTP answer; rejects with
 * BrokerUnreachableError when there is no answer, or BrokerTimeoutError after `timeoutMs`.
 */
export function askBroker(
  config: Config,
  req: { method: "GET" | "POST"; path: string; body?: unknown; accept?: "json" | "text" },
  timeoutMs: number,
): Promise<BrokerAnswer> {
  const base = config.brokerClient.url;
  const url = new URL(base + req.path);
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  const headers: Record<string, string> = {
    Accept: req.accept === "text" ? "text/plain" : "application/json",
    "User-Agent": "wechat-token-broker-cli",
  };
  if (payload !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["Content-Length"] = String(Buffer.byteLength(payload));
  }
  const key = config.brokerClient.apiKey;
  if (key !== undefined) headers.Authorization = `Bearer ${key}`;

  return new Promise<BrokerAnswer>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, answer?: BrokerAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(total);
      clearTimeout(connecting);
      if (err) {
        r.destroy();
        reject(err);
      } else resolve(answer!);
    };
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", () => finish(new BrokerUnreachableError(base, "the answer was cut off")));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        finish(null, { status: res.statusCode ?? 0, json, text });
      });
    };
    const options = { method: req.method, headers };
    const r =
      url.protocol === "https:"
        ? httpsRequest(url, { ...options, ...tlsOptions(config) }, onResponse)
        : httpRequest(url, options, onResponse);
    r.on("error", (err) => finish(new BrokerUnreachableError(base, reasonOf(err))));
    const connecting = setTimeout(
      () => finish(new BrokerUnreachableError(base, `no connection within ${CONNECT_TIMEOUT_MS / 1000} s`)),
      CONNECT_TIMEOUT_MS,
    );
    r.on("socket", (socket) => {
      // A reused or already-connected socket does not emit "connect".
      if (!socket.connecting) clearTimeout(connecting);
      else socket.once("connect", () => clearTimeout(connecting));
    });
    const total = setTimeout(() => finish(new BrokerTimeoutError(base, timeoutMs)), timeoutMs);
    r.end(payload);
  });
}

/** The broker's error body, when the answer is one (`{"error":{"code","message",…}}`). */
export function brokerError(
  answer: BrokerAnswer,
): { code: string; message: string; hint?: string; hintZh?: string; errclass?: string } | undefined {
  const e = (answer.json as { error?: unknown } | undefined)?.error as Record<string, unknown> | undefined;
  if (typeof e !== "object" || e === null || typeof e.code !== "string" || typeof e.message !== "string") return undefined;
  return e as { code: string; message: string; hint?: string; hintZh?: string; errclass?: string };
}
