// What the engine believes the kernel holds, and how to compare that with what nft lists.
//
// The model is exact: the table name, the artifact whose skeleton was loaded, and either the
// Membership whose elements were loaded (so a change is a membershipDiff away) or the artifact's
// own snapshot elements (opaque: any change then needs a full replace).
//
// nft lists a table in its own notation (classid as "8fb7:4592", l4proto by name, a range that is
// a CIDR as a prefix, implicit matches dropped from rules), so the two halves are compared
// differently:
//   - rules, chains and map declarations: the listing is fingerprinted right after a full
//     replace (handles and counter values removed) and the fingerprint is persisted with the
//     last good artifact; on restart the kernel's current fingerprint must match it;
//   - elements: both sides are reduced to numeric intervals per key component (typed by the
//     map declaration), so an emitted element and its listing compare equal.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Membership } from '../../compiler/emit/membership.js';
import type { NftCommand } from '../../compiler/emit/nftables/schema.js';
import { parseIp } from '../../compiler/ir/cidr.js';

export interface KernelModel {
  table: string;
  artifactHash: string;
  /** undefined: the elements are the artifact's snapshot elements (opaque) */
  membership?: Membership;
  /** cluster generation the membership was computed from */
  generation: number;
  loadedAt: Date;
  /** fingerprint of the rules half of the listing, taken after the full replace */
  rulesFingerprint?: string;
}

type Listing = { nftables: Array<Record<string, any>> };

function stripVolatile(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripVolatile);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === 'handle' || k === 'elem') continue;
      if (k === 'counter' && v && typeof v === 'object') {
        out[k] = { packets: 0, bytes: 0 };
        continue;
      }
      out[k] = stripVolatile(v);
    }
    return out;
  }
  return value;
}

/** Tables, chains, map/set declarations and rules of a listing, without handles, counters and elements. */
export function rulesPart(listing: Listing): unknown[] {
  return listing.nftables.filter((o) => !('metainfo' in o)).map(stripVolatile);
}

export function rulesFingerprint(listing: Listing): string {
  return createHash('sha256').update(JSON.stringify(rulesPart(listing))).digest('hex');
}

// ---- elements as numeric intervals

let protocolNumbers: Map<string, number> | undefined;

function protocolNumber(name: string): number | undefined {
  if (!protocolNumbers) {
    protocolNumbers = new Map([
      ['icmp', 1],
      ['tcp', 6],
      ['udp', 17],
      ['ipv6-icmp', 58],
      ['sctp', 132],
    ]);
    try {
      for (const line of readFileSync('/etc/protocols', 'utf8').split('\n')) {
        const m = /^([A-Za-z0-9._+-]+)\s+(\d+)/.exec(line);
        if (m && !protocolNumbers.has(m[1])) protocolNumbers.set(m[1], Number(m[2]));
      }
    } catch {}
  }
  return protocolNumbers.get(name);
}

function scalar(type: string, v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') return JSON.stringify(v);
  if (type === 'ipv4_addr' || type === 'ipv6_addr') {
    const ip = parseIp(v);
    return ip ? ip.value.toString() : v;
  }
  if (type === 'classid') {
    if (v === 'none') return '0';
    const m = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(v);
    return m ? String(((parseInt(m[1], 16) << 16) | parseInt(m[2], 16)) >>> 0) : v;
  }
  if (type === 'inet_proto') {
    const n = protocolNumber(v);
    return n === undefined ? v : String(n);
  }
  return /^\d+$/.test(v) ? v : v;
}

function interval(type: string, v: unknown): string {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, any>;
    if (o.range) return `${scalar(type, o.range[0])}-${scalar(type, o.range[1])}`;
    if (o.prefix) {
      const ip = parseIp(String(o.prefix.addr));
      if (ip) {
        const bits = ip.family === 4 ? 32 : 128;
        const host = BigInt(bits - Number(o.prefix.len));
        const first = (ip.value >> host) << host;
        return `${first}-${first + (1n << host) - 1n}`;
      }
    }
    if (o.elem) return interval(type, o.elem.val);
  }
  const s = scalar(type, v);
  return `${s}-${s}`;
}

function verdictOrValue(type: string | undefined, v: unknown): string {
  if (v && typeof v === 'object') return JSON.stringify(v);
  return type ? scalar(type, v) : JSON.stringify(v);
}

export interface MapType {
  key: string | string[];
  value?: string;
}

/** One element (set member or [key, value]) as a comparable string. */
export function elementKey(t: MapType, e: unknown): string {
  let key: unknown = e;
  let value: unknown;
  if (t.value !== undefined && Array.isArray(e)) [key, value] = e;
  if (key && typeof key === 'object' && !Array.isArray(key) && 'elem' in (key as object)) key = (key as any).elem.val;
  let k: string;
  if (Array.isArray(t.key)) {
    const parts = (key as any)?.concat;
    k = Array.isArray(parts) ? parts.map((p: unknown, i: number) => interval((t.key as string[])[i] ?? '', p)).join(' . ') : JSON.stringify(key);
  } else {
    k = interval(t.key, key);
  }
  return value === undefined ? k : `${k} : ${verdictOrValue(t.value === 'verdict' ? undefined : t.value, value)}`;
}

/** Map/set name -> key/value types, from declarations (commands or a listing). */
export function mapTypes(objects: ReadonlyArray<Record<string, any>>): Map<string, MapType> {
  const out = new Map<string, MapType>();
  for (const o of objects) {
    const decl = o.add?.map ?? o.add?.set ?? o.map ?? o.set;
    if (decl && typeof decl.name === 'string' && decl.type !== undefined) out.set(decl.name, { key: decl.type, value: decl.map });
  }
  return out;
}

/** name -> sorted element keys, from `add element` commands. */
export function elementsOfCommands(types: ReadonlyMap<string, MapType>, cmds: readonly NftCommand[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const c of cmds as unknown as Array<Record<string, any>>) {
    const el = c.add?.element;
    if (!el) continue;
    const t = types.get(el.name);
    if (!t) continue;
    const list = out.get(el.name) ?? [];
    for (const e of el.elem) list.push(elementKey(t, e));
    out.set(el.name, list);
  }
  for (const list of out.values()) list.sort();
  return out;
}

/** name -> sorted element keys, from a full (non-terse) listing. */
export function elementsOfListing(listing: Listing): Map<string, string[]> {
  const types = mapTypes(listing.nftables);
  const out = new Map<string, string[]>();
  for (const o of listing.nftables) {
    const decl = o.map ?? o.set;
    if (!decl) continue;
    const t = types.get(decl.name)!;
    out.set(decl.name, ((decl.elem ?? []) as unknown[]).map((e) => elementKey(t, e)).sort());
  }
  return out;
}

/** Whether two element maps hold the same elements (maps absent on one side count as empty). */
export function sameElements(a: ReadonlyMap<string, string[]>, b: ReadonlyMap<string, string[]>): { same: boolean; detail?: string } {
  for (const name of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(name) ?? [];
    const y = b.get(name) ?? [];
    if (x.length !== y.length) return { same: false, detail: `${name}: ${x.length} vs ${y.length} elements` };
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return { same: false, detail: `${name}: ${x[i]} vs ${y[i]}` };
  }
  return { same: true };
}

/** A listing reduced to a comparable text (rules part + elements): for tests and resync. */
export function normalizeListing(listing: Listing): string {
  const elements = elementsOfListing(listing);
  return JSON.stringify({ rules: rulesPart(listing), elements: [...elements.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)) });
}
