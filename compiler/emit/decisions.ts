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
import { cidrPeerKey, type Identity, type IdentityTable } from './identities.js';
import { classParts, nodeIdentityIds, peerIndex, positionCache, registerPeerIndex, type PeerIndex } from './peer-index.js';
import { partitionPoint } from './sorted.js';

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
  /** Per rule (program order): whether it references a named port. */
  readonly named: readonly boolean[];
  /** applicable() per direction and group list (identities share their group lists). */
  readonly applicable: Record<Direction, WeakMap<readonly string[], Applicable>>;
  /** The rules (indices, program order) with a pods peer of a group / a cidr peer of a class part / an any peer / a nodes peer: where rulesMatching starts. */
  readonly byPeerGroup: ReadonlyMap<string, readonly number[]>;
  readonly byPeerClass: ReadonlyMap<string, readonly number[]>;
  readonly anyPeer: readonly number[];
  readonly nodesPeer: readonly number[];
}

/** The rules of a direction that apply to a subject (indices, program order), its isolation, and whether any of them can decide (Pass never does). */
interface Applicable {
  readonly rules: number[];
  readonly isolated: boolean;
  readonly decides: boolean;
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
  const byPeerGroup = new Map<string, number[]>();
  const byPeerClass = new Map<string, number[]>();
  const anyPeer: number[] = [];
  const nodesPeer: number[] = [];
  const push = (m: Map<string, number[]>, k: string, i: number) => {
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    if (l[l.length - 1] !== i) l.push(i);
  };
  program.rules.forEach((r, i) => {
    for (const p of r.peers) {
      if (p.kind === 'pods') push(byPeerGroup, p.group, i);
      else if (p.kind === 'cidr') push(byPeerClass, peerSignature(p), i);
      else if (p.kind === 'any') {
        if (anyPeer[anyPeer.length - 1] !== i) anyPeer.push(i);
      } else if (nodesPeer[nodesPeer.length - 1] !== i) nodesPeer.push(i);
    }
  });
  ix = { bySubject, isolating, named: program.rules.map(hasNamedPorts), applicable: { egress: new WeakMap(), ingress: new WeakMap() }, byPeerGroup, byPeerClass, anyPeer, nodesPeer };
  ruleIndexes.set(program, ix);
  return ix;
}

const NOT_A_SUBJECT: Applicable = { rules: [], isolated: false, decides: false };

/** Indices (program order) of the rules of a direction whose subject group the identity is in, and isolation. */
function applicable(program: Program, ix: RuleIndex, subject: Identity, direction: Direction): Applicable {
  if (subject.kind !== 'pod') return NOT_A_SUBJECT;
  const cache = ix.applicable[direction];
  let hit = cache.get(subject.groups);
  if (!hit) {
    const { rules, isolated } = applicableTo(ix, subject.groups, direction);
    cache.set(subject.groups, (hit = { rules, isolated, decides: rules.some((r) => program.rules[r].action !== 'pass') }));
  }
  return hit;
}

/**
 * The rules (indices, ascending) whose peers match identity `ident`, found from its groups and
 * address class parts through the rule index (plus the evaluator's test for the rare nodes
 * peers): what PeerSets.contains answers rule by rule, for every rule at once.
 */
