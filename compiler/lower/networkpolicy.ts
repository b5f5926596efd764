// NetworkPolicy (networking.k8s.io/v1) -> IR. Assumes the object passed validation.

import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from '../model/k8s-types.js';
import { objectCursor, type Sourced } from '../model/inputs.js';
import { normalizeCidr } from '../ir/cidr.js';
import { EVERYTHING, fromLabelSelector } from '../ir/selector.js';
import type { Direction, Peer, Policy, PolicyRef, Rule } from '../ir/types.js';
import type { Cursor } from '../syntax/documents.js';
import type { GroupTable } from './groups.js';
import { lowerNetworkPolicyPort } from './ports.js';

/** policyTypes after the API server's defaulting: Ingress always, Egress when egress rules exist. */
export function effectivePolicyTypes(np: NetworkPolicy): Direction[] {
  const spec = np.spec ?? {};
  const explicit = spec.policyTypes;
  if (explicit && explicit.length > 0) {
    const out: Direction[] = [];
    if (explicit.includes('Ingress')) out.push('ingress');
    if (explicit.includes('Egress')) out.push('egress');
    return out;
  }
  return spec.egress && spec.egress.length > 0 ? ['ingress', 'egress'] : ['ingress'];
}

export function lowerNetworkPolicy(src: Sourced<NetworkPolicy>, groups: GroupTable): { policy: Policy; rules: Rule[] } {
  const np = src.object;
  // The API server decodes a missing spec, and null list items, as empty structs: a
  // NetworkPolicy without spec selects every pod of its namespace and denies their ingress;
  // `ingress: [null]` is `ingress: [{}]`.
  const spec = np.spec ?? ({ podSelector: {} } as NetworkPolicy['spec']);
  const namespace = np.metadata.namespace ?? 'default';
  const ref: PolicyRef = { kind: 'NetworkPolicy', namespace, name: np.metadata.name ?? '' };
  const subject = groups.intern({ kind: 'name', name: namespace }, fromLabelSelector(spec.podSelector));
  const isolates = effectivePolicyTypes(np);
  const rules: Rule[] = [];
  const at = objectCursor(src);
  const specAt = at.key('spec');
  for (const direction of isolates) {
    const list = direction === 'ingress' ? spec.ingress : spec.egress;
    const listAt = specAt.key(direction);
    (list ?? []).forEach((ruleOrNull, index) => {
      const rule = ruleOrNull ?? {};
      const ruleAt = listAt.item(index);
      const peerKey = direction === 'ingress' ? 'from' : 'to';
      const rawPeers = (rule as { from?: NetworkPolicyPeer[]; to?: NetworkPolicyPeer[] })[peerKey];
      const peersAt = rawPeers && rawPeers.length > 0 ? ruleAt.key(peerKey) : ruleAt;
      const peers: Peer[] =
        rawPeers && rawPeers.length > 0
          ? rawPeers.map((p, i) => lowerPeer(peersAt.item(i), p ?? {}, namespace, groups))
          : [{ kind: 'any' }];
      const portsAt = rule.ports && rule.ports.length > 0 ? ruleAt.key('ports') : ruleAt;
      const ports = rule.ports && rule.ports.length > 0
        ? rule.ports.map((p: NetworkPolicyPort | null, i: number) => lowerNetworkPolicyPort(p ?? {}, portsAt.item(i).span()))
        : undefined;
      rules.push({
        id: `np/${namespace}/${ref.name}/${direction}/${index}`,
        cookie: 0,
        policy: ref,
        tier: 'networkpolicy',
        priority: 0,
        index,
        direction,
        action: 'allow',
        subject,
        peers,
        ports,
        origins: [ruleAt.span()],
      });
    });
  }
  const policy: Policy = {
    ref,
    tier: 'networkpolicy',
    priority: 0,
    subject,
    isolates,
    span: at.span(),
    subjectSpan: specAt.key('podSelector').span(),
    policyTypesSpan: spec.policyTypes ? specAt.key('policyTypes').span() : at.keySpan('spec'),
    ruleIds: rules.map((r) => r.id),
  };
  return { policy, rules };
}

function lowerPeer(at: Cursor, p: NetworkPolicyPeer, namespace: string, groups: GroupTable): Peer {
  const span = at.span();
  if (p.ipBlock) {
    return {
      kind: 'cidr',
      cidr: normalizeCidr(p.ipBlock.cidr) ?? p.ipBlock.cidr,
      except: (p.ipBlock.except ?? []).map((e) => normalizeCidr(e) ?? e),
      span,
    };
  }
  const pods = p.podSelector ? fromLabelSelector(p.podSelector) : EVERYTHING;
  const namespaces = p.namespaceSelector
    ? ({ kind: 'selector', selector: fromLabelSelector(p.namespaceSelector) } as const)
    : ({ kind: 'name', name: namespace } as const);
  return { kind: 'pods', group: groups.intern(namespaces, pods), span };
}
