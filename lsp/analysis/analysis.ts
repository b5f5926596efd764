// One diagnosis of the workspace: the compilation, the workspace lints, and every diagnostic
// by file. Immutable once built; features read the latest one.

import type { Compilation } from '../../compiler/compile.js';
import { sortDiagnostics, type Diagnostic } from '../../compiler/diagnostics/diagnostic.js';
import { Evaluator } from '../../compiler/evaluate/evaluator.js';
import { lintWorkspace, type LintCache, type LintOptions } from '../../compiler/lint/index.js';
import type { Sourced } from '../../compiler/model/inputs.js';
import { fieldSpan } from '../../compiler/model/inputs.js';
import type { Policy } from '../../compiler/ir/types.js';

export class Analysis {
  /** Compiler and lint diagnostics, by file name. */
  readonly byFile = new Map<string, Diagnostic[]>();
  readonly lints: Diagnostic[];
  private evaluatorCache?: Evaluator;
  private policyBySpan?: Map<string, Policy>;

  constructor(
    readonly generation: number,
    readonly compilation: Compilation,
    lintOptions: LintOptions,
    readonly elapsedMs: { compile: number; lint: number },
    lintCache?: LintCache,
  ) {
    const t0 = performance.now();
    let lints: Diagnostic[] = [];
    try {
      lints = lintWorkspace(compilation, lintOptions, lintCache);
    } catch {
      lints = []; // a lint bug must not hide the compiler's own diagnostics
    }
    this.lints = lints;
    elapsedMs.lint = performance.now() - t0;
    for (const d of [...compilation.diagnostics, ...lints]) {
      if (!d.span) continue;
      let list = this.byFile.get(d.span.file);
      if (!list) this.byFile.set(d.span.file, (list = []));
      list.push(d);
    }
    for (const list of this.byFile.values()) sortDiagnostics(list);
  }

  get evaluator(): Evaluator | undefined {
    if (!this.compilation.program) return undefined;
    this.evaluatorCache ??= new Evaluator(this.compilation.program, this.compilation.cluster);
    return this.evaluatorCache;
  }

  /** Policies (as written) of one file, in document order. */
  policiesIn(file: string): Sourced[] {
    return this.compilation.inputs.policies.filter((p) => p.doc.file.name === file);
  }

  /** The lowered policy read from `src`, when it was valid. */
  loweredOf(src: Sourced): Policy | undefined {
    if (!this.policyBySpan) {
      this.policyBySpan = new Map();
      for (const p of this.compilation.program?.policies ?? []) this.policyBySpan.set(`${p.span.file}\u0000${p.span.start}`, p);
    }
    const span = fieldSpan(src, []);
    return this.policyBySpan.get(`${span.file}\u0000${span.start}`);
  }
}
