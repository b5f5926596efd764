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
  lowerDespiteErrors?: boolean;
}

/** Returns the compilation, or undefined when there were errors (already printed). */
export function loadAndCompile(paths: readonly string[], io: Io, options: LoadOptions = {}): Compilation | undefined {
  const read = readInputs(paths, io.cwd);
  const compilation = compileSources(read.files, { lowerDespiteErrors: options.lowerDespiteErrors });
  compilation.diagnostics.unshift(...read.diagnostics);
  // Workspace lints (DNS blocked, named ports, selectors matching nothing, redundant rules,
  // ipBlocks over pods) need the whole compiled set; they are warnings and hints.
  if (compilation.program && options.showWarnings !== false) {
    compilation.diagnostics.push(...lintWorkspace(compilation));
    sortDiagnostics(compilation.diagnostics);
  }
  const shown = compilation.diagnostics.filter((d) => options.showWarnings !== false || d.severity === 'error');
  const format = options.format ?? 'text';
  if (format !== 'text') {
    // Machine formats go to stdout only from `compile`; elsewhere keep stdout for the answer.
  } else if (shown.length > 0) {
    io.stderr.write(`${renderDiagnostics(shown, compilation.sources, 'text', !!io.stderr.isTTY)}\n`);
  }
  if (hasErrors(compilation.diagnostics) || read.diagnostics.length > 0) {
    if (format === 'text') {
      const errors = compilation.diagnostics.filter((d) => d.severity === 'error').length;
      io.stderr.write(`policyc: ${errors} error${errors === 1 ? '' : 's'}; nothing was emitted\n`);
    }
    return options.lowerDespiteErrors ? compilation : undefined;
  }
  return compilation;
}

export function splitFileArgs(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).filter((v) => v.length > 0);
}
