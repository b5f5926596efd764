// Shared by the membership property tests (update-property.test.ts: relabels;
// address-property.test.ts: pods that come, go or change addresses): what of a Membership must
// equal a fresh computeMembership, and a plain copy of one. Not imported by the compiler itself.
import type { Membership } from '../compiler/emit/membership.js';

/**
 * Everything a membership holds, as comparable values. `mapOrder`: 'kept' compares the
 * assignment and byId in their iteration order (a relabel keeps it), 'sorted' by content only
 * (pods added and removed insert and drop identities, and the overlays iterate in their own order).
 */
export function membershipFingerprint(m: Membership, mapOrder: 'kept' | 'sorted') {
  const ordered = <T>(xs: T[], key: (x: T) => string): T[] => (mapOrder === 'sorted' ? xs.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)) : xs);
  return {
    identity: m.identityElements.map((e) => `${e.family}/${e.first}-${e.last}=${e.identity}:${e.pod ?? ''}`),
    world: m.world.map((e) => `${e.family}/${e.first}-${e.last}=${e.identity}`),
    decisions: m.decisionElements.map((e) => `${e.direction}/${e.subject}/${e.peer}/${e.protoFrom}-${e.protoTo}/${e.portFrom}-${e.portTo}=${e.rule.id}`),
    decisionTable: m.decisions.elements.length,
    isolated: m.isolated,
    tableIsolated: m.decisions.isolated,
    pairs: m.layout.pairs.map((p) => `${p.direction}/${p.subject}/${p.peer}=${p.profile}`),
    ports: m.layout.ports.map((p) => `${p.direction}/${p.profile}/${p.protoFrom}-${p.protoTo}/${p.portFrom}-${p.portTo}=${p.rule.id}`),
    profiles: [...m.layout.profiles].map(([k, p]) => `${k}=${p.id}x${p.uses}`).sort(),
    assignment: ordered([...m.assignment], (a) => a[0]),
    byId: ordered([...m.identities.byId].map(([id, i]) => `${id}=${i.key}`), (s) => s),
    identities: m.identities.identities.map((i) => ({ id: i.id, key: i.key, kind: i.kind, families: i.families, groups: i.groups, members: i.members })),
    tableElements: m.identities.elements.length,
    localPods: [...(m.scope?.localPods ?? [])].sort(),
    lingering: [...(m.scope?.lingering ?? [])].sort(),
  };
}

/** A plain copy: not a membership updateMembership returned, so membershipDiff merges the whole lists. */
export function plainMembership(m: Membership): Membership {
  return { ...m, layout: { ...m.layout }, decisions: { ...m.decisions } };
}
