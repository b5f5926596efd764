// PC2007: a rule that can never change a verdict, found on the lowered rules.
//  - NetworkPolicy rules are a union of allows: a rule whose peers and ports are all covered by
//    another allow rule for the same pods and direction adds nothing.
//  - AdminNetworkPolicy / BaselineAdminNetworkPolicy rules are first-match: a rule covered by
//    an earlier rule of the same tier for the same pods never decides anything (shadowed).
// "Covered" is decided on the selectors as written (a selector with a subset of another's
// requirements matches a superset of its pods), so it holds for every cluster, not only the
// snapshot. Tagged `unnecessary` so editors fade the rule.

import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import { policyLabel, type Rule } from '../ir/types.js';
import type { LintContext } from './context.js';
import { ruleCovers } from './covers.js';
import { objectId } from './cache.js';

const VERB = { allow: 'allows', deny: 'denies', pass: 'passes' } as const;

export function lintRedundantRules(ctx: LintContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  const buckets = new Map<string, Rule[]>();
  for (const rule of ctx.program.rules) {
    const key = `${rule.tier}|${rule.direction}|${rule.subject}`;
    let list = buckets.get(key);
    if (!list) buckets.set(key, (list = []));
    list.push(rule);
  }
  for (const [key, rules] of buckets) {
    if (rules.length < 2) continue;
    out.push(...ctx.cache.memoBy('PC2007', key, rules.map(objectId).join(','), () => lintBucket(ctx, rules)));
  }
  return out;
}

/** Rules of one tier and direction for one subject, in evaluation order. */
function lintBucket(ctx: LintContext, rules: readonly Rule[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  rules.forEach((rule, i) => {
    const firstMatch = rule.tier !== 'networkpolicy';
    // First-match tiers: only earlier rules can shadow. Union tier: any other rule, but of two
    // identical rules only the later one is reported.
    const coverer = rules.find((other, j) => {
      if (j === i) return false;
      if (firstMatch && j > i) return false;
      if (!ruleCovers(ctx.groups, other, rule)) return false;
      return firstMatch || j < i || !ruleCovers(ctx.groups, rule, other);
    });
    if (!coverer || !rule.origins[0]) return;
    const by = `${policyLabel(coverer.policy)} ${coverer.direction}[${coverer.index}]${coverer.name ? ` "${coverer.name}"` : ''}`;
    const message = firstMatch
      ? `this rule never applies: ${by} comes first and matches every connection this one matches${coverer.action !== rule.action ? ` (and ${VERB[coverer.action]} them, where this rule would ${rule.action})` : ''}`
      : `this rule is redundant: ${by} already allows every connection it allows`;
    out.push(
      diagnostic('PC2007', message, rule.origins[0], {
        tags: ['unnecessary'],
        related: coverer.origins.map((span) => ({ span, message: `covering rule ${by}` })),
        data: { rule: rule.id, coveredBy: coverer.id },
      }),
    );
  });
  return out;
}
