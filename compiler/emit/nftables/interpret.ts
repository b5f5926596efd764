// A small interpreter of policyc's own nftables JSON: what the forward chain decides for a new
// flow, read from the emitted maps and chains only (not from the compiler's structures). Tests
// compare it with the reference evaluator; `explain`-style tools can use it on a loaded table.
// It knows the fixed chain layout of ruleset.ts, not nftables in general.

import { cidrRange, parseCidr, parseIp } from '../../ir/cidr.js';
import type { Direction } from '../../ir/types.js';
import { DEFAULT_TABLE, MAP } from './ruleset.js';
import type { NftDocument, NftElement, NftElementKey, NftStatement } from './schema.js';

export type SideOutcome =
  | { readonly kind: 'rule'; readonly action: 'allow' | 'drop'; readonly chain: string; readonly ruleId: string }
  | { readonly kind: 'isolated' }
  | { readonly kind: 'continue' };

export interface PacketOutcome {
  readonly accepted: boolean;
  readonly source: number;
  readonly destination: number;
  readonly egress: SideOutcome;
  /** Not reached when egress dropped. */
  readonly ingress?: SideOutcome;
}

type Scalar = string | number;

export class NftInterpreter {
  private readonly elements = new Map<string, NftElement[]>();
  private readonly chains = new Map<string, NftStatement[][]>();
  private readonly comments = new Map<string, string>();

  constructor(doc: NftDocument, table = DEFAULT_TABLE) {
    this.apply(doc, table);
  }

  /**
   * Apply a batch on top (a full replace, or element changes). Stricter than the kernel: deleting
   * a missing element or adding an existing key throws (the kernel would fail the batch, or keep
   * the old value of a map element silently).
   */
  apply(doc: NftDocument, table = DEFAULT_TABLE): void {
    for (const c of doc.nftables) {
      if ('delete' in c) {
        const o = c.delete;
        if ('table' in o && o.table.name === table) {
          this.elements.clear();
          this.chains.clear();
          this.comments.clear();
        } else if ('element' in o && o.element.table === table) {
          const e = o.element;
          const keep = this.elements.get(e.name) ?? [];
          for (const x of e.elem) {
            const g = JSON.stringify(keyOf(x));
            const i = keep.findIndex((k) => JSON.stringify(keyOf(k)) === g);
            if (i < 0) throw new Error(`delete of missing element ${g} in ${e.name}`);
            keep.splice(i, 1);
          }
          this.elements.set(e.name, keep);
        }
        continue;
      }
      if (!('add' in c)) continue;
      const o = c.add;
      if ('element' in o && o.element.table === table) {
        const e = o.element;
        const list = this.elements.get(e.name) ?? [];
        const present = new Set(list.map((y) => JSON.stringify(keyOf(y))));
        for (const x of e.elem) {
          const k = JSON.stringify(keyOf(x));
          if (present.has(k)) throw new Error(`element ${k} exists in ${e.name}`);
          present.add(k);
          list.push(x);
        }
        this.elements.set(e.name, list);
      } else if ('chain' in o && o.chain.table === table) {
        if (!this.chains.has(o.chain.name)) this.chains.set(o.chain.name, []);
      } else if ('rule' in o && o.rule.table === table) {
        this.chains.get(o.rule.chain)?.push([...o.rule.expr]);
        if (o.rule.comment) this.comments.set(o.rule.chain, o.rule.comment);
      }
    }
  }

  elementsOf(name: string): readonly NftElement[] {
    return this.elements.get(name) ?? [];
  }

  /** The identity of an address in the source or destination map (0 when absent, as the cleared register). */
  identity(which: 'src' | 'dst', ipText: string): number {
    const ip = parseIp(ipText);
    if (!ip) return 0;
    // the pod map (exact) wins over the world ranges, as the forward chain loads world first, then pod
    const names = which === 'src' ? [MAP.srcIdentity(ip.family), MAP.srcWorld(ip.family)] : [MAP.dstIdentity(ip.family), MAP.dstWorld(ip.family)];
    for (const name of names) {
      for (const e of this.elementsOf(name)) {
        const [key, value] = e as readonly [NftElementKey, Scalar];
        if (addressIn(key, ip.family, ip.value)) return Number(value);
      }
    }
    return 0;
  }

