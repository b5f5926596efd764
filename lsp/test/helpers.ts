// Shared by the tests: compile a workspace's texts as the CLI would, ask the evaluator about
// a flow between two pods, and apply LSP text edits.

import { TextDocument } from 'vscode-languageserver-textdocument';
import { compileSources, type Compilation } from '../../compiler/compile.js';
import type { Diagnostic } from '../../compiler/diagnostics/diagnostic.js';
import { podEndpoint } from '../../compiler/evaluate/endpoints.js';
import { Evaluator } from '../../compiler/evaluate/evaluator.js';
import { lintWorkspace } from '../../compiler/lint/index.js';
import { findPod } from '../../compiler/model/cluster.js';
import type { Protocol } from '../../compiler/model/k8s-types.js';

export interface Checked {
  compilation: Compilation;
  diagnostics: Diagnostic[];
  allowed(from: string, to: string, port: number, protocol?: Protocol): boolean;
  egressAllowed(from: string, to: string, port: number, protocol?: Protocol): boolean;
}

/** Compiles the YAML texts (policies and cluster) and runs the workspace lints. */
export function check(texts: Record<string, string>): Checked {
  const files = Object.entries(texts)
    .filter(([name]) => /\.ya?ml$/.test(name) && name !== 'compose.yaml' && !name.startsWith('deploy/'))
    .map(([name, text]) => ({ name, text }));
  const compilation = compileSources(files, { lowerDespiteErrors: true });
  const diagnostics = [...compilation.diagnostics, ...lintWorkspace(compilation)];
  const evaluator = new Evaluator(compilation.program!, compilation.cluster);
  const endpoint = (name: string) => {
    const [ns, pod] = name.split('/');
    const p = findPod(compilation.cluster, ns, pod);
    if (!p) throw new Error(`no pod ${name}`);
    return podEndpoint(compilation.cluster, p);
  };
  return {
    compilation,
    diagnostics,
    allowed: (from, to, port, protocol = 'TCP') => evaluator.evaluate({ source: endpoint(from), destination: endpoint(to), protocol, port }).allowed,
    egressAllowed: (from, to, port, protocol = 'TCP') => evaluator.evaluateDirection('egress', { source: endpoint(from), destination: endpoint(to), protocol, port }).allowed,
  };
}

export interface LspTextEdit {
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  newText: string;
}

export function applyLspEdits(text: string, edits: LspTextEdit[]): string {
  return TextDocument.applyEdits(TextDocument.create('file:///x', 'yaml', 1, text), edits);
}
