// The ruleset one node loads: emitNftables' table, but with decision elements and isolated
// entries only for the identities of the pods that run on that node (the protected end of a
// side is always local: egress protects the local source, ingress the local destination).
// The ip -> identity maps stay cluster-wide (every remote address needs its identity).
//
// Why the benchmark needs it: emitNftables(program, cluster) computes decisions for every
// (subject identity, peer identity) pair of the cluster, which is quadratic in identities.
// Measured here with bench/generate-cluster.ts and 4 ANPs: 10k pods / 2k policies 396k decision
// elements (14 s), 20k / 4k 1.49M (45 s, 1.2 GB); at 50k pods / 10k policies (36 ANPs, about
// 6,200 identities) it ran out of a 4 GB heap after 9 minutes. A node needs the rows of its own
// pods only (372k elements at 50k / 10k for the ~200 pods of two nodes). computeDecisions has no subject filter, so the loop below is computeDecisions
// (compiler/emit/decisions.ts) with the subject loop restricted; `verifyNodeScope` checks that
// it produces exactly the full table's elements for those subjects (run it at small sizes).

import type { Cluster } from '../compiler/model/cluster.js';
import type { Direction, Program, Rule } from '../compiler/ir/types.js';
import { peerMatches } from '../compiler/evaluate/match.js';
import { computeDecisions, DIRECTIONS, PROTO_RANGES, rulePortIntervals, subjectRules, type DecisionElement, type ProtoBucket } from '../compiler/emit/decisions.js';
import type { IdentityTable } from '../compiler/emit/identities.js';
import type { Membership } from '../compiler/emit/membership.js';
import { membershipCommands, skeletonCommands } from '../compiler/emit/nftables/ruleset.js';
import type { NftDocument } from '../compiler/emit/nftables/schema.js';

interface Interval {
  from: number;
  to: number;
}
interface Candidate {
  readonly rule: Rule;
  readonly intervals: readonly Interval[];
}
type Result = Array<{ from: number; to: number; rule: Rule }>;

// decide / sweep / sameResult: copies of the private helpers of compiler/emit/decisions.ts.
function decide(matching: readonly Rule[], isolated: boolean): Rule | undefined {
  for (const r of matching) {
    if (r.tier !== 'admin') continue;
    if (r.action === 'pass') break;
    return r;
  }
  if (isolated) return matching.find((r) => r.tier === 'networkpolicy');
  return matching.find((r) => r.tier === 'baseline');
}

function sweep(candidates: readonly Candidate[], isolated: boolean): Result {
  const cuts = new Set<number>([0]);
  for (const c of candidates) {
    for (const i of c.intervals) {
      cuts.add(i.from);
      if (i.to < 65535) cuts.add(i.to + 1);
    }
  }
  const points = [...cuts].sort((a, b) => a - b);
  const out: Result = [];
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

function sameResult(a: Result, b: Result): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].from !== b[i].from || a[i].to !== b[i].to || a[i].rule !== b[i].rule) return false;
  return true;
}

/** computeDecisions with subjects restricted to `subjects` (identity ids). */
export function nodeDecisions(program: Program, cluster: Cluster, table: IdentityTable, subjects: ReadonlySet<number>): { elements: DecisionElement[]; isolated: Record<Direction, number[]> } {
  const groups = new Map(program.groups.map((g) => [g.id, g]));
  const identities = table.identities;
  const peerCache = new Map<Rule, Set<number>>();
  const peersOf = (rule: Rule): Set<number> => {
    let s = peerCache.get(rule);
    if (!s) {
      s = new Set();
      for (const ident of identities) if (rule.peers.some((p) => peerMatches(p, ident.representative, groups, cluster).matched)) s.add(ident.id);
      peerCache.set(rule, s);
    }
    return s;
  };
  const elements: DecisionElement[] = [];
  const isolatedOut: Record<Direction, number[]> = { egress: [], ingress: [] };
  for (const direction of DIRECTIONS) {
    for (const subject of identities) {
      if (!subjects.has(subject.id)) continue;
      const { rules, isolated } = subjectRules(program, subject, direction);
      if (isolated) isolatedOut[direction].push(subject.id);
      if (rules.every((r) => r.action === 'pass')) continue;
      for (const peer of identities) {
        if (!peer.families.some((f) => subject.families.includes(f))) continue;
        const matching = rules.filter((r) => peersOf(r).has(peer.id));
        if (matching.length === 0) continue;
        const destination = direction === 'ingress' ? subject.representative : peer.representative;
        const perBucket = new Map<ProtoBucket, Result>();
        for (const bucket of ['TCP', 'UDP', 'SCTP', 'other'] as const) {
          const candidates: Candidate[] = [];
          for (const rule of matching) {
            const intervals = rulePortIntervals(rule, bucket, destination);
            if (intervals.length > 0) candidates.push({ rule, intervals });
          }
          perBucket.set(bucket, candidates.length > 0 ? sweep(candidates, isolated) : []);
        }
        const merged: Array<{ protoFrom: number; protoTo: number; result: Result }> = [];
        for (const pr of PROTO_RANGES) {
          const result = perBucket.get(pr.bucket)!;
          const last = merged[merged.length - 1];
          if (last && sameResult(last.result, result)) last.protoTo = pr.to;
          else merged.push({ protoFrom: pr.from, protoTo: pr.to, result });
        }
        for (const m of merged) {
          for (const r of m.result) elements.push({ direction, subject: subject.id, peer: peer.id, protoFrom: m.protoFrom, protoTo: m.protoTo, portFrom: r.from, portTo: r.to, rule: r.rule });
        }
      }
    }
  }
  return { elements, isolated: { egress: isolatedOut.egress.sort((a, b) => a - b), ingress: isolatedOut.ingress.sort((a, b) => a - b) } };
}

