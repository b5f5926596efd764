// compiler/lint: workspace lints, on what a set of valid policies means together with the
// cluster snapshot and the other manifests. Pure functions of a compilation: no IO, never
// throw on any input the compiler accepted. The language server runs them after each
// compile; so can the CLI.
//
//   dns              PC2004  default-deny egress blocks DNS
//   named-ports      PC2005  named port that no destination container defines
//   empty-selectors  PC2006  selector that matches nothing in the snapshot (`name:` hint)
//   redundant        PC2007  rule covered by another (shadowed / redundant), tagged unnecessary
//   pod-cidrs        PC2012  ipBlock over pod or Service addresses

import { sortDiagnostics, type Diagnostic } from '../diagnostics/diagnostic.js';
import { LintContext, type LintInput, type LintOptions } from './context.js';
import { lintDnsBlocked } from './dns.js';
import { lintEmptySelectors } from './empty-selectors.js';
import { lintNamedPorts } from './named-ports.js';
import { lintIpBlocksOverPods } from './pod-cidrs.js';
import { lintRedundantRules } from './redundant.js';

export type { LintInput, LintOptions } from './context.js';
export { LintContext } from './context.js';
export { LintCache } from './cache.js';
import { LintCache } from './cache.js';

const LINTS: ReadonlyArray<(ctx: LintContext) => Diagnostic[]> = [lintDnsBlocked, lintNamedPorts, lintEmptySelectors, lintRedundantRules, lintIpBlocksOverPods];

/** Every workspace lint. Give the same `cache` to successive calls to lint only what changed. */
export function lintWorkspace(input: LintInput, options: LintOptions = {}, cache?: LintCache): Diagnostic[] {
  if (!input.program) return [];
  const ctx = new LintContext(input, options, cache ?? new LintCache());
  return sortDiagnostics(LINTS.flatMap((lint) => lint(ctx)));
}
