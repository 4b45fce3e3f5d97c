// IPv4 whitelist entries (an address or a.b.c.d/n) as the simulator's apps hold them: parsing, and matching a
// caller IP against a whitelist.
import { isIPv4 } from "node:net";

interface Cidr {
  base: number;
  mask: number;
}

function ipv4ToInt(ip: string): number {
  return ip.split(".").reduce((acc, part) => ((acc << 8) | Number(part)) >>> 0, 0);
}

export function parseCidr(entry: string): Cidr | undefined {
  const [ip, bitsText, extra] = entry.split("/");
  if (ip === undefined || extra !== undefined || !isIPv4(ip)) return undefined;
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > 32 || (bitsText !== undefined && !/^\d+$/.test(bitsText))) return undefined;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (ipv4ToInt(ip) & mask) >>> 0, mask };
}

export function ipInWhitelist(ip: string, whitelist: readonly string[]): boolean {
  const n = ipv4ToInt(ip);
  return whitelist.some((entry) => {
    const c = parseCidr(entry);
    return c !== undefined && (n & c.mask) >>> 0 === c.base;
  });
}
