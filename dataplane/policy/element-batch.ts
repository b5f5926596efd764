// Element batches that bypass libnftables: the binary request of policyc-nft (flag bit 1; format
// in helper/policyc-nft.c, sent to the kernel as one nfnetlink batch by helper/element-batch.c).
//
// Why: libnftables fetches the table's whole cache, chains included, for every batch, since each
// of our batches changes the generation id it revalidates against. A 1-element batch cost 0.29
// ms with 0 chains, 0.70 ms with 500, 2.57 ms with 2,000 (and `nft` per batch +10 ms at
// 10,000); the table has one chain per deciding rule (1,147 at 5k pods / 1k policies, 10,809 at
// 50k / 10k), so a one-pod change could not meet 10 ms on a large cluster. Adds and deletes of
// set/map elements need none of that cache: encoded here in the kernel's layout, they are one
// nfnetlink transaction, all or nothing, exactly as the libnftables batch was.
//
// Taken: batches whose every command is an `add`/`delete element` on a set or map of the table
// that is either a hash (no flags) or a concatenation with intervals (`flags interval` on a
// concatenated type: nft_set_pipapo, the `*_ports` maps), with every element in a form encoded
// here. A pipapo element is sent as nft sends it: its key (every field's start) and its key end
// (every field's end; a field given as a single value ends where it starts), for adds and
// deletes alike. Left to libnftables, the whole batch, so it stays one transaction: a
// single-field interval set (nft_set_rbtree, the world ranges: nft sends those as pairs of
// start/end elements with its own merging rules), a prefix, a name this module does not know, a
// type it cannot encode. The set types come from the artifact's own `add map`/`add set` commands,
// never from a copy of ruleset.ts's names.
//
// Why pipapo matters: a pod of this node gaining a subject identity brings new port profiles,
// and their elements made the batch take libnftables: 19.6 ms median, 73 ms p90 at 50k pods /
// 10k policies (10,809 chains fetched per batch; a delete also re-reads the whole set).
//
// Byte layouts, as nft sends them (checked with `nft --debug=netlink,mnl`, and by listing back
// tables filled both ways: element-batch.test.ts): ipv4_addr/ipv6_addr and inet_service in
// network order; mark and classid 32-bit in host order, but in network order in the key of an
// interval set (nft byte-swaps the register before such a lookup, so that ranges compare as
// numbers); inet_proto one byte; a concatenation's fields each padded with zeros to 4 bytes
// (NFT_REG32); a set's key without padding.
import { endianness } from 'node:os';
import type { NftCommand, NftDocument } from '../../compiler/emit/nftables/schema.js';
import { parseIp, parseIpv4Number } from '../../compiler/ir/cidr.js';

/** policyc-nft's request flag for a binary element batch. */
export const ELEMENT_BATCH_FLAG = 2;
/** What a helper that takes this module's batches answers (version 1 took no key ends: not used). */
export const ELEMENT_BATCH_HELLO = 'policyc-nft netlink-elements 2';

type FieldType = 'ipv4_addr' | 'ipv6_addr' | 'mark' | 'classid' | 'inet_proto' | 'inet_service';

interface Field {
  /** bytes of the value itself (a concatenation pads each field to 4) */
  bytes: number;
  /**
   * writes v at off; false: not a value this module encodes (the batch goes to libnftables).
   * `network`: a host-order field (mark, classid) in network order, as nft writes every key field
   * of an interval set (the rule converts the register with `byteorder` before the lookup), so
   * that the kernel's byte comparison of range ends is numeric.
   */
  write(v: unknown, buf: Buffer, off: number, network?: boolean): boolean;
}

const HOST_LE = endianness() === 'LE';

function u32Host(v: unknown, buf: Buffer, off: number, network = false): boolean {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) return false;
  if (HOST_LE && !network) buf.writeUInt32LE(v, off);
  else buf.writeUInt32BE(v, off);
  return true;
}

