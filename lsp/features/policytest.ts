// .policytest files: syntax errors, and expectations judged against the policies and snapshot
// they load (compiler/evaluate/run-expectations.ts). Loaded files come from the editor when
// open, else from disk; a test is run again only when it or a file it loads changed.

import { dirname, isAbsolute, join } from 'node:path';
import type { Diagnostic as LspDiagnostic } from 'vscode-languageserver';
import { diagnostic, type Diagnostic } from '../../compiler/diagnostics/diagnostic.js';
import { runExpectations } from '../../compiler/evaluate/run-expectations.js';
import { parsePolicyTest } from '../../compiler/flow/index.js';
import type { SourceFile } from '../../compiler/syntax/source.js';
import { IncrementalCompiler } from '../analysis/incremental.js';
import { listInputsSync, pathToUri, readTextSync, uriToPath } from '../files.js';
import type { Workspace } from '../workspace.js';
import { toLspDiagnostic } from './diagnostics.js';

interface CachedRun {
  test: SourceFile;
  loaded: SourceFile[];
  diagnostics: LspDiagnostic[];
}

export class PolicyTestRunner {
  private readonly compiler = new IncrementalCompiler();
  private readonly runs = new Map<string, CachedRun>();
  private readonly outside = new Map<string, SourceFile>();

  constructor(private readonly workspace: Workspace) {}

  forget(uri: string): void {
    this.runs.delete(uri);
  }

  /** The diagnostics of one .policytest document. */
  run(uri: string): LspDiagnostic[] {
    const test = this.workspace.sourceFile(uri);
    if (!test) return [];
    const parsed = parsePolicyTest(test);
    const diagnostics: Diagnostic[] = [...parsed.diagnostics];
    const base = uriToPath(uri);
    const dir = base ? dirname(base) : this.workspace.folders[0];
    const loaded: SourceFile[] = [];
    for (const load of parsed.test.loads) {
      const target = isAbsolute(load.path) ? load.path : dir ? join(dir, load.path) : undefined;
      const paths = target ? listInputsSync(target) : [];
      if (paths.length === 0) diagnostics.push(diagnostic('PC1005', `cannot load ${load.path}: no such file, or no YAML/JSON files in it`, load.span));
      for (const path of paths) {
        const file = this.fileAt(path);
        if (file) loaded.push(file);
      }
    }
    const cached = this.runs.get(uri);
    if (cached && cached.test === test && cached.loaded.length === loaded.length && cached.loaded.every((f, i) => f === loaded[i])) return cached.diagnostics;
    if (loaded.length > 0 && parsed.test.expectations.length > 0) {
      const compilation = this.compiler.compile(loaded);
      compilation.sources.add(test);
      const errors = compilation.diagnostics.filter((d) => d.severity === 'error');
      if (errors.length > 0 && parsed.test.loads[0]) {
        diagnostics.push(diagnostic('PC1005', `the loaded files have ${errors.length} error${errors.length === 1 ? '' : 's'}; expectations are judged on the valid policies only`, parsed.test.loads[0].span, { severity: 'warning' }));
      }
      for (const result of runExpectations(parsed.test.expectations, compilation)) diagnostics.push(...result.diagnostics);
      this.compiler.retain(new Set(loaded.map((f) => f.name)));
    }
    const resolver = {
      uriOf: (name: string) => (name === test.name ? uri : this.workspace.uriOf(name)),
      fileOf: (name: string) => (name === test.name ? test : loaded.find((f) => f.name === name)),
    };
    const lsp = diagnostics.filter((d) => d.span?.file === test.name).map((d) => toLspDiagnostic(d, test, resolver));
    this.runs.set(uri, { test, loaded, diagnostics: lsp });
    return lsp;
  }

  /** A loaded file: the workspace's text when it knows the file, else the disk's. */
  private fileAt(path: string): SourceFile | undefined {
    const uri = pathToUri(path);
    const known = this.workspace.sourceFile(uri);
    if (known) return known;
    const text = readTextSync(path);
    if (text === undefined) return undefined;
    const name = this.workspace.nameOf(uri);
    const cached = this.outside.get(path);
    if (cached && cached.text === text) return cached;
    const file = { name, text };
    this.outside.set(path, file);
    return file;
  }
}
