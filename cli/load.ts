// Shared by commands that read policies: read files, compile, print diagnostics to stderr.

import { compileSources, type Compilation } from '../compiler/compile.js';
import { hasErrors, sortDiagnostics } from '../compiler/diagnostics/diagnostic.js';
import { lintWorkspace } from '../compiler/lint/index.js';
import type { Io } from './command.js';
import { readInputs } from './read-inputs.js';
import { renderDiagnostics, type DiagnosticFormat } from './render-diagnostics.js';

export interface LoadOptions {
  format?: DiagnosticFormat;
  /** Print warnings too (errors are always printed). */
  showWarnings?: boolean;
}

export interface Loaded {
  compilation: Compilation;
  /** No errors: `compilation.program` is present and may be emitted. */
  ok: boolean;
}

/** Reads and compiles; in text format the diagnostics are printed to stderr here. */
export function loadAndCompile(paths: readonly string[], io: Io, options: LoadOptions = {}): Loaded {
  const read = readInputs(paths, io.cwd);
  // Machine formats report the lints of the valid policies beside the errors of the others.
  const text = (options.format ?? 'text') === 'text';
  const compilation = compileSources(read.files, { lowerDespiteErrors: !text });
  compilation.diagnostics.unshift(...read.diagnostics);
  // Workspace lints (DNS blocked, named ports, selectors matching nothing, redundant rules,
  // ipBlocks over pods) need the whole compiled set; they are warnings and hints.
  if (compilation.program && options.showWarnings !== false) {
    compilation.diagnostics.push(...lintWorkspace(compilation));
    sortDiagnostics(compilation.diagnostics);
  }
  const shown = compilation.diagnostics.filter((d) => options.showWarnings !== false || d.severity === 'error');
  // Machine formats are written by `compile` itself, to stdout.
  if (text && shown.length > 0) io.stderr.write(`${renderDiagnostics(shown, compilation.sources, 'text', !!io.stderr.isTTY)}\n`);
  const ok = !hasErrors(compilation.diagnostics) && read.diagnostics.length === 0 && !!compilation.program;
  if (!ok && text) {
    const errors = compilation.diagnostics.filter((d) => d.severity === 'error').length;
    io.stderr.write(`policyc: ${errors} error${errors === 1 ? '' : 's'}; nothing was emitted\n`);
  }
  return { compilation, ok };
}

export function splitFileArgs(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).filter((v) => v.length > 0);
}
