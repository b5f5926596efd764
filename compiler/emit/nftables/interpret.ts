// A small interpreter of policyc's own nftables JSON: what the forward chain decides for a new
// flow, read from the emitted maps and chains only (not from the compiler's structures). Tests
// compare it with the reference evaluator; `explain`-style tools can use it on a loaded table.
//
// Two readings of the same table, checked against each other on every packet:
// - `side`/`identity`: the meaning of the maps (pod address, else world range, else 0; isolated?
//   pair -> profile -> port rule), which also names the deciding rule of each side;
// - `walk`: the chains themselves, rule by rule, for the subset of nftables that ruleset.ts emits
//   (matches, register writes from maps, verdict maps, jump/goto/return/accept/drop), with the
//   scratch registers starting from garbage. A chain layout that loads the wrong register, skips
//   a side or forgets a fallback then fails every differential test, not only the kernel ones.

import { cidrRange, parseCidr, parseIp } from '../../ir/cidr.js';
import type { Direction } from '../../ir/types.js';
import { DEFAULT_TABLE, MAP } from './ruleset.js';
import type { NftDocument, NftElement, NftElementKey, NftExpression, NftScalar, NftStatement } from './schema.js';

export type SideOutcome =
  | { readonly kind: 'rule'; readonly action: 'allow' | 'drop'; readonly chain: string; readonly ruleId: string }
  | { readonly kind: 'isolated' }
  | { readonly kind: 'continue' };

