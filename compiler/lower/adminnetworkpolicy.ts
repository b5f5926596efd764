// AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1) -> IR.
// Both share rule shapes; they differ in tier, priority and the actions allowed.

import type {
  AdminNetworkPolicy,
  AdminNetworkPolicyPeer,
  AdminNetworkPolicyRule,
  AdminNetworkPolicySubject,
  BaselineAdminNetworkPolicy,
} from '../model/k8s-types.js';
import { objectCursor, type Sourced } from '../model/inputs.js';
import { normalizeCidr } from '../ir/cidr.js';
import { EVERYTHING, fromLabelSelector } from '../ir/selector.js';
import type { Action, Direction, Peer, Policy, PolicyRef, PortMatch, Rule, Tier } from '../ir/types.js';
import type { Cursor } from '../syntax/documents.js';
import type { GroupTable } from './groups.js';
import { lowerAdminPort } from './ports.js';

export function lowerAdminPolicy(
  src: Sourced<AdminNetworkPolicy | BaselineAdminNetworkPolicy>,
  groups: GroupTable,
): { policy: Policy; rules: Rule[] } {
  const obj = src.object;
  const isBaseline = obj.kind === 'BaselineAdminNetworkPolicy';
  const tier: Tier = isBaseline ? 'baseline' : 'admin';
  const priority = isBaseline ? 0 : (obj as AdminNetworkPolicy).spec.priority;
  const name = obj.metadata.name ?? '';
  const ref: PolicyRef = { kind: obj.kind, name };
  const prefix = isBaseline ? 'banp' : 'anp';
  const subject = lowerSubject(obj.spec.subject, groups);
  const rules: Rule[] = [];
  const isolates: Direction[] = [];
  const at = objectCursor(src);
  const specAt = at.key('spec');
  for (const direction of ['ingress', 'egress'] as const) {
    const list = (obj.spec[direction] ?? []) as AdminNetworkPolicyRule<string>[];
    if (list.length > 0) isolates.push(direction);
    const listAt = specAt.key(direction);
    list.forEach((rule, index) => {
      const ruleAt = listAt.item(index);
      const peerKey = direction === 'ingress' ? 'from' : 'to';
      const rawPeers = rule[peerKey] ?? [];
      const peersAt = rawPeers.length > 0 ? ruleAt.key(peerKey) : ruleAt;
      const peers = rawPeers.map((p, i) => lowerAdminPeer(peersAt.item(i), p, groups)).flat();
      let ports: PortMatch[] | undefined;
      if (rule.ports && rule.ports.length > 0) {
        const portsAt = ruleAt.key('ports');
        ports = rule.ports
          .map((p, i) => lowerAdminPort(p, portsAt.item(i).span()))
          .filter((p): p is PortMatch => p !== undefined);
      }
      rules.push({
        id: `${prefix}/${name}/${direction}/${index}`,
        cookie: 0,
        policy: ref,
        tier,
        priority,
        index,
        name: rule.name,
        direction,
        action: rule.action.toLowerCase() as Action,
        subject,
        peers,
        ports,
        origins: [ruleAt.span()],
      });
    });
  }
  const policy: Policy = {
    ref,
    tier,
    priority,
    subject,
    isolates,
    span: at.span(),
    subjectSpan: specAt.key('subject').span(),
    policyTypesSpan: at.keySpan('spec'),
    ruleIds: rules.map((r) => r.id),
  };
  return { policy, rules };
}

function lowerSubject(subject: AdminNetworkPolicySubject, groups: GroupTable): string {
  if (subject.pods) {
    return groups.intern({ kind: 'selector', selector: fromLabelSelector(subject.pods.namespaceSelector) }, fromLabelSelector(subject.pods.podSelector));
  }
  return groups.intern({ kind: 'selector', selector: fromLabelSelector(subject.namespaces) }, EVERYTHING);
}

function lowerAdminPeer(at: Cursor, p: AdminNetworkPolicyPeer, groups: GroupTable): Peer[] {
  const span = at.span();
  if (p.pods) {
    const group = groups.intern({ kind: 'selector', selector: fromLabelSelector(p.pods.namespaceSelector) }, fromLabelSelector(p.pods.podSelector));
    return [{ kind: 'pods', group, span }];
  }
  if (p.namespaces) {
    return [{ kind: 'pods', group: groups.intern({ kind: 'selector', selector: fromLabelSelector(p.namespaces) }, EVERYTHING), span }];
  }
  if (p.nodes) return [{ kind: 'nodes', selector: fromLabelSelector(p.nodes), span }];
  if (p.networks) {
    const networksAt = at.key('networks');
    return p.networks.map((n, i) => ({ kind: 'cidr', cidr: normalizeCidr(n) ?? n, except: [], span: networksAt.item(i).span() }));
  }
  return [];
}
