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
import type { Endpoint } from '../evaluate/endpoints.js';
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
  private readonly classes: Array<Set<string>>;
  private readonly cache = new Map<string, { all: boolean; set: Set<number>; sorted: number[] }>();
  private readonly single = new Map<string, boolean>();
  private readonly groups: ReadonlyMap<string, Group>;

  constructor(
    private readonly identities: readonly Identity[],
    program: Program,
    private readonly cluster: Cluster,
  ) {
    this.groups = new Map(program.groups.map((g) => [g.id, g]));
    identities.forEach((ident, i) => {
      for (const g of ident.groups) {
        let l = this.byGroup.get(g);
        if (!l) this.byGroup.set(g, (l = []));
        l.push(i);
      }
    });
    this.classes = identities.map((ident) => new Set(identityAddressClass(ident.key).split('|')));
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
        const key = cidrPeerKey(p.cidr, p.except);
        this.classes.forEach((c, i) => {
          if (c.has(key)) set.add(i);
        });
      } else {
        this.identities.forEach((ident, i) => {
          if (!set.has(i) && peerMatches(p, ident.representative, this.groups, this.cluster).matched) set.add(i);
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

/** Per (subject, peer) with rules, decides through the cache of rows (keyed by matching rules, isolation, and the destination identity when a named port is involved). */
class DecisionBuilder {
  readonly ix: RuleIndex;
  readonly peers: PeerSets;
  private readonly rows = new Map<string, Row>();
  private readonly named: boolean[];
  private readonly sig: Array<string | undefined>;
  private readonly namedFlag: Uint8Array;
  private readonly familyMask: Uint8Array;
  private readonly portClass: number[];

  constructor(
    readonly program: Program,
    cluster: Cluster,
    readonly identities: readonly Identity[],
  ) {
    this.ix = ruleIndex(program);
    this.peers = new PeerSets(identities, program, cluster);
    this.named = program.rules.map(hasNamedPorts);
    this.sig = new Array(identities.length).fill(undefined);
    this.namedFlag = new Uint8Array(identities.length);
    this.familyMask = Uint8Array.from(identities, (i) => (i.families.includes(4) ? 1 : 0) | (i.families.includes(6) ? 2 : 0));
    const classes = new Map<string, number>();
    this.portClass = identities.map((i) => {
      const k = portPart(i.key);
      let c = classes.get(k);
      if (c === undefined) classes.set(k, (c = classes.size));
      return c;
    });
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
    const touched: number[] = [];
    let everything = false;
    // Per peer identity, the list of matching rules (in rule order), built rule by rule.
    for (const r of rules) {
      const tag = `${r},`;
      const isNamed = this.named[r];
      if (onlyPeer !== undefined) {
        if (!this.peers.contains(all[r], onlyPeer)) continue;
        if (sig[onlyPeer] === undefined) {
          sig[onlyPeer] = '';
          touched.push(onlyPeer);
        }
        sig[onlyPeer] += tag;
        if (isNamed) named[onlyPeer] = 1;
        continue;
      }
      const set = this.peers.of(all[r]);
      if (set.all) everything = true;
      for (const p of set.sorted) {
        if (sig[p] === undefined) {
          sig[p] = '';
          touched.push(p);
        }
        sig[p] += tag;
        if (isNamed) named[p] = 1;
      }
    }
    let order: Iterable<number>;
    if (everything || touched.length > n / 8) {
      const marked: number[] = [];
      for (let p = 0; p < n; p++) if (sig[p] !== undefined) marked.push(p);
      order = marked;
    } else order = touched.sort((a, b) => a - b);
    const sMask = this.familyMask[s];
    const prefix = isolated ? 'i' : 'n';
    for (const p of order) {
      const matching = sig[p]!;
      const isNamed = named[p] === 1;
      sig[p] = undefined;
      named[p] = 0;
      if ((this.familyMask[p] & sMask) === 0) continue;
      const peer = this.identities[p];
      const destination = direction === 'ingress' ? s : p;
      const cacheKey = isNamed ? `${prefix}${this.portClass[destination]}|${matching}` : `${prefix}|${matching}`;
      let row = this.rows.get(cacheKey);
      if (!row) {
        const idx = matching.split(',');
        idx.pop();
        row = pairRow(
          idx.map((r) => all[Number(r)]),
          isolated,
          this.identities[destination].representative,
        );
        this.rows.set(cacheKey, row);
      }
      const sid = subject.id;
      const pid = peer.id;
      for (const m of row) {
        for (const r of m.result) {
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
}

export function computeDecisions(program: Program, cluster: Cluster, table: IdentityTable, scope: DecisionScope = {}): DecisionTable {
  const identities = table.identities;
  const builder = new DecisionBuilder(program, cluster, identities);
  const elements: DecisionElement[] = [];
  const isolatedOut: Record<Direction, number[]> = { egress: [], ingress: [] };
  for (const direction of DIRECTIONS) {
    for (let s = 0; s < identities.length; s++) {
      if (scope.subjects && !scope.subjects.has(identities[s].id)) continue;
      if (builder.subjectElements(direction, s, elements)) isolatedOut[direction].push(identities[s].id);
    }
  }
  return { elements, isolated: { egress: isolatedOut.egress.sort((a, b) => a - b), ingress: isolatedOut.ingress.sort((a, b) => a - b) } };
}

/**
 * The decision elements whose subject or peer is one of `ids` (sorted like computeDecisions),
 * and the isolation of those subjects: what changes when those identities appear.
 */
export function decisionsFor(program: Program, cluster: Cluster, table: IdentityTable, ids: ReadonlySet<number>, scope: DecisionScope = {}): { elements: DecisionElement[]; isolated: Record<Direction, number[]> } {
  const identities = table.identities;
  const builder = new DecisionBuilder(program, cluster, identities);
  const at = identities.map((i, k) => (ids.has(i.id) ? k : -1)).filter((k) => k >= 0);
  const elements: DecisionElement[] = [];
  const isolated: Record<Direction, number[]> = { egress: [], ingress: [] };
  for (const direction of DIRECTIONS) {
    for (let s = 0; s < identities.length; s++) {
      if (scope.subjects && !scope.subjects.has(identities[s].id)) continue;
      if (ids.has(identities[s].id)) {
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
