// The JS-SDK signature (wx.config / wx.agentConfig), as WeChat documents it: SHA-1 over
// `jsapi_ticket=<ticket>&noncestr=<nonce>&timestamp=<seconds>&url=<page url without #fragment>`, keys in that
// (alphabetical) order, values as they are (no URL-encoding). Pure apart from the random nonce.
import { createHash, randomBytes } from "node:crypto";

/** WeChat's limit is not published; longer page URLs than this are almost certainly a mistake (or an attack). */
export const MAX_SIGN_URL_LENGTH = 2048;

export interface JsSdkSignature {
  timestamp: number;
  nonceStr: string;
  signature: string;
}

/** The page URL as it is signed, or why it cannot be: WeChat signs the URL the page has, without its fragment. */
export function signableUrl(
  raw: string | undefined,
): { ok: true; url: string } | { ok: false; why: "missing" | "too_long" | "unparsable" | "scheme" } {
  if (raw === undefined || raw === "") return { ok: false, why: "missing" };
  if (raw.length > MAX_SIGN_URL_LENGTH) return { ok: false, why: "too_long" };
  const hash = raw.indexOf("#");
  const url = hash === -1 ? raw : raw.slice(0, hash);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, why: "unparsable" };
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return { ok: false, why: "scheme" };
  // Signed as given (not as URL normalises it): the page's JS passes location.href.split('#')[0] verbatim.
  return { ok: true, url };
}

export function signString(ticket: string, nonceStr: string, timestamp: number, url: string): string {
  return `jsapi_ticket=${ticket}&noncestr=${nonceStr}&timestamp=${timestamp}&url=${url}`;
}

export function sign(ticket: string, url: string, nowMs: number, nonceStr: string = newNonce()): JsSdkSignature {
  const timestamp = Math.floor(nowMs / 1000);
  const signature = createHash("sha1")
    .update(signString(ticket, nonceStr, timestamp, url), "utf8")
    .digest("hex");
  return { timestamp, nonceStr, signature };
}

/** 16 random characters [A-Za-z0-9_-]: a fresh nonce per answer (WeChat allows up to 32). */
export function newNonce(): string {
  return randomBytes(12).toString("base64url");
}
