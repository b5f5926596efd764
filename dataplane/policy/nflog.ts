// Drop samples: every drop_<cookie> chain logs a rate-limited sample (default 10/s, burst 5 per
// rule) to NFLOG group 1 with the prefix "policyc drop <cookie> <rule id> " (isolation drops:
// "policyc drop isolated <direction> "). A reader turns them into DropSample events so that
// `policyc observe` can later explain a drop with the YAML lines of its rule (rules.json origins).
//
// What ships: nflog/policyc-nflog.c, a small C program on a raw NETLINK_NETFILTER socket (no
// libnetfilter_log; Node cannot open that socket without a native addon) that binds the group
// inside the node netns and prints one JSON line per sample; nflog-reader.ts (NflogReader, a
// DropSampleSource) runs it and turns the lines into DropSamples with the packet's addresses,
// protocol and ports decoded here (decodeHeaders). The engine keeps the last samples
// (RecentDrops: `recentDrops` in status, `policyc_drop_samples_total` in metrics). Samples are
// rate-limited by the ruleset and can be lost (socket overrun); the kernel counters read by
// metrics.ts remain the exact figures.
import { formatIp } from '../../compiler/ir/cidr.js';

export interface DropSample {
  /** 8 hex digits, or undefined for an isolation drop */
  cookie?: string;
  ruleId?: string;
  /** for isolation drops */
  isolated?: 'egress' | 'ingress';
  /** the isolated direction, or the rule's (its id's `/ingress/` or `/egress/` segment) */
  direction?: 'egress' | 'ingress';
  at: Date;
  /** raw packet headers when the reader has them (from the network header on) */
  payload?: Buffer;
  /** decoded from payload by the NFLOG reader when it could be */
  family?: 4 | 6;
  src?: string;
  dst?: string;
  /** 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6', else the IP protocol number as text */
  protocol?: string;
  sport?: number;
  dport?: number;
  /** interface indexes in the netns the sample was taken in (0 or undefined: none) */
  indev?: number;
  outdev?: number;
}

/** Something that delivers samples (a netlink reader, a test double). */
export interface DropSampleSource {
  start(onSample: (sample: DropSample) => void): Promise<{ stop(): Promise<void> }>;
}

/** Parses an NFLOG prefix written by the ruleset; undefined for anything else. */
export function parseDropPrefix(prefix: string, at = new Date()): DropSample | undefined {
  const text = prefix.trim();
  const iso = /^policyc drop isolated (egress|ingress)$/.exec(text);
  if (iso) return { isolated: iso[1] as 'egress' | 'ingress', direction: iso[1] as 'egress' | 'ingress', at };
  const m = /^policyc drop ([0-9a-f]{8}) (.+)$/.exec(text);
  if (!m) return undefined;
  const dir = /\/(ingress|egress)\//.exec(m[2]);
  return dir ? { cookie: m[1], ruleId: m[2], direction: dir[1] as 'egress' | 'ingress', at } : { cookie: m[1], ruleId: m[2], at };
}

const PROTOCOLS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp' };
const WITH_PORTS = new Set([6, 17, 132]);
/** IPv6 extension headers walked to reach the transport header */
const V6_EXT = new Set([0, 43, 60]);

function address(bytes: Buffer): string {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return formatIp({ family: bytes.length === 4 ? 4 : 6, value });
}

type Headers = Pick<DropSample, 'family' | 'src' | 'dst' | 'protocol' | 'sport' | 'dport'>;

/** Addresses, protocol and ports of a packet that starts at its IPv4/IPv6 header; {} when it does not parse. */
export function decodeHeaders(p: Buffer): Headers {
  const version = p.length > 0 ? p[0] >> 4 : 0;
  let proto: number;
  let l4: number | undefined;
  const out: Headers = {};
  if (version === 4 && p.length >= 20) {
    out.family = 4;
    out.src = address(p.subarray(12, 16));
    out.dst = address(p.subarray(16, 20));
    proto = p[9];
    const fragOffset = p.readUInt16BE(6) & 0x1fff;
    if (fragOffset === 0) l4 = (p[0] & 0x0f) * 4;
  } else if (version === 6 && p.length >= 40) {
    out.family = 6;
    out.src = address(p.subarray(8, 24));
    out.dst = address(p.subarray(24, 40));
    proto = p[6];
    let off = 40;
    for (;;) {
      if (V6_EXT.has(proto) && off + 2 <= p.length) {
        const next = p[off];
        off += (p[off + 1] + 1) * 8;
        proto = next;
      } else if (proto === 51 && off + 2 <= p.length) {
        const next = p[off];
        off += (p[off + 1] + 2) * 4;
        proto = next;
      } else if (proto === 44 && off + 8 <= p.length) {
        const next = p[off];
        const fragOffset = p.readUInt16BE(off + 2) >> 3;
        off += 8;
        proto = next;
        if (fragOffset !== 0) break;
      } else {
        l4 = off;
        break;
      }
    }
  } else {
    return {};
  }
  out.protocol = PROTOCOLS[proto] ?? String(proto);
  if (l4 !== undefined && WITH_PORTS.has(proto) && l4 + 4 <= p.length) {
    out.sport = p.readUInt16BE(l4);
    out.dport = p.readUInt16BE(l4 + 2);
  }
  return out;
}

/** A sample as status shows it. */
export interface RecentDrop {
  ruleId: string;
  cookie?: string;
  isolated?: 'egress' | 'ingress';
  direction?: 'egress' | 'ingress';
  src?: string;
  dst?: string;
  protocol?: string;
  sport?: number;
  dport?: number;
  at: string;
}

/** Rule id as metrics label it: the rule's id, or `isolated:<direction>` (as policyc_drops_total). */
export function sampleRuleId(s: DropSample): string {
  return s.ruleId ?? (s.isolated ? `isolated:${s.isolated}` : `cookie:${s.cookie ?? 'unknown'}`);
}

/** The engine's memory of samples: the last `size` ones, and a count per rule id since start. */
export class RecentDrops {
  private readonly ring: DropSample[] = [];
  readonly totals = new Map<string, number>();

  constructor(private readonly size = 100) {}

  add(s: DropSample): void {
    this.ring.push(s);
    if (this.ring.length > this.size) this.ring.shift();
    const id = sampleRuleId(s);
    this.totals.set(id, (this.totals.get(id) ?? 0) + 1);
  }

  /** newest first */
  list(): RecentDrop[] {
    return this.ring
      .map((s) => {
        const d: RecentDrop = { ruleId: sampleRuleId(s), at: s.at.toISOString() };
        if (s.cookie) d.cookie = s.cookie;
        if (s.isolated) d.isolated = s.isolated;
        for (const k of ['direction', 'src', 'dst', 'protocol', 'sport', 'dport'] as const) if (s[k] !== undefined) (d as unknown as Record<string, unknown>)[k] = s[k];
        return d;
      })
      .reverse();
  }
}
