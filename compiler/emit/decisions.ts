// Decisions: for each direction and (subject identity, peer identity, protocol range, port
// range), the rule that decides the flow under the reference evaluator's semantics
// (compiler/evaluate/evaluator.ts): AdminNetworkPolicy rules by priority, first match, Pass
// skips to NetworkPolicy; NetworkPolicy isolation (the first allowing rule, else drop);
// BaselineAdminNetworkPolicy, first match; default allow.
//
// Only results that differ from the subject's fallback are elements. The fallback is "drop:
// isolated by NetworkPolicy" when a NetworkPolicy isolates the subject for the direction, else
// "continue" (nothing decided on this side). Every element names its deciding rule (allow or
// deny; Pass never decides), so counters and drop logs carry rule ids.
//
// Protocols: the evaluator speaks TCP, UDP and SCTP. The dataplane also sees other IP
// protocols (ICMP, ...); they are judged as a flow that only port-less rules match (a rule
// without `ports` covers every protocol), so `ingress: [{from: ...}]` lets ICMP through and an
// isolated pod drops ICMP that no port-less rule allows. The key uses l4proto ranges, so the
// "other protocols" are four intervals, merged with TCP/UDP/SCTP where the results agree.
//
// Cost: per subject identity its rules once, per rule its peer identities once, then per
// (subject, peer) with at least one candidate rule a sweep over port boundaries. Identities,
// never pods, are multiplied.

import type { Cluster } from '../model/cluster.js';
import type { Protocol } from '../model/k8s-types.js';
import type { Direction, Group, Peer, PortMatch, Program, Rule } from '../ir/types.js';
import { selectorKey } from '../ir/selector.js';
import { endpointIp, type Endpoint } from '../evaluate/endpoints.js';
import { peerMatches } from '../evaluate/match.js';
import { cidrPeerKey, identityAddressClass, type Identity, type IdentityTable } from './identities.js';

export const DIRECTIONS: readonly Direction[] = ['egress', 'ingress'];

/** IP protocol numbers. */
export const PROTO_NUMBER: Readonly<Record<Protocol, number>> = { TCP: 6, UDP: 17, SCTP: 132 };

/** A protocol bucket: one of the three policy protocols, or every other IP protocol. */
export type ProtoBucket = Protocol | 'other';

/** l4proto ranges in order, covering 0-255. */
export const PROTO_RANGES: ReadonlyArray<{ from: number; to: number; bucket: ProtoBucket }> = [
  { from: 0, to: 5, bucket: 'other' },
  { from: 6, to: 6, bucket: 'TCP' },
  { from: 7, to: 16, bucket: 'other' },
  { from: 17, to: 17, bucket: 'UDP' },
  { from: 18, to: 131, bucket: 'other' },
  { from: 132, to: 132, bucket: 'SCTP' },
  { from: 133, to: 255, bucket: 'other' },
];

export interface DecisionElement {
  readonly direction: Direction;
  /** Identity of the protected end (ingress: destination, egress: source). */
  readonly subject: number;
  readonly peer: number;
  /** Inclusive l4proto range. */
  readonly protoFrom: number;
  readonly protoTo: number;
  /** Inclusive destination port range. */
  readonly portFrom: number;
  readonly portTo: number;
  /** The deciding rule (action allow or deny). */
  readonly rule: Rule;
}

export interface DecisionTable {
  /** Sorted: direction (egress, ingress), subject, peer, proto, port. */
  readonly elements: readonly DecisionElement[];
  /** Subject identities a NetworkPolicy isolates, per direction (sorted). */
  readonly isolated: Readonly<Record<Direction, readonly number[]>>;
}

interface Interval {
  from: number;
  to: number;
}

const FULL: Interval = { from: 0, to: 65535 };

/** Port intervals a rule matches for a protocol bucket, named ports resolved on `destination`. */
export function rulePortIntervals(rule: Rule, bucket: ProtoBucket, destination: Endpoint): Interval[] {
  if (!rule.ports) return [FULL];
  if (bucket === 'other') return [];
  const out: Interval[] = [];
  for (const pm of rule.ports) out.push(...portMatchIntervals(pm, bucket, destination));
  return out;
}

