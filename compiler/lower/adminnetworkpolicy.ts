// AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1) -> IR.
// Both share rule shapes; they differ in tier, priority and the actions allowed.

import type {
  AdminNetworkPolicy,
  AdminNetworkPolicyPeer,
  AdminNetworkPolicyRule,
  AdminNetworkPolicySubject,
  BaselineAdminNetworkPolicy,
} from '../model/k8s-types.js';
import { fieldSpan, type Sourced } from '../model/inputs.js';
import { normalizeCidr } from '../ir/cidr.js';
import { EVERYTHING, fromLabelSelector } from '../ir/selector.js';
import type { Action, Direction, Peer, Policy, PolicyRef, PortMatch, Rule, Tier } from '../ir/types.js';
import type { PathSegment } from '../syntax/documents.js';
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
  for (const direction of ['ingress', 'egress'] as const) {
    const list = (obj.spec[direction] ?? []) as AdminNetworkPolicyRule<string>[];
    if (list.length > 0) isolates.push(direction);
    list.forEach((rule, index) => {
      const rulePath: PathSegment[] = ['spec', direction, index];
      const peerKey = direction === 'ingress' ? 'from' : 'to';
      const rawPeers = rule[peerKey] ?? [];
      const peers = rawPeers.map((p, i) => lowerAdminPeer(src, p, [...rulePath, peerKey, i], groups)).flat();
      let ports: PortMatch[] | undefined;
      if (rule.ports && rule.ports.length > 0) {
        ports = rule.ports
          .map((p, i) => lowerAdminPort(p, fieldSpan(src, [...rulePath, 'ports', i])))
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
        origins: [fieldSpan(src, rulePath)],
      });
    });
  }
  const policy: Policy = {
    ref,
    tier,
    priority,
    subject,
    isolates,
    span: fieldSpan(src, []),
    subjectSpan: fieldSpan(src, ['spec', 'subject']),
    policyTypesSpan: fieldSpan(src, ['spec'], true),
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

function lowerAdminPeer(src: Sourced, p: AdminNetworkPolicyPeer, path: PathSegment[], groups: GroupTable): Peer[] {
  const span = fieldSpan(src, path);
  if (p.pods) {
    const group = groups.intern({ kind: 'selector', selector: fromLabelSelector(p.pods.namespaceSelector) }, fromLabelSelector(p.pods.podSelector));
    return [{ kind: 'pods', group, span }];
  }
  if (p.namespaces) {
    return [{ kind: 'pods', group: groups.intern({ kind: 'selector', selector: fromLabelSelector(p.namespaces) }, EVERYTHING), span }];
  }
  if (p.nodes) return [{ kind: 'nodes', selector: fromLabelSelector(p.nodes), span }];
  if (p.networks) {
    return p.networks.map((n, i) => ({ kind: 'cidr', cidr: normalizeCidr(n) ?? n, except: [], span: fieldSpan(src, [...path, 'networks', i]) }));
  }
  return [];
}