/** Identity ids of the given pods (`namespace/name`). */
export function podIdentities(table: IdentityTable, pods: ReadonlySet<string>): Set<number> {
  const out = new Set<number>();
  for (const e of table.elements) if (e.pod !== undefined && pods.has(e.pod)) out.add(e.identity);
  return out;
}

export interface NodeEmission {
  readonly document: NftDocument;
  readonly membership: Membership;
  readonly counts: { identityElements: number; decisionElements: number; isolatedElements: number; setElements: number; rules: number; chains: number };
}

/** The node's table: skeletonCommands + membershipCommands over the node-scoped membership. */
export function emitNodeNftables(program: Program, cluster: Cluster, identities: IdentityTable, localPods: ReadonlySet<string>, table: string): NodeEmission {
  const subjects = podIdentities(identities, localPods);
  const d = nodeDecisions(program, cluster, identities, subjects);
  const membership: Membership = {
    identities,
    decisions: { elements: d.elements, isolated: d.isolated },
    identityElements: identities.elements,
    decisionElements: d.elements,
    isolated: d.isolated,
    assignment: new Map(identities.identities.map((i) => [i.key, i.id])),
  };
  const skeleton = skeletonCommands(program, { table });
  const elements = membershipCommands(membership, { table });
  let setElements = 0;
  for (const c of elements) if ('add' in c && 'element' in c.add) setElements += c.add.element.elem.length;
  let rules = 0;
  let chains = 0;
  for (const c of skeleton) {
    if (!('add' in c)) continue;
    if ('rule' in c.add) rules++;
    else if ('chain' in c.add) chains++;
  }
  return {
    document: { nftables: [...skeleton, ...elements] },
    membership,
    counts: {
      identityElements: identities.elements.length,
      decisionElements: d.elements.length,
      isolatedElements: d.isolated.egress.length + d.isolated.ingress.length,
      setElements,
      rules,
      chains,
    },
  };
}

/** The node-scoped table equals the full table restricted to the node's subjects (small inputs only: the full table is quadratic). */
export function verifyNodeScope(program: Program, cluster: Cluster, identities: IdentityTable, localPods: ReadonlySet<string>): { ok: boolean; full: number; node: number; message?: string } {
  const subjects = podIdentities(identities, localPods);
  const full = computeDecisions(program, cluster, identities);
  const node = nodeDecisions(program, cluster, identities, subjects);
  const key = (e: DecisionElement) => `${e.direction}/${e.subject}/${e.peer}/${e.protoFrom}-${e.protoTo}/${e.portFrom}-${e.portTo}/${e.rule.id}`;
  const expected = full.elements.filter((e) => subjects.has(e.subject)).map(key);
  const got = node.elements.map(key);
  if (expected.length !== got.length || expected.some((k, i) => k !== got[i])) return { ok: false, full: full.elements.length, node: got.length, message: `decision elements differ (${expected.length} expected, ${got.length} got)` };
  for (const d of DIRECTIONS) {
    const exp = full.isolated[d].filter((s) => subjects.has(s));
    if (exp.join(',') !== node.isolated[d].join(',')) return { ok: false, full: full.elements.length, node: got.length, message: `isolated ${d} differs` };
  }
  return { ok: true, full: full.elements.length, node: got.length };
}
