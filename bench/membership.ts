// Group membership (group id -> member pods) from the IR and the cluster, with the same
// semantics as compiler/evaluate/match.ts groupMatches, but indexed by namespace so a full
// recompute is not pods x groups. Stand-in until compiler/emit/identities.ts exists.

import { namespaceLabels, type Cluster, type ClusterPod } from '../compiler/model/cluster.js';
import { selectorMatches, type Labels } from '../compiler/ir/selector.js';
import type { Group, Program } from '../compiler/ir/types.js';

export type Membership = Map<string, Set<ClusterPod>>;

export function podsByNamespace(cluster: Cluster): Map<string, ClusterPod[]> {
  const out = new Map<string, ClusterPod[]>();
  for (const pod of cluster.pods) {
    let list = out.get(pod.namespace);
    if (!list) out.set(pod.namespace, (list = []));
    list.push(pod);
  }
  return out;
}

function namespaceMatches(group: Group, namespace: string, nsLabels: Labels): boolean {
  return group.namespaces.kind === 'name' ? group.namespaces.name === namespace : selectorMatches(group.namespaces.selector, nsLabels);
}

/** Whether one pod (with these labels) is in a group. */
export function inGroup(group: Group, cluster: Cluster, namespace: string, labels: Labels): boolean {
  return namespaceMatches(group, namespace, namespaceLabels(cluster, namespace)) && selectorMatches(group.pods, labels);
}

export function computeMembership(program: Program, cluster: Cluster): Membership {
  const byNamespace = podsByNamespace(cluster);
  const out: Membership = new Map();
  for (const group of program.groups) {
    const members = new Set<ClusterPod>();
    const candidates = group.namespaces.kind === 'name'
      ? [byNamespace.get(group.namespaces.name) ?? []]
      : [...byNamespace.entries()].filter(([ns]) => namespaceMatches(group, ns, namespaceLabels(cluster, ns))).map(([, pods]) => pods);
    for (const pods of candidates) for (const pod of pods) if (selectorMatches(group.pods, pod.labels)) members.add(pod);
    out.set(group.id, members);
  }
  return out;
}

export interface PodChange {
  /** Groups the pod joins and leaves. */
  joined: string[];
  left: string[];
  /** Set elements added or removed: one per pod IP per group joined or left. */
  elements: number;
}

/** What one pod's label change does to membership: every group tested with old and new labels. */
export function podLabelChange(program: Program, cluster: Cluster, pod: ClusterPod, newLabels: Labels): PodChange {
  const nsLabels = namespaceLabels(cluster, pod.namespace);
  const joined: string[] = [];
  const left: string[] = [];
  for (const group of program.groups) {
    if (!namespaceMatches(group, pod.namespace, nsLabels)) continue;
    const before = selectorMatches(group.pods, pod.labels);
    const after = selectorMatches(group.pods, newLabels);
    if (before && !after) left.push(group.id);
    else if (after && !before) joined.push(group.id);
  }
  return { joined, left, elements: (joined.length + left.length) * pod.ips.length };
}