export interface WalkOutcome {
  readonly accepted: boolean;
  /** Chains entered, in order. */
  readonly chains: readonly string[];
  /** Rules evaluated (matched or not). */
  readonly rules: number;
  /** The scratch registers when the verdict was reached. */
  readonly priority: number;
  readonly ctMark: number;
}

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
    const denied = (s: SideOutcome) => s.kind === 'isolated' || (s.kind === 'rule' && s.action === 'drop');
    let outcome: PacketOutcome;
    if (denied(egress)) outcome = { accepted: false, source, destination, egress };
    else {
      const ingress = this.side('ingress', destination, source, proto, port);
      outcome = { accepted: !denied(ingress), source, destination, egress, ingress };
    }
    this.checkWalk(sourceIp, destinationIp, proto, port, outcome);
    return outcome;
  }

  /** The chains' verdict must be the maps' verdict, through the deciding rules' chains, with the registers cleared on accept. */
  private checkWalk(sourceIp: string, destinationIp: string, proto: number, port: number, o: PacketOutcome): void {
    if (!this.chains.has('forward')) return; // maps only (no skeleton): nothing to walk
    const a = parseIp(sourceIp);
    const b = parseIp(destinationIp);
    if (!a || !b || a.family !== b.family) return; // not a packet
    const w = this.walk(sourceIp, destinationIp, proto, port);
    const deciding = [o.egress, o.ingress].flatMap((s) => (s?.kind === 'rule' ? [s.chain] : []));
    const problem =
      w.accepted !== o.accepted
        ? `the chains ${w.accepted ? 'accept' : 'drop'}, the maps ${o.accepted ? 'accept' : 'drop'}`
        : deciding.find((c) => !w.chains.includes(c))
          ? `the chains never enter ${deciding.find((c) => !w.chains.includes(c))}`
          : w.accepted && (w.priority !== 0 || w.ctMark !== 0)
            ? `accepted with scratch registers priority ${w.priority}, ct mark ${w.ctMark}`
            : undefined;
    if (problem) throw new Error(`chain walk of ${sourceIp} -> ${destinationIp} ${proto}/${port}: ${problem} (chains ${w.chains.join(' ')})`);
  }

  /**
   * The first packet of a new flow (conntrack NEW; a TCP flow starts with a SYN) through the
   * chains, rule by rule. The registers start from garbage, as skb->priority may hold anything.
   */
  walk(sourceIp: string, destinationIp: string, proto: number, port: number): WalkOutcome {
    const src = parseIp(sourceIp);
    const dst = parseIp(destinationIp);
    if (!src || !dst || src.family !== dst.family) throw new Error(`walk: bad addresses ${sourceIp} ${destinationIp}`);
    const pkt: Packet = { family: src.family, saddr: src.value, daddr: dst.value, proto, port };
    const regs = { priority: 0x5eed_f00d, ctMark: 0x0bad_cafe };
    const chains: string[] = [];
    const stack: Array<{ chain: string; rule: number }> = [];
    let at = { chain: 'forward', rule: 0 };
    let evaluated = 0;
    chains.push('forward');
    for (let steps = 0; steps < 10_000; steps++) {
      const rules = this.chains.get(at.chain);
      if (!rules) throw new Error(`walk: missing chain ${at.chain}`);
      if (at.rule >= rules.length) {
        // end of a chain: back to the caller, or the base chain's policy (accept)
        const back = stack.pop();
        if (!back) return { accepted: true, chains, priority: regs.priority, ctMark: regs.ctMark, rules: evaluated };
        at = back;
        continue;
      }
      evaluated++;
      const v = this.evalRule(rules[at.rule], pkt, regs);
      if (v.kind === 'next') {
        at = { chain: at.chain, rule: at.rule + 1 };
      } else if (v.kind === 'accept' || v.kind === 'drop') {
        return { accepted: v.kind === 'accept', chains, priority: regs.priority, ctMark: regs.ctMark, rules: evaluated };
      } else if (v.kind === 'return') {
        const back = stack.pop();
        if (!back) return { accepted: true, chains, priority: regs.priority, ctMark: regs.ctMark, rules: evaluated };
        at = back;
      } else if (v.kind === 'jump' || v.kind === 'goto') {
        if (v.kind === 'jump') stack.push({ chain: at.chain, rule: at.rule + 1 });
        if (stack.length > 16) throw new Error('walk: jump stack overflow');
        at = { chain: v.target, rule: 0 };
        chains.push(v.target);
      }
    }
    throw new Error('walk: no verdict after 10,000 rules');
  }

  private evalRule(expr: readonly NftStatement[], pkt: Packet, regs: { priority: number; ctMark: number }): Verdict {
    for (const st of expr) {
      if ('match' in st) {
        const { op, left, right } = st.match;
        const l = this.value(left, pkt, regs);
        if (l === undefined) return NEXT; // e.g. tcp flags of a UDP packet: the implicit protocol test fails
        const hit = this.matches(l, right);
        if (op === '!=' ? hit : !hit) return NEXT;
      } else if ('mangle' in st) {
        const v = this.value(st.mangle.value, pkt, regs);
        if (v === undefined) return NEXT; // a map lookup that misses ends the rule before the write
        const key = st.mangle.key as { meta?: { key: string }; ct?: { key: string } };
        if (key.meta?.key === 'priority') regs.priority = Number(v);
        else if (key.ct?.key === 'mark') regs.ctMark = Number(v);
        else throw new Error(`walk: cannot write ${JSON.stringify(key)}`);
      } else if ('vmap' in st) {
        const k = this.value(st.vmap.key, pkt, regs);
        if (k === undefined) return NEXT;
        const data = st.vmap.data;
        const entries: ReadonlyArray<readonly [unknown, unknown]> = typeof data === 'string' ? (this.elementsOf(data.slice(1)) as Array<[unknown, unknown]>) : (data.set as ReadonlyArray<readonly [unknown, unknown]>);
        const hit = entries.find(([key]) => keyMatches(key as NftElementKey, k));
        if (!hit) return NEXT;
        return verdictOf(hit[1]);
      } else if ('accept' in st || 'drop' in st || 'return' in st || 'jump' in st || 'goto' in st) {
        return verdictOf(st);
      } else if (!('counter' in st || 'limit' in st || 'log' in st)) {
        throw new Error(`walk: statement ${JSON.stringify(st)}`);
      }
    }
    return NEXT;
  }

  /** An expression's value for the packet (undefined: the expression ends the rule). */
  private value(e: NftExpression, pkt: Packet, regs: { priority: number; ctMark: number }): Value | undefined {
    if (typeof e === 'number' || typeof e === 'string') return e;
    if (Array.isArray(e)) return undefined;
    const x = e as Record<string, any>;
    if (x.ct) {
      if (x.ct.key === 'state') return 'new';
      if (x.ct.key === 'mark') return regs.ctMark;
    }
    if (x.meta) {
      if (x.meta.key === 'priority') return regs.priority;
      if (x.meta.key === 'nfproto') return pkt.family === 4 ? 'ipv4' : 'ipv6';
      if (x.meta.key === 'l4proto') return pkt.proto;
    }
    if (x.payload) {
      const { protocol, field } = x.payload as { protocol: string; field: string };
      if ((protocol === 'ip' && pkt.family === 4) || (protocol === 'ip6' && pkt.family === 6)) {
        if (field === 'saddr') return pkt.saddr;
        if (field === 'daddr') return pkt.daddr;
      }
      if (protocol === 'ip' || protocol === 'ip6') return undefined;
      if (protocol === 'th' && field === 'dport') return pkt.port;
      if (protocol === 'tcp' && field === 'flags') return pkt.proto === 6 ? 'syn' : undefined; // the first packet of a new TCP flow
      if (protocol === 'icmpv6' && field === 'type') return pkt.proto === 58 ? 'echo-request' : undefined;
    }
    if (x['&']) {
      // `tcp flags & (fin|syn|rst|ack)`: a SYN stays a SYN; a register & a number (the isolated bit of a profile)
      const v = this.value(x['&'][0], pkt, regs);
      const mask = x['&'][1];
      if (typeof v === 'number' && typeof mask === 'number') return (v & mask) >>> 0;
      return v === 'syn' ? 'syn' : v;
    }
    if (x.concat) {
      const parts = (x.concat as NftExpression[]).map((p) => this.value(p, pkt, regs));
      return parts.some((p) => p === undefined) ? undefined : { concat: parts as Value[] };
    }
    if (x.map) {
      const k = this.value(x.map.key, pkt, regs);
      if (k === undefined) return undefined;
      const hit = this.elementsOf(String(x.map.data).slice(1)).find((el) => keyMatches(keyOf(el), k));
      return hit ? Number((hit as readonly [unknown, unknown])[1]) : undefined;
    }
    throw new Error(`walk: expression ${JSON.stringify(e)}`);
  }

  private matches(v: Value, right: NftExpression): boolean {
    if (typeof right === 'string' && right.startsWith('@')) return this.elementsOf(right.slice(1)).some((el) => keyMatches(keyOf(el), v));
    if (Array.isArray(right)) return right.some((r) => protoName(r) === protoName(v as NftScalar));
    if (typeof right === 'object' && right !== null && 'set' in right) return (right.set as readonly NftScalar[]).some((r) => protoName(r) === protoName(v as NftScalar));
    return protoName(right as NftScalar) === protoName(v as NftScalar);
  }
}

