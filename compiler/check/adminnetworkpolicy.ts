// AdminNetworkPolicy and BaselineAdminNetworkPolicy rules beyond their CRD's OpenAPI schema:
// the CEL rules of the CRDs (BANP named "default", networks are CIDRs, no named port towards
// nodes/networks/domainNames peers), portRange start <= end, and label selector syntax (not
// enforced by the CRD, but a selector with an invalid key cannot be built by any implementation).
// Priority range, rule counts, rule name length and exactly-one-of are in the schema.

import { checkNetworks } from './ipblock.js';
import { checkLabelSelector } from './labels.js';
import { isValidPortName } from './names.js';
import { describe, fieldName, type Path, type Reporter } from './reporter.js';
import { has, int32, isObj, listOf, str, type Obj } from './values.js';

export function checkAdminNetworkPolicy(r: Reporter, object: unknown, baseline: boolean): void {
  if (!isObj(object)) return;
  if (baseline && isObj(object.metadata)) {
    const name = object.metadata.name;
    if (typeof name === 'string' && name !== 'default') {
      r.report('PC1117', ['metadata', 'name'], `a BaselineAdminNetworkPolicy must be named "default" (there is one per cluster), not ${describe(name)}`);
    }
  }
  if (!isObj(object.spec)) return;
  const spec = object.spec;
  checkSubject(r, ['spec', 'subject'], spec.subject);
  for (const [direction, peersKey] of [['ingress', 'from'], ['egress', 'to']] as const) {
    listOf(spec[direction]).forEach((rule, i) => {
      if (!isObj(rule)) return;
      const rulePath: Path = ['spec', direction, i];
      listOf(rule[peersKey]).forEach((peer, j) => checkPeer(r, [...rulePath, peersKey, j], peer, direction === 'egress'));
      listOf(rule.ports).forEach((port, j) => checkPort(r, [...rulePath, 'ports', j], port));
      if (direction === 'egress') checkNamedPortTargets(r, rulePath, rule);
    });
  }
}

function checkSubject(r: Reporter, path: Path, subject: unknown): void {
  if (!isObj(subject)) return;
  checkLabelSelector(r, [...path, 'namespaces'], subject.namespaces);
  checkNamespacedPod(r, [...path, 'pods'], subject.pods);
}

function checkNamespacedPod(r: Reporter, path: Path, pods: unknown): void {
  if (!isObj(pods)) return;
  checkLabelSelector(r, [...path, 'namespaceSelector'], pods.namespaceSelector);
  checkLabelSelector(r, [...path, 'podSelector'], pods.podSelector);
}

function checkPeer(r: Reporter, path: Path, peer: unknown, egress: boolean): void {
  if (!isObj(peer)) return;
  checkLabelSelector(r, [...path, 'namespaces'], peer.namespaces);
  checkNamespacedPod(r, [...path, 'pods'], peer.pods);
  // In an ingress peer these fields are already reported by the schema (egress only).
  if (!egress) return;
  checkLabelSelector(r, [...path, 'nodes'], peer.nodes);
  checkNetworks(r, [...path, 'networks'], peer.networks);
}

function checkPort(r: Reporter, path: Path, port: unknown): void {
  if (!isObj(port)) return;
  if (isObj(port.portRange)) {
    const start = int32(port.portRange.start);
    const end = int32(port.portRange.end);
    if (start !== undefined && end !== undefined && start > end) {
      r.report('PC1103', [...path, 'portRange', 'end'], `\`${fieldName([...path, 'portRange'])}\`: end ${end} must not be below start ${start}`);
    }
  }
  const named = str(port.namedPort);
  if (named !== undefined) {
    const errs = isValidPortName(named);
    // The CRD accepts any string, but container port names are IANA_SVC_NAMEs: this one never matches.
    if (errs.length > 0) {
      r.report('PC1105', [...path, 'namedPort'], `\`${fieldName([...path, 'namedPort'])}\` ${describe(named)} can never match a container port: ${errs.join('; ')}`, { extra: { severity: 'warning' } });
    }
  }
}

const NO_NAMED_PORTS = ['nodes', 'networks', 'domainNames'] as const;

/** CEL: networks/nodes/domainNames peers cannot be combined with named ports (they have none). */
function checkNamedPortTargets(r: Reporter, rulePath: Path, rule: Obj): void {
  const peers = listOf(rule.to);
  const peerIndex = peers.findIndex((p) => isObj(p) && NO_NAMED_PORTS.some((k) => has(p, k)));
  if (peerIndex < 0) return;
  const ports = listOf(rule.ports);
  const portIndex = ports.findIndex((p) => isObj(p) && has(p, 'namedPort'));
  if (portIndex < 0) return;
  const peer = peers[peerIndex] as Obj;
  const kind = NO_NAMED_PORTS.find((k) => has(peer, k));
  const portPath = [...rulePath, 'ports', portIndex, 'namedPort'];
  r.report('PC1118', portPath, `\`${fieldName(rulePath)}\`: a named port cannot be used with a ${kind} peer (${kind} have no named ports)`, {
    extra: { related: [r.related([...rulePath, 'to', peerIndex], `the ${kind} peer`)] },
  });
}
