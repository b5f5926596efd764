// What our lowering emits, counted from the IR (until an nftables backend reports its own
// counts through cli/backends.ts): one rule per IR rule, and set elements for the groups the
// rules name (one per member pod IP), for CIDR peers (the CIDR and each except), and for named
// ports (one ip . port element per destination pod that defines the name).

import type { Cluster } from '../compiler/model/cluster.js';
import type { Program } from '../compiler/ir/types.js';
import type { Membership } from './membership.js';

export interface IrCount {
  rules: number;
  sets: number;
  setElements: number;
}

export function countIr(program: Program, _cluster: Cluster, membership: Membership): IrCount {
  const groups = new Set<string>();
  const cidrs = new Map<string, number>();
  const named = new Set<string>();
  let namedElements = 0;
  for (const rule of program.rules) {
    groups.add(rule.subject);
    for (const peer of rule.peers) {
      if (peer.kind === 'pods') groups.add(peer.group);
      else if (peer.kind === 'cidr') cidrs.set(`${peer.cidr}|${peer.except.join(',')}`, 1 + peer.except.length);
    }
    for (const pm of rule.ports ?? []) {
      if (pm.kind !== 'named') continue;
      // One set per (destination group, port name): its elements are member ip . port pairs.
      const destinationGroups = rule.direction === 'ingress' ? [rule.subject] : rule.peers.flatMap((p) => (p.kind === 'pods' ? [p.group] : []));
      for (const g of destinationGroups) {
        const key = `${g}|${pm.name}|${pm.protocol ?? ''}`;
        if (named.has(key)) continue;
        named.add(key);
        for (const pod of membership.get(g) ?? []) for (const p of pod.ports) if (p.name === pm.name && (!pm.protocol || p.protocol === pm.protocol)) namedElements += pod.ips.length;
      }
    }
  }
  let groupElements = 0;
  for (const g of groups) for (const pod of membership.get(g) ?? []) groupElements += pod.ips.length;
  const cidrElements = [...cidrs.values()].reduce((a, b) => a + b, 0);
  return { rules: program.rules.length, sets: groups.size + cidrs.size + named.size, setElements: groupElements + cidrElements + namedElements };
}
