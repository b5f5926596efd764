// Element batches that bypass libnftables: the binary request of policyc-nft (flag bit 1; format
// in helper/policyc-nft.c, sent to the kernel as one nfnetlink batch by helper/element-batch.c).
//
// Why: libnftables fetches the table's whole cache, chains included, for every batch, since each
// of our batches changes the generation id it revalidates against. A 1-element batch cost 0.29
// ms with 0 chains, 0.70 ms with 500, 2.57 ms with 2,000 (and `nft` per batch +10 ms at
// 10,000); the table has one chain per deciding rule (1,147 at 5k pods / 1k policies, 10,809 at
// 50k / 10k), so a one-pod change could not meet 10 ms on a large cluster. Adds and deletes of
// hash set/map elements need none of that cache: encoded here in the kernel's layout, they are
// one nfnetlink transaction, all or nothing, exactly as the libnftables batch was.
//
// Only batches whose every command is an `add`/`delete element` on a hash (non-interval) set or
// map of the table, with every element in a form encoded here, are taken; anything else (an
// interval set, a range or prefix, a name this module does not know, a type it cannot encode)
// gives undefined and the caller sends the JSON through libnftables, the whole batch, so it stays
// one transaction. The set types come from the artifact's own `add map`/`add set` commands,
// never from a copy of ruleset.ts's names.
//
// Byte layouts, as nft sends them (checked with `nft --debug=netlink,mnl`, and by listing back
// tables filled both ways: element-batch.test.ts): ipv4_addr/ipv6_addr and inet_service in
// network order; mark and classid 32-bit in host order; inet_proto one byte; a concatenation's
// fields each padded with zeros to 4 bytes (NFT_REG32); a set's key without padding.
import { endianness } from 'node:os';
import type { NftCommand, NftDocument } from '../../compiler/emit/nftables/schema.js';
import { parseIp, parseIpv4Number } from '../../compiler/ir/cidr.js';

/** policyc-nft's request flag for a binary element batch. */
export const ELEMENT_BATCH_FLAG = 2;

type FieldType = 'ipv4_addr' | 'ipv6_addr' | 'mark' | 'classid' | 'inet_proto' | 'inet_service';

interface Field {
  /** bytes of the value itself (a concatenation pads each field to 4) */
  bytes: number;
  /** writes v at off; false: not a value this module encodes (the batch goes to libnftables) */
  write(v: unknown, buf: Buffer, off: number): boolean;
}

const HOST_LE = endianness() === 'LE';

function u32Host(v: unknown, buf: Buffer, off: number): boolean {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) return false;
  if (HOST_LE) buf.writeUInt32LE(v, off);
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

/** A hash set or map of the table, as the kernel lays out its keys and data. */
export interface HashSet {
  /** one field, or the fields of a concatenation */
  key: readonly FieldType[];
  concat: boolean;
  /** bytes of a key (a concatenation: each field padded to 4) */
  keyBytes: number;
  /** 'none': a set; 'verdict': a verdict map; else the data type of a map */
  data: 'none' | 'verdict' | FieldType;
}

/** The table's hash sets and maps, by name: what the fast path may touch. */
export interface ElementTarget {
  table: string;
  sets: ReadonlyMap<string, HashSet>;
}

const cache = new WeakMap<readonly NftCommand[], ElementTarget | undefined>();

/**
 * The hash sets/maps an artifact's skeleton declares (`add map`/`add set` without flags: no
 * interval, no timeout) whose key and data types are all encoded here. Undefined: none.
 */
