// The one-pod path: pods' labels (or named ports) change while their addresses stay. The
// membership is brought forward with compiler/emit/membership.ts updateMembership (exact: equal
// to a fresh computeMembership) and the element batch is membershipDiff of the two. When every
// changed pod moves into an identity that already exists and its old identity keeps members,
// the identities, decisions and isolation are shared with the previous membership and exactly
// one ip -> identity element per address changes (in both the source and destination maps).
// Otherwise (an identity appears, vanishes or changes address families; an address is not the
// pod's) the result still equals the full computation, and `reason` says why it was not that
// pure move. A node-local membership (`before.scope`, engine.ts nodeName) keeps its scope. A
// change of one of its local pods is that same pure move when it leaves the set of local
// identities (the table's subjects) as it was; otherwise it is recomputed with the scope.
import { podIdentities } from '../../compiler/emit/identities.js';
import { membershipDiff, updateMembership, type Membership, type MembershipDiff } from '../../compiler/emit/membership.js';
import type { Program } from '../../compiler/ir/types.js';
import type { Cluster, ClusterPod } from '../../compiler/model/cluster.js';

export interface PodsUpdate {
  membership: Membership;
  diff: MembershipDiff;
  /** set when the change was more than moving addresses between existing identities */
  reason?: string;
}

/** The membership after the named pods (`namespace/name`) changed labels or named ports, and the element diff from `before`. */
export function updatePods(program: Program, cluster: Cluster, before: Membership, names: readonly string[]): PodsUpdate {
  const local = before.scope?.localPods;
  if (local && names.some((n) => local.has(n))) {
    const moved = localPureMove(program, cluster, before, names);
    if (moved) return moved;
  }
  const membership = updateMembership(before, program, cluster, names);
  const diff = membershipDiff(before, membership);
  if (membership.assignment === before.assignment && membership.decisions === before.decisions) return { membership, diff };
  // a node-local table (before.scope) whose own pods changed is recomputed by updateMembership
  const own = local ? names.filter((n) => local.has(n)) : [];
  if (own.length > 0) return { membership, diff, reason: `${own.length === 1 ? `local pod ${own[0]}` : `${own.length} local pods`} changed: node-local table recomputed` };
  return { membership, diff, reason: whyNotPure(before, membership, names) };
}

/**
 * A node-local table whose own pods changed: compiler/emit updateMembership recomputes it from
 * scratch (its subjects may change). When the change is a pure move between existing
 * identities (decisions shared, computed here without the scope) and the local pods' identities
 * are the same set as before, the scoped decisions (the cluster-wide rows of those subjects)
 * are unchanged too, so the result is exact with the scope put back. Otherwise undefined.
 */
function localPureMove(program: Program, cluster: Cluster, before: Membership, names: readonly string[]): PodsUpdate | undefined {
  const local = before.scope!.localPods!;
  const { scope: _scope, ...unscoped } = before;
  const wide = updateMembership(unscoped, program, cluster, names);
  if (wide.assignment !== before.assignment || wide.decisions !== before.decisions) return undefined;
  if (!sameIds(podIdentities(before.identities, local), podIdentities(wide.identities, local))) return undefined;
  const membership: Membership = { ...wide, scope: before.scope };
  return { membership, diff: membershipDiff(before, membership) };
}

function sameIds(a: ReadonlySet<number>, b: ReadonlySet<number>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function whyNotPure(before: Membership, after: Membership, names: readonly string[]): string {
  const who = names.length === 1 ? names[0] : `${names.length} pods`;
  for (const key of after.assignment.keys()) if (!before.assignment.has(key)) return `${who} moves into a new identity`;
  for (const [key, id] of before.assignment) if (!after.assignment.has(key)) return `identity ${id} loses its last member`;
  return `${who}: identity address families or pod addresses changed`;
}

export type RelabelResult = { membership: Membership; diff: MembershipDiff } | { fallback: string };

/**
 * One pod (same key and addresses as before, new labels/ports): the membership and element diff
 * when it only moves between existing identities; otherwise why the full computation is needed.
 */
export function relabelPod(program: Program, cluster: Cluster, before: Membership, pod: ClusterPod): RelabelResult {
  const u = updatePods(program, cluster, before, [`${pod.namespace}/${pod.name}`]);
  return u.reason === undefined ? { membership: u.membership, diff: u.diff } : { fallback: u.reason };
}
