// The compiler, incrementally: what depends on one file only (parsing, sorting objects,
// checking and lowering each policy) is cached per file text; what depends on the set
// (duplicates, the cluster, the merged program) is recomputed, cheaply, on every compile.
// The result is a `Compilation`, equal to `compileSources(files, { lowerDespiteErrors: true })`
// (lsp/test/incremental.test.ts), except that a policy whose lowering throws is left out
// instead of failing the whole compile.

import { checkPolicy } from '../../compiler/check/index.js';
import { checkDuplicates, checkPriorityClashes } from '../../compiler/check/policyset.js';
import type { Compilation } from '../../compiler/compile.js';
import { sortDiagnostics, type Diagnostic } from '../../compiler/diagnostics/diagnostic.js';
import type { Program } from '../../compiler/ir/types.js';
import { lowerProgram } from '../../compiler/lower/program.js';
import { buildCluster, type Cluster } from '../../compiler/model/cluster.js';
import { collectObjects, emptyInputs, fieldSpan, type Inputs, type Sourced } from '../../compiler/model/inputs.js';
import { parseFile, type ParseResult } from '../../compiler/syntax/documents.js';
import { SourceSet, type SourceFile } from '../../compiler/syntax/source.js';
import { mergePrograms } from './merge-programs.js';

/** Everything about one file that does not depend on the other files. */
export interface FileAnalysis {
  readonly file: SourceFile;
  readonly parse: ParseResult;
  /** This file's objects, and its PC1004/PC1006. */
  readonly inputs: Inputs;
  /** Per policy of `inputs.policies`: what checkPolicy reported. */
  readonly checks: readonly Diagnostic[][];
  /** Per policy: its lowering (one policy), null when lowering threw; filled on demand. */
  readonly lowered: Array<Program | null | undefined>;
  /** The lowered parts this file gave the last program, and the error offsets they were chosen with. */
  parts?: { errors: string; parts: Program[] };
}

export function analyzeFile(file: SourceFile): FileAnalysis {
  const parse = parseFile(file);
  const inputs = collectObjects(parse.documents, emptyInputs());
  const checks = inputs.policies.map((src) => safeCheck(src));
  return { file, parse, inputs, checks, lowered: [] };
}

function safeCheck(src: Sourced): Diagnostic[] {
  try {
    return checkPolicy(src);
  } catch {
    // A checker bug must not take the editor down; the policy is then not lowered either.
    return [{ code: 'PC1004', severity: 'error', message: 'internal error while checking this object', span: fieldSpan(src, []) }];
  }
}

function lowered(analysis: FileAnalysis, index: number): Program | null {
  let program = analysis.lowered[index];
  if (program === undefined) {
    try {
      program = lowerProgram([analysis.inputs.policies[index]]);
    } catch {
      program = null;
    }
    analysis.lowered[index] = program;
  }
  return program;
}

export class IncrementalCompiler {
  private readonly files = new Map<string, FileAnalysis>();
  private clusterKey: readonly FileAnalysis[] = [];
  private clusterResult: { cluster: Cluster; diagnostics: Diagnostic[] } | undefined;

  /** The analysis of a file, from the cache when its text did not change. */
  analyze(file: SourceFile): FileAnalysis {
    const cached = this.files.get(file.name);
    if (cached && cached.file.text === file.text) return cached;
    const analysis = analyzeFile(file);
    this.files.set(file.name, analysis);
    return analysis;
  }

  /** Drops cached files that are not in `keep` (closed and deleted files). */
  retain(keep: ReadonlySet<string>): void {
    for (const name of this.files.keys()) if (!keep.has(name)) this.files.delete(name);
  }

  compile(files: readonly SourceFile[]): Compilation {
    const analyses = files.map((f) => this.analyze(f));
    const sources = new SourceSet();
    const inputs = emptyInputs();
    const diagnostics: Diagnostic[] = [];
    const policyDiagnostics: Diagnostic[] = [];
    for (const a of analyses) {
      sources.add(a.file);
      diagnostics.push(...a.parse.diagnostics);
      inputs.policies.push(...a.inputs.policies);
      inputs.pods.push(...a.inputs.pods);
      inputs.namespaces.push(...a.inputs.namespaces);
      inputs.nodes.push(...a.inputs.nodes);
      inputs.diagnostics.push(...a.inputs.diagnostics);
      for (const c of a.checks) policyDiagnostics.push(...c);
    }
    diagnostics.push(...inputs.diagnostics);
    const { cluster, diagnostics: clusterDiagnostics } = this.cluster(analyses, inputs);
    diagnostics.push(...clusterDiagnostics);
    policyDiagnostics.push(...checkDuplicates(inputs.policies), ...checkPriorityClashes(inputs.policies));
    diagnostics.push(...policyDiagnostics);
    sortDiagnostics(diagnostics);
    const program = this.program(analyses, policyDiagnostics);
    return { sources, inputs, diagnostics, program, cluster, hasSnapshot: inputs.pods.length > 0 || inputs.namespaces.length > 0 };
  }

  /** The cluster only changes when a file with pods, namespaces or nodes does. */
  private cluster(analyses: readonly FileAnalysis[], inputs: Inputs) {
    const withObjects = analyses.filter((a) => a.inputs.pods.length + a.inputs.namespaces.length + a.inputs.nodes.length > 0);
    const same = this.clusterResult && withObjects.length === this.clusterKey.length && withObjects.every((a, i) => a === this.clusterKey[i]);
    if (!same) {
      this.clusterResult = buildCluster(inputs);
      this.clusterKey = withObjects;
    }
    return this.clusterResult!;
  }

  /** The policies none of whose check diagnostics is an error, lowered and merged. */
  private program(analyses: readonly FileAnalysis[], policyDiagnostics: readonly Diagnostic[]): Program {
    const errorsByFile = new Map<string, number[]>();
    for (const d of policyDiagnostics) {
      if (d.severity !== 'error' || !d.span) continue;
      let list = errorsByFile.get(d.span.file);
      if (!list) errorsByFile.set(d.span.file, (list = []));
      list.push(d.span.start);
    }
    const parts: Program[] = [];
    for (const a of analyses) {
      const errors = errorsByFile.get(a.file.name) ?? [];
      // Which policies are lowered depends only on this file and its error offsets: an
      // unchanged file with the same errors gives the same parts as last time.
      const key = errors.join(',');
      if (a.parts && a.parts.errors === key) {
        for (const p of a.parts.parts) parts.push(p);
        continue;
      }
      const mine: Program[] = [];
      a.inputs.policies.forEach((src, i) => {
        const spec = (src.object as { spec?: unknown }).spec;
        if (!spec || typeof spec !== 'object') return;
        const span = fieldSpan(src, []);
        if (errors.some((s) => s >= span.start && s <= span.end)) return;
        const p = lowered(a, i);
        if (p) mine.push(p);
      });
      a.parts = { errors: key, parts: mine };
      for (const p of mine) parts.push(p);
    }
    return mergePrograms(parts);
  }
}
