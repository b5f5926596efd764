// IPv4/IPv6 addresses as bigints, so one allocator serves both families.
import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

export interface Cidr {
  family: Family;
  /** network address */
  base: bigint;
  prefix: number;
}

export function familyOf(ip: string): Family | undefined {
  return isIPv4(ip) ? 4 : isIPv6(ip) ? 6 : undefined;
}

export function ipToBigint(ip: string): bigint {
  if (isIPv4(ip)) return ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  if (!isIPv6(ip)) throw new Error(`not an IP address: ${ip}`);
  let text = ip;
  // an embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets
  const v4 = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4?.[1]) {
    const n = ipToBigint(v4[1]);
    text = text.slice(0, -v4[1].length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export function bigintToIp(n: bigint, family: Family): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => Number((n >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((n >> s) & 0xffffn).toString(16));
  // compress the longest run of zero groups (RFC 5952)
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export function bits(family: Family): number {
  return family === 4 ? 32 : 128;
}

export function parseCidr(text: string): Cidr {
  const [ip = '', prefixText] = text.split('/');
  const family = familyOf(ip);
  const prefix = Number(prefixText);
  if (!family || prefixText === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > bits(family)) {
    throw new Error(`invalid CIDR '${text}'`);
  }
  const hostBits = BigInt(bits(family) - prefix);
  return { family, base: (ipToBigint(ip) >> hostBits) << hostBits, prefix };
}

export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(bits(c.family) - c.prefix);
}

export function cidrContains(c: Cidr, ip: string): boolean {
  return familyOf(ip) === c.family && ipToBigint(ip) >= c.base && ipToBigint(ip) < c.base + cidrSize(c);
}

export function formatCidr(c: Cidr): string {
  return `${bigintToIp(c.base, c.family)}/${c.prefix}`;
}

/** "10.1.0.5/24" or "10.1.0.5" -> "10.1.0.5" */
export function stripPrefix(addr: string): string {
  return addr.split('/')[0] ?? addr;
}
