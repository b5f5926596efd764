// "Matches at least everything that matches": containment between peers, selectors and
// ports, decided on the canonical selectors (so it holds for every cluster, not only the
// snapshot). Sound, not complete: when in doubt, not covered.

import { cidrRange, parseCidr, subtractRanges, type IpRange } from '../ir/cidr.js';
import { selectorKey, type Requirement, type Selector } from '../ir/selector.js';
import type { Group, NamespaceMatch, Peer, PortMatch, Rule } from '../ir/types.js';
import { NAMESPACE_NAME_LABEL } from '../model/cluster.js';

/** Every connection `b` matches, `a` matches too (same subject and direction assumed). */
export function ruleCovers(groups: ReadonlyMap<string, Group>, a: Rule, b: Rule): boolean {
  return b.peers.every((pb) => a.peers.some((pa) => peerCovers(groups, pa, pb))) && portsCover(a.ports, b.ports);
}

export function peerCovers(groups: ReadonlyMap<string, Group>, a: Peer, b: Peer): boolean {
  if (a.kind === 'any') return true;
  if (b.kind === 'any') return false;
  if (a.kind === 'pods' && b.kind === 'pods') {
    if (a.group === b.group) return true;
    const ga = groups.get(a.group);
    const gb = groups.get(b.group);
    return !!ga && !!gb && namespacesCover(ga.namespaces, gb.namespaces) && selectorCovers(ga.pods, gb.pods);
  }
  if (a.kind === 'nodes' && b.kind === 'nodes') return selectorCovers(a.selector, b.selector);
  if (a.kind === 'cidr' && b.kind === 'cidr') return cidrCovers(a, b);
  return false;
}

/** Fewer requirements match more: `a` covers `b` when every requirement of `a` is one of `b`'s. */
export function selectorCovers(a: Selector, b: Selector): boolean {
  if (a.requirements.length === 0) return true;
  const keys = new Set(b.requirements.map(reqKey));
  return a.requirements.every((r) => keys.has(reqKey(r)));
}

function reqKey(r: Requirement): string {
  return selectorKey({ requirements: [r] });
}

export function namespacesCover(a: NamespaceMatch, b: NamespaceMatch): boolean {
  if (a.kind === 'selector' && b.kind === 'selector') return selectorCovers(a.selector, b.selector);
  if (a.kind === 'name' && b.kind === 'name') return a.name === b.name;
  if (a.kind === 'selector' && b.kind === 'name') {
    // Only the name label is known for sure about a namespace.
    return a.selector.requirements.every((r) => r.key === NAMESPACE_NAME_LABEL && r.operator === 'In' && r.values.includes(b.name));
  }
  // a: one namespace by name; b: a selector that can only be that namespace.
  const nameReq = (b as Extract<NamespaceMatch, { kind: 'selector' }>).selector.requirements.find((r) => r.key === NAMESPACE_NAME_LABEL && r.operator === 'In');
  return a.kind === 'name' && !!nameReq && nameReq.values.length === 1 && nameReq.values[0] === a.name;
}

function range(text: string): IpRange | undefined {
  const c = parseCidr(text);
  return c ? cidrRange(c) : undefined;
}

/** The addresses an ipBlock matches: its range minus its holes, as disjoint ranges. */
function effective(peer: Extract<Peer, { kind: 'cidr' }>): IpRange[] {
  const outer = range(peer.cidr);
  if (!outer) return [];
  return subtractRanges(outer, peer.except.map(range).filter((r): r is IpRange => !!r));
}

function cidrCovers(a: Extract<Peer, { kind: 'cidr' }>, b: Extract<Peer, { kind: 'cidr' }>): boolean {
  const ea = effective(a);
  const eb = effective(b);
  if (eb.length === 0 && !range(b.cidr)) return false;
  return eb.every((rb) => ea.some((ra) => ra.family === rb.family && rb.first >= ra.first && rb.last <= ra.last));
}

export function portsCover(a: readonly PortMatch[] | undefined, b: readonly PortMatch[] | undefined): boolean {
  if (!a) return true;
  if (!b) return false;
  return b.every((pb) => a.some((pa) => portCovers(pa, pb)));
}

export function portCovers(a: PortMatch, b: PortMatch): boolean {
  if (a.kind === 'all') return b.protocol === a.protocol;
  if (a.kind === 'range') return b.kind === 'range' && b.protocol === a.protocol && b.from >= a.from && b.to <= a.to;
  return b.kind === 'named' && b.name === a.name && b.protocol === a.protocol;
}
