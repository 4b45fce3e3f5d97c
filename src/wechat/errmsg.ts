// Reading WeChat / WeCom errmsg strings. Programs must switch on errcode, never on errmsg (WeChat changes the
// wording), so this module only pulls out the two things an operator needs from it: the caller IP WeChat saw
// (to whitelist it) and the request id (to quote to WeChat support). Everything here is best effort and returns
// undefined rather than guessing. The errmsg formats and where the IP comes from: docs/wechat-api.md §1.2, §7.2, §7.3.
import { isIP } from "node:net";

// Characters an IPv4 or IPv6 literal can contain. Matching the candidate loosely and then validating it with
// net.isIP is more robust than one clever regex per address family.
const ADDR = "([0-9A-Fa-f:.]+)";

// Where each errmsg format puts the caller IP, most specific first:
//  40164  `invalid ip 1.92.157.200 ipv6 ::ffff:1.92.157.200, not in whitelist rid: …` (and older forms)
//  60020  `not allow to access from your ip, hint: […], from ip: 1.2.3.4, more info at …` (any WeCom errmsg)
//  61004  `access clientip is not registered requestIP: 27.18.103.5 rid: …`
const IP_PATTERNS: RegExp[] = [
  new RegExp(`invalid ip ${ADDR}`, "i"),
  new RegExp(`\\bipv6 ${ADDR}`, "i"),
  new RegExp(`from ip:\\s*${ADDR}`, "i"),
  new RegExp(`requestIP:\\s*${ADDR}`, "i"),
];

/** `::ffff:1.2.3.4` is how WeChat writes an IPv4 caller in IPv6 form; operators whitelist the IPv4 address. */
function unmapIpv4(addr: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(addr);
  return m?.[1] && isIP(m[1]) === 4 ? m[1] : addr;
}

/** Normalises a candidate and returns it only when it is a real IPv4/IPv6 address. */
function validIp(candidate: string | undefined): string | undefined {
  if (!candidate) return undefined;
  // A trailing '.' or ':' is punctuation of the sentence, not part of the address.
  const trimmed = candidate.replace(/[.:]+$/, "");
  if (isIP(trimmed) === 0) return undefined;
  return unmapIpv4(trimmed);
}

/**
 * The caller IP WeChat reports in an errmsg (40164, 60020 or any WeCom `from ip:`, 61004), validated as an
 * IPv4 or IPv6 address; an IPv4-mapped IPv6 address is returned as plain IPv4. Undefined when absent or invalid.
 */
export function extractIp(errmsg: string | undefined): string | undefined {
  if (!errmsg) return undefined;
  for (const re of IP_PATTERNS) {
    const ip = validIp(re.exec(errmsg)?.[1]);
    if (ip) return ip;
  }
  return undefined;
}

// Request-id formats:
//  ≥2020 `rid: 68231586-663e56da-1e04e5eb` (three 8-hex groups, sometimes after a comma)
//  ≤2018 `hint: [KJZfAa0644e575]`, `hints: [ req_id: ItMTDA0250ns71 ]`, `hint: [dLTTea0566vr46!]`
//  WeCom `hint: [1706848717432011565347844]`
const RID_PATTERN = /\brid:\s*([0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{8}){2})\b/;
const HINT_PATTERN = /\bhints?:\s*\[\s*(?:req_id:\s*)?([^\]\s]+)\s*\]/i;

/** WeChat's `rid` or the id inside `hint: […]`, for support requests. Undefined when absent. */
export function extractRid(errmsg: string | undefined): string | undefined {
  if (!errmsg) return undefined;
  return RID_PATTERN.exec(errmsg)?.[1] ?? HINT_PATTERN.exec(errmsg)?.[1];
}

/** Longest errmsg kept. WeChat's are short; anything longer is not an errmsg we should be storing. */
export const MAX_ERRMSG_LENGTH = 512;

/**
 * An errmsg made safe to log, store and show: every occurrence of the given secrets (AppSecret, the token being
 * probed) replaced, control characters removed, length capped. WeChat does not echo secrets; this is defence
 * in depth against a proxy or a future WeChat that does.
 */
export function sanitizeErrmsg(errmsg: string, secrets: ReadonlyArray<string | undefined> = []): string {
  let out = errmsg;
  for (const s of secrets) {
    // Very short "secrets" would shred the message and cannot be real AppSecrets or tokens.
    if (s && s.length >= 4) out = out.split(s).join("[REDACTED]");
  }
  // eslint-disable-next-line no-control-regex
  out = out.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return out.length > MAX_ERRMSG_LENGTH ? `${out.slice(0, MAX_ERRMSG_LENGTH)}…` : out;
}