const FIELDS: Record<FieldType, Field> = {
  ipv4_addr: {
    bytes: 4,
    write: (v, buf, off) => {
      const n = typeof v === 'string' ? parseIpv4Number(v) : undefined;
      if (n === undefined) return false;
      buf.writeUInt32BE(n, off);
      return true;
    },
  },
  ipv6_addr: {
    bytes: 16,
    write: (v, buf, off) => {
      const ip = typeof v === 'string' ? parseIp(v) : undefined;
      if (!ip || ip.family !== 6) return false;
      buf.writeBigUInt64BE(ip.value >> 64n, off);
      buf.writeBigUInt64BE(ip.value & 0xffff_ffff_ffff_ffffn, off + 8);
      return true;
    },
  },
  mark: { bytes: 4, write: u32Host },
  classid: { bytes: 4, write: u32Host },
  inet_proto: {
    bytes: 1,
    write: (v, buf, off) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) return false;
      buf.writeUInt8(v, off);
      return true;
    },
  },
  inet_service: {
    bytes: 2,
    write: (v, buf, off) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) return false;
      buf.writeUInt16BE(v, off);
      return true;
    },
  },
};

/** A set or map of the table this module writes elements of, as the kernel lays out their keys and data. */
export interface KernelSet {
  /** one field, or the fields of a concatenation */
  key: readonly FieldType[];
  concat: boolean;
  /** a concatenation with intervals (nft_set_pipapo): every element carries its key's end too */
  interval: boolean;
  /** bytes of a key (a concatenation: each field padded to 4) */
  keyBytes: number;
  /** 'none': a set; 'verdict': a verdict map; else the data type of a map */
  data: 'none' | 'verdict' | FieldType;
}

/** The table's sets and maps the fast path may touch, by name. */
export interface ElementTarget {
  table: string;
  sets: ReadonlyMap<string, KernelSet>;
}

const cache = new WeakMap<readonly NftCommand[], ElementTarget | undefined>();

/**
 * The sets/maps an artifact's skeleton declares as hashes (`add map`/`add set` without flags) or
 * as concatenations with intervals (flags exactly `interval`), whose key and data types are all
 * encoded here. Undefined: none.
 */
export function elementTarget(skeleton: readonly NftCommand[]): ElementTarget | undefined {
  if (cache.has(skeleton)) return cache.get(skeleton);
  let table: string | undefined;
  const sets = new Map<string, KernelSet>();
  for (const c of skeleton as unknown as Array<Record<string, any>>) {
    const decl = c.add?.map ?? c.add?.set;
    if (!decl || decl.family !== 'inet' || typeof decl.name !== 'string' || typeof decl.table !== 'string') continue;
    if (table !== undefined && decl.table !== table) return remember(skeleton, undefined); // one table only
    table = decl.table;
    const s = kernelSet(decl);
    if (s) sets.set(decl.name, s);
  }
  return remember(skeleton, table !== undefined && sets.size > 0 ? { table, sets } : undefined);
}

function remember(skeleton: readonly NftCommand[], t: ElementTarget | undefined): ElementTarget | undefined {
  cache.set(skeleton, t);
  return t;
}

function isField(t: unknown): t is FieldType {
  return typeof t === 'string' && Object.hasOwn(FIELDS, t);
}

function kernelSet(decl: Record<string, any>): KernelSet | undefined {
  const flags: unknown = decl.flags ?? [];
  if (!Array.isArray(flags)) return undefined;
  const concat = Array.isArray(decl.type);
  const interval = flags.length === 1 && flags[0] === 'interval';
  if (flags.length > 0 && !(interval && concat)) return undefined; // rbtree intervals, timeouts, constants...
  const key: unknown[] = concat ? decl.type : [decl.type];
  if (key.length === 0 || !key.every(isField)) return undefined;
  const fields = key as FieldType[];
  const data = decl.map === undefined ? 'none' : decl.map === 'verdict' ? 'verdict' : isField(decl.map) && FIELDS[decl.map].bytes === 4 ? decl.map : undefined;
  if (!data) return undefined;
  const keyBytes = concat ? fields.reduce((n, f) => n + ((FIELDS[f].bytes + 3) & ~3), 0) : FIELDS[fields[0]].bytes;
  return { key: fields, concat, interval, keyBytes, data };
}

