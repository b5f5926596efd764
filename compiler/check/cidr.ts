// CIDR parsing exactly as the two validators policyc mirrors do it:
// - NetworkPolicy ipBlock (cidr, except): the API server's legacy rule, k8s.io/utils/net
//   ParseCIDRSloppy (Go 1.16 net.ParseCIDR: IPv4 octets may have leading zeros, read as
//   decimal; IPv4-mapped IPv6 is allowed). Host bits may be set ("10.244.1.10/4" is accepted
//   and means 0.0.0.0/4). `except` must be a strict subset of `cidr`, tested as Go does with
//   IPNet.Contains and the prefix lengths.
// - AdminNetworkPolicy networks: the CRD's CEL isCIDR(), i.e. Go's netip.ParsePrefix (no
//   leading zeros, no zone) and no IPv4-mapped IPv6. Host bits may be set here too.

export interface IPNet {
  /** The masked network address: 4 bytes for an IPv4 CIDR, 16 for an IPv6 one (as Go's IPNet.IP). */
  ip: Uint8Array;
  mask: Uint8Array;
  prefix: number;
  family: 4 | 6;
}

export interface CidrParse {
  net?: IPNet;
  /** Why the value is rejected, when it is. */
  error?: string;
  /** Accepted, but the API server warns about this legacy form. */
  warning?: string;
}

const V4_IN_V6_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
const BIG = 0xffffff;

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function hexValue(c: string | undefined): number {
  if (c === undefined) return -1;
  if (c >= '0' && c <= '9') return c.charCodeAt(0) - 48;
  if (c >= 'a' && c <= 'f') return c.charCodeAt(0) - 87;
  if (c >= 'A' && c <= 'F') return c.charCodeAt(0) - 55;
  return -1;
}

/** Go's dtoi: decimal prefix of s; [value, digits consumed, ok]. */
function dtoi(s: string): [number, number, boolean] {
  let n = 0;
  let i = 0;
  for (; i < s.length && isDigit(s[i]); i++) {
    n = n * 10 + (s.charCodeAt(i) - 48);
    if (n >= BIG) return [BIG, i, false];
  }
  return i === 0 ? [0, 0, false] : [n, i, true];
}

/** Go's xtoi: hexadecimal prefix of s. */
function xtoi(s: string): [number, number, boolean] {
  let n = 0;
  let i = 0;
  for (; i < s.length && hexValue(s[i]) >= 0; i++) {
    n = n * 16 + hexValue(s[i]);
    if (n >= BIG) return [0, i, false];
  }
  return i === 0 ? [0, i, false] : [n, i, true];
}

/** Go 1.16 parseIPv4, returning the 16-byte IPv4-in-IPv6 form. */
function parseIPv4Sloppy(s: string): Uint8Array | null {
  const ip = new Uint8Array(16);
  ip.set(V4_IN_V6_PREFIX);
  for (let i = 0; i < 4; i++) {
    if (s.length === 0) return null;
    if (i > 0) {
      if (s[0] !== '.') return null;
      s = s.slice(1);
    }
    const [n, c, ok] = dtoi(s);
    if (!ok || n > 0xff) return null;
    s = s.slice(c);
    ip[12 + i] = n;
  }
  return s.length === 0 ? ip : null;
}

/** Go 1.16 parseIPv6 (no zone). */
function parseIPv6Sloppy(s: string): Uint8Array | null {
  const ip = new Uint8Array(16);
  let ellipsis = -1;
  if (s.length >= 2 && s[0] === ':' && s[1] === ':') {
    ellipsis = 0;
    s = s.slice(2);
    if (s.length === 0) return ip;
  }
  let i = 0;
  while (i < 16) {
    const [n, c, ok] = xtoi(s);
    if (!ok || n > 0xffff) return null;
    if (c < s.length && s[c] === '.') {
      if (ellipsis < 0 && i !== 12) return null;
      if (i + 4 > 16) return null;
      const ip4 = parseIPv4Sloppy(s);
      if (ip4 === null) return null;
      ip.set(ip4.subarray(12), i);
      s = '';
      i += 4;
      break;
    }
    ip[i] = n >> 8;
    ip[i + 1] = n & 0xff;
    i += 2;
    s = s.slice(c);
    if (s.length === 0) break;
    if (s[0] !== ':' || s.length === 1) return null;
    s = s.slice(1);
    if (s[0] === ':') {
      if (ellipsis >= 0) return null;
      ellipsis = i;
      s = s.slice(1);
      if (s.length === 0) break;
    }
  }
  if (s.length !== 0) return null;
  if (i < 16) {
    if (ellipsis < 0) return null;
    const n = 16 - i;
    for (let j = i - 1; j >= ellipsis; j--) ip[j + n] = ip[j];
    for (let j = ellipsis + n - 1; j >= ellipsis; j--) ip[j] = 0;
  } else if (ellipsis >= 0) {
    return null;
  }
  return ip;
}