function portMatchIntervals(pm: PortMatch, protocol: Protocol, destination: Endpoint): Interval[] {
  switch (pm.kind) {
    case 'all':
      return pm.protocol === protocol ? [FULL] : [];
    case 'range':
      return pm.protocol === protocol && pm.from <= pm.to ? [{ from: Math.max(0, pm.from), to: Math.min(65535, pm.to) }] : [];
    case 'named': {
      if (destination.kind !== 'pod') return [];
      return destination.pod.ports
        .filter((p) => p.name === pm.name && (pm.protocol === undefined || p.protocol === pm.protocol) && p.protocol === protocol)
        .map((p) => ({ from: p.port, to: p.port }));
    }
  }
}

interface Candidate {
  readonly rule: Rule;
  readonly intervals: readonly Interval[];
}

/** The evaluator's walk over the rules that match at one port; undefined = the fallback. */
function decide(matching: readonly Rule[], isolated: boolean): Rule | undefined {
  for (const r of matching) {
    if (r.tier !== 'admin') continue;
    if (r.action === 'pass') break;
    return r;
  }
  if (isolated) return matching.find((r) => r.tier === 'networkpolicy');
  return matching.find((r) => r.tier === 'baseline');
}

/** Sweep: disjoint port intervals with their deciding rule (fallback intervals left out), merged. */
function sweep(candidates: readonly Candidate[], isolated: boolean): Array<{ from: number; to: number; rule: Rule }> {
  const cuts = new Set<number>([0]);
  for (const c of candidates) {
    for (const i of c.intervals) {
      cuts.add(i.from);
      if (i.to < 65535) cuts.add(i.to + 1);
    }
  }
  const points = [...cuts].sort((a, b) => a - b);
  const out: Array<{ from: number; to: number; rule: Rule }> = [];
  let prev: { from: number; to: number; rule: Rule } | undefined;
  for (let k = 0; k < points.length; k++) {
    const from = points[k];
    const to = k + 1 < points.length ? points[k + 1] - 1 : 65535;
    const matching = candidates.filter((c) => c.intervals.some((i) => i.from <= from && from <= i.to)).map((c) => c.rule);
    const rule = decide(matching, isolated);
    if (rule && prev && prev.rule === rule && prev.to + 1 === from) {
      prev.to = to;
      continue;
    }
    prev = rule ? { from, to, rule } : undefined;
    if (prev) out.push(prev);
  }
  return out;
}

export interface DecisionContext {
  readonly program: Program;
  readonly cluster: Cluster;
  readonly groups: ReadonlyMap<string, Group>;
}

/** Rules of a direction that apply to a subject identity, in evaluation order, and whether NetworkPolicy isolates it. */
export function subjectRules(program: Program, subject: Identity, direction: Direction): { rules: Rule[]; isolated: boolean } {
  if (subject.kind !== 'pod') return { rules: [], isolated: false };
  const inGroups = new Set(subject.groups);
  const rules = program.rules.filter((r) => r.direction === direction && inGroups.has(r.subject));
  const isolated = program.policies.some((p) => p.tier === 'networkpolicy' && p.isolates.includes(direction) && inGroups.has(p.subject));
  return { rules, isolated };
}

/**
 * Program-only indexes for decisions: per direction and group, the rules whose subject is the
 * group (indices into program.rules) and whether a NetworkPolicy isolates the group.
 */
interface RuleIndex {
  readonly bySubject: Record<Direction, ReadonlyMap<string, readonly number[]>>;
  readonly isolating: Record<Direction, ReadonlySet<string>>;
}

const ruleIndexes = new WeakMap<Program, RuleIndex>();

function ruleIndex(program: Program): RuleIndex {
  let ix = ruleIndexes.get(program);
  if (ix) return ix;
  const bySubject: Record<Direction, Map<string, number[]>> = { egress: new Map(), ingress: new Map() };
  program.rules.forEach((r, i) => {
    const m = bySubject[r.direction];
    let l = m.get(r.subject);
    if (!l) m.set(r.subject, (l = []));
    l.push(i);
  });
  const isolating: Record<Direction, Set<string>> = { egress: new Set(), ingress: new Set() };
  for (const p of program.policies) if (p.tier === 'networkpolicy') for (const d of p.isolates) isolating[d].add(p.subject);
  ix = { bySubject, isolating };
  ruleIndexes.set(program, ix);
  return ix;
}

