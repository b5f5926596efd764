// IPv4/IPv6 addresses as bigints, CIDRs as inclusive ranges. The compiler resolves ipBlock
// `except` by range subtraction so the kernel never sees overlapping elements.

export type Family = 4 | 6;

export interface IpAddress {
  family: Family;
  value: bigint;
}

export interface Cidr {
  family: Family;
  /** network address (host bits cleared) */
  network: bigint;
  prefix: number;
}

export interface IpRange {
  family: Family;
  first: bigint;
  last: bigint;
}

const V4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function bits(family: Family): number {
  return family === 4 ? 32 : 128;
}

export function parseIp(text: string): IpAddress | undefined {
  if (V4_RE.test(text)) {
    const value = text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
    return { family: 4, value };
  }
  if (text.includes(':')) return parseIpv6(text);
  return undefined;
}

function parseIpv6(text: string): IpAddress | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let tail4: bigint | undefined;
  let body = text;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = parseIp(text.slice(lastColon + 1));
    if (!v4 || v4.family !== 4) return undefined;
    tail4 = v4.value;
    body = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const parse = (s: string) => (s === '' ? [] : s.split(':'));
  const head = parse(halves[0]);
  const tail = halves.length === 2 ? parse(halves[1]) : [];
  const groups = halves.length === 2 ? [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail] : head;
  if (groups.length !== 8 || (halves.length === 2 && head.length + tail.length > 7)) return undefined;
  let value = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    value = (value << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail4 !== undefined) value = (value & ~0xffffffffn) | tail4;
  return { family: 6, value };
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > bits(ip.family)) return undefined;
  return { family: ip.family, network: ip.value & maskOf(ip.family, prefix), prefix };
}

export function maskOf(family: Family, prefix: number): bigint {
  const total = bits(family);
  return ((1n << BigInt(total)) - 1n) ^ ((1n << BigInt(total - prefix)) - 1n);
}

export function cidrRange(c: Cidr): IpRange {
  const hostBits = BigInt(bits(c.family) - c.prefix);
  return { family: c.family, first: c.network, last: c.network + (1n << hostBits) - 1n };
}

export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((ip.value >> BigInt(i * 16)) & 0xffffn).toString(16));
  // RFC 5952: compress the longest run of zero groups (length >= 2).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Canonical text: host bits cleared (`10.244.1.10/4` -> `0.0.0.0/4`). */
export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.network })}/${c.prefix}`;
}

export function normalizeCidr(text: string): string | undefined {
  const c = parseCidr(text);
  return c ? formatCidr(c) : undefined;
}

export function rangeContains(r: IpRange, ip: IpAddress): boolean {
  return r.family === ip.family && ip.value >= r.first && ip.value <= r.last;
}

export function cidrContains(c: Cidr, ip: IpAddress): boolean {
  return rangeContains(cidrRange(c), ip);
}

/** `outer` minus every range in `holes`: sorted, disjoint ranges. */
export function subtractRanges(outer: IpRange, holes: readonly IpRange[]): IpRange[] {
  const sorted = holes.filter((h) => h.family === outer.family).sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: IpRange[] = [];
  let cursor = outer.first;
  for (const h of sorted) {
    if (h.last < cursor || h.first > outer.last) continue;
    if (h.first > cursor) out.push({ family: outer.family, first: cursor, last: h.first - 1n });
    if (h.last >= outer.last) return out;
    cursor = h.last + 1n > cursor ? h.last + 1n : cursor;
  }
  if (cursor <= outer.last) out.push({ family: outer.family, first: cursor, last: outer.last });
  return out;
}

/** Splits an inclusive range into the fewest CIDR prefixes (for LPM tries and nft prefixes). */
export function rangeToCidrs(r: IpRange): Cidr[] {
  const out: Cidr[] = [];
  const total = bits(r.family);
  let first = r.first;
  while (first <= r.last) {
    let size = 0;
    while (size < total) {
      const next = size + 1;
      const block = 1n << BigInt(next);
      if ((first & (block - 1n)) !== 0n || first + block - 1n > r.last) break;
      size = next;
    }
    out.push({ family: r.family, network: first, prefix: total - size });
    first += 1n << BigInt(size);
  }
  return out;
}

export function formatRange(r: IpRange): string {
  return `${formatIp({ family: r.family, value: r.first })}-${formatIp({ family: r.family, value: r.last })}`;
}

/**
 * An IPv4 address as a plain number, for hot loops over many pod addresses: accepts exactly
 * the texts parseIp reads as IPv4 (four decimal octets 0-255, no leading zeros), else undefined.
 */
export function parseIpv4Number(text: string): number | undefined {
  const n = text.length;
  if (n < 7 || n > 15) return undefined;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 46; // the end closes the last octet like a '.'
    if (c === 46) {
      if (digits === 0 || octet > 255 || ++parts > 4) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if ((digits === 1 && octet === 0) || ++digits > 3) return undefined; // leading zero, or too long
      octet = octet * 10 + (c - 48);
    } else return undefined;
  }
  return parts === 4 ? value : undefined;
}

/** formatIp of an IPv4 address held as a number (0 .. 2^32-1). */
export function formatIpv4Number(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}