function cidrMask(ones: number, bits: number): Uint8Array {
  const m = new Uint8Array(bits / 8);
  for (let i = 0; i < m.length; i++) {
    const take = Math.max(0, Math.min(8, ones - i * 8));
    m[i] = take === 0 ? 0 : (0xff << (8 - take)) & 0xff;
  }
  return m;
}

function isV4InV6(ip: Uint8Array): boolean {
  return ip.length === 16 && V4_IN_V6_PREFIX.every((b, i) => ip[i] === b);
}

/** Go's IP.Mask. */
function maskIP(ip: Uint8Array, mask: Uint8Array): Uint8Array | null {
  if (mask.length === 16 && ip.length === 4 && mask.subarray(0, 12).every((b) => b === 0xff)) mask = mask.subarray(12);
  if (mask.length === 4 && ip.length === 16 && isV4InV6(ip)) ip = ip.subarray(12);
  if (ip.length !== mask.length) return null;
  return ip.map((b, i) => b & mask[i]);
}

function makeNet(ip: Uint8Array, ipLen: 4 | 16, prefix: number): IPNet | undefined {
  const mask = cidrMask(prefix, ipLen * 8);
  const masked = maskIP(ip, mask);
  return masked ? { ip: masked, mask, prefix, family: ipLen === 4 ? 4 : 6 } : undefined;
}

const INVALID = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';

/** NetworkPolicy ipBlock parsing (ParseCIDRSloppy), with the API server's warnings. */
export function parseCidrSloppy(value: string): CidrParse {
  const slash = value.indexOf('/');
  if (slash < 0) return { error: INVALID };
  const addr = value.slice(0, slash);
  const maskText = value.slice(slash + 1);
  let ipLen: 4 | 16 = 4;
  let ip = parseIPv4Sloppy(addr);
  if (ip === null) {
    ipLen = 16;
    ip = parseIPv6Sloppy(addr);
  }
  const [n, consumed, ok] = dtoi(maskText);
  if (ip === null || !ok || consumed !== maskText.length || n < 0 || n > ipLen * 8) return { error: INVALID };
  const net = makeNet(ip, ipLen, n);
  if (!net) return { error: INVALID };
  const strict = parseCidrStrict(value);
  let warning: string | undefined;
  if (strict.error !== undefined) {
    warning = `non-standard CIDR value: it will be considered invalid in a future Kubernetes release (${strict.error})`;
  }
  return { net, warning };
}

/** netip.ParseAddr for IPv4: exactly four decimal fields, no leading zeros. */
function parseIPv4Strict(s: string): Uint8Array | string {
  const ip = new Uint8Array(4);
  let field = 0;
  let val = 0;
  let digits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (isDigit(c)) {
      if (digits === 1 && val === 0) return 'IPv4 field has octet with leading zero';
      val = val * 10 + (c.charCodeAt(0) - 48);
      digits++;
      if (val > 255) return 'IPv4 field has value >255';
    } else if (c === '.') {
      if (i === 0 || i === s.length - 1 || s[i - 1] === '.') return 'IPv4 field must have at least one digit';
      if (field === 3) return 'IPv4 address too long';
      ip[field++] = val;
      val = 0;
      digits = 0;
    } else {
      return 'unexpected character';
    }
  }
  if (field < 3) return 'IPv4 address too short';
  ip[3] = val;
  return ip;
}