/** Indices (program order) of the rules of a direction whose subject group the identity is in, and isolation. */
function applicable(ix: RuleIndex, subject: Identity, direction: Direction): { rules: number[]; isolated: boolean } {
  if (subject.kind !== 'pod') return { rules: [], isolated: false };
  const m = ix.bySubject[direction];
  let rules: number[] = [];
  let lists = 0;
  let isolated = false;
  for (const g of subject.groups) {
    if (ix.isolating[direction].has(g)) isolated = true;
    const l = m.get(g);
    if (!l) continue;
    rules = lists === 0 ? (l as number[]) : rules.concat(l);
    lists++;
  }
  if (lists > 1) {
    rules = [...new Set(rules)].sort((a, b) => a - b);
  }
  return { rules, isolated };
}

/**
 * Which identities each rule's peers match, computed from group membership (pods peers), the
 * identities' address classes (cidr peers) and, for the rare nodes peers, the evaluator's test
 * on the representative. Identities are referred to by their index in the table.
 */
class PeerSets {
  private readonly byGroup = new Map<string, number[]>();
  /** Per identity, the parts of its address class; built on first use (only single-peer queries need it). */
  private classesOf?: Array<Set<string>>;
  /** Address-class part (a cidr peer key) -> identities whose class has it, so a cidr peer does not scan every identity. */
  private readonly byClass = new Map<string, number[]>();
  private readonly cache = new Map<string, { all: boolean; set: Set<number>; sorted: number[] }>();
  private readonly single = new Map<string, boolean>();
  private groupsById?: ReadonlyMap<string, Group>;
  private nodeIps?: Set<string>;

  constructor(
    private readonly identities: readonly Identity[],
    private readonly program: Program,
    private readonly cluster: Cluster,
  ) {
    identities.forEach((ident, i) => {
      for (const g of ident.groups) {
        let l = this.byGroup.get(g);
        if (!l) this.byGroup.set(g, (l = []));
        l.push(i);
      }
      const cls = identityAddressClass(ident.key);
      if (cls === '') return; // most identities: no cidr peer holds their addresses
      for (const key of new Set(cls.split('|'))) {
        let l = this.byClass.get(key);
        if (!l) this.byClass.set(key, (l = []));
        l.push(i);
      }
    });
  }

  private get classes(): Array<Set<string>> {
    return (this.classesOf ??= this.identities.map((ident) => new Set(identityAddressClass(ident.key).split('|'))));
  }

  /** Program groups by id, for the evaluator's test of nodes peers (rare: built on first use). */
  private get groups(): ReadonlyMap<string, Group> {
    return (this.groupsById ??= new Map(this.program.groups.map((g) => [g.id, g])));
  }

  /** Whether the rule's peers match identity `i`, without building the rule's whole set. */
  contains(rule: Rule, i: number): boolean {
    const sig = ruleSignature(rule);
    const entry = this.cache.get(sig);
    if (entry) return entry.set.has(i);
    const key = `${i}\u0000${sig}`;
    let hit = this.single.get(key);
    if (hit !== undefined) return hit;
    const ident = this.identities[i];
    hit = rule.peers.some((p) => {
      switch (p.kind) {
        case 'any':
          return true;
        case 'pods':
          return ident.groups.includes(p.group);
        case 'cidr':
          return this.classes[i].has(cidrPeerKey(p.cidr, p.except));
        case 'nodes':
          return peerMatches(p, ident.representative, this.groups, this.cluster).matched;
      }
    });
    this.single.set(key, hit);
    return hit;
  }

  of(rule: Rule): { all: boolean; set: Set<number>; sorted: number[] } {
    const sig = ruleSignature(rule);
    let entry = this.cache.get(sig);
    if (entry) return entry;
    const set = new Set<number>();
    let all = false;
    for (const p of rule.peers) {
      if (p.kind === 'any') {
        all = true;
        break;
      }
      if (p.kind === 'pods') {
        for (const i of this.byGroup.get(p.group) ?? []) set.add(i);
      } else if (p.kind === 'cidr') {
        for (const i of this.byClass.get(cidrPeerKey(p.cidr, p.except)) ?? []) set.add(i);
      } else {
        // Only an identity whose representative has a node's address can match a nodes peer.
        this.nodeIps ??= new Set(this.cluster.nodes.flatMap((n) => n.ips));
        this.identities.forEach((ident, i) => {
          const ip = endpointIp(ident.representative);
          if (ip !== undefined && this.nodeIps!.has(ip) && !set.has(i) && peerMatches(p, ident.representative, this.groups, this.cluster).matched) set.add(i);
        });
      }
    }
    if (all) {
      set.clear();
      for (let i = 0; i < this.identities.length; i++) set.add(i);
    }
    entry = { all, set, sorted: [...set].sort((a, b) => a - b) };
    this.cache.set(sig, entry);
    return entry;
  }
}

