// The compiler's front door: source texts in, a Program (or diagnostics) out. No IO here;
// callers (CLI, language server, daemon, lab) read files and hand over their text.

import { checkPolicySet } from './check/index.js';
import { hasErrors, sortDiagnostics, type Diagnostic } from './diagnostics/diagnostic.js';
import { buildCluster, type Cluster } from './model/cluster.js';
import { collectObjects, emptyInputs, fieldSpan, type Inputs, type Sourced } from './model/inputs.js';
import { lowerProgram } from './lower/program.js';
import { parseFile } from './syntax/documents.js';
import { SourceSet, type SourceFile } from './syntax/source.js';
import type { Program } from './ir/types.js';

export interface Compilation {
  readonly sources: SourceSet;
  readonly inputs: Inputs;
  /** Sorted: file, offset, code. */
  readonly diagnostics: Diagnostic[];
  /** Absent when any error was found: nothing is emitted for invalid input. */
  readonly program?: Program;
  readonly cluster: Cluster;
  /** Whether any Pod or Namespace was given (group membership can then be filled in). */
  readonly hasSnapshot: boolean;
}

export interface CompileOptions {
  /** Lower the valid policies even when others have errors (the language server wants this). */
  lowerDespiteErrors?: boolean;
}

export function compileSources(files: readonly SourceFile[], options: CompileOptions = {}): Compilation {
  const sources = new SourceSet();
  const inputs = emptyInputs();
  const diagnostics: Diagnostic[] = [];
  for (const file of files) {
    sources.add(file);
    const parsed = parseFile(file);
    diagnostics.push(...parsed.diagnostics);
    collectObjects(parsed.documents, inputs);
  }
  diagnostics.push(...inputs.diagnostics);
  const { cluster, diagnostics: clusterDiagnostics } = buildCluster(inputs);
  diagnostics.push(...clusterDiagnostics);
  const policyDiagnostics = checkPolicySet(inputs.policies);
  diagnostics.push(...policyDiagnostics);
  sortDiagnostics(diagnostics);
  const hasSnapshot = inputs.pods.length > 0 || inputs.namespaces.length > 0;
  let program: Program | undefined;
  if (!hasErrors(diagnostics)) program = lowerProgram(inputs.policies);
  else if (options.lowerDespiteErrors) program = lowerProgram(validPolicies(inputs.policies, policyDiagnostics));
  return { sources, inputs, diagnostics, program, cluster, hasSnapshot };
}

/** Policies none of whose diagnostics is an error (diagnostics are located inside the object). */
function validPolicies(policies: readonly Sourced[], diagnostics: readonly Diagnostic[]): Sourced[] {
  const errors = diagnostics.filter((d) => d.severity === 'error' && d.span);
  return policies.filter((p) => {
    const obj = p.object as { spec?: unknown };
    if (!obj.spec || typeof obj.spec !== 'object') return false;
    const span = fieldSpan(p, []);
    return !errors.some((d) => d.span!.file === span.file && d.span!.start >= span.start && d.span!.start <= span.end);
  });
}
