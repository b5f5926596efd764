// Does a rule match a flow, and if not, why not: each answer comes with reasons in words.

import type { Cluster } from '../model/cluster.js';
import type { Protocol } from '../model/k8s-types.js';
import { cidrContains, parseCidr, parseIp } from '../ir/cidr.js';
import { firstMismatch, formatLabels, formatRequirement, formatSelector, selectorMatches } from '../ir/selector.js';
import type { Group, Peer, PortMatch, Rule } from '../ir/types.js';
import { describeEndpoint, endpointIp, type Endpoint } from './endpoints.js';

export interface MatchResult {
  matched: boolean;
  /** Why it matched or did not, one clause per selector or field. */
  reasons: string[];
}

export function groupMatches(group: Group, e: Endpoint): MatchResult {
  if (e.kind !== 'pod') return { matched: false, reasons: [`${e.ip} is not a pod`] };
  const reasons: string[] = [];
  const ns = group.namespaces;
  if (ns.kind === 'name') {
    if (e.pod.namespace !== ns.name) return { matched: false, reasons: [`pod is in namespace ${e.pod.namespace}, not ${ns.name}`] };
  } else if (ns.selector.requirements.length > 0) {
    const miss = firstMismatch(ns.selector, e.namespaceLabels);
    if (miss) {
      return {
        matched: false,
        reasons: [`namespaceSelector ${formatRequirement(miss)} did not match namespace ${e.pod.namespace} labels ${formatLabels(e.namespaceLabels)}`],
      };
    }
    reasons.push(`namespaceSelector matched ${e.pod.namespace}`);
  } else {
    reasons.push('namespaceSelector {} matches every namespace');
  }
  const miss = firstMismatch(group.pods, e.pod.labels);
  if (miss) {
    reasons.push(`podSelector ${formatRequirement(miss)} did not match labels ${formatLabels(e.pod.labels)}`);
    return { matched: false, reasons };
  }
  reasons.push(group.pods.requirements.length > 0 ? `podSelector ${formatSelector(group.pods)} matched` : 'podSelector {} matches every pod');
  return { matched: true, reasons };
}

export function peerMatches(peer: Peer, e: Endpoint, groups: ReadonlyMap<string, Group>, cluster: Cluster): MatchResult {
  switch (peer.kind) {
    case 'any':
      return { matched: true, reasons: ['no peer list: every peer'] };
    case 'pods': {
      const group = groups.get(peer.group);
      if (!group) return { matched: false, reasons: [`unknown group ${peer.group}`] };
      return groupMatches(group, e);
    }
    case 'cidr': {
      const ipText = endpointIp(e);
      const ip = ipText ? parseIp(ipText) : undefined;
      const cidr = parseCidr(peer.cidr);
      if (!ip || !cidr) return { matched: false, reasons: [`${describeEndpoint(e)} has no address`] };
      if (!cidrContains(cidr, ip)) return { matched: false, reasons: [`ipBlock ${peer.cidr} does not contain ${ipText}`] };
      const hole = peer.except.find((x) => {
        const c = parseCidr(x);
        return c ? cidrContains(c, ip) : false;
      });
      if (hole) return { matched: false, reasons: [`ipBlock ${peer.cidr} contains ${ipText} but except ${hole} removes it`] };
      return { matched: true, reasons: [`ipBlock ${peer.cidr} contains ${ipText}`] };
    }
    case 'nodes': {
      const ipText = endpointIp(e);
      const node = cluster.nodes.find((n) => ipText && n.ips.includes(ipText));
      if (!node) return { matched: false, reasons: [`${describeEndpoint(e)} is not a node address`] };
      if (!selectorMatches(peer.selector, node.labels)) return { matched: false, reasons: [`nodes selector ${formatSelector(peer.selector)} did not match node ${node.name}`] };
      return { matched: true, reasons: [`node ${node.name} matched ${formatSelector(peer.selector)}`] };
    }
  }
}

export function portMatches(pm: PortMatch, protocol: Protocol, port: number | undefined, destination: Endpoint): MatchResult {
  const proto = pm.protocol;
  switch (pm.kind) {
    case 'all':
      return proto === protocol
        ? { matched: true, reasons: [`every ${proto} port`] }
        : { matched: false, reasons: [`port entry is ${proto}, flow is ${protocol}`] };
    case 'range': {
      if (proto !== protocol) return { matched: false, reasons: [`port ${fmtRange(pm)}/${proto} is ${proto}, flow is ${protocol}`] };
      if (port === undefined) return { matched: false, reasons: [`port ${fmtRange(pm)}/${proto} needs a port; the flow names none`] };
      return port >= pm.from && port <= pm.to
        ? { matched: true, reasons: [`port ${port}/${protocol} is in ${fmtRange(pm)}`] }
        : { matched: false, reasons: [`port ${port}/${protocol} is not ${fmtRange(pm)}`] };
    }
    case 'named': {
      if (destination.kind !== 'pod') return { matched: false, reasons: [`named port ${pm.name} needs a pod destination`] };
      const named = destination.pod.ports.filter((p) => p.name === pm.name);
      if (named.length === 0) return { matched: false, reasons: [`destination ${describeEndpoint(destination)} defines no port named ${pm.name}`] };
      const hit = named.find((p) => (proto === undefined || p.protocol === proto) && p.protocol === protocol && p.port === port);
      if (hit) return { matched: true, reasons: [`named port ${pm.name} is ${hit.port}/${hit.protocol} on ${describeEndpoint(destination)}`] };
      const first = named[0];
      if (proto !== undefined && first.protocol !== proto) {
        return { matched: false, reasons: [`named port ${pm.name} is ${first.protocol} on ${describeEndpoint(destination)}, the rule says ${proto}`] };
      }
      return { matched: false, reasons: [`named port ${pm.name} is ${first.port}/${first.protocol} on ${describeEndpoint(destination)}, flow is ${port ?? 'any'}/${protocol}`] };
    }
  }
}

function fmtRange(pm: { from: number; to: number }): string {
  return pm.from === pm.to ? String(pm.from) : `${pm.from}-${pm.to}`;
}

/** Peer and port test of one rule against the far end of a flow. */
export function ruleMatches(
  rule: Rule,
  peer: Endpoint,
  destination: Endpoint,
  protocol: Protocol,
  port: number | undefined,
  groups: ReadonlyMap<string, Group>,
  cluster: Cluster,
): MatchResult {
  const reasons: string[] = [];
  let peerOk = false;
  if (rule.peers.length === 0) reasons.push('the rule lists no peer it could match');
  for (const p of rule.peers) {
    const r = peerMatches(p, peer, groups, cluster);
    if (r.matched) {
      peerOk = true;
      reasons.length = 0;
      reasons.push(...r.reasons);
      break;
    }
    reasons.push(...r.reasons);
  }
  if (!peerOk) return { matched: false, reasons };
  if (!rule.ports) return { matched: true, reasons: [...reasons, 'every port'] };
  const portReasons: string[] = [];
  for (const pm of rule.ports) {
    const r = portMatches(pm, protocol, port, destination);
    if (r.matched) return { matched: true, reasons: [...reasons, ...r.reasons] };
    portReasons.push(...r.reasons);
  }
  return { matched: false, reasons: [...reasons, ...portReasons] };
}
