// Programs lowered one policy at a time -> the Program `lowerProgram` would build from all of
// them. Group ids are hashes of the selectors, so per-policy lowering interns the same groups;
// what is left is the global order and the cookies. This mirrors compiler/lower/program.ts
// (policy order, rule order, cookie assignment); lsp/test/incremental.test.ts checks that the
// result equals compileSources' for random workspaces and edits.

import { fnv1a32 } from '../../compiler/ir/hash.js';
import { policyOrder } from '../../compiler/lower/program.js';
import { TIER_ORDER, type Group, type Policy, type Program, type Rule } from '../../compiler/ir/types.js';

function cmp(a: string | number, b: string | number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}


/** Each input program holds one policy (or none) with its rules, in input order. */
export function mergePrograms(parts: readonly Program[]): Program {
  const groups = new Map<string, Group>();
  const entries: Array<{ policy: Policy; rules: readonly Rule[]; tier: number }> = [];
  for (const part of parts) {
    for (const g of part.groups) if (!groups.has(g.id)) groups.set(g.id, g);
    const byId = part.policies.length > 1 ? new Map(part.rules.map((r) => [r.id, r])) : undefined;
    for (const policy of part.policies) {
      const rules = byId ? policy.ruleIds.map((id) => byId.get(id)).filter((r): r is Rule => !!r) : part.rules;
      entries.push({ policy, rules, tier: TIER_ORDER.indexOf(policy.tier) });
    }
  }
  // policyOrder, with each policy's tier index looked up once.
  entries.sort((a, b) => a.tier - b.tier || policyOrder(a.policy, b.policy));
  const rules: Rule[] = [];
  for (const e of entries) for (const r of e.rules) rules.push(r);
  assignCookies(rules);
  return {
    formatVersion: 1,
    groups: [...groups.values()].sort((a, b) => cmp(a.id, b.id)),
    policies: entries.map((e) => e.policy),
    rules,
  };
}

const hashOf = new WeakMap<Rule, number>();
/** fnv1a32(rule.id) || 1, once per (immutable, cached) rule object. */
function ruleHash(r: Rule): number {
  let h = hashOf.get(r);
  if (h === undefined) hashOf.set(r, (h = fnv1a32(r.id) || 1));
  return h;
}

/**
 * Cookies as lowerProgram assigns them: by id order, each rule its hash or the next free
 * value. Without collisions that is just each rule's hash, which per-policy lowering already
 * gave it, so the (shared, cached) rule objects are left alone; a rule whose cookie must
 * differ is replaced by a copy in `rules`.
 */
function assignCookies(rules: Rule[]): void {
  const hashes = rules.map(ruleHash);
  if (new Set(hashes).size === hashes.length && rules.every((r, i) => r.cookie === hashes[i])) return;
  const used = new Set<number>([0]);
  const order = rules.map((_, i) => i).sort((a, b) => cmp(rules[a].id, rules[b].id));
  for (const i of order) {
    let c = fnv1a32(rules[i].id) || 1;
    while (used.has(c)) c = (c + 1) >>> 0;
    used.add(c);
    if (rules[i].cookie !== c) rules[i] = { ...rules[i], cookie: c };
  }
}