const OP = { delete: 0, add: 1 } as const;
const DATA_KIND = { none: 0, value: 1, goto: 2, jump: 3 } as const;
/** set in the data-kind byte: each key is followed by its end (same length) */
const WITH_KEY_END = 0x80;
/** chain, set and table names: what the helper accepts (1..255 bytes, no NUL) */
const MAX_NAME = 255;

/**
 * The binary request body for `doc` when every command is an add/delete element on a set of
 * `target` and every element is encoded here; undefined otherwise (send the JSON through
 * libnftables). Commands keep their order (deletes before adds, as rendered).
 */
export function encodeElementBatch(doc: NftDocument, target: ElementTarget): Buffer | undefined {
  const parts: Buffer[] = [];
  let commands = 0;
  for (const c of doc.nftables as unknown as Array<Record<string, any>>) {
    if (c.metainfo !== undefined && Object.keys(c).length === 1) continue;
    const verbs = Object.keys(c);
    if (verbs.length !== 1 || (verbs[0] !== 'add' && verbs[0] !== 'delete')) return undefined;
    const verb = verbs[0] as 'add' | 'delete';
    const objects = Object.keys(c[verb] ?? {});
    if (objects.length !== 1 || objects[0] !== 'element') return undefined;
    const el = c[verb].element;
    if (el?.family !== 'inet' || el.table !== target.table || typeof el.name !== 'string' || !Array.isArray(el.elem)) return undefined;
    const set = target.sets.get(el.name);
    if (!set || el.elem.length === 0) return undefined;
    const encoded = encodeCommand(verb, el.name, set, el.elem);
    if (!encoded) return undefined;
    parts.push(encoded);
    commands++;
  }
  if (commands === 0) return undefined;
  const table = Buffer.from(target.table, 'utf8');
  if (!validName(table)) return undefined;
  const head = Buffer.alloc(1 + table.length + 4);
  head.writeUInt8(table.length, 0);
  table.copy(head, 1);
  head.writeUInt32BE(commands, 1 + table.length);
  return Buffer.concat([head, ...parts]);
}

function validName(b: Buffer): boolean {
  return b.length >= 1 && b.length <= MAX_NAME && !b.includes(0);
}

/**
 * A zero-filled output that grows by doubling: one buffer per command instead of one per element
 * (5,435 elements at 50k pods: Buffer.concat of ~11,000 small buffers took 1.5-2 ms).
 */
