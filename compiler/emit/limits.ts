// Map sizes are known at compile time, so an overflow is refused before anything is loaded
// (Cilium's policy maps overflow silently in real clusters). The diagnostic names the policy
// whose rules produce the most elements, with the spans of its rules.

import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import { policyLabel, type Program, type Rule } from '../ir/types.js';
import type { Membership } from './membership.js';
import type { DecisionElement, DecisionLimitError } from './decisions.js';

export interface DataplaneLimits {
  /** Elements of one decision map (a direction's identity pairs; its port map is far smaller). */
  maxDecisionElements: number;
  /** Elements of one address -> identity map. */
  maxIdentityElements: number;
}

export const DEFAULT_LIMITS: DataplaneLimits = { maxDecisionElements: 1_000_000, maxIdentityElements: 1_000_000 };

/** The policy whose rules decide the most of these elements, with the count. */
function worstPolicy(elements: readonly DecisionElement[], direction: 'ingress' | 'egress'): { label: string; count: number; rule: Rule } | undefined {
  const byPolicy = new Map<string, { count: number; rule: Rule }>();
  for (const e of elements) {
    if (e.direction !== direction) continue;
    const key = policyLabel(e.rule.policy);
    const entry = byPolicy.get(key) ?? { count: 0, rule: e.rule };
    entry.count++;
    byPolicy.set(key, entry);
  }
  const top = [...byPolicy.entries()].sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1))[0];
  return top && { label: top[0], ...top[1] };
}

function related(program: Program, label: string) {
  return program.rules.filter((r) => policyLabel(r.policy) === label).slice(1, 6).map((r) => ({ span: r.origins[0], message: `rule ${r.id}` }));
}

/** PC4001 for a computation that stopped early (computeDecisions' maxPairsPerDirection). */
export function decisionLimitDiagnostic(program: Program, err: DecisionLimitError, limits: DataplaneLimits): Diagnostic {
  const worst = worstPolicy(err.partial, err.direction);
  const text = `the ${err.direction} decision map needs more than ${limits.maxDecisionElements} elements (${err.pairs} identity pairs when the computation stopped), over the limit of ${limits.maxDecisionElements}`;
  const blame = worst ? `; ${worst.label} alone produces ${worst.count} of the ${err.direction} decisions so far` : '';
  return diagnostic('PC4001', `${text}${blame}. A node-local table (compile --node NAME) holds only its pods' rows`, worst?.rule.origins[0], worst ? { related: related(program, worst.label) } : undefined);
}

export function checkDataplaneLimits(program: Program, membership: Membership, limits: DataplaneLimits = DEFAULT_LIMITS): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    // The kernel holds a direction's decisions as identity pairs (-> profile) and profile ports
    // (-> rule): the bigger of the two maps is what must fit.
    let pairs = 0;
    for (const e of membership.layout.pairs) if (e.direction === direction) pairs++;
    let ports = 0;
    for (const e of membership.layout.ports) if (e.direction === direction) ports++;
    const size = Math.max(pairs, ports);
    if (size <= limits.maxDecisionElements) continue;
    const worst = worstPolicy(membership.decisionElements, direction)!;
    const what = pairs >= ports ? `${pairs} identity pairs` : `${ports} port elements`;
    out.push(
      diagnostic(
        'PC4001',
        `the ${direction} decision map needs ${size} elements (${what}), over the limit of ${limits.maxDecisionElements}; ${worst.label} alone produces ${worst.count} of the ${direction} decisions. Policies with fewer distinct selectors or port ranges share more elements; a node-local table (compile --node) holds only its pods' rows`,
        worst.rule.origins[0],
        { related: related(program, worst.label) },
      ),
    );
  }
  // Address maps per family: pod addresses (exact) and world ranges (interval); the bigger must fit.
  const pods = { 4: 0, 6: 0 };
  const world = { 4: 0, 6: 0 };
  for (const e of membership.identityElements) if (e.pod !== undefined) pods[e.family]++;
  for (const e of membership.world) world[e.family]++;
  for (const family of [4, 6] as const) {
    const size = Math.max(pods[family], world[family]);
    if (size > limits.maxIdentityElements) {
      out.push(diagnostic('PC4002', `the IPv${family} address -> identity map needs ${size} elements, over the limit of ${limits.maxIdentityElements}`));
    }
  }
  return out;
}
