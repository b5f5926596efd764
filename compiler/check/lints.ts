// Static lints on what a policy means (PC2xxx): the object is valid for the API server, but
// probably does not say what its author meant. Severities come from the catalogue.

import { describe, fieldName, type Path, type Reporter } from './reporter.js';
import { has, isObj, listOf, type Obj } from './values.js';

export function lintNetworkPolicy(r: Reporter, object: unknown): void {
  if (!isObj(object) || !isObj(object.spec)) return;
  const spec = object.spec;
  lintPolicyTypes(r, spec);
  for (const [direction, peersKey] of [['ingress', 'from'], ['egress', 'to']] as const) {
    listOf(spec[direction]).forEach((rule, i) => {
      if (!isObj(rule)) return;
      const rulePath: Path = ['spec', direction, i];
      lintOredSelectors(r, rulePath, peersKey, listOf(rule[peersKey]));
      listOf(rule[peersKey]).forEach((peer, j) => {
        if (isObj(peer)) lintNamespaceSelector(r, [...rulePath, peersKey, j, 'namespaceSelector'], peer.namespaceSelector);
      });
      listOf(rule.ports).forEach((port, j) => {
        if (port === null || (isObj(port) && !has(port, 'protocol'))) {
          r.report('PC2010', [...rulePath, 'ports', j], `\`${fieldName([...rulePath, 'ports', j])}\` has no protocol: it defaults to TCP`, { extra: { data: { defaultProtocol: 'TCP' } } });
        }
      });
    });
  }
}

export function lintAdminNetworkPolicy(r: Reporter, object: unknown): void {
  if (!isObj(object) || !isObj(object.spec)) return;
  const spec = object.spec;
  if (isObj(spec.subject)) {
    lintNamespaceSelector(r, ['spec', 'subject', 'namespaces'], spec.subject.namespaces);
    if (isObj(spec.subject.pods)) lintNamespaceSelector(r, ['spec', 'subject', 'pods', 'namespaceSelector'], spec.subject.pods.namespaceSelector);
  }
  for (const [direction, peersKey] of [['ingress', 'from'], ['egress', 'to']] as const) {
    listOf(spec[direction]).forEach((rule, i) => {
      if (!isObj(rule)) return;
      const rulePath: Path = ['spec', direction, i];
      listOf(rule[peersKey]).forEach((peer, j) => {
        if (!isObj(peer)) return;
        const peerPath = [...rulePath, peersKey, j];
        lintNamespaceSelector(r, [...peerPath, 'namespaces'], peer.namespaces);
        if (isObj(peer.pods)) lintNamespaceSelector(r, [...peerPath, 'pods', 'namespaceSelector'], peer.pods.namespaceSelector);
      });
      listOf(rule.ports).forEach((port, j) => {
        if (!isObj(port)) return;
        for (const key of ['portNumber', 'portRange'] as const) {
          const entry = port[key];
          if (isObj(entry) && !has(entry, 'protocol')) {
            r.report('PC2010', [...rulePath, 'ports', j, key], `\`${fieldName([...rulePath, 'ports', j, key])}\` has no protocol: it defaults to TCP`, { extra: { data: { defaultProtocol: 'TCP' } } });
          }
        }
      });
    });
  }
}

/** PC2002 (policyTypes omitted, egress rules make the policy isolate ingress too) and PC2003. */
function lintPolicyTypes(r: Reporter, spec: Obj): void {
  const ingress = listOf(spec.ingress);
  const egress = listOf(spec.egress);
  const types = Array.isArray(spec.policyTypes) ? spec.policyTypes : [];
  if (types.length === 0) {
    if (egress.length > 0 && ingress.length === 0) {
      r.report('PC2002', ['spec', 'egress'], 'policyTypes is omitted, so it defaults to [Ingress, Egress]: besides its egress rules, this policy denies all ingress to the pods it selects. Set `policyTypes: [Egress]` for an egress-only policy, or `[Ingress, Egress]` to make the ingress isolation explicit', {
        keyOnly: true,
        extra: { data: { policyTypes: ['Egress'] } },
      });
    }
    return;
  }
  for (const [direction, type, rules] of [['ingress', 'Ingress', ingress], ['egress', 'Egress', egress]] as const) {
    if (rules.length > 0 && !types.includes(type)) {
      r.report('PC2003', ['spec', direction], `the ${direction} rules are ignored: \`spec.policyTypes\` does not list ${type}`, {
        keyOnly: true,
        extra: { tags: ['unnecessary'], data: { missingPolicyType: type }, related: [r.related(['spec', 'policyTypes'], 'policyTypes')] },
      });
    }
  }
}

type PeerShape = 'namespaceSelector' | 'podSelector' | 'other';

function shapeOf(peer: unknown): PeerShape {
  if (!isObj(peer) || has(peer, 'ipBlock')) return 'other';
  const ns = has(peer, 'namespaceSelector');
  const pod = has(peer, 'podSelector');
  if (ns && !pod) return 'namespaceSelector';
  if (pod && !ns) return 'podSelector';
  return 'other';
}

/**
 * PC2001: `- namespaceSelector: ...` followed by `- podSelector: ...` (or the reverse) is two
 * peers, ORed; one peer with both selectors (ANDed) is the usual intent.
 */
function lintOredSelectors(r: Reporter, rulePath: Path, peersKey: 'from' | 'to', peers: unknown[]): void {
  const shapes = peers.map(shapeOf);
  const nsIndex = shapes.indexOf('namespaceSelector');
  const podIndex = shapes.indexOf('podSelector');
  if (nsIndex < 0 || podIndex < 0) return;
  const later = Math.max(nsIndex, podIndex);
  const earlier = Math.min(nsIndex, podIndex);
  const listPath = [...rulePath, peersKey];
  r.report('PC2001', [...listPath, later], `\`${fieldName(listPath)}\` has a peer with only a namespaceSelector (item ${nsIndex}) and another with only a podSelector (item ${podIndex}): they are ORed (any pod in those namespaces, or those pods in the policy's own namespace). To select those pods in those namespaces, put both selectors in one peer`, {
    extra: {
      related: [r.related([...listPath, earlier], `the peer with only a ${shapes[earlier]}`)],
      data: { rulePath: [...rulePath], peersKey, namespaceSelectorPeer: nsIndex, podSelectorPeer: podIndex },
    },
  });
}

/** PC2011: namespaces carry `kubernetes.io/metadata.name`, not `name`, unless someone set it. */
function lintNamespaceSelector(r: Reporter, path: Path, selector: unknown): void {
  if (!isObj(selector)) return;
  const hint = 'Kubernetes sets no `name` label on namespaces; the namespace name is in `kubernetes.io/metadata.name`';
  if (isObj(selector.matchLabels) && has(selector.matchLabels, 'name')) {
    r.report('PC2011', [...path, 'matchLabels', 'name'], `\`${fieldName(path)}\` matches label \`name\`=${describe(selector.matchLabels.name)}. ${hint}`, {
      keyOnly: true,
      extra: { data: { replacementKey: 'kubernetes.io/metadata.name' } },
    });
  }
  listOf(selector.matchExpressions).forEach((expr, i) => {
    if (isObj(expr) && expr.key === 'name') {
      r.report('PC2011', [...path, 'matchExpressions', i, 'key'], `\`${fieldName([...path, 'matchExpressions', i])}\` uses label key \`name\`. ${hint}`, {
        extra: { data: { replacementKey: 'kubernetes.io/metadata.name' } },
      });
    }
  });
}