function rulesMatching(program: Program, ix: RuleIndex, cluster: Cluster, ident: Identity): number[] {
  const out = new Set<number>(ix.anyPeer);
  for (const g of ident.groups) for (const r of ix.byPeerGroup.get(g) ?? []) out.add(r);
  for (const part of classParts(ident)) for (const r of ix.byPeerClass.get(part) ?? []) out.add(r);
  for (const r of ix.nodesPeer) {
    if (out.has(r)) continue;
    if (program.rules[r].peers.some((p) => p.kind === 'nodes' && peerMatches(p, ident.representative, groupsById(program), cluster).matched)) out.add(r);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * The subjects (ids, per direction) that can have a cell towards any of `peers` (ids of
 * identities in `identities`, a list sorted by id): the members of the subject groups of the
 * rules matching a peer. A
 * cell comes only from a rule that applies to the subject and matches the peer, so every other
 * subject's cells towards them are the fallback: a column costs the rules that reach it, not a
 * pass over every subject (a new identity at 5k pods: ~775 subjects per direction, most of
 * them without a rule towards it).
 */
export function columnSubjects(program: Program, cluster: Cluster, identities: readonly Identity[], peers: Iterable<number>): Record<Direction, Set<number>> {
  const ix = ruleIndex(program);
  const members = peerIndex(identities).byGroup;
  const out: Record<Direction, Set<number>> = { egress: new Set(), ingress: new Set() };
  const seen: Record<Direction, Set<string>> = { egress: new Set(), ingress: new Set() };
  for (const id of peers) {
    const at = positionOf(identities, id);
    if (at < 0) continue;
    for (const r of rulesMatching(program, ix, cluster, identities[at])) {
      const rule = program.rules[r];
      if (seen[rule.direction].has(rule.subject)) continue;
      seen[rule.direction].add(rule.subject);
      for (const s of members.get(rule.subject) ?? []) out[rule.direction].add(s);
    }
  }
  return out;
}

function applicableTo(ix: RuleIndex, groups: readonly string[], direction: Direction): { rules: number[]; isolated: boolean } {
  const m = ix.bySubject[direction];
  let rules: number[] = [];
  let lists = 0;
  let isolated = false;
  for (const g of groups) {
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
 * on the representative. Identities are referred to by their index in the table. The group and
 * class lists are built on first use (a table that only needs single peers never builds them),
 * or taken from `ids` (peer-index.ts, by identity id: the incremental path, which keeps them
 * across changes instead of indexing every identity per change).
 */
class PeerSets {
  private byGroup?: Map<string, number[]>;
  /** Address-class part (a cidr peer key) -> identities whose class has it, so a cidr peer does not scan every identity. */
  private byClass?: Map<string, number[]>;
  /** Per identity (index), the parts of its address class; filled on first use (single-peer queries). */
  private readonly classesOf: Array<Set<string> | undefined> = [];
  /** Rule signature -> its peer set. */
  private readonly cache: Map<string, RulePeers>;
  /** members() from `ids`, by kind and key. */
  private readonly positions: Map<string, readonly number[]>;
  /** Rule signature -> identity (index) -> whether its peers match: single-peer queries. */
  private readonly single: Map<string, Map<number, boolean>>;

  constructor(
    private readonly identities: readonly Identity[],
    private readonly program: Program,
    private readonly cluster: Cluster,
    private readonly ids?: PeerIndex,
  ) {
    // the incremental path keeps these along identity lists that keep every position (peer-index.ts)
    const kept = ids ? positionCache(identities, cluster.nodes) : undefined;
    this.cache = (kept?.peerSets as Map<string, RulePeers> | undefined) ?? new Map();
    this.positions = kept?.members ?? new Map();
    this.single = kept?.single ?? new Map();
  }

  /** The lists by position, built from every identity (the from-scratch path); left for updates (peer-index.ts). */
  private lists(): { byGroup: Map<string, number[]>; byClass: Map<string, number[]> } {
    if (!this.byGroup || !this.byClass) {
      // by position for this table, and by id for the tables updateMembership derives from it
      const byGroup = new Map<string, number[]>();
      const byClass = new Map<string, number[]>();
      const groupIds = new Map<string, number[]>();
      const classIds = new Map<string, number[]>();
      const add = (m: Map<string, number[]>, ids: Map<string, number[]>, key: string, i: number, id: number) => {
        let l = m.get(key);
        let k = ids.get(key);
        if (!l || !k) {
          m.set(key, (l = []));
          ids.set(key, (k = []));
        }
        l.push(i);
        k.push(id);
      };
      const identities = this.identities;
      for (let i = 0; i < identities.length; i++) {
        const groups = identities[i].groups;
        const id = identities[i].id;
        for (let k = 0; k < groups.length; k++) add(byGroup, groupIds, groups[k], i, id);
        for (const part of classParts(identities[i])) add(byClass, classIds, part, i, id);
      }
      this.byGroup = byGroup;
      this.byClass = byClass;
      registerPeerIndex(identities, groupIds, classIds);
    }
    return { byGroup: this.byGroup, byClass: this.byClass };
  }

  /** Positions of the identities in a group / with a class part. */
  private members(kind: 'group' | 'class', key: string): readonly number[] {
    if (!this.ids) {
      const l = this.lists();
      return (kind === 'group' ? l.byGroup : l.byClass).get(key) ?? [];
    }
    const cacheKey = `${kind}:${key}`;
    let out = this.positions.get(cacheKey);
    if (!out) {
      const ids = (kind === 'group' ? this.ids.byGroup : this.ids.byClass).get(key) ?? [];
      const found: number[] = [];
      for (const id of ids) {
        const i = positionOf(this.identities, id);
        if (i >= 0) found.push(i);
      }
      this.positions.set(cacheKey, (out = found));
    }
    return out;
  }

  private classes(i: number): Set<string> {
    let c = this.classesOf[i];
    if (!c) this.classesOf[i] = c = new Set(classParts(this.identities[i]));
    return c;
  }

  /** Program groups by id, for the evaluator's test of nodes peers (rare: built on first use). */
  private get groups(): ReadonlyMap<string, Group> {
    return groupsById(this.program);
  }

  /** Positions of the identities whose representative has a node's address (peer-index.ts: kept per identity list). */
  private onNodes(): readonly number[] {
    const ids = nodeIdentityIds(this.identities, this.cluster.nodes);
    return ids.map((id) => positionOf(this.identities, id));
  }

  /** Whether the rule's peers match identity `i`, without building the rule's whole set. */
  contains(rule: Rule, i: number): boolean {
    const sig = ruleSignature(rule);
    const entry = this.cache.get(sig);
    if (entry) return entry.set.has(i);
    let bySig = this.single.get(sig);
    if (!bySig) this.single.set(sig, (bySig = new Map()));
    let hit = bySig.get(i);
    if (hit !== undefined) return hit;
    const ident = this.identities[i];
    hit = rule.peers.some((p) => {
      switch (p.kind) {
        case 'any':
          return true;
        case 'pods':
          return ident.groups.includes(p.group);
        case 'cidr':
          return this.classes(i).has(peerSignature(p));
        case 'nodes':
          return peerMatches(p, ident.representative, this.groups, this.cluster).matched;
      }
    });
    bySig.set(i, hit);
    return hit;
  }

  of(rule: Rule): RulePeers {
    const sig = ruleSignature(rule);
    let entry = this.cache.get(sig);
    if (entry) return entry;
    const lists: Array<readonly number[]> = [];
    let all = false;
    for (const p of rule.peers) {
      if (p.kind === 'any') {
        all = true;
        break;
      }
      if (p.kind === 'pods') lists.push(this.members('group', p.group));
      else if (p.kind === 'cidr') lists.push(this.members('class', cidrPeerKey(p.cidr, p.except)));
      else {
        // Only an identity whose representative has a node's address can match a nodes peer.
        const hit: number[] = [];
        for (const i of this.onNodes()) {
          if (peerMatches(p, this.identities[i].representative, this.groups, this.cluster).matched) hit.push(i);
        }
        lists.push(hit.sort((a, b) => a - b));
      }
    }
    let sorted: readonly number[];
    if (all) sorted = Array.from({ length: this.identities.length }, (_, i) => i);
    // one peer (most rules): its member list is already in position order
    else if (lists.length === 1) sorted = lists[0];
    else sorted = [...new Set(lists.flat())].sort((a, b) => a - b);
    entry = new RulePeers(all, sorted);
    this.cache.set(sig, entry);
    return entry;
  }
}

/** The identities (positions, ascending) a rule's peers match; the set is built only for membership tests. */
class RulePeers {
  private built?: Set<number>;

  constructor(
    readonly all: boolean,
    readonly sorted: readonly number[],
  ) {}

  get set(): ReadonlySet<number> {
    return (this.built ??= new Set(this.sorted));
  }
}

/** Position of identity `id` in a list sorted by id; -1 if absent. */
export function positionOf(identities: readonly Identity[], id: number): number {
  const at = idLowerBound(identities, id);
  return at < identities.length && identities[at].id === id ? at : -1;
}

/** First position in a list sorted by id whose id is at least `id` (where `id` goes). */
export function idLowerBound(identities: readonly Identity[], id: number): number {
  return partitionPoint(0, identities.length, (i) => identities[i].id < id);
}

const programGroups = new WeakMap<Program, ReadonlyMap<string, Group>>();


/** Program groups by id, for the evaluator's test of nodes peers (built on first use, per program). */
function groupsById(program: Program): ReadonlyMap<string, Group> {
  let m = programGroups.get(program);
  if (!m) programGroups.set(program, (m = new Map(program.groups.map((g) => [g.id, g]))));
  return m;
}

const ruleSignatures = new WeakMap<Rule, string>();

function ruleSignature(rule: Rule): string {
  let sig = ruleSignatures.get(rule);
  if (sig === undefined) ruleSignatures.set(rule, (sig = rule.peers.map(peerSignature).join('\n')));
  return sig;
}

const peerSignatures = new WeakMap<Peer, string>();

function peerSignature(p: Peer): string {
  let sig = peerSignatures.get(p);
  if (sig === undefined) peerSignatures.set(p, (sig = peerText(p)));
  return sig;
}

function peerText(p: Peer): string {
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

/**
 * What decisionCells' builders share per program, so that the row of a pair computed for one
 * update is not computed again for the next: the rule-list trie, the rows by (list, isolation,
 * port class) and the port class numbers (a key -> number map, stable for the program).
 */
interface SharedRows {
  readonly lists: RuleLists;
  readonly rows: Map<number, Row>;
  readonly portClassIds: Map<string, number>;
}

/** Port classes the shared cache can number (keys stay below 2^53 up to 2^31 rule lists). */
const SHARED_CLASS_BOUND = 2 ** 20;

const sharedRows = new WeakMap<Program, SharedRows>();

function sharedRowsOf(program: Program): SharedRows {
  let s = sharedRows.get(program);
  if (!s) sharedRows.set(program, (s = { lists: new RuleLists(), rows: new Map(), portClassIds: new Map() }));
  return s;
}

/** Per (subject, peer) with rules, decides through the cache of rows (keyed by matching rules, isolation, and the destination identity's named ports when a named port is involved). */
class DecisionBuilder {
  readonly ix: RuleIndex;
  readonly peers: PeerSets;
  private readonly lists: RuleLists;
  /** Row per (matching list, isolation, destination port class + 1 or 0): see rowKey. */
  private readonly rows: Map<number, Row>;
  private readonly named: readonly boolean[];
  /** Per peer identity: its matching-rule list (a RuleLists node) while a subject is built; -1 = none. */
  private readonly sig: Int32Array;
  /** Peers with a list (sig >= 0) while a subject is built: reused, so no growing array per subject. */
  private readonly touched: Int32Array;
  private readonly namedFlag: Uint8Array;
  /** Per identity: bit 1 IPv4, bit 2 IPv6; 0 = not looked at yet (every identity has a family). */
  private readonly familyMask: Uint8Array;
  /** Per identity: its named-port class (an index into portClassIds); -1 = not looked at yet. */
  private readonly portClass: Int32Array;
  private readonly portClassIds: Map<string, number>;
  /** rowKey's multiplier: more than the number of port classes there can be. */
  private readonly classBound: number;
  /** Per peer identity (index) asked about by columns: 1 for each rule (program order) whose peers match it (rulesMatching). */
  private readonly columnHits = new Map<number, Uint8Array>();

  constructor(
    readonly program: Program,
    cluster: Cluster,
    readonly identities: readonly Identity[],
    /** Group and class lists by identity id (the incremental path, peer-index.ts). */
    peerIds?: PeerIndex,
    /** Rule lists, rows and port classes kept across builders (the incremental path: one per program). */
    shared?: SharedRows,
  ) {
    this.lists = shared?.lists ?? new RuleLists();
    this.rows = shared?.rows ?? new Map();
    this.portClassIds = shared?.portClassIds ?? new Map();
    this.classBound = shared ? SHARED_CLASS_BOUND : identities.length + 1;
    this.ix = ruleIndex(program);
    this.peers = new PeerSets(identities, program, cluster, peerIds);
    this.named = this.ix.named;
    this.sig = new Int32Array(identities.length).fill(-1);
    this.touched = new Int32Array(identities.length);
    this.namedFlag = new Uint8Array(identities.length);
    this.familyMask = new Uint8Array(identities.length);
    this.portClass = new Int32Array(identities.length).fill(-1);
  }

  /** Column queries towards identity `p` (index) test the rules rulesMatching found instead of asking PeerSets rule by rule. */
  columnPeer(p: number, cluster: Cluster): void {
    if (this.columnHits.has(p)) return;
    const hits = new Uint8Array(this.program.rules.length);
    for (const r of rulesMatching(this.program, this.ix, cluster, this.identities[p])) hits[r] = 1;
    this.columnHits.set(p, hits);
  }

  private family(i: number): number {
    let m = this.familyMask[i];
    if (m === 0) {
      const f = this.identities[i].families;
      this.familyMask[i] = m = (f.includes(4) ? 1 : 0) | (f.includes(6) ? 2 : 0);
    }
    return m;
  }

  private portClassOf(i: number): number {
    let c = this.portClass[i];
    if (c < 0) {
      const k = portPart(this.identities[i].key);
      c = this.portClassIds.get(k) ?? -1;
      if (c < 0) this.portClassIds.set(k, (c = this.portClassIds.size));
      this.portClass[i] = c;
    }
    return c;
  }

  /** portClass + 1 < classBound (at most one port class per identity, or SHARED_CLASS_BOUND). */
  private rowKey(list: number, isolated: boolean, portClass: number): number {
    if (portClass + 1 >= this.classBound) throw new Error('decisions: too many named-port classes for the shared row cache');
    return (list * this.classBound + portClass + 1) * 2 + (isolated ? 1 : 0);
  }

  /** Elements of one subject (index) and direction (only towards `onlyPeer` if given), in peer order; returns isolation. */
  subjectElements(direction: Direction, s: number, out: DecisionElement[], onlyPeer?: number): boolean {
    const subject = this.identities[s];
    const { rules, isolated, decides } = applicable(this.program, this.ix, subject, direction);
    // Pass rules alone never decide: such a subject only has its fallback.
    const all = this.program.rules;
    if (!decides) return isolated;
    const hits = onlyPeer === undefined ? undefined : this.columnHits.get(onlyPeer);
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
        if (hits ? hits[r] === 0 : !this.peers.contains(all[r], onlyPeer)) continue;
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
    const sMask = this.family(s);
    const sid = subject.id;
    for (let k = 0; k < count; k++) {
      const p = touched[k];
      const matching = sig[p];
      const isNamed = named[p] === 1;
      sig[p] = -1;
      named[p] = 0;
      if ((this.family(p) & sMask) === 0) continue;
      const destination = direction === 'ingress' ? s : p;
      const cacheKey = this.rowKey(matching, isolated, isNamed ? this.portClassOf(destination) : -1);
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

/** One (direction, subject) run of decisionCells: the subject's whole row, or its cells towards some peers. */
export interface DecisionRun {
  readonly direction: Direction;
  readonly subject: number;
  /** The subject's whole row (else only the cells towards the asked peers). */
  readonly full: boolean;
  /** Sorted by peer, proto, port. */
  readonly elements: DecisionElement[];
}

/**
 * What computeDecisions would give for some cells only, without a pass over every identity:
 * for each subject (`isSubject`), its whole row when it is in `rows`, else its cells towards
 * the peers `peers` (ids), which only the subjects columnSubjects names can have. Runs are in
 * table order (direction, subject); full rows come even when empty, cell runs only when they
 * hold elements. `isolated`: the isolation of the `rows` subjects. The group lists of whole rows
 * come from peer-index.ts (kept across updates).
 */
export function decisionCells(
  program: Program,
  cluster: Cluster,
  table: IdentityTable,
  isSubject: (id: number) => boolean,
  rows: ReadonlySet<number>,
  peers: ReadonlySet<number>,
): { runs: DecisionRun[]; isolated: Record<Direction, number[]> } {
  const identities = table.identities;
  const builder = new DecisionBuilder(program, cluster, identities, peerIndex(identities), sharedRowsOf(program));
  const at = [...peers].map((id) => positionOf(identities, id)).filter((k) => k >= 0).sort((a, b) => a - b);
  for (const p of at) builder.columnPeer(p, cluster);
  const column = at.length > 0 ? columnSubjects(program, cluster, identities, peers) : { egress: new Set<number>(), ingress: new Set<number>() };
  const runs: DecisionRun[] = [];
  const isolated: Record<Direction, number[]> = { egress: [], ingress: [] };
  for (const direction of DIRECTIONS) {
    const order = [...new Set([...rows, ...column[direction]])]
      .filter(isSubject)
      .map((id) => positionOf(identities, id))
      .filter((k) => k >= 0)
      .sort((a, b) => a - b);
    for (const s of order) {
      const subject = identities[s].id;
      const elements: DecisionElement[] = [];
      if (rows.has(subject)) {
        if (builder.subjectElements(direction, s, elements)) isolated[direction].push(subject);
        runs.push({ direction, subject, full: true, elements });
        continue;
      }
      for (const p of at) builder.subjectElements(direction, s, elements, p);
      if (elements.length > 0) runs.push({ direction, subject, full: false, elements });
    }
  }
  return { runs, isolated };
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