class Output {
  buf: Buffer;
  len = 0;
  constructor(bytes: number) {
    this.buf = Buffer.alloc(Math.max(64, bytes));
  }
  /** room for n more bytes (zeroed); returns their offset */
  take(n: number): number {
    if (this.len + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    const at = this.len;
    this.len += n;
    return at;
  }
  result(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

function encodeCommand(verb: 'add' | 'delete', name: string, set: KernelSet, elems: readonly unknown[]): Buffer | undefined {
  const setName = Buffer.from(name, 'utf8');
  if (!validName(setName)) return undefined;
  // deletes carry the key only (nft sends no data with `delete element`)
  const withData = verb === 'add' && set.data !== 'none';
  const valueBytes = withData && set.data !== 'verdict' ? FIELDS[set.data as FieldType].bytes : 0;
  let kind: number = withData ? (set.data === 'verdict' ? -1 : DATA_KIND.value) : DATA_KIND.none;
  const keyBytes = set.keyBytes * (set.interval ? 2 : 1);
  const out = new Output(1 + 1 + setName.length + 3 + 4 + elems.length * (keyBytes + (set.data === 'verdict' ? 24 : valueBytes)));
  const head = out.take(1 + 1 + setName.length + 3 + 4);
  /** chain name -> its length byte and bytes (a few chains for thousands of elements) */
  const chains = new Map<string, Buffer | undefined>();
  for (const e of elems) {
    let key: unknown = e;
    let value: unknown;
    if (set.data !== 'none') {
      // map elements are [key, value]; a delete may name the key alone
      if (Array.isArray(e)) {
        if (e.length !== 2) return undefined;
        [key, value] = e;
      } else if (verb === 'add') return undefined;
    } else if (Array.isArray(e)) return undefined;
    const at = out.take(keyBytes);
    if (!writeKey(set, key, out.buf, at, set.interval ? at + set.keyBytes : -1)) return undefined;
    if (!withData) continue;
    if (set.data === 'verdict') {
      const v = verdict(value);
      if (!v) return undefined;
      if (kind === -1) kind = v.kind;
      else if (kind !== v.kind) return undefined; // one data kind per command: mixed goto/jump go to libnftables
      let chain = chains.get(v.target);
      if (!chains.has(v.target)) {
        const b = Buffer.from(v.target, 'utf8');
        chain = validName(b) ? Buffer.concat([Buffer.from([b.length]), b]) : undefined;
        chains.set(v.target, chain);
      }
      if (!chain) return undefined;
      chain.copy(out.buf, out.take(chain.length));
    } else {
      const d = out.take(valueBytes);
      if (!FIELDS[set.data as FieldType].write(value, out.buf, d)) return undefined;
    }
  }
  let off = out.buf.writeUInt8(OP[verb], head);
  off = out.buf.writeUInt8(setName.length, off);
  off += setName.copy(out.buf, off);
  off = out.buf.writeUInt8(set.keyBytes, off);
  off = out.buf.writeUInt8(kind | (set.interval ? WITH_KEY_END : 0), off);
  off = out.buf.writeUInt8(valueBytes, off);
  out.buf.writeUInt32BE(elems.length, off);
  return out.result();
}

/**
 * Writes the key at `at`, and for an interval set its end at `endAt` (each field's range end, or
 * the value again; every field in network order there, as nft sends them). `endAt` < 0: no end.
 */
function writeKey(set: KernelSet, key: unknown, out: Buffer, at: number, endAt: number): boolean {
  if (!set.concat) return FIELDS[set.key[0]].write(key, out, at);
  const parts = key !== null && typeof key === 'object' && !Array.isArray(key) ? (key as { concat?: unknown }).concat : undefined;
  if (!Array.isArray(parts) || parts.length !== set.key.length) return false;
  const network = endAt >= 0;
  let off = 0;
  for (let i = 0; i < parts.length; i++) {
    const f = FIELDS[set.key[i]];
    const range = network ? rangeOf(parts[i]) : undefined;
    if (range) {
      if (!f.write(range[0], out, at + off, network) || !f.write(range[1], out, endAt + off, network)) return false;
      if (out.compare(out, endAt + off, endAt + off + f.bytes, at + off, at + off + f.bytes) > 0) return false; // start above end: nft's own error
    } else {
      if (!f.write(parts[i], out, at + off, network)) return false; // a prefix, or a range in a hash key: false
      if (network) out.copy(out, endAt + off, at + off, at + off + f.bytes);
    }
    off += (f.bytes + 3) & ~3;
  }
  return true;
}

function rangeOf(v: unknown): [unknown, unknown] | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const r = (v as { range?: unknown }).range;
  return Array.isArray(r) && r.length === 2 && Object.keys(v).length === 1 ? [r[0], r[1]] : undefined;
}

function verdict(v: unknown): { kind: number; target: string } | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, any>;
  const keys = Object.keys(o);
  if (keys.length !== 1 || (keys[0] !== 'goto' && keys[0] !== 'jump')) return undefined;
  const target = o[keys[0]]?.target;
  if (typeof target !== 'string') return undefined;
  return { kind: keys[0] === 'goto' ? DATA_KIND.goto : DATA_KIND.jump, target };
}
