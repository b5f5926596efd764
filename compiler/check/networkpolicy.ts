// The rules of ValidateNetworkPolicy (kubernetes pkg/apis/networking/validation) that a
// schema cannot say: port numbers and names, endPort, peers, ipBlock, label selectors,
// policyTypes. Types, required fields and enums are schema.ts's job; a value of the wrong
// type is skipped here (it already has its diagnostic).

import { checkIPBlock } from './ipblock.js';
import { checkLabelSelector } from './labels.js';
import { isValidPortName, isValidPortNumber } from './names.js';
import { describe, fieldName, type Path, type Reporter } from './reporter.js';
import { has, int32, isObj, listOf, str, type Obj } from './values.js';

export function checkNetworkPolicy(r: Reporter, object: unknown): void {
  if (!isObj(object) || !isObj(object.spec)) return;
  const spec = object.spec;
  checkLabelSelector(r, ['spec', 'podSelector'], spec.podSelector);
  for (const [direction, peersKey] of [['ingress', 'from'], ['egress', 'to']] as const) {
    listOf(spec[direction]).forEach((rule, i) => {
      const rulePath: Path = ['spec', direction, i];
      const body = rule ?? {};
      if (!isObj(body)) return;
      listOf(body.ports).forEach((port, j) => checkPort(r, [...rulePath, 'ports', j], port ?? {}));
      listOf(body[peersKey]).forEach((peer, j) => checkPeer(r, [...rulePath, peersKey, j], peer ?? {}));
    });
  }
  checkPolicyTypes(r, spec.policyTypes);
}

/** ValidateNetworkPolicyPort. */
function checkPort(r: Reporter, path: Path, port: unknown): void {
  if (!isObj(port)) return;
  const where = fieldName(path);
  const endPort = int32(port.endPort);
  if (!has(port, 'port')) {
    if (endPort !== undefined) r.report('PC1101', [...path, 'endPort'], `\`${where}.endPort\` may not be specified when \`port\` is not specified`);
    return;
  }
  const number = int32(port.port);
  const name = str(port.port);
  if (number !== undefined) {
    for (const msg of isValidPortNumber(number)) r.report('PC1104', [...path, 'port'], `\`${where}.port\` ${number} is not a valid port number: ${msg}`);
    if (endPort !== undefined) {
      if (endPort < number) r.report('PC1103', [...path, 'endPort'], `\`${where}.endPort\` ${endPort} must be greater than or equal to \`port\` ${number}`);
      for (const msg of isValidPortNumber(endPort)) r.report('PC1104', [...path, 'endPort'], `\`${where}.endPort\` ${endPort} is not a valid port number: ${msg}`);
    }
  } else if (name !== undefined) {
    if (endPort !== undefined) r.report('PC1102', [...path, 'endPort'], `\`${where}.endPort\` may not be specified when \`port\` is the named port ${describe(name)}`);
    const errs = isValidPortName(name);
    if (errs.length > 0) r.report('PC1105', [...path, 'port'], `\`${where}.port\` ${describe(name)} is not a valid port name: ${errs.join('; ')}`);
  }
}

/** ValidateNetworkPolicyPeer: exactly one kind of peer; ipBlock alone. */
function checkPeer(r: Reporter, path: Path, peer: unknown): void {
  if (!isObj(peer)) return;
  const where = fieldName(path);
  const set = (['podSelector', 'namespaceSelector', 'ipBlock'] as const).filter((k) => has(peer, k));
  if (set.length === 0) {
    r.report('PC1109', path, `\`${where}\` must specify a peer: podSelector, namespaceSelector and/or ipBlock (an empty peer is rejected; to match every source or destination, omit the list or use \`namespaceSelector: {}\`)`);
  } else if (set.length > 1 && set.includes('ipBlock')) {
    const other = set.find((k) => k !== 'ipBlock');
    r.report('PC1108', [...path, 'ipBlock'], `\`${where}\` may not specify both ipBlock and ${other}: use two peers`, { keyOnly: true });
  }
  checkLabelSelector(r, [...path, 'podSelector'], peer.podSelector);
  checkLabelSelector(r, [...path, 'namespaceSelector'], peer.namespaceSelector);
  if (isObj(peer.ipBlock)) checkIPBlock(r, [...path, 'ipBlock'], peer.ipBlock as Obj);
}

const POLICY_TYPES = new Set(['Ingress', 'Egress']);

/** At most two policyTypes, each Ingress or Egress (the enum itself is in the schema). */
function checkPolicyTypes(r: Reporter, value: unknown): void {
  if (!Array.isArray(value)) return;
  if (value.length > 2) {
    r.report('PC1112', ['spec', 'policyTypes'], `\`spec.policyTypes\` may not specify more than two policyTypes (Ingress, Egress); it has ${value.length}`);
    return;
  }
  // Accepted by the API server, but a repeated value is a mistake (the other one is missing?).
  if (value.length === 2 && value[0] === value[1] && POLICY_TYPES.has(String(value[0]))) {
    r.report('PC1112', ['spec', 'policyTypes', 1], `\`spec.policyTypes\` lists ${describe(value[1])} twice`, { extra: { severity: 'warning' } });
  }
}