export function elementTarget(skeleton: readonly NftCommand[]): ElementTarget | undefined {
  if (cache.has(skeleton)) return cache.get(skeleton);
  let table: string | undefined;
  const sets = new Map<string, HashSet>();
  for (const c of skeleton as unknown as Array<Record<string, any>>) {
    const decl = c.add?.map ?? c.add?.set;
    if (!decl || decl.family !== 'inet' || typeof decl.name !== 'string' || typeof decl.table !== 'string') continue;
    if (table !== undefined && decl.table !== table) return remember(skeleton, undefined); // one table only
    table = decl.table;
    const s = hashSet(decl);
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

function hashSet(decl: Record<string, any>): HashSet | undefined {
  if (decl.flags !== undefined && !(Array.isArray(decl.flags) && decl.flags.length === 0)) return undefined;
  const concat = Array.isArray(decl.type);
  const key: unknown[] = concat ? decl.type : [decl.type];
  if (key.length === 0 || !key.every(isField)) return undefined;
  const fields = key as FieldType[];
  const data = decl.map === undefined ? 'none' : decl.map === 'verdict' ? 'verdict' : isField(decl.map) && FIELDS[decl.map].bytes === 4 ? decl.map : undefined;
  if (!data) return undefined;
  const keyBytes = concat ? fields.reduce((n, f) => n + ((FIELDS[f].bytes + 3) & ~3), 0) : FIELDS[fields[0]].bytes;
  return { key: fields, concat, keyBytes, data };
}

const OP = { delete: 0, add: 1 } as const;
const DATA_KIND = { none: 0, value: 1, goto: 2, jump: 3 } as const;
/** chain, set and table names: what the helper accepts (1..255 bytes, no NUL) */
const MAX_NAME = 255;

/**
 * The binary request body for `doc` when every command is an add/delete element on a hash set
 * of `target` and every element is encoded here; undefined otherwise (send the JSON through
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

function encodeCommand(verb: 'add' | 'delete', name: string, set: HashSet, elems: readonly unknown[]): Buffer | undefined {
  const setName = Buffer.from(name, 'utf8');
  if (!validName(setName)) return undefined;
  // deletes carry the key only (nft sends no data with `delete element`)
  const withData = verb === 'add' && set.data !== 'none';
  const valueBytes = withData && set.data !== 'verdict' ? FIELDS[set.data as FieldType].bytes : 0;
  let kind: number = withData ? (set.data === 'verdict' ? -1 : DATA_KIND.value) : DATA_KIND.none;
  const bufs: Buffer[] = [];
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
    const k = Buffer.alloc(set.keyBytes);
    if (!writeKey(set, key, k)) return undefined;
    bufs.push(k);
    if (!withData) continue;
    if (set.data === 'verdict') {
      const v = verdict(value);
      if (!v) return undefined;
      if (kind === -1) kind = v.kind;
      else if (kind !== v.kind) return undefined; // one data kind per command: mixed goto/jump go to libnftables
      const chain = Buffer.from(v.target, 'utf8');
      if (!validName(chain)) return undefined;
      bufs.push(Buffer.from([chain.length]), chain);
    } else {
      const d = Buffer.alloc(valueBytes);
      if (!FIELDS[set.data as FieldType].write(value, d, 0)) return undefined;
      bufs.push(d);
    }
  }
  const head = Buffer.alloc(1 + 1 + setName.length + 3 + 4);
  let off = head.writeUInt8(OP[verb], 0);
  off = head.writeUInt8(setName.length, off);
  off += setName.copy(head, off);
  off = head.writeUInt8(set.keyBytes, off);
  off = head.writeUInt8(kind, off);
  off = head.writeUInt8(valueBytes, off);
  head.writeUInt32BE(elems.length, off);
  return Buffer.concat([head, ...bufs]);
}

function writeKey(set: HashSet, key: unknown, out: Buffer): boolean {
  if (!set.concat) return FIELDS[set.key[0]].write(key, out, 0);
  const parts = key !== null && typeof key === 'object' && !Array.isArray(key) ? (key as { concat?: unknown }).concat : undefined;
  if (!Array.isArray(parts) || parts.length !== set.key.length) return false;
  let off = 0;
  for (let i = 0; i < parts.length; i++) {
    const f = FIELDS[set.key[i]];
    if (!f.write(parts[i], out, off)) return false; // a range or prefix is not a hash key: false
    off += (f.bytes + 3) & ~3;
  }
  return true;
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
