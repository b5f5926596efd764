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
    const failures: VerdictReport[] = [];
    for (const flow of resolved.flows) {
      const verdict = evaluator.evaluate(flow);
      if (verdict.allowed !== (expectation.expect === 'allow')) failures.push(reportVerdict(compilation.sources, verdict));
    }
    if (failures.length > 0) {
      const first = failures[0];
      diagnostics.push(
        diagnostic('PC5003', `expected ${expectation.expect}: ${formatFlow(expectation.flow)}; but ${first.flow} is ${first.allowed ? 'allowed' : 'denied'}${failures.length > 1 ? ` (and ${failures.length - 1} more)` : ''}`, expectation.span, {
          data: { explanation: renderVerdictText(first) },
          related: [first.egress, first.ingress]
            .flatMap((side) => (side.decidedBy ? side.decidedBy.locations.map((l) => ({ l, m: `${side.direction}: ${side.summary}` })) : []))
            .map(({ l, m }) => ({ span: spanFromLocation(compilation, l), message: m })),
        }),
      );
    }
    const passed = diagnostics.length === 0 && resolved.flows.length > 0;
    return { expectation, passed, failures, flowCount: resolved.flows.length, diagnostics };
  });
}

function spanFromLocation(compilation: Compilation, l: { file: string; line: number; col: number }) {
  const file = compilation.sources.get(l.file);
  if (!file) return { file: l.file, start: 0, end: 0 };
  let offset = 0;
  for (let line = 1; line < l.line; line++) offset = file.text.indexOf('\n', offset) + 1;
  return { file: l.file, start: offset + l.col - 1, end: offset + l.col - 1 };
}
