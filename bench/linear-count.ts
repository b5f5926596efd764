// What a per-peer linear lowering (iptables style) would emit for the same program: one rule
// per (IR rule, peer endpoint, port), where a peer endpoint is a member pod's IP, a CIDR or an
// `except` hole (a RETURN rule each), a node address, or "any"; a named port counts once per
// distinct number it resolves to on the destination pods. Plus, per subject pod, one jump into
// each policy that selects it (the per-pod dispatch chains such implementations build).

import type { Cluster, ClusterPod } from '../compiler/model/cluster.js';
import { selectorMatches } from '../compiler/ir/selector.js';
import type { Peer, PortMatch, Program, Rule } from '../compiler/ir/types.js';
import type { Membership } from './membership.js';

export interface LinearCount {
  /** (rule, peer endpoint, port) rules. */
  peerRules: number;
  /** Per-pod jumps into policy chains. */
  dispatchRules: number;
  total: number;
}

function peerEndpoints(peer: Peer, membership: Membership, cluster: Cluster): ClusterPod[] | number {
  switch (peer.kind) {
    case 'pods':
      return [...(membership.get(peer.group) ?? [])];
    case 'cidr':
      return 1 + peer.except.length;
    case 'nodes':
      return cluster.nodes.filter((n) => selectorMatches(peer.selector, n.labels)).reduce((k, n) => k + n.ips.length, 0);
    case 'any':
      return 1;
  }
}

function portCount(ports: readonly PortMatch[] | undefined, destinations: Iterable<ClusterPod>): number {
  if (!ports) return 1;
  let n = 0;
  for (const pm of ports) {
    if (pm.kind !== 'named') {
      n++;
      continue;
    }
    const numbers = new Set<string>();
    for (const pod of destinations) for (const p of pod.ports) if (p.name === pm.name && (!pm.protocol || p.protocol === pm.protocol)) numbers.add(`${p.protocol}/${p.port}`);
    n += Math.max(1, numbers.size);
  }
  return n;
}

export function countLinear(program: Program, cluster: Cluster, membership: Membership): LinearCount {
  let peerRules = 0;
  for (const rule of program.rules as Rule[]) {
    const subjects = membership.get(rule.subject) ?? new Set<ClusterPod>();
    for (const peer of rule.peers) {
      const ends = peerEndpoints(peer, membership, cluster);
      const endCount = typeof ends === 'number' ? ends : ends.reduce((k, p) => k + p.ips.length, 0);
      // Ingress: the destination is the subject; egress: the peer.
      const destinations = rule.direction === 'ingress' ? subjects : typeof ends === 'number' ? [] : ends;
      peerRules += endCount * portCount(rule.ports, destinations);
    }
  }
  let dispatchRules = 0;
  for (const policy of program.policies) dispatchRules += (membership.get(policy.subject)?.size ?? 0) * Math.max(1, policy.isolates.length);
  return { peerRules, dispatchRules, total: peerRules + dispatchRules };
}