const ruleSignatures = new WeakMap<Rule, string>();

function ruleSignature(rule: Rule): string {
  let sig = ruleSignatures.get(rule);
  if (sig === undefined) ruleSignatures.set(rule, (sig = rule.peers.map(peerSignature).join('\n')));
  return sig;
}

function peerSignature(p: Peer): string {
  switch (p.kind) {
    case 'any':
      return 'any';
    case 'pods':
      return `pods:${p.group}`;
    case 'cidr':
      return cidrPeerKey(p.cidr, p.except);
    case 'nodes':
      return `nodes:${selectorKey(p.selector)}`;
  }
}

type PortResult = Array<{ from: number; to: number; rule: Rule }>;
type Row = Array<{ protoFrom: number; protoTo: number; result: PortResult }>;

/** The decision of one (subject, peer) pair given the rules that apply and match, per l4proto range. */
function pairRow(matching: readonly Rule[], isolated: boolean, destination: Endpoint): Row {
  const perBucket = new Map<ProtoBucket, PortResult>();
  for (const bucket of ['TCP', 'UDP', 'SCTP', 'other'] as const) {
    const candidates: Candidate[] = [];
    for (const rule of matching) {
      const intervals = rulePortIntervals(rule, bucket, destination);
      if (intervals.length > 0) candidates.push({ rule, intervals });
    }
    perBucket.set(bucket, candidates.length > 0 ? sweep(candidates, isolated) : []);
  }
  const merged: Row = [];
  for (const pr of PROTO_RANGES) {
    const result = perBucket.get(pr.bucket)!;
    const last = merged[merged.length - 1];
    if (last && sameResult(last.result, result)) last.protoTo = pr.to;
    else merged.push({ protoFrom: pr.from, protoTo: pr.to, result });
  }
  return merged;
}

function hasNamedPorts(rule: Rule): boolean {
  return !!rule.ports?.some((pm) => pm.kind === 'named');
}

/**
 * Lists of rule indices, interned as the nodes of a trie (node 0: the empty list), so that
 * building one list per peer identity, rule by rule, and keying rows by it costs a number per
 * step instead of a growing string.
 */
class RuleLists {
  private readonly children: Array<Map<number, number>> = [new Map()];
  private readonly parent: number[] = [-1];
  private readonly last: number[] = [-1];

  /** The list `node` followed by rule `r`. */
  append(node: number, r: number): number {
    const m = this.children[node];
    let child = m.get(r);
    if (child === undefined) {
      child = this.parent.length;
      m.set(r, child);
      this.children.push(new Map());
      this.parent.push(node);
      this.last.push(r);
    }
    return child;
  }

  rules(node: number): number[] {
    const out: number[] = [];
    for (let n = node; n > 0; n = this.parent[n]) out.push(this.last[n]);
    return out.reverse();
  }
}

/** Per (subject, peer) with rules, decides through the cache of rows (keyed by matching rules, isolation, and the destination identity's named ports when a named port is involved). */
class DecisionBuilder {
  readonly ix: RuleIndex;
  readonly peers: PeerSets;
  private readonly lists = new RuleLists();
  /** Row per (matching list, isolation, destination port class + 1 or 0): see rowKey. */
  private readonly rows = new Map<number, Row>();
  private readonly named: boolean[];
  /** Per peer identity: its matching-rule list (a RuleLists node) while a subject is built; -1 = none. */
  private readonly sig: Int32Array;
  /** Peers with a list (sig >= 0) while a subject is built: reused, so no growing array per subject. */
  private readonly touched: Int32Array;
  private readonly namedFlag: Uint8Array;
  private readonly familyMask: Uint8Array;
  private readonly portClass: number[];
  private readonly portClasses: number;

  constructor(
    readonly program: Program,
    cluster: Cluster,
    readonly identities: readonly Identity[],
  ) {
    this.ix = ruleIndex(program);
    this.peers = new PeerSets(identities, program, cluster);
    this.named = program.rules.map(hasNamedPorts);
    this.sig = new Int32Array(identities.length).fill(-1);
    this.touched = new Int32Array(identities.length);
    this.namedFlag = new Uint8Array(identities.length);
    this.familyMask = Uint8Array.from(identities, (i) => (i.families.includes(4) ? 1 : 0) | (i.families.includes(6) ? 2 : 0));
    const classes = new Map<string, number>();
    this.portClass = identities.map((i) => {
      const k = portPart(i.key);
      let c = classes.get(k);
      if (c === undefined) classes.set(k, (c = classes.size));
      return c;
    });
    this.portClasses = classes.size;
  }

