// Map sizes are known at compile time, so an overflow is refused before anything is loaded
// (Cilium's policy maps overflow silently in real clusters). The diagnostic names the policy
// whose rules produce the most elements, with the spans of its rules.

import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import { policyLabel, type Program, type Rule } from '../ir/types.js';
import type { Membership } from './membership.js';

export interface DataplaneLimits {
  /** Elements of one decision map (a direction's identity pairs; its port map is far smaller). */
  maxDecisionElements: number;
  /** Elements of one address -> identity map. */
  maxIdentityElements: number;
}

export const DEFAULT_LIMITS: DataplaneLimits = { maxDecisionElements: 1_000_000, maxIdentityElements: 1_000_000 };

export function checkDataplaneLimits(program: Program, membership: Membership, limits: DataplaneLimits = DEFAULT_LIMITS): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    // The kernel holds a direction's decisions as identity pairs (-> profile) and profile ports
    // (-> rule): the bigger of the two maps is what must fit.
    const pairs = membership.layout.pairs.filter((e) => e.direction === direction).length;
    const ports = membership.layout.ports.filter((e) => e.direction === direction).length;
    const size = Math.max(pairs, ports);
    if (size <= limits.maxDecisionElements) continue;
    const byPolicy = new Map<string, { count: number; rule: Rule }>();
    for (const e of membership.decisionElements) {
      if (e.direction !== direction) continue;
      const key = policyLabel(e.rule.policy);
      const entry = byPolicy.get(key) ?? { count: 0, rule: e.rule };
      entry.count++;
      byPolicy.set(key, entry);
    }
    const [worst, { count, rule }] = [...byPolicy.entries()].sort((a, b) => b[1].count - a[1].count)[0];
    const what = pairs >= ports ? `${pairs} identity pairs` : `${ports} port elements`;
    out.push(
      diagnostic(
        'PC4001',
        `the ${direction} decision map needs ${size} elements (${what}), over the limit of ${limits.maxDecisionElements}; ${worst} alone produces ${count} of the ${direction} decisions. Policies with fewer distinct selectors or port ranges share more elements; a node-local table (compile --node) holds only its pods' rows`,
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