/** netip.ParseAddr for IPv6 (zones are not allowed in a prefix). */
function parseIPv6Strict(s: string): Uint8Array | string {
  const ip = new Uint8Array(16);
  let ellipsis = -1;
  if (s.length >= 2 && s[0] === ':' && s[1] === ':') {
    ellipsis = 0;
    s = s.slice(2);
    if (s.length === 0) return ip;
  }
  let i = 0;
  while (i < 16) {
    let off = 0;
    let acc = 0;
    for (; off < s.length; off++) {
      const h = hexValue(s[off]);
      if (h < 0) break;
      if (off > 3) return 'each colon-separated field must have at most 4 hex digits';
      acc = acc * 16 + h;
    }
    if (off === 0) return 'each colon-separated field must have at least one digit';
    if (off < s.length && s[off] === '.') {
      if (ellipsis < 0 && i !== 12) return 'embedded IPv4 address must replace the final 2 fields of the address';
      if (i + 4 > 16) return 'too many hex fields to fit an embedded IPv4 at the end of the address';
      const ip4 = parseIPv4Strict(s);
      if (typeof ip4 === 'string') return ip4;
      ip.set(ip4, i);
      i += 4;
      s = '';
      break;
    }
    ip[i] = acc >> 8;
    ip[i + 1] = acc & 0xff;
    i += 2;
    s = s.slice(off);
    if (s.length === 0) break;
    if (s[0] !== ':') return 'unexpected character, want colon';
    if (s.length === 1) return 'colon must be followed by more characters';
    s = s.slice(1);
    if (s[0] === ':') {
      if (ellipsis >= 0) return 'multiple :: in address';
      ellipsis = i;
      s = s.slice(1);
      if (s.length === 0) break;
    }
  }
  if (s.length !== 0) return 'trailing garbage after address';
  if (i < 16) {
    if (ellipsis < 0) return 'address string too short';
    const n = 16 - i;
    for (let j = i - 1; j >= ellipsis; j--) ip[j + n] = ip[j];
    ip.fill(0, ellipsis, ellipsis + n);
  } else if (ellipsis >= 0) {
    return 'the :: must expand to at least one field of zeros';
  }
  return ip;
}

/** AdminNetworkPolicy networks parsing: CEL isCIDR (netip.ParsePrefix, no IPv4-mapped IPv6). */
export function parseCidrStrict(value: string): CidrParse {
  const slash = value.lastIndexOf('/');
  if (slash < 0) return { error: 'no \'/\'' };
  const addr = value.slice(0, slash);
  const bitsText = value.slice(slash + 1);
  // netip.ParseAddr picks the family from the first '.', ':' or '%'.
  const first = /[.:%]/.exec(addr)?.[0];
  let ip: Uint8Array | string;
  if (addr.includes('%')) ip = 'zones cannot be present in a prefix';
  else if (first === ':') ip = parseIPv6Strict(addr);
  else if (first === '.') ip = parseIPv4Strict(addr);
  else ip = 'unable to parse IP';
  if (typeof ip === 'string') return { error: ip };
  if (!/^(0|[1-9][0-9]*)$/.test(bitsText)) return { error: 'bad bits after slash' };
  const bits = Number(bitsText);
  const ipLen = ip.length === 4 ? 4 : 16;
  if (bits > ipLen * 8) return { error: 'prefix length out of range' };
  if (ipLen === 16 && isV4InV6(ip)) return { error: 'IPv4-mapped IPv6 address is not allowed' };
  const net = makeNet(ip, ipLen, bits);
  return net ? { net } : { error: 'invalid CIDR' };
}

function to4(ip: Uint8Array): Uint8Array | null {
  if (ip.length === 4) return ip;
  return isV4InV6(ip) ? ip.subarray(12) : null;
}

/** Go's IPNet.Contains. */
export function netContains(n: IPNet, address: Uint8Array): boolean {
  let nn = to4(n.ip);
  if (nn === null) {
    nn = n.ip;
    if (nn.length !== 16) return false;
  }
  let m = n.mask;
  if (m.length === 4 && nn.length !== 4) return false;
  if (m.length === 16 && nn.length === 4) m = m.subarray(12);
  const ip = to4(address) ?? address;
  if (ip.length !== nn.length) return false;
  for (let i = 0; i < ip.length; i++) if ((nn[i] & m[i]) !== (ip[i] & m[i])) return false;
  return true;
}

/** ValidateIPBlock's test: `except` must be a strict subset of `cidr`. */
export function isStrictSubnet(outer: IPNet, inner: IPNet): boolean {
  return netContains(outer, inner.ip) && outer.prefix < inner.prefix;
}

/** The canonical text of a network, e.g. "10.0.0.0/8" or "fd00::/8". */
export function formatNet(n: IPNet): string {
  const v4 = to4(n.ip);
  if (v4 && n.ip.length === 4) return `${Array.from(v4).join('.')}/${n.prefix}`;
  if (v4 && n.prefix >= 96) return `${Array.from(v4).join('.')}/${n.prefix - 96}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((n.ip[i] << 8) | n.ip[i + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  const text = bestStart < 0
    ? hex.join(':')
    : `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
  return `${text}/${n.prefix}`;
}