  private rowKey(list: number, isolated: boolean, portClass: number): number {
    return (list * (this.portClasses + 1) + portClass + 1) * 2 + (isolated ? 1 : 0);
  }

  /** Elements of one subject (index) and direction (only towards `onlyPeer` if given), in peer order; returns isolation. */
  subjectElements(direction: Direction, s: number, out: DecisionElement[], onlyPeer?: number): boolean {
    const subject = this.identities[s];
    const { rules, isolated } = applicable(this.ix, subject, direction);
    // Pass rules alone never decide: such a subject only has its fallback.
    const all = this.program.rules;
    if (rules.every((r) => all[r].action === 'pass')) return isolated;
    const n = this.identities.length;
    const sig = this.sig;
    const named = this.namedFlag;
    const lists = this.lists;
    const touched = this.touched;
    let count = 0;
    let everything = false;
    // Per peer identity, the list of matching rules (in rule order), built rule by rule. Indexed
    // loops here and below: for-of allocates an iterator result per step until the function is
    // optimized, and this runs hundreds of thousands of steps in a one-shot compile.
    for (let k = 0; k < rules.length; k++) {
      const r = rules[k];
      const isNamed = this.named[r];
      if (onlyPeer !== undefined) {
        if (!this.peers.contains(all[r], onlyPeer)) continue;
        if (sig[onlyPeer] < 0) {
          sig[onlyPeer] = 0;
          touched[count++] = onlyPeer;
        }
        sig[onlyPeer] = lists.append(sig[onlyPeer], r);
        if (isNamed) named[onlyPeer] = 1;
        continue;
      }
      const set = this.peers.of(all[r]);
      if (set.all) everything = true;
      // Peers of one rule mostly share their list so far: remember the last step taken.
      let from = -1;
      let to = -1;
      const peers = set.sorted;
      for (let k = 0; k < peers.length; k++) {
        const p = peers[k];
        let cur = sig[p];
        if (cur < 0) {
          cur = 0;
          touched[count++] = p;
        }
        if (cur !== from) {
          from = cur;
          to = lists.append(cur, r);
        }
        sig[p] = to;
        if (isNamed) named[p] = 1;
      }
    }
    // In peer order: a scan when many peers have a list, else sort the few.
    if (everything || count > n / 8) {
      count = 0;
      for (let p = 0; p < n; p++) if (sig[p] >= 0) touched[count++] = p;
    } else touched.subarray(0, count).sort();
    const sMask = this.familyMask[s];
    const sid = subject.id;
    for (let k = 0; k < count; k++) {
      const p = touched[k];
      const matching = sig[p];
      const isNamed = named[p] === 1;
      sig[p] = -1;
      named[p] = 0;
      if ((this.familyMask[p] & sMask) === 0) continue;
      const destination = direction === 'ingress' ? s : p;
      const cacheKey = this.rowKey(matching, isolated, isNamed ? this.portClass[destination] : -1);
      let row = this.rows.get(cacheKey);
      if (!row) {
        row = pairRow(
          lists.rules(matching).map((r) => all[r]),
          isolated,
          this.identities[destination].representative,
        );
        this.rows.set(cacheKey, row);
      }
      const pid = this.identities[p].id;
      for (let a = 0; a < row.length; a++) {
        const m = row[a];
        for (let b = 0; b < m.result.length; b++) {
          const r = m.result[b];
          out.push({ direction, subject: sid, peer: pid, protoFrom: m.protoFrom, protoTo: m.protoTo, portFrom: r.from, portTo: r.to, rule: r.rule });
        }
      }
    }
    return isolated;
  }
}

/** The named-port part of an identity key (what named ports resolve to on its members). */
function portPart(key: string): string {
  const at = key.indexOf(';p=');
  if (at < 0) return '';
  const end = key.indexOf(';a=', at);
  return key.slice(at + 3, end < 0 ? undefined : end);
}

