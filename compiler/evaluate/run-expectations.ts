// .policytest expectations judged by the evaluator. Pure: the caller compiled the inputs.

import { diagnostic, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { Expectation } from '../flow/ast.js';
import { formatFlow } from '../flow/index.js';
import type { Compilation } from '../compile.js';
import { Evaluator } from './evaluator.js';
import { renderVerdictText, reportVerdict, type VerdictReport } from './explain.js';
import { resolveFlow } from './resolve-flow.js';

export interface ExpectationResult {
  expectation: Expectation;
  passed: boolean;
  /** For failures: the verdicts that contradict the expectation. */
  failures: VerdictReport[];
  /** Flows the expectation stood for (after expansion). */
  flowCount: number;
  diagnostics: Diagnostic[];
}

export function runExpectations(expectations: readonly Expectation[], compilation: Compilation): ExpectationResult[] {
  const program = compilation.program;
  if (!program) return [];
  const evaluator = new Evaluator(program, compilation.cluster);
  return expectations.map((expectation) => {
    const file = expectation.span.file;
    const resolved = resolveFlow(expectation.flow, compilation.cluster, program);
    const diagnostics = resolved.errors.map((e) => diagnostic('PC5002', e.message, { file, start: e.start, end: e.end }));
    const failing = resolved.flows.map((flow) => evaluator.evaluate(flow)).filter((v) => v.allowed !== (expectation.expect === 'allow'));
    const failures = failing.map((v) => reportVerdict(compilation.sources, v));
    if (failures.length > 0) {
      const first = failures[0];
      // Related information points at the rules that decided each side, by their own spans.
      const related = [failing[0].egress, failing[0].ingress].flatMap((side, i) => {
        const d = side.decision;
        const summary = i === 0 ? first.egress.summary : first.ingress.summary;
        return d.kind === 'rule' ? d.rule.origins.map((span) => ({ span, message: `${side.direction}: ${summary}` })) : [];
      });
      diagnostics.push(
        diagnostic('PC5003', `expected ${expectation.expect}: ${formatFlow(expectation.flow)}; but ${first.flow} is ${first.allowed ? 'allowed' : 'denied'}${failures.length > 1 ? ` (and ${failures.length - 1} more)` : ''}`, expectation.span, {
          data: { explanation: renderVerdictText(first) },
          related,
        }),
      );
    }
    const passed = diagnostics.length === 0 && resolved.flows.length > 0;
    return { expectation, passed, failures, flowCount: resolved.flows.length, diagnostics };
  });
}
