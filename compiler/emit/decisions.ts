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
import type { Direction, Group, PortMatch, Program, Rule } from '../ir/types.js';
import type { Endpoint } from '../evaluate/endpoints.js';
import { peerMatches } from '../evaluate/match.js';
import type { Identity, IdentityTable } from './identities.js';

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

export function computeDecisions(program: Program, cluster: Cluster, table: IdentityTable): DecisionTable {
  const groups = new Map(program.groups.map((g) => [g.id, g]));
  const identities = table.identities;
  // Per rule, the peer identities it matches (peer part only), computed once.
  const peerCache = new Map<Rule, Set<number>>();
  const peersOf = (rule: Rule): Set<number> => {
    let s = peerCache.get(rule);
    if (!s) {
      s = new Set();
      for (const ident of identities) {
        if (rule.peers.some((p) => peerMatches(p, ident.representative, groups, cluster).matched)) s.add(ident.id);
      }
      peerCache.set(rule, s);
    }
    return s;
  };

  const elements: DecisionElement[] = [];
  const isolatedOut: Record<Direction, number[]> = { egress: [], ingress: [] };
  for (const direction of DIRECTIONS) {
    for (const subject of identities) {
      const { rules, isolated } = subjectRules(program, subject, direction);
      if (isolated) isolatedOut[direction].push(subject.id);
      // Pass rules alone never decide: such a subject only has its fallback.
      if (rules.every((r) => r.action === 'pass')) continue;
      for (const peer of identities) {
        if (!peer.families.some((f) => subject.families.includes(f))) continue;
        const matching = rules.filter((r) => peersOf(r).has(peer.id));
        if (matching.length === 0) continue;
        const destination = direction === 'ingress' ? subject.representative : peer.representative;
        // Per l4proto range, the port results; adjacent proto ranges with equal results merge.
        const perBucket = new Map<ProtoBucket, Array<{ from: number; to: number; rule: Rule }>>();
        for (const bucket of ['TCP', 'UDP', 'SCTP', 'other'] as const) {
          const candidates: Candidate[] = [];
          for (const rule of matching) {
            const intervals = rulePortIntervals(rule, bucket, destination);
            if (intervals.length > 0) candidates.push({ rule, intervals });
          }
          perBucket.set(bucket, candidates.length > 0 ? sweep(candidates, isolated) : []);
        }
        const merged: Array<{ protoFrom: number; protoTo: number; result: Array<{ from: number; to: number; rule: Rule }> }> = [];
        for (const pr of PROTO_RANGES) {
          const result = perBucket.get(pr.bucket)!;
          const last = merged[merged.length - 1];
          if (last && sameResult(last.result, result)) last.protoTo = pr.to;
          else merged.push({ protoFrom: pr.from, protoTo: pr.to, result });
        }
        for (const m of merged) {
          for (const r of m.result) {
            elements.push({ direction, subject: subject.id, peer: peer.id, protoFrom: m.protoFrom, protoTo: m.protoTo, portFrom: r.from, portTo: r.to, rule: r.rule });
          }
        }
      }
    }
  }
  return { elements, isolated: { egress: isolatedOut.egress.sort((a, b) => a - b), ingress: isolatedOut.ingress.sort((a, b) => a - b) } };
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