export interface DecisionScope {
  /**
   * Only these subject identities (node-local tables: the protected end of a side is always a
   * pod of the node — egress protects the local source, ingress the local destination — so a
   * node needs the rows of its own pods' identities and nothing else). Default: every identity.
   */
  readonly subjects?: ReadonlySet<number>;
  /**
   * Stop once a direction has more identity pairs than this (DecisionLimitError): a cluster-wide
   * table is quadratic in identities and would exhaust memory long before the dataplane limit
   * check (limits.ts: pairs per direction) refused it anyway.
   */
  readonly maxPairsPerDirection?: number;
}

/** computeDecisions stopped at DecisionScope.maxElements; `partial` holds what it had. */
export class DecisionLimitError extends Error {
  constructor(
    readonly direction: Direction,
    readonly pairs: number,
    readonly partial: readonly DecisionElement[],
  ) {
    super(`more than ${pairs - 1} ${direction} identity pairs`);
  }
}

export function computeDecisions(program: Program, cluster: Cluster, table: IdentityTable, scope: DecisionScope = {}): DecisionTable {
  const identities = table.identities;
  const builder = new DecisionBuilder(program, cluster, identities);
  const elements: DecisionElement[] = [];
  const isolatedOut: Record<Direction, number[]> = { egress: [], ingress: [] };
  for (const direction of DIRECTIONS) {
    let pairs = 0;
    for (let s = 0; s < identities.length; s++) {
      if (scope.subjects && !scope.subjects.has(identities[s].id)) continue;
      const from = elements.length;
      if (builder.subjectElements(direction, s, elements)) isolatedOut[direction].push(identities[s].id);
      if (scope.maxPairsPerDirection === undefined) continue;
      // a subject's elements come in peer runs
      for (let i = from; i < elements.length; i++) if (i === from || elements[i].peer !== elements[i - 1].peer) pairs++;
      if (pairs > scope.maxPairsPerDirection) throw new DecisionLimitError(direction, pairs, elements);
    }
  }
  return { elements, isolated: { egress: isolatedOut.egress.sort((a, b) => a - b), ingress: isolatedOut.ingress.sort((a, b) => a - b) } };
}

/**
 * The decision elements whose subject or peer is one of `ids` (sorted like computeDecisions),
 * and the isolation of those subjects: what changes when those identities appear. Subjects in
 * `rows` get their whole rows (and isolation) as well.
 */
export function decisionsFor(
  program: Program,
  cluster: Cluster,
  table: IdentityTable,
  ids: ReadonlySet<number>,
  scope: DecisionScope = {},
  /** Subjects whose whole rows are wanted too (a node-local table's new subjects). */
  rows: ReadonlySet<number> = new Set(),
): { elements: DecisionElement[]; isolated: Record<Direction, number[]> } {
  const identities = table.identities;
  const builder = new DecisionBuilder(program, cluster, identities);
  const at = identities.map((i, k) => (ids.has(i.id) ? k : -1)).filter((k) => k >= 0);
  const elements: DecisionElement[] = [];
  const isolated: Record<Direction, number[]> = { egress: [], ingress: [] };
  for (const direction of DIRECTIONS) {
    for (let s = 0; s < identities.length; s++) {
      if (scope.subjects && !scope.subjects.has(identities[s].id)) continue;
      if (ids.has(identities[s].id) || rows.has(identities[s].id)) {
        if (builder.subjectElements(direction, s, elements)) isolated[direction].push(identities[s].id);
      } else {
        for (const p of at) builder.subjectElements(direction, s, elements, p);
      }
    }
  }
  return { elements, isolated };
}

function sameResult(a: ReadonlyArray<{ from: number; to: number; rule: Rule }>, b: ReadonlyArray<{ from: number; to: number; rule: Rule }>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].from !== b[i].from || a[i].to !== b[i].to || a[i].rule !== b[i].rule) return false;
  return true;
}

/**
 * The table semantics in one function (what the nft chain does): the decision element that
 * covers (subject, peer, proto, port), else the fallback. Returns the deciding rule, 'isolated'
 * or 'continue'. Linear scan: for tests and explanations, not for the dataplane.
 */
export function lookupDecision(
  table: DecisionTable,
  direction: Direction,
  subject: number,
  peer: number,
  proto: number,
  port: number,
): Rule | 'isolated' | 'continue' {
  for (const e of table.elements) {
    if (e.direction === direction && e.subject === subject && e.peer === peer && e.protoFrom <= proto && proto <= e.protoTo && e.portFrom <= port && port <= e.portTo) return e.rule;
  }
  return table.isolated[direction].includes(subject) ? 'isolated' : 'continue';
}