  /** The profile of an identity pair (the `*_pairs` map), undefined when the pair has none. */
  profile(direction: Direction, subject: number, peer: number): number | undefined {
    for (const e of this.elementsOf(MAP.pairs(direction))) {
      const [key, value] = e as readonly [NftElementKey, Scalar];
      const [s, p] = (key as { concat: readonly NftElementKey[] }).concat;
      if (numberIn(s, subject) && numberIn(p, peer)) return Number(value);
    }
    return undefined;
  }

  side(direction: Direction, subject: number, peer: number, proto: number, port: number): SideOutcome {
    const isolated = this.elementsOf(MAP.isolated(direction)).some((x) => Number(x) === subject);
    const profile = this.profile(direction, subject, peer);
    if (profile !== undefined) {
      for (const e of this.elementsOf(MAP.ports(direction))) {
        const [key, verdict] = e as readonly [NftElementKey, { goto: { target: string } }];
        const parts = (key as { concat: readonly NftElementKey[] }).concat;
        const values = [profile, proto, port];
        if (!parts.every((p, i) => numberIn(p, values[i]))) continue;
        const chain = verdict.goto.target;
        const action = chain.startsWith('allow_') ? 'allow' : 'drop';
        if (!this.chains.has(chain)) throw new Error(`decision jumps to missing chain ${chain}`);
        return { kind: 'rule', action, chain, ruleId: this.comments.get(chain) ?? '' };
      }
    }
    return isolated ? { kind: 'isolated' } : { kind: 'continue' };
  }

  /** The first packet of a new flow through the forward chain. */
  packet(sourceIp: string, destinationIp: string, proto: number, port: number): PacketOutcome {
    const source = this.identity('src', sourceIp);
    const destination = this.identity('dst', destinationIp);
    const egress = this.side('egress', source, destination, proto, port);
    if (egress.kind === 'isolated' || (egress.kind === 'rule' && egress.action === 'drop')) return { accepted: false, source, destination, egress };
    const ingress = this.side('ingress', destination, source, proto, port);
    const accepted = !(ingress.kind === 'isolated' || (ingress.kind === 'rule' && ingress.action === 'drop'));
    return { accepted, source, destination, egress, ingress };
  }
}

function keyOf(e: NftElement): NftElementKey {
  return Array.isArray(e) ? (e as readonly [NftElementKey, unknown])[0] : (e as NftElementKey);
}

function addressIn(key: NftElementKey, family: 4 | 6, value: bigint): boolean {
  const r = addressKeyBounds(key, family);
  return !!r && r[0] <= value && value <= r[1];
}

/** The first and last address an address-map element key covers (an address, a prefix or a range), if of `family`. */
export function addressKeyBounds(key: NftElementKey, family: 4 | 6): [bigint, bigint] | undefined {
  if (typeof key === 'string') {
    const ip = parseIp(key);
    return ip && ip.family === family ? [ip.value, ip.value] : undefined;
  }
  if (typeof key === 'object' && key !== null && 'prefix' in key) {
    const c = parseCidr(`${key.prefix.addr}/${key.prefix.len}`);
    if (!c || c.family !== family) return undefined;
    const r = cidrRange(c);
    return [r.first, r.last];
  }
  if (typeof key === 'object' && key !== null && 'range' in key) {
    const a = parseIp(String(key.range[0]));
    const b = parseIp(String(key.range[1]));
    return a && b && a.family === family && b.family === family ? [a.value, b.value] : undefined;
  }
  return undefined;
}

function numberIn(key: NftElementKey, v: number): boolean {
  if (typeof key === 'number') return key === v;
  if (typeof key === 'object' && 'range' in key) return Number(key.range[0]) <= v && v <= Number(key.range[1]);
  return false;
}
