// The ruleset one node loads: emitNftables' table, but with decisions only for the identities
// of the pods that run on that node (computeMembership's `localPods` scope; the protected end of
// a side is always local: egress protects the local source, ingress the local destination).
// The ip -> identity maps stay cluster-wide (every remote address needs its identity).
//
// Why the benchmark needs it: a cluster-wide table has decisions for every (subject identity,
// peer identity) pair of the cluster, which is quadratic in identities (at 50k pods / 10k
// policies, 13.75M decision elements). A node needs the rows of its own pods only.
// `verifyNodeScope` checks the scoped table against the full one (small sizes).

import type { Cluster } from '../compiler/model/cluster.js';
import type { Program } from '../compiler/ir/types.js';
import { computeDecisions, DIRECTIONS, type DecisionElement } from '../compiler/emit/decisions.js';
import { podIdentities, type IdentityTable } from '../compiler/emit/identities.js';
import { computeMembership, type Membership } from '../compiler/emit/membership.js';
import { membershipCommands, skeletonCommands } from '../compiler/emit/nftables/ruleset.js';
import type { NftDocument } from '../compiler/emit/nftables/schema.js';

export interface NodeEmission {
  readonly document: NftDocument;
  readonly membership: Membership;
  readonly counts: { identityElements: number; decisionElements: number; pairElements: number; portElements: number; isolatedElements: number; setElements: number; rules: number; chains: number };
}

/** The node's table: skeletonCommands + membershipCommands over the node-scoped membership. */
export function emitNodeNftables(program: Program, cluster: Cluster, identities: IdentityTable, localPods: ReadonlySet<string>, table: string): NodeEmission {
  const membership = computeMembership(program, cluster, new Map(identities.identities.map((i) => [i.key, i.id])), { localPods });
  const d = membership.decisions;
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
      pairElements: membership.layout.pairs.length,
      portElements: membership.layout.ports.length,
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
  const node = computeDecisions(program, cluster, identities, { subjects });
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