type Value = string | number | bigint | { readonly concat: readonly Value[] };

interface Packet {
  readonly family: 4 | 6;
  readonly saddr: bigint;
  readonly daddr: bigint;
  readonly proto: number;
  readonly port: number;
}

type Verdict = { readonly kind: 'next' | 'accept' | 'drop' | 'return' } | { readonly kind: 'jump' | 'goto'; readonly target: string };
const NEXT: Verdict = { kind: 'next' };

function verdictOf(v: unknown): Verdict {
  const x = v as Record<string, any>;
  if ('accept' in x) return { kind: 'accept' };
  if ('drop' in x) return { kind: 'drop' };
  if ('return' in x) return { kind: 'return' };
  if ('jump' in x) return { kind: 'jump', target: String(x.jump.target) };
  if ('goto' in x) return { kind: 'goto', target: String(x.goto.target) };
  throw new Error(`walk: verdict ${JSON.stringify(v)}`);
}

const PROTO_NAMES: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, icmp: 1, 'ipv6-icmp': 58 };

function protoName(v: NftScalar): NftScalar {
  return typeof v === 'string' && v in PROTO_NAMES ? PROTO_NAMES[v] : v;
}

/** Whether a set element key covers a value (addresses as bigints, numbers, ranges, concatenations). */
function keyMatches(key: NftElementKey, v: Value): boolean {
  if (typeof v === 'bigint') {
    for (const family of [4, 6] as const) {
      const r = addressKeyBounds(key, family);
      if (r && r[0] <= v && v <= r[1]) return true;
    }
    return false;
  }
  if (typeof v === 'object') {
    const parts = (key as { concat?: readonly NftElementKey[] }).concat;
    return !!parts && parts.length === v.concat.length && parts.every((p, i) => keyMatches(p, v.concat[i]));
  }
  if (typeof v === 'number') return numberIn(key, v) || (typeof key === 'string' && protoName(key) === v);
  return key === v;
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
