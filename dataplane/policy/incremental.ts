// The one-pod path: pods' labels (or named ports) change, pods appear or vanish, or gain or
// lose addresses (CNI ADD/DEL). The membership is brought forward with
// compiler/emit/membership.ts updateMembership (exact: equal to a fresh computeMembership) and
// the element batch is membershipDiff of the two. When every changed pod keeps its addresses
// and moves into an identity that already exists and its old identity keeps members, the
// identities, decisions and isolation are shared with the previous membership and exactly one
// ip -> identity element per address changes (in both the source and destination maps).
// Otherwise (addresses carved out of or given back to the world; an identity appears,
// vanishes or changes address families; a node-local table gains or loses a subject) the
// result still equals the full computation, and `reason` says why it was not that pure move;
// updateMembership itself falls back to the full computation where it cannot be exact
// (shared addresses, node addresses under a nodes peer, a local-pod set that changed beyond
// the named pods). A node-local membership (`before.scope`, engine.ts nodeName) keeps its
// scope unless `scope` (the new local pods, naming new local pods) is given.
import { membershipDiff, updateMembership, updateSummary, type Membership, type MembershipDiff, type MembershipScope } from '../../compiler/emit/membership.js';
import type { Program } from '../../compiler/ir/types.js';
import type { Cluster, ClusterPod } from '../../compiler/model/cluster.js';

export interface PodsUpdate {
  membership: Membership;
  diff: MembershipDiff;
  /** set when the change was more than moving addresses between existing identities */
  reason?: string;
}

/**
 * The membership after the named pods (`namespace/name`) changed labels or named ports,
 * appeared, vanished or changed addresses (`cluster` is the new one), and the element diff
 * from `before`. `scope`: the new node-local scope (default: before's).
 */
export function updatePods(program: Program, cluster: Cluster, before: Membership, names: readonly string[], scope?: MembershipScope): PodsUpdate {
  const membership = updateMembership(before, program, cluster, names, scope ?? before.scope);
  const diff = membershipDiff(before, membership);
  const s = updateSummary(before, membership);
  const addressesKept = s === undefined || s.carved + s.freed === 0;
  if (addressesKept && membership.assignment === before.assignment && membership.decisions === before.decisions) return { membership, diff };
  return { membership, diff, reason: whyNotPure(before, membership, names) };
}

function whyNotPure(before: Membership, after: Membership, names: readonly string[]): string {
  const who = names.length === 1 ? names[0] : `${names.length} pods`;
  // the update's own record when it has one: iterating the derived assignment would build it whole
  const s = updateSummary(before, after);
  if (s) {
    if (s.carved + s.freed > 0) return `${who}: ${s.carved} address(es) carved out of the world, ${s.freed} given back${s.added + s.removed.length > 0 ? ` (${s.added} identities appear, ${s.removed.length} vanish)` : ''}`;
    if (s.added > 0) return `${who} moves into a new identity`;
    if (s.removed.length > 0) return `identity ${s.removed[0]} loses its last member`;
    if (s.refamilied === 0 && s.subjectsChanged > 0) return `${who}: the node-local table gains or loses a subject identity`;
    return `${who}: identity address families or pod addresses changed`;
  }
  for (const key of after.assignment.keys()) if (!before.assignment.has(key)) return `${who} moves into a new identity`;
  for (const [key, id] of before.assignment) if (!after.assignment.has(key)) return `identity ${id} loses its last member`;
  if (after.assignment === before.assignment) return `${who}: the node-local table gains or loses a subject identity`;
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
