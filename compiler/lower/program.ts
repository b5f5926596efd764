// Valid policy objects -> one Program, in a deterministic order whatever the input order.

import type { AdminNetworkPolicy, BaselineAdminNetworkPolicy, NetworkPolicy } from '../model/k8s-types.js';
import type { Sourced } from '../model/inputs.js';
import { fnv1a32 } from '../ir/hash.js';
import { TIER_ORDER, type Policy, type Program, type Rule } from '../ir/types.js';
import { GroupTable } from './groups.js';
import { lowerNetworkPolicy } from './networkpolicy.js';
import { lowerAdminPolicy } from './adminnetworkpolicy.js';

function cmp(a: string | number, b: string | number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The order policies are evaluated and emitted in: tier, priority, namespace, name. */
export function policyOrder(a: Policy, b: Policy): number {
  return (
    TIER_ORDER.indexOf(a.tier) - TIER_ORDER.indexOf(b.tier) ||
    a.priority - b.priority ||
    cmp(a.ref.namespace ?? '', b.ref.namespace ?? '') ||
    cmp(a.ref.name, b.ref.name)
  );
}

export function lowerProgram(policies: readonly Sourced[]): Program {
  const groups = new GroupTable();
  const lowered: Array<{ policy: Policy; rules: Rule[] }> = [];
  for (const src of policies) {
    const kind = (src.object as { kind?: string }).kind;
    if (kind === 'NetworkPolicy') lowered.push(lowerNetworkPolicy(src as Sourced<NetworkPolicy>, groups));
    else if (kind === 'AdminNetworkPolicy' || kind === 'BaselineAdminNetworkPolicy') {
      lowered.push(lowerAdminPolicy(src as Sourced<AdminNetworkPolicy | BaselineAdminNetworkPolicy>, groups));
    }
  }
  lowered.sort((a, b) => policyOrder(a.policy, b.policy));
  const rules: Rule[] = [];
  for (const { rules: policyRules } of lowered) {
    policyRules.sort((a, b) => cmp(a.direction, b.direction) || a.index - b.index);
    rules.push(...policyRules);
  }
  assignCookies(rules);
  return { formatVersion: 1, groups: groups.all(), policies: lowered.map((l) => l.policy), rules };
}

/** Cookies are hashes of rule ids; a collision moves to the next free value (ids sorted first, so it is deterministic). */
function assignCookies(rules: Rule[]): void {
  const used = new Set<number>([0]);
  const byId = [...rules].sort((a, b) => cmp(a.id, b.id));
  for (const rule of byId) {
    let c = fnv1a32(rule.id) || 1;
    while (used.has(c)) c = (c + 1) >>> 0;
    used.add(c);
    rule.cookie = c;
  }
}
