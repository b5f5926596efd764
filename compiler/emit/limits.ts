// Map sizes are known at compile time, so an overflow is refused before anything is loaded
// (Cilium's policy maps overflow silently in real clusters). The diagnostic names the policy
// whose rules produce the most elements, with the spans of its rules.

import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import { policyLabel, type Program } from '../ir/types.js';
import type { Membership } from './membership.js';

export interface DataplaneLimits {
  /** Elements of one decision map (ingress or egress). */
  maxDecisionElements: number;
  /** Elements of one address -> identity map. */
  maxIdentityElements: number;
}

export const DEFAULT_LIMITS: DataplaneLimits = { maxDecisionElements: 1_000_000, maxIdentityElements: 1_000_000 };

export function checkDataplaneLimits(program: Program, membership: Membership, limits: DataplaneLimits = DEFAULT_LIMITS): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    const elements = membership.decisionElements.filter((e) => e.direction === direction);
    if (elements.length <= limits.maxDecisionElements) continue;
    const byPolicy = new Map<string, { count: number; rule: (typeof elements)[number]['rule'] }>();
    for (const e of elements) {
      const key = policyLabel(e.rule.policy);
      const entry = byPolicy.get(key) ?? { count: 0, rule: e.rule };
      entry.count++;
      byPolicy.set(key, entry);
    }
    const [worst, { count, rule }] = [...byPolicy.entries()].sort((a, b) => b[1].count - a[1].count)[0];
    out.push(
      diagnostic(
        'PC4001',
        `the ${direction} decision map needs ${elements.length} elements, over the limit of ${limits.maxDecisionElements}; ${worst} alone produces ${count}. Policies with fewer distinct selectors or port ranges share more elements`,
        rule.origins[0],
        { related: program.rules.filter((r) => policyLabel(r.policy) === worst).slice(1, 6).map((r) => ({ span: r.origins[0], message: `rule ${r.id}` })) },
      ),
    );
  }
  for (const family of [4, 6] as const) {
    const elements = membership.identityElements.filter((e) => e.family === family);
    if (elements.length > limits.maxIdentityElements) {
      out.push(diagnostic('PC4002', `the IPv${family} address -> identity map needs ${elements.length} elements, over the limit of ${limits.maxIdentityElements}`));
    }
  }
  return out;
}
